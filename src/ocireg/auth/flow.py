"""The authentication of one request (docs/architecture.md §7): built from a registry's session and a scope set.

The request loop (``ocireg.client.core``) asks :meth:`AuthFlow.headers` before each attempt, tells the flow every
answer (:meth:`AuthFlow.answered`), hands each 401 to :meth:`AuthFlow.challenged` and any other refusal to
:meth:`AuthFlow.failure`; the flow decides the rest, in the manner of go-containerregistry's
``bearerTransport.RoundTrip``. The transport below only sends: nothing calls back up from it.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlsplit

from ocireg.auth.challenge import Challenge, parse_challenges, usable_bearer
from ocireg.auth.refusal import judged, unchallenged_refusal
from ocireg.auth.tokens import merge_scopes, read_capped_quiet, same_resources
from ocireg.errors import (
    AuthenticationFailed,
    OciregError,
    PermissionDenied,
    RateLimited,
    RegistryError,
    Unsupported,
    from_response,
    parse_error_body,
)
from ocireg.record import replace
from ocireg.registries import Refusal
from ocireg.response import Response

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ocireg.auth.session import RegistrySession, Wave
    from ocireg.credentials import Credential
    from ocireg.transport import Deadline

__all__ = ["AuthFlow", "FlowObserver"]


class FlowObserver:
    """Told each step of a request's authentication, in order: ``("sent", scheme or None)``, ``("challenge",
    [Challenge, ...])``, ``("realm", url)``, ``("token", Token)``, ``("answer", Response)``.

    ``auth explain`` reads the real flow through one (it sends nothing of its own); ``fresh``: the flow uses no
    token kept from before and no remembered challenge, so the steps show what the registry says now.
    """

    def __init__(self, *, fresh: bool = True) -> None:
        self.fresh = fresh
        self.events: list[tuple[str, object]] = []

    def __call__(self, event: str, value: object) -> None:
        self.events.append((event, value))

    def last(self, event: str) -> object | None:
        return next((v for e, v in reversed(self.events) if e == event), None)


class AuthFlow:
    """The authentication of one request: one registry session, one scope set, one credential (#15 item 1).

    * what to send: a cached token; or, the registry's realm being known, a token fetched before the first
      attempt (no 401 round trip), never for a streamed body;
    * on a 401: answer the challenge with one token request; on ``insufficient_scope`` naming more actions on
      the resources asked for, widen the scopes once (``delete`` is its own action, docs/architecture.md §5);
      a cached token the registry no longer accepts is dropped and fetched afresh once; anything else gives
      up with an error by cause, judged by the registry's profile (exit 3 rejected, exit 4 denied);
    * the first wave: while the first request to a registry learns its challenge, the others wait for it
      (:meth:`RegistrySession.join_wave`); any answer but a 401, or leaving the ``with`` block, releases them.
    """

    def __init__(
        self,
        session: RegistrySession,
        scopes: tuple[str, ...],
        credential: Credential,
        *,
        registry_url: str,
        deadline: Deadline,
        what: str,
        method: str = "GET",
        operation: str | None = None,
        streamed: bool = False,
        wait: float | None = None,
        observer: FlowObserver | None = None,
    ) -> None:
        """``streamed``: the body cannot be sent twice; ``wait``: at most this long for the first request to
        the registry to learn its challenge (the first wave), ``None`` for no part in it; ``operation``: what
        the request does, for a profile that does not support it (``"delete-tag"``, ``"delete-manifest"``)."""
        self.session = session
        self.registry = session.name
        self.registry_url = registry_url
        self.scopes = scopes
        self.credential = credential
        self.method = method
        self.operation = operation
        self._deadline = deadline
        self._what = what
        self._streamed = streamed
        self._wait = wait  # None: this flow takes no part in the first wave
        self._wave: Wave | None = None
        self._observer = observer
        self._start()

    def _start(self) -> None:
        """Nothing sent yet: the first :meth:`header` decides what to send."""
        self._authorization: str | None = None
        self._started = False
        self._fetched = 0  # token requests made by this flow

    def __enter__(self) -> AuthFlow:
        if self._wait is not None:
            self._wave = self.session.join_wave(self._wait)
        return self

    def __exit__(self, *exc: object) -> None:
        self._release()

    def moved(self, registry_url: str) -> AuthFlow:
        """The same flow afresh for the registry's new base URL (its scheme changed, #14 item 8), outside the
        first wave."""
        import copy  # only when a registry's scheme changed mid-run

        fresh = copy.copy(self)
        fresh.registry_url = registry_url
        fresh._wait = fresh._wave = None
        fresh._start()
        return fresh

    @property
    def _fresh(self) -> bool:
        return self._observer is not None and self._observer.fresh

    def _observe(self, event: str, value: object) -> None:
        if self._observer is not None:
            self._observer(event, value)

    def header(self) -> str | None:
        """The ``Authorization`` value to send now (``None``: send without one and learn the challenge)."""
        if not self._started:
            self._started = True
            self._authorization = self._first_header()
        return self._authorization

    def headers(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """``extra`` with the ``Authorization`` value of :meth:`header`, if any."""
        out = dict(extra or {})
        authorization = self.header()
        if authorization:
            out["Authorization"] = authorization
        self._observe("sent", authorization.split(" ", 1)[0].lower() if authorization else None)
        return out

    def answered(self, response: Response | None) -> None:
        """An attempt ended (``None``: a connection failure being retried): anything but a 401 says there is no
        challenge to learn, so the workers waiting on the first wave may go and share the backoff."""
        if response is not None:
            self._observe("answer", response)
        if response is None or response.status != 401:
            self._release()

    def challenged(self, response: Response) -> None:
        """Answer a 401: afterwards :meth:`header` is the value to send again. Raises when the flow gives up."""
        if self._streamed:
            # A streamed body was consumed by this attempt and cannot be sent again after the challenge
            # (upload_blob authorizes with its POST first, so this means the token died mid-upload).
            response.close()
            raise RegistryError(
                f"{self._what}: the registry asked for authentication again during a streamed upload",
                hint="the token expired while uploading; run the command again",
                status=401,
            )
        if urlsplit(response.url).netloc != urlsplit(self.registry_url).netloc:
            # A challenge from another host (after a redirect) never gets our credentials (docs/architecture.md §4).
            response.close()
            raise PermissionDenied(
                f"{self._what}: a redirect target on another host asked for credentials; refused"
            )
        values = response.headers.get_list("www-authenticate")
        body = read_capped_quiet(response, self._deadline, self._what)
        challenges = parse_challenges(values)
        self._observe("challenge", challenges)
        self.session.learn(challenges)  # the realm is known now, and perhaps the profile
        bearer = usable_bearer(challenges)
        if self._wave is not None:
            # The waiting workers fetch their tokens (single-flight per scope) instead of each collecting a 401.
            self._release()
        if not challenges:
            raise self._unchallenged(body)
        basic = next((c for c in challenges if c.scheme == "basic"), None)
        if self._authorization is not None and bearer is None and basic is not None and self._sent_bearer():
            # A Basic challenge to a Bearer token (one registry's answer to a token without the grant): the token
            # was not accepted for this. One read from the cache file (an earlier run's grant) is dropped and the
            # challenge learned again without it, once, as for a Bearer refusal; else nothing better to send.
            stale = self._authorization
            if self._fetched == 0 and not self.session.fetched_here(self.scopes, self.credential, stale):
                self.session.forget(self.scopes, self.credential, stale=stale)
                self._authorization = None
                return
            raise self._refused(None, scheme="basic")
        if self._authorization is not None:
            self._after_refusal(bearer)
        if self._fetched >= 2:
            raise self._refused(bearer)
        self._authorization = self.session.authorize(
            registry_url=self.registry_url,
            challenges=challenges,
            scopes=self.scopes,
            credential=self.credential,
            deadline=self._deadline,
            stale=self._authorization,
            fresh=self._fresh,
            observe=self._observer,
        )
        self._fetched += 1

    def failure(self, response: Response) -> OciregError:
        """The error for an answer that is neither a 401 nor wanted, judged by the registry's profile."""
        body = read_capped_quiet(response, self._deadline, self._what)
        return self.failure_from(response.status, response.headers, body)

    def failure_from(self, status: int, headers: Mapping[str, str], body: bytes) -> OciregError:
        redact = self.session.transport.secrets.redact
        failure = from_response(status, headers, body, what=self._what, redact=redact)
        profile = self.session.profile
        if isinstance(failure, Unsupported) and self.operation is not None:
            said = profile.unsupported(self.operation, status)
            if said is not None:
                failure.message = f"{self._what}: {said}"
                failure.hint = None
            return failure
        if isinstance(failure, PermissionDenied | AuthenticationFailed):
            refusal = self._refusal(status, body, scheme=None)
            return judged(refusal, profile, failure.message)
        if isinstance(failure, RateLimited):
            failure.hint = profile.rate_limit_hint(self.credential) or failure.hint
            return failure
        if 400 <= status < 500 and status not in (404, 429):
            # A status the spec gives no meaning of refusal may be one on some family (a 412 for a tag a policy
            # protects, docs/architecture.md §11): its profile says so, the generic one never does.
            refusal = self._refusal(status, body, scheme=None)
            if profile.judge(refusal) is not None:
                return judged(refusal, profile, failure.message)
        return failure

    def _sent_bearer(self) -> bool:
        return (self._authorization or "").startswith("Bearer ")

    def _sent(self) -> bool:
        """Whether a credential went with the request: a token from an anonymous token request is not one."""
        return self._authorization is not None and not self.credential.is_anonymous

    def _refusal(self, status: int, body: bytes, *, scheme: str | None, error: str | None = None) -> Refusal:
        from ocireg.auth.refusal import server_message

        token = self.session.last_token(self.scopes, self.credential)
        granted = token.granted() if token is not None else None
        return Refusal(
            registry=self.registry,
            status=status,
            credential=self.credential,
            sent=self._sent(),
            scopes=self.scopes,
            codes=frozenset(d.code for d in parse_error_body(body)),
            message=server_message(body, self.credential, redact=self.session.transport.secrets.redact),
            scheme=scheme,
            error=error,
            granted_nothing=granted == [],
        )

    def _unchallenged(self, body: bytes) -> OciregError:
        token = self.session.last_token(self.scopes, self.credential)
        return unchallenged_refusal(
            body,
            what=self._what,
            registry=self.registry,
            credential=self.credential,
            sent=self._sent(),
            scopes=self.scopes,
            profile=self.session.profile,
            redact=self.session.transport.secrets.redact,
            granted_nothing=token is not None and token.granted() == [],
        )

    def denied_hint(self) -> str | None:
        """Why access to the scopes was denied: no credentials, an empty grant, or a grant without them."""
        refusal = self._refusal(401, b"", scheme="bearer", error="insufficient_scope")
        return self.session.profile.hint(refusal, "denied")

    def _first_header(self) -> str | None:
        if self._fresh:
            return None
        session = self.session
        authorization = session.cached_header(self.scopes, self.credential)
        if authorization is None and not self._streamed:
            found = session.known_challenge()
            if found is not None:
                known, expected = found
                # The registry's realm is known: fetch the token first and skip the 401 round trip. If the
                # realm moved, the registry answers 401 and challenged() refreshes once.
                try:
                    authorization = session.authorize(
                        registry_url=self.registry_url,
                        challenges=[known],
                        scopes=self.scopes,
                        credential=self.credential,
                        deadline=self._deadline,
                        expected=expected,
                    )
                except OciregError:
                    if not expected:
                        raise
                    authorization = None  # only predicted, never seen: the registry's own challenge decides
        return authorization

    def _after_refusal(self, bearer: Challenge | None) -> None:
        """The registry refused the value sent: widen the scopes once, drop a stale token once, or give up."""
        error = bearer.error if bearer else None
        widened = merge_scopes(self.scopes, same_resources(self.scopes, bearer.scope if bearer else None))
        if error == "insufficient_scope" and widened != self.scopes and self._fetched < 2:
            self.scopes = widened  # e.g. DELETE needs the "delete" action: one re-auth (PC)
            return
        fetched_here = self.session.fetched_here(self.scopes, self.credential, self._authorization)
        if self._fetched == 0 and not (error == "insufficient_scope" and fetched_here):
            # A cached token the registry no longer accepts (expired early, revoked, invalid_token, or from the
            # disk cache with an outdated grant): forget it and fetch a fresh one, once. A token this process
            # fetched that lacks the scope would come back the same (a token service may drop scopes
            # silently): that is refused, not re-fetched per reference (LD: single-flight).
            self.session.forget(self.scopes, self.credential, stale=self._authorization)
            return
        raise self._refused(bearer)

    def _refused(self, bearer: Challenge | None, *, scheme: str | None = None) -> OciregError:
        """Giving up: credentials rejected, access denied, or a token the registry does not accept."""
        credential = self.credential
        refusal = self._refusal(
            401,
            b"",
            scheme=scheme or (bearer.scheme if bearer else "basic"),
            error=bearer.error if bearer else None,
        )
        token = self.session.last_token(self.scopes, credential)
        granted = token.grants(self.scopes[0]) if token is not None and self.scopes else None
        profile = self.session.profile
        if bearer is not None and granted is False and refusal.sent:
            refusal = replace(refusal, error="insufficient_scope")
        verdict = profile.verdict(refusal)
        if credential.is_anonymous:
            return judged(refusal, profile, f"{self._what}: anonymous access denied")
        if verdict == "denied":
            return judged(refusal, profile, f"{self._what}: access denied for {credential.describe()}")
        if bearer is None:
            return judged(
                refusal,
                profile,
                f"{self._what}: {self.registry} rejected the credentials ({credential.describe()})",
            )
        return AuthenticationFailed(
            f"{self._what}: the registry rejected the token obtained for {credential.describe()}",
            hint="the token service and the registry disagree (issuer, service or clock); try --debug",
        )

    def _release(self) -> None:
        if self._wave is not None:
            self._wave.set()
