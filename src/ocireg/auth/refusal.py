"""What a refusal means: the registry's own words, and the error by cause (docs/architecture.md §2).

A refusal — from the token service or from the registry — becomes a :class:`~ocireg.registries.base.Refusal`
(what the wire said and what was sent), the registry's profile judges it (*rejected*: exit 3, *denied*: exit
4) and words the hint (at most three short lines; ``auth explain`` has the long list of causes).
"""

from __future__ import annotations

import json
from collections.abc import Callable

from ocireg.errors import AuthenticationFailed, PermissionDenied
from ocireg.registries import GENERIC, Refusal
from ocireg.text import escape

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ocireg.credentials import Credential
    from ocireg.registries.base import Profile

__all__ = [
    "MAX_SERVER_MESSAGE",
    "judged",
    "no_credentials_hint",
    "server_message",
    "token_refusal",
    "unchallenged_refusal",
]

MAX_SERVER_MESSAGE = 300


def server_message(
    body: bytes, credential: Credential | None = None, *, redact: Callable[[str], str] | None = None
) -> str | None:
    """The token service's own words from an error body, escaped, capped, never holding a secret.

    Reads the registry shape (``{"errors": [{"code", "message"}]}``), a token service's own shape
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
    """``message``, ``error_description``, ``error`` or ``details`` of a JSON object body (token services' own
    shapes and OAuth2's)."""
    try:
        doc = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None
    if not isinstance(doc, dict):
        return None
    for key in ("message", "error_description", "error", "details"):
        value = doc.get(key)
        if isinstance(value, str) and value.strip():
            return escape(redact(value.strip()) if redact else value.strip())
    return None


def judged(refusal: Refusal, profile: Profile, message: str) -> AuthenticationFailed | PermissionDenied:
    """The error for ``refusal`` as ``profile`` judges it, with its hint."""
    verdict = profile.verdict(refusal)
    hint = profile.hint(refusal, verdict)
    if verdict == "rejected":
        return AuthenticationFailed(message, hint=hint)
    return PermissionDenied(message, hint=hint)


def token_refusal(
    status: int,
    body: bytes,
    registry: str,
    service: str,
    credential: Credential,
    scopes: tuple[str, ...] = (),
    *,
    redact: Callable[[str], str] | None = None,
    profile: Profile = GENERIC,
) -> AuthenticationFailed | PermissionDenied:
    """The error for a 401 or 403 from a token service: judged by ``profile`` on what was sent (exit 3 for
    credentials rejected, exit 4 for nothing sent or not allowed)."""
    from ocireg.errors import parse_error_body

    message = server_message(body, credential, redact=redact)
    codes = frozenset(d.code for d in parse_error_body(body))
    refusal = Refusal(
        registry=registry,
        status=status,
        credential=credential,
        at_token_service=True,
        sent=not credential.is_anonymous,
        scopes=scopes,
        codes=codes,
        message=message,
        service=service or None,
    )
    said = f": {message}" if message else ""
    if credential.is_anonymous:
        text = (
            f"the token service for {registry} refused anonymous access"
            + (f" to {escape(' '.join(scopes))}" if scopes else "")
            + said
        )
        return judged(refusal, profile, text)
    who = credential.describe()
    verdict = profile.verdict(refusal)
    if verdict == "rejected":
        text = f"the token service for {registry} rejected the credentials ({who}){said}"
    else:
        text = f"the token service for {registry} refused access ({who}){said}"
    return judged(refusal, profile, text)


def no_credentials_hint(
    registry: str, credential: Credential, service: str | None = None, *, profile: Profile = GENERIC
) -> str:
    """Why ocireg went anonymous to ``registry`` and how to give it credentials (at most three lines)."""
    refusal = Refusal(registry=registry, status=401, credential=credential, service=service)
    return profile.hint(refusal, "denied") or ""


def unchallenged_refusal(
    body: bytes,
    *,
    what: str,
    registry: str,
    credential: Credential,
    sent: bool,
    scopes: tuple[str, ...] = (),
    profile: Profile = GENERIC,
    redact: Callable[[str], str] | None = None,
    granted_nothing: bool = False,
) -> AuthenticationFailed | PermissionDenied:
    """A 401 without ``WWW-Authenticate``: there is nothing to answer it with. The profile judges what it means
    (a registry's tag rules, a missing project); else it is judged by what was sent (docs/architecture.md §2).
    The registry's codes, words and detail are shown escaped."""
    from ocireg.errors import parse_error_body

    details = parse_error_body(body, redact=redact)
    shown = "; ".join(
        str(d) + (f" — {escape(d.detail[:300])}" if isinstance(d.detail, str) and d.detail else "")
        for d in details[:3]
    )
    suffix = f" ({shown})" if shown else ""
    refusal = Refusal(
        registry=registry,
        status=401,
        credential=credential,
        sent=sent,
        scopes=scopes,
        codes=frozenset(d.code for d in details),
        message=server_message(body, credential, redact=redact),
        granted_nothing=granted_nothing,
    )
    if profile.verdict(refusal) == "denied":
        return judged(refusal, profile, f"{what}: refused{suffix}")
    return judged(refusal, profile, f"{what}: HTTP 401 without a WWW-Authenticate challenge{suffix}")
