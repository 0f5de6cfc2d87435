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

import contextlib
import datetime as dt
import functools
import threading
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Literal, Protocol
from urllib.parse import urlencode, urljoin, urlsplit

from ocireg.auth import Authenticator, AuthFlow, read_capped_quiet
from ocireg.connection import split_url
from ocireg.credentials import ANONYMOUS, Credential
from ocireg.errors import (
    CredentialError,
    DigestMismatch,
    InvalidReference,
    NotFound,
    OciregError,
    PermissionDenied,
    PlatformNotFound,
    ProtocolViolation,
    RegistryError,
    TransportError,
    Unsupported,
    UsageError,
    from_response,
    parse_error_body,
)
from ocireg.manifest import (
    Descriptor,
    Index,
    Manifest,
    Platform,
    parse_manifest,
    platform_matches,
    select_platform,
)
from ocireg.mediatypes import (
    ACCEPT_HEADER,
    INDEX_TYPES,
    MANIFEST_TYPES,
    OCI_ARTIFACT_MANIFEST,
    OCI_INDEX,
    SCHEMA1_TYPES,
    base_type,
)
from ocireg.reference import Digest, Reference, Registry, Repository
from ocireg.response import Headers, Response
from ocireg.text import escape
from ocireg.transport import Deadline, Transport, TransportConfig, read_capped, redact_url

__all__ = [
    "CATALOG_SCOPE",
    "GITLAB_TAG_SORTS",
    "BlobStream",
    "CredentialLookup",
    "GitLabTagSort",
    "ManifestInfo",
    "Referrers",
    "RegistryClient",
    "RegistryFeatures",
    "TagDetail",
    "referrers_tag",
    "verified_chunks",
]

MANIFEST_LIMIT = 8 * 1024 * 1024  # docs/architecture.md §4: manifests are capped at 8 MiB
CONFIG_LIMIT = 8 * 1024 * 1024
#: Bytes per read when streaming a blob: memory per transfer stays at a few chunks whatever the blob size.
BLOB_CHUNK_SIZE = 1024 * 1024
#: One tags/list or catalog page (distribution 2.8 sends every tag in one page: ~150 KB per 1,000 tags).
LIST_PAGE_LIMIT = 16 * 1024 * 1024
#: Pages followed before a listing gives up (a registry that never stops paginating).
MAX_LIST_PAGES = 1000
MAX_LIST_ITEMS = 1_000_000
#: Referrers gathered across pages before giving up: real images carry a handful (signatures, SBOMs,
#: attestations); a registry sending more is broken or hostile, and each descriptor costs memory.
MAX_REFERRERS = 10_000
#: The token scope for ``/v2/_catalog`` (Docker token spec; GitLab grants it to admins only).
CATALOG_SCOPE = "registry:catalog:*"
#: Tags per page of GitLab's ``/gitlab/v1`` tags list: its maximum ``n`` (gitlab-org/container-registry
#: ``registry/handlers/repositories.go``, ``nQueryParamValueMax``).
GITLAB_TAGS_PAGE = 1000
GitLabTagSort = Literal["name", "-name", "published_at", "-published_at"]
GITLAB_TAG_SORTS: tuple[GitLabTagSort, ...] = ("name", "-name", "published_at", "-published_at")


def referrers_tag(subject: Digest) -> str:
    """The tag ``<alg>-<ref>`` under which registries without the referrers API keep ``subject``'s referrers.

    distribution-spec v1.1, "Referrers Tag Schema": the algorithm cut to 32 characters and the encoded digest to
    64, so a sha512 subject gets a valid tag too.
    """
    return f"{subject.algorithm[:32]}-{subject.hex[:64]}"


class CredentialLookup(Protocol):
    """Anything that finds the credential for a registry (``ocireg.credentials.Chain`` does)."""

    def lookup(self, registry: Registry) -> Credential: ...


def _check_sendable(credential: Credential) -> None:
    """Refuse, before anything is sent, a credential that cannot go into an ``Authorization`` header (#14 item 4).

    A byte that is not UTF-8 (from stdin or the environment, surrogate-escaped by Python) or an unpaired
    surrogate (a ``"\ud800"`` escape in a JSON config) would otherwise fail while the header is built, as an
    internal error naming the character and its position — which tells the password's length. Bearer tokens
    must be printable ASCII. The message names the source and the field, never the value.
    """
    fields = {"user name": credential.username, "password": credential.password}
    fields["identity token"] = credential.identity_token
    for name, value in fields.items():
        if value is not None and not _is_utf8(value):
            raise CredentialError(
                f"the {name} of {credential.describe()} is not valid UTF-8 text; nothing was sent",
                hint="check the credential source for a stray byte or an unpaired \\uD800-style escape",
            )
    token = credential.registry_token
    if token is not None and not all(0x21 <= ord(c) <= 0x7E for c in token):
        raise CredentialError(
            f"the registry token of {credential.describe()} contains characters a token cannot have; "
            "nothing was sent"
        )


def _is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class _Fixed:
    def __init__(self, credential: Credential) -> None:
        self._credential = credential

    def lookup(self, registry: Registry) -> Credential:
        return self._credential


# A HEAD without Docker-Content-Digest is a manifest answer only with one of these types (schema 1 included:
# the manifest is there, even if ocireg cannot read it).
_MANIFEST_ANSWER_TYPES = MANIFEST_TYPES | SCHEMA1_TYPES | {OCI_ARTIFACT_MANIFEST}


@dataclass(frozen=True)
class ManifestInfo:
    """What a HEAD of a manifest tells: the digest (``None`` if the registry sent none), type and size."""

    reference: Reference
    digest: Digest | None
    media_type: str | None
    size: int | None


@dataclass(frozen=True)
class Referrers:
    """The manifests whose ``subject`` is ``subject`` (signatures, SBOMs, attestations...).

    ``source`` says where the list came from: ``"api"`` (the OCI 1.1 referrers API) or ``"tag-schema"`` (the
    ``<alg>-<hex>`` index tag that registries without the API carry).
    """

    subject: Digest
    manifests: tuple[Descriptor, ...]
    source: str


