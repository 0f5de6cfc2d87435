"""Classification by cause (errors.from_response) and the exit-code contract (docs/architecture.md §2)."""

from __future__ import annotations

import pytest

from ocireg import errors
from ocireg.cli.exitcodes import ExitCode, exit_code_for, worst
from ocireg.response import Headers


def _classify(status: int, body: bytes = b"", **headers: str) -> errors.OciregError:
    return errors.from_response(status, Headers(headers), body, what="manifest x")


@pytest.mark.parametrize(
    ("status", "body", "headers", "cls", "code"),
    [
        (404, b"", {}, errors.NotFound, 1),
        (
            404,
            b'{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}',
            {},
            errors.NotFound,
            1,
        ),
        (404, b'{"errors":[{"code":"NAME_UNKNOWN"}]}', {}, errors.NotFound, 1),
        (401, b'{"errors":[{"code":"UNAUTHORIZED"}]}', {}, errors.AuthenticationFailed, 3),
        (
            401,
            b"",
            {"www-authenticate": 'Bearer realm="r",error="insufficient_scope"'},
            errors.PermissionDenied,
            4,
        ),
        (403, b'{"errors":[{"code":"DENIED","message":"access forbidden"}]}', {}, errors.PermissionDenied, 4),
        (429, b'{"errors":[{"code":"TOOMANYREQUESTS"}]}', {"retry-after": "30"}, errors.RateLimited, 7),
        (405, b'{"errors":[{"code":"UNSUPPORTED"}]}', {}, errors.Unsupported, 6),
        (500, b"<html>oops</html>", {}, errors.RegistryError, 6),
        (502, b"", {}, errors.RegistryError, 6),
        (400, b'{"errors":[{"code":"DIGEST_INVALID"}]}', {}, errors.RegistryError, 6),
        # BI: a 200 HTML page is never "absent", and neither is a 400 without a not-found code
        (400, b"<html>login</html>", {}, errors.RegistryError, 6),
    ],
)
def test_from_response_classifies_by_cause(
    status: int, body: bytes, headers: dict[str, str], cls: type[errors.OciregError], code: int
) -> None:
    """PC: not-found vs auth semantics — absent (1) only on a registry not-found statement."""
    error = _classify(status, body, **headers)
    assert type(error) is cls
    assert exit_code_for(error) == code


def test_rate_limited_carries_advertised_wait() -> None:
    error = _classify(429, b"", **{"retry-after": "42"})
    assert isinstance(error, errors.RateLimited)
    assert error.retry_after == 42
    assert "42s" in str(error)


@pytest.mark.parametrize(
    "body",
    [
        b'{"errors": [' + b'{"code":"X"},' * 5000 + b'{"code":"Y"}]}',  # many errors
        b'{"errors": "nope"}',
        b'{"errors": [{"code": 5}]}',  # unknown/odd codes
        b"[" * 100000,  # deep nesting
        b"\xff\xfe\x00",
    ],
)
def test_error_body_edge_cases_never_raise(body: bytes) -> None:
    """BI: error bodies (several errors, unknown code, garbage) are parsed without raising."""
    details = errors.parse_error_body(body)
    assert len(details) <= 20


def test_error_message_escapes_control_characters() -> None:
    """BI: terminal injection through error messages."""
    error = _classify(500, b'{"errors":[{"code":"X","message":"\\u001b[2Jpwned\\r\\nfake line"}]}')
    assert "\x1b" not in str(error)
    assert "\r" not in str(error) and "\n" not in str(error)


def test_worst_order() -> None:
    """docs/architecture.md §2: 2 > 5 > 6 > 7 > 3 > 4 > 1 > 0."""
    assert worst([0, 1, 4]) == ExitCode.DENIED
    assert worst([1, 3, 4]) == ExitCode.AUTH_FAILED
    assert worst([3, 7]) == ExitCode.RATE_LIMITED
    assert worst([7, 6]) == ExitCode.REGISTRY
    assert worst([6, 5]) == ExitCode.NETWORK
    assert worst([5, 2]) == ExitCode.USAGE
    assert worst([]) == ExitCode.OK


def test_not_verified_ranks_above_absent_below_every_cannot_tell() -> None:
    """#24: 8 is a definite "no": ... > 4 > 8 > 1 > 0."""
    assert exit_code_for(errors.NotVerified("x", reason="no-signature")) == 8
    assert worst([0, 1, 8]) == ExitCode.NOT_VERIFIED
    assert worst([8, 4]) == ExitCode.DENIED
    assert worst([8, 3]) == ExitCode.AUTH_FAILED
    assert worst([8, 6]) == ExitCode.REGISTRY


def test_exit_code_for_each_class() -> None:
    assert exit_code_for(errors.InvalidReference("x")) == 2
    assert exit_code_for(errors.CredentialError("x")) == 3
    assert exit_code_for(errors.TransportError("x")) == 5
    assert exit_code_for(errors.DigestMismatch("x")) == 6
    assert exit_code_for(errors.RealmRejected("x")) == 6
    assert exit_code_for(KeyboardInterrupt()) == 130
