"""The exception tree: every failure ocireg reports is one of these, classified by cause.

The CLI maps each class to one exit code (``ocireg.cli.exitcodes``); library users catch the classes.
:func:`from_response` is the only place that turns an HTTP status and an OCI error body into an exception.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence

from ocireg.record import field, record, replace
from ocireg.text import LazyPattern, escape

__all__ = [
    "VERIFY_REASONS",
    "AuthenticationFailed",
    "BodyTooLarge",
    "ChallengeError",
    "CredentialError",
    "DigestMismatch",
    "InvalidManifest",
    "InvalidReference",
    "NotFound",
    "NotVerified",
    "OciregError",
    "PermissionDenied",
    "PlatformNotFound",
    "ProtocolViolation",
    "RateLimited",
    "RealmRejected",
    "Refused",
    "RegistryError",
    "RegistryErrorDetail",
    "TransportError",
    "Unsupported",
    "UploadSessionLost",
    "UsageError",
    "from_response",
    "parse_error_body",
    "retry_after_seconds",
]

# Error bodies are read up to this size (docs/architecture.md §4: token and error bodies 64 KiB).
ERROR_BODY_LIMIT = 64 * 1024


class OciregError(Exception):
    """Base of every error ocireg raises on purpose.

    ``hint`` is a sentence telling the user what to do next; it never contains a secret.
    """

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class UsageError(OciregError):
    """The command line or an input file is wrong (exit 2)."""


class InvalidReference(UsageError, ValueError):
    """An image reference, repository name, tag or digest does not follow the distribution grammar (exit 2)."""


class Refused(UsageError):
    """ocireg refused a write that would change more than asked; nothing was changed (exit 2).

    E.g. ``tag --no-clobber`` onto an existing tag, or ``delete --manifest`` of a digest other tags still
    point to without ``--yes``. The message names the flag that allows it.
    """


class CredentialError(OciregError):
    """A credential source is broken: malformed config, missing or failing helper (exit 3)."""


class AuthenticationFailed(OciregError):
    """The registry or its token service rejected the credentials (exit 3)."""


class PermissionDenied(OciregError):
    """Authenticated (or anonymous) but not allowed, including a registry that hides whether a project exists (exit 4)."""


class NotFound(OciregError):
    """The registry said the manifest, tag, blob or repository does not exist (exit 1).

    Raised only on a registry statement (404, ``MANIFEST_UNKNOWN``, ``NAME_UNKNOWN``...), never after a failure.
    ``after_retry``: the 404 answered a retry of a ``DELETE`` whose earlier attempt failed (5xx, or the answer
    was lost): the registry may have carried that attempt out, so the thing is gone, most likely by our hand.
    """

    after_retry: bool = False


class PlatformNotFound(NotFound):
    """The image exists, but not for the platform asked for (exit 1, like any absence).

    A subclass so that callers that treat "the tag is gone" specially (``pin`` keeps a pin whose tag was
    deleted) can tell it apart from a missing tag.
    """


class NotVerified(OciregError):
    """The image exists, but no signature by a trusted key verifies for it (exit 8, #24).

    ``reason`` is one of :data:`VERIFY_REASONS` (docs/architecture.md §10): ``no-signature``,
    ``untrusted-signature``, ``digest-mismatch``, ``identity-mismatch``.
    """

    def __init__(self, message: str, *, reason: str, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.reason = reason


#: The fixed set of reasons a :class:`NotVerified` carries, from "nothing to check" to "checked furthest".
VERIFY_REASONS = ("no-signature", "untrusted-signature", "digest-mismatch", "identity-mismatch")


class TransportError(OciregError):
    """The registry could not be reached or did not answer in time: DNS, connect, TLS, timeout (exit 5)."""


class RegistryError(OciregError):
    """The registry answered, but wrongly: 5xx after retries, protocol violation, bad digest (exit 6)."""

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        status: int | None = None,
        details: Sequence[RegistryErrorDetail] = (),
    ) -> None:
        super().__init__(message, hint=hint)
        self.status = status
        self.details = tuple(details)


class UploadSessionLost(RegistryError):
    """The registry forgot a blob upload session (``404 BLOB_UPLOAD_UNKNOWN`` to its ``PUT``): exit 6, never
    "absent" — the upload may be started afresh once (distribution spec, "Pushing blobs")."""


class ProtocolViolation(RegistryError):
    """The registry's answer breaks the distribution or token spec (bad JSON, missing header, bad redirect)."""


class ChallengeError(ProtocolViolation):
    """A ``WWW-Authenticate`` header could not be parsed or lacks what the flow needs."""


class RealmRejected(ProtocolViolation):
    """The token realm failed the realm policy (docs/architecture.md §4); nothing was sent to it."""


class DigestMismatch(RegistryError):
    """The bytes received do not hash to the digest that was asked for or announced."""


class BodyTooLarge(RegistryError):
    """A body exceeded its cap; ocireg fails rather than truncating."""


class InvalidManifest(RegistryError):
    """A manifest or index is malformed or ambiguous."""


class Unsupported(RegistryError):
    """The registry does not support the operation (405, 501, ``UNSUPPORTED``)."""


class RateLimited(OciregError):
    """429 / ``TOOMANYREQUESTS`` after retries (exit 7). ``retry_after`` is the advertised wait in seconds."""

    def __init__(self, message: str, *, hint: str | None = None, retry_after: float | None = None) -> None:
        super().__init__(message, hint=hint)
        self.retry_after = retry_after


@record(frozen=True)
class RegistryErrorDetail:
    """One entry of an OCI error body: ``{"errors": [{"code", "message", "detail"}]}``."""

    code: str
    message: str = ""
    detail: object = field(default=None, compare=False)

    def __str__(self) -> str:
        text = escape(self.code)
        if self.message:
            text += f": {escape(self.message)}"
        return text


_NOT_FOUND_CODES = frozenset({"MANIFEST_UNKNOWN", "NAME_UNKNOWN", "BLOB_UNKNOWN", "BLOB_UPLOAD_UNKNOWN"})
_DENIED_CODES = frozenset({"DENIED"})
_UNSUPPORTED_CODES = frozenset({"UNSUPPORTED"})


def parse_error_body(
    body: bytes, *, redact: Callable[[str], str] | None = None
) -> tuple[RegistryErrorDetail, ...]:
    """Parse an OCI error body; anything that is not one yields no details (never raises).

    ``redact`` runs before texts are cut to length, so a cut never leaves part of a secret behind.
    """
    try:
        doc = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return ()
    if not isinstance(doc, dict):
        return ()
    errors = doc.get("errors")
    if not isinstance(errors, list):
        return ()
    details = []
    for item in errors[:20]:
        if not isinstance(item, dict):
            continue
        code = item.get("code")
        if not isinstance(code, str):
            continue
        message = item.get("message")
        detail = RegistryErrorDetail(
            code=code.upper(), message=message if isinstance(message, str) else "", detail=item.get("detail")
        )
        if redact is not None:
            detail = _redacted_detail(detail, redact)
        details.append(replace(detail, code=detail.code[:100], message=detail.message[:500]))
    return tuple(details)


#: ``Retry-After`` delta-seconds; some registries write a fraction with ``%f`` (``1.500000``), so up to
#: nine decimals are accepted besides RFC 9110's integers.
_DELTA_SECONDS = LazyPattern(r"(\d+)(?:\.(\d{1,9}))?")


def retry_after_seconds(value: str | None) -> float | None:
    """``Retry-After`` in seconds: delta-seconds (``120``, or ``1.500000`` as some registries write it) or an HTTP-date
    (RFC 9110 §10.2.3); ``None`` when absent or unparseable. Huge values are cut to 10**9 s (callers cap)."""
    if value is None:
        return None
    value = value.strip()
    match = _DELTA_SECONDS.fullmatch(value) if value.isascii() and len(value) <= 64 else None
    if match is not None:
        return 1e9 if len(match.group(1)) > 12 else min(float(value), 1e9)
    try:
        from email.utils import parsedate_to_datetime

        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    import datetime as _dt

    if when.tzinfo is None:
        when = when.replace(tzinfo=_dt.timezone.utc)
    return max(0.0, (when - _dt.datetime.now(_dt.timezone.utc)).total_seconds())


def _retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    return retry_after_seconds(headers.get("retry-after"))


def _seconds(value: float) -> str:
    """``2``, ``1.5``: a wait as people read it."""
    return f"{value:.1f}".rstrip("0").rstrip(".")


def from_response(
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    *,
    what: str,
    redact: Callable[[str], str] | None = None,
) -> OciregError:
    """Classify a non-success answer by cause.

    ``what`` names the thing asked for (``"manifest group/app:v1"``) and starts the message. ``headers`` must be
    case-insensitive (an ``ocireg.response.Headers`` is). The body should already be capped at :data:`ERROR_BODY_LIMIT`.
    ``redact`` removes known secrets from the registry's own words before they become a message: a registry
    that echoes the token or password it was sent must not get it printed (#14 item 6).
    """
    details = parse_error_body(body, redact=redact)
    codes = {d.code for d in details}
    summary = "; ".join(str(d) for d in details[:3])
    suffix = f" ({summary})" if summary else ""
    if status == 404 or (codes & _NOT_FOUND_CODES and status == 400):
        return NotFound(f"{what}: not found{suffix}")
    if status == 401:
        if _is_insufficient_scope(headers) or "DENIED" in codes:
            return PermissionDenied(f"{what}: access denied{suffix}")
        return AuthenticationFailed(f"{what}: authentication required or credentials rejected{suffix}")
    if status == 403 or codes & _DENIED_CODES:
        return PermissionDenied(f"{what}: access denied (HTTP {status}){suffix}")
    if status == 429 or "TOOMANYREQUESTS" in codes:
        wait = _retry_after_seconds(headers)
        advertised = f"; the registry asks to wait {_seconds(wait)}s" if wait is not None else ""
        return RateLimited(f"{what}: rate limited (HTTP {status}){advertised}{suffix}", retry_after=wait)
    if status in (405, 501) or codes & _UNSUPPORTED_CODES:
        return Unsupported(
            f"{what}: not supported by this registry (HTTP {status}){suffix}", status=status, details=details
        )
    return RegistryError(f"{what}: registry answered HTTP {status}{suffix}", status=status, details=details)


def _redacted_detail(detail: RegistryErrorDetail, redact: Callable[[str], str]) -> RegistryErrorDetail:
    # ``detail`` is free-form JSON: kept only if no secret shows in it.
    shown = repr(detail.detail)
    kept = detail.detail if redact(shown) == shown else None
    return replace(detail, code=redact(detail.code), message=redact(detail.message), detail=kept)


def _is_insufficient_scope(headers: Mapping[str, str]) -> bool:
    value = headers.get("www-authenticate", "")
    return "insufficient_scope" in value