@dataclass(frozen=True)
class TagDetail:
    """One tag as GitLab's registry describes it (``GET /gitlab/v1/repositories/<path>/tags/list/``).

    Field by field from gitlab-org/container-registry ``docs/spec/gitlab/api.md`` ("List Repository Tags"):
    ``digest`` of the tagged manifest (an index's own digest for multi-platform images), its ``media_type``,
    ``size`` (``size_bytes``: the image's size as the registry's database counts it), ``config_digest`` (None
    for an index), ``created_at``, ``updated_at`` (None until the tag was moved to another manifest) and
    ``published_at`` (the later of the two; None from registries older than 3.85), all timezone-aware UTC.
    """

    name: str
    digest: Digest
    media_type: str | None
    size: int | None
    config_digest: Digest | None
    created_at: dt.datetime | None
    updated_at: dt.datetime | None
    published_at: dt.datetime | None

    @property
    def published(self) -> dt.datetime | None:
        """``published_at``, else the later of ``created_at`` and ``updated_at`` (older registries)."""
        if self.published_at is not None:
            return self.published_at
        known = [t for t in (self.created_at, self.updated_at) if t is not None]
        return max(known) if known else None


@dataclass(frozen=True)
class RegistryFeatures:
    """What a registry's ``GET /v2/`` answer says about it (gitlab-org/container-registry ``registry/handlers/
    app.go``, ``distributionAPIBase``): ``version`` from ``Gitlab-Container-Registry-Version`` (None elsewhere),
    ``features`` from ``Gitlab-Container-Registry-Features`` (e.g. ``tag_delete``), ``database`` from
    ``Gitlab-Container-Registry-Database-Enabled`` (None when not sent)."""

    version: str | None = None
    features: frozenset[str] = frozenset()
    database: bool | None = None

    @property
    def is_gitlab(self) -> bool:
        return self.version is not None or bool(self.features)

    @property
    def tag_delete(self) -> bool:
        """The registry deletes a single tag (GitLab's ``tag_delete`` extension)."""
        return "tag_delete" in self.features


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
        self._identities: dict[Credential, Credential] = {}
        self._cred_lock = threading.Lock()
        self._schemes_from_cache: set[str] = set()  # registries whose scheme a previous run decided
        # GitLab extensions, per registry name for this client's life: /v2/ headers seen, /gitlab/v1 available.
        self._features: dict[str, RegistryFeatures] = {}
        self._gitlab_v1: dict[str, bool] = {}
        self._ext_lock = threading.Lock()

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

    def credential_for(self, registry: Registry, path: str | None = None) -> Credential:
        """The credential used for ``registry`` (for the repository ``path`` in it, if given), looked up once.

        With ``path``, a lookup that knows per-repository keys (``Chain.lookup_in``: the containers auth files'
        ``host/group/project`` keys) is asked for the repository; a helper still runs at most once per registry
        (the sources cache its answer per host).
        """
        key = registry.name if path is None else f"{registry.name}/{path}"
        with self._cred_lock:
            found = self._credentials.get(key)
            if found is None:
                scoped = getattr(self._lookup, "lookup_in", None) if path is not None else None
                found = scoped(registry, path) if scoped is not None else self._lookup.lookup(registry)
                _check_sendable(found)
                # One object per identity: its fingerprint (a deliberately slow hash) is computed once, not
                # once per repository of a batch.
                found = self._identities.setdefault(found, found)
                self._credentials[key] = found
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
    ) -> Response:
        """Send a request to ``registry`` with authentication; return the open response if its status is in ``ok``.

        Any other status is classified by :func:`ocireg.errors.from_response` and raised. On a 401 the challenge
        is answered (one token request), and once more at most on ``insufficient_scope`` or ``invalid_token``
        (:class:`ocireg.auth.AuthFlow` decides).
        """
        base = self._base_url(registry, deadline)
        credential = self.credential_for(registry, _scope_repository(scopes))
        streamed = content is not None and not isinstance(content, bytes)
        wait = deadline.clamp(self.config.timeout) / 2
        flow = self.auth.flow(
            registry.name,
            base,
            scopes,
            credential,
            deadline=deadline,
            what=what,
            streamed=streamed,
            wait=wait,
        )
        with flow:
            send = functools.partial(self._exchange, method, path, headers, content, deadline, what, ok)
            try:
                response = send(flow)
            except (TransportError, RegistryError) as exc:
                fresh = None if streamed else self._reprobe(exc, registry, base, deadline)
                if fresh is None:
                    raise
                response = send(flow.moved(fresh))
        if path == "/v2/" and response.status == 200:
            self._note_features(registry, response.headers)  # GitLab's extension headers, when seen
        return response

    def _exchange(
        self,
        method: str,
        path: str,
        headers: Mapping[str, str] | None,
        content: bytes | Iterator[bytes] | None,
        deadline: Deadline,
        what: str,
        ok: tuple[int, ...],
        flow: AuthFlow,
    ) -> Response:
        """One request under ``flow``: each 401 goes to the flow, which answers it or gives up (#15 item 1)."""
        url = flow.registry_url + path
        while True:
            response = self.transport.send(
                method,
                url,
                headers=flow.headers(headers),
                content=content,
                deadline=deadline,
                what=what,
                on_attempt=flow.on_attempt,
            )
            if response.status != 401:
                break
            flow.challenged(response)
        if response.status in ok:
            return response
        raise flow.failure(response)

    def _base_url(self, registry: Registry, deadline: Deadline) -> str:
        """The registry's base URL; the token cache remembers loopback scheme probes across processes."""
        host = registry.api_host
        decided = self.transport.known_scheme(host)
        if decided is not None:  # every request of a batch asks: the transport decides once per host
            return f"{decided}://{host}"
        if self._cache is None or not registry.is_loopback:
            return self.transport.base_url(registry, deadline)
        known = self._cache.scheme_for(host)
        if known is not None:
            self.transport.remember_scheme(host, known)
            self._schemes_from_cache.add(registry.name)
        base = self.transport.base_url(registry, deadline)
        decided = self.transport.known_scheme(host)
        if decided is not None and decided != known:
            self._cache.remember_scheme(host, decided)
        return base

    def _reprobe(
        self, exc: TransportError | RegistryError, registry: Registry, base: str, deadline: Deadline
    ) -> str | None:
        """A new base URL if ``exc`` looks like the wrong scheme and the scheme remembered from an earlier run
        was wrong, else ``None`` (#14 item 8).

        A TLS request to a port that now speaks plain HTTP fails as a network error; a plain one to a port that
        now speaks TLS, as a network error or (Go's TLS server) an HTTP 400. A loopback registry may have moved
        between TLS and plain HTTP since the scheme was stored: the port is probed again, once per process; if
        the probe now says otherwise, the cache is corrected and the request is sent again with the new scheme.
        """
        wrong_scheme = isinstance(exc, TransportError) or (
            base.startswith("http:") and getattr(exc, "status", None) == 400
        )
        if not wrong_scheme or registry.name not in self._schemes_from_cache:
            return None
        self._schemes_from_cache.discard(registry.name)
        host = registry.api_host
        self.transport.forget_scheme(host)
        fresh = self.transport.base_url(registry, deadline)
        decided = self.transport.known_scheme(host)
        if decided is None or fresh == base:
            return None
        if self._cache is not None:
            self._cache.remember_scheme(host, decided)
        return fresh

    # -- manifests ------------------------------------------------------------------------------------------

    def _manifest_path(self, ref: Reference) -> str:
        return f"/v2/{ref.repository.path}/manifests/{ref.identifier}"

    def _manifest_request(
        self,
        method: str,
        ref: Reference,
        deadline: Deadline,
        what: str,
        scopes: tuple[str, ...] | None = None,
    ) -> Response:
        # All four manifest types in Accept, always: distribution 2.8 answers 404 for an OCI index otherwise
        # (docs/architecture.md §5), which would be a false "absent".
        return self.request(
            method,
            ref.registry,
            self._manifest_path(ref),
            scopes=scopes or (ref.repository.scope("pull"),),
            headers={"Accept": ACCEPT_HEADER},
            deadline=deadline,
            what=what,
        )

    def head_manifest(
        self, ref: Reference, *, deadline: Deadline | None = None, scopes: tuple[str, ...] | None = None
    ) -> ManifestInfo:
        """HEAD the manifest: its digest (``Docker-Content-Digest``), media type and size. One request when warm.

        A 200 counts only when it looks like a manifest answer: a ``Docker-Content-Digest`` or a manifest media
        type. Anything else (``200 text/html`` from a web server or a captive proxy on the registry's port) is
        judged by GETting the body, as :meth:`digest` does: an HTML page is a registry error, never "present".
        """
        deadline = deadline or self.deadline()
        what = f"manifest {escape(str(ref))}"
        response = self._manifest_request("HEAD", ref, deadline, what, scopes)
        response.close()
        digest = _header_digest(response.headers, what)
        if digest is not None and ref.digest is not None and digest != ref.digest:
            raise DigestMismatch(f"{what}: the registry answered digest {digest}")
        size_text = response.headers.get("content-length", "")
        media_type = base_type(response.headers.get("content-type"))
        if digest is None and media_type not in _MANIFEST_ANSWER_TYPES:
            document = self.get_manifest(ref, deadline=deadline, scopes=scopes)
            return ManifestInfo(
                reference=ref, digest=document.digest, media_type=document.media_type, size=len(document.raw)
            )
        return ManifestInfo(
            reference=ref,
            digest=digest,
            media_type=media_type,
            size=int(size_text) if size_text.isdigit() else None,
        )

    def get_manifest(
        self, ref: Reference, *, deadline: Deadline | None = None, scopes: tuple[str, ...] | None = None
    ) -> Manifest | Index:
        """GET and parse the manifest, verifying its digest over the exact bytes received."""
        deadline = deadline or self.deadline()
        what = f"manifest {escape(str(ref))}"
        for attempt in range(2):
            response = self._manifest_request("GET", ref, deadline, what, scopes)
            announced = _header_digest(response.headers, what)
            content_type = response.headers.get("content-type")
            try:
                raw = read_capped(response, MANIFEST_LIMIT, deadline=deadline, what=what)
                break
            except TransportError:
                # The connection died mid-body (FT: reset mid-body, truncated body). The transport retried only
                # up to the response head; a GET is safe to send again, once, within the same deadline.
                if attempt:
                    raise
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
            raise PlatformNotFound(
                f"{escape(str(ref))} is a single-platform image for {escape(str(have))}, not {escape(str(platform))}"
            )
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

    # -- referrers ------------------------------------------------------------------------------------------

    def referrers(
        self,
        repository: Repository,
        subject: Digest,
        *,
        artifact_type: str | None = None,
        deadline: Deadline | None = None,
    ) -> Referrers:
        """The manifests in ``repository`` whose ``subject`` is ``subject``, optionally of one artifact type.

        OCI distribution-spec v1.1, "Listing Referrers": ``GET /v2/<name>/referrers/<digest>`` answers an image
        index (``Link`` pages followed as for tags). A registry without the API (distribution 2.8; GitLab)
        answers 404, and the spec's "Referrers Tag Schema" applies: the index tagged ``<alg>-<hex>``, which
        pushing clients (oras, cosign) keep up to date there; no such tag means no referrers. The
        ``artifactType`` filter is applied here as well: a registry MAY ignore it (it then omits
        ``OCI-Filters-Applied``).
        """
        deadline = deadline or self.deadline()
        what = f"referrers of {escape(str(repository))}@{subject}"
        found = self._referrers_api(repository, subject, artifact_type, deadline, what)
        source = "api"
        if found is None:
            found, source = self._referrers_tag(repository, subject, deadline), "tag-schema"
        if artifact_type is not None:
            found = [d for d in found if d.artifact_type == artifact_type]
        return Referrers(subject=subject, manifests=tuple(found), source=source)

    def _referrers_api(
        self,
        repository: Repository,
        subject: Digest,
        artifact_type: str | None,
        deadline: Deadline,
        what: str,
    ) -> list[Descriptor] | None:
        """Every page of the referrers API; ``None`` when the registry has no such API (404, 405, 501)."""
        from urllib.parse import quote

        query = f"?artifactType={quote(artifact_type, safe='')}" if artifact_type else ""
        current = f"/v2/{repository.path}/referrers/{subject}{query}"
        visited = {current}
        found: list[Descriptor] = []
        for page in range(MAX_LIST_PAGES):
            try:
                response = self.request(
                    "GET",
                    repository.registry,
                    current,
                    scopes=(repository.scope("pull"),),
                    headers={"Accept": OCI_INDEX},
                    deadline=deadline,
                    what=what,
                )
            except (NotFound, Unsupported):
                if page == 0:
                    return None
                raise
            links = response.headers.get_list("link")
            content_type = response.headers.get("content-type")
            body = read_capped(response, MANIFEST_LIMIT, deadline=deadline, what=what)
            index = parse_manifest(body, content_type)
            if not isinstance(index, Index):
                raise ProtocolViolation(
                    f"{what}: the registry answered a {index.media_type}, not an image index"
                )
            found.extend(index.manifests)
            if len(found) > MAX_REFERRERS:
                raise ProtocolViolation(f"{what}: more than {MAX_REFERRERS} referrers; giving up")
            following = self._next_page(
                repository.registry, links, current, visited, bool(index.manifests), deadline, what
            )
            if following is None:
                return found
            current = following
        raise ProtocolViolation(f"{what}: more than {MAX_LIST_PAGES} pages; giving up")

    def _referrers_tag(self, repository: Repository, subject: Digest, deadline: Deadline) -> list[Descriptor]:
        """The index under the referrers tag of ``subject`` (:func:`referrers_tag`); no such tag: none."""
        tag = referrers_tag(subject)
        try:
            index = self.get_manifest(Reference(repository, tag), deadline=deadline)
        except NotFound:
            return []
        if not isinstance(index, Index):
            raise ProtocolViolation(
                f"{escape(str(repository))}:{tag}: the referrers tag holds a {index.media_type}, not an image index"
            )
        return list(index.manifests)

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

    # -- writes: manifests, blobs, uploads (issue #5: tag, copy, delete) -----------------------------------------
    # Writes are never replayed blindly. A manifest PUT or a DELETE is idempotent and gets the transport's
    # retries; a streamed blob body cannot be replayed, so the transport sends it exactly once (attempts=1).
    # Each primitive asks for the scopes it needs; ``scopes=`` lets an operation ask for a wider set once (one
    # token for a whole copy instead of one per primitive).

    def put_manifest(
        self,
        ref: Reference,
        raw: bytes,
        media_type: str,
        *,
        deadline: Deadline | None = None,
        scopes: tuple[str, ...] | None = None,
    ) -> Digest:
        """PUT the exact bytes ``raw`` as ``ref`` (its digest if it has one, else its tag) with ``media_type``.

        Returns the digest of ``raw``. The registry's ``Docker-Content-Digest`` must describe those same bytes
        (docs/architecture.md §4: a digest that disagrees with the body is an error), and so must ``ref.digest``.
        """
        return self._put_manifest(ref, raw, media_type, deadline=deadline, scopes=scopes)[0]

    def put_referrer(
        self,
        ref: Reference,
        raw: bytes,
        media_type: str,
        subject: Digest,
        *,
        deadline: Deadline | None = None,
        scopes: tuple[str, ...] | None = None,
    ) -> bool:
        """PUT a manifest whose ``subject`` is ``subject`` (as :meth:`put_manifest`); True if the registry indexed it.

        distribution-spec v1.1, "Pushing Manifests with Subject": a registry with the referrers API answers
        ``OCI-Subject: <subject digest>``; without that header the pushing client must add the manifest to the
        referrers tag itself (:func:`ocireg.operations.referrers.add_to_referrers_tag`).
        """
        _, headers = self._put_manifest(ref, raw, media_type, deadline=deadline, scopes=scopes)
        return headers.get("oci-subject", "").strip() == str(subject)

    def _put_manifest(
        self,
        ref: Reference,
        raw: bytes,
        media_type: str,
        *,
        deadline: Deadline | None,
        scopes: tuple[str, ...] | None,
    ) -> tuple[Digest, Headers]:
        deadline = deadline or self.deadline()
        what = f"manifest {escape(str(ref))}"
        algorithm = ref.digest.algorithm if ref.digest is not None else "sha256"
        digest = Digest.from_bytes(raw, algorithm)
        if ref.digest is not None and ref.digest != digest:
            raise DigestMismatch(
                f"{what}: the bytes to push hash to {digest}, not to the digest in the reference"
            )
        response = self.request(
            "PUT",
            ref.registry,
            self._manifest_path(ref),
            scopes=scopes or (ref.repository.scope("pull", "push"),),
            headers={"Content-Type": media_type},
            content=raw,
            deadline=deadline,
            what=what,
            ok=(200, 201),
        )
        read_capped_quiet(response, deadline, what)
        announced = _header_digest(response.headers, what)
        if announced is not None and not announced.matches(raw):
            raise DigestMismatch(
                f"{what}: the registry stored the manifest as {announced}, but the bytes sent hash to {digest}",
                hint="a proxy or the registry altered the manifest; do not rely on this tag",
            )
        return digest, response.headers

    def delete_manifest(self, ref: Reference, *, deadline: Deadline | None = None) -> None:
        """``DELETE /v2/<name>/manifests/<digest or tag>``.

        By digest this removes the manifest *and every tag pointing to it* (distribution untags them all); by
        tag it is the OCI tag delete (distribution v3, GitLab >= 16.4), which distribution 2.8 refuses with
        ``400 DIGEST_INVALID``. ``delete`` is its own token action (docs/architecture.md §5): it is asked for up front, and a
        registry that wants more gets the one re-auth of :meth:`request`. A registry with deletes disabled
        answers 405 ``UNSUPPORTED`` (:class:`~ocireg.errors.Unsupported`), which is never retried.
        """
        deadline = deadline or self.deadline()
        what = f"delete of {escape(str(ref))}"
        response = self.request(
            "DELETE",
            ref.registry,
            self._manifest_path(ref),
            scopes=(ref.repository.scope("pull", "delete"),),
            deadline=deadline,
            what=what,
            ok=(200, 202, 204),
        )
        read_capped_quiet(response, deadline, what)

    def head_blob(
        self,
        repository: Repository,
        digest: Digest,
        *,
        deadline: Deadline | None = None,
        scopes: tuple[str, ...] | None = None,
    ) -> int | None:
        """The size of blob ``digest`` in ``repository``, or None when the registry says it is not there."""
        deadline = deadline or self.deadline()
        what = f"blob {digest} in {escape(str(repository))}"
        try:
            response = self.request(
                "HEAD",
                repository.registry,
                f"/v2/{repository.path}/blobs/{digest}",
                scopes=scopes or (repository.scope("pull"),),
                deadline=deadline,
                what=what,
            )
        except NotFound:
            return None
        response.close()
        length = response.headers.get("content-length", "")
        if not length.isdigit() or len(length) > 19:
            raise ProtocolViolation(f"{what}: HEAD answered 200 without a valid Content-Length")
        return int(length)

    def open_blob(
        self, repository: Repository, digest: Digest, *, deadline: Deadline | None = None
    ) -> BlobStream:
        """Start a streaming GET of a blob; use the result as a context manager and read ``chunks()``.

        Registries often redirect blob GETs to object storage; the transport follows without sending
        ``Authorization`` to the other host. The bytes are passed on as received (``Accept-Encoding:
        identity``, no decoding) so they still hash to ``digest``; verifying them is the reader's job
        (:func:`verified_chunks`, which :meth:`upload_blob` applies).
        """
        deadline = deadline or self.deadline()
        what = f"blob {digest} in {escape(str(repository))}"
        response = self.request(
            "GET",
            repository.registry,
            f"/v2/{repository.path}/blobs/{digest}",
            scopes=(repository.scope("pull"),),
            headers={"Accept-Encoding": "identity"},
            deadline=deadline,
            what=what,
        )
        return BlobStream(response, deadline=deadline, what=what)

    def mount_blob(
        self,
        repository: Repository,
        digest: Digest,
        source: Repository,
        *,
        deadline: Deadline | None = None,
        scopes: tuple[str, ...] | None = None,
    ) -> bool:
        """Cross-repository mount of ``digest`` from ``source`` into ``repository`` (same registry).

        True when the registry mounted it (201): no byte is uploaded. False when it answered 202 (the blob is
        not mountable, e.g. no pull access on ``source``): the upload session it opened is cancelled and the
        caller uploads instead. One token carries pull on the source and pull,push on the destination.
        """
        if repository.registry != source.registry:
            raise UsageError("a blob can only be mounted from a repository on the same registry")
        deadline = deadline or self.deadline()
        what = f"mount of blob {digest} from {escape(str(source))} into {escape(str(repository))}"
        response = self.request(
            "POST",
            repository.registry,
            f"/v2/{repository.path}/blobs/uploads/?mount={digest}&from={source.path}",
            scopes=scopes or (repository.scope("pull", "push"), source.scope("pull")),
            deadline=deadline,
            what=what,
            ok=(201, 202),
        )
        read_capped_quiet(response, deadline, what)
        if response.status == 201:
            announced = _header_digest(response.headers, what)
            if announced is not None and announced != digest:
                raise DigestMismatch(f"{what}: the registry mounted {announced} instead")
            return True
        location = response.headers.get("location")
        if location:
            self._cancel_upload(repository, location, deadline, what)
        return False

    def upload_blob(
        self,
        repository: Repository,
        digest: Digest,
        size: int,
        chunks: Iterable[bytes],
        *,
        deadline: Deadline | None = None,
        scopes: tuple[str, ...] | None = None,
    ) -> None:
        """Upload a blob from ``chunks`` without holding it in memory: ``POST`` an upload, then one streamed
        ``PUT <Location>?digest=`` (monolithic, ``Content-Length: size``).

        The bytes are verified while they stream (:func:`verified_chunks`): on a wrong size or digest the last
        chunk is never sent, so the registry cannot commit the blob, and :class:`~ocireg.errors.DigestMismatch`
        is raised. The upload ``Location`` may be relative; one on another scheme, host or port than the
        registry is refused (SEC: upload Location handling; credentials never leave the registry's origin).
        """
        deadline = deadline or self.deadline()
        what = f"upload of blob {digest} to {escape(str(repository))}"
        scopes = scopes or (repository.scope("pull", "push"),)
        response = self.request(
            "POST",
            repository.registry,
            f"/v2/{repository.path}/blobs/uploads/",
            scopes=scopes,
            deadline=deadline,
            what=what,
            ok=(202,),
        )
        read_capped_quiet(response, deadline, what)
        path = self._upload_path(repository, response.headers.get("location"), deadline, what)
        separator = "&" if "?" in path else "?"
        try:
            response = self.request(
                "PUT",
                repository.registry,
                f"{path}{separator}digest={digest}",
                scopes=scopes,
                headers={"Content-Type": "application/octet-stream", "Content-Length": str(size)},
                content=verified_chunks(chunks, digest, size, what=f"blob {digest}"),
                deadline=deadline,
                what=what,
                ok=(201, 204),
            )
        except OciregError:
            self._cancel_upload(repository, path, deadline, what)
            raise
        read_capped_quiet(response, deadline, what)
        announced = _header_digest(response.headers, what)
        if announced is not None and announced != digest:
            raise DigestMismatch(f"{what}: the registry stored the blob as {announced}")

    def _upload_path(
        self, repository: Repository, location: str | None, deadline: Deadline, what: str
    ) -> str:
        """The path+query of an upload ``Location``, which must be on the registry's own origin."""
        if not location:
            raise ProtocolViolation(f"{what}: the registry opened an upload without a Location header")
        base_url = self._base_url(repository.registry, deadline)
        base = split_url(base_url)
        joined = urljoin(f"{base_url}/v2/{repository.path}/blobs/uploads/", location.strip())
        try:
            target = split_url(joined) if urlsplit(joined).scheme in ("http", "https") else None
        except ValueError as exc:
            raise ProtocolViolation(f"{what}: invalid upload Location") from exc
        if target is None or (target.scheme, target.host, target.port) != (base.scheme, base.host, base.port):
            # Credentials go only to the registry (docs/architecture.md §4): an upload Location elsewhere (SSRF, a storage
            # host, a downgrade to http) is refused rather than sent our Authorization or our data.
            raise ProtocolViolation(
                f"{what}: the registry sent an upload Location on another origin "
                f"({redact_url(joined)}); refused",
                hint="a registry behind a proxy must generate upload URLs for its public address",
            )
        return target.path

    def _cancel_upload(self, repository: Repository, location: str, deadline: Deadline, what: str) -> None:
        """Best effort ``DELETE`` of an upload session, so a failed upload leaves nothing behind."""
        with contextlib.suppress(OciregError):
            path = self._upload_path(repository, location, deadline, what)
            response = self.request(
                "DELETE",
                repository.registry,
                path,
                scopes=(repository.scope("pull", "push"),),
                deadline=Deadline(_cleanup_budget(deadline)),
                what=f"cancel of {what}",
                ok=(200, 202, 204, 404),
            )
            response.close()

    # -- listing: tags and catalog (issue #3) -----------------------------------------------------------------
    # Both endpoints paginate with ``n``/``last`` and ``Link: <...>; rel="next"`` (distribution spec, "Listing
    # Tags"; registry API "Catalog"). The next link is followed only on the same host, scheme and endpoint
    # (:func:`ocireg.link.resolve_next`): the request carries our token.

    def base_url(self, registry: Registry, deadline: Deadline | None = None) -> str:
        """``https://host[:port]`` (or ``http://`` by policy) of ``registry``: what every request path is under."""
        return self._base_url(registry, deadline or self.deadline())

    def tags(
        self, repository: Repository, *, page_size: int = 1000, deadline: Deadline | None = None
    ) -> list[str]:
        """Every tag of ``repository`` once, in the registry's order, following ``rel="next"`` pages.

        Asks for ``page_size`` tags a page (``n``); registries that ignore it (distribution 2.8) answer in one
        page. ``"tags": null`` is an empty list. Tags are returned as the registry sent them (escape them
        before printing). Raises :class:`~ocireg.errors.NotFound` for an unknown repository
        (``NAME_UNKNOWN``), :class:`~ocireg.errors.ProtocolViolation` for a malformed page, a foreign or
        looping ``Link``, or more than :data:`MAX_LIST_PAGES` pages.
        """
        return self._list_pages(
            repository.registry,
            f"/v2/{repository.path}/tags/list",
            key="tags",
            scopes=(repository.scope("pull"),),
            what=f"tags of {escape(str(repository))}",
            page_size=page_size,
            limit=None,
            deadline=deadline or self.deadline(),
        )

    def catalog(
        self,
        registry: Registry,
        *,
        limit: int | None = None,
        page_size: int = 1000,
        deadline: Deadline | None = None,
    ) -> list[str]:
        """Repository names on ``registry`` (``/v2/_catalog``, scope ``registry:catalog:*``), at most ``limit``.

        Most registries allow the catalog to administrators only (GitLab grants ``registry:catalog:*`` to
        admins); everyone else gets :class:`~ocireg.errors.PermissionDenied` with a hint saying so.
        """
        if limit is not None and limit < 1:
            raise ValueError("limit must be at least 1")
        try:
            return self._list_pages(
                registry,
                "/v2/_catalog",
                key="repositories",
                scopes=(CATALOG_SCOPE,),
                what=f"catalog of {escape(str(registry))}",
                page_size=page_size,
                limit=limit,
                deadline=deadline or self.deadline(),
            )
        except PermissionDenied as exc:
            if self.credential_for(registry).is_anonymous and exc.hint:
                raise  # the no-credentials hint comes first: GitLab refuses an anonymous catalog (403)
            exc.hint = (
                f"the registry lists its repositories only to administrators: the token must grant "
                f"{CATALOG_SCOPE} (on GitLab only instance admins get it; others receive a token with an empty "
                "access list). List one repository's tags with 'ocireg tags REPO' instead, or use GitLab's "
                "API (GET /api/v4/projects/:id/registry/repositories)"
            )
            raise

    def _list_pages(
        self,
        registry: Registry,
        path: str,
        *,
        key: str,
        scopes: tuple[str, ...],
        what: str,
        page_size: int,
        limit: int | None,
        deadline: Deadline,
    ) -> list[str]:

        if page_size < 1:
            raise ValueError("page_size must be at least 1")
        size = page_size if limit is None else min(page_size, limit)
        current = f"{path}?n={size}"
        visited = {current}
        items: list[str] = []
        known: set[str] = set()
        without_n = False
        for _page in range(MAX_LIST_PAGES):
            try:
                response = self.request(
                    "GET",
                    registry,
                    current,
                    scopes=scopes,
                    headers={"Accept": "application/json"},
                    deadline=deadline,
                    what=what,
                )
            except RegistryError as exc:
                # distribution answers 400 PAGINATION_NUMBER_INVALID when n exceeds its configured maximum:
                # ask once more without n and let the registry pick the page size.
                if not items and not without_n and _pagination_refused(exc):
                    without_n, current = True, path
                    continue
                raise
            links = response.headers.get_list("link")
            body = read_capped(response, LIST_PAGE_LIMIT, deadline=deadline, what=what)
            fresh = [item for item in _page_items(body, key, what) if item not in known]
            known.update(fresh)
            items.extend(fresh)
            if limit is not None and len(items) >= limit:
                return items[:limit]
            if len(items) > MAX_LIST_ITEMS:
                raise ProtocolViolation(f"{what}: more than {MAX_LIST_ITEMS} entries; giving up")
            following = self._next_page(registry, links, current, visited, bool(fresh), deadline, what)
            if following is None:
                return items
            current = following
        raise ProtocolViolation(f"{what}: more than {MAX_LIST_PAGES} pages; giving up")

    def _next_page(
        self,
        registry: Registry,
        links: list[str],
        current: str,
        visited: set[str],
        progressed: bool,
        deadline: Deadline,
        what: str,
    ) -> str | None:
        """The path of the page after ``current`` (``Link: <…>; rel="next"``), or ``None`` after the last one.

        The link must stay on the registry's origin (:func:`ocireg.link.resolve_next`); a link back to a page
        already read, or a page that brought nothing new (``progressed`` false) yet points further, is a loop.
        Raises :class:`~ocireg.link.LinkError` naming ``what``.
        """
        from ocireg.link import LinkError, next_link, resolve_next

        try:
            target = next_link(links)
            if target is None:
                return None
            if not progressed:
                raise LinkError("a page with a next link brought nothing new (pagination loop)")
            following = resolve_next(self._base_url(registry, deadline), current, target)
            if following in visited:
                raise LinkError("the next-page link points to a page already fetched (pagination loop)")
        except LinkError as exc:
            raise LinkError(f"{what}: {exc}") from None
        visited.add(following)
        return following

    # -- GitLab registry extensions (issue #12) -------------------------------------------------------------
    # gitlab-org/container-registry: ``/gitlab/v1`` (docs/spec/gitlab/api.md) needs the registry's metadata
    # database and answers 404 without it; ``GET /v2/`` advertises the extensions in headers (registry/handlers/
    # app.go). What a registry has is remembered per registry for the client's life: a plain OCI registry pays
    # one 404 per process, never one per repository or per tag.

    def registry_features(
        self,
        registry: Registry,
        *,
        scopes: tuple[str, ...] = (),
        deadline: Deadline | None = None,
        probe: bool = True,
    ) -> RegistryFeatures | None:
        """What ``GET /v2/`` of ``registry`` says (:class:`RegistryFeatures`), remembered once seen.

        Without ``probe`` only what was already seen (``None`` if nothing was); with it one ``GET /v2/`` when
        needed. Pass the ``scopes`` of the request that follows: the token fetched here is then reused.
        """
        with self._ext_lock:
            known = self._features.get(registry.name)
        if known is not None or not probe:
            return known
        deadline = deadline or self.deadline()
        what = f"API check of {escape(str(registry))}"
        response = self.request(
            "GET",
            registry,
            "/v2/",
            scopes=scopes,
            headers={"Accept": "application/json"},
            deadline=deadline,
            what=what,
        )
        read_capped_quiet(response, deadline, what)
        return self._note_features(registry, response.headers)

    def _note_features(self, registry: Registry, headers: Headers) -> RegistryFeatures:
        features = _features_from(headers)
        with self._ext_lock:
            self._features[registry.name] = features
            if features.database is False:
                self._gitlab_v1[registry.name] = False  # /gitlab/v1 needs the database: no need to ask
        return features

    def gitlab_tags(
        self,
        repository: Repository,
        *,
        name: str | None = None,
        name_exact: str | None = None,
        sort: GitLabTagSort = "name",
        limit: int | None = None,
        deadline: Deadline | None = None,
    ) -> list[TagDetail] | None:
        """Every tag of ``repository`` with its digest and dates from GitLab's registry, or ``None`` elsewhere.

        ``GET /gitlab/v1/repositories/<path>/tags/list/`` (gitlab-org/container-registry
        ``docs/spec/gitlab/api.md``, "List Repository Tags"): 1,000 tags per request, pages followed through the
        relative ``Link: <...>; rel="next"``. ``name`` keeps tags containing it (the server's partial match),
        ``name_exact`` the one tag of that name; ``sort`` is ``name`` or ``published_at``, ``-`` for descending
        (``published_at`` needs registry 3.85); ``limit`` stops after that many tags.

        Returns ``None`` when the registry does not serve this API: any registry but GitLab's, or GitLab's
        without its metadata database (404). That answer is remembered for the client's life, so the caller
        falls back to ``/v2/`` (:meth:`tags`, :meth:`head_manifest`) at the cost of one request per process.
        Raises :class:`~ocireg.errors.NotFound` for an unknown repository (``NAME_UNKNOWN``), the usual errors
        otherwise, :class:`~ocireg.errors.ProtocolViolation` for an entry that is not a valid tag with a valid
        digest (a tag name from the server goes into URLs and output).
        """
        if sort not in GITLAB_TAG_SORTS:
            raise ValueError(f"sort must be one of {GITLAB_TAG_SORTS}")
        if name is not None and name_exact is not None:
            raise ValueError("name and name_exact are mutually exclusive")
        if limit is not None and limit < 1:
            raise ValueError("limit must be at least 1")
        registry = repository.registry
        with self._ext_lock:
            if self._gitlab_v1.get(registry.name) is False:
                return None
        deadline = deadline or self.deadline()
        what = f"tag details of {escape(str(repository))}"
        params = [("n", str(GITLAB_TAGS_PAGE if limit is None else min(limit, GITLAB_TAGS_PAGE)))]
        if name is not None:
            params.append(("name", name))
        if name_exact is not None:
            params.append(("name_exact", name_exact))
        if sort != "name":
            params.append(("sort", sort))
        path = f"/gitlab/v1/repositories/{repository.path}/tags/list/"
        current = f"{path}?{urlencode(params)}"
        visited = {current}
        details: list[TagDetail] = []
        seen: set[str] = set()
        for page in range(MAX_LIST_PAGES):
            response = self.request(
                "GET",
                registry,
                current,
                scopes=(repository.scope("pull"),),
                headers={"Accept": "application/json"},
                deadline=deadline,
                what=what,
                ok=(200, 404, 405, 501),
            )
            if response.status != 200:
                error_body = read_capped_quiet(response, deadline, what)
                if page == 0 and (response.status != 404 or not parse_error_body(error_body)):
                    # A 404 without an OCI error body (or 405/501): no /gitlab/v1 here. Not GitLab's registry,
                    # or GitLab's without its metadata database (registry/handlers/app.go, dbAssertionhandler).
                    with self._ext_lock:
                        self._gitlab_v1[registry.name] = False
                    return None
                raise from_response(response.status, response.headers, error_body, what=what)
            with self._ext_lock:
                self._gitlab_v1[registry.name] = True
            links = response.headers.get_list("link")
            body = read_capped(response, LIST_PAGE_LIMIT, deadline=deadline, what=what)
            fresh = [d for d in _tag_details(body, repository, what) if d.name not in seen]
            seen.update(d.name for d in fresh)
            details.extend(fresh)
            if limit is not None and len(details) >= limit:
                return details[:limit]
            if len(details) > MAX_LIST_ITEMS:
                raise ProtocolViolation(f"{what}: more than {MAX_LIST_ITEMS} entries; giving up")
            if name_exact is not None:
                return details  # the server ignores paging for an exact name (and sends no Link)
            following = self._next_page(registry, links, current, visited, bool(fresh), deadline, what)
            if following is None:
                return details
            current = following
        raise ProtocolViolation(f"{what}: more than {MAX_LIST_PAGES} pages; giving up")

    def delete_tag_reference(self, ref: Reference, *, deadline: Deadline | None = None) -> None:
        """``DELETE /v2/<name>/tags/reference/<tag>``: GitLab's own single-tag delete (registry 2.8-gitlab to
        3.x, advertised as ``tag_delete``; removed in 4.0 in favour of the OCI tag delete of
        :meth:`delete_manifest`). It removes the tag only, never the manifest or other tags."""
        if ref.tag is None:
            raise ValueError("delete_tag_reference needs a tag")
        deadline = deadline or self.deadline()
        what = f"delete of {escape(str(ref))}"
        response = self.request(
            "DELETE",
            ref.registry,
            f"/v2/{ref.repository.path}/tags/reference/{ref.tag}",
            scopes=(ref.repository.scope("pull", "delete"),),
            deadline=deadline,
            what=what,
            ok=(200, 202, 204),
        )
        read_capped_quiet(response, deadline, what)


