"""ocireg's own HTTP message types: :class:`Headers`, :class:`Request` and the streamed :class:`Response`.

These are the only HTTP types that cross a module boundary (client, auth and operations see nothing of
``http.client``). A response body is read through :meth:`Response.iter_raw` (as received: blobs, whose digest
covers the bytes on the wire) or :meth:`Response.iter_bytes` (``Content-Encoding`` undone, for JSON); every
failure while reading is raised as an ocireg error naming ``Response.what``:

* the body stopped arriving or the deadline passed → :class:`~ocireg.errors.TransportError` (exit 5);
* the connection dropped mid-body → :class:`~ocireg.errors.TransportError`;
* the bytes break HTTP/1.1 framing or the declared encoding → :class:`~ocireg.errors.ProtocolViolation`.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable, Iterator, Mapping

from ocireg.errors import ProtocolViolation, TransportError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Protocol
else:
    # typing costs a check more than this module (#16, start-up): mypy sees the Protocol, run time a plain class
    Protocol = object

__all__ = [
    "Body",
    "CutMessage",
    "DeadlineExceeded",
    "FramedBody",
    "Head",
    "Headers",
    "MalformedMessage",
    "NoResponse",
    "Request",
    "Response",
    "body_framing",
    "parse_fields",
    "parse_status_line",
    "read_head",
]

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
#: Total size of a response's head (status line and fields); a registry's are a few KiB (Go's net/http allows
#: 1 MiB in ``Transport.MaxResponseHeaderBytes``; 64 KiB is far above any registry and bounds a hostile one early).
MAX_HEADER_BYTES = 64 * 1024
#: ``Content-Length`` digits: 19 hold any 63-bit size; more is an attack on the parser, not a body.
MAX_LENGTH_DIGITS = 19
#: Header fields in one response: ``http.client``'s own limit (``_MAXHEADERS``), kept from before #25.
MAX_FIELDS = 100
#: RFC 9110 §5.6.2: a field name is a token.
TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


class MalformedMessage(ValueError):
    """The peer's bytes are not HTTP/1.1 (status line, headers, framing or encoding): a protocol violation."""


class DeadlineExceeded(TimeoutError):
    """The operation's total deadline passed while bytes were still being read or written."""


class NoResponse(ConnectionResetError):
    """The connection closed before any byte of an answer (a keep-alive connection the peer had closed): the
    request may be sent again on a fresh one (RFC 9112 §9.3.1)."""


class CutMessage(ConnectionResetError):
    """The connection closed in the middle of a response head or body: a broken connection (exit 5), never a
    complete answer; the request may have been processed (#23)."""


class Headers(Mapping[str, str]):
    """A case-insensitive multi-map that keeps order and repeated fields.

    ``headers[name]`` and ``get`` join repeated fields with ``", "`` (RFC 9110 §5.3); ``get_list`` returns them
    one by one (``WWW-Authenticate``, ``Link`` and ``Warning`` values may each contain commas).
    """

    __slots__ = ("_items",)

    def __init__(self, items: Iterable[tuple[str, str]] | Mapping[str, str] = ()) -> None:
        pairs = items.items() if isinstance(items, Mapping) else items
        self._items: list[tuple[str, str, str]] = [(k.lower(), k, v) for k, v in pairs]

    def __getitem__(self, name: str) -> str:
        key = name.lower()
        values = [v for k, _, v in self._items if k == key]
        if not values:
            raise KeyError(name)
        return values[0] if len(values) == 1 else ", ".join(values)

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        key = name.lower()
        return any(k == key for k, _, _ in self._items)

    def __iter__(self) -> Iterator[str]:
        seen: list[str] = []
        for key, _, _ in self._items:
            if key not in seen:
                seen.append(key)
        return iter(seen)

    def __len__(self) -> int:
        return len({k for k, _, _ in self._items})

    def get_list(self, name: str) -> list[str]:
        key = name.lower()
        return [v for k, _, v in self._items if k == key]

    def multi_items(self) -> list[tuple[str, str]]:
        """Every field as sent, names in their original case."""
        return [(name, v) for _, name, v in self._items]

    def __repr__(self) -> str:
        return f"Headers({self.multi_items()!r})"


