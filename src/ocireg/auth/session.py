"""One session per registry host (docs/architecture.md §7): everything ocireg learns about a registry, in one place.

A :class:`RegistrySession` holds the registry's scheme (decided by policy or a probe, remembered across runs for
loopback registries), the credential per repository, the challenge it answered with (Basic, or a Bearer realm
and service), the tokens fetched for it, the first-wave coordination, its features (what ``GET /v2/`` said)
and its :class:`~ocireg.registries.base.Profile`. One lock per session; :class:`Sessions` is the one map from
host to session, owned by the client. The authentication of one request (:class:`~ocireg.auth.flow.AuthFlow`)
is built from a session and a scope set; the transport below only sends.
"""

from __future__ import annotations

from _thread import allocate_lock  # threading.Lock itself; threading stays off a check's path (#16, start-up)
from collections.abc import Callable, Mapping, Sequence

from ocireg.auth.challenge import Challenge, usable_bearer
from ocireg.auth.realm import validate_realm
from ocireg.auth.tokens import (
    Token,
    TokenKey,
    basic_header,
    bearer_header,
    decode_jwt_claims,
    fetch_token,
    norm_scopes,
    registry_token,
)
from ocireg.errors import (
    AuthenticationFailed,
    ChallengeError,
    OciregError,
    PermissionDenied,
    RegistryError,
    TransportError,
)
from ocireg.registries import GENERIC, Features, Refusal, for_challenge, for_features, for_host

TYPE_CHECKING = False
if TYPE_CHECKING:
    import threading

    from ocireg.credentials import Credential
    from ocireg.reference import Registry
    from ocireg.registries.base import Profile
    from ocireg.tokencache import TokenCache
    from ocireg.transport import Deadline, Transport

__all__ = ["RegistrySession", "Sessions"]


class Wave:
    """A registry's first wave (:meth:`RegistrySession.join_wave`): ``threading.Event``'s ``set``/``is_set``/``wait``,
    with the Event made only when a request has to wait for another. A single check leads its wave and never
    waits, so threading stays off its path (#16, start-up)."""

    __slots__ = ("_event", "_lock", "_set")

    def __init__(self) -> None:
        self._lock = allocate_lock()
        self._set = False
        self._event: threading.Event | None = None

    def is_set(self) -> bool:
        return self._set

    def set(self) -> None:
        with self._lock:
            self._set = True
            event = self._event
        if event is not None:
            event.set()

    def wait(self, timeout: float) -> bool:
        with self._lock:
            if self._set:
                return True
            if self._event is None:
                import threading

                self._event = threading.Event()
            event = self._event
        return event.wait(timeout)


