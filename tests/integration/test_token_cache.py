"""Issue #4 acceptance: the token cache across invocations, counted at the fault proxy and the token server
(LD: one request per warm check; SEC: never for another identity, registry or scope, never past expiry, off
switches neither read nor write).

Each invocation is a fresh ``cli.main`` call (a new client, nothing shared in memory) with the same
environment, so only the cache file carries state between them. Cold/warm counts of ``exists`` and the file
modes are also pinned by test_round_trips.py and test_security.py; here the gate commands and the negative
cases are covered.
"""

from __future__ import annotations

import json
import os
import stat
import time
from pathlib import Path

import pytest

from clirunner import creds, run_cli
from rig import Rig
from rig.faultproxy import FaultProxy
from rig.proxy_fixtures import FaultProxyFactory
from rig.tokenserver import ALICE, ALICE_PASSWORD, DEPLOY_TOKEN, DEPLOY_USER

ALICE_ENV = creds(ALICE, ALICE_PASSWORD)


@pytest.fixture
def proxy(token_rig: Rig, fault_proxy_factory: FaultProxyFactory) -> FaultProxy:
    return fault_proxy_factory(token_rig.url)


def token_requests(rig: Rig) -> int:
    assert rig.token_server is not None
    return len(rig.token_server.requests)


def reset(rig: Rig, proxy: FaultProxy) -> None:
    assert rig.token_server is not None
    proxy.reset_counters()
    rig.token_server.clear_requests()


def cache_dir(home: Path) -> Path:
    return home / ".cache" / "ocireg"


@pytest.mark.parametrize(
    "command",
    [
        ["exists"],
        ["digest"],
        ["wait", "--timeout", "30s"],
        ["exists", "--jobs", "4", "-o", "jsonl"],
    ],
)
def test_warm_second_invocation_is_one_request_and_no_token(
    token_rig: Rig, proxy: FaultProxy, isolated_env: Path, command: list[str]
) -> None:
    """LD/SEC: cold = 401 + token + 200; a fresh invocation with the same cache = exactly one HEAD, no token;
    the cache file is 0600 in a 0700 directory and holds no password."""
    ref = f"{proxy.netloc}/group/project:v1.2.3"
    cold = run_cli([*command, ref], ALICE_ENV)
    assert cold.code == 0, cold.err
    assert token_requests(token_rig) == 1
    assert [(r.method, r.status) for r in proxy.requests] == [("HEAD", 401), ("HEAD", 200)]
    reset(token_rig, proxy)
    warm = run_cli([*command, ref], ALICE_ENV)
    assert warm.code == 0, warm.err
    assert [(r.method, r.status, r.auth_scheme) for r in proxy.requests] == [("HEAD", 200, "Bearer")]
    assert token_requests(token_rig) == 0
    directory = cache_dir(isolated_env)
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert stat.S_IMODE((directory / "tokens.json").stat().st_mode) == 0o600
    assert ALICE_PASSWORD not in (directory / "tokens.json").read_text()


def test_warm_check_of_a_file_is_one_request_per_reference(
    token_rig: Rig, proxy: FaultProxy, tmp_path: Path
) -> None:
    """LD: ``check`` with a warm cache: one HEAD per distinct reference, no token request."""
    compose = tmp_path / "compose.yaml"
    compose.write_text(
        "services:\n"
        + "".join(
            f"  s{i}:\n    image: {proxy.netloc}/group/project:{tag}\n"
            for i, tag in enumerate(("oci", "list"))
        )
    )
    assert run_cli(["check", str(compose)], ALICE_ENV).code == 0
    reset(token_rig, proxy)
    warm = run_cli(["check", str(compose)], ALICE_ENV)
    assert warm.code == 0, warm.err
    assert sorted((r.method, r.status) for r in proxy.requests) == [("HEAD", 200), ("HEAD", 200)]
    assert token_requests(token_rig) == 0


def test_cache_is_never_used_for_another_identity_scope_or_registry(
    token_rig: Rig, proxy: FaultProxy
) -> None:
    """SEC: a warm entry for alice on group/project is not used for a deploy token (same rights!), for another
    repository, or for the same repository on another registry host: each costs its own token request."""
    ref = f"{proxy.netloc}/group/project:oci"
    assert run_cli(["exists", ref], ALICE_ENV).code == 0
    assert token_requests(token_rig) == 1
    reset(token_rig, proxy)
    assert run_cli(["exists", ref], creds(DEPLOY_USER, DEPLOY_TOKEN)).code == 0
    assert token_requests(token_rig) == 1  # another identity: its own token
    reset(token_rig, proxy)
    assert run_cli(["exists", f"{proxy.netloc}/group/sub/project/image:latest"], ALICE_ENV).code == 0
    assert token_requests(token_rig) == 1  # another scope
    reset(token_rig, proxy)
    assert run_cli(["exists", token_rig.ref("group/project", "oci")], ALICE_ENV).code == 0
    assert token_requests(token_rig) == 1  # another registry host (the registry itself, not the proxy)
    assert proxy.requests == []
    reset(token_rig, proxy)
    for env in (ALICE_ENV, creds(DEPLOY_USER, DEPLOY_TOKEN)):  # and both identities are warm now
        assert run_cli(["exists", ref], env).code == 0
    assert token_requests(token_rig) == 0


def test_expired_entry_is_not_used(token_rig: Rig, proxy: FaultProxy, isolated_env: Path) -> None:
    """SEC: an entry past its expiry is never sent: the next run asks for a new token."""
    ref = f"{proxy.netloc}/group/project:oci"
    assert run_cli(["exists", ref], ALICE_ENV).code == 0
    path = cache_dir(isolated_env) / "tokens.json"
    doc = json.loads(path.read_text())
    assert doc["tokens"]
    for entry in doc["tokens"].values():
        entry[1] = time.time() - 1
    fd = os.open(path, os.O_WRONLY | os.O_TRUNC)
    with os.fdopen(fd, "w") as handle:
        json.dump(doc, handle)
    reset(token_rig, proxy)
    assert run_cli(["exists", ref], ALICE_ENV).code == 0
    assert token_requests(token_rig) == 1
    # the expired token was not sent: the realm is remembered, so a fresh token is fetched first and the one
    # HEAD succeeds (an expired token would have drawn a 401 first)
    assert [(r.authorization, r.status) for r in proxy.requests] == [(True, 200)]


@pytest.mark.parametrize(
    ("flags", "env"),
    [(["--no-token-cache"], {}), ([], {"OCIREG_TOKEN_CACHE": "0"}), ([], {"OCIREG_TOKEN_CACHE": "false"})],
)
def test_off_switches_neither_read_nor_write(
    token_rig: Rig, proxy: FaultProxy, tmp_path: Path, flags: list[str], env: dict[str, str]
) -> None:
    """SEC: with the cache off nothing is written (no file, no directory) and every run fetches a token."""
    directory = tmp_path / "cache"
    full_env = {**ALICE_ENV, "OCIREG_CACHE_DIR": str(directory), **env}
    ref = f"{proxy.netloc}/group/project:oci"
    for _ in range(2):
        assert run_cli(["exists", *flags, ref], full_env).code == 0
    assert not directory.exists()
    assert token_requests(token_rig) == 2
    # and a warm cache is not read either
    warm_env = {**ALICE_ENV, "OCIREG_CACHE_DIR": str(directory)}
    assert run_cli(["exists", ref], warm_env).code == 0
    reset(token_rig, proxy)
    assert run_cli(["exists", *flags, ref], full_env).code == 0
    assert token_requests(token_rig) == 1
