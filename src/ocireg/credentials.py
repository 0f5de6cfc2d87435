"""Credentials: where ocireg finds a username/password or token for a registry, and in which order.

Precedence (docs/architecture.md §3; the README repeats it). For each registry the first source that has a
credential wins:

1. explicit: ``--username`` + ``--password-stdin`` (:class:`StaticSource`), then
   ``OCIREG_USERNAME``/``OCIREG_PASSWORD`` (:class:`EnvSource`);
2. the CI adapter's source, only for its own registry (passed in as ``extra`` by the CLI);
3. ``DOCKER_AUTH_CONFIG`` (:class:`DockerAuthConfigSource`: JSON in ``config.json`` format, as CI
   runners use);
4. the containers auth files in containers-auth.json(5) order: ``REGISTRY_AUTH_FILE``, then
   ``${XDG_RUNTIME_DIR}/containers/auth.json``, then ``${XDG_CONFIG_HOME:-~/.config}/containers/auth.json``;
   then ``$DOCKER_CONFIG/config.json`` or ``~/.docker/config.json`` (:class:`ConfigFileSource`). Within one
   file, per host: ``credHelpers[host]`` > ``credsStore`` > ``auths``. As in Docker, the chosen helper or
   store is authoritative for that file: when it has no credential for the host, the file has none (``auths``
   is not consulted behind its back). In the containers files an ``auths`` key may name a namespace
   (``host/group/project``): the longest namespace of the repository wins, then the host key
   (containers/image ``pkg/docker/config``); Docker's ``config.json`` and ``DOCKER_AUTH_CONFIG`` (the same
   format) are matched by host only, as Docker reads them, so a check uses the account ``docker pull`` will;
5. anonymous.

Host keys match the exact normalised ``host[:port]`` only: the default registry's aliases (``docker.io``,
``index.docker.io``, ``https://index.docker.io/v1/``, ``registry-1.docker.io``) are one key; a scheme and the
``/v1/`` or ``/v2/`` path of old URL-style keys are ignored. Namespace keys match whole path components
(``host/group`` covers ``host/group/app``, never ``host/groupie``). There is no other prefix or substring
matching.

A broken source (malformed file, missing, failing or hanging helper) raises
:class:`~ocireg.errors.CredentialError` naming the file or the helper; it never falls through silently to the
next source. A missing file is simply no source. Helpers run as ``docker-credential-<name> get`` without a
shell and with a timeout; their output is never logged, and no secret ever reaches ``repr``, ``str``,
:meth:`Credential.describe` or an error message.

This module never reads the process environment itself: the environment mapping and the home directory are passed in.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
from _thread import allocate_lock  # threading.Lock itself; threading stays off a check's path (#16, start-up)
from collections.abc import Callable, Mapping, Sequence
from functools import cached_property, partial

from ocireg.errors import CredentialError, InvalidReference
from ocireg.record import field, record
from ocireg.reference import Registry, parse_registry
from ocireg.text import LazyPattern, escape

TYPE_CHECKING = False
if TYPE_CHECKING:
    import subprocess
    from pathlib import Path
    from typing import Protocol, TypeVar, runtime_checkable

    _T = TypeVar("_T")
else:
    # typing costs a check more than this module (#16, start-up): mypy sees the Protocol, run time a plain class
    Protocol = object

    def runtime_checkable(cls: type) -> type:
        return cls


__all__ = [
    "ANONYMOUS",
    "DOCKER_HUB_SERVER_URL",
    "Chain",
    "ConfigFileSource",
    "Credential",
    "CredentialSource",
    "DockerAuthConfigSource",
    "EnvSource",
    "HelperCredentialsNotFound",
    "StaticSource",
    "default_chain",
    "docker_config_path",
    "docker_sources",
    "erase_credential",
    "held_secrets",
    "helper_server_url",
    "namespace_key",
    "registry_key",
    "run_helper",
    "store_credential",
]

#: The key Docker uses for the default registry (``docker.io``) in ``config.json`` and sends to credential helpers.
DOCKER_HUB_SERVER_URL = "https://index.docker.io/v1/"
_DOCKER_HUB = "docker.io"

# docker-credential-helpers' errCredentialsNotFoundMessage.
_NOT_FOUND_MESSAGE = "credentials not found"
_HELPER_NAME = LazyPattern(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
_CONFIG_SIZE_LIMIT = 4 * 1024 * 1024
_HELPER_OUTPUT_LIMIT = 1024 * 1024
_FINGERPRINT_SALT = b"ocireg credential fingerprint v1"
_FINGERPRINT_ROUNDS = 5_000  # ~2 ms once per process: start-up matters, the cache file is 0600 anyway


# ------------------------------------------------------------------------------------------------- Credential


@record(frozen=True)
class Credential:
    """What to present to one registry. Secrets never appear in ``repr``/``str``/:meth:`describe`.

    ``identity_token`` is an OAuth2 refresh token (``config.json`` ``identitytoken``, or a helper answer
    whose Username is ``<token>``); ``registry_token`` is a bearer token for the registry itself
    (``registrytoken``).
    ``source`` names where the credential came from, for messages; empty for one a library caller built
    (described as "given by the caller", or "anonymous" when it holds nothing).
    """

    username: str | None = None
    password: str | None = field(default=None, repr=False)
    identity_token: str | None = field(default=None, repr=False)
    registry_token: str | None = field(default=None, repr=False)
    source: str = ""

    @property
    def is_anonymous(self) -> bool:
        """True when there is nothing to present (no username, password or token)."""
        return not (self.username or self.password or self.identity_token or self.registry_token)

    @cached_property
    def _fingerprint(self) -> str:
        import hashlib  # here, after ssl: hashlib imported before it costs a check more (#16, start-up)

        material = json.dumps(
            [self.username, self.password, self.identity_token, self.registry_token], separators=(",", ":")
        ).encode("utf-8")
        return hashlib.pbkdf2_hmac("sha256", material, _FINGERPRINT_SALT, _FINGERPRINT_ROUNDS).hex()

    def fingerprint(self) -> str:
        """A stable sha256-based hex digest of the identity (username and secrets), for token-cache keys.

        It is a salted, iterated hash (PBKDF2-HMAC-SHA256), so a leaked cache file does not make a weak
        password cheap to guess. The ``source`` does not take part: the same identity from two places is one.
        """
        return self._fingerprint

    def describe(self) -> str:
        """Human text such as ``user 'alice' from DOCKER_AUTH_CONFIG``; never contains a secret."""
        source = escape(self.source)
        if self.is_anonymous:
            if not self.source or self.source.startswith("anonymous"):
                return source or "anonymous"
            return f"anonymous from {source}"
        user = f"user '{escape(self.username)}'" if self.username else None
        if self.registry_token:
            what = "registry token"
        elif self.identity_token:
            what = "identity token"
        else:
            what = ""
        if what and user:
            what = f"{what} ({user})"
        where = f"from {source}" if source else "given by the caller"
        return f"{what or user or 'password only'} {where}"

    def __repr__(self) -> str:
        def secret(value: str | None) -> str:
            return "None" if value is None else "'***'"

        return (
            f"Credential(username={self.username!r}, password={secret(self.password)}, "
            f"identity_token={secret(self.identity_token)}, registry_token={secret(self.registry_token)}, "
            f"source={self.source!r})"
        )

    def __str__(self) -> str:
        return self.describe()


ANONYMOUS = Credential(source="anonymous")


# ---------------------------------------------------------------------------------------------------- sources


@runtime_checkable
class CredentialSource(Protocol):
    """Something that may know a credential for a registry.

    ``lookup`` returns None when the source has nothing for that registry and raises
    :class:`~ocireg.errors.CredentialError` when the source itself is broken. A source may also offer
    ``lookup_explained(registry) -> (Credential | None, outcome text)``, which :meth:`Chain.explain` uses.
    """

    name: str

    def lookup(self, registry: Registry) -> Credential | None: ...


class StaticSource:
    """A given credential (``--username``/``--password-stdin``) for every registry, or only for ``only``."""

    def __init__(
        self, credential: Credential, *, only: Registry | None = None, name: str | None = None
    ) -> None:
        self.credential = credential
        self.only = only
        self.name = name or credential.source

    def lookup_explained(self, registry: Registry) -> tuple[Credential | None, str]:
        if self.only is not None and self.only.name != registry.name:
            return None, f"only for {self.only.name}"
        if self.credential.is_anonymous:
            return None, "empty credential"
        return self.credential, f"found {self.credential.describe()}"

    def lookup(self, registry: Registry) -> Credential | None:
        return self.lookup_explained(registry)[0]

    def __repr__(self) -> str:
        return f"StaticSource({self.name!r}, only={self.only.name if self.only else None!r})"


class EnvSource:
    """``OCIREG_USERNAME`` + ``OCIREG_PASSWORD``; both are needed (an empty variable counts as unset)."""

    name = "OCIREG_USERNAME/OCIREG_PASSWORD"

    def __init__(self, env: Mapping[str, str], *, only: Registry | None = None) -> None:
        self._username = env.get("OCIREG_USERNAME") or None
        self._password = env.get("OCIREG_PASSWORD") or None
        self.only = only

    def lookup_explained(self, registry: Registry) -> tuple[Credential | None, str]:
        if self._username is None and self._password is None:
            return None, "not set"
        if self._password is None:
            raise CredentialError(
                "OCIREG_USERNAME is set but OCIREG_PASSWORD is missing or empty",
                hint="set both OCIREG_USERNAME and OCIREG_PASSWORD, or neither",
            )
        if self._username is None:
            raise CredentialError(
                "OCIREG_PASSWORD is set but OCIREG_USERNAME is missing or empty",
                hint="set both OCIREG_USERNAME and OCIREG_PASSWORD, or neither",
            )
        if self.only is not None and self.only.name != registry.name:
            return None, f"only for {self.only.name}"
        cred = Credential(username=self._username, password=self._password, source=self.name)
        return cred, f"found {cred.describe()}"

    def lookup(self, registry: Registry) -> Credential | None:
        return self.lookup_explained(registry)[0]

    def __repr__(self) -> str:
        return "EnvSource()"


class _AuthDocument:
    """A parsed ``config.json`` / ``auth.json`` / ``DOCKER_AUTH_CONFIG`` document.

    The top-level structure is validated up front; an ``auths`` entry is validated when its host is asked for.
    """

    def __init__(self, doc: object, *, origin: str, namespaces: bool = False) -> None:
        self.origin = origin
        if not isinstance(doc, dict):
            raise self._error("is not a JSON object")
        auths = doc.get("auths")
        if auths is None:
            auths = {}
        if not isinstance(auths, dict):
            raise self._error('"auths" is not a JSON object')
        helpers = doc.get("credHelpers")
        if helpers is None:
            helpers = {}
        if not isinstance(helpers, dict):
            raise self._error('"credHelpers" is not a JSON object')
        for key, value in helpers.items():
            if not isinstance(value, str) or not _HELPER_NAME.fullmatch(value):
                raise self._error(f'"credHelpers" entry for {_show_key(key)} is not a credential helper name')
        store = doc.get("credsStore")
        if store is None or store == "":
            store = None
        elif not isinstance(store, str) or not _HELPER_NAME.fullmatch(store):
            raise self._error('"credsStore" is not a credential helper name')
        self.store: str | None = store
        self.auths: dict[str, tuple[str, object]] = _index_by_registry(auths)
        self.helpers: dict[str, tuple[str, object]] = _index_by_registry(helpers)
        # Per-repository keys ("host/group/project"): read in the containers auth files, listed as ignored in
        # Docker's files (see ConfigFileSource).
        self.namespaces = namespaces
        self.namespace_keys: dict[str, tuple[str, object]] = {}
        for key, value in auths.items():
            name = namespace_key(key) if isinstance(key, str) else None
            if name is not None:
                self.namespace_keys.setdefault(name, (key, value))

    def _error(self, what: str, *, hint: str | None = None) -> CredentialError:
        return CredentialError(
            f"{self.origin}: {what}",
            hint=hint or f"fix or remove {self.origin}; it must be in docker config.json format",
        )

    def uses_helper(self, registry: Registry) -> bool:
        """True when ``credHelpers[host]`` or ``credsStore`` answers for ``registry`` (then ``auths`` is not read)."""
        return registry.name in self.helpers or self.store is not None

    def from_namespace(
        self, registry: Registry, path: str
    ) -> tuple[str, tuple[Credential | None, str]] | None:
        """The longest ``auths`` key naming a namespace of ``registry/path`` and what it holds, if there is one.

        containers-auth.json(5) and containers/image (``pkg/docker/config/config.go`` ``authKeyLookupOrder``):
        ``host/a/b/c`` is looked up as ``host/a/b/c``, ``host/a/b``, ``host/a``; whole path components only.
        The longest key present decides for this file, even when its entry holds nothing (as there).
        """
        if not self.namespaces or not self.namespace_keys:
            return None
        parts = path.split("/")
        for end in range(len(parts), 0, -1):
            name = f"{registry.name}/{'/'.join(parts[:end])}"
            found = self.namespace_keys.get(name)
            if found is not None:
                return name, self._from_entry(found, namespace=True)
        return None

    def resolve(
        self, registry: Registry, *, env: Mapping[str, str], timeout: float
    ) -> tuple[Credential | None, str]:
        host = registry.name
        helper_entry = self.helpers.get(host)
        if helper_entry is not None:
            helper, kind = str(helper_entry[1]), "credHelpers"
        elif self.store is not None:
            helper, kind = self.store, "credsStore"
        else:
            return self._from_auths(registry)
        source = f"{self.origin} ({kind}: {helper})"
        cred = _helper_get(
            helper,
            registry,
            env=env,
            timeout=timeout,
            source=source,
            origin=f"{kind} in {self.origin}",
        )
        if cred is None:
            return None, f"{kind}: docker-credential-{helper} has no credential for {host}"
        return cred, f"found {cred.describe()}"

    def _from_auths(self, registry: Registry) -> tuple[Credential | None, str]:
        host = registry.name
        found = self.auths.get(host)
        ignored = self._ignored_namespaces(host)
        if found is None:
            return None, f"no entry for {host}{ignored}"
        cred, outcome = self._from_entry(found)
        return cred, outcome + ignored

    def _ignored_namespaces(self, host: str) -> str:
        """For ``auth explain``: namespace keys for ``host`` that a Docker-format source does not read."""
        if self.namespaces:
            return ""
        keys = [key for name, (key, _) in self.namespace_keys.items() if name.startswith(f"{host}/")]
        if not keys:
            return ""
        shown = ", ".join(_show_key(key) for key in keys[:3]) + (", ..." if len(keys) > 3 else "")
        return f" (per-repository keys are not read here, as Docker does not read them: {shown})"

    def _from_entry(
        self, found: tuple[str, object], *, namespace: bool = False
    ) -> tuple[Credential | None, str]:
        """The credential an ``auths`` entry holds (``found`` = original key, value) and the outcome text.

        A credential from a per-repository key names that key in its source (it shows in error messages).
        """
        key, entry = found
        where = f'"auths" entry {_show_key(key)}'
        if not isinstance(entry, dict):
            raise self._error(f"{where} is not a JSON object")
        fields: dict[str, str | None] = {}
        for name in ("auth", "username", "password", "identitytoken", "registrytoken"):
            value = entry.get(name)
            if value is not None and not isinstance(value, str):
                raise self._error(f'{where}: "{name}" is not a string')
            fields[name] = value or None
        token = fields["registrytoken"]
        if token is not None and any(ord(c) < 0x21 or ord(c) > 0x7E for c in token):
            # It goes into an Authorization header as it is: printable ASCII only (never shown).
            raise self._error(f'{where}: "registrytoken" holds characters a header cannot carry')
        username, password = fields["username"], fields["password"]
        if fields["auth"] is not None:
            username, password = self._decode_auth(fields["auth"], where)
        cred = Credential(
            username=username or None,
            password=password or None,
            identity_token=fields["identitytoken"],
            registry_token=fields["registrytoken"],
            source=f"{self.origin} (auths {_show_key(key)})" if namespace else f"{self.origin} (auths)",
        )
        if cred.is_anonymous:
            return None, f"entry {_show_key(key)} holds no credential"
        return cred, f"found {cred.describe()}, key {_show_key(key)}"

    def stored_secrets(self) -> set[str]:
        """The ``auth``, ``password``, ``identitytoken`` and ``registrytoken`` strings of every entry, and the
        password inside each ``auth``; entries that would not parse are skipped (a lookup reports them)."""
        found: set[str] = set()
        # per-repository entries hold credentials too (#13 item 3), also where ocireg does not read them
        for _, entry in [*self.auths.values(), *self.namespace_keys.values()]:
            if not isinstance(entry, dict):
                continue
            for name in ("auth", "password", "identitytoken", "registrytoken"):
                value = entry.get(name)
                if isinstance(value, str) and value:
                    found.add(value)
            auth = entry.get("auth")
            if isinstance(auth, str) and auth:
                try:  # noqa: SIM105 -- contextlib is not on a check's path (#16, start-up)
                    found.add(self._decode_auth(auth, "auth")[1])
                except CredentialError:
                    pass
        return {value for value in found if value}

    def _decode_auth(self, value: str, where: str) -> tuple[str, str]:
        raw = "".join(value.split())
        raw += "=" * (-len(raw) % 4)
        try:
            text = base64.b64decode(raw, validate=True).decode("utf-8")
        except (binascii.Error, ValueError):
            raise self._error(f'{where}: "auth" is not base64 of USER:PASSWORD') from None
        if ":" not in text:
            raise self._error(f'{where}: "auth" does not decode to USER:PASSWORD')
        username, password = text.split(":", 1)
        return username, password.strip("\x00")


def _show_key(key: object) -> str:
    return repr(escape(str(key))[:200])


def _index_by_registry(section: Mapping[object, object]) -> dict[str, tuple[str, object]]:
    """Map registry name → (original key, value); the canonical spelling of a key wins, else the first."""
    index: dict[str, tuple[str, object]] = {}
    for key, value in section.items():
        if not isinstance(key, str):
            continue
        name = registry_key(key)
        if name is None:
            continue
        if name not in index or (_is_canonical(key, name) and not _is_canonical(index[name][0], name)):
            index[name] = (key, value)
    return index


def _is_canonical(key: str, name: str) -> bool:
    return key == name or (name == _DOCKER_HUB and key == DOCKER_HUB_SERVER_URL)


class _DocumentSource:
    """Shared machinery of :class:`DockerAuthConfigSource` and :class:`ConfigFileSource`."""

    name: str

    def __init__(self, env: Mapping[str, str], helper_timeout: float) -> None:
        self._env = env
        self._timeout = helper_timeout
        self._lock = allocate_lock()
        self._doc: _AuthDocument | None = None
        self._loaded = False
        self._missing_text = "not found"
        self._results: dict[str, tuple[Credential | None, str]] = {}

    def _load(self) -> _AuthDocument | None:
        raise NotImplementedError

    def lookup_explained(self, registry: Registry) -> tuple[Credential | None, str]:
        with self._lock:
            cached = self._results.get(registry.name)
            if cached is not None:
                return cached
            if not self._loaded:
                self._doc = self._load()
                self._loaded = True
            if self._doc is None:
                result: tuple[Credential | None, str] = (None, self._missing_text)
            else:
                result = self._doc.resolve(registry, env=self._env, timeout=self._timeout)
            self._results[registry.name] = result
            return result

    def lookup(self, registry: Registry) -> Credential | None:
        return self.lookup_explained(registry)[0]

    def stored_secrets(self) -> set[str]:
        """Every secret in the document's ``auths`` (no helper is run); empty when it is missing or broken."""
        with self._lock:
            if not self._loaded:
                try:
                    self._doc = self._load()
                except CredentialError:
                    return set()  # a lookup reports the broken source; nothing to compare with here
                self._loaded = True
            doc = self._doc
        return doc.stored_secrets() if doc is not None else set()

    def lookup_explained_in(self, registry: Registry, path: str) -> tuple[Credential | None, str]:
        """Like :meth:`lookup_explained`, for the repository ``registry/path``: a per-repository key of a
        containers auth file wins over the host key (longest namespace first), unless a credential helper or
        store answers for the host. Helper answers stay cached per host."""
        with self._lock:
            if not self._loaded:
                self._doc = self._load()
                self._loaded = True
            doc = self._doc
        if doc is not None and not doc.uses_helper(registry):
            hit = doc.from_namespace(registry, path)
            if hit is not None:
                return hit[1]
        return self.lookup_explained(registry)

    def lookup_in(self, registry: Registry, path: str) -> Credential | None:
        """The credential for the repository ``registry/path`` (see :meth:`lookup_explained_in`)."""
        return self.lookup_explained_in(registry, path)[0]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"


