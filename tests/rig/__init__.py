"""The integration rig: a real ``docker-registry`` plus a GitLab-style token server, seeded with raw HTTP.

Tests import this package as ``rig`` (``tests/`` is on ``sys.path`` through ``tests/conftest.py``) and get
running rigs from the session fixtures in ``tests/conftest.py``. The rig never imports ``ocireg``: it must stay
an independent source of truth for the code under test.
"""

from __future__ import annotations

import base64
import contextlib
import ssl
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import httpclient
from .pki import Pki, ServerCert
from .registry import (
    BASIC_PASSWORD,
    BASIC_REALM,
    BASIC_USER,
    VARIANTS,
    RegistryProcess,
    RigError,
    Variant,
    htpasswd_auth,
    registry_binary,
    token_auth,
    write_htpasswd,
)
from .seed import (
    ACCEPT_ALL,
    MANIFEST_TYPES,
    MANY_REPO,
    MANY_TAGS_COUNT,
    NESTED_REPO,
    PUBLIC_REPO,
    REPO,
    ManyTags,
    Pusher,
    Seeded,
    SeededManifest,
    seed_many_tags,
    seed_standard,
)
from .tokenserver import ACCOUNTS, ISSUER, ROOT, SERVICE, TokenServer, decode_jwt

__all__ = [
    "ACCEPT_ALL",
    "ACCOUNTS",
    "BASIC_PASSWORD",
    "BASIC_REALM",
    "BASIC_USER",
    "ISSUER",
    "MANIFEST_TYPES",
    "MANY_REPO",
    "MANY_TAGS_COUNT",
    "NESTED_REPO",
    "PUBLIC_REPO",
    "REPO",
    "SERVICE",
    "VARIANTS",
    "ManyTags",
    "Pki",
    "Pusher",
    "RegistryProcess",
    "Rig",
    "RigError",
    "Seeded",
    "SeededManifest",
    "ServerCert",
    "TokenServer",
    "Variant",
    "decode_jwt",
    "seed_many_tags",
    "start_rig",
]


