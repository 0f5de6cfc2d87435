"""Amazon ECR (private) under ``123456789012.dkr.ecr.eu-west-1.amazonaws.com`` (#22 item 6; the front:
tests/rig/registries/ecr.py). Credentials come as users have them: ``credHelpers`` naming ``ecr-login``, a
stand-in ``docker-credential-ecr-login`` on PATH answering ``AWS`` and a token."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from clirunner import run_cli
from rig import Pki
from rig.registries import Account, FrontEnv, push, start_front
from rig.registries.ecr import EXPIRED, Ecr

pytestmark = pytest.mark.integration

HOST = "123456789012.dkr.ecr.eu-west-1.amazonaws.com"
TOKEN = "eyJwYXlsb2FkIjoiRUNSIHJpZyB0b2tlbiJ9"
READONLY_TOKEN = "eyJwYXlsb2FkIjoiRUNSIHJlYWRvbmx5In0"
STALE_TOKEN = "eyJwYXlsb2FkIjoiRUNSIGV4cGlyZWQifQ"


@pytest.fixture(scope="module")
def ecr(tmp_path_factory: pytest.TempPathFactory, rig_pki: Pki) -> Iterator[Ecr]:
    front = start_front(Ecr, tmp_path_factory.mktemp("ecr"), rig_pki)
    arn = "arn:aws:iam::123456789012:user/ci"
    front.aws_tokens[TOKEN] = (arn, Account("", {"app": frozenset({"pull", "push", "delete"})}))
    front.aws_tokens[READONLY_TOKEN] = (arn, Account("", {"other": frozenset({"pull"})}))
    front.expired_tokens.add(STALE_TOKEN)
    front.app = push(front, "app", "1.0", "ecr-app")  # type: ignore[attr-defined]
    yield front
    front.stop()


@pytest.fixture
def env(ecr: Ecr, rig_pki: Pki, isolated_env: Path) -> FrontEnv:
    return FrontEnv(ecr, rig_pki, isolated_env)


def ecr_login(env: FrontEnv, token: str) -> None:
    env.docker_config({"credHelpers": {HOST: "ecr-login"}})
    env.credential_helper("ecr-login", f"https://{HOST}", "AWS", token)


def test_pc_exists_digest_tags_inspect_through_ecr_login(env: FrontEnv, ecr: Ecr) -> None:
    ecr_login(env, TOKEN)
    assert run_cli(["exists", f"{HOST}/app:1.0"], env.env).code == 0
    digest = run_cli(["digest", f"{HOST}/app:1.0"], env.env)
    assert digest.code == 0 and digest.out.strip() == ecr.app.digest, digest.both  # type: ignore[attr-defined]
    tags = run_cli(["tags", f"{HOST}/app"], env.env)
    assert tags.code == 0 and "1.0" in tags.out.split(), tags.both
    assert run_cli(["inspect", f"{HOST}/app:1.0"], env.env).code == 0


def test_pc_absent_tag_is_exit_1(env: FrontEnv) -> None:
    ecr_login(env, TOKEN)
    assert run_cli(["exists", f"{HOST}/app:nope"], env.env).code == 1


def test_pc_missing_credential_helper_is_exit_3(env: FrontEnv) -> None:
    env.docker_config({"credHelpers": {HOST: "ecr-login"}})  # no docker-credential-ecr-login on PATH
    result = run_cli(["exists", f"{HOST}/app:1.0"], env.env)
    assert result.code == 3, result.both


def test_pc_auth_explain(env: FrontEnv) -> None:
    ecr_login(env, TOKEN)
    result = run_cli(["auth", "explain", f"{HOST}/app:1.0"], env.env)
    assert result.code == 0, result.both
    assert "Basic" in result.both


def test_pc_delete_by_digest(env: FrontEnv, ecr: Ecr) -> None:
    gone = push(ecr, "app", "gone", "ecr-gone")
    ecr_login(env, TOKEN)
    result = run_cli(["delete", "--manifest", "--yes", f"{HOST}/app@{gone.digest}"], env.env)
    assert result.code == 0, result.both
    assert run_cli(["exists", f"{HOST}/app:gone"], env.env).code == 1


def test_pc_delete_by_tag_unsupported_is_exit_6(env: FrontEnv) -> None:
    ecr_login(env, TOKEN)
    result = run_cli(["delete", f"{HOST}/app:1.0"], env.env)
    assert result.code == 6, result.both


def test_pc_no_credentials_is_exit_4_with_how_ecr_credentials_are_had(env: FrontEnv) -> None:
    result = run_cli(["exists", f"{HOST}/app:1.0"], env.env)
    assert result.code == 4, result.both
    assert "ecr-login" in result.err or "get-login-password" in result.err


def test_pc_expired_token_is_exit_3_with_ecrs_message(env: FrontEnv) -> None:
    ecr_login(env, STALE_TOKEN)
    result = run_cli(["exists", f"{HOST}/app:1.0"], env.env)
    assert result.code == 3, result.both
    assert EXPIRED in result.err


def test_pc_iam_refusal_message_shown_on_head(env: FrontEnv) -> None:
    ecr_login(env, READONLY_TOKEN)
    result = run_cli(["exists", f"{HOST}/app:1.0"], env.env)
    assert result.code == 4, result.both
    assert "is not authorized to perform: ecr:BatchGetImage" in result.err
