"""The request core of :class:`~ocireg.client.RegistryClient` (#15 item 2): one session per registry
(:class:`ocireg.auth.RegistrySession`: scheme, credentials, challenge, tokens, features, profile), the one request
path (its authentication is :class:`ocireg.auth.AuthFlow`'s, docs/architecture.md §7), the next-page link shared
by every listing, and what ``GET /v2/`` says about a registry.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator, Mapping

from ocireg.auth import AuthFlow, FlowObserver, RegistrySession, Sessions, read_capped_quiet, validate_realm
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
from ocireg.reference import Digest, Registry
from ocireg.registries import Features as RegistryFeatures
from ocireg.response import Headers, Response
from ocireg.text import escape, is_utf8
from ocireg.transport import Deadline, Transport, TransportConfig

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Protocol, TypeVar

    from ocireg.auth import Challenge
    from ocireg.reference import Repository

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
        #: The one map from registry host to its session (docs/architecture.md §7).
        self.sessions = Sessions(self.transport, cache)

    def __enter__(self: _Client) -> _Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.transport.close()

    def deadline(self) -> Deadline:
        """A fresh deadline for one operation (``config.deadline`` seconds)."""
        return Deadline(self.config.deadline)

    def preconnect(self, repositories: Iterable[Repository]) -> None:
        """Start, each on a thread of its own, what the first request to each repository's registry will need:
        the connection (a loopback registry's scheme probe is that connection) and, where the registry's token
        realm is predicted (:meth:`ocireg.auth.RegistrySession.predict`), the token for the repository, while
        the caller goes on; the request then finds both ready or waits for them (#25). The connection carries no
        request; the token request goes to the predicted realm, validated like any, with the repository's
        credential."""
        from _thread import start_new_thread

        seen: set[str] = set()
        for repository in repositories:
            registry = repository.registry
            if registry.name in seen:
                continue
            seen.add(registry.name)
            session = self.session(registry)
            found = session.known_challenge()  # predicted, or remembered from an earlier run (#25 items 1, 2)
            if found is not None:  # first: the token's path (TCP, TLS, token) is the longer one
                start_new_thread(self._prefetch, (session, *found, repository))
            remembered = (
                self._cache.scheme_for(registry.api_host) if self._cache and registry.is_loopback else None
            )
            if registry.is_loopback and session.scheme is None and remembered is None:
                start_new_thread(self._probe, (session,))  # its handshake is kept as the first connection
                continue
            # A failure here (an unreadable CA file, say) is the request's to report.
            try:  # noqa: SIM105 -- contextlib is not on a check's path (#16, start-up)
                self.transport.preconnect(session.base_url(self.deadline()))
            except (TransportError, OSError, ValueError):
                pass

    def _probe(self, session: RegistrySession) -> None:
        try:  # noqa: SIM105 -- contextlib is not on a check's path (#16, start-up)
            session.base_url(self.deadline())
        except Exception:  # noqa: BLE001, S110 -- the request meets the same failure and reports it
            pass

    def _prefetch(
        self, session: RegistrySession, known: Challenge, predicted: bool, repository: Repository
    ) -> None:
        """The token from a known realm (predicted, or remembered with an expired token), fetched while the
        registry's connection opens, unless a valid one is kept; the first request's flow takes it (or waits for
        it: one token request per scope, single-flight). The realm is validated as if the registry spoke HTTPS
        until its scheme is known: never a looser rule than the real one (an https registry admits no http
        realm)."""
        registry_url = f"{session.scheme or 'https'}://{session.registry.api_host}"
        scopes = (repository.scope("pull"),)
        try:
            if self._cache is None or self._cache.realm_for(session.name) is None:
                # Nothing kept for this registry: a token will be fetched. The realm's connection first (validated
                # as the token request will validate it, before any connection); the credential, its fingerprint
                # and the token cache meanwhile.
                realm = split_url(validate_realm(known.realm or "", registry_url))
                self.transport.preconnect(f"{realm.scheme}://{realm.origin}")
            credential = self.credential_for(repository.registry, repository.path)
            if session.cached_header(scopes, credential) is None:
                session.authorize(
                    registry_url=registry_url,
                    challenges=[known],
                    scopes=scopes,
                    credential=credential,
                    deadline=self.deadline(),
                    expected=predicted,
                )
        except Exception:  # noqa: BLE001, S110 -- the request's own flow meets it and falls back
            pass

    def credential_for(self, registry: Registry, path: str | None = None) -> Credential:
        """The credential used for ``registry`` (for the repository ``path`` in it, if given), looked up once.

        With ``path``, a lookup that knows per-repository keys (``Chain.lookup_in``: the containers auth files'
        ``host/group/project`` keys) is asked for the repository; a helper still runs at most once per registry
        (the sources cache its answer per host).
        """

        def find() -> Credential:
            scoped = getattr(self._lookup, "lookup_in", None) if path is not None else None
            found = scoped(registry, path) if scoped is not None else self._lookup.lookup(registry)
            _check_sendable(found)
            return found

        return self.session(registry).credential(path, find)

    def session(self, registry: Registry) -> RegistrySession:
        """The session of ``registry`` (one per host, made at first use)."""
        return self.sessions.get(registry)

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
        observer: FlowObserver | None = None,
    ) -> Response:
        """Send a request to ``registry`` with authentication; return the open response if its status is in ``ok``.

        Any other status is classified by :func:`ocireg.errors.from_response` and raised. On a 401 the challenge
        is answered (one token request), and once more at most on ``insufficient_scope`` or ``invalid_token``
        (:class:`ocireg.auth.AuthFlow` decides). ``observer`` sees each step of the authentication (``auth
        explain``).
        """
        session = self.session(registry)
        base = session.base_url(deadline)
        credential = self.credential_for(registry, _scope_repository(scopes))
        streamed = content is not None and not isinstance(content, bytes)
        wait = deadline.clamp(self.config.timeout) / 2
        flow = AuthFlow(
            session,
            scopes,
            credential,
            registry_url=base,
            deadline=deadline,
            what=what,
            method=method,
            operation=_operation(method, path),
            streamed=streamed,
            wait=None if observer is not None else wait,
            observer=observer,
        )
        with flow:
            send = functools.partial(self._exchange, method, path, headers, content, deadline, what, ok)
            try:
                response = send(flow)
            except (TransportError, RegistryError) as exc:
                fresh = None if streamed else session.reprobe(exc, base, deadline)
                if fresh is None:
                    raise
                response = send(flow.moved(fresh))
        if path == "/v2/" and response.status == 200:
            session.note_features(response.headers)  # a registry's extension headers, when seen
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
        statuses: list[
            int | None
        ] = []  # every attempt's status (None: a connection failure), retries included
        while True:
            response: Response | None = None
            for response in self.transport.attempts(
                method,
                url,
                headers=flow.headers(headers),
                content=content,
                deadline=deadline,
                what=what,
            ):
                statuses.append(response.status if response is not None else None)
                flow.answered(response)  # each attempt, a retried one too: the first wave may go on
            if response is None:  # pragma: no cover - attempts() ends with an answer or raises
                raise TransportError(f"{what}: no response")
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
        if method == "HEAD" and flow.session.profile.reads_refusal_body(response.status):
            # The refusal came without a body (a HEAD): the registry's words are read with a GET, once, so the
            # message says what the registry said (an expired token, a missing permission).
            response.close()
            again = self.transport.send(
                "GET", url, headers=flow.headers(headers), deadline=deadline, what=what
            )
            if again.status == response.status:
                raise flow.failure(again)
            again.close()
        failure = flow.failure(response)
        if isinstance(failure, NotFound) and method == "DELETE":
            # A retry's 404 after an attempt that failed (5xx, or the answer lost): that attempt may have done
            # the work (#23); the caller decides what it means.
            failure.after_retry = response.replayed or any(s is None or s >= 500 for s in statuses[:-1])
        raise failure

    def _base_url(self, registry: Registry, deadline: Deadline) -> str:
        return self.session(registry).base_url(deadline)

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
        known = self.session(registry).features
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
        return self.session(registry).note_features(response.headers)


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


def _operation(method: str, path: str) -> str | None:
    """What a request does, where a registry's profile may say it does not support it."""
    if method != "DELETE":
        return None
    reference = path.rsplit("/", 1)[-1]
    if "/manifests/" in path and reference.startswith(("sha256:", "sha512:")):
        return "delete-manifest"
    return "delete-tag"
