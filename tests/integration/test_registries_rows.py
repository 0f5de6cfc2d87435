"""The rows of #22's table that are not one registry's: hint length (GitLab), the library's own credential,
and the test-only ``connect_to`` hook the registry fronts stand on (docs/testing.md "Registries under their own
names")."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from ocireg.client import RegistryClient
from ocireg.credentials import Credential
from ocireg.errors import OciregError
from ocireg.reference import parse_reference
from ocireg.transport import TransportConfig

from clirunner import Result, creds, run_cli
from rig import Pki, Rig
from rig.registries import Account, FrontEnv, push, start_front
from rig.registries.dockerhub import DockerHub
from rig.tokenserver import ALICE

pytestmark = pytest.mark.integration

USER, PASSWORD = "dev", "dckr_pat_rows-0001"


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory, rig_pki: Pki) -> Iterator[DockerHub]:
    front = start_front(DockerHub, tmp_path_factory.mktemp("rows-hub"), rig_pki)
    front.users[USER] = Account(PASSWORD, {"dev": frozenset({"pull", "push"})})
    front.public.add("library/alpine")
    push(front, "library/alpine", "3.19", "rows-alpine")
    yield front
    front.stop()


def _hint_lines(result: Result) -> list[str]:
    lines = result.err.rstrip("\n").splitlines()
    return lines[1:]


@pytest.mark.parametrize(
    ("repo", "env"),
    [("group/project", creds(ALICE, "wrong-password")), ("group/project", {})],
    ids=["rejected-password", "denied-project"],
)
def test_pc_hints_are_at_most_three_short_lines(token_rig: Rig, repo: str, env: dict[str, str]) -> None:
    result = run_cli(["exists", token_rig.ref(repo, "oci")], {**env, "OCIREG_TOKEN_CACHE": "0"})
    assert result.code in (3, 4), result.both
    hints = _hint_lines(result)
    assert 1 <= len(hints) <= 3, result.err
    assert all(len(line) <= 120 for line in hints), result.err


def _library_client(hub: DockerHub, rig_pki: Pki, credential: Credential) -> RegistryClient:
    connect_to = {(host, 443): ("127.0.0.1", hub.port) for host in hub.hosts}
    config = TransportConfig(ca_file=str(rig_pki.ca_file), connect_to=connect_to, retries=0)
    return RegistryClient(credential, config=config)


def test_pc_library_reaches_real_names_through_connect_to(hub: DockerHub, rig_pki: Pki) -> None:
    client = _library_client(hub, rig_pki, Credential(username=USER, password=PASSWORD, source="test"))
    assert client.exists(parse_reference("alpine:3.19"))


def test_pc_library_credential_source_is_given_by_the_caller(hub: DockerHub, rig_pki: Pki) -> None:
    client = _library_client(hub, rig_pki, Credential(username=USER, password=PASSWORD))
    with pytest.raises(OciregError) as raised:
        client.exists(parse_reference("someone/else:1.0"))
    text = f"{raised.value} {raised.value.hint or ''}"
    assert "given by the caller" in text
    assert "from anonymous" not in text


def test_sec_connect_to_refuses_a_non_loopback_target(
    hub: DockerHub, rig_pki: Pki, isolated_env: Path
) -> None:
    env = FrontEnv(hub, rig_pki, isolated_env).env
    env["OCIREG_TEST_CONNECT_TO"] = "registry-1.docker.io:443:192.0.2.1:443"
    result = run_cli(["exists", "alpine:3.19"], env)
    assert result.code == 2, result.both
    assert "OCIREG_TEST_CONNECT_TO" in result.err


def test_sec_connect_to_keeps_the_certificate_check(
    tmp_path: Path, hub: DockerHub, rig_pki: Pki, isolated_env: Path
) -> None:
    """The front's certificate names registry-1.docker.io, not ghcr.io: TLS to ghcr.io mapped onto it fails."""
    env = FrontEnv(hub, rig_pki, isolated_env).env
    env["OCIREG_TEST_CONNECT_TO"] = f"ghcr.io:443:127.0.0.1:{hub.port}"
    result = run_cli(["exists", "ghcr.io/library/alpine:3.19"], env)
    assert result.code == 5, result.both
    assert "certificate" in result.err, result.err


def test_pc_connect_to_in_a_subprocess(hub: DockerHub, rig_pki: Pki, isolated_env: Path) -> None:
    import os

    env = {**os.environ, **FrontEnv(hub, rig_pki, isolated_env).env}
    done = subprocess.run(
        [sys.executable, "-m", "ocireg", "exists", "alpine:3.19"],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