@dataclass
class Rig:
    """A running registry (+ token server for token variants) and what was seeded into it.

    Session-scoped and shared: tests that change it (delete, stop, knobs) must restore it or push their own
    throwaway content with ``rig.pusher()``. The conftest guard resets token-server knobs and restarts a
    stopped registry/token server after every test.
    """

    variant: str
    registry: RegistryProcess
    tmp: Path
    token_server: TokenServer | None = None
    ca_file: str | None = None
    basic_auth: tuple[str, str] | None = None
    seeded: Seeded = field(default_factory=Seeded, repr=False)

    # ---- addresses -------------------------------------------------------------------------------------------

    @property
    def host(self) -> str:
        """``127.0.0.1:PORT``: the registry part of an image reference."""
        return self.registry.netloc

    @property
    def url(self) -> str:
        """``http(s)://127.0.0.1:PORT``."""
        return self.registry.url

    @property
    def scheme(self) -> str:
        """``http`` or ``https``."""
        return self.registry.scheme

    @property
    def realm(self) -> str | None:
        """The token realm URL (token variants), else None."""
        return self.token_server.realm if self.token_server else None

    @property
    def service(self) -> str | None:
        """``container_registry`` on token variants, else None."""
        return SERVICE if self.token_server else None

    def ref(self, repo: str, tag: str = "latest") -> str:
        """``127.0.0.1:PORT/repo:tag`` (``tag`` may also be ``@sha256:...``)."""
        sep = "" if tag.startswith("@") else ":"
        return f"{self.host}/{repo}{sep}{tag}"

    # ---- credentials -----------------------------------------------------------------------------------------

    def mint(
        self,
        repo: str,
        actions: Sequence[str] = ("pull",),
        *,
        subject: str = ROOT,
        kind: str = "repository",
        ttl: float | None = 3600,
    ) -> str:
        """A raw JWT for ``kind:repo:actions`` straight from the token server (no request recorded)."""
        if self.token_server is None:
            raise RigError(f"the {self.variant} rig has no token server")
        return self.token_server.mint(subject, [{"type": kind, "name": repo, "actions": list(actions)}], ttl)

    def bearer(self, repo: str, actions: Sequence[str] = ("pull",), **kw: Any) -> str:
        """``Bearer <jwt>`` minted for root (see ``mint``): for assertions, not for code under test."""
        return "Bearer " + self.mint(repo, actions, **kw)

    def authorization(self, repo: str, actions: Sequence[str] = ("pull",)) -> str | None:
        """Full-rights header value for this variant: Bearer (token), Basic (basic) or None (open)."""
        if self.token_server is not None:
            return self.bearer(repo, actions)
        if self.basic_auth is not None:
            raw = f"{self.basic_auth[0]}:{self.basic_auth[1]}".encode()
            return "Basic " + base64.b64encode(raw).decode("ascii")
        return None

    # ---- clients ---------------------------------------------------------------------------------------------

    def ssl_context(self) -> ssl.SSLContext | None:
        """Client SSLContext trusting the rig CA (TLS variant), else None."""
        return ssl.create_default_context(cafile=self.ca_file) if self.ca_file else None

    def raw_client(self, **kwargs: Any) -> httpclient.Client:
        """The rig's own HTTP client (:mod:`rig.httpclient`) for assertions: base_url = registry, verify = rig CA, environment ignored."""
        kwargs.setdefault("base_url", self.url)
        kwargs.setdefault("verify", self.ssl_context() or True)
        kwargs.setdefault("timeout", 10.0)
        return httpclient.Client(**kwargs)

    def get_manifest(self, repo: str, reference: str) -> httpclient.Response:
        """GET ``repo``'s manifest ``reference`` (tag or digest) with full rights and every Accept type.

        For assertions about what the registry holds, not for code under test (the body is read)."""
        headers = {"Accept": ACCEPT_ALL}
        auth = self.authorization(repo, ["pull"])
        if auth:
            headers["Authorization"] = auth
        with self.raw_client() as raw:
            response = raw.get(f"/v2/{repo}/manifests/{reference}", headers=headers)
            response.read()
        return response

    def pusher(self) -> Pusher:
        """A raw push helper with full rights for throwaway content (close it, or use ``with``)."""
        return Pusher(self.url, verify=self.ssl_context() or True, authorization=self.authorization)

    # ---- lifecycle -------------------------------------------------------------------------------------------

    def ensure_running(self) -> None:
        """Bring back a registry or token server a test stopped (and forgot to restart)."""
        if self.token_server is not None and not self.token_server.running:
            self.token_server.start()
        if not self.registry.running:
            self.registry.start()

    def close(self) -> None:
        """Stop everything (idempotent)."""
        try:
            self.registry.stop()
        finally:
            if self.token_server is not None:
                self.token_server.stop()


def start_rig(variant: Variant, directory: Path, pki: Pki, *, seed: bool = True) -> Rig:
    """Start one variant (token server first: the registry config needs its realm and signing cert) and seed it."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown rig variant {variant!r}; choose from {VARIANTS}")
    binary = registry_binary()  # skip/fail before starting anything
    directory.mkdir(parents=True, exist_ok=True)
    token_server: TokenServer | None = None
    basic: tuple[str, str] | None = None
    tls: ServerCert | None = None
    auth: dict[str, Any] | None = None
    if variant in ("token", "token_tls"):
        realm_ctx = pki.server_context("127.0.0.2") if variant == "token_tls" else None
        token_server = TokenServer(directory / "tokenserver", ssl_context=realm_ctx).start()
        auth = token_auth(token_server.realm, token_server.cert_file)
    elif variant == "basic":
        auth = htpasswd_auth(write_htpasswd(directory / "htpasswd"))
        basic = (BASIC_USER, BASIC_PASSWORD)
    if variant == "token_tls":
        tls = pki.server_cert("127.0.0.1", "localhost")
    registry = RegistryProcess(
        directory / "registry",
        variant=variant,
        auth=auth,
        tls=tls,
        ca_file=pki.ca_file if tls else None,
        delete_enabled=variant != "nodelete",
        binary=binary,
    )
    rig = Rig(
        variant=variant,
        registry=registry,
        tmp=directory,
        token_server=token_server,
        ca_file=str(pki.ca_file) if tls else None,
        basic_auth=basic,
    )
    try:
        registry.start()
        if token_server is not None:
            # The GitLab host's dependency proxy serves images from this registry (its "Docker Hub").
            token_server.upstream_url = registry.url
            token_server.upstream_ssl = rig.ssl_context()
        if seed:
            with rig.pusher() as pusher:
                rig.seeded = seed_standard(pusher)
    except BaseException:
        with contextlib.suppress(Exception):
            rig.close()
        raise
    return rig
