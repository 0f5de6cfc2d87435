"""Registry authentication: challenges, the realm policy, token requests and the in-process token store.

One code path serves every flow (pull, push, delete, re-challenge): the client sends, gets a 401 with a
``WWW-Authenticate`` challenge (RFC 7235), and asks :class:`Authenticator` for an ``Authorization`` value.

* Bearer (Docker token spec, https://distribution.github.io/distribution/spec/auth/token/): GET the realm with
  ``service`` and ``scope``, Basic credentials if any; or the OAuth2 POST with an identity token
  (https://distribution.github.io/distribution/spec/auth/oauth/), falling back to GET when the realm answers
  404/405 the way GitLab's ``/jwt/auth`` does.
* Basic: the registry's own host only.

Rules that come from advisories (docs/architecture.md §4): the realm is validated before any connection to it
(:func:`validate_realm`); token requests follow no redirects; a 401 from the token service is never retried
(GitLab counts failed Basic logins towards its abuse throttling).
"""

from __future__ import annotations

import base64
import ipaddress
import json
import math
import re
import time
from _thread import allocate_lock  # threading.Lock itself; threading stays off a check's path (#16, start-up)
from collections.abc import Callable, Mapping, Sequence
from urllib.parse import urlencode, urljoin, urlsplit

from ocireg.connection import split_url
from ocireg.errors import (
    ERROR_BODY_LIMIT,
    AuthenticationFailed,
    ChallengeError,
    NotFound,
    OciregError,
    PermissionDenied,
    ProtocolViolation,
    RealmRejected,
    RegistryError,
    from_response,
    unchallenged_401,
)
from ocireg.link import quoted_string
from ocireg.record import field, record
from ocireg.response import Response
from ocireg.text import escape
from ocireg.transport import Deadline, Transport, read_capped, redact_url

TYPE_CHECKING = False
if TYPE_CHECKING:
    import threading

    from ocireg.credentials import Credential
    from ocireg.tokencache import TokenCache

__all__ = [
    "AuthFlow",
    "Authenticator",
    "Challenge",
    "Token",
    "basic_header",
    "bearer_header",
    "parse_challenges",
    "usable_bearer",
    "validate_realm",
]

TOKEN_BODY_LIMIT = 64 * 1024
MAX_TOKEN_LENGTH = 16 * 1024
DEFAULT_EXPIRES_IN = 60  # Docker token spec: "defaults to 60 seconds"
MIN_EXPIRES_IN = 60
MAX_EXPIRES_IN = 24 * 3600.0
CLIENT_ID = "ocireg"