def parse_status_line(line: bytes) -> tuple[int, int, str]:
    """``HTTP/1.x NNN reason`` (RFC 9112 §4) as (version, status, reason), the version 10 for HTTP/1.0 and 11 for
    any later 1.x (as ``http.client`` has it); :class:`MalformedMessage` for anything else.

    The status is exactly three ASCII digits: ``int`` alone would take ``+200``, ``2_00`` or Unicode digits.
    """
    text = _line(line)
    version, _, rest = text.partition(" ")
    code, _, reason = rest.partition(" ")
    if not (version.startswith("HTTP/1.") and version[7:].isdigit() and version[7:].isascii()):
        raise MalformedMessage(f"not an HTTP/1.x status line ({text[:40]!r})")
    if not (len(code) == 3 and code.isdigit() and code.isascii() and code[0] != "0"):
        raise MalformedMessage(f"invalid status code ({code[:10]!r})")
    return 10 if version == "HTTP/1.0" else 11, int(code), reason.strip()


def parse_fields(lines: Iterable[bytes]) -> Headers:
    """The field lines of a response head (RFC 9112 §5), each as read off the wire, its CRLF or LF included.

    Repeated fields are kept in order (:class:`Headers`). An obs-fold line (starting with SP or HTAB) continues
    the field before it and is joined to it with one SP, as a user agent must do (RFC 9112 §5.2). Invalid, so
    :class:`MalformedMessage`: a line without a colon, a field name that is not a token (whitespace before the
    colon included, RFC 9112 §5.1), a folded first line (RFC 9112 §2.2), a CR, LF or NUL inside a value
    (RFC 9110 §5.5). Values are ISO-8859-1 text, surrounding whitespace removed (RFC 9110 §5.5).
    """
    items: list[tuple[str, str, str]] = []
    for raw in lines:
        line = _line(raw)
        if line[:1] in (" ", "\t"):
            if not items:
                raise MalformedMessage("the header section starts with a folded line")
            key, name, value = items[-1]
            more = line.strip(" \t")
            items[-1] = (key, name, value + " " + more if value and more else value or more)
            continue
        name, colon, value = line.partition(":")
        if not colon or TOKEN.fullmatch(name) is None:
            raise MalformedMessage(f"invalid header field line ({line[:40]!r})")
        items.append((name.lower(), name, value.strip(" \t")))
    for _, name, value in items:
        if "\r" in value or "\n" in value or "\0" in value:
            raise MalformedMessage(f"the {name[:40]} header field contains a CR, LF or NUL")
    headers = Headers()
    headers._items = items  # built here in its own form, not tupled again
    return headers


def body_framing(
    headers: Headers, status: int, version: int, method: str | None
) -> tuple[bool, int | None, bool]:
    """How a response body ends (RFC 9112 §6.3), as :class:`FramedBody` reads it: (chunked, length, will_close);
    ``length`` None means at the close. ``will_close``: the connection cannot carry another request."""
    codings = ",".join(headers.get_list("transfer-encoding")).lower()
    length: int | None = None
    if (
        "transfer-encoding" in headers
    ):  # even empty: a field without "chunked" is never read by Content-Length
        # ocireg sends no TE field, so the only transfer coding a server may use is chunked (Go's net/http refuses
        # any other too); Content-Length is then ignored (RFC 9112 §6.3 item 3).
        if [c.strip() for c in codings.split(",")] != ["chunked"]:
            raise MalformedMessage(f"unsupported transfer coding ({codings[:40]!r})")
    elif "content-length" in headers:
        values = {v.strip() for value in headers.get_list("content-length") for v in value.split(",")}
        if len(values) != 1:
            raise MalformedMessage("conflicting Content-Length values")
        (value,) = values
        if not (value.isascii() and value.isdigit() and len(value) <= MAX_LENGTH_DIGITS):
            raise MalformedMessage(f"invalid Content-Length ({value[:24]!r}{'…' if len(value) > 24 else ''})")
        length = int(value)
    chunked = bool(codings)
    # RFC 9112 §6.1: Transfer-Encoding in HTTP/1.0 is faulty framing, close after it; §6.3 item 3: with
    # Content-Length it may be response splitting: the connection is not trusted with another answer either.
    two_ways = chunked and (version == 10 or "content-length" in headers)
    if status in (204, 304) or method == "HEAD":
        chunked, length = False, 0
    tokens = headers.get("connection", "").lower()
    if version == 11:
        will_close = "close" in tokens
    else:  # HTTP/1.0 keeps the connection only when it says so
        will_close = "keep-alive" not in tokens and "keep-alive" not in headers
    return chunked, length, will_close or two_ways or (not chunked and length is None)


