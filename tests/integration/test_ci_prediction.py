"""#25: inside a GitLab CI job the token realm of ``CI_REGISTRY`` is known before the first request
(``CI_SERVER_URL/jwt/auth``, ``service="container_registry"``): a cold check is the token request and the HEAD,
two requests; a warm one is the HEAD. A wrong prediction is followed as before and asked once; no other flow
gains a request; credentials go to the GitLab host and the registry only. Counted at a proxy in front of the
real registry and at the rig's token server (PC: round trips; SEC: cross-host credentials; LD: single-flight).
"""

from __future__ import annotations

from typing import Any

import pytest

from clirunner import run_cli
from rig import Rig
from rig.tokenserver import JOB_TOKEN, JOB_USER


def _ci_env(rig: Rig, registry: str, server_url: str) -> dict[str, str]:
    return {
        "GITLAB_CI": "true",
        "CI_REGISTRY": registry,
        "CI_REGISTRY_IMAGE": f"{registry}/group/project",
        "CI_SERVER_URL": server_url,
        "CI_REGISTRY_USER": JOB_USER,
        "CI_REGISTRY_PASSWORD": JOB_TOKEN,
        "CI_JOB_TOKEN": JOB_TOKEN,
    }


def _sent(result: Any) -> list[str]:
    """The requests a run sent, from its --debug log: ``METHOD URL-path``."""
    lines = [line.split()[2:4] for line in result.err.splitlines() if line.startswith("debug: > ")]
    return [f"{method} {url.split('/', 3)[3].split('?')[0]}" for method, url in lines]


@pytest.fixture
def server_url(token_rig: Rig) -> str:
    assert token_rig.token_server is not None
    return token_rig.token_server.url


def test_pc_ci_cold_check_is_two_requests_warm_is_one(
    token_rig: Rig, fault_proxy_factory: Any, server_url: str
) -> None:
    """Cold: the token from CI_SERVER_URL/jwt/auth, then one HEAD that succeeds (no 401); warm: one HEAD."""
    proxy = fault_proxy_factory(token_rig.url)
    token_server = token_rig.token_server
    assert token_server is not None
    env = _ci_env(token_rig, proxy.netloc, server_url)
    argv = ["exists", "--debug", "--plain-http", proxy.netloc, ":oci"]
    cold = run_cli(argv, env)
    assert cold.code == 0, cold.err
    assert _sent(cold) == ["GET jwt/auth", "HEAD v2/group/project/manifests/oci"]
    assert [(r.method, r.status) for r in proxy.requests] == [("HEAD", 200)]
    assert len(token_server.requests) == 1 and token_server.requests[0].authorization

    proxy.reset_counters()
    token_server.clear_requests()
    warm = run_cli(argv, env)
    assert warm.code == 0, warm.err
    assert _sent(warm) == ["HEAD v2/group/project/manifests/oci"]
    assert len(token_server.requests) == 0


def test_pc_ci_wrong_prediction_is_followed_and_asked_once(
    token_rig: Rig, fault_proxy_factory: Any, server_url: str
) -> None:
    """The registry's realm is not where CI_SERVER_URL says (here: under another path, where the token server
    answers 404): the first request goes without a token, the registry's own challenge is followed, and the
    wrong realm is asked once for the whole batch, not once per reference or worker."""
    proxy = fault_proxy_factory(token_rig.url)
    token_server = token_rig.token_server
    assert token_server is not None
    env = _ci_env(token_rig, proxy.netloc, server_url + "/elsewhere")
    refs = [":oci", ":v1.2.3", ":index", ":docker"]
    argv = ["exists", "--debug", "--no-token-cache", "--jobs", "4", "--plain-http", proxy.netloc, *refs]
    result = run_cli(argv, env)
    assert result.code == 0, result.err
    sent = _sent(result)
    assert sent.count("GET elsewhere/jwt/auth") == 1
    assert sent.count("GET jwt/auth") == 1
    assert sum(1 for r in proxy.requests if r.status == 401) == 1


def test_pc_ci_no_prediction_for_another_registry(
    token_rig: Rig, fault_proxy_factory: Any, server_url: str
) -> None:
    """SEC, PC: a registry that is not CI_REGISTRY gets no prediction and no CI credential: its check costs what
    it cost before (401, token, HEAD), and the predicted realm is never asked."""
    proxy = fault_proxy_factory(token_rig.url)
    token_server = token_rig.token_server
    assert token_server is not None
    env = {**_ci_env(token_rig, "registry.example.invalid", server_url), "OCIREG_TOKEN_CACHE": "0"}
    result = run_cli(["exists", "--plain-http", proxy.netloc, f"{proxy.netloc}/public/app:latest"], env)
    assert [(r.method, r.status) for r in proxy.requests][:1] == [("HEAD", 401)]
    assert all(not r.authorization for r in token_server.requests)  # anonymous: the CI credential stays home
    assert result.code == 0, result.err


