"""Transport policies that need no server: redaction, Retry-After, deadlines (SEC, BI)."""

from __future__ import annotations

import time

import pytest

from ocireg.errors import BodyTooLarge, TransportError
from ocireg.response import Headers, Response
from ocireg.transport import Deadline, _redact_headers, _retry_after, read_capped, redact_url

from wiredouble import respond, transport


def test_redact_url_hides_userinfo_and_unknown_query_values() -> None:
    """SEC: redaction — only allowlisted query parameters keep their values."""
    url = "https://user:hunter2@realm.example.com/jwt/auth?service=container_registry&scope=repository:a:pull&password=hunter2&token=abc"
    shown = redact_url(url)
    assert "hunter2" not in shown and "abc" not in shown and "user" not in shown
    assert "service=container_registry" in shown
    assert "scope=repository:a:pull" in shown


def test_redact_headers_never_shows_authorization_value() -> None:
    headers = Headers({"Authorization": "Basic YWxpY2U6c2VjcmV0", "Cookie": "s=1", "Accept": "x"})
    shown = _redact_headers(headers)
    assert "YWxpY2U6c2VjcmV0" not in shown
    assert "authorization: Basic ***" in shown
    assert "s=1" not in shown


@pytest.mark.parametrize(
    ("value", "low", "high"),
    [
        ("5", 5, 5),
        ("0", 0, 0),
        ("99999999999999999999", 1e9, 1e9),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 0, 0),  # in the past → 0
        ("soon", None, None),
        ("", None, None),
        ("\u00b2", None, None),  # BI: Retry-After variants — "²".isdigit() is True but int() refuses it
        ("\u0663", None, None),  # an Arabic-Indic digit: not delta-seconds either
    ],
)
def test_retry_after_variants(value: str, low: float | None, high: float | None) -> None:
    """BI: Retry-After variants (seconds, HTTP-date, garbage)."""
    got = _retry_after(value, 60)
    if low is None:
        assert got is None
    else:
        assert got is not None and low <= got <= high  # type: ignore[operator]


def test_retry_after_future_date() -> None:
    future = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + 30))
    got = _retry_after(future, 60)
    assert got is not None and 25 <= got <= 31


def test_deadline() -> None:
    d = Deadline(0.0)
    with pytest.raises(TransportError):
        d.check("x")
    assert Deadline(None).remaining() is None
    assert Deadline(10).clamp(30) <= 10


def _response(body: bytes, headers: dict[str, str] | None = None) -> Response:
    return respond(200, headers=headers or {}, content=body)


def test_read_capped_fails_instead_of_truncating() -> None:
    """BI: huge bodies stop at the cap with an error, never truncated."""
    assert read_capped(_response(b"x" * 10), 10, deadline=Deadline(5), what="t") == b"x" * 10
    with pytest.raises(BodyTooLarge):
        read_capped(_response(b"x" * 11), 10, deadline=Deadline(5), what="t")
    with pytest.raises(BodyTooLarge):
        read_capped(_response(b"", {"content-length": "99999999"}), 10, deadline=Deadline(5), what="t")


def test_read_capped_counts_decoded_bytes_of_gzip_bomb() -> None:
    """BI: gzip bomb — the cap applies to decoded bytes."""
    import gzip

    bomb = gzip.compress(b"\0" * (4 * 1024 * 1024))
    response = respond(200, headers={"content-encoding": "gzip"}, content=bomb)
    with pytest.raises(BodyTooLarge):
        read_capped(response, 64 * 1024, deadline=Deadline(5), what="t")


@pytest.mark.parametrize(
    ("host", "no_proxy", "exempt"),
    [
        ("registry.example.com", ("example.com",), True),
        ("registry.example.com", (".example.com",), True),
        ("registry.example.com:5000", ("registry.example.com",), True),
        ("registry.example.com:5000", ("registry.example.com:5000",), True),
        ("registry.example.com", ("other.com",), False),
        ("evilexample.com", ("example.com",), False),  # suffix match is per label, not per character
        ("anything", ("*",), True),
        ("anything", (), False),
    ],
)
def test_no_proxy_matching(host: str, no_proxy: tuple[str, ...], exempt: bool) -> None:
    from ocireg.transport import _proxy_exempt

    assert _proxy_exempt(host, no_proxy) is exempt


@pytest.mark.parametrize("status", [429, 503])
@pytest.mark.parametrize("raw", [b"\xc2\xb2", b"\xb2"])
def test_retry_after_unicode_digit_on_the_wire_is_a_typed_error(status: int, raw: bytes) -> None:
    """BI: Retry-After variants — a "²" (UTF-8 or Latin-1 on the wire) used to escape the client as ValueError
    (an "internal error" exit) from the transport's retry path and from ``from_response``."""
    from ocireg.client import RegistryClient
    from ocireg.errors import OciregError, RateLimited, RegistryError
    from ocireg.reference import parse_reference
    from ocireg.response import Request
    from ocireg.transport import TransportConfig

    def handler(request: Request) -> Response:
        return respond(status, headers=[(b"retry-after", raw)])

    for retries in (0, 1):
        config = TransportConfig(retries=retries, backoff_base=0.0)
        client = RegistryClient(config=config, transport=transport(handler, config))
        with client, pytest.raises(OciregError) as info:
            client.exists(parse_reference("registry.example.invalid/group/app:v1"))
        assert isinstance(info.value, RateLimited if status == 429 else RegistryError)


@pytest.mark.parametrize("address", ["192.0.2.1", "example.org", "10.0.0.1"])
def test_connect_to_refuses_a_non_loopback_target(address: str) -> None:
    """#22 item 6: the test-only connect_to hook never sends a name anywhere but loopback."""
    from ocireg.transport import Transport, TransportConfig

    with pytest.raises(TransportError, match="not a loopback address"):
        Transport(TransportConfig(connect_to={("registry-1.docker.io", 443): (address, 443)}))


def test_connect_to_accepts_loopback() -> None:
    from ocireg.transport import Transport, TransportConfig

    Transport(TransportConfig(connect_to={("registry-1.docker.io", 443): ("127.0.0.1", 8443)}))
