"""Shared fixtures: environment isolation for every test, and lazily started integration rigs.

Why lazy session fixtures: a unit-test run must not pay for registries it does not use, and an integration run
should start each variant once. Each rig fixture starts only when a test first asks for it and is stopped (by
PID) at session end.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

_TESTS_DIR = Path(__file__).resolve().parent
if str(_TESTS_DIR) not in sys.path:  # make ``import rig`` work whatever the import mode
    sys.path.insert(0, str(_TESTS_DIR))

from rig import ManyTags, Pki, Rig, Variant, seed_many_tags, start_rig  # noqa: E402
from rig.gitlab_fixtures import gitlab_rig, gitlab_rig_session  # noqa: E402, F401
from rig.proxy_fixtures import fault_proxy_factory, sink, sink_factory  # noqa: E402, F401
from rig.registry import REQUIRE_RIG_ENV  # noqa: E402

_INTEGRATION_DIR = _TESTS_DIR / "integration"

_CLEARED_PREFIXES = ("CI_", "DOCKER_", "OCIREG_", "GITLAB_", "XDG_")
_KEEP = frozenset({REQUIRE_RIG_ENV})
_CLEARED_NAMES = frozenset(
    {
        "CI",
        "GITLAB_CI",
        "REGISTRY_AUTH_FILE",
        "NETRC",
        "SSL_CERT_FILE",
        "SSL_CERT_DIR",
        "REQUESTS_CA_BUNDLE",
        "CURL_CA_BUNDLE",
        *(f"{p}_PROXY" for p in ("HTTP", "HTTPS", "ALL", "NO")),
        *(f"{p}_proxy" for p in ("http", "https", "all", "no")),
    }
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Everything under tests/integration carries the ``integration`` marker (select with ``-m``)."""
    for item in items:
        if _INTEGRATION_DIR in Path(item.path).resolve().parents:
            item.add_marker(pytest.mark.integration)


# --------------------------------------------------------------------------------------------------------------
# Isolation
# --------------------------------------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Never let a test see the developer's credentials, CI variables, proxies or CA overrides.

    HOME, DOCKER_CONFIG (= HOME/.docker, empty) and the XDG directories point into ``tmp_path``; CI_*,
    DOCKER_*, OCIREG_* (except OCIREG_REQUIRE_RIG), GITLAB_*, XDG_*, REGISTRY_AUTH_FILE, NETRC, SSL_CERT_*
    and proxy variables (both cases) are removed. Returns the temporary HOME.
    """
    for name in list(os.environ):
        if name in _KEEP:
            continue
        if name.startswith(_CLEARED_PREFIXES) or name in _CLEARED_NAMES:
            monkeypatch.delenv(name, raising=False)
    home = tmp_path / "home"
    dirs = {
        "HOME": home,
        "DOCKER_CONFIG": home / ".docker",
        "XDG_CONFIG_HOME": home / ".config",
        "XDG_CACHE_HOME": home / ".cache",
        "XDG_DATA_HOME": home / ".local" / "share",
        "XDG_STATE_HOME": home / ".local" / "state",
        "XDG_RUNTIME_DIR": tmp_path / "run",
    }
    for name, path in dirs.items():
        path.mkdir(parents=True, exist_ok=True)
        monkeypatch.setenv(name, str(path))
    dirs["XDG_RUNTIME_DIR"].chmod(0o700)
    return home


# --------------------------------------------------------------------------------------------------------------
# Rigs (session, lazy)
# --------------------------------------------------------------------------------------------------------------

_STARTED: list[Rig] = []


@pytest.fixture(scope="session")
def rig_pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """The session CA and server certificates (rig CA file: ``rig_pki.ca_file``)."""
    return Pki(tmp_path_factory.mktemp("pki"))


def _rig(variant: Variant, tmp_path_factory: pytest.TempPathFactory, pki: Pki) -> Iterator[Rig]:
    rig = start_rig(variant, tmp_path_factory.mktemp(f"rig-{variant}"), pki)
    _STARTED.append(rig)
    try:
        yield rig
    finally:
        _STARTED.remove(rig)
        rig.close()


@pytest.fixture(scope="session")
def token_rig(tmp_path_factory: pytest.TempPathFactory, rig_pki: Pki) -> Iterator[Rig]:
    """Plain-HTTP registry with GitLab-style token auth; realm on 127.0.0.2 (HTTP)."""
    yield from _rig("token", tmp_path_factory, rig_pki)


@pytest.fixture(scope="session")
def tls_rig(tmp_path_factory: pytest.TempPathFactory, rig_pki: Pki) -> Iterator[Rig]:
    """TLS registry (cert for 127.0.0.1/localhost) with token auth; realm over HTTPS on 127.0.0.2."""
    yield from _rig("token_tls", tmp_path_factory, rig_pki)


@pytest.fixture(scope="session")
def basic_rig(tmp_path_factory: pytest.TempPathFactory, rig_pki: Pki) -> Iterator[Rig]:
    """Plain-HTTP registry with htpasswd Basic auth (``basic-user`` / ``basic-password``)."""
    yield from _rig("basic", tmp_path_factory, rig_pki)


@pytest.fixture(scope="session")
def open_rig(tmp_path_factory: pytest.TempPathFactory, rig_pki: Pki) -> Iterator[Rig]:
    """Plain-HTTP registry without auth."""
    yield from _rig("open", tmp_path_factory, rig_pki)


@pytest.fixture(scope="session")
def nodelete_rig(tmp_path_factory: pytest.TempPathFactory, rig_pki: Pki) -> Iterator[Rig]:
    """Plain-HTTP registry without auth and ``storage.delete.enabled: false`` (DELETE answers 405)."""
    yield from _rig("nodelete", tmp_path_factory, rig_pki)


@pytest.fixture(scope="session")
def many_tags_repo(token_rig: Rig) -> ManyTags:
    """``group/project/many`` on ``token_rig`` with 1,500 tags ``t0000``..``t1499`` on one OCI manifest."""
    return seed_many_tags(token_rig)


@pytest.fixture(autouse=True)
def _rig_guard() -> Iterator[None]:
    """Keep shared rigs sane between tests: default token-server knobs, empty request logs, all processes up.

    Requests no rig itself, so it never starts one.
    """
    for rig in list(_STARTED):
        if rig.token_server is not None:
            rig.token_server.reset()
    yield
    for rig in list(_STARTED):
        if rig.token_server is not None:
            rig.token_server.reset()
        rig.ensure_running()