class BlobStream:
    """An open blob GET (from :meth:`RegistryClient.open_blob`): ``size`` and the raw ``chunks()``."""

    def __init__(self, response: Response, *, deadline: Deadline, what: str) -> None:
        self._response = response
        self._deadline = deadline
        self._what = what
        length = response.headers.get("content-length", "")
        self.size: int | None = int(length) if length.isdigit() and len(length) <= 19 else None

    def __enter__(self) -> BlobStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._response.close()

    def chunks(self, chunk_size: int = BLOB_CHUNK_SIZE) -> Iterator[bytes]:
        """The body as received, ``chunk_size`` bytes at a time (memory stays bounded whatever the blob size)."""
        self._response.what = self._what  # failures while reading are raised as ocireg errors naming it
        try:
            for chunk in self._response.iter_raw(chunk_size):
                self._deadline.check(self._what)
                yield chunk
        finally:
            self._response.close()


def _cleanup_budget(deadline: Deadline) -> float:
    """Seconds for a best-effort cleanup request: a few, even when the operation's own budget is spent."""
    left = deadline.remaining()
    return 10.0 if left is None else max(2.0, min(10.0, left))


def verified_chunks(chunks: Iterable[bytes], digest: Digest, size: int, *, what: str) -> Iterator[bytes]:
    """Pass ``chunks`` on while hashing them; the last chunk is released only once size and digest match.

    Holding back one chunk means a consumer that sends what it gets (an upload) never completes a body that
    is too long, too short or does not hash to ``digest``: :class:`~ocireg.errors.DigestMismatch` is raised
    instead of the final chunk (TESTING PC: cross-registry copy streams and verifies).
    """
    hasher = digest.hasher()
    total = 0
    held: bytes | None = None
    for chunk in chunks:
        if not chunk:
            continue
        total += len(chunk)
        if total > size:
            raise DigestMismatch(f"{what}: more bytes than the {size} the descriptor announces")
        hasher.update(chunk)
        if held is not None:
            yield held
        held = chunk
    if total != size:
        raise DigestMismatch(f"{what}: {total} bytes received, the descriptor announces {size}")
    if hasher.hexdigest() != digest.hex:
        raise DigestMismatch(
            f"{what}: the bytes received do not hash to the digest",
            hint="the source registry or a proxy altered the blob; nothing was committed at the destination",
        )
    if held is not None:
        yield held


