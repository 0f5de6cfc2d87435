"""A credential, the simple sources (explicit, environment) and how ``config.json`` keys name a registry.

Part of :mod:`ocireg.credentials` (the precedence is in its docstring).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import cached_property

from ocireg.errors import CredentialError, InvalidReference
from ocireg.record import field, record
from ocireg.reference import Registry, parse_registry
from ocireg.text import LazyPattern, escape

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Protocol, runtime_checkable
else:
    # typing costs a check more than this module (#16, start-up): mypy sees the Protocol, run time a plain class
    Protocol = object

    def runtime_checkable(cls: type) -> type:
        return cls


__all__ = [
    "ANONYMOUS",
    "DOCKER_HUB_NAME",
    "DOCKER_HUB_SERVER_URL",
    "Credential",
    "CredentialSource",
    "EnvSource",
    "StaticSource",
    "helper_server_url",
    "namespace_key",
    "registry_key",
]

#: The key Docker uses for the default registry (``docker.io``) in ``config.json`` and sends to credential helpers.
DOCKER_HUB_SERVER_URL = "https://index.docker.io/v1/"
DOCKER_HUB_NAME = "docker.io"
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
    return DOCKER_HUB_SERVER_URL if registry.name == DOCKER_HUB_NAME else registry.name
