"""Harbor v2 under ``harbor.example.org`` (#22 item 6; the front: tests/rig/registries/harbor.py, from
goharbor/harbor's source). Robot accounts are ``robot$PROJECT+NAME`` users."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from clirunner import run_cli
from rig import Pki
from rig.registries import Account, FrontEnv, push, start_front
from rig.registries.harbor import Harbor

pytestmark = pytest.mark.integration

HOST = "harbor.example.org"
ROBOT, ROBOT_SECRET = "robot$proj+ci", "HarborRobotSecret0001"
ADMIN, ADMIN_PASSWORD = "admin", "Harbor12345"


@pytest.fixture(scope="module")
def harbor(tmp_path_factory: pytest.TempPathFactory, rig_pki: Pki) -> Iterator[Harbor]:
    front = start_front(Harbor, tmp_path_factory.mktemp("harbor"), rig_pki)
    front.users[ROBOT] = Account(ROBOT_SECRET, {"proj": frozenset({"pull", "push", "delete"})})
    front.users[ADMIN] = Account(ADMIN_PASSWORD, {"": frozenset({"pull", "push", "delete", "*"})})
    front.projects |= {"proj", "library"}
    front.public.add("library/hello")
    push(front, "library/hello", "1.0", "harbor-hello")
    front.app = push(front, "proj/app", "1.0", "harbor-app")  # type: ignore[attr-defined]
    yield front
    front.stop()


@pytest.fixture
def env(harbor: Harbor, rig_pki: Pki, isolated_env: Path) -> FrontEnv:
    return FrontEnv(harbor, rig_pki, isolated_env)


def test_pc_public_project_anonymously(env: FrontEnv) -> None:
    """Harbor challenges even a public HEAD without Authorization (harbor#11271): the token flow runs."""
    assert run_cli(["exists", f"{HOST}/library/hello:1.0"], env.env).code == 0


def test_pc_robot_account_reads(env: FrontEnv, harbor: Harbor) -> None:
    env.docker_login(HOST, ROBOT, ROBOT_SECRET)
    digest = run_cli(["digest", f"{HOST}/proj/app:1.0"], env.env)
    assert digest.code == 0, digest.both
    assert digest.out.strip() == harbor.app.digest  # type: ignore[attr-defined]
    tags = run_cli(["tags", f"{HOST}/proj/app"], env.env)
    assert tags.code == 0 and "1.0" in tags.out.split(), tags.both
    inspect = run_cli(["inspect", f"{HOST}/proj/app:1.0"], env.env)
    assert inspect.code == 0, inspect.both


def test_pc_absent_tag_not_found_is_exit_1(env: FrontEnv) -> None:
    """Harbor's 404 is ``NOT_FOUND``, not ``MANIFEST_UNKNOWN``."""
    env.docker_login(HOST, ROBOT, ROBOT_SECRET)
    assert run_cli(["exists", f"{HOST}/proj/app:nope"], env.env).code == 1


def test_pc_auth_explain(env: FrontEnv) -> None:
    env.docker_login(HOST, ROBOT, ROBOT_SECRET)
    result = run_cli(["auth", "explain", f"{HOST}/proj/app:1.0"], env.env)
    assert result.code == 0, result.both
    assert "/service/token" in result.both


def test_pc_delete_by_digest_removes_the_artifact(env: FrontEnv, harbor: Harbor) -> None:
    gone = push(harbor, "proj/app", "gone", "harbor-gone")
    env.docker_login(HOST, ROBOT, ROBOT_SECRET)
    result = run_cli(["delete", "--manifest", "--yes", f"{HOST}/proj/app@{gone.digest}"], env.env)
    assert result.code == 0, result.both
    assert run_cli(["exists", f"{HOST}/proj/app:gone"], env.env).code == 1


def test_pc_delete_of_an_immutable_tag_is_refused(env: FrontEnv, harbor: Harbor) -> None:
    """412 PRECONDITION: a policy refusal, exit 4 (the profile reads it so), and the tag stays."""
    kept = push(harbor, "proj/app", "release", "harbor-release")
    harbor.immutable.add(("proj/app", "release"))
    env.docker_login(HOST, ROBOT, ROBOT_SECRET)
    result = run_cli(["delete", "--manifest", "--yes", f"{HOST}/proj/app@{kept.digest}"], env.env)
    assert result.code == 4, result.both
    assert "immutable" in result.both and "tag immutability rule" in result.both  # the profile's hint
    assert run_cli(["exists", f"{HOST}/proj/app:release"], env.env).code == 0


def test_pc_tag_delete_unsupported_is_exit_6(env: FrontEnv, harbor: Harbor) -> None:
    """Harbor answers a delete by tag 400 UNSUPPORTED."""
    push(harbor, "proj/app", "tagonly", "harbor-tagonly")
    env.docker_login(HOST, ROBOT, ROBOT_SECRET)
    result = run_cli(["delete", f"{HOST}/proj/app:tagonly"], env.env)
    assert result.code == 6, result.both


def test_pc_anonymous_pull_of_a_private_project_is_exit_4(env: FrontEnv) -> None:
    result = run_cli(["exists", f"{HOST}/proj/app:1.0"], env.env)
    assert result.code == 4, result.both


def test_pc_project_not_found_is_never_bad_credentials(env: FrontEnv) -> None:
    env.docker_login(HOST, ADMIN, ADMIN_PASSWORD)
    result = run_cli(["exists", f"{HOST}/nosuchproject/app:1.0"], env.env)
    assert result.code in (1, 4), result.both


def test_sec_wrong_robot_secret_is_refused(env: FrontEnv) -> None:
    """Harbor ignores a failed Basic login (an anonymous token): bad credentials or no permission, 3 or 4."""
    env.docker_login(HOST, ROBOT, "not-the-secret")
    result = run_cli(["exists", f"{HOST}/proj/app:1.0"], env.env)
    assert result.code in (3, 4), result.both
    assert "not-the-secret" not in result.both