def _header_digest(headers: Headers, what: str) -> Digest | None:
    value = headers.get("docker-content-digest")
    if value is None:
        return None
    try:
        return Digest.parse(value.strip())
    except InvalidReference as exc:
        # A digest from the server goes into URLs and output: validate before use (BI: malformed digests).
        raise ProtocolViolation(f"{what}: the registry sent an invalid Docker-Content-Digest header") from exc


def _scope_repository(scopes: tuple[str, ...]) -> str | None:
    """The repository a request is about: the first ``repository:NAME:ACTIONS`` scope it asks for.

    Every repository request passes its repository's scope first (a blob mount lists the destination before
    the source), so per-repository credentials follow the repository written to or read from.
    """
    for scope in scopes:
        kind, _, rest = scope.partition(":")
        if kind == "repository":
            name = rest.rpartition(":")[0]
            return name or None
    return None


def _is_index(media_type: str | None) -> bool:
    return media_type in INDEX_TYPES


def _pagination_refused(error: RegistryError) -> bool:
    return error.status == 400 and any(d.code == "PAGINATION_NUMBER_INVALID" for d in error.details)


def _page_items(body: bytes, key: str, what: str) -> list[str]:
    """The ``key`` list of one tags/list or catalog page: strict JSON, ``null`` = empty, strings only."""
    from ocireg.manifest import loads_strict

    doc = loads_strict(body, what=what, error=ProtocolViolation)
    if key not in doc:
        raise ProtocolViolation(f"{what}: the answer has no {key!r} list")
    value = doc[key]
    if value is None:
        return []  # distribution 2.8 answers "tags": null for a repository without tags (docs/architecture.md §5)
    if not isinstance(value, list):
        raise ProtocolViolation(f"{what}: {key!r} is not a list")
    for item in value:
        if not isinstance(item, str) or not item:
            raise ProtocolViolation(f"{what}: {key!r} holds a non-string or empty entry")
    return value


