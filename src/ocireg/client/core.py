"""The request core of :class:`~ocireg.client.RegistryClient` (#15 item 2): the credential per registry, the base
URL, the one request path (its authentication is :class:`ocireg.auth.AuthFlow`'s, docs/architecture.md §7), the
next-page link shared by every listing, and what ``GET /v2/`` says about a registry.
"""

from __future__ import annotations

import functools
from _thread import allocate_lock  # threading.Lock itself; threading stays off a check's path (#16, start-up)
from collections.abc import Iterator, Mapping

from ocireg.auth import Authenticator, AuthFlow, read_capped_quiet
from ocireg.connection import split_url
from ocireg.credentials import ANONYMOUS, Credential
from ocireg.errors import (
    CredentialError,
    InvalidReference,
    NotFound,
    ProtocolViolation,
    RegistryError,
    TransportError,
)
from ocireg.record import record
from ocireg.reference import Digest, Registry
from ocireg.response import Headers, Response
from ocireg.text import escape, is_utf8
from ocireg.transport import Deadline, Transport, TransportConfig

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Protocol, TypeVar

    _Client = TypeVar("_Client", bound="ClientCore")
else:
    # typing costs a check more than this module (#16, start-up): mypy sees the Protocol, run time a plain class
    Protocol = object

#: One tags/list or catalog page (distribution 2.8 sends every tag in one page: ~150 KB per 1,000 tags).

LIST_PAGE_LIMIT = 16 * 1024 * 1024
#: Pages followed before a listing gives up (a registry that never stops paginating).
MAX_LIST_PAGES = 1000
MAX_LIST_ITEMS = 1_000_000


class CredentialLookup(Protocol):
    """Anything that finds the credential for a registry (``ocireg.credentials.Chain`` does)."""

    def lookup(self, registry: Registry) -> Credential: ...


def _check_sendable(credential: Credential) -> None:
    """Refuse, before anything is sent, a credential that cannot go into an ``Authorization`` header (#14 item 4).

    A byte that is not UTF-8 (from stdin or the environment, surrogate-escaped by Python) or an unpaired
    surrogate (a ``"\\ud800"`` escape in a JSON config) would otherwise fail while the header is built, as an
    internal error naming the character and its position — which tells the password's length. Bearer tokens
    must be printable ASCII. The message names the source and the field, never the value.
    """
    fields = {"user name": credential.username, "password": credential.password}
    fields["identity token"] = credential.identity_token
    for name, value in fields.items():
        if value is not None and not is_utf8(value):
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


class _Fixed:
    def __init__(self, credential: Credential) -> None:
        self._credential = credential

    def lookup(self, registry: Registry) -> Credential:
        return self._credential


@record(frozen=True)
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


class ClientCore:
    """Credentials, base URLs and the one request path; the nouns (blobs, manifests, ...) build on it."""

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
        self._cred_lock = allocate_lock()
        self._schemes_from_cache: set[str] = set()  # registries whose scheme a previous run decided
        # GitLab extensions, per registry name for this client's life: /v2/ headers seen, /gitlab/v1 available.
        self._features: dict[str, RegistryFeatures] = {}
        self._gitlab_v1: dict[str, bool] = {}
        self._ext_lock = allocate_lock()

    def __enter__(self: _Client) -> _Client:
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
        flow = AuthFlow(
            self.auth,
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
        statuses: list[int | None] = []

        def attempted(status: int | None) -> None:
            statuses.append(status)
            flow.on_attempt(status)

        while True:
            response = self.transport.send(
                method,
                url,
                headers=flow.headers(headers),
                content=content,
                deadline=deadline,
                what=what,
                on_attempt=attempted,
            )
            if response.status != 401:
                break
            flow.challenged(response)
        if response.status in ok:
            return response
        if response.status == 404 and split_url(response.url).origin != split_url(url).origin:
            response.close()
            # A redirect's target is no registry: its 404 says nothing about the image (exit 6, not "absent").
            raise RegistryError(
                f"{what}: redirected to {escape(split_url(response.url).origin)}, which answered HTTP 404; "
                "another host's answer is no registry statement",
                status=404,
            )
        failure = flow.failure(response)
        if isinstance(failure, NotFound) and method == "DELETE":
            # A retry's 404 after an attempt that failed (5xx, or the answer lost): that attempt may have done
            # the work (#23); the caller decides what it means.
            failure.after_retry = response.replayed or any(s is None or s >= 500 for s in statuses[:-1])
        raise failure

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

    def base_url(self, registry: Registry, deadline: Deadline | None = None) -> str:
        """``https://host[:port]`` (or ``http://`` by policy) of ``registry``: what every request path is under."""
        return self._base_url(registry, deadline or self.deadline())

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


def _features_from(headers: Headers) -> RegistryFeatures:
    version = (headers.get("gitlab-container-registry-version") or "").strip()[:100] or None
    raw = headers.get("gitlab-container-registry-features") or ""
    features = frozenset(f.strip().lower()[:100] for f in raw.split(",")[:50] if f.strip())
    database_text = (headers.get("gitlab-container-registry-database-enabled") or "").strip().lower()
    database = {"true": True, "false": False}.get(database_text)
    return RegistryFeatures(version=version, features=features, database=database)
