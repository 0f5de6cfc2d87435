"""Google Artifact Registry under ``europe-west1-docker.pkg.dev`` (#22 item 6; the front:
tests/rig/registries/artifactregistry.py). Users ``_json_key`` and ``oauth2accesstoken``, and ``credHelpers``
naming ``gcloud`` with a stand-in ``docker-credential-gcloud`` on PATH answering ``_dcgcloud_token``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from clirunner import run_cli
from rig import Pki
from rig.registries import Account, FrontEnv, push, start_front
from rig.registries.artifactregistry import HOST, ArtifactRegistry

pytestmark = pytest.mark.integration

JSON_KEY = json.dumps({"type": "service_account", "project_id": "proj", "private_key_id": "rig0001"})
ACCESS_TOKEN = "ya29.rig-access-token-0001"
IMAGE = f"{HOST}/proj/docker/app"


@pytest.fixture(scope="module")
def gar(tmp_path_factory: pytest.TempPathFactory, rig_pki: Pki) -> Iterator[ArtifactRegistry]:
    front = start_front(ArtifactRegistry, tmp_path_factory.mktemp("gar"), rig_pki)
    rights = {"proj/docker": frozenset({"pull", "push", "delete"})}
    front.users["_json_key"] = Account(JSON_KEY, rights)
    front.users["oauth2accesstoken"] = Account(ACCESS_TOKEN, {"proj/other": frozenset({"pull"})})
    front.users["_dcgcloud_token"] = Account(ACCESS_TOKEN, rights)
    front.app = push(front, "proj/docker/app", "1.0", "gar-app")  # type: ignore[attr-defined]
    yield front
    front.stop()


@pytest.fixture
def env(gar: ArtifactRegistry, rig_pki: Pki, isolated_env: Path) -> FrontEnv:
    return FrontEnv(gar, rig_pki, isolated_env)


def test_pc_json_key_exists_digest_tags_inspect(env: FrontEnv, gar: ArtifactRegistry) -> None:
    """The challenge has no ``service``: the token request goes without one."""
    env.docker_login(HOST, "_json_key", JSON_KEY)
    assert run_cli(["exists", f"{IMAGE}:1.0"], env.env).code == 0
    digest = run_cli(["digest", f"{IMAGE}:1.0"], env.env)
    assert digest.code == 0 and digest.out.strip() == gar.app.digest, digest.both  # type: ignore[attr-defined]
    tags = run_cli(["tags", IMAGE], env.env)
    assert tags.code == 0 and "1.0" in tags.out.split(), tags.both
    assert run_cli(["inspect", f"{IMAGE}:1.0"], env.env).code == 0


def test_pc_gcloud_credential_helper(env: FrontEnv) -> None:
    env.docker_config({"credHelpers": {HOST: "gcloud"}})
    env.credential_helper("gcloud", f"https://{HOST}", "_dcgcloud_token", ACCESS_TOKEN)
    result = run_cli(["exists", f"{IMAGE}:1.0"], env.env)
    assert result.code == 0, result.both


def test_pc_absent_tag_is_exit_1(env: FrontEnv) -> None:
    env.docker_login(HOST, "_json_key", JSON_KEY)
    assert run_cli(["exists", f"{IMAGE}:nope"], env.env).code == 1


def test_pc_anonymous_is_exit_4(env: FrontEnv) -> None:
    result = run_cli(["exists", f"{IMAGE}:1.0"], env.env)
    assert result.code == 4, result.both


def test_pc_auth_explain(env: FrontEnv) -> None:
    env.docker_login(HOST, "_json_key", JSON_KEY)
    result = run_cli(["auth", "explain", f"{IMAGE}:1.0"], env.env)
    assert result.code == 0, result.both
    assert "/v2/token" in result.both


def test_pc_delete_tag_untags(env: FrontEnv, gar: ArtifactRegistry) -> None:
    push(gar, "proj/docker/app", "gone", "gar-app")
    env.docker_login(HOST, "_json_key", JSON_KEY)
    result = run_cli(["delete", f"{IMAGE}:gone"], env.env)
    assert result.code == 0, result.both
    assert run_cli(["exists", f"{IMAGE}:gone"], env.env).code == 1
    assert run_cli(["exists", f"{IMAGE}:1.0"], env.env).code == 0


def test_sec_denied_access_token_is_exit_4(env: FrontEnv) -> None:
    env.docker_login(HOST, "oauth2accesstoken", ACCESS_TOKEN)
    result = run_cli(["exists", f"{IMAGE}:1.0"], env.env)
    assert result.code == 4, result.both
    assert ACCESS_TOKEN not in result.both


def test_pc_permission_message_shown_on_head(env: FrontEnv) -> None:
    env.docker_login(HOST, "oauth2accesstoken", ACCESS_TOKEN)
    result = run_cli(["exists", f"{IMAGE}:1.0"], env.env)
    assert result.code == 4, result.both
    assert "artifactregistry.repositories.downloadArtifacts" in result.err
    assert "(or it may not exist)" in result.err
