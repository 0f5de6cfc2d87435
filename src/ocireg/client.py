"""``RegistryClient``: typed calls of the OCI distribution API, with authentication handled inside.

Example::

    from ocireg.client import RegistryClient
    from ocireg.reference import parse_reference

    with RegistryClient() as client:                      # anonymous; pass credentials=... for private images
        ref = parse_reference("registry.gitlab.com/group/project:v1.2.3")
        if client.exists(ref):
            print(client.digest(ref))

Every method raises a subclass of :class:`ocireg.errors.OciregError`; :class:`~ocireg.errors.NotFound` only when
the registry said the thing is absent. One ``RegistryClient`` can talk to many registries and is thread-safe.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Protocol

import httpx2

from ocireg.auth import Authenticator, merge_scopes, parse_challenges, read_capped_quiet
from ocireg.credentials import ANONYMOUS, Credential
from ocireg.errors import (
    AuthenticationFailed,
    DigestMismatch,
    InvalidReference,
    NotFound,
    OciregError,
    PermissionDenied,
    ProtocolViolation,
    from_response,
)
from ocireg.manifest import Index, Manifest, Platform, parse_manifest, platform_matches, select_platform
from ocireg.mediatypes import ACCEPT_HEADER, INDEX_TYPES
from ocireg.reference import Digest, Reference, Registry, Repository
from ocireg.text import escape
from ocireg.transport import Deadline, Transport, TransportConfig, read_capped

__all__ = ["CredentialLookup", "ManifestInfo", "RegistryClient"]

MANIFEST_LIMIT = 8 * 1024 * 1024  # DESIGN §4: manifests are capped at 8 MiB
CONFIG_LIMIT = 8 * 1024 * 1024


class CredentialLookup(Protocol):
    """Anything that finds the credential for a registry (``ocireg.credentials.Chain`` does)."""

    def lookup(self, registry: Registry) -> Credential: ...


class _Fixed:
    def __init__(self, credential: Credential) -> None:
        self._credential = credential

    def lookup(self, registry: Registry) -> Credential:
        return self._credential


@dataclass(frozen=True)
class ManifestInfo:
    """What a HEAD of a manifest tells: the digest (``None`` if the registry sent none), type and size."""

    reference: Reference
    digest: Digest | None
    media_type: str | None
    size: int | None


class RegistryClient:
    """A client for OCI / Docker Registry v2 registries.

    ``credentials``: a :class:`~ocireg.credentials.Chain` (or anything with ``lookup(registry)``), a single
    :class:`~ocireg.credentials.Credential` used for every registry, or ``None`` for anonymous access.
    ``config``: timeouts, TLS and plain-HTTP policy (:class:`~ocireg.transport.TransportConfig`).
    ``token_cache``: an optional :class:`~ocireg.tokencache.TokenCache` shared across processes.
    """

    def __init__(
        self,
        credentials: CredentialLookup | Credential | None = None,
        *,
        config: TransportConfig | None = None,
        token_cache: object | None = None,
        transport: Transport | None = None,
    ) -> None:
        if credentials is None:
            credentials = ANONYMOUS
        self._lookup: CredentialLookup = (
            _Fixed(credentials) if isinstance(credentials, Credential) else credentials
        )
        self.config = config or TransportConfig()
        self.transport = transport or Transport(self.config)
        from ocireg.tokencache import TokenCache

        cache = token_cache if isinstance(token_cache, TokenCache) else None
        self._cache = cache
        self.auth = Authenticator(self.transport, cache=cache)
        self._credentials: dict[str, Credential] = {}
        self._cred_lock = threading.Lock()

    # -- lifecycle ------------------------------------------------------------------------------------------

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.transport.close()

    def deadline(self) -> Deadline:
        """A fresh deadline for one operation (``config.deadline`` seconds)."""
        return Deadline(self.config.deadline)

    def credential_for(self, registry: Registry) -> Credential:
        """The credential used for ``registry``, looked up once (a helper runs at most once per registry)."""
        with self._cred_lock:
            found = self._credentials.get(registry.name)
            if found is None:
                found = self._lookup.lookup(registry)
                self._credentials[registry.name] = found
            return found

    # -- the one request path -------------------------------------------------------------------------------

    def request(
        self,
        method: str,
        registry: Registry,
        path: str,
        *,
        scopes: tuple[str, ...],
        headers: Mapping[str, str] | None = None,
        content: bytes | Iterator[bytes] | None = None,
        deadline: Deadline,
        what: str,
        ok: tuple[int, ...] = (200,),
    ) -> httpx2.Response:
        """Send a request to ``registry`` with authentication; return the open response if its status is in ``ok``.

        Any other status is classified by :func:`ocireg.errors.from_response` and raised. On a 401 the challenge
        is answered (one token request), and once more at most on ``insufficient_scope`` or ``invalid_token``.
        """
        base = self._base_url(registry, deadline)
        url = base + path
        credential = self.credential_for(registry)
        authorization = self.auth.cached_header(registry.name, scopes, credential)
        fetched = 0
        while True:
            send_headers = dict(headers or {})
            if authorization:
                send_headers["Authorization"] = authorization
            response = self.transport.send(
                method, url, headers=send_headers, content=content, deadline=deadline, what=what
            )
            if response.status_code != 401:
                break
            if response.request.url.netloc != httpx2.URL(base).netloc:
                # A challenge from another host (after a redirect) never gets our credentials (DESIGN §4).
                response.close()
                raise PermissionDenied(
                    f"{what}: a redirect target on another host asked for credentials; refused"
                )
            challenge_values = response.headers.get_list("www-authenticate")
            read_capped_quiet(response, deadline, what)
            challenges = parse_challenges(challenge_values)
            bearer = next((c for c in challenges if c.scheme == "bearer"), None)
            if not challenges:
                raise AuthenticationFailed(f"{what}: HTTP 401 without a WWW-Authenticate challenge")
            if authorization is not None:
                error = bearer.error if bearer else None
                widened = merge_scopes(scopes, _same_resources(scopes, bearer.scope if bearer else None))
                if error == "insufficient_scope" and widened != scopes and fetched < 2:
                    scopes = widened  # e.g. DELETE needs the "delete" action: one re-auth (PC)
                elif fetched == 0:
                    # A cached token the registry no longer accepts (expired early, revoked, invalid_token):
                    # forget it and fetch a fresh one, once.
                    self.auth.forget(registry.name, scopes, credential)
                else:
                    raise self._refused(registry, scopes, credential, error, what)
            if fetched >= 2:
                raise self._refused(registry, scopes, credential, bearer.error if bearer else None, what)
            authorization = self.auth.authorize(
                registry=registry.name,
                registry_url=base,
                challenges=challenges,
                scopes=scopes,
                credential=credential,
                deadline=deadline,
                stale=authorization,
            )
            fetched += 1
        if response.status_code in ok:
            return response
        body = read_capped_quiet(response, deadline, what)
        failure = from_response(response.status_code, response.headers, body, what=what)
        if isinstance(failure, PermissionDenied):
            token = self.auth.last_token(registry.name, scopes, credential)
            failure.hint = failure.hint or _denied_hint(registry, scopes, credential, token)
        raise failure

    def _base_url(self, registry: Registry, deadline: Deadline) -> str:
        """The registry's base URL; the token cache remembers loopback scheme probes across processes."""
        if self._cache is None or not registry.is_loopback:
            return self.transport.base_url(registry, deadline)
        host = registry.api_host
        known = self._cache.scheme_for(host)
        if known is not None:
            self.transport.remember_scheme(host, known)
        base = self.transport.base_url(registry, deadline)
        self._cache.remember_scheme(host, base.split(":", 1)[0])
        return base

    def _refused(
        self,
        registry: Registry,
        scopes: tuple[str, ...],
        credential: Credential,
        error: str | None,
        what: str,
    ) -> OciregError:
        token = self.auth.last_token(registry.name, scopes, credential)
        granted = token.grants(scopes[0]) if token is not None and scopes else None
        if credential.is_anonymous:
            return PermissionDenied(
                f"{what}: anonymous access denied",
                hint=_denied_hint(registry, scopes, credential, token),
            )
        if error == "insufficient_scope" or granted is False:
            return PermissionDenied(
                f"{what}: access denied for {credential.describe()}",
                hint=_denied_hint(registry, scopes, credential, token),
            )
        return AuthenticationFailed(
            f"{what}: the registry rejected the token obtained for {credential.describe()}",
            hint="the token service and the registry disagree (issuer, service or clock); try --debug",
        )

    # -- manifests ------------------------------------------------------------------------------------------

    def _manifest_path(self, ref: Reference) -> str:
        return f"/v2/{ref.repository.path}/manifests/{ref.identifier}"

    def head_manifest(self, ref: Reference, *, deadline: Deadline | None = None) -> ManifestInfo:
        """HEAD the manifest: its digest (``Docker-Content-Digest``), media type and size. One request when warm."""
        deadline = deadline or self.deadline()
        what = f"manifest {escape(str(ref))}"
        response = self.request(
            "HEAD",
            ref.registry,
            self._manifest_path(ref),
            scopes=(ref.repository.scope("pull"),),
            headers={"Accept": ACCEPT_HEADER},
            deadline=deadline,
            what=what,
        )
        response.close()
        digest = _header_digest(response.headers, what)
        if digest is not None and ref.digest is not None and digest != ref.digest:
            raise DigestMismatch(f"{what}: the registry answered digest {digest}")
        size_text = response.headers.get("content-length", "")
        media_type = response.headers.get("content-type")
        return ManifestInfo(
            reference=ref,
            digest=digest,
            media_type=media_type.split(";")[0].strip() if media_type else None,
            size=int(size_text) if size_text.isdigit() else None,
        )

    def get_manifest(self, ref: Reference, *, deadline: Deadline | None = None) -> Manifest | Index:
        """GET and parse the manifest, verifying its digest over the exact bytes received."""
        deadline = deadline or self.deadline()
        what = f"manifest {escape(str(ref))}"
        response = self.request(
            "GET",
            ref.registry,
            self._manifest_path(ref),
            scopes=(ref.repository.scope("pull"),),
            headers={"Accept": ACCEPT_HEADER},
            deadline=deadline,
            what=what,
        )
        announced = _header_digest(response.headers, what)
        content_type = response.headers.get("content-type")
        raw = read_capped(response, MANIFEST_LIMIT, deadline=deadline, what=what)
        for expected in (ref.digest, announced):
            if expected is not None and not expected.matches(raw):
                raise DigestMismatch(
                    f"{what}: the bytes received do not hash to {expected}",
                    hint="the registry or a proxy altered the manifest; do not trust this answer",
                )
        return parse_manifest(raw, content_type)

    def exists(self, ref: Reference) -> bool:
        """True if the manifest exists; False only when the registry says it does not. Other failures raise."""
        try:
            self.head_manifest(ref)
        except NotFound:
            return False
        return True

    def digest(self, ref: Reference, *, platform: Platform | None = None) -> Digest:
        """The manifest digest of ``ref``; with ``platform``, the digest of that platform's image.

        Without ``platform`` an index's own digest is returned (what ``docker pull`` resolves the tag to). A HEAD
        without ``Docker-Content-Digest`` falls back to GET and hashes the bytes.
        """
        deadline = self.deadline()
        if platform is None:
            info = self.head_manifest(ref, deadline=deadline)
            if info.digest is not None:
                return info.digest
            return self.get_manifest(ref, deadline=deadline).digest
        document = self.get_manifest(ref, deadline=deadline)
        if isinstance(document, Index):
            return select_platform(document, platform).digest
        config = self.get_image_config(ref.with_digest(document.digest), document, deadline=deadline)
        have = Platform(
            os=str(config.get("os", "")),
            architecture=str(config.get("architecture", "")),
            variant=str(config["variant"]) if isinstance(config.get("variant"), str) else None,
        )
        if not platform_matches(platform, have):
            raise NotFound(f"{escape(str(ref))} is a single-platform image for {have}, not {platform}")
        return document.digest

    def get_image_config(
        self, ref: Reference, manifest: Manifest, *, deadline: Deadline | None = None
    ) -> dict[str, object]:
        """Fetch and verify the image configuration blob of ``manifest``."""
        from ocireg.manifest import loads_strict

        deadline = deadline or self.deadline()
        raw = self.get_blob_bytes(
            ref.repository, manifest.config.digest, limit=CONFIG_LIMIT, deadline=deadline
        )
        doc = loads_strict(raw)
        if not isinstance(doc, dict):
            raise ProtocolViolation(f"image config {manifest.config.digest} is not a JSON object")
        return doc

    # -- blobs ----------------------------------------------------------------------------------------------

    def get_blob_bytes(
        self, repository: Repository, digest: Digest, *, limit: int, deadline: Deadline | None = None
    ) -> bytes:
        """GET a small blob (config, ...) completely, verifying its digest."""
        deadline = deadline or self.deadline()
        what = f"blob {digest} in {escape(str(repository))}"
        response = self.request(
            "GET",
            repository.registry,
            f"/v2/{repository.path}/blobs/{digest}",
            scopes=(repository.scope("pull"),),
            deadline=deadline,
            what=what,
        )
        raw = read_capped(response, limit, deadline=deadline, what=what)
        if not digest.matches(raw):
            raise DigestMismatch(f"{what}: the bytes received do not hash to the digest")
        return raw


