"""Credentials read from Docker-format documents: ``DOCKER_AUTH_CONFIG``, Docker's ``config.json`` and the containers
auth files (``auths``, ``credHelpers``, ``credsStore``). Part of :mod:`ocireg.credentials`.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from _thread import allocate_lock  # threading.Lock itself; threading stays off a check's path (#16, start-up)
from collections.abc import Mapping

from ocireg.credentials.credential import (
    DOCKER_HUB_NAME,
    DOCKER_HUB_SERVER_URL,
    Credential,
    helper_server_url,
    namespace_key,
    registry_key,
)
from ocireg.credentials.helpers import HELPER_NAME, HelperCredentialsNotFound, run_helper
from ocireg.errors import CredentialError
from ocireg.reference import Registry
from ocireg.text import escape

__all__ = [
    "CONFIG_SIZE_LIMIT",
    "AuthDocument",
    "ConfigFileSource",
    "DockerAuthConfigSource",
    "DocumentSource",
]

CONFIG_SIZE_LIMIT = 4 * 1024 * 1024


class AuthDocument:
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
            if not isinstance(value, str) or not HELPER_NAME.fullmatch(value):
                raise self._error(f'"credHelpers" entry for {_show_key(key)} is not a credential helper name')
        store = doc.get("credsStore")
        if store is None or store == "":
            store = None
        elif not isinstance(store, str) or not HELPER_NAME.fullmatch(store):
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
    return key == name or (name == DOCKER_HUB_NAME and key == DOCKER_HUB_SERVER_URL)


class DocumentSource:
    """Shared machinery of :class:`DockerAuthConfigSource` and :class:`ConfigFileSource`."""

    name: str

    def __init__(self, env: Mapping[str, str], helper_timeout: float) -> None:
        self._env = env
        self._timeout = helper_timeout
        self._lock = allocate_lock()
        self._doc: AuthDocument | None = None
        self._loaded = False
        self._missing_text = "not found"
        self._results: dict[str, tuple[Credential | None, str]] = {}

    def _load(self) -> AuthDocument | None:
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


class DockerAuthConfigSource(DocumentSource):
    """``DOCKER_AUTH_CONFIG``: ``config.json``-format JSON (auths, credHelpers, credsStore), as CI runners pass it."""

    name = "DOCKER_AUTH_CONFIG"

    def __init__(self, env: Mapping[str, str], *, helper_timeout: float = 10.0) -> None:
        super().__init__(env, helper_timeout)
        self._missing_text = "not set"

    def _load(self) -> AuthDocument | None:
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
        return AuthDocument(doc, origin="DOCKER_AUTH_CONFIG")


class ConfigFileSource(DocumentSource):
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

    def _load(self) -> AuthDocument | None:
        origin = self.name
        try:
            with open(self.path, "rb") as handle:
                data = handle.read(CONFIG_SIZE_LIMIT + 1)
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as exc:
            raise CredentialError(
                f"{origin}: cannot be read ({escape(exc.strerror or type(exc).__name__)})",
                hint=f"check the permissions of {origin}",
            ) from None
        if len(data) > CONFIG_SIZE_LIMIT:
            raise CredentialError(f"{origin}: larger than {CONFIG_SIZE_LIMIT // (1024 * 1024)} MiB")
        try:
            doc = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):
            raise CredentialError(
                f"{origin}: not valid JSON",
                hint=f"fix or remove {origin}; it must be in docker config.json format",
            ) from None
        return AuthDocument(doc, origin=origin, namespaces=self.namespaces)


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