def test_sec_ci_predicted_realm_is_validated_before_any_request(tls_rig: Rig, sink: Any) -> None:
    """SEC (realm validation before any connection): a CI_SERVER_URL whose realm the policy refuses for this
    registry (plain HTTP for an HTTPS registry) is never asked; the registry's own challenge is followed."""
    assert tls_rig.ca_file is not None
    assert tls_rig.token_server is not None
    env = {
        **_ci_env(tls_rig, tls_rig.host, sink.url),
        "CI_SERVER_HOST": "127.0.0.2",  # the realm's host, trusted with the CI CA file
        "CI_SERVER_PORT": str(tls_rig.token_server.port),
        "CI_SERVER_TLS_CA_FILE": tls_rig.ca_file,
    }
    result = run_cli(["exists", "--debug", "--no-token-cache", ":oci"], env)
    assert result.code == 0, result.err
    assert sink.requests == []
    assert _sent(result) == [
        "HEAD v2/group/project/manifests/oci",
        "GET jwt/auth",
        "HEAD v2/group/project/manifests/oci",
    ]


def test_ld_ci_warm_check_opens_no_connection_to_the_realm(token_rig: Rig, fault_proxy_factory: Any) -> None:
    """LD: the token's connection is opened ahead only when a token will be fetched: a cold check in a job opens
    one connection to the realm and sends it one request, a warm one (valid token kept) opens none."""
    token_server = token_rig.token_server
    assert token_server is not None
    registry = fault_proxy_factory(token_rig.url)
    realm = fault_proxy_factory(token_server.url)  # counts what reaches the GitLab host
    env = _ci_env(token_rig, registry.netloc, f"http://{realm.netloc}")
    argv = ["exists", "--plain-http", registry.netloc, ":oci"]
    cold = run_cli(argv, env)
    assert cold.code == 0, cold.err
    assert (realm.connections_opened, len(realm.requests)) == (1, 1)
    realm.reset_counters()
    warm = run_cli(argv, env)
    assert warm.code == 0, warm.err
    assert (realm.connections_opened, len(realm.requests)) == (0, 0)


def test_ld_head_start_connections_carry_the_token_request_and_the_check(
    token_rig: Rig, fault_proxy_factory: Any
) -> None:
    """#25, LD: as the installed command runs it, the registry's and the predicted realm's TCP connections are
    begun before the command line is parsed; they are the connections the token request and the HEAD go on
    (one connection to each host, each taken from the head start), and the answer is the same."""
    token_server = token_rig.token_server
    assert token_server is not None
    registry = fault_proxy_factory(token_rig.url)
    realm = fault_proxy_factory(token_server.url)
    env = _ci_env(token_rig, registry.netloc, f"http://{realm.netloc}")
    argv = ["exists", "--debug", "--plain-http", registry.netloc, ":oci"]
    result = run_cli(argv, env, head_start=True)
    assert result.code == 0, result.err
    assert result.head_start is not None
    begun = [f"{host}:{port}" for host, port in result.head_start.begun]
    assert begun == [registry.netloc, realm.netloc]
    assert sorted(result.head_start.taken) == sorted(result.head_start.begun)
    assert (registry.connections_opened, realm.connections_opened, len(realm.requests)) == (1, 1, 1)
    assert _sent(result) == ["GET jwt/auth", "HEAD v2/group/project/manifests/oci"]
    assert f"begun before the command line was parsed: {registry.netloc}, {realm.netloc}" in result.err


def test_pc_the_process_entry_point_begins_them(token_rig: Rig, fault_proxy_factory: Any) -> None:
    """#25: ``python -m ocireg`` (as the installed command) begins the connections itself; the same check."""
    import os
    import subprocess
    import sys

    token_server = token_rig.token_server
    assert token_server is not None
    registry = fault_proxy_factory(token_rig.url)
    realm = fault_proxy_factory(token_server.url)
    env = {**os.environ, **_ci_env(token_rig, registry.netloc, f"http://{realm.netloc}")}
    argv = [sys.executable, "-m", "ocireg", "exists", "--debug", "--plain-http", registry.netloc, ":oci"]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert f"begun before the command line was parsed: {registry.netloc}, {realm.netloc}" in done.stderr
    assert (registry.connections_opened, realm.connections_opened) == (1, 1)