class RegistrySession:
    """What this process knows about one registry; thread-safe, shared by every worker of a client."""

    def __init__(self, registry: Registry, transport: Transport, cache: TokenCache | None = None) -> None:
        self.registry = registry
        self.name = registry.name
        self.transport = transport
        self.cache = cache
        self._lock = allocate_lock()
        self._probing = allocate_lock()
        self._finding = allocate_lock()
        self.profile: Profile = for_host(registry.api_host)
        self.scheme: str | None = None
        self._scheme_from_cache = False
        self._challenge: Challenge | None = None
        self._predicted: Challenge | None = None
        self._basic = False
        self._credentials: dict[str | None, Credential] = {}
        self._tokens: dict[str, Token] = {}
        self._flights: dict[str, threading.Lock] = {}
        # (realm, identity) whose credentials the token service rejected (401): asked once per client, not once
        # per worker or reference (failed logins may count towards a token service's throttling).
        self._rejected: dict[str, AuthenticationFailed] = {}
        self._wave: Wave | None = None
        self.features: Features | None = None
        self.extended_api: bool | None = None
        """Whether the profile's extension API (e.g. a tag-details listing) answers here; ``None``: not asked."""
        self.token_requests = 0

    # -- the scheme ---------------------------------------------------------------------------------------

    def base_url(self, deadline: Deadline) -> str:
        """``https://host[:port]`` or, by policy, ``http://``; loopback probes are remembered in the token cache."""
        host = self.registry.api_host
        if self.scheme is not None:  # every request of a batch asks: decided once per session
            return f"{self.scheme}://{host}"
        known = None
        if self.cache is not None and self.registry.is_loopback:
            known = self.cache.scheme_for(host)
            if known is not None:
                with self._lock:
                    self.scheme, self._scheme_from_cache = known, True
                return f"{known}://{host}"
        with self._probing:  # one probe at a time: a preconnect's and a batch's first requests share it (#25)
            if self.scheme is not None:
                return f"{self.scheme}://{host}"
            decided = self.transport.decide_scheme(self.registry, deadline)
            if decided is None:
                # Nothing listens (yet): that decides nothing (#14 item 8). Try https now, probe again next time.
                return f"https://{host}"
            with self._lock:
                self.scheme = decided
        if self.cache is not None and self.registry.is_loopback and decided != known:
            self.cache.remember_scheme(host, decided)
        return f"{decided}://{host}"

    def reprobe(self, exc: TransportError | RegistryError, base: str, deadline: Deadline) -> str | None:
        """A new base URL if ``exc`` looks like the wrong scheme and the scheme remembered from an earlier run
        was wrong, else ``None`` (#14 item 8).

        A TLS request to a port that now speaks plain HTTP fails as a network error; a plain one to a port that
        now speaks TLS, as a network error or (Go's TLS server) an HTTP 400. The port is probed again, once per
        process; if the probe now says otherwise, the cache is corrected and the request is sent again.
        """
        wrong_scheme = isinstance(exc, TransportError) or (
            base.startswith("http:") and getattr(exc, "status", None) == 400
        )
        with self._lock:
            if not wrong_scheme or not self._scheme_from_cache:
                return None
            self._scheme_from_cache = False
            self.scheme = None
        decided = self.transport.decide_scheme(self.registry, deadline)
        if decided is None:
            return None
        with self._lock:
            self.scheme = decided
        fresh = f"{decided}://{self.registry.api_host}"
        if fresh == base:
            return None
        if self.cache is not None:
            self.cache.remember_scheme(self.registry.api_host, decided)
        return fresh

    # -- credentials --------------------------------------------------------------------------------------

    def credential(self, path: str | None, find: Callable[[], Credential]) -> Credential:
        """The credential for the repository ``path`` (``None``: the registry), found once by ``find``."""
        with self._lock:
            found = self._credentials.get(path)
        if found is not None:
            return found
        with self._finding:  # one lookup at a time: a helper runs once, whichever thread asks first (#25)
            with self._lock:
                found = self._credentials.get(path)
            if found is not None:
                return found
            found = find()
            with self._lock:
                # One object per identity: its fingerprint (a deliberately slow hash) is computed once, not once
                # per repository of a batch.
                same = next((c for c in self._credentials.values() if c == found), found)
                return self._credentials.setdefault(path, same)

    # -- what the registry said ---------------------------------------------------------------------------

    def learn(self, challenges: Sequence[Challenge]) -> None:
        """Recognise the profile by a challenge where the host name did not tell, and keep a Bearer challenge's
        realm and service for :meth:`known_challenge` (not its scope or error)."""
        if self.profile is GENERIC:
            for challenge in challenges:
                found = for_challenge(challenge.scheme, challenge.params)
                if found is not None:
                    self.profile = found
                    break
        bearer = usable_bearer(challenges)
        if bearer is not None and bearer.realm:
            remembered = Challenge("bearer", {"realm": bearer.realm, "service": bearer.service or ""})
            with self._lock:
                self._challenge = remembered

    def recognise(self, profile: Profile) -> None:
        """Take ``profile`` where the host name and the challenge did not tell (its extension API answered)."""
        with self._lock:
            if self.profile is GENERIC:
                self.profile = profile

    def known_challenge(self) -> tuple[Challenge, bool] | None:
        """The Bearer realm/service the registry challenged with before (this process or the cache file), else
        the one :meth:`predict` expects; with whether it is only that prediction (``True``: the registry has not
        said it). Both are read under one lock: a worker that reads the challenge while another drops a failed
        prediction must not take the wrong realm for one the registry sent, and ask it again (LD: single-flight).

        With it a token for a new scope can be fetched before the first request instead of after a 401:
        one round trip less per repository in a batch, and per cold check once the realm is cached.
        """
        with self._lock:
            known = self._challenge
        if known is None and self.cache is not None:
            memo = self.cache.realm_for(self.name)
            if memo is not None:
                known = Challenge("bearer", {"realm": memo[0], "service": memo[1]})
                if self.profile is GENERIC:
                    self.learn([known])
        if known is not None:
            return known, False
        with self._lock:
            predicted = self._predicted
        return (predicted, True) if predicted is not None else None

    def predict(self, realm: str, service: str) -> None:
        """Expect a Bearer challenge for ``realm`` and ``service`` before the registry has answered anything: the
        first request then goes with a token fetched from it (one round trip less), and the token request may
        start before the first request (:meth:`ocireg.client.RegistryClient.preconnect`). The caller vouches
        that the credential for this registry belongs to ``realm``'s host (GitLab CI: the job's GitLab and its
        registry, #25); the realm is still validated like any other before a connection. A registry that
        challenges with something else is followed as usual, and the prediction is not used again."""
        with self._lock:
            self._predicted = Challenge("bearer", {"realm": realm, "service": service})

    def prediction(self) -> Challenge | None:
        """The predicted challenge, until it failed (:meth:`drop_prediction`)."""
        with self._lock:
            return self._predicted

    def drop_prediction(self, failed: Challenge) -> None:
        """The predicted challenge gave no token: the registry's own challenge decides from now on."""
        with self._lock:
            if self._predicted == failed:
                self._predicted = None

    def note_features(self, headers: Mapping[str, str]) -> Features:
        """Keep what a ``GET /v2/`` answer says (the profile's own headers), recognising the profile by them."""
        features = for_features(headers) or Features()
        with self._lock:
            self.features = features
            if features.database is False:
                self.extended_api = False  # the extension API needs the database: no need to ask
            if self.profile is GENERIC and features.profile != GENERIC.name:
                from ocireg.registries import all_profiles

                self.profile = next((p for p in all_profiles() if p.name == features.profile), GENERIC)
        return features

    # -- the first wave -----------------------------------------------------------------------------------

    def join_wave(self, wait: float) -> Wave | None:
        """Let the first request to the registry learn its challenge alone; concurrent ones wait for that answer.

        Without this, every worker of a batch opens with an unauthenticated request and collects its own 401
        (``--jobs 16``: 16 wasted round trips and 16 token requests raced through the single-flight lock).
        Returns the wave to release once this request has an answer: the leader's, or a follower's that stopped
        waiting. A follower waits at most ``wait`` seconds: when the leader's request hangs, the others learn
        the challenge themselves, and the first of them to get an answer releases everyone still waiting.
        """
        with self._lock:
            wave = self._wave
            if wave is None:
                wave = self._wave = Wave()
                return wave
        if wave.is_set() or wave.wait(wait):
            return None
        return wave

    # -- tokens -------------------------------------------------------------------------------------------

    def scopes_for(self, scopes: tuple[str, ...]) -> tuple[str, ...]:
        """The scopes to ask the token service for: the profile's actions for each (docs/architecture.md §11)."""
        out = []
        for scope in scopes:
            kind, _, rest = scope.partition(":")
            name, _, actions = rest.rpartition(":")
            if kind != "repository" or not name:
                out.append(scope)
                continue
            mapped = self.profile.token_actions(tuple(a for a in actions.split(",") if a))
            out.append(f"{kind}:{name}:{','.join(mapped)}")
        return norm_scopes(tuple(out))

    def _key(self, scopes: tuple[str, ...], credential: Credential) -> str:
        return TokenKey(self.name, scopes, credential.fingerprint()).text()

    def cached_header(self, scopes: tuple[str, ...], credential: Credential) -> str | None:
        """An ``Authorization`` value usable without a challenge, if one is known and fresh."""
        if self._basic and credential.username and credential.password:
            return basic_header(credential.username, credential.password)
        scopes = self.scopes_for(scopes)
        key = self._key(scopes, credential)
        with self._lock:
            token = self._tokens.get(key)
        if token is None and self.cache is not None and not credential.registry_token:
            token = self._from_file(scopes, credential)
            if token is not None:
                with self._lock:
                    self._tokens[key] = token
        if token is not None and token.valid():
            return bearer_header(token)
        return None

    def _from_file(self, scopes: tuple[str, ...], credential: Credential) -> Token | None:
        cache = self.cache
        if cache is None:
            return None
        memo = cache.realm_for(self.name)
        if memo is None:
            return None
        realm, service = memo
        if self.profile is GENERIC:
            self.learn([Challenge("bearer", {"realm": realm, "service": service})])
        hit = cache.get(cache.key(self.name, realm, service, scopes, credential.fingerprint()))
        if hit is None:
            return None
        value, expires_at = hit
        return Token(
            value=value,
            expires_at=expires_at,
            scopes=scopes,
            realm=realm,
            service=service,
            claims=decode_jwt_claims(value),
        )

    def last_token(self, scopes: tuple[str, ...], credential: Credential) -> Token | None:
        key = self._key(self.scopes_for(scopes), credential)
        with self._lock:
            return self._tokens.get(key)

    def fetched_here(
        self, scopes: tuple[str, ...], credential: Credential, authorization: str | None
    ) -> bool:
        """True if ``authorization`` is the Bearer token this process fetched for ``scopes`` (not one read from
        the disk cache): asking the token service again would give the same grant."""
        token = self.last_token(scopes, credential)
        return token is not None and token.issued_at > 0 and authorization == bearer_header(token)

    def forget(self, scopes: tuple[str, ...], credential: Credential, *, stale: str | None = None) -> None:
        """Drop the token kept for ``scopes``; with ``stale`` (the refused ``Authorization`` value) only if it is
        still that one: a worker must not throw away the fresh token another worker just fetched (LD: no
        stampede at expiry)."""
        scopes = self.scopes_for(scopes)
        key = self._key(scopes, credential)
        with self._lock:
            current = self._tokens.get(key)
            if stale is not None and current is not None and bearer_header(current) != stale:
                return
            token = self._tokens.pop(key, None)
        if self.cache is not None and token is not None and token.realm:
            self.cache.discard(
                self.cache.key(self.name, token.realm, token.service, scopes, credential.fingerprint())
            )

    def keep(self, token: Token, credential: Credential) -> None:
        """Keep ``token`` in memory for its scopes (a token fetched outside :meth:`authorize`)."""
        with self._lock:
            self._tokens[self._key(token.scopes, credential)] = token

    def authorize(
        self,
        *,
        registry_url: str,
        challenges: Sequence[Challenge],
        scopes: tuple[str, ...],
        credential: Credential,
        deadline: Deadline,
        stale: str | None = None,
        fresh: bool = False,
        observe: Callable[[str, object], None] | None = None,
        expected: bool = False,
    ) -> str:
        """Return an ``Authorization`` value answering ``challenges`` for ``scopes``.

        ``stale`` is the value that was just refused; a token equal to it is not reused. ``fresh``: never a
        token kept from before (``auth explain`` shows what the token service grants now). ``observe`` is told
        each step (``"realm"``, ``"token"``). ``expected``: the challenge is the :meth:`predict`-ed one, not
        one the registry sent: if it gives no token the prediction is dropped, and an expected request still
        waiting then gives up without asking (one request to a wrong prediction, not one per worker).
        """
        bearer = usable_bearer(challenges)
        basic = next((c for c in challenges if c.scheme == "basic"), None)
        if bearer is None and basic is None and any(c.scheme == "bearer" for c in challenges):
            raise ChallengeError(f"{self.name} sent a Bearer challenge without a realm")
        if bearer is not None:
            if not expected:  # a prediction is not what the registry said: kept apart until it answers (#25)
                self.learn([bearer])
            try:
                token = self._bearer(
                    registry_url,
                    bearer,
                    self.scopes_for(scopes),
                    credential,
                    deadline,
                    stale,
                    fresh,
                    observe,
                    expected,
                )
            except OciregError:
                if expected:
                    self.drop_prediction(bearer)
                raise
            return bearer_header(token)
        if basic is not None:
            if not (credential.username and credential.password):
                # Nothing to send: the registry refused an anonymous request (docs/architecture.md §2, exit 4).
                refusal = Refusal(
                    registry=self.name, status=401, credential=credential, scopes=scopes, scheme="basic"
                )
                raise PermissionDenied(
                    f"{self.name} requires a user name and password (Basic auth) and none was found",
                    hint=self.profile.hint(refusal, "denied"),
                )
            header = basic_header(credential.username, credential.password)
            if stale == header:
                refusal = Refusal(
                    registry=self.name,
                    status=401,
                    credential=credential,
                    sent=True,
                    scopes=scopes,
                    scheme="basic",
                )
                raise AuthenticationFailed(
                    f"{self.name} rejected the credentials ({credential.describe()})",
                    hint=self.profile.hint(refusal, "rejected"),
                )
            self._basic = True
            return header
        schemes = ", ".join(sorted({c.scheme for c in challenges})) or "none"
        raise ChallengeError(
            f"{self.name} asks for an authentication scheme ocireg does not support ({schemes})"
        )

    def _bearer(
        self,
        registry_url: str,
        challenge: Challenge,
        scopes: tuple[str, ...],
        credential: Credential,
        deadline: Deadline,
        stale: str | None,
        fresh: bool,
        observe: Callable[[str, object], None] | None,
        expected: bool = False,
    ) -> Token:
        if not challenge.realm:
            raise ChallengeError(f"{self.name} sent a Bearer challenge without a realm")
        given = registry_token(credential, scopes)
        if given is not None:
            return given
        key = self._key(scopes, credential)
        with self._lock:
            flight = self._flights.setdefault(key, allocate_lock())
        with flight:
            with self._lock:
                token = self._tokens.get(key)
            if not fresh and token is not None and token.valid() and bearer_header(token) != stale:
                return token  # another worker fetched it while we waited
            if expected and self.prediction() != challenge:
                raise ChallengeError(f"{self.name}: the predicted token realm gave no token")
            realm = validate_realm(challenge.realm, registry_url)
            if observe is not None:
                observe("realm", realm)
            login = f"{realm}|{credential.fingerprint()}"
            with self._lock:
                rejected = self._rejected.get(login)
            if rejected is not None:
                raise AuthenticationFailed(rejected.message, hint=rejected.hint)
            with self._lock:
                self.token_requests += 1
            service = challenge.service or ""
            try:
                token = fetch_token(
                    self.transport,
                    registry=self.name,
                    realm=realm,
                    service=service,
                    scopes=scopes,
                    credential=credential,
                    deadline=deadline,
                    profile=self.profile,
                )
            except AuthenticationFailed as exc:
                if not credential.is_anonymous:
                    with self._lock:
                        self._rejected[login] = exc
                raise
            with self._lock:
                self._tokens[key] = token
            if observe is not None:
                observe("token", token)
            if self.cache is not None:
                self.cache.put(
                    self.cache.key(self.name, realm, service, scopes, credential.fingerprint()),
                    token.value,
                    token.expires_at,
                    registry=self.name,
                    realm=realm,
                    service=service,
                )
            return token


class Sessions:
    """The one map from registry host to :class:`RegistrySession`, owned by the client."""

    def __init__(self, transport: Transport, cache: TokenCache | None = None) -> None:
        self.transport = transport
        self.cache = cache
        self._lock = allocate_lock()
        self._sessions: dict[str, RegistrySession] = {}

    def get(self, registry: Registry) -> RegistrySession:
        with self._lock:
            session = self._sessions.get(registry.name)
            if session is None:
                session = self._sessions[registry.name] = RegistrySession(
                    registry, self.transport, self.cache
                )
            return session

    def all(self) -> list[RegistrySession]:
        with self._lock:
            return list(self._sessions.values())

    @property
    def token_requests(self) -> int:
        """Token requests made through every session (for tests and ``--debug``)."""
        return sum(s.token_requests for s in self.all())