class DockerAuthConfigSource(_DocumentSource):
    """``DOCKER_AUTH_CONFIG``: ``config.json``-format JSON (auths, credHelpers, credsStore), as CI runners pass it."""

    name = "DOCKER_AUTH_CONFIG"

    def __init__(self, env: Mapping[str, str], *, helper_timeout: float = 10.0) -> None:
        super().__init__(env, helper_timeout)
        self._missing_text = "not set"

    def _load(self) -> _AuthDocument | None:
        text = self._env.get("DOCKER_AUTH_CONFIG", "")
        if not text.strip():
            return None
        try:
            doc = json.loads(text)
        except (ValueError, RecursionError):
            raise CredentialError(
                "DOCKER_AUTH_CONFIG is not valid JSON",
                hint='it must hold docker config.json JSON, e.g. {"auths": {"HOST": {"auth": "..."}}}',
            ) from None
        return _AuthDocument(doc, origin="DOCKER_AUTH_CONFIG")


class ConfigFileSource(_DocumentSource):
    """A docker ``config.json`` or podman ``auth.json``. A missing file is no source (``None``, silently).

    ``namespaces``: read per-repository ``auths`` keys (``host/group/project``), as the containers auth files
    (containers-auth.json(5)) allow: the longest namespace of the repository wins, then the host. Docker's own
    ``config.json`` is read with ``namespaces=False``, as Docker reads it: by host only (docker/cli
    ``cli/config/configfile``). containers/image also reads namespace keys from Docker's file, as "an
    extension"; ocireg does not, so that a gate checks with the account ``docker pull`` will use, and
    ``auth explain`` lists the keys it did not read.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        env: Mapping[str, str],
        helper_timeout: float = 10.0,
        label: str | None = None,
        namespaces: bool = False,
    ) -> None:
        super().__init__(env, helper_timeout)
        # Paths as str with os.path: pathlib is not otherwise on a check's path (#16, start-up).
        self.path = os.fspath(path)
        self.name = label or self.path
        self.namespaces = namespaces
        self._missing_text = "file not found"

    def _load(self) -> _AuthDocument | None:
        origin = self.name
        try:
            with open(self.path, "rb") as handle:
                data = handle.read(_CONFIG_SIZE_LIMIT + 1)
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as exc:
            raise CredentialError(
                f"{origin}: cannot be read ({escape(exc.strerror or type(exc).__name__)})",
                hint=f"check the permissions of {origin}",
            ) from None
        if len(data) > _CONFIG_SIZE_LIMIT:
            raise CredentialError(f"{origin}: larger than {_CONFIG_SIZE_LIMIT // (1024 * 1024)} MiB")
        try:
            doc = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):
            raise CredentialError(
                f"{origin}: not valid JSON",
                hint=f"fix or remove {origin}; it must be in docker config.json format",
            ) from None
        return _AuthDocument(doc, origin=origin, namespaces=self.namespaces)


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
        elif isinstance(source, _DocumentSource):
            found.update(source.stored_secrets())
    return frozenset(found)


# ------------------------------------------------------------------------------------------------ config keys

_SCHEME = LazyPattern(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def registry_key(text: str) -> str | None:
    """Normalise a ``config.json`` key to :attr:`Registry.name`; None for keys that name no single registry.

    ``https://index.docker.io/v1/`` → ``docker.io``; ``http://host:5000/`` → ``host:5000``. A URL-style
    key (with a scheme) may carry the path ``/``, ``/v1/`` or ``/v2/``; any other path, and any path on a bare
    key (podman's per-repository ``host/namespace/repo`` keys), makes the key ignored: matching is by exact
    host only.
    """
    key = text.strip()
    scheme = _SCHEME.match(key)
    if scheme:
        if scheme.group(0).lower() not in ("http://", "https://"):
            return None
        key = key[scheme.end() :]
        host, _, path = key.partition("/")
        if path.strip("/") not in ("", "v1", "v2"):
            return None
    else:
        host, slash, path = key.partition("/")
        if slash and path:
            return None
    if not host or "@" in host:
        return None
    try:
        return parse_registry(host).name
    except InvalidReference:
        return None


_PATH_COMPONENT = LazyPattern(r"[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*")


def namespace_key(text: str) -> str | None:
    """Normalise a per-repository ``auths`` key (``host[:port]/group[/project...]``) to ``registry.name/path``.

    None for anything else: host-only keys, URL-style keys (a scheme), and keys whose path is not a
    repository path (a tag, a digest, upper case, empty components), which containers/image refuses to
    write (``validateKey``) and could never match a repository.
    """
    key = text.strip()
    if _SCHEME.match(key):
        return None
    host, slash, path = key.partition("/")
    if not slash or not path or not all(_PATH_COMPONENT.fullmatch(part) for part in path.split("/")):
        return None
    name = registry_key(host)
    return None if name is None else f"{name}/{path}"


def helper_server_url(registry: Registry) -> str:
    """What a credential helper is asked for: the registry name; ``https://index.docker.io/v1/`` for Hub."""
    return DOCKER_HUB_SERVER_URL if registry.name == _DOCKER_HUB else registry.name


# ---------------------------------------------------------------------------------------------------- helpers


class HelperCredentialsNotFound(CredentialError):
    """The helper said "credentials not found" (docker's ``errCredentialsNotFound``): no credential."""


_SECRETISH_WORDS = LazyPattern(
    r"(secret|passw(or)?d|token|authorization|bearer|basic\s+[A-Za-z0-9+/=]|serverurl|username)",
    re.IGNORECASE,
)
_SECRETISH_RUN = LazyPattern(r"[A-Za-z0-9+/=_\-.~]{20,}")


def _looks_secret(line: str, payload: bytes) -> bool:
    if _SECRETISH_WORDS.search(line) or "{" in line:
        return True
    for run in _SECRETISH_RUN.findall(line):
        if any(c.isdigit() for c in run) and any(c.isalpha() for c in run):
            return True
    try:
        sent = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return False
    secret = sent.get("Secret") if isinstance(sent, dict) else None
    return isinstance(secret, str) and bool(secret) and secret in line


def _first_line(data: bytes) -> str:
    for line in data.decode("utf-8", errors="replace").splitlines():
        if line.strip():
            return line.strip()
    return ""


def _kill(proc: subprocess.Popen[bytes]) -> None:
    import signal

    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError, AttributeError, OSError):
        proc.kill()


