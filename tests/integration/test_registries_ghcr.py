"""GitHub Container Registry under ``ghcr.io`` (#22 item 6; the front: tests/rig/registries/ghcr.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from clirunner import run_cli
from rig import Pki
from rig.registries import Account, FrontEnv, push, start_front
from rig.registries.ghcr import Ghcr

pytestmark = pytest.mark.integration

USER, PAT = "octocat", "ghp_rigSecretToken0001"


@pytest.fixture(scope="module")
def ghcr(tmp_path_factory: pytest.TempPathFactory, rig_pki: Pki) -> Iterator[Ghcr]:
    front = start_front(Ghcr, tmp_path_factory.mktemp("ghcr"), rig_pki)
    front.users[USER] = Account(PAT, {"octocat": frozenset({"pull", "push", "delete"})})
    front.public.add("octocat/public")
    push(front, "octocat/public", "1.0", "ghcr-public")
    front.private = push(front, "octocat/private", "1.0", "ghcr-private")  # type: ignore[attr-defined]
    yield front
    front.stop()


@pytest.fixture
def env(ghcr: Ghcr, rig_pki: Pki, isolated_env: Path) -> FrontEnv:
    return FrontEnv(ghcr, rig_pki, isolated_env)


def test_pc_public_package_anonymously(env: FrontEnv) -> None:
    assert run_cli(["exists", "ghcr.io/octocat/public:1.0"], env.env).code == 0


def test_pc_private_package_with_a_pat(env: FrontEnv, ghcr: Ghcr) -> None:
    env.docker_login("ghcr.io", USER, PAT)
    digest = run_cli(["digest", "ghcr.io/octocat/private:1.0"], env.env)
    assert digest.code == 0, digest.both
    assert digest.out.strip() == ghcr.private.digest  # type: ignore[attr-defined]
    tags = run_cli(["tags", "ghcr.io/octocat/private"], env.env)
    assert tags.code == 0 and "1.0" in tags.out.split(), tags.both
    inspect = run_cli(["inspect", "ghcr.io/octocat/private:1.0"], env.env)
    assert inspect.code == 0 and ghcr.private.digest in inspect.out, inspect.both  # type: ignore[attr-defined]


def test_pc_absent_tag_is_exit_1(env: FrontEnv) -> None:
    assert run_cli(["exists", "ghcr.io/octocat/public:nope"], env.env).code == 1


def test_pc_private_package_anonymously_is_exit_4(env: FrontEnv) -> None:
    result = run_cli(["exists", "ghcr.io/octocat/private:1.0"], env.env)
    assert result.code == 4, result.both


def test_sec_bad_pat_is_refused_by_the_token_endpoint(env: FrontEnv) -> None:
    """GHCR's 403 DENIED "denied" from /token cannot tell a bad PAT from no permission: 3 or 4 (SEC)."""
    env.docker_login("ghcr.io", USER, "ghp_wrongWrongWrong")
    result = run_cli(["exists", "ghcr.io/octocat/private:1.0"], env.env)
    assert result.code in (3, 4), result.both
    assert "ghp_wrongWrongWrong" not in result.both


def test_pc_auth_explain(env: FrontEnv) -> None:
    env.docker_login("ghcr.io", USER, PAT)
    result = run_cli(["auth", "explain", "ghcr.io/octocat/private:1.0"], env.env)
    assert result.code == 0, result.both
    assert "ghcr.io/token" in result.both


def test_pc_delete_is_exit_6(env: FrontEnv) -> None:
    env.docker_login("ghcr.io", USER, PAT)
    result = run_cli(["delete", "ghcr.io/octocat/private:1.0"], env.env)
    assert result.code == 6, result.both


def test_pc_delete_says_ghcr_deletes_only_through_githubs_api(env: FrontEnv) -> None:
    env.docker_login("ghcr.io", USER, PAT)
    result = run_cli(["delete", "ghcr.io/octocat/private:1.0"], env.env)
    assert result.code == 6, result.both
    assert "storage.delete" not in result.both
    assert "GitHub" in result.both