def _header_digest(headers: httpx2.Headers, what: str) -> Digest | None:
    value = headers.get("docker-content-digest")
    if value is None:
        return None
    try:
        return Digest.parse(value.strip())
    except InvalidReference as exc:
        # A digest from the server goes into URLs and output: validate before use (BI: malformed digests).
        raise ProtocolViolation(f"{what}: the registry sent an invalid Docker-Content-Digest header") from exc


def _same_resources(scopes: tuple[str, ...], extra: str | None) -> str | None:
    """Keep only the challenge scopes that name resources we asked for: a registry cannot widen us elsewhere."""
    if not extra:
        return None
    names = {s.rsplit(":", 1)[0] for s in scopes}
    kept = [s for s in extra.split() if s.rsplit(":", 1)[0] in names]
    return " ".join(kept) or None


def _denied_hint(
    registry: Registry, scopes: tuple[str, ...], credential: Credential, token: object | None
) -> str:
    from ocireg.auth import Token

    wanted = " ".join(scopes)
    if credential.is_anonymous:
        return (
            f"no credentials were found for {registry}, and anonymous access to {wanted} is not allowed: "
            "pass --username and --password-stdin, set OCIREG_USERNAME/OCIREG_PASSWORD, run 'docker login', "
            "or inside GitLab CI use the project's own registry (CI_REGISTRY)"
        )
    if isinstance(token, Token) and token.granted() == []:
        return (
            f"the token service granted no access for {wanted} to {credential.describe()}. On GitLab this "
            "means the project path is misspelt or does not exist, the user lacks the Reporter role (or "
            "read_registry scope), or, for CI_JOB_TOKEN, this project is missing from the target project's "
            "job token allowlist. 'ocireg auth explain REF' shows the details"
        )
    return (
        f"{credential.describe()} is not allowed {wanted}; 'ocireg auth explain REF' shows what was granted"
    )


def _is_index(media_type: str | None) -> bool:
    return media_type in INDEX_TYPES