def _features_from(headers: Headers) -> RegistryFeatures:
    version = (headers.get("gitlab-container-registry-version") or "").strip()[:100] or None
    raw = headers.get("gitlab-container-registry-features") or ""
    features = frozenset(f.strip().lower()[:100] for f in raw.split(",")[:50] if f.strip())
    database_text = (headers.get("gitlab-container-registry-database-enabled") or "").strip().lower()
    database = {"true": True, "false": False}.get(database_text)
    return RegistryFeatures(version=version, features=features, database=database)


def _timestamp(value: object, field: str, what: str) -> dt.datetime | None:
    """An ISO 8601 timestamp of the GitLab API (``2023-05-01T00:00:01.000Z``), timezone-aware UTC."""
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > 64:
        raise ProtocolViolation(f"{what}: {field} is not a timestamp")
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00") if value.endswith("Z") else value)
    except ValueError:
        raise ProtocolViolation(f"{what}: {field} {escape(value)!r} is not an ISO 8601 timestamp") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.timezone.utc)
    return parsed.astimezone(dt.timezone.utc)


def _tag_details(body: bytes, repository: Repository, what: str) -> list[TagDetail]:
    """One page of ``/gitlab/v1`` tags: a JSON array of objects; names and digests validated before use."""
    from ocireg.manifest import loads_strict

    # loads_strict parses objects only: wrap the array so the same strict rules apply to it.
    doc = loads_strict(b'{"tags":' + bytes(body) + b"}", what=what, error=ProtocolViolation)["tags"]
    if not isinstance(doc, list):
        raise ProtocolViolation(f"{what}: the answer is not a JSON array")
    out = []
    for item in doc:
        if not isinstance(item, dict):
            raise ProtocolViolation(f"{what}: an entry is not an object")
        name, digest, config = item.get("name"), item.get("digest"), item.get("config_digest")
        try:
            if not isinstance(name, str) or not isinstance(digest, str):
                raise InvalidReference("missing name or digest")
            Reference(repository, name)
            parsed = Digest.parse(digest)
            config_digest = Digest.parse(config) if isinstance(config, str) and config else None
        except InvalidReference:
            shown = escape(str(name))[:200]
            raise ProtocolViolation(f"{what}: entry {shown!r} has an invalid tag name or digest") from None
        media_type = item.get("media_type")
        size = item.get("size_bytes")
        out.append(
            TagDetail(
                name=name,
                digest=parsed,
                media_type=media_type[:255] if isinstance(media_type, str) and media_type else None,
                size=size if isinstance(size, int) and not isinstance(size, bool) and size >= 0 else None,
                config_digest=config_digest,
                created_at=_timestamp(item.get("created_at"), "created_at", what),
                updated_at=_timestamp(item.get("updated_at"), "updated_at", what),
                published_at=_timestamp(item.get("published_at"), "published_at", what),
            )
        )
    return out