def run_helper(
    helper: str,
    action: str,
    payload: bytes,
    *,
    env: Mapping[str, str],
    timeout: float,
    origin: str | None = None,
) -> bytes:
    """Run ``docker-credential-<helper> <action>`` with ``payload`` on stdin; return its stdout.

    The binary is found with :func:`shutil.which` on ``env["PATH"]`` and run without a shell, with ``env``
    as its environment, in its own process group (killed whole on timeout). Its output is never logged.
    ``origin`` (e.g. ``"credsStore in /home/u/.docker/config.json"``) goes into messages about a missing
    binary.

    Raises :class:`HelperCredentialsNotFound` when the helper says "credentials not found", and
    :class:`~ocireg.errors.CredentialError` when it is missing, fails, or does not answer within ``timeout``.
    """
    program = f"docker-credential-{helper}"
    if not _HELPER_NAME.fullmatch(helper):
        raise CredentialError(f"{escape(program)!r} is not a credential helper name")
    where = f" ({origin})" if origin else ""
    import shutil  # only when a credential helper runs: shutil costs start-up (#16)

    path = shutil.which(program, path=env.get("PATH", os.defpath))
    if path is None:
        kind, _, file = (origin or "").partition(" in ")
        remove = f"remove {kind} from {file}" if file else "stop configuring it"
        raise CredentialError(
            f"{program} not found on PATH{where}",
            hint=f"install {program}, or {remove}",
        )
    proc, out, err = _communicate(program, path, action, payload, env=env, timeout=timeout, where=where)
    if proc.returncode != 0:
        raise _helper_failure(program, action, proc.returncode, out, err, payload)
    if len(out) > _HELPER_OUTPUT_LIMIT:
        raise CredentialError(f"credential helper {program} {action} answered more than 1 MiB")
    return out


