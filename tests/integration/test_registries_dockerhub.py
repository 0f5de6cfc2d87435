"""Docker Hub under its own names (#22 item 6; the front: tests/rig/registries/dockerhub.py).

Credentials as users have them: docker's ``https://index.docker.io/v1/`` key and podman's ``docker.io`` key.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from clirunner import run_cli
from rig import Pki
from rig.registries import Account, FrontEnv, push, start_front
from rig.registries.dockerhub import DockerHub

pytestmark = pytest.mark.integration

USER, PASSWORD = "dev", "dckr_pat_rig-secret-0001"


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory, rig_pki: Pki) -> Iterator[DockerHub]:
    front = start_front(DockerHub, tmp_path_factory.mktemp("dockerhub"), rig_pki)
    front.users[USER] = Account(PASSWORD, {"dev": frozenset({"pull", "push", "delete"})})
    front.public.add("library/alpine")
    front.alpine = push(front, "library/alpine", "3.19", "alpine")  # type: ignore[attr-defined]
    push(front, "dev/private", "1.0", "private")
    yield front
    front.stop()


@pytest.fixture
def env(hub: DockerHub, rig_pki: Pki, isolated_env: Path) -> FrontEnv:
    return FrontEnv(hub, rig_pki, isolated_env)


def test_pc_exists_official_image_anonymously(env: FrontEnv) -> None:
    result = run_cli(["exists", "alpine:3.19"], env.env)
    assert result.code == 0, result.both


def test_pc_digest_through_index_docker_io_key(env: FrontEnv, hub: DockerHub) -> None:
    env.docker_login("https://index.docker.io/v1/", USER, PASSWORD)
    result = run_cli(["digest", "docker.io/dev/private:1.0"], env.env)
    assert result.code == 0, result.both
    assert result.out.strip() == push(hub, "dev/private", "1.0", "private").digest


def test_pc_podman_docker_io_key(env: FrontEnv) -> None:
    env.podman_login("docker.io", USER, PASSWORD)
    result = run_cli(["exists", "dev/private:1.0"], env.env)
    assert result.code == 0, result.both


def test_pc_tags_and_inspect(env: FrontEnv, hub: DockerHub) -> None:
    tags = run_cli(["tags", "alpine"], env.env)
    assert tags.code == 0, tags.both
    assert "3.19" in tags.out.split()
    inspect = run_cli(["inspect", "docker.io/library/alpine:3.19"], env.env)
    assert inspect.code == 0, inspect.both
    assert hub.alpine.digest in inspect.out  # type: ignore[attr-defined]


def test_pc_absent_tag_is_exit_1(env: FrontEnv) -> None:
    result = run_cli(["exists", "alpine:nope"], env.env)
    assert result.code == 1, result.both


def test_pc_private_repository_anonymous_is_exit_4(env: FrontEnv) -> None:
    """PC: Hub answers insufficient_scope (never 'absent') to a caller without credentials."""
    result = run_cli(["exists", "dev/private:1.0"], env.env)
    assert result.code == 4, result.both


def test_pc_nonexistent_repository_with_credentials_is_exit_4(env: FrontEnv) -> None:
    env.docker_login("https://index.docker.io/v1/", USER, PASSWORD)
    result = run_cli(["exists", "someone/else:1.0"], env.env)
    assert result.code == 4, result.both


def test_sec_wrong_password_is_exit_3_with_hubs_message(env: FrontEnv) -> None:
    """SEC: the token endpoint's 401 ``{"details": ...}``; the password never shows."""
    env.docker_login("https://index.docker.io/v1/", USER, "wrong-password-123")
    result = run_cli(["exists", "dev/private:1.0"], env.env)
    assert result.code == 3, result.both
    assert "wrong-password-123" not in result.both


def test_ld_head_does_not_count_against_the_rate_limit(env: FrontEnv, hub: DockerHub) -> None:
    """Hub counts a manifest GET as a pull, never a HEAD: ``exists`` and ``digest`` must not spend pulls."""
    before = hub.pulls
    for _ in range(3):
        assert run_cli(["exists", "alpine:3.19"], env.env).code == 0
        assert run_cli(["digest", "alpine:3.19"], env.env).code == 0
    assert hub.pulls == before
    assert hub.count("HEAD", "/manifests/") >= 6


def test_ft_pull_limit_reached_inspect_is_exit_7_and_exists_still_answers(
    env: FrontEnv, hub: DockerHub
) -> None:
    """FT: past the pull limit Hub answers a manifest GET 429 ``TOOMANYREQUESTS`` without ``Retry-After``:
    ``inspect`` is exit 7 after its retries, with Hub's words and why (anonymous pulls are limited per IP; the
    checks are HEADs, which Hub does not count); ``exists`` (a HEAD) still answers."""
    saved = hub.limit
    hub.limit = hub.pulls
    try:
        result = run_cli(["inspect", "alpine:3.19"], env.env)
        assert result.code == 7, result.both
        assert "pull rate limit" in result.both
        assert "anonymous pulls per IP address" in result.both and "HEAD" in result.both
        assert run_cli(["exists", "alpine:3.19"], env.env).code == 0
    finally:
        hub.limit = saved


def test_ft_pull_limit_of_an_account_names_the_account(env: FrontEnv, hub: DockerHub) -> None:
    env.docker_login("https://index.docker.io/v1/", USER, PASSWORD)
    saved = hub.limit
    hub.limit = hub.pulls
    try:
        result = run_cli(["inspect", "dev/private:1.0"], env.env)
        assert result.code == 7, result.both
        assert f"pull limit for the account '{USER}' is spent" in result.both
        assert PASSWORD not in result.both
    finally:
        hub.limit = saved


def test_pc_auth_explain(env: FrontEnv) -> None:
    result = run_cli(["auth", "explain", "alpine:3.19"], env.env)
    assert result.code == 0, result.both
    assert "auth.docker.io" in result.both


def test_pc_delete_is_exit_6(env: FrontEnv) -> None:
    env.docker_login("https://index.docker.io/v1/", USER, PASSWORD)
    push(env.front, "dev/private", "gone", "private")
    result = run_cli(["delete", "docker.io/dev/private:gone"], env.env)
    assert result.code == 6, result.both


def test_pc_delete_says_hub_deletes_only_through_its_own_api(env: FrontEnv) -> None:
    env.docker_login("https://index.docker.io/v1/", USER, PASSWORD)
    push(env.front, "dev/private", "gone", "private")
    result = run_cli(["delete", "docker.io/dev/private:gone"], env.env)
    assert result.code == 6, result.both
    assert "storage.delete" not in result.both
    assert "hub.docker.com" in result.both