class Head:
    """A response head as :func:`read_head` read it, with its body's framing (:func:`body_framing`)."""

    __slots__ = ("chunked", "headers", "length", "reason", "status", "version", "will_close")

    def __init__(self, version: int, status: int, reason: str, headers: Headers, method: str) -> None:
        self.version, self.status, self.reason, self.headers = version, status, reason, headers
        self.chunked, self.length, self.will_close = body_framing(headers, status, version, method)


def read_head(fp: io.BufferedReader, method: str) -> Head:
    """Read a response head off ``fp``: 1xx interim answers skipped (RFC 9110 §15.2), the final one parsed.

    At most :data:`MAX_HEADER_BYTES` and :data:`MAX_FIELDS` per head, else :class:`MalformedMessage`;
    :class:`NoResponse` if the connection closed before any byte, :class:`CutMessage` if it closed after some.
    """
    budget = MAX_HEADER_BYTES
    while True:
        line = fp.readline(budget + 1)
        if not line:
            if budget < MAX_HEADER_BYTES:  # after a 1xx: the request arrived, the answer was cut (#23)
                raise CutMessage("the connection closed after an interim response")
            raise NoResponse("the connection closed without a response")
        if not line.endswith(b"\n") and not b"HTTP/1.".startswith(line[:7]):
            # not a status line cut short but no HTTP at all (a TLS alert, an HTTP/2 frame): as http.client's
            # BadStatusLine before #25, a protocol violation whatever the connection does next
            raise MalformedMessage(f"not an HTTP/1.x status line ({_line(line)[:40]!r})")
        budget = _took(line, budget)
        version, status, reason = parse_status_line(line)
        lines: list[bytes] = []
        while True:
            line = fp.readline(budget + 1)
            budget = _took(line, budget)
            if line in (b"\r\n", b"\n"):
                break
            lines.append(line)
            if len(lines) > MAX_FIELDS:
                raise MalformedMessage(f"more than {MAX_FIELDS} header fields")
        if status == 101:
            raise MalformedMessage("the server switched protocols unasked (HTTP 101)")
        if not 100 <= status < 200:
            return Head(version, status, reason, parse_fields(lines), method)


def _took(line: bytes, budget: int) -> int:
    """What is left of a head's size budget after ``line``; a line the connection cut is a broken connection."""
    if len(line) > budget:
        raise MalformedMessage(f"the response head exceeds {MAX_HEADER_BYTES // 1024} KiB")
    if not line.endswith(b"\n"):
        raise CutMessage("the connection closed in the middle of the response head")
    return budget - len(line)


#: A chunk-size line (RFC 9112 §7.1): 16 hex digits hold any size; extensions are ignored but bounded.
_CHUNK_LINE = 4096
_HEX = frozenset(b"0123456789abcdefABCDEF")


