"""Quay under ``quay.io`` (#22 item 6; the front: tests/rig/registries/quay.py, from quay/quay's source).

Robots are ``org+name`` users; the token service knows only pull/push/*; pages are 100 tags with an absolute Link.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TypeVar

import pytest

from clirunner import run_cli
from rig import Pki
from rig.registries import Account, FrontEnv, push, push_tags, start_front
from rig.registries.quay import Quay, SelfManagedQuay

pytestmark = pytest.mark.integration

ROBOT, ROBOT_TOKEN = "acme+ci", "QUAYROBOTTOKEN0001"
READER, READER_TOKEN = "acme+reader", "QUAYROBOTTOKEN0002"
MANY = 105  # two pages of Quay's 100
Q = TypeVar("Q", bound=Quay)


def _with_robots(front: Q) -> Q:
    front.users[ROBOT] = Account(ROBOT_TOKEN, {"acme": frozenset({"pull", "push"})})
    front.users[READER] = Account(READER_TOKEN, {"acme": frozenset({"pull"})})
    return front


@pytest.fixture(scope="module")
def quay(tmp_path_factory: pytest.TempPathFactory, rig_pki: Pki) -> Iterator[Quay]:
    front = _with_robots(start_front(Quay, tmp_path_factory.mktemp("quay"), rig_pki))
    front.public.add("acme/public")
    public = push(front, "acme/public", "1.0", "quay-public")
    push_tags(front, public, [f"t{i:03d}" for i in range(MANY - 1)])
    front.app = push(front, "acme/app", "1.0", "quay-app")  # type: ignore[attr-defined]
    yield front
    front.stop()


@pytest.fixture
def env(quay: Quay, rig_pki: Pki, isolated_env: Path) -> FrontEnv:
    return FrontEnv(quay, rig_pki, isolated_env)


def test_pc_public_repository_read_anonymously(env: FrontEnv) -> None:
    assert run_cli(["exists", "quay.io/acme/public:1.0"], env.env).code == 0


def test_pc_tags_follow_absolute_links_over_100_tag_pages(env: FrontEnv, quay: Quay) -> None:
    before = quay.count("GET", "/tags/list")
    result = run_cli(["tags", "quay.io/acme/public"], env.env)
    assert result.code == 0, result.both
    assert len(result.out.split()) == MANY
    assert quay.count("GET", "/tags/list") - before == 2


def test_pc_robot_reads_a_private_repository(env: FrontEnv, quay: Quay) -> None:
    env.docker_login("quay.io", ROBOT, ROBOT_TOKEN)
    digest = run_cli(["digest", "quay.io/acme/app:1.0"], env.env)
    assert digest.code == 0, digest.both
    assert digest.out.strip() == quay.app.digest  # type: ignore[attr-defined]
    inspect = run_cli(["inspect", "quay.io/acme/app:1.0"], env.env)
    assert inspect.code == 0, inspect.both


def test_pc_absent_tag_is_exit_1(env: FrontEnv) -> None:
    env.docker_login("quay.io", ROBOT, ROBOT_TOKEN)
    assert run_cli(["exists", "quay.io/acme/app:nope"], env.env).code == 1


def test_pc_private_repository_anonymously_is_exit_4(env: FrontEnv) -> None:
    result = run_cli(["exists", "quay.io/acme/app:1.0"], env.env)
    assert result.code == 4, result.both


def test_sec_invalid_login_is_exit_3(env: FrontEnv) -> None:
    env.docker_login("quay.io", ROBOT, "not-the-token")
    result = run_cli(["exists", "quay.io/acme/app:1.0"], env.env)
    assert result.code == 3, result.both
    assert "not-the-token" not in result.both


def test_pc_auth_explain(env: FrontEnv) -> None:
    env.docker_login("quay.io", ROBOT, ROBOT_TOKEN)
    result = run_cli(["auth", "explain", "quay.io/acme/app:1.0"], env.env)
    assert result.code == 0, result.both
    assert "quay.io/v2/auth" in result.both
    assert "profile    quay" in result.out  # #22: the profile the real flow recognised


def test_pc_delete_tag_with_a_push_robot(env: FrontEnv, quay: Quay) -> None:
    push(quay, "acme/app", "old", "quay-app")
    env.docker_login("quay.io", ROBOT, ROBOT_TOKEN)
    result = run_cli(["delete", "quay.io/acme/app:old"], env.env)
    assert result.code == 0, result.both
    assert run_cli(["exists", "quay.io/acme/app:old"], env.env).code == 1
    assert run_cli(["exists", "quay.io/acme/app:1.0"], env.env).code == 0


def test_pc_delete_tag_with_a_read_only_robot_is_exit_4(env: FrontEnv, quay: Quay) -> None:
    push(quay, "acme/app", "keep", "quay-app")
    env.docker_login("quay.io", READER, READER_TOKEN)
    result = run_cli(["delete", "quay.io/acme/app:keep"], env.env)
    assert result.code == 4, result.both
    assert run_cli(["exists", "quay.io/acme/app:keep"], env.env).code == 0


# -- Red Hat Quay under a name of its own (#22: recognised by its challenge, not its host name) ------------------


@pytest.fixture(scope="module")
def own_quay(tmp_path_factory: pytest.TempPathFactory, rig_pki: Pki) -> Iterator[SelfManagedQuay]:
    front = _with_robots(start_front(SelfManagedQuay, tmp_path_factory.mktemp("own-quay"), rig_pki))
    push(front, "acme/app", "1.0", "own-quay-app")
    yield front
    front.stop()


@pytest.fixture
def own_env(own_quay: SelfManagedQuay, rig_pki: Pki, isolated_env: Path) -> FrontEnv:
    return FrontEnv(own_quay, rig_pki, isolated_env)


def test_pc_self_managed_quay_delete_with_a_push_robot(own_env: FrontEnv, own_quay: SelfManagedQuay) -> None:
    """PC: a Quay under another name deletes a tag as quay.io does (its token service knows ``push``, not
    ``delete``); before the challenge told the family, the delete asked for ``delete`` and failed (exit 6)."""
    host = own_quay.api_host
    push(own_quay, "acme/app", "old", "own-quay-app")
    own_env.docker_login(host, ROBOT, ROBOT_TOKEN)
    result = run_cli(["delete", f"{host}/acme/app:old"], own_env.env)
    assert result.code == 0, result.both
    assert run_cli(["exists", f"{host}/acme/app:old"], own_env.env).code == 1
    assert run_cli(["exists", f"{host}/acme/app:1.0"], own_env.env).code == 0


def test_pc_self_managed_quay_read_only_delete_is_exit_4(
    own_env: FrontEnv, own_quay: SelfManagedQuay
) -> None:
    host = own_quay.api_host
    push(own_quay, "acme/app", "keep", "own-quay-app")
    own_env.docker_login(host, READER, READER_TOKEN)
    result = run_cli(["delete", f"{host}/acme/app:keep"], own_env.env)
    assert result.code == 4, result.both
    assert run_cli(["exists", f"{host}/acme/app:keep"], own_env.env).code == 0


def test_pc_self_managed_quay_is_named_by_auth_explain(own_env: FrontEnv, own_quay: SelfManagedQuay) -> None:
    host = own_quay.api_host
    own_env.docker_login(host, ROBOT, ROBOT_TOKEN)
    result = run_cli(["auth", "explain", f"{host}/acme/app:1.0"], own_env.env)
    assert result.code == 0, result.both
    assert f"{host}/v2/auth" in result.both
    assert "profile    quay" in result.out
