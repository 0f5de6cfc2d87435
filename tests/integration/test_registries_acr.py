"""Azure Container Registry under ``myregistry.azurecr.io`` (#22 item 6; the front: tests/rig/registries/acr.py,
from Azure/acr docs/AAD-OAuth.md). Credentials: an admin user, and the ``identitytoken`` (ACR refresh token)
``az acr login`` leaves in config.json, exchanged by ``POST /oauth2/token``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from clirunner import run_cli
from rig import Pki
from rig.registries import Account, FrontEnv, push, start_front
from rig.registries.acr import NAME, REFRESH_USER, Acr

pytestmark = pytest.mark.integration

ADMIN, ADMIN_PASSWORD = "myregistry", "AcrAdminPassword0001"
REFRESH_TOKEN = "eyJhbGciOiJSUzI1NiJ9.acr-refresh.rig"


@pytest.fixture(scope="module")
def acr(tmp_path_factory: pytest.TempPathFactory, rig_pki: Pki) -> Iterator[Acr]:
    front = start_front(Acr, tmp_path_factory.mktemp("acr"), rig_pki)
    front.users[ADMIN] = Account(ADMIN_PASSWORD, {"": frozenset({"pull", "push", "delete"})})
    front.users["aad-user"] = Account("-", {"": frozenset({"pull", "push", "delete"})})
    front.refresh_tokens[REFRESH_TOKEN] = "aad-user"
    front.app = push(front, "app", "1.0", "acr-app")  # type: ignore[attr-defined]
    yield front
    front.stop()


@pytest.fixture
def env(acr: Acr, rig_pki: Pki, isolated_env: Path) -> FrontEnv:
    return FrontEnv(acr, rig_pki, isolated_env)


def test_pc_admin_user_exists_digest_tags_inspect(env: FrontEnv, acr: Acr) -> None:
    env.docker_login(NAME, ADMIN, ADMIN_PASSWORD)
    assert run_cli(["exists", f"{NAME}/app:1.0"], env.env).code == 0
    digest = run_cli(["digest", f"{NAME}/app:1.0"], env.env)
    assert digest.code == 0 and digest.out.strip() == acr.app.digest, digest.both  # type: ignore[attr-defined]
    tags = run_cli(["tags", f"{NAME}/app"], env.env)
    assert tags.code == 0 and "1.0" in tags.out.split(), tags.both
    assert run_cli(["inspect", f"{NAME}/app:1.0"], env.env).code == 0


def test_pc_identitytoken_is_exchanged_by_post(env: FrontEnv, acr: Acr) -> None:
    env.docker_config({"auths": {NAME: {"auth": _b64(f"{REFRESH_USER}:"), "identitytoken": REFRESH_TOKEN}}})
    before = acr.count("POST", "/oauth2/token")
    result = run_cli(["exists", f"{NAME}/app:1.0"], env.env)
    assert result.code == 0, result.both
    assert acr.count("POST", "/oauth2/token") > before


def test_pc_absent_tag_is_exit_1(env: FrontEnv) -> None:
    env.docker_login(NAME, ADMIN, ADMIN_PASSWORD)
    assert run_cli(["exists", f"{NAME}/app:nope"], env.env).code == 1


def test_sec_bad_password_is_exit_3(env: FrontEnv) -> None:
    env.docker_login(NAME, ADMIN, "not-the-password")
    result = run_cli(["exists", f"{NAME}/app:1.0"], env.env)
    assert result.code == 3, result.both
    assert "not-the-password" not in result.both


def test_pc_auth_explain(env: FrontEnv) -> None:
    env.docker_login(NAME, ADMIN, ADMIN_PASSWORD)
    result = run_cli(["auth", "explain", f"{NAME}/app:1.0"], env.env)
    assert result.code == 0, result.both
    assert "/oauth2/token" in result.both


def test_pc_delete_by_digest(env: FrontEnv, acr: Acr) -> None:
    gone = push(acr, "app", "gone", "acr-gone")
    env.docker_login(NAME, ADMIN, ADMIN_PASSWORD)
    result = run_cli(["delete", "--manifest", "--yes", f"{NAME}/app@{gone.digest}"], env.env)
    assert result.code == 0, result.both


def test_pc_delete_by_tag_unsupported_is_exit_6(env: FrontEnv) -> None:
    env.docker_login(NAME, ADMIN, ADMIN_PASSWORD)
    assert run_cli(["delete", f"{NAME}/app:1.0"], env.env).code == 6


def test_pc_anonymous_is_exit_4(env: FrontEnv) -> None:
    result = run_cli(["exists", f"{NAME}/app:1.0"], env.env)
    assert result.code == 4, result.both


def _b64(text: str) -> str:
    import base64

    return base64.b64encode(text.encode()).decode()