_TCHAR = set("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


@record(frozen=True)
class Challenge:
    """One ``WWW-Authenticate`` challenge: scheme (lower case) and parameters (names lower case)."""

    scheme: str
    params: Mapping[str, str] = field(default_factory=dict)

    @property
    def realm(self) -> str | None:
        return self.params.get("realm")

    @property
    def service(self) -> str | None:
        return self.params.get("service")

    @property
    def scope(self) -> str | None:
        return self.params.get("scope")

    @property
    def error(self) -> str | None:
        return self.params.get("error")


def parse_challenges(values: Sequence[str]) -> list[Challenge]:
    """Parse ``WWW-Authenticate`` header values (RFC 7235 §4.1) into challenges.

    Handles several challenges in one header, quoted strings with commas and backslash escapes, and token68.
    Each header value is parsed on its own, as Docker's parser does (github.com/distribution/distribution,
    ``internal/client/auth/challenge/authchallenge.go`` ``parseAuthHeader``): a malformed value loses only the
    challenge it breaks (and any after it in the same value), and every challenge that parses is kept, so a
    second header ``Basic realm=/`` beside a good ``Bearer`` challenge does not abort authentication.

    Unlike Docker's parser, a challenge with a malformed parameter is dropped whole rather than kept with the
    parameters read before the fault: a Bearer challenge cut short could lose its ``service`` or ``scope``
    and send a token request the registry did not ask for.

    Raises only :class:`ChallengeError`, and only when nothing parses at all and some value was malformed
    (the first fault is reported). Empty input gives no challenges.
    """
    challenges: list[Challenge] = []
    first_error: ChallengeError | None = None
    for value in values:
        if len(value) > 16 * 1024:
            first_error = first_error or ChallengeError("WWW-Authenticate header too long")
            continue
        parsed, error = _parse_one_header(value)
        challenges.extend(parsed)
        first_error = first_error or error
    if not challenges and first_error is not None:
        raise first_error
    return challenges


def usable_bearer(challenges: Sequence[Challenge]) -> Challenge | None:
    """The first Bearer challenge that has a realm: the one to answer (a realm-less one cannot be).

    With a realm-less Bearer beside a Basic challenge, Basic is answered instead of failing: a challenge the
    flow cannot use is skipped like one that does not parse (#13 item 4).
    """
    return next((c for c in challenges if c.scheme == "bearer" and c.realm), None)


def _parse_one_header(text: str) -> tuple[list[Challenge], ChallengeError | None]:
    """The challenges of one header value that parse completely, and the fault that stopped it (if any)."""
    out: list[Challenge] = []
    try:
        _parse_into(text, out)
    except ChallengeError as exc:
        return out, exc  # ``out`` holds only completed challenges: the broken one never got appended
    return out, None


def _parse_into(text: str, out: list[Challenge]) -> None:
    """Append each challenge of ``text`` to ``out`` as it completes; raise :class:`ChallengeError` at a fault."""
    cursor = _Cursor(text)
    scheme: str | None = None
    params: dict[str, str] = {}
    i = 0
    while True:
        i = cursor.next_item(i)
        if i >= cursor.n:
            break
        token, j = cursor.token(i)
        if not token:
            raise ChallengeError(f"unexpected character {escape(text[i])!r} in WWW-Authenticate")
        k = cursor.skip_ws(j)
        if scheme is not None and cursor.equals_at(k):
            i = cursor.param(token.lower(), k, params)  # an auth-param of the current challenge
            continue
        # a new challenge starts with its scheme
        if scheme is not None:
            out.append(Challenge(scheme, params))
        scheme, params = token.lower(), {}
        i = cursor.token68(k, params)
    if scheme is not None:
        out.append(Challenge(scheme, params))


class _Cursor:
    """Positions in one ``WWW-Authenticate`` value (RFC 7235 §2.1, §4.1); each method returns where it stopped."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.n = len(text)

    def skip_ws(self, j: int) -> int:
        while j < self.n and self.text[j] in " \t":
            j += 1
        return j

    def next_item(self, j: int) -> int:
        """Past whitespace and empty list elements (``, ,``)."""
        j = self.skip_ws(j)
        while j < self.n and self.text[j] == ",":
            j = self.skip_ws(j + 1)
        return j

    def token(self, j: int) -> tuple[str, int]:
        start = j
        while j < self.n and self.text[j] in _TCHAR:
            j += 1
        return self.text[start:j], j

    def equals_at(self, k: int) -> bool:
        """An ``=`` that starts a parameter's value (``==`` is the padding of a token68)."""
        text = self.text
        return k < self.n and text[k] == "=" and not (k + 1 < self.n and text[k + 1] == "=")

    def param(self, name: str, k: int, params: dict[str, str]) -> int:
        """Read ``name=value`` from the ``=`` at ``k`` into ``params``; return the index of the ``,`` or end."""
        k = self.skip_ws(k + 1)
        if k < self.n and self.text[k] == '"':
            quoted = quoted_string(self.text, k)
            if quoted is None:
                raise ChallengeError("unterminated quoted string in WWW-Authenticate")
            value, k = quoted
        else:
            value, k = self.token(k)
            if not value:
                raise ChallengeError(f"missing value for parameter {escape(name)!r} in WWW-Authenticate")
        if name in params:
            raise ChallengeError(f"duplicate parameter {escape(name)!r} in WWW-Authenticate")
        params[name] = value
        i = self.skip_ws(k)
        if i < self.n and self.text[i] != ",":
            raise ChallengeError("expected ',' between WWW-Authenticate parameters")
        return i

    def token68(self, i: int, params: dict[str, str]) -> int:
        """After a scheme: a token68 (e.g. ``Negotiate abc==``) kept as a parameter of its own, or nothing when
        the first auth-param follows (the loop reads it)."""
        if i >= self.n or self.text[i] == ",":
            return i
        peek, p = self.token(i)
        if peek and self.equals_at(self.skip_ws(p)):
            return i
        start = i
        while i < self.n and self.text[i] != ",":
            i += 1
        params["token68"] = self.text[start:i].strip()
        return i


# Names that resolve to loopback without DNS: RFC 6761 §6.3 (``localhost`` and ``*.localhost``) and the names
# Debian's and Fedora's /etc/hosts give ::1.
_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"})
_NAT64 = ipaddress.IPv6Network(
    "64:ff9b::/96"
)  # RFC 6052 well-known prefix: the last 32 bits are an IPv4 address


def socket_address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address the socket layer will connect to for ``host``, if ``host`` is an address at all.

    ``getaddrinfo`` (glibc, musl, BSD libc) reads numeric IPv4 hosts with ``inet_aton``, which also accepts
    ``2130706433``, ``0x7f000001``, ``127.1``, ``0177.0.0.1`` and ``0`` (= 0.0.0.0, which Linux connects to the
    local host); a trailing dot makes no difference to what is reached. IPv6 literals lose brackets and zone
    id; an IPv4-mapped (``::ffff:a.b.c.d``), IPv4-compatible (``::a.b.c.d``) or NAT64 (``64:ff9b::a.b.c.d``)
    address is judged as the IPv4 address it carries. ``None`` for a DNS name (names are not resolved here).
    """
    text = host.strip("[]").split("%", 1)[0].rstrip(".").lower()
    if not text:
        return None
    try:
        addr = ipaddress.ip_address(text)
    except ValueError:
        return _inet_aton(text)
    if isinstance(addr, ipaddress.IPv6Address):
        return _carried_ipv4(addr)
    return addr


def _carried_ipv4(addr: ipaddress.IPv6Address) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """The IPv4 address an IPv4-mapped, IPv4-compatible or NAT64 address carries, else ``addr`` itself."""
    if addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    packed = addr.packed
    # ::a.b.c.d (deprecated, RFC 4291 §2.5.5.1), not :: or ::1; or the NAT64 well-known prefix (RFC 6052).
    if (packed[:12] == bytes(12) and int(addr) > 1) or addr in _NAT64:
        return ipaddress.IPv4Address(packed[12:])
    return addr


def _inet_aton(text: str) -> ipaddress.IPv4Address | None:
    """``text`` read as ``inet_aton`` reads a numeric IPv4 host (``127.1``, ``0x7f000001``...); ``None`` for a name."""
    import socket

    if not re.fullmatch(r"[0-9a-fx.]+", text) or not text[0].isdigit():
        return None  # a name: inet_aton forms always start with a digit
    try:
        return ipaddress.IPv4Address(socket.inet_aton(text))
    except OSError:
        return None


def host_class(host: str) -> str | None:
    """``"loopback"``, ``"link-local"``, ``"private"`` or ``None`` (a public address, or a DNS name).

    Judged on :func:`socket_address`, so ``2130706433``, ``0x7f.1``, ``localhost.`` and ``[::ffff:127.0.0.1]``
    are loopback like ``127.0.0.1``. ``0.0.0.0``/``::`` reach the local host (Linux) and count as loopback;
    every other non-global address (RFC 1918, unique local, CGNAT, reserved, multicast) counts as private.
    """
    name = host.strip("[]").rstrip(".").lower()
    if name in _LOOPBACK_NAMES or name.endswith(".localhost"):
        return "loopback"
    addr = socket_address(host)
    if addr is None:
        return None
    if addr.is_loopback or addr.is_unspecified:
        return "loopback"
    if addr.is_link_local:
        return "link-local"
    if not addr.is_global or addr.is_multicast:
        return "private"
    return None


def validate_realm(realm: str, registry_url: str) -> str:
    """Check a token realm before any connection to it, and return it as an absolute URL.

    The rules (docs/architecture.md §4; the 2026 realm SSRF fixes in other clients; CVE-2024-3727 for the general issue of
    registries steering clients): https only, unless the registry itself is plain HTTP; no userinfo; a realm
    on a loopback, link-local or private address (in any spelling the socket layer accepts, see
    :func:`host_class`) only for a registry in the same class. A relative realm is resolved against the
    registry (same origin, nothing new trusted).
    """
    if any(ord(c) < 0x21 or c == "\x7f" for c in realm):
        raise RealmRejected("token realm contains whitespace or control characters")
    try:
        absolute = urljoin(registry_url.rstrip("/") + "/", realm)
        parts = urlsplit(absolute)
        reg = urlsplit(registry_url)
        _ = parts.port
        target = split_url(absolute)  # what the transport will parse: IDNA host, brackets, port
        registry_host = split_url(registry_url).host
    except ValueError as exc:
        raise RealmRejected("token realm is not a valid URL (bad port or address)") from exc
    if parts.scheme not in ("https", "http"):
        raise RealmRejected(f"token realm must be https: {redact_url(realm)}")
    if parts.scheme == "http" and reg.scheme != "http":
        raise RealmRejected(
            f"token realm {redact_url(realm)} is plain HTTP while the registry uses HTTPS; "
            "refusing to send credentials"
        )
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise RealmRejected("token realm contains userinfo; refusing it")
    if not parts.hostname:
        raise RealmRejected(f"token realm has no host: {redact_url(realm)}")
    # Judge the host the transport will connect to (its IDNA-encoded form), read the way the socket layer
    # reads it: "http://2130706433/" is 127.0.0.1 (#14 item 1).
    realm_class = host_class(target.host)
    registry_class = host_class(registry_host)
    if realm_class is not None and realm_class != registry_class:
        # Each class only for a registry of the same class (#14 item 2): a registry on 10.x has no business
        # sending us to the metadata service (169.254.169.254) or to a loopback admin port.
        where = f"a {registry_class} address" if registry_class else "not on such an address"
        raise RealmRejected(
            f"token realm {escape(parts.hostname)} is a {realm_class} address but the registry "
            f"{escape(reg.hostname or '')} is {where}; refusing it (realm SSRF)"
        )
    return absolute


@record(frozen=True)
class Token:
    """A bearer token and what is known about it. ``claims`` are decoded without verification (display only)."""

    value: str = field(repr=False)
    expires_at: float
    scopes: tuple[str, ...]
    realm: str = ""
    service: str = ""
    claims: Mapping[str, object] = field(default_factory=dict, repr=False)
    issued_at: float = 0.0
    """When this process received it; 0 for tokens from the disk cache or given by the user."""

    def valid(self, now: float | None = None, margin: float = 5.0) -> bool:
        if self.issued_at:
            # A token that lives 5 s must not be born "expired" by a 5 s safety margin (FT: token expiry
            # mid-batch): keep at most a quarter of its lifetime as margin.
            margin = min(margin, max(0.0, self.expires_at - self.issued_at) / 4)
        return (now if now is not None else time.time()) + margin < self.expires_at

    def granted(self) -> list[tuple[str, str, tuple[str, ...]]] | None:
        """The JWT ``access`` claim as (type, name, actions), or ``None`` if the token is not a readable JWT."""
        access = self.claims.get("access")
        if not isinstance(access, list):
            return None
        out = []
        for entry in access:
            if isinstance(entry, dict):
                actions = entry.get("actions")
                out.append(
                    (
                        str(entry.get("type", "")),
                        str(entry.get("name", "")),
                        tuple(str(a) for a in actions) if isinstance(actions, list) else (),
                    )
                )
        return out

    def grants(self, scope: str) -> bool | None:
        """Whether the (unverified) claims grant ``scope``; ``None`` when unknown."""
        granted = self.granted()
        if granted is None:
            return None
        kind, _, rest = scope.partition(":")
        name, _, actions = rest.rpartition(":")
        wanted = set(actions.split(",")) if actions else set()
        for g_kind, g_name, g_actions in granted:
            if (
                g_kind == kind
                and _name_matches(g_name, name)
                and (wanted <= set(g_actions) or "*" in g_actions)
            ):
                return True
        return False


def _name_matches(granted: str, name: str) -> bool:
    """Whether an ``access`` entry's ``name`` covers repository ``name``: equal, or a wildcard grant.

    Token services may grant ``group/*`` or ``*`` (#14 item 11); ``*`` matches any run of characters, ``/``
    included. Repository names cannot contain ``*``, so a literal name never matches by accident.
    """
    if "*" not in granted:
        return granted == name
    pattern = ".*".join(re.escape(part) for part in granted.split("*"))
    return re.fullmatch(pattern, name) is not None


def decode_jwt_claims(token: str) -> dict[str, object]:
    """Decode a JWT payload WITHOUT verifying it: for display and hints only, never for decisions of trust."""
    parts = token.split(".")
    if len(parts) != 3 or len(parts[1]) > MAX_TOKEN_LENGTH:
        return {}
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        doc = json.loads(base64.urlsafe_b64decode(payload.encode("ascii")))
    except (ValueError, UnicodeError, RecursionError):
        return {}
    return doc if isinstance(doc, dict) else {}


def _parse_token_response(body: bytes, *, realm: str, service: str, scopes: tuple[str, ...]) -> Token:
    try:
        doc = json.loads(body.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ProtocolViolation("token service answered something that is not JSON") from exc
    if not isinstance(doc, dict):
        raise ProtocolViolation("token service answered JSON that is not an object")
    value = doc.get("token") or doc.get("access_token")
    if not isinstance(value, str) or not value:
        raise ProtocolViolation("token service answered without a token")
    if len(value) > MAX_TOKEN_LENGTH or any(ord(c) < 0x21 or ord(c) > 0x7E for c in value):
        # A token goes into a header: CR/LF or other control characters would let a hostile realm inject
        # headers into our next request.
        raise ProtocolViolation("token service answered a token with invalid characters or length")
    claims = decode_jwt_claims(value)
    now = time.time()
    lifetime = _jwt_lifetime(claims)
    expires_in = _finite(doc.get("expires_in"))
    if expires_in is not None:
        expires_at = now + max(MIN_EXPIRES_IN, min(expires_in, MAX_EXPIRES_IN))
        if lifetime is not None:
            # The JWT's own lifetime wins when it is shorter (a server that says 300 s but signs 5 s).
            expires_at = min(expires_at, now + lifetime)
    elif lifetime is not None:
        # GitLab sends no expires_in, but its JWTs say they live 5 min (self-managed) or 15 min (gitlab.com):
        # using that instead of the spec's 60 s default saves a token request per minute of CI work. If the
        # claim lies, the registry answers invalid_token and the client refreshes once.
        expires_at = now + lifetime
    else:
        expires_at = now + DEFAULT_EXPIRES_IN
    return Token(
        value=value,
        expires_at=expires_at,
        scopes=scopes,
        realm=realm,
        service=service,
        claims=claims,
        issued_at=now,
    )


def _jwt_lifetime(claims: Mapping[str, object]) -> float | None:
    """Seconds a JWT lives, from its (unverified) ``exp`` and ``iat`` claims.

    ``exp - iat`` measures a duration on the issuer's clock, so a skewed local clock does not matter (FT:
    clock skew). Without ``iat``, ``exp`` is compared with the local clock.
    """
    exp, iat = _finite(claims.get("exp")), _finite(claims.get("iat"))
    if exp is None:
        return None
    lifetime = exp - iat if iat is not None and iat < exp else exp - time.time()
    if lifetime <= 0:
        return None
    return min(lifetime, MAX_EXPIRES_IN)


def _finite(value: object) -> float | None:
    """``value`` as a finite float if it is a JSON number, else ``None`` (an int too large for a float too)."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def _reject_constant(name: str) -> object:
    raise ValueError(f"invalid JSON constant {name}")


@record
class TokenKey:
    registry: str
    scopes: tuple[str, ...]
    identity: str

    def text(self) -> str:
        return f"{self.registry}|{' '.join(self.scopes)}|{self.identity}"


class _Wave:
    """A registry's first wave (:meth:`Authenticator._join_wave`): ``threading.Event``'s ``set``/``is_set``/``wait``,
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


class Authenticator:
    """Turns challenges into ``Authorization`` values; one per client, shared by all worker threads.

    Tokens are kept per (registry, scope set, identity); a per-key lock makes token requests single-flight:
    concurrent workers needing the same token wait for one request instead of stampeding the realm (LD).
    """

    def __init__(self, transport: Transport, *, cache: TokenCache | None = None) -> None:
        self._transport = transport
        self._cache = cache
        self._tokens: dict[str, Token] = {}
        self._basic: dict[str, bool] = {}
        self._realms: dict[str, Challenge] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._lock = allocate_lock()
        # (registry, realm, identity) whose credentials the token service rejected (401): asked once per
        # client, not once per worker or reference (GitLab counts every failed login towards its throttling).
        self._rejected: dict[str, AuthenticationFailed] = {}
        self.token_requests = 0
        self._waves: dict[str, _Wave] = {}  # registry -> the first wave (see AuthFlow)

    def _join_wave(self, registry: str, wait: float) -> _Wave | None:
        """Let the first request to a registry learn its challenge alone; concurrent ones wait for that answer.

        Without this, every worker of a batch opens with an unauthenticated request and collects its own 401
        (``--jobs 16``: 16 wasted round trips and 16 token requests raced through the single-flight lock).
        Returns the event to set once this request has an answer: the leader's, or a follower's that stopped
        waiting. A follower waits at most ``wait`` seconds: when the leader's request hangs (one slow manifest
        at the head of a batch), the others learn the challenge themselves instead of failing with it, and the
        first of them to get an answer releases everyone still waiting.
        """
        with self._lock:
            event = self._waves.get(registry)
            if event is None:
                event = self._waves[registry] = _Wave()
                return event
        if event.is_set() or event.wait(wait):
            return None
        return event

    # -- pre-emptive ----------------------------------------------------------------------------------------

    def remember_challenge(self, registry: str, challenge: Challenge) -> None:
        """Keep a Bearer challenge's realm and service for :meth:`known_challenge` (not its scope or error)."""
        if challenge.scheme == "bearer" and challenge.realm:
            remembered = Challenge("bearer", {"realm": challenge.realm, "service": challenge.service or ""})
            with self._lock:
                self._realms[registry] = remembered

    def known_challenge(self, registry: str) -> Challenge | None:
        """The Bearer realm/service ``registry`` challenged with before (this process or the cache file).

        With it a token for a new scope can be fetched before the first request instead of after a 401:
        one round trip less per repository in a batch, and per cold check once the realm is cached.
        """
        with self._lock:
            known = self._realms.get(registry)
        if known is None and self._cache is not None:
            memo = self._cache.realm_for(registry)
            if memo is not None:
                known = Challenge("bearer", {"realm": memo[0], "service": memo[1]})
        return known

    def cached_header(self, registry: str, scopes: tuple[str, ...], credential: Credential) -> str | None:
        """An ``Authorization`` value usable without a challenge, if one is known and fresh."""
        if self._basic.get(registry) and credential.username and credential.password:
            return basic_header(credential.username, credential.password)
        scopes = _norm(scopes)
        key = _token_key(registry, scopes, credential)
        with self._lock:
            token = self._tokens.get(key)
        if token is None and self._cache is not None and not credential.registry_token:
            token = self._from_file(self._cache, registry, scopes, credential)
            if token is not None:
                with self._lock:
                    self._tokens[key] = token
        if token is not None and token.valid():
            return bearer_header(token)
        return None

    @staticmethod
    def _from_file(
        cache: TokenCache, registry: str, scopes: tuple[str, ...], credential: Credential
    ) -> Token | None:
        memo = cache.realm_for(registry)
        if memo is None:
            return None
        realm, service = memo
        hit = cache.get(cache.key(registry, realm, service, scopes, credential.fingerprint()))
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

    def last_token(self, registry: str, scopes: tuple[str, ...], credential: Credential) -> Token | None:
        key = _token_key(registry, _norm(scopes), credential)
        with self._lock:
            return self._tokens.get(key)

    def fetched_here(
        self, registry: str, scopes: tuple[str, ...], credential: Credential, authorization: str | None
    ) -> bool:
        """True if ``authorization`` is the Bearer token this process fetched for ``scopes`` (not one read from
        the disk cache): asking the token service again would give the same grant."""
        token = self.last_token(registry, scopes, credential)
        return token is not None and token.issued_at > 0 and authorization == bearer_header(token)

    def forget(
        self, registry: str, scopes: tuple[str, ...], credential: Credential, *, stale: str | None = None
    ) -> None:
        """Drop the token kept for ``scopes``; with ``stale`` (the refused ``Authorization`` value) only if it is
        still that one: a worker must not throw away the fresh token another worker just fetched (LD: no
        stampede at expiry)."""
        scopes = _norm(scopes)
        key = _token_key(registry, scopes, credential)
        with self._lock:
            current = self._tokens.get(key)
            if stale is not None and current is not None and bearer_header(current) != stale:
                return
            token = self._tokens.pop(key, None)
        if self._cache is not None and token is not None and token.realm:
            self._cache.discard(
                self._cache.key(registry, token.realm, token.service, scopes, credential.fingerprint())
            )

    def fetch_token(
        self,
        *,
        registry: str,
        registry_url: str,
        challenge: Challenge,
        scopes: tuple[str, ...],
        credential: Credential,
        deadline: Deadline,
    ) -> Token:
        """Ask the realm of a Bearer ``challenge`` for a fresh token for ``scopes`` and return it.

        For diagnostics (``ocireg auth explain``): no cache is read, so the answer shows what the token
        service grants now. The realm is validated first (:func:`validate_realm`, raises
        :class:`RealmRejected`); the token is kept in memory for later requests of this client, like any
        other. Raises what a token request raises (:class:`AuthenticationFailed` on 401, ...).
        """
        realm = _realm_of(registry, challenge)
        scopes = _norm(scopes)
        given = _registry_token(credential, scopes)
        if given is not None:
            return given
        realm = validate_realm(realm, registry_url)
        token = self._fetch(realm, challenge.service or "", scopes, credential, deadline, registry)
        key = _token_key(registry, scopes, credential)
        with self._lock:
            self._tokens[key] = token
        return token

    # -- on a challenge -------------------------------------------------------------------------------------

    def authorize(
        self,
        *,
        registry: str,
        registry_url: str,
        challenges: Sequence[Challenge],
        scopes: tuple[str, ...],
        credential: Credential,
        deadline: Deadline,
        stale: str | None = None,
    ) -> str:
        """Return an ``Authorization`` value answering ``challenges`` for ``scopes``.

        ``stale`` is the value that was just refused; a token equal to it is not reused.
        """
        bearer = usable_bearer(challenges)
        basic = next((c for c in challenges if c.scheme == "basic"), None)
        if bearer is None and basic is None and any(c.scheme == "bearer" for c in challenges):
            raise ChallengeError(f"{registry} sent a Bearer challenge without a realm")
        if bearer is not None:
            self.remember_challenge(registry, bearer)
            token = self._bearer(registry, registry_url, bearer, _norm(scopes), credential, deadline, stale)
            return bearer_header(token)
        if basic is not None:
            if not (credential.username and credential.password):
                raise AuthenticationFailed(
                    f"{registry} requires a user name and password (Basic auth) and none was found",
                    hint=no_credentials_hint(registry, credential),
                )
            header = basic_header(credential.username, credential.password)
            if stale == header:
                raise AuthenticationFailed(
                    f"{registry} rejected the credentials ({credential.describe()})",
                    hint="check the user name and password",
                )
            self._basic[registry] = True
            return header
        schemes = ", ".join(sorted({c.scheme for c in challenges})) or "none"
        raise ChallengeError(
            f"{registry} asks for an authentication scheme ocireg does not support ({schemes})"
        )

    def _bearer(
        self,
        registry: str,
        registry_url: str,
        challenge: Challenge,
        scopes: tuple[str, ...],
        credential: Credential,
        deadline: Deadline,
        stale: str | None,
    ) -> Token:
        realm = _realm_of(registry, challenge)
        given = _registry_token(credential, scopes)
        if given is not None:
            return given
        key = _token_key(registry, scopes, credential)
        with self._lock:
            lock = self._locks.setdefault(key, allocate_lock())
        with lock:
            with self._lock:
                token = self._tokens.get(key)
            if token is not None and token.valid() and bearer_header(token) != stale:
                return token  # another worker fetched it while we waited
            realm = validate_realm(realm, registry_url)
            login = f"{registry}|{realm}|{credential.fingerprint()}"
            with self._lock:
                rejected = self._rejected.get(login)
            if rejected is not None:
                raise AuthenticationFailed(rejected.message, hint=rejected.hint)
            try:
                token = self._fetch(realm, challenge.service or "", scopes, credential, deadline, registry)
            except AuthenticationFailed as exc:
                if not credential.is_anonymous:
                    with self._lock:
                        self._rejected[login] = exc
                raise
            with self._lock:
                self._tokens[key] = token
            if self._cache is not None:
                service = challenge.service or ""
                self._cache.put(
                    self._cache.key(registry, realm, service, scopes, credential.fingerprint()),
                    token.value,
                    token.expires_at,
                    registry=registry,
                    realm=realm,
                    service=service,
                )
            return token

    def _fetch(
        self,
        realm: str,
        service: str,
        scopes: tuple[str, ...],
        credential: Credential,
        deadline: Deadline,
        registry: str,
    ) -> Token:
        with self._lock:
            self.token_requests += 1
        _register_secrets(self._transport, credential)
        what = f"token request to {urlsplit(realm).netloc}"
        if credential.identity_token:
            form = {
                "grant_type": "refresh_token",
                "refresh_token": credential.identity_token,
                "service": service,
                "scope": " ".join(scopes),
                "client_id": CLIENT_ID,
            }
            response = self._transport.send(
                "POST",
                realm,
                headers={"Content-Type": "application/x-www-form-urlencoded"},
                content=urlencode(form).encode(),
                deadline=deadline,
                what=what,
                follow_redirects=False,
                retry=False,
            )
            if response.status not in (404, 405):
                return self._token_from(
                    response, realm, service, scopes, credential, deadline, what, registry
                )
            response.close()
            # Realms without OAuth2 POST (GitLab's /jwt/auth) answer 404/405: fall back to GET with the refresh
            # token as the password, as docker and containerd do.
        query: list[tuple[str, str]] = [("service", service)] if service else []
        query += [("scope", s) for s in scopes]
        if credential.username:
            query.append(("account", credential.username))
        query.append(("client_id", CLIENT_ID))
        headers: dict[str, str] = {}
        secret = credential.password or credential.identity_token
        if credential.username and secret:
            headers["Authorization"] = basic_header(credential.username, secret)
        url = realm + ("&" if "?" in realm else "?") + urlencode(query, safe=":/,*")
        # retry=False for credentialed requests: a 401 must never be retried (GitLab throttles failed logins);
        # 5xx / network retries are safe only without credentials, so anonymous requests get them.
        response = self._transport.send(
            "GET",
            url,
            headers=headers,
            deadline=deadline,
            what=what,
            follow_redirects=False,
            retry=not headers,
        )
        return self._token_from(response, realm, service, scopes, credential, deadline, what, registry)

    def _token_from(
        self,
        response: Response,
        realm: str,
        service: str,
        scopes: tuple[str, ...],
        credential: Credential,
        deadline: Deadline,
        what: str,
        registry: str,
    ) -> Token:
        if response.status == 200:
            body = read_capped(response, TOKEN_BODY_LIMIT, deadline=deadline, what=what)
            token = _parse_token_response(body, realm=realm, service=service, scopes=scopes)
            self._transport.secrets.add(token.value)
            return token
        body = read_capped_quiet(response, deadline, what)
        if response.status in (401, 403):
            raise token_refusal(
                response.status,
                body,
                registry,
                service,
                credential,
                scopes,
                redact=self._transport.secrets.redact,
            )
        err = from_response(
            response.status, response.headers, body, what=what, redact=self._transport.secrets.redact
        )
        # A 404 from the token service says nothing about the image: never "absent" (docs/architecture.md §2, exit 1).
        if isinstance(err, OciregError) and not isinstance(err, RegistryError | NotFound):
            raise err
        raise RegistryError(f"{what}: token service answered HTTP {response.status}", status=response.status)


class AuthFlow:
    """The authentication of one request: one registry, one scope set, one credential (#15 item 1).

    The request loop asks :meth:`headers` before each attempt, hands each 401 to :meth:`challenged` and any
    other refusal to :meth:`failure`; the flow decides the rest, in the manner of go-containerregistry's
    ``bearerTransport.RoundTrip`` (docs/architecture.md §7):

    * what to send: a cached token; or, the registry's realm being known, a token fetched before the first
      attempt (no 401 round trip), never for a streamed body;
    * on a 401: answer the challenge with one token request; on ``insufficient_scope`` naming more actions on
      the resources asked for, widen the scopes once (``delete`` is its own action, docs/architecture.md §5);
      a cached token the registry no longer accepts is dropped and fetched afresh once; anything else gives
      up with an error by cause (exit 3 rejected, exit 4 denied);
    * the first wave: while the first request to a registry learns its challenge, the others wait for it
      (:meth:`Authenticator._join_wave`); leaving the ``with`` block releases them whatever happened.
    """

    def __init__(
        self,
        auth: Authenticator,
        registry: str,
        registry_url: str,
        scopes: tuple[str, ...],
        credential: Credential,
        *,
        deadline: Deadline,
        what: str,
        streamed: bool = False,
        wait: float | None = None,
    ) -> None:
        """``streamed``: the body cannot be sent twice; ``wait``: at most this long for the first request to
        ``registry`` to learn its challenge (the first wave), ``None`` for no part in it."""
        self._auth = auth
        self.registry = registry
        self.registry_url = registry_url
        self.scopes = scopes
        self.credential = credential
        self._deadline = deadline
        self._what = what
        self._streamed = streamed
        self._wait = wait  # None: this flow takes no part in the first wave
        self._wave: _Wave | None = None
        self._start()

    def _start(self) -> None:
        """Nothing sent yet: the first :meth:`header` decides what to send."""
        self._authorization: str | None = None
        self._started = False
        self._fetched = 0  # token requests made by this flow

    def __enter__(self) -> AuthFlow:
        if self._wait is not None:
            self._wave = self._auth._join_wave(self.registry, self._wait)
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
        return out

    def on_attempt(self, status: int | None) -> None:
        """For :meth:`Transport.send`: any answer but a 401 (a 429 or 503 being retried too) says there is no
        challenge to learn; the workers waiting on the first wave may go and share the backoff."""
        if status != 401:
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
        bearer = usable_bearer(challenges)
        if self._wave is not None:
            # The realm is known now: the waiting workers fetch their tokens (single-flight per scope) instead
            # of each collecting a 401 first.
            if bearer is not None:
                self._auth.remember_challenge(self.registry, bearer)
            self._release()
        if not challenges:
            # GitLab's protected/immutable tags answer 401 without a challenge: access denied (exit 4).
            raise unchallenged_401(body, what=self._what)
        if self._authorization is not None:
            self._after_refusal(bearer)
        if self._fetched >= 2:
            raise self._refused(bearer)
        self._authorization = self._auth.authorize(
            registry=self.registry,
            registry_url=self.registry_url,
            challenges=challenges,
            scopes=self.scopes,
            credential=self.credential,
            deadline=self._deadline,
            stale=self._authorization,
        )
        self._fetched += 1

    def failure(self, response: Response) -> OciregError:
        """The error for an answer that is neither a 401 nor wanted; a denial carries a hint on the grant."""
        body = read_capped_quiet(response, self._deadline, self._what)
        redact = self._auth._transport.secrets.redact
        failure = from_response(response.status, response.headers, body, what=self._what, redact=redact)
        if isinstance(failure, PermissionDenied):
            failure.hint = failure.hint or self.denied_hint()
        return failure

    def denied_hint(self) -> str:
        """Why access to the scopes was denied: no credentials, an empty grant, or a grant without them."""
        wanted = " ".join(self.scopes)
        credential = self.credential
        if credential.is_anonymous:
            return no_credentials_hint(self.registry, credential).replace(
                f"no credentials were found for {self.registry}",
                f"no credentials were found for {self.registry}, and anonymous access to {wanted} is not allowed",
                1,
            )
        token = self._auth.last_token(self.registry, self.scopes, credential)
        if token is not None and token.granted() == []:
            return (
                f"the token service granted no access for {wanted} to {credential.describe()}. "
                + empty_access_hint()
                + ". 'ocireg auth explain REF' shows the details"
            )
        return f"{credential.describe()} is not allowed {wanted}; 'ocireg auth explain REF' shows what was granted"

    def _first_header(self) -> str | None:
        auth = self._auth
        authorization = auth.cached_header(self.registry, self.scopes, self.credential)
        if authorization is None and not self._streamed:
            known = auth.known_challenge(self.registry)
            if known is not None:
                # The registry's realm is known: fetch the token first and skip the 401 round trip. If the
                # realm moved, the registry answers 401 and challenged() refreshes once.
                authorization = auth.authorize(
                    registry=self.registry,
                    registry_url=self.registry_url,
                    challenges=[known],
                    scopes=self.scopes,
                    credential=self.credential,
                    deadline=self._deadline,
                )
        return authorization

    def _after_refusal(self, bearer: Challenge | None) -> None:
        """The registry refused the value sent: widen the scopes once, drop a stale token once, or give up."""
        error = bearer.error if bearer else None
        widened = merge_scopes(self.scopes, same_resources(self.scopes, bearer.scope if bearer else None))
        if error == "insufficient_scope" and widened != self.scopes and self._fetched < 2:
            self.scopes = widened  # e.g. DELETE needs the "delete" action: one re-auth (PC)
            return
        fetched_here = self._auth.fetched_here(
            self.registry, self.scopes, self.credential, self._authorization
        )
        if self._fetched == 0 and not (error == "insufficient_scope" and fetched_here):
            # A cached token the registry no longer accepts (expired early, revoked, invalid_token, or from the
            # disk cache with an outdated grant): forget it and fetch a fresh one, once. A token this process
            # fetched that lacks the scope would come back the same (GitLab drops scopes silently): that is
            # refused, not re-fetched per reference (LD: single-flight).
            self._auth.forget(self.registry, self.scopes, self.credential, stale=self._authorization)
            return
        raise self._refused(bearer)

    def _refused(self, bearer: Challenge | None) -> OciregError:
        """Giving up: Basic credentials rejected, access denied, or a token the registry does not accept."""
        registry, credential = self.registry, self.credential
        if bearer is None:
            return AuthenticationFailed(
                f"{self._what}: {registry} rejected the credentials ({credential.describe()})",
                hint="check the user name and password",
            )
        token = self._auth.last_token(registry, self.scopes, credential)
        granted = token.grants(self.scopes[0]) if token is not None and self.scopes else None
        if credential.is_anonymous:
            return PermissionDenied(f"{self._what}: anonymous access denied", hint=self.denied_hint())
        if bearer.error == "insufficient_scope" or granted is False:
            return PermissionDenied(
                f"{self._what}: access denied for {credential.describe()}", hint=self.denied_hint()
            )
        return AuthenticationFailed(
            f"{self._what}: the registry rejected the token obtained for {credential.describe()}",
            hint="the token service and the registry disagree (issuer, service or clock); try --debug",
        )

    def _release(self) -> None:
        if self._wave is not None:
            self._wave.set()


def read_capped_quiet(response: Response, deadline: Deadline, what: str) -> bytes:
    """Read an error body up to the error cap; a too-large or broken error body is dropped, not fatal."""
    try:
        return read_capped(response, ERROR_BODY_LIMIT, deadline=deadline, what=what)
    except OciregError:
        return b""


def _register_secrets(transport: Transport, credential: Credential) -> None:
    """Tell the transport every secret ``credential`` may send, before anything is sent (#14 item 6)."""
    secrets = transport.secrets
    if credential.password:
        secrets.add_password(credential.password, f"{credential.username or ''}:{credential.password}")
    secrets.add(credential.identity_token, credential.registry_token)
    if credential.identity_token:
        secrets.add_password(
            credential.identity_token, f"{credential.username or ''}:{credential.identity_token}"
        )


def _norm(scopes: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(sorted(set(scopes)))


def basic_header(username: str, password: str) -> str:
    """The ``Authorization`` value of Basic authentication (RFC 7617, UTF-8): the one builder, which ``auth
    explain`` uses too."""
    raw = f"{username}:{password}".encode()
    return "Basic " + base64.b64encode(raw).decode("ascii")


def bearer_header(token: Token) -> str:
    """The ``Authorization`` value that sends ``token`` (RFC 6750 §2.1)."""
    return f"Bearer {token.value}"


def _token_key(registry: str, scopes: tuple[str, ...], credential: Credential) -> str:
    """Where a token is kept: per registry, scope set and identity."""
    return TokenKey(registry, scopes, credential.fingerprint()).text()


def _realm_of(registry: str, challenge: Challenge) -> str:
    if not challenge.realm:
        raise ChallengeError(f"{registry} sent a Bearer challenge without a realm")
    return challenge.realm


def _registry_token(credential: Credential, scopes: tuple[str, ...]) -> Token | None:
    """A credential that is a registry token already (``registrytoken`` in a Docker config) is sent as is."""
    value = credential.registry_token
    if not value:
        return None
    return Token(value=value, expires_at=time.time() + 3600, scopes=scopes, claims=decode_jwt_claims(value))


# -- diagnosis: what a refusal from the token service means, and what to do about it ------------------------
#
# GitLab's /jwt/auth (gitlab-org/gitlab app/controllers/jwt_controller.rb and
# app/services/auth/container_registry_authentication_service.rb) answers:
# * 401 UNAUTHORIZED "HTTP Basic: Access denied..." when Gitlab::Auth.find_for_git_client finds nobody: a wrong
#   password or token, an expired or revoked token, a blocked user, and a user with two-factor authentication
#   (or an instance without password sign-in for Git) who sent a password;
# * 403 DENIED "access forbidden" to an anonymous caller whose every scope was dropped (private, internal or
#   missing project, push, catalog) and to a token without any registry ability (a PAT or deploy token lacking
#   read_registry/write_registry/read_api/api); 403 "Pushing to protected repository path forbidden";
# * for service=dependency_proxy (app/services/auth/dependency_proxy_authentication_service.rb) 403
#   {"message": "access forbidden"} to anyone but a signed-in user or a group deploy token.

#: GitLab's text for a push onto a path guarded by a container repository protection rule.
PROTECTED_PATH_TEXT = "protected repository path"
MAX_SERVER_MESSAGE = 300


def server_message(
    body: bytes, credential: Credential | None = None, *, redact: Callable[[str], str] | None = None
) -> str | None:
    """The token service's own words from an error body, escaped, capped, never holding a secret.

    Reads the registry shape (``{"errors": [{"code", "message"}]}``), GitLab's service shape
    (``{"message": ...}``) and the OAuth2 shape (``error_description``/``error``).
    """
    from ocireg.errors import parse_error_body

    details = parse_error_body(body, redact=redact)
    text = "; ".join(str(d) for d in details[:3]) if details else _service_message(body, redact)
    if not text:
        return None
    if credential is not None:
        for secret in (credential.password, credential.identity_token, credential.registry_token):
            if secret and len(secret) >= 4:
                text = text.replace(escape(secret), "***")
    if len(text) > MAX_SERVER_MESSAGE:
        text = text[: MAX_SERVER_MESSAGE - 1] + "…"
    return text


def _service_message(body: bytes, redact: Callable[[str], str] | None) -> str | None:
    """``message``, ``error_description`` or ``error`` of a JSON object body (GitLab's and OAuth2's shapes)."""
    try:
        doc = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None
    if not isinstance(doc, dict):
        return None
    for key in ("message", "error_description", "error"):
        value = doc.get(key)
        if isinstance(value, str) and value.strip():
            return escape(redact(value.strip()) if redact else value.strip())
    return None


def looked_in(credential: Credential) -> str | None:
    """The credential sources an anonymous credential was chosen after (from its ``source`` text)."""
    marker = " in: "
    source = credential.source
    if not credential.is_anonymous or marker not in source:
        return None
    names = source.split(marker, 1)[1].rstrip(")").strip()
    return escape(names) or None


def no_credentials_hint(
    registry: str, credential: Credential, service: str | None = None, *, denied: str | None = None
) -> str:
    """Why ocireg went anonymous to ``registry`` and how to give it credentials.

    ``denied``: the scopes anonymous access was refused, when the registry (not the token service) refused.
    """
    where = looked_in(credential)
    text = f"no credentials were found for {registry}"
    if denied:
        text += f", and anonymous access to {denied} is not allowed"
    if where:
        text += f"; ocireg looked in: {where}"
    text += (
        ". Set OCIREG_USERNAME and OCIREG_PASSWORD (or pass --username and --password-stdin), or run "
        f"'docker login {registry}'"
    )
    if service == "dependency_proxy":
        return text + (
            "; this is GitLab's dependency proxy: inside a GitLab CI job ocireg uses "
            "CI_DEPENDENCY_PROXY_USER/CI_DEPENDENCY_PROXY_PASSWORD for CI_DEPENDENCY_PROXY_SERVER, elsewhere "
            "log in with a personal access token"
        )
    return text + (
        "; inside GitLab CI, CI_REGISTRY_USER/CI_REGISTRY_PASSWORD apply to the project's own registry "
        "(CI_REGISTRY) only"
    )


def empty_access_hint() -> str:
    """What an empty ``access`` list means on GitLab (ContainerRegistryAuthenticationService drops silently)."""
    return (
        "On GitLab an empty grant means: the project path is misspelt or does not exist; the image "
        "path is more than two levels below the project (GitLab finds the project only for group/project, "
        "group/project/a and group/project/a/b, not group/project/a/b/c); the user lacks the role (Reporter to "
        "pull, Developer to push, Maintainer to delete) or the token lacks read_registry/write_registry; or, "
        "for CI_JOB_TOKEN, the project running the job is missing from the target project's job token "
        "allowlist (Settings > CI/CD > Job token permissions)"
    )


def refusal_hint(
    status: int, message: str | None, registry: str, service: str, credential: Credential
) -> str:
    """The hint for a 401 or 403 from the token service, by cause (see the GitLab notes above)."""
    if status == 401:
        if credential.is_anonymous:
            return no_credentials_hint(registry, credential, service)
        return (
            "the password or token was rejected. On GitLab this also means: the account has two-factor "
            "authentication (or the instance allows no password for Git), so use a personal access token with "
            "read_registry (write_registry to push) instead of the password; the token is expired or revoked; "
            "or the account is blocked. ocireg does not retry a rejected login (GitLab counts failures "
            "toward an IP ban)"
        )
    if credential.is_anonymous:
        return no_credentials_hint(registry, credential, service)
    if message is not None and PROTECTED_PATH_TEXT in message.lower():
        return (
            "the project protects this repository path (Settings > Packages and registries > Protected "
            "container repositories): pushing there needs the role the rule names (Maintainer or Owner); "
            "push as such a user or to another path"
        )
    if service == "dependency_proxy":
        return (
            "GitLab's dependency proxy gives tokens to signed-in users (password or personal access token, "
            "or a CI job token) and to group deploy tokens with read_registry and write_registry; project "
            "deploy tokens are refused"
        )
    return (
        "the credentials are valid but carry no container-registry scope: a personal, project or group access "
        "token needs read_registry to pull (write_registry to push, or api/read_api), a deploy token "
        "read_registry/write_registry. GitLab also answers 403 while an IP address is banned after repeated "
        "failed logins, and for a push when the namespace is over its storage limit"
    )


def token_refusal(
    status: int,
    body: bytes,
    registry: str,
    service: str,
    credential: Credential,
    scopes: tuple[str, ...] = (),
    *,
    redact: Callable[[str], str] | None = None,
) -> AuthenticationFailed | PermissionDenied:
    """The error for a 401 (credentials rejected, exit 3) or 403 (access denied, exit 4) from a token service."""
    message = server_message(body, credential, redact=redact)
    said = f": {message}" if message else ""
    hint = refusal_hint(status, message, registry, service, credential)
    if credential.is_anonymous:  # the hint names the sources looked in; the message stays short
        return (AuthenticationFailed if status == 401 else PermissionDenied)(
            f"the token service for {registry} refused anonymous access"
            + (f" to {escape(' '.join(scopes))}" if scopes else "")
            + said,
            hint=hint,
        )
    who = credential.describe()
    if status == 401:
        return AuthenticationFailed(
            f"the token service for {registry} rejected the credentials ({who}){said}", hint=hint
        )
    return PermissionDenied(f"the token service for {registry} refused access ({who}){said}", hint=hint)


def merge_scopes(scopes: tuple[str, ...], extra: str | None) -> tuple[str, ...]:
    """Union of ``scopes`` and a challenge's ``scope`` (space-separated), merging actions per resource."""
    merged: dict[tuple[str, str], list[str]] = {}
    for scope in (*scopes, *((extra or "").split())):
        kind, _, rest = scope.partition(":")
        name, _, actions = rest.rpartition(":")
        if not kind or not name:
            continue
        bucket = merged.setdefault((kind, name), [])
        for action in actions.split(","):
            if action and action not in bucket:
                bucket.append(action)
    return tuple(f"{k}:{n}:{','.join(a)}" for (k, n), a in merged.items())


def same_resources(scopes: tuple[str, ...], extra: str | None) -> str | None:
    """Keep only the challenge scopes that name resources we asked for: a registry cannot widen us elsewhere."""
    if not extra:
        return None
    names = {s.rsplit(":", 1)[0] for s in scopes}
    kept = [s for s in extra.split() if s.rsplit(":", 1)[0] in names]
    return " ".join(kept) or None