def _communicate(
    program: str,
    path: str,
    action: str,
    payload: bytes,
    *,
    env: Mapping[str, str],
    timeout: float,
    where: str,
) -> tuple[subprocess.Popen[bytes], bytes, bytes]:
    """Run the helper at ``path`` in its own process group; killed whole on timeout or interrupt."""
    import subprocess  # here, not at the top: most runs never start a helper (start-up time)

    try:
        proc = subprocess.Popen(
            [path, action],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=dict(env),
            shell=False,
            start_new_session=True,
            close_fds=True,
        )
    except OSError as exc:
        raise CredentialError(
            f"credential helper {program} could not be started{where}: {escape(exc.strerror or str(exc))}"
        ) from None
    try:
        out, err = proc.communicate(payload, timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill(proc)
        # A grandchild that left the process group may still hold the pipes: do not wait for it forever.
        try:  # noqa: SIM105 -- contextlib is not on a check's path (#16, start-up)
            proc.communicate(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        raise CredentialError(
            f"credential helper {program} did not answer within {timeout:g}s",
            hint=f"check that {program} works (it may be waiting for a keyring unlock or a prompt)",
        ) from None
    except BaseException:  # even Ctrl-C: never leave the helper running; re-raised below
        _kill(proc)
        proc.wait()
        raise
    return proc, out, err


def _helper_failure(
    program: str, action: str, returncode: int, out: bytes, err: bytes, payload: bytes
) -> CredentialError:
    """The error for a helper that exited non-zero: "credentials not found", or its first line unless it may
    hold a secret (docs/architecture.md §4)."""
    combined = out + b"\n" + err
    if action in ("get", "erase") and _NOT_FOUND_MESSAGE.encode() in combined.lower():
        return HelperCredentialsNotFound(f"{program}: credentials not found")
    line = _first_line(err) or _first_line(out)
    if line and not _looks_secret(line, payload):
        shown = escape(line[:160]) + ("…" if len(line) > 160 else "")
        detail = f": {shown}"
    elif line:
        detail = " (its message is not shown: it may contain a secret)"
    else:
        detail = ""
    status = f"exit status {returncode}" if returncode > 0 else f"signal {-returncode}"
    return CredentialError(f"credential helper {program} {action} failed ({status}){detail}")


def _helper_get(
    helper: str, registry: Registry, *, env: Mapping[str, str], timeout: float, source: str, origin: str
) -> Credential | None:
    program = f"docker-credential-{helper}"
    server_url = helper_server_url(registry)
    try:
        out = run_helper(helper, "get", server_url.encode("utf-8"), env=env, timeout=timeout, origin=origin)
    except HelperCredentialsNotFound:
        return None
    bad = CredentialError(
        f"credential helper {program} answered something that is not a credential for {registry.name}",
        hint=f"check {program} ({origin})",
    )
    try:
        answer = json.loads(out.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise bad from None
    if not isinstance(answer, dict):
        raise bad
    username = answer.get("Username") or ""
    secret = answer.get("Secret") or ""
    if not isinstance(username, str) or not isinstance(secret, str):
        raise bad
    if not secret:
        return None
    if username == "<token>":
        return Credential(identity_token=secret, source=source)
    return Credential(username=username or None, password=secret, source=source)


# ------------------------------------------------------------------------------- login / logout: writing them


def docker_config_path(env: Mapping[str, str], home: str | os.PathLike[str]) -> Path:
    """Where Docker keeps its configuration: ``$DOCKER_CONFIG/config.json``, else ``HOME/.docker/config.json``."""
    from pathlib import Path  # only for login/logout, which write it (#16, start-up)

    docker_config = env.get("DOCKER_CONFIG")
    return (Path(docker_config) if docker_config else Path(home) / ".docker") / "config.json"


def store_credential(
    config_path: Path,
    registry: Registry,
    username: str,
    secret: str,
    *,
    env: Mapping[str, str],
    helper_timeout: float = 10.0,
) -> str:
    """Store a login where Docker would, and return where (for messages; never a secret).

    The helper configured in ``config_path`` for ``registry`` (``credHelpers[host]``, else ``credsStore``)
    gets it through ``docker-credential-<name> store`` (the secret goes over stdin, never argv); any plain
    ``auths`` entry for the host is then dropped so no stale password stays in the file. Without a helper it
    goes into ``auths`` as ``{"auth": base64(user:secret)}``. The file is created 0600 (directory 0700) and
    replaced atomically, keeping every other key; a file that is not valid JSON is refused, never overwritten.
    """
    if not username or ":" in username:
        raise CredentialError("the user name must be non-empty and must not contain ':'")
    if not secret:
        raise CredentialError("the password must not be empty")
    store = partial(_store, config_path, registry, username, secret, env=env, helper_timeout=helper_timeout)
    return _config_locked(config_path, store)


def _store(
    config_path: Path,
    registry: Registry,
    username: str,
    secret: str,
    *,
    env: Mapping[str, str],
    helper_timeout: float,
) -> str:
    doc = _read_for_update(config_path)
    helper, kind = _helper_for(doc, registry, config_path)
    auths = _auths_section(doc, config_path)
    removed = _drop_entries(auths, registry)
    if helper is not None:
        payload = json.dumps(
            {"ServerURL": helper_server_url(registry), "Username": username, "Secret": secret}
        ).encode("utf-8")
        origin = f"{kind} in {config_path}"
        run_helper(helper, "store", payload, env=env, timeout=helper_timeout, origin=origin)
        if removed:
            _write_config(config_path, doc)
        return f"docker-credential-{helper} ({origin})"
    key = DOCKER_HUB_SERVER_URL if registry.name == _DOCKER_HUB else registry.name
    token = base64.b64encode(f"{username}:{secret}".encode()).decode("ascii")
    auths[key] = {"auth": token}
    _write_config(config_path, doc)
    return str(config_path)


def erase_credential(
    config_path: Path, registry: Registry, *, env: Mapping[str, str], helper_timeout: float = 10.0
) -> bool:
    """Remove a login the way :func:`store_credential` stored it; True if there was one to remove.

    The configured helper is asked to ``erase`` (its "credentials not found" is not an error) and every
    ``auths`` entry for the host is dropped, as ``docker logout`` does.
    """
    return _config_locked(
        config_path, partial(_erase, config_path, registry, env=env, helper_timeout=helper_timeout)
    )


def _erase(config_path: Path, registry: Registry, *, env: Mapping[str, str], helper_timeout: float) -> bool:
    doc = _read_for_update(config_path)
    helper, kind = _helper_for(doc, registry, config_path)
    erased = False
    if helper is not None:
        try:
            run_helper(
                helper,
                "erase",
                helper_server_url(registry).encode("utf-8"),
                env=env,
                timeout=helper_timeout,
                origin=f"{kind} in {config_path}",
            )
            erased = True
        except HelperCredentialsNotFound:
            pass
    if "auths" in doc and _drop_entries(_auths_section(doc, config_path), registry):
        _write_config(config_path, doc)
        erased = True
    return erased


def _config_locked(path: Path, action: Callable[[], _T]) -> _T:
    """``action()`` with the config file's directory locked: one read-modify-replace at a time, so concurrent
    ``login``/``logout`` runs merge and none is lost (:func:`ocireg.atomicfile.locked_directory`, #23)."""
    from ocireg.atomicfile import locked_directory  # only when writing Docker's config (#16, start-up)

    directory = (path.resolve() if path.is_symlink() else path).parent
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        lock = locked_directory(directory)
        lock.__enter__()
    except OSError as exc:
        raise CredentialError(
            f"cannot lock {directory}: {escape(exc.strerror or type(exc).__name__)}"
        ) from None
    try:
        return action()
    finally:
        lock.__exit__(None, None, None)


def _read_for_update(path: Path) -> dict[str, object]:
    """The config document to modify: ``{}`` for a missing file; anything unreadable is an error."""
    try:
        with path.open("rb") as handle:
            data = handle.read(_CONFIG_SIZE_LIMIT + 1)
    except (FileNotFoundError, NotADirectoryError):
        return {}
    except OSError as exc:
        raise CredentialError(
            f"{path}: cannot be read ({escape(exc.strerror or type(exc).__name__)})"
        ) from None
    if len(data) > _CONFIG_SIZE_LIMIT:
        raise CredentialError(f"{path}: larger than {_CONFIG_SIZE_LIMIT // (1024 * 1024)} MiB")
    try:
        doc = json.loads(data.decode("utf-8")) if data.strip() else {}
    except (UnicodeDecodeError, ValueError, RecursionError):
        doc = None
    if not isinstance(doc, dict):
        raise CredentialError(
            f"{path}: not a JSON object; refusing to overwrite it",
            hint=f"fix or remove {path}; it must be in docker config.json format",
        )
    return doc


def _helper_for(doc: dict[str, object], registry: Registry, path: Path) -> tuple[str | None, str]:
    parsed = _AuthDocument(doc, origin=str(path))  # validates credHelpers / credsStore
    entry = parsed.helpers.get(registry.name)
    if entry is not None:
        return str(entry[1]), "credHelpers"
    return parsed.store, "credsStore"


def _auths_section(doc: dict[str, object], path: Path) -> dict[str, object]:
    auths = doc.get("auths")
    if auths is None:
        auths = doc["auths"] = {}
    if not isinstance(auths, dict):
        raise CredentialError(f'{path}: "auths" is not a JSON object; refusing to overwrite it')
    return auths


def _drop_entries(auths: dict[str, object], registry: Registry) -> bool:
    """Remove every ``auths`` key that names ``registry`` (any spelling); True if one was removed."""
    keys = [key for key in auths if registry_key(key) == registry.name]
    for key in keys:
        del auths[key]
    return bool(keys)


def _write_config(path: Path, doc: Mapping[str, object]) -> None:
    """Replace ``path`` atomically with ``doc`` (:func:`ocireg.atomicfile.replace_file`, mode 0600).

    Like Docker, a symlinked config file is followed and its target replaced (dotfile managers link it).
    """
    from ocireg.atomicfile import replace_file  # only when writing Docker's config (#16, start-up)

    target = path.resolve() if path.is_symlink() else path
    data = (json.dumps(doc, indent="\t") + "\n").encode("utf-8")
    try:
        target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        replace_file(target, data, prefix=".config.json.")  # created 0600
    except OSError as exc:
        raise CredentialError(f"cannot write {path}: {escape(exc.strerror or type(exc).__name__)}") from None