class FramedBody:
    """A response body read off ``fp`` as its head frames it (RFC 9112 §6.3): ``Content-Length`` bytes, chunks
    (RFC 9112 §7.1; extensions and trailer fields read and dropped), or everything until the connection closes.

    ``read`` returns at most ``size`` bytes, ``b""`` at the end (``done`` is then true); a body cut short raises
    :class:`CutMessage`, a chunk header that is not a hexadecimal size :class:`MalformedMessage`.
    """

    __slots__ = ("_chunked", "_fp", "_left", "done")

    def __init__(self, fp: io.BufferedReader, head: Head) -> None:
        self._fp = fp
        self._chunked = head.chunked
        self._left = head.length  # bytes left: of the body, or (chunked) of the current chunk
        self.done = not head.chunked and head.length == 0

    def read(self, size: int) -> bytes:
        if self.done or size <= 0:
            return b""
        if self._chunked:
            return self._read_chunk(size)
        left = self._left
        data = self._fp.read1(size if left is None else min(size, left))
        if left is None:  # until the close
            self.done = not data
            return data
        if not data:
            raise CutMessage(f"the body ended {left} bytes before its Content-Length")
        self._left = left - len(data)
        self.done = self._left == 0
        return data

    def _read_chunk(self, size: int) -> bytes:
        if not self._left:
            self._left = self._chunk_size()
            if self._left == 0:
                self._trailer()
                self.done = True
                return b""
        data = self._fp.read1(min(size, self._left or 0))
        if not data:
            raise CutMessage(f"the body was cut short with {self._left} bytes of a chunk still to come")
        self._left = (self._left or 0) - len(data)
        if self._left == 0:
            end = self._fp.readline(3)  # the chunk's CRLF (a lone LF accepted, RFC 9112 §2.2)
            if end not in (b"\r\n", b"\n"):
                if not end.endswith(b"\n") and len(end) < 2:
                    raise CutMessage("the body was cut short after a chunk")
                raise MalformedMessage("a chunk is not followed by CRLF")
        return data

    def _chunk_size(self) -> int:
        line = self._fp.readline(_CHUNK_LINE + 1)
        if not line.endswith(b"\n"):
            if len(line) > _CHUNK_LINE:
                raise MalformedMessage("a chunk header is too long")
            raise CutMessage("the body was cut short before a chunk header")
        digits = line.split(b";", 1)[0].strip(b" \t\r\n")
        if not digits or len(digits) > 16 or not _HEX.issuperset(digits):
            raise MalformedMessage("a chunk header is not a hexadecimal size")
        return int(digits, 16)

    def _trailer(self) -> None:
        budget = MAX_HEADER_BYTES
        for _ in range(MAX_FIELDS + 1):
            line = self._fp.readline(budget + 1)
            budget = _took(line, budget)
            if line in (b"\r\n", b"\n"):
                return
        raise MalformedMessage(f"more than {MAX_FIELDS} trailer fields")


def _line(raw: bytes) -> str:
    """A line without its terminator, CRLF or a lone LF (RFC 9112 §2.2); any other CR stays, to be refused."""
    end = -2 if raw.endswith(b"\r\n") else -1 if raw.endswith(b"\n") else len(raw)
    return raw[:end].decode("latin-1")


class Request:
    """One request as the wire layer sends it (and as a test double of the transport receives it)."""

    __slots__ = ("content", "headers", "method", "url")

    def __init__(
        self, method: str, url: str, headers: Headers, content: bytes | Iterator[bytes] | None = None
    ) -> None:
        self.method = method
        self.url = url
        self.headers = headers
        self.content = content

    def read(self) -> bytes:
        """The body as bytes (a streamed body is consumed)."""
        if self.content is None:
            return b""
        if isinstance(self.content, bytes):
            return self.content
        self.content = b"".join(self.content)
        return self.content


class Body(Protocol):
    """Where a response body comes from: the wire, or a test double.

    ``read`` returns up to ``size`` bytes, ``b""`` at the end, and raises ``TimeoutError`` (a step timeout, or
    :class:`DeadlineExceeded`), ``OSError`` (connection lost) or :class:`MalformedMessage`. ``close`` gives the
    connection back to its pool if the body was read to its end and the connection may be kept, else drops it.
    """

    def read(self, size: int) -> bytes: ...

    def close(self) -> None: ...


class _Empty:
    def read(self, size: int) -> bytes:
        return b""

    def close(self) -> None:
        return None


