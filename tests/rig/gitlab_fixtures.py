"""The GitLab-faithful rig: token server + GitLab registry front + real distribution 2.8 (issue #12).

``gitlab_rig`` gives a test a registry that answers as GitLab's does (tests/rig/gitlabfront.py) with the token
server of tests/rig/tokenserver.py behind its realm (127.0.0.2). It is its own rig (own storage, own token
server), so its knobs never leak into the other rigs; the fixture resets the front's and the token server's
knobs before and after every test. Tests import nothing from here: tests/conftest.py re-exports the fixtures.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from . import Rig
from .gitlabfront import GitLabFront
from .pki import Pki
from .registry import RegistryProcess, registry_binary, token_auth
from .seed import seed_standard
from .tokenserver import TokenServer

__all__ = ["GitLabRig", "gitlab_rig", "gitlab_rig_session", "start_gitlab_rig"]


@dataclass
class GitLabRig(Rig):
    """A :class:`~rig.Rig` whose address is the GitLab front's: every request goes through it."""

    front: GitLabFront | None = None

    @property
    def gitlab(self) -> GitLabFront:
        assert self.front is not None
        return self.front

    @property
    def host(self) -> str:
        return self.gitlab.netloc

    @property
    def url(self) -> str:
        return self.gitlab.url

    @property
    def scheme(self) -> str:
        return self.gitlab.scheme

    def ensure_running(self) -> None:
        super().ensure_running()
        if not self.gitlab.running:
            self.gitlab.start()

    def close(self) -> None:
        try:
            if self.front is not None:
                self.front.stop()
        finally:
            super().close()


def start_gitlab_rig(directory: Path, pki: Pki, *, tls_realm: bool = False, seed: bool = True) -> GitLabRig:
    """Token server (HTTPS realm with ``tls_realm``), distribution 2.8 with token auth, the front, seeded."""
    binary = registry_binary()
    directory.mkdir(parents=True, exist_ok=True)
    realm_ctx = pki.server_context("127.0.0.2") if tls_realm else None
    token_server = TokenServer(directory / "tokenserver", ssl_context=realm_ctx).start()
    registry = RegistryProcess(
        directory / "registry",
        variant="gitlab",
        auth=token_auth(token_server.realm, token_server.cert_file),
        binary=binary,
    )
    front = GitLabFront(registry, token_server)
    rig = GitLabRig(
        variant="gitlab",
        registry=registry,
        tmp=directory,
        token_server=token_server,
        ca_file=str(pki.ca_file) if tls_realm else None,
        front=front,
    )
    try:
        registry.start()
        front.start()
        if seed:
            with rig.pusher() as pusher:
                rig.seeded = seed_standard(pusher)
    except BaseException:
        with contextlib.suppress(Exception):
            rig.close()
        raise
    return rig


@pytest.fixture(scope="session")
def gitlab_rig_session(tmp_path_factory: pytest.TempPathFactory, rig_pki: Pki) -> Iterator[GitLabRig]:
    """The session's GitLab-faithful rig (started on first use); tests use ``gitlab_rig``."""
    rig = start_gitlab_rig(tmp_path_factory.mktemp("rig-gitlab"), rig_pki)
    try:
        yield rig
    finally:
        rig.close()


@pytest.fixture
def gitlab_rig(gitlab_rig_session: GitLabRig) -> Iterator[GitLabRig]:
    """``gitlab_rig_session`` with default knobs (front and token server) and empty request logs."""
    rig = gitlab_rig_session
    rig.ensure_running()
    rig.gitlab.reset()
    assert rig.token_server is not None
    rig.token_server.reset()
    try:
        yield rig
    finally:
        rig.gitlab.reset()
        rig.token_server.reset()
        rig.ensure_running()
