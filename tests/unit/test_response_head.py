"""#25: the response head ocireg parses itself (ocireg.response: status line, field lines, body framing) instead of
``http.client`` through the ``email`` package. Pure functions, no sockets (tests/unit/test_connection.py has the
same cases on the wire). Catalogue: BI (hostile headers), PC (framing).
"""

from __future__ import annotations

import gzip
import io
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ocireg.errors import ProtocolViolation
from ocireg.response import (
    CutMessage,
    FramedBody,
    Headers,
    MalformedMessage,
    NoResponse,
    Response,
    body_framing,
    parse_fields,
    parse_status_line,
    read_head,
)


def _lines(block: bytes) -> list[bytes]:
    return block.splitlines(keepends=True)


def test_pc_registry_head_is_read_as_sent() -> None:
    headers = parse_fields(
        _lines(
            b"Content-Length: 476\r\n"
            b"Content-Type: application/vnd.oci.image.manifest.v1+json\r\n"
            b"Docker-Content-Digest: sha256:" + b"a" * 64 + b"\r\n"
            b'Etag:   "x"  \r\n'
        )
    )
    assert headers["content-length"] == "476"
    assert headers.get("docker-content-digest") == "sha256:" + "a" * 64
    assert headers["etag"] == '"x"'  # surrounding whitespace is not part of the value (RFC 9110 §5.5)
    assert [name for name, _ in headers.multi_items()] == [
        "Content-Length",
        "Content-Type",
        "Docker-Content-Digest",
        "Etag",
    ]


def test_bi_duplicate_fields_are_all_kept_in_order() -> None:
    """Two challenges (or Warning, Link) arrive as two fields: both kept, each with its own commas."""
    headers = parse_fields(
        _lines(
            b'WWW-Authenticate: Bearer realm="https://a/jwt",service="x,y"\r\n'
            b"X-Other: 1\r\n"
            b'WWW-Authenticate: Basic realm="r"\r\n'
        )
    )
    assert headers.get_list("www-authenticate") == [
        'Bearer realm="https://a/jwt",service="x,y"',
        'Basic realm="r"',
    ]


def test_bi_folded_line_is_joined_with_one_space() -> None:
    """RFC 9112 §5.2: a user agent replaces each obs-fold with SP. ``http.client`` (through ``email``) kept the
    CR LF and the indentation inside the value."""
    headers = parse_fields(_lines(b'Warning: 299 - "first\r\n   second"\r\n\tthird\r\nX-A: b\r\n'))
    assert headers["warning"] == '299 - "first second" third'
    assert headers["x-a"] == "b"


def test_bi_lone_lf_line_ends_are_accepted() -> None:
    """RFC 9112 §2.2: a recipient may take a lone LF as a line terminator, as http.client did."""
    headers = parse_fields(_lines(b"Content-Length: 2\nX-A: b\n"))
    assert headers["content-length"] == "2" and headers["x-a"] == "b"


@pytest.mark.parametrize(
    ("name", "block"),
    [
        ("a line without a colon", b"Content-Length: 0\r\ngarbage\r\nX-Late: 1\r\n"),
        ("whitespace before the colon", b"Content-Length : 0\r\n"),
        ("an empty field name", b": value\r\n"),
        ("a field name with a control byte", b"X-\x1bA: 1\r\n"),
        ("a folded first line", b" folded: 1\r\n"),
        ("a CR inside a value", b"X-A: one\rInjected: two\r\n"),
        ("a NUL inside a value", b"X-A: one\x00two\r\n"),
    ],
)
def test_bi_malformed_field_line_is_a_protocol_violation(name: str, block: bytes) -> None:
    """``email`` took a line without a colon for the start of the body and dropped every field after it."""
    with pytest.raises(MalformedMessage):
        parse_fields(_lines(block))


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (b"HTTP/1.1 200 OK\r\n", (11, 200, "OK")),
        (b"HTTP/1.1 404 Not Found\r\n", (11, 404, "Not Found")),
        (b"HTTP/1.1 204\r\n", (11, 204, "")),
        (b"HTTP/1.0 200 OK\n", (10, 200, "OK")),
    ],
)
def test_pc_status_line(line: bytes, expected: tuple[int, int, str]) -> None:
    assert parse_status_line(line) == expected