class Response:
    """Status, headers, the final URL and a streamed body; close it (``with``, or read it to the end)."""

    __slots__ = ("_body", "_closed", "headers", "reason", "replayed", "status", "url", "what")

    def __init__(
        self,
        status: int,
        headers: Headers,
        *,
        url: str,
        body: Body | None = None,
        reason: str = "",
        what: str = "response",
    ) -> None:
        self.status = status
        self.headers = headers
        self.url = url
        self.reason = reason
        self.what = what
        self._body: Body = body if body is not None else _Empty()
        self._closed = False
        #: The request went out twice: a reused connection died before any answer (it may have been processed).
        self.replayed = False

    def __repr__(self) -> str:
        return f"<Response {self.status}>"

    def __enter__(self) -> Response:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def is_redirect(self) -> bool:
        return self.status in REDIRECT_STATUSES and "location" in self.headers

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._body.close()

    def iter_raw(self, chunk_size: int = 64 * 1024) -> Iterator[bytes]:
        """The body as received, at most ``chunk_size`` bytes at a time; closes the response at the end."""
        try:
            while True:
                chunk = self._read(chunk_size)
                if not chunk:
                    return
                yield chunk
        finally:
            self.close()

    def iter_bytes(self, chunk_size: int = 64 * 1024) -> Iterator[bytes]:
        """The body with ``Content-Encoding`` (gzip, deflate) undone; each chunk at most ``chunk_size`` bytes.

        Decoded output is produced at most ``chunk_size`` bytes at a time, so a caller counting toward a cap
        stops a compression bomb at the cap, not after inflating it.
        """
        encoding = self.headers.get("content-encoding", "").strip().lower()
        if encoding in ("", "identity"):
            yield from self.iter_raw(chunk_size)
            return
        if encoding not in ("gzip", "x-gzip", "deflate"):
            self.close()
            raise ProtocolViolation(
                f"{self.what}: body in an encoding ocireg did not ask for ({encoding[:40]!r})"
            )
        import zlib

        # wbits 16+MAX: gzip container; for deflate try zlib-wrapped first (RFC 9110 §8.4.1.2), raw if that fails.
        wbits = 16 + zlib.MAX_WBITS if encoding != "deflate" else zlib.MAX_WBITS
        decoder = zlib.decompressobj(wbits)
        first = True
        try:
            for raw in self.iter_raw(chunk_size):
                pending = raw
                while pending:
                    try:
                        out = decoder.decompress(pending, chunk_size)
                    except zlib.error as exc:
                        if first and encoding == "deflate":
                            decoder = zlib.decompressobj(-zlib.MAX_WBITS)
                            first = False
                            continue
                        raise ProtocolViolation(f"{self.what}: body could not be decoded ({exc})") from exc
                    first = False
                    pending = decoder.unconsumed_tail
                    if out:
                        yield out
            tail = decoder.flush()
            if tail:
                yield tail
            # bytes came but the stream stopped before its end: fail, never truncate (docs/architecture.md §1);
            # an empty body (a 204 or a HEAD labelled gzip) stays empty
            if not first and not decoder.eof:
                raise ProtocolViolation(f"{self.what}: the {encoding} body ends inside its compressed stream")
        finally:
            self.close()

    def read(self) -> bytes:
        """The whole decoded body, uncapped (only for bodies known to be small; else ``read_capped``)."""
        return b"".join(self.iter_bytes())

    def _read(self, size: int) -> bytes:
        if self._closed:
            return b""
        try:
            return self._body.read(size)
        except (DeadlineExceeded, OSError, MalformedMessage) as exc:
            self.close()
            raise self._read_failure(exc) from exc

    def _read_failure(self, exc: Exception) -> TransportError | ProtocolViolation:
        """The error by cause for a body that stopped arriving: deadline, timeout, not HTTP, connection lost."""
        if isinstance(exc, DeadlineExceeded):
            return TransportError(
                f"{self.what}: gave up while the body was arriving: the deadline passed",
                hint="raise it with --timeout if the registry is just slow",
            )
        if isinstance(exc, TimeoutError):
            return TransportError(f"{self.what}: the body stopped arriving ({type(exc).__name__})")
        if isinstance(exc, MalformedMessage):
            return ProtocolViolation(
                f"{self.what}: the registry did not answer in HTTP: malformed body ({exc})",
                hint="something that is not a registry (or a broken proxy) answers on that host and port",
            )
        return TransportError(f"{self.what}: connection lost while reading the body ({exc})")
