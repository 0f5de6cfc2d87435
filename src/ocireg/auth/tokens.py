"""Bearer tokens: what a token is, how one is asked for (GET, or the OAuth2 POST with an identity token), and the
``Authorization`` values, built here only.

* GET the realm with ``service`` and ``scope``, Basic credentials if any (Docker token spec,
  https://distribution.github.io/distribution/spec/auth/token/);
* the OAuth2 POST with an identity token (https://distribution.github.io/distribution/spec/auth/oauth/),
  falling back to GET when the realm answers 404/405 (a realm without OAuth2, as docker and containerd do).

Token requests follow no redirects, and a credentialed one is never retried: a 401 must not be repeated (a
token service may count failed logins towards an abuse ban, docs/architecture.md §5).
"""

from __future__ import annotations

import base64
import json
import math
import re
import time
from collections.abc import Mapping
from urllib.parse import urlencode, urlsplit

from ocireg.auth.refusal import token_refusal
from ocireg.errors import (
    ERROR_BODY_LIMIT,
    NotFound,
    OciregError,
    ProtocolViolation,
    RegistryError,
    from_response,
)
from ocireg.record import field, record
from ocireg.response import Response
from ocireg.transport import Deadline, Transport, read_capped

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ocireg.credentials import Credential
    from ocireg.registries.base import Profile

__all__ = [
    "Token",
    "TokenKey",
    "basic_header",
    "bearer_header",
    "decode_jwt_claims",
    "fetch_token",
    "merge_scopes",
    "read_capped_quiet",
    "same_resources",
]

TOKEN_BODY_LIMIT = 64 * 1024
MAX_TOKEN_LENGTH = 16 * 1024
DEFAULT_EXPIRES_IN = 60  # Docker token spec: "defaults to 60 seconds"
MIN_EXPIRES_IN = 60
MAX_EXPIRES_IN = 24 * 3600.0
CLIENT_ID = "ocireg"


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
        # Some token services send no expires_in but JWTs that say they live minutes (docs/architecture.md §5):
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


def fetch_token(
    transport: Transport,
    *,
    registry: str,
    realm: str,
    service: str,
    scopes: tuple[str, ...],
    credential: Credential,
    deadline: Deadline,
    profile: Profile,
) -> Token:
    """Ask the (already validated) ``realm`` for a token for ``scopes``; raise by cause when it refuses.

    A refusal is judged by ``profile`` (:meth:`~ocireg.registries.base.Profile.verdict`): rejected credentials
    are :class:`~ocireg.errors.AuthenticationFailed`, anything else refused :class:`~ocireg.errors.PermissionDenied`.
    """
    register_secrets(transport, credential)
    what = f"token request to {urlsplit(realm).netloc}"
    if credential.identity_token:
        form = {
            "grant_type": "refresh_token",
            "refresh_token": credential.identity_token,
            "service": service,
            "scope": " ".join(scopes),
            "client_id": CLIENT_ID,
        }
        response = transport.send(
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
            return _token_from(
                transport, response, registry, realm, service, scopes, credential, deadline, what, profile
            )
        response.close()
        # A realm without the OAuth2 POST answers 404/405: fall back to GET with the refresh token as the
        # password, as docker and containerd do.
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
    # retry=False for credentialed requests: a 401 must never be retried (failed logins may be throttled);
    # 5xx / network retries are safe only without credentials, so anonymous requests get them.
    response = transport.send(
        "GET", url, headers=headers, deadline=deadline, what=what, follow_redirects=False, retry=not headers
    )
    return _token_from(
        transport, response, registry, realm, service, scopes, credential, deadline, what, profile
    )


def _token_from(
    transport: Transport,
    response: Response,
    registry: str,
    realm: str,
    service: str,
    scopes: tuple[str, ...],
    credential: Credential,
    deadline: Deadline,
    what: str,
    profile: Profile,
) -> Token:
    if response.status == 200:
        body = read_capped(response, TOKEN_BODY_LIMIT, deadline=deadline, what=what)
        token = _parse_token_response(body, realm=realm, service=service, scopes=scopes)
        transport.secrets.add(token.value)
        return token
    body = read_capped_quiet(response, deadline, what)
    redact = transport.secrets.redact
    if response.status in (401, 403):
        raise token_refusal(
            response.status, body, registry, service, credential, scopes, redact=redact, profile=profile
        )
    err = from_response(response.status, response.headers, body, what=what, redact=redact)
    # A 404 from the token service says nothing about the image: never "absent" (docs/architecture.md §2, exit 1).
    if isinstance(err, OciregError) and not isinstance(err, RegistryError | NotFound):
        raise err
    raise RegistryError(f"{what}: token service answered HTTP {response.status}", status=response.status)


def read_capped_quiet(response: Response, deadline: Deadline, what: str) -> bytes:
    """Read an error body up to the error cap; a too-large or broken error body is dropped, not fatal."""
    try:
        return read_capped(response, ERROR_BODY_LIMIT, deadline=deadline, what=what)
    except OciregError:
        return b""


def register_secrets(transport: Transport, credential: Credential) -> None:
    """Tell the transport every secret ``credential`` may send, before anything is sent (#14 item 6)."""
    secrets = transport.secrets
    if credential.password:
        secrets.add_password(credential.password, f"{credential.username or ''}:{credential.password}")
    secrets.add(credential.identity_token, credential.registry_token)
    if credential.identity_token:
        secrets.add_password(
            credential.identity_token, f"{credential.username or ''}:{credential.identity_token}"
        )


def norm_scopes(scopes: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(sorted(set(scopes)))


def basic_header(username: str, password: str) -> str:
    """The ``Authorization`` value of Basic authentication (RFC 7617, UTF-8): the one builder."""
    raw = f"{username}:{password}".encode()
    return "Basic " + base64.b64encode(raw).decode("ascii")


def bearer_header(token: Token) -> str:
    """The ``Authorization`` value that sends ``token`` (RFC 6750 §2.1)."""
    return f"Bearer {token.value}"


def registry_token(credential: Credential, scopes: tuple[str, ...]) -> Token | None:
    """A credential that is a registry token already (``registrytoken`` in a Docker config) is sent as is."""
    value = credential.registry_token
    if not value:
        return None
    return Token(value=value, expires_at=time.time() + 3600, scopes=scopes, claims=decode_jwt_claims(value))


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