@pytest.mark.parametrize(
    "line",
    [
        b"SSH-2.0-OpenSSH_9.6\r\n",
        b"HTTP/2 200\r\n",
        b"HTTP/1.1 +20 OK\r\n",
        b"HTTP/1.1 2_0 OK\r\n",
        b"HTTP/1.1 \xd9\xa2\xd9\xa0\xd9\xa0 OK\r\n",  # Arabic-Indic digits: int() would take them
        b"HTTP/1.1 20 OK\r\n",
        b"HTTP/1.1  200 OK\r\n",
        b"\r\n",
    ],
)
def test_bi_bad_status_line_is_a_protocol_violation(line: bytes) -> None:
    with pytest.raises(MalformedMessage):
        parse_status_line(line)


def test_pc_framing_by_content_length_chunked_or_close() -> None:
    def framing(
        block: bytes, status: int = 200, version: int = 11, method: str = "GET"
    ) -> tuple[bool, int | None, bool]:
        return body_framing(parse_fields(_lines(block)), status, version, method)

    assert framing(b"Content-Length: 12\r\n") == (False, 12, False)
    assert framing(b"Content-Length: 12\r\nContent-Length: 12\r\n") == (False, 12, False)
    assert framing(b"Transfer-Encoding: chunked\r\nContent-Length: 12\r\n") == (
        True,
        None,
        True,
    )  # not reused
    assert framing(b"") == (False, None, True)  # neither: the body ends with the connection
    assert framing(b"Content-Length: 12\r\nConnection: close\r\n") == (False, 12, True)
    assert framing(b"Content-Length: 12\r\n", method="HEAD") == (False, 0, False)
    assert framing(b"", status=204) == (False, 0, False)
    assert framing(b"Content-Length: 3\r\n", version=10) == (False, 3, True)
    assert framing(b"Content-Length: 3\r\nConnection: keep-alive\r\n", version=10) == (False, 3, False)


@pytest.mark.parametrize(
    "block",
    [
        b"Content-Length: 1\r\nContent-Length: 2\r\n",
        b"Content-Length: 1, 2\r\n",
        b"Content-Length: -1\r\n",
        b"Content-Length: " + b"9" * 20 + b"\r\n",
        b"Content-Length: \xd9\xa2\r\n",
        b"Transfer-Encoding: gzip, chunked\r\n",
        b"Transfer-Encoding: identity\r\nContent-Length: 3\r\n",
    ],
)
def test_bi_unusable_framing_is_a_protocol_violation(block: bytes) -> None:
    with pytest.raises(MalformedMessage):
        body_framing(parse_fields(_lines(block)), 200, 11, "GET")


_NAMES = st.sampled_from([b"X-A", b"Content-Length", b"Transfer-Encoding", b"", b" ", b"\t", b"a b", b"\xff"])
_COLONS = st.sampled_from([b":", b": ", b" :", b""])
_VALUE = st.lists(
    st.sampled_from([b" ", b"\t", b"\r", b"\n", b"\0", b"a", b",", b"7", b"\xff", b"\x1b"]), max_size=8
)
_ENDS = st.sampled_from([b"\r\n", b"\n", b"\r", b""])
_LINE = st.tuples(_NAMES, _COLONS, _VALUE.map(b"".join), _ENDS).map(b"".join)


@settings(max_examples=500, deadline=None)
@given(st.lists(_LINE, max_size=6))
def test_bi_any_field_lines_parse_or_raise_only_malformed_message(lines: list[bytes]) -> None:
    """Whatever bytes a peer sends as field lines, the parser returns headers without CR, LF or NUL in any value
    or raises its own error: never another exception."""
    try:
        headers = parse_fields(lines)
    except MalformedMessage:
        return
    for name, value in headers.multi_items():
        assert name and not any(c in value for c in "\r\n\0")


def _message(raw: bytes, method: str = "GET") -> tuple[int, FramedBody]:
    fp = io.BufferedReader(io.BytesIO(raw))  # type: ignore[arg-type]
    head = read_head(fp, method)
    return head.status, FramedBody(fp, head)


def _body(body: FramedBody, size: int = 3) -> bytes:
    out = b""
    while chunk := body.read(size):
        out += chunk
    assert body.done
    return out


