"""The chain of credential sources in precedence order (:func:`default_chain`), and the secrets they hold.
Part of :mod:`ocireg.credentials`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

from ocireg.credentials.credential import Credential, CredentialSource, EnvSource, StaticSource
from ocireg.credentials.files import ConfigFileSource, DockerAuthConfigSource, DocumentSource
from ocireg.errors import CredentialError
from ocireg.reference import Registry

__all__ = ["Chain", "default_chain", "docker_sources", "held_secrets"]

# ------------------------------------------------------------------------------------------------------ Chain


class Chain:
    """Sources in precedence order; the first that has a credential for a registry wins."""

    def __init__(self, sources: Sequence[CredentialSource]) -> None:
        self.sources: tuple[CredentialSource, ...] = tuple(sources)

    def lookup(self, registry: Registry) -> Credential:
        """The credential for ``registry``; anonymous when no source has one. A broken source raises."""
        for source in self.sources:
            cred = source.lookup(registry)
            if cred is not None:
                return cred
        return self._anonymous(registry)

    def lookup_in(self, registry: Registry, path: str) -> Credential:
        """The credential for the repository ``registry/path``: as :meth:`lookup`, but a source that knows
        per-repository keys (the containers auth files) is asked for the repository."""
        for source in self.sources:
            scoped = getattr(source, "lookup_in", None)
            cred = scoped(registry, path) if scoped is not None else source.lookup(registry)
            if cred is not None:
                return cred
        return self._anonymous(registry)

    def _anonymous(self, registry: Registry) -> Credential:
        names = ", ".join(source.name for source in self.sources) or "no sources"
        return Credential(source=f"anonymous (no credential for {registry.name} in: {names})")

    def explain(self, registry: Registry, path: str | None = None) -> list[tuple[str, str]]:
        """``(source name, outcome)`` for each source consulted, in order, then the result; never a secret.

        With ``path`` (the repository within ``registry``), sources with per-repository keys are asked for the
        repository, and the outcome names the key that matched. Stops at the first source with a credential.
        A broken source gives an outcome starting with ``error:`` and ends the list (a lookup would fail
        there); this method itself never raises :class:`~ocireg.errors.CredentialError`.
        """
        rows: list[tuple[str, str]] = []
        for source in self.sources:
            explained = getattr(source, "lookup_explained", None)
            scoped = getattr(source, "lookup_explained_in", None) if path is not None else None
            try:
                if scoped is not None and path is not None:
                    cred, outcome = scoped(registry, path)
                elif explained is not None:
                    cred, outcome = explained(registry)
                else:
                    cred = source.lookup(registry)
                    outcome = f"found {cred.describe()}" if cred else f"no credential for {registry.name}"
            except CredentialError as exc:
                rows.append((source.name, f"error: {exc}"))
                return rows
            rows.append((source.name, outcome))
            if cred is not None:
                return rows
        rows.append(("anonymous", "no source has a credential; requests go without credentials"))
        return rows

    def __repr__(self) -> str:
        return f"Chain({[source.name for source in self.sources]!r})"


def docker_sources(
    env: Mapping[str, str], home: str | os.PathLike[str], *, helper_timeout: float = 10.0
) -> list[CredentialSource]:
    """Precedence items 3–4 in order: ``DOCKER_AUTH_CONFIG``; the containers auth files in
    containers-auth.json(5) order, ``REGISTRY_AUTH_FILE``, ``${XDG_RUNTIME_DIR}/containers/auth.json`` (podman's
    file on Linux), ``${XDG_CONFIG_HOME:-HOME/.config}/containers/auth.json`` (podman's file on macOS and
    Windows, and for rootless setups without a runtime directory); then ``$DOCKER_CONFIG/config.json`` else
    ``HOME/.docker/config.json``. The containers files read per-repository keys; the Docker-format sources
    do not (see :class:`ConfigFileSource`).
    """
    home = os.fspath(home)
    runtime_dir = env.get("XDG_RUNTIME_DIR")
    config_home = env.get("XDG_CONFIG_HOME") or os.path.join(home, ".config")
    containers_files = [
        env.get("REGISTRY_AUTH_FILE") or None,
        os.path.join(runtime_dir, "containers", "auth.json") if runtime_dir else None,
        os.path.join(config_home, "containers", "auth.json"),
    ]
    sources: list[CredentialSource] = [DockerAuthConfigSource(env, helper_timeout=helper_timeout)]
    sources += [
        ConfigFileSource(path, env=env, helper_timeout=helper_timeout, namespaces=True)
        for path in containers_files
        if path is not None
    ]
    docker_config = env.get("DOCKER_CONFIG")
    config_dir = docker_config or os.path.join(home, ".docker")
    sources.append(
        ConfigFileSource(os.path.join(config_dir, "config.json"), env=env, helper_timeout=helper_timeout)
    )
    return sources


def default_chain(
    env: Mapping[str, str],
    home: str | os.PathLike[str],
    *,
    explicit: Credential | None = None,
    extra: Sequence[CredentialSource] = (),
    helper_timeout: float = 10.0,
) -> Chain:
    """explicit (if given) > ``OCIREG_USERNAME``/``OCIREG_PASSWORD`` > ``extra`` (the CI adapter's) > docker ones."""
    sources: list[CredentialSource] = []
    if explicit is not None:
        sources.append(StaticSource(explicit))
    sources.append(EnvSource(env))
    sources.extend(extra)
    sources.extend(docker_sources(env, home, helper_timeout=helper_timeout))
    return Chain(sources)


def held_secrets(chain: Chain) -> frozenset[str]:
    """Every secret the chain's sources hold without running a credential helper: the explicit password,
    ``OCIREG_PASSWORD``, and the ``auths`` secrets of ``DOCKER_AUTH_CONFIG`` and the config files.

    For refusing to put a credential where it does not belong (a deploy file's variable expansion); never
    shown. Sources this module does not know (the CI adapter's) are skipped: their values come from
    environment variables the caller judges by name.
    """
    found: set[str] = set()
    for source in chain.sources:
        if isinstance(source, StaticSource):
            cred = source.credential
            found.update(v for v in (cred.password, cred.identity_token, cred.registry_token) if v)
        elif isinstance(source, EnvSource):
            found.update(v for v in (source._password,) if v)
        elif isinstance(source, DocumentSource):
            found.update(source.stored_secrets())
    return frozenset(found)