def test_pc_bodies_by_length_by_chunks_and_until_the_close() -> None:
    """#25: the body reader that replaced http.client's: extensions and trailer fields are read and dropped."""
    status, body = _message(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello+next answer")
    assert status == 200 and _body(body) == b"hello"
    chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4;ext=1\r\nwiki\r\n5\npedia\n0\r\nX-T: 1\r\n\r\n"
    assert _body(_message(chunked)[1]) == b"wikipedia"
    assert _body(_message(b"HTTP/1.1 200 OK\r\n\r\nto the end")[1]) == b"to the end"
    assert _message(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n", "HEAD")[1].done


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        (b"", NoResponse),
        (b"HTTP/1.1 200 OK\r\nContent-Le", CutMessage),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nshort", CutMessage),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n9\r\nshort", CutMessage),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nwiki", CutMessage),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nwikiXY\r\n0\r\n\r\n", MalformedMessage),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", MalformedMessage),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\n", MalformedMessage),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + b"1" * 17 + b"\r\n", MalformedMessage),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-T: 1\r\n", CutMessage),
    ],
)
def test_bi_cut_or_broken_message_is_said_by_cause(raw: bytes, error: type[Exception]) -> None:
    """Cut by the connection: CutMessage/NoResponse (exit 5, a network error); not HTTP: MalformedMessage (exit 6)."""
    with pytest.raises(error):
        _body(_message(raw)[1])


def test_bi_transfer_encoding_with_http_1_0_or_content_length_ends_the_connection() -> None:
    """RFC 9112 §6.1: an HTTP/1.0 message with Transfer-Encoding has faulty framing, the connection is closed after
    it; §6.3 item 3: Transfer-Encoding with Content-Length may be response splitting, so the chunked body is read
    and the connection never reused (the next answer must not come from bytes framed the other way)."""

    def framing(block: bytes, version: int = 11) -> tuple[bool, int | None, bool]:
        return body_framing(parse_fields(_lines(block)), 200, version, "GET")

    keep = b"Transfer-Encoding: chunked\r\nConnection: keep-alive\r\n"
    assert framing(keep, version=10) == (True, None, True)
    assert framing(b"Transfer-Encoding: chunked\r\nContent-Length: 3\r\n") == (True, None, True)
    assert framing(b"Transfer-Encoding: chunked\r\n") == (True, None, False)


@pytest.mark.parametrize(
    "block",
    [b"Transfer-Encoding: \r\nContent-Length: 3\r\n", b"Transfer-Encoding:\r\n", b"Transfer-Encoding: ,\r\n"],
)
def test_bi_empty_transfer_encoding_is_a_protocol_violation(block: bytes) -> None:
    """A Transfer-Encoding field without a coding is not ``chunked``: refused, never read by Content-Length."""
    with pytest.raises(MalformedMessage):
        body_framing(parse_fields(_lines(block)), 200, 11, "GET")


def test_ft_close_after_an_interim_answer_is_a_cut_message_not_no_response() -> None:
    """A 100 Continue means the request arrived: a close after it is a broken answer (CutMessage, never re-sent
    on a fresh connection as NoResponse is)."""
    with pytest.raises(CutMessage):
        _message(b"HTTP/1.1 100 Continue\r\n\r\n")


@pytest.mark.parametrize(
    "raw",
    [
        b"\x00\x00\x08\x07\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01",  # an HTTP/2 GOAWAY frame
        b"SSH-2.0-OpenSSH_9.6",
        b"\x15\x03\x03\x00\x02\x02\x46",  # a TLS alert: TLS spoken on a plain-HTTP port
    ],
)
def test_bi_garbage_then_close_is_a_protocol_violation_not_a_cut_head(raw: bytes) -> None:
    """Bytes that cannot begin ``HTTP/1.`` are not a status line cut short, whatever the connection does next:
    a protocol violation (exit 6), as http.client's BadStatusLine was before #25; a true prefix stays a cut."""
    with pytest.raises(MalformedMessage):
        _message(raw)
    with pytest.raises(CutMessage):
        _message(b"HTTP/1.1 20")


class _Bytes:
    """A body double: ``data`` read in pieces, as a socket gives them."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def read(self, size: int) -> bytes:
        piece, self.data = self.data[:size], self.data[size:]
        return piece

    def close(self) -> None:
        return None


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
def test_bi_encoded_body_cut_inside_its_stream_is_a_protocol_violation(encoding: str) -> None:
    """docs/architecture.md §1, fail never truncate: a compressed body framed complete but whose stream stops
    before its end (no gzip trailer, no final deflate block) is refused, never returned as the shorter text."""
    text = b'{"tags":["' + b'", "'.join(b"v%d" % i for i in range(2000)) + b'"]}'
    whole = gzip.compress(text) if encoding == "gzip" else zlib.compress(text)
    assert Response(200, Headers({"Content-Encoding": encoding}), url="u", body=_Bytes(whole)).read() == text
    cut = Response(
        200, Headers({"Content-Encoding": encoding}), url="u", body=_Bytes(whole[: len(whole) // 2])
    )
    with pytest.raises(ProtocolViolation):
        cut.read()
    assert Response(200, Headers({"Content-Encoding": encoding}), url="u", body=_Bytes(b"")).read() == b""
