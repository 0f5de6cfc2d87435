"""A fault-injecting reverse proxy for ocireg's tests (see /work/shared/TESTING.md, "Fault proxy").

Why a proxy of our own: the fault, security and load tests need to put a real registry (distribution 2.8)
behind something that misbehaves on demand -- 429 storms, resets before and in the middle of a body, slow
drips, truncated bodies, redirects to a credential sink, rewritten headers, endless bodies, gzip bombs,
OCI-style pagination and tag deletion that distribution 2.8 itself does not implement -- while counting
requests, connections and concurrency exactly.  Off-the-shelf proxies either buffer bodies, hide
connection reuse, or cannot reset a socket mid-body, so this one is written on raw stdlib sockets.

Design in one paragraph: a listener on ``127.0.0.1:0`` (optionally TLS) accepts client connections, one
thread per connection, HTTP/1.1 keep-alive on the client side.  Each request is matched against an ordered
rule list (method or ``"*"``, ``re.search`` on path+query, optional ``times``); the first live rule's
actions build a *plan* (delay, reset, a terminal local answer, header/body edits, drip, cut).  Unless a
terminal action answers locally, the request is forwarded to the upstream with ``http.client`` (one reused
upstream connection per client connection), and the response is streamed back in chunks -- never fully
buffered unless a rule needs the whole body (``replace_body``, tag filtering).

Only loopback addresses are ever contacted: the listener binds 127.0.0.1 and the upstream is whatever URL
the test gives (always a loopback rig server).
"""

from __future__ import annotations

import bisect
import contextlib
import http.client
import json
import re
import select
import socket
import ssl
import struct
import threading
import time
import zlib
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import ClassVar
from urllib.parse import parse_qsl, urlencode, urlsplit

__all__ = [
    "Action",
    "AddHeader",
    "AfterWork",
    "CutHead",
    "Delay",
    "Drip",
    "EmulateOciTagDelete",
    "FaultProxy",
    "HugeBody",
    "LocationViaProxy",
    "Paginate",
    "Redirect",
    "RemoveHeader",
    "ReplaceBody",
    "RequestRecord",
    "Reset",
    "ResetMidBody",
    "RewriteHeader",
    "Rule",
    "Status",
    "Truncate",
    "add_header",
    "after_work",
    "blob_upload_unknown",
    "cut_head",
    "delay",
    "drip",
    "emulate_oci_tag_delete",
    "huge_body",
    "location_via_proxy",
    "paginate",
    "redirect",
    "remove_header",
    "replace_body",
    "reset",
    "reset_mid_body",
    "rewrite_header",
    "rewrite_realm",
    "status",
    "truncate",
]

Headers = list[tuple[str, str]]
HeaderInput = Mapping[str, str] | Sequence[tuple[str, str]] | None

#: RFC 9110 hop-by-hop headers: they describe one connection, never the end-to-end message.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)

_CHUNK = 64 * 1024
_MAX_LINE = 64 * 1024
_MAX_HEADERS = 200
_MAX_BUFFERED_BODY = 256 * 1024 * 1024  # replace_body / list fetches: a test bug, not a fault, beyond this
_MAX_LIST_PAGES = 1000
_ZERO_DIGEST = "sha256:" + "0" * 64
_MANIFEST_RE = re.compile(r"^/v2/(?P<name>.+)/manifests/(?P<ref>[^/]+)$")
_TAGS_RE = re.compile(r"^/v2/(?P<name>.+)/tags/list$")
_CATALOG_PATH = "/v2/_catalog"
_LINK_NEXT_RE = re.compile(r'<([^>]*)>\s*;\s*rel="?next"?')
_MANIFEST_ACCEPT = ", ".join(
    [
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.docker.distribution.manifest.v1+prettyjws",
    ]
)


# --------------------------------------------------------------------------------------------------
# Actions and rules
# --------------------------------------------------------------------------------------------------


class Action:
    """Base class of every rule action; ``kind`` names it in request records and error messages."""

    kind: ClassVar[str] = "action"


@dataclass(frozen=True)
class Status(Action):
    """Answer locally with ``code``; the request never reaches the upstream."""

    kind: ClassVar[str] = "status"
    code: int
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""


@dataclass(frozen=True)
class Reset(Action):
    """Close the client socket with SO_LINGER 0 (a TCP RST) before any response byte."""

    kind: ClassVar[str] = "reset"


@dataclass(frozen=True)
class ResetMidBody(Action):
    """Send the response head and ``after_bytes`` body bytes, then RST the connection."""

    kind: ClassVar[str] = "reset_mid_body"
    after_bytes: int


@dataclass(frozen=True)
class Delay(Action):
    """Wait ``seconds`` before doing anything else (forwarding or answering)."""

    kind: ClassVar[str] = "delay"
    seconds: float


@dataclass(frozen=True)
class Drip(Action):
    """Send the response body ``bytes_per_chunk`` at a time, ``interval`` seconds apart."""

    kind: ClassVar[str] = "drip"
    bytes_per_chunk: int
    interval: float


@dataclass(frozen=True)
class Truncate(Action):
    """Keep the full Content-Length in the head but send only ``n`` body bytes, then close (FIN)."""

    kind: ClassVar[str] = "truncate"
    n: int


@dataclass(frozen=True)
class Redirect(Action):
    """Answer ``status`` with ``Location``; a callable gets the request's path+query and returns the URL."""

    kind: ClassVar[str] = "redirect"
    location: str | Callable[[str], str]
    status: int = 307


@dataclass(frozen=True)
class CutHead(Action):
    """Send ``head`` (the start of a response head without its blank line), then close (FIN).

    Why: a peer that dies in the middle of its header block (``HTTP/1.1 200 OK\\r\\nContent-Ty`` then EOF)
    must read as a broken connection, not as a complete head with an empty body (#23).
    """

    kind: ClassVar[str] = "cut_head"
    head: bytes


@dataclass(frozen=True)
class AfterWork(Action):
    """Forward the request (the upstream does the work), drain its answer, then answer ``code`` instead.

    ``code=None``: reset the connection instead of answering (the answer is lost). Models a registry that
    carried a DELETE or PUT out and then failed to say so (#23: "500 after doing the work").
    """

    kind: ClassVar[str] = "after_work"
    code: int | None = 500
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""


@dataclass(frozen=True)
class RewriteHeader(Action):
    """Set response header ``name``; a callable gets the old value (or None), may return None to drop it."""

    kind: ClassVar[str] = "rewrite_header"
    name: str
    value: str | Callable[[str | None], str | None]


@dataclass(frozen=True)
class RemoveHeader(Action):
    """Drop every response header called ``name``."""

    kind: ClassVar[str] = "remove_header"
    name: str


@dataclass(frozen=True)
class AddHeader(Action):
    """Append one more response header (e.g. a second ``Warning``) without touching existing ones."""

    kind: ClassVar[str] = "add_header"
    name: str
    value: str


@dataclass(frozen=True)
class LocationViaProxy(Action):
    """Rewrite an absolute ``Location`` that points at the upstream so that it points at the proxy.

    distribution builds upload URLs from the Host header, which the proxy rewrites to the upstream's;
    without this, a client following an upload ``Location`` would bypass the proxy.
    """

    kind: ClassVar[str] = "location_via_proxy"


@dataclass(frozen=True)
class ReplaceBody(Action):
    """Replace the response body (bytes, or callable(old) -> new) and fix Content-Length."""

    kind: ClassVar[str] = "replace_body"
    body: bytes | Callable[[bytes], bytes]


@dataclass(frozen=True)
class HugeBody(Action):
    """Answer 200 with a generated body of ``n_bytes`` (None: endless), streamed until the client leaves.

    ``gzip_bomb``: the body is a small gzip stream (``Content-Encoding: gzip``) that inflates to
    ``n_bytes`` (``prefix`` followed by zeros).  Otherwise the body is ``prefix`` followed by ``A`` bytes.
    ``chunked=False`` sends a Content-Length when the size is known, else a close-delimited body.
    """

    kind: ClassVar[str] = "huge_body"
    n_bytes: int | None
    content_type: str = "application/octet-stream"
    chunked: bool = True
    gzip_bomb: bool = False
    prefix: bytes = b""


@dataclass(frozen=True)
class Paginate(Action):
    """Serve ``/v2/<name>/tags/list`` and ``/v2/_catalog`` in pages of ``n`` with OCI ``Link`` headers.

    distribution 2.8 ignores ``n``/``last`` on tags/list, so the proxy fetches the full list from the
    upstream (with the client's Authorization, following upstream ``Link`` pages) on every first-page
    request (no ``last``), caches that snapshot per path, and cuts pages from the sorted list.  A smaller
    client ``n`` wins.  Upstream errors (401 challenges, 404 NAME_UNKNOWN) pass through unchanged.  Any
    other path falls through to normal forwarding.
    """

    kind: ClassVar[str] = "paginate"
    n: int


@dataclass(frozen=True)
class EmulateOciTagDelete(Action):
    """Emulate OCI ``DELETE /v2/<name>/manifests/<tag>`` (remove only that tag) on top of distribution 2.8.

    distribution 2.8 rejects tag deletes, and deleting by digest would also remove sibling tags, so the
    emulation keeps the upstream untouched and records the tag as deleted in proxy state:

    1. Authorization and "delete enabled" are checked by the real registry: the proxy sends
       ``DELETE /v2/<name>/manifests/sha256:000...0`` upstream with the client's headers.  401/403
       (challenge with the ``delete`` scope), 405 (delete disabled) and 5xx pass through unchanged; the
       expected 404 MANIFEST_UNKNOWN means "allowed".
    2. Existence: ``HEAD`` of the tag upstream (all manifest types accepted).  404 -> 404 MANIFEST_UNKNOWN;
       a tag already deleted in proxy state -> 404 too; 401/403 on the HEAD (token without pull) is taken
       as "exists".
    3. The tag is recorded as deleted and the answer is ``202 Accepted``.

    From then on, for that proxy (until ``reset_state()``): GET/HEAD of the tag are still forwarded (so
    auth challenges stay real) but a 2xx answer becomes 404 MANIFEST_UNKNOWN; tags/list (paginated or not)
    omits it; a successful ``PUT`` of the tag through the proxy un-deletes it.  Digest references are
    forwarded untouched.
    """

    kind: ClassVar[str] = "emulate_oci_tag_delete"


def _header_tuple(headers: HeaderInput) -> tuple[tuple[str, str], ...]:
    """Normalise a mapping or a list of pairs; lists keep duplicates (several Warning headers)."""
    if headers is None:
        return ()
    if isinstance(headers, Mapping):
        return tuple((str(k), str(v)) for k, v in headers.items())
    return tuple((str(k), str(v)) for k, v in headers)


def status(code: int, headers: HeaderInput = None, body: bytes | str = b"") -> Status:
    """Answer directly, e.g. ``status(429, {"Retry-After": "1"})`` or a 200 HTML captive-portal page."""
    data = body.encode() if isinstance(body, str) else bytes(body)
    return Status(code, _header_tuple(headers), data)


def reset() -> Reset:
    """Reset the connection before any response (FT: reset before response)."""
    return Reset()


def reset_mid_body(after_bytes: int) -> ResetMidBody:
    """Forward the response but reset after ``after_bytes`` body bytes (FT: reset mid-body)."""
    return ResetMidBody(after_bytes)


def delay(seconds: float) -> Delay:
    """Wait before forwarding (FT: read timeouts, LD: concurrency measurement)."""
    return Delay(seconds)


def drip(bytes_per_chunk: int, interval: float) -> Drip:
    """Forward the response slowly (FT: slow drip vs the total deadline)."""
    if bytes_per_chunk <= 0:
        raise ValueError("bytes_per_chunk must be positive")
    return Drip(bytes_per_chunk, interval)


def truncate(n: int) -> Truncate:
    """Send only ``n`` body bytes under the full Content-Length, then close."""
    return Truncate(n)


def redirect(location: str | Callable[[str], str], status: int = 307) -> Redirect:
    """Redirect elsewhere, e.g. to the credential sink (SEC: no credentials through redirects)."""
    return Redirect(location, status)


def cut_head(head: bytes = b"HTTP/1.1 200 OK\r\nContent-Ty") -> CutHead:
    """Close the connection in the middle of the response head (FT: connection cut inside the headers)."""
    return CutHead(head)


def after_work(code: int | None = 500, headers: HeaderInput = None, body: bytes | str = b"") -> AfterWork:
    """Let the upstream do the work, then answer ``code`` (None: reset, the answer is lost)."""
    data = body.encode() if isinstance(body, str) else bytes(body)
    return AfterWork(code, _header_tuple(headers), data)


def blob_upload_unknown() -> Status:
    """``404 BLOB_UPLOAD_UNKNOWN``: the registry forgot the upload session (distribution spec, error codes)."""
    body = _json_error("BLOB_UPLOAD_UNKNOWN", "blob upload unknown to registry", {})
    return status(404, {"Content-Type": "application/json; charset=utf-8"}, body)


def rewrite_header(name: str, value: str | Callable[[str | None], str | None]) -> RewriteHeader:
    """Change (or add) a response header, e.g. Docker-Content-Digest, WWW-Authenticate, Link, Warning."""
    return RewriteHeader(name, value)


def remove_header(name: str) -> RemoveHeader:
    """Drop a response header, e.g. Docker-Content-Digest on HEAD (BI: fall back to GET)."""
    return RemoveHeader(name)


def add_header(name: str, value: str) -> AddHeader:
    """Append a response header, keeping existing ones of the same name."""
    return AddHeader(name, value)


def rewrite_realm(realm: str) -> RewriteHeader:
    """Point the ``realm`` of a WWW-Authenticate challenge elsewhere (SEC: realm validation, cross-host)."""

    def _swap(old: str | None) -> str | None:
        if old is None:
            return None
        new, count = re.subn(r'realm="[^"]*"', f'realm="{realm}"', old, count=1)
        if count:
            return new
        return re.sub(r"realm=[^,\s]*", f'realm="{realm}"', old, count=1)

    return RewriteHeader("WWW-Authenticate", _swap)


def location_via_proxy() -> LocationViaProxy:
    """Make absolute upstream ``Location`` URLs point at the proxy (uploads through the proxy)."""
    return LocationViaProxy()


def replace_body(body: bytes | Callable[[bytes], bytes]) -> ReplaceBody:
    """Replace the response body (BI: wrong digests, malformed JSON, HTML with 200)."""
    return ReplaceBody(body)


def huge_body(
    n_bytes: int | None,
    content_type: str = "application/octet-stream",
    chunked: bool = True,
    gzip_bomb: bool = False,
    prefix: bytes = b"",
) -> HugeBody:
    """Answer 200 with a huge/endless body or a gzip bomb (BI: caps and bounded memory)."""
    if n_bytes is not None and n_bytes < len(prefix):
        raise ValueError("n_bytes must cover the prefix")
    return HugeBody(n_bytes, content_type, chunked, gzip_bomb, prefix)


def paginate(n: int) -> Paginate:
    """Emulate OCI pagination of tags/list and _catalog (PC: Link pagination through the proxy)."""
    if n <= 0:
        raise ValueError("page size must be positive")
    return Paginate(n)


def emulate_oci_tag_delete() -> EmulateOciTagDelete:
    """Emulate an OCI tag delete on distribution 2.8 (PC: safe tag delete, sibling tag survives)."""
    return EmulateOciTagDelete()


@dataclass(eq=False)
class Rule:
    """Match ``method`` (or ``"*"``) and ``re.search(path, path_and_query)``; apply ``action`` (one or many).

    ``times``: apply only that many times, then the rule is skipped and matching falls through to the
    next rule.  ``hits`` counts applications (read it in tests).  Several actions compose, e.g.
    ``Rule("GET", "/blobs/", [delay(0.5), drip(1024, 0.01)])``.
    """

    method: str
    path: str
    action: Action | Sequence[Action]
    times: int | None = None
    hits: int = 0
    _regex: re.Pattern[str] = field(init=False, repr=False)
    actions: tuple[Action, ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._regex = re.compile(self.path)
        self.actions = (self.action,) if isinstance(self.action, Action) else tuple(self.action)
        for act in self.actions:
            if not isinstance(act, Action):
                raise TypeError(f"not an action: {act!r}")

    def matches(self, method: str, path_and_query: str) -> bool:
        """True when this rule applies to the request (ignoring ``times``)."""
        if self.method != "*" and self.method.upper() != method.upper():
            return False
        return self._regex.search(path_and_query) is not None

    @property
    def exhausted(self) -> bool:
        """True once ``times`` applications happened."""
        return self.times is not None and self.hits >= self.times


@dataclass
class RequestRecord:
    """One request as the proxy saw it: what the tests assert on.

    ``auth_scheme`` is only the scheme word ("Bearer", "Basic"): the credential itself is never stored.
    ``query`` is the raw query string except that values of secret-named parameters (``token``,
    ``password``, ``access_token``, ...) read ``<redacted>``.
    ``status`` is what the client was sent (None for a reset before the response); ``outcome`` is one of
    "pending", "ok", "reset", "reset-mid-body", "truncated", "client-gone", "upstream-error", "cut-head",
    "reset-after-work".
    """

    method: str
    path: str
    query: str
    authorization: bool
    auth_scheme: str | None
    connection_id: int
    started: float
    status: int | None = None
    actions: tuple[str, ...] = ()
    outcome: str = "pending"
    duration: float | None = None
    upstream_status: int | None = None  # what the upstream answered under ``after_work``


# --------------------------------------------------------------------------------------------------
# Low-level HTTP/1.1 server plumbing (shared with sink.py)
# --------------------------------------------------------------------------------------------------


class ClientGone(Exception):
    """The client closed, reset or timed out; the connection is finished."""


class BadRequest(Exception):
    """The client sent something that is not HTTP/1.x; answer 400 and close."""


class HttpConn:
    """One accepted client socket with a small read buffer.

    Why not ``socket.makefile``: we must know whether bytes are already buffered before waiting (for the
    idle timeout and stop polling), and a file object is unusable after a socket timeout.
    """

    def __init__(self, sock: socket.socket, conn_id: int, stop: threading.Event, read_timeout: float) -> None:
        self.sock = sock
        self.id = conn_id
        self._stop = stop
        self._buf = bytearray()
        self.read_timeout = read_timeout
        self.closed = False

    def wait_readable(self, timeout: float | None) -> bool:
        """Wait until bytes are buffered or readable; False on timeout; ClientGone when stopping."""
        if self._buf:
            return True
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._stop.is_set():
            if isinstance(self.sock, ssl.SSLSocket) and self.sock.pending():
                return True
            wait = 0.1
            if deadline is not None:
                wait = min(wait, deadline - time.monotonic())
                if wait <= 0:
                    return False
            try:
                readable, _, _ = select.select([self.sock], [], [], wait)
            except (OSError, ValueError) as exc:
                raise ClientGone from exc
            if readable:
                return True
        raise ClientGone("server stopping")

    def _fill(self) -> bool:
        """Read more bytes into the buffer; False on EOF."""
        if not self.wait_readable(self.read_timeout):
            raise ClientGone("read timeout")
        try:
            data = self.sock.recv(_CHUNK)
        except ssl.SSLWantReadError:
            return True
        except (OSError, ssl.SSLError) as exc:
            raise ClientGone from exc
        if not data:
            return False
        self._buf += data
        return True

    def readline(self, limit: int = _MAX_LINE) -> bytes:
        """One CRLF/LF-terminated line (terminator included); b"" on EOF before any byte."""
        while True:
            idx = self._buf.find(b"\n")
            if idx >= 0:
                line = bytes(self._buf[: idx + 1])
                del self._buf[: idx + 1]
                return line
            if len(self._buf) > limit:
                raise BadRequest("line too long")
            if not self._fill():
                if self._buf:
                    raise ClientGone("EOF inside a line")
                return b""

    def read_some(self, max_bytes: int) -> bytes:
        """At least one and at most ``max_bytes`` bytes; ClientGone on EOF."""
        if not self._buf and not self._fill():
            raise ClientGone("EOF inside a body")
        while not self._buf:
            if not self._fill():
                raise ClientGone("EOF inside a body")
        data = bytes(self._buf[:max_bytes])
        del self._buf[:max_bytes]
        return data

    def iter_exact(self, n: int) -> Iterator[bytes]:
        """Yield exactly ``n`` bytes in pieces (a Content-Length request body)."""
        remaining = n
        while remaining > 0:
            piece = self.read_some(min(_CHUNK, remaining))
            remaining -= len(piece)
            yield piece

    def iter_chunked(self) -> Iterator[bytes]:
        """Yield the decoded chunks of a chunked request body, consuming trailers."""
        for _ in range(1 << 30):
            line = self.readline()
            if not line:
                raise ClientGone("EOF in chunk size")
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError as exc:
                raise BadRequest("bad chunk size") from exc
            if size == 0:
                for _ in range(_MAX_HEADERS):
                    trailer = self.readline()
                    if trailer in (b"\r\n", b"\n", b""):
                        return
                raise BadRequest("too many trailers")
            yield from self.iter_exact(size)
            if self.readline() not in (b"\r\n", b"\n"):
                raise BadRequest("missing CRLF after chunk")

    def sendall(self, data: bytes) -> None:
        """Send everything or raise ClientGone."""
        try:
            self.sock.sendall(data)
        except (OSError, ssl.SSLError) as exc:
            raise ClientGone from exc

    def reset(self) -> None:
        """Abort with a TCP RST (SO_LINGER 0), the way a crashing server or middlebox does."""
        if self.closed:
            return
        self.closed = True
        with contextlib.suppress(OSError):
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        with contextlib.suppress(OSError):
            self.sock.close()

    def close(self) -> None:
        """Orderly close: FIN first so the peer sees EOF rather than a reset."""
        if self.closed:
            return
        self.closed = True
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_WR)
        with contextlib.suppress(OSError):
            self.sock.close()


@dataclass
class HttpRequest:
    """A parsed request head."""

    method: str
    target: str
    version: str
    headers: Headers
    path: str
    query: str
    body_state: str = "unread"  # "unread", "partial" or "done"

    def header(self, name: str) -> str | None:
        """First value of header ``name`` (case-insensitive)."""
        low = name.lower()
        for key, value in self.headers:
            if key.lower() == low:
                return value
        return None

    def header_values(self, name: str) -> list[str]:
        """All values of header ``name``."""
        low = name.lower()
        return [value for key, value in self.headers if key.lower() == low]

    def connection_tokens(self) -> set[str]:
        """Lower-cased tokens of the Connection header(s)."""
        return {
            t.strip().lower() for v in self.header_values("connection") for t in v.split(",") if t.strip()
        }

    @property
    def keep_alive(self) -> bool:
        """Whether the client wants the connection kept open after this exchange."""
        tokens = self.connection_tokens()
        if self.version == "HTTP/1.1":
            return "close" not in tokens
        return "keep-alive" in tokens

    @property
    def path_and_query(self) -> str:
        """Origin-form target, what rules match against."""
        return self.path + ("?" + self.query if self.query else "")

    def body_kind(self) -> tuple[str, int]:
        """("chunked", 0), ("length", n) or ("none", 0)."""
        te = ",".join(self.header_values("transfer-encoding")).lower()
        if "chunked" in te:
            return "chunked", 0
        length = self.header("content-length")
        if length is not None:
            try:
                n = int(length.strip())
            except ValueError as exc:
                raise BadRequest("bad Content-Length") from exc
            if n < 0:
                raise BadRequest("negative Content-Length")
            return "length", n
        return "none", 0


def read_request(conn: HttpConn, idle_timeout: float | None) -> HttpRequest | None:
    """Read one request head; None when the client closed (or idled out) between requests."""
    if not conn.wait_readable(idle_timeout):
        return None
    line = conn.readline()
    while line in (b"\r\n", b"\n"):  # tolerate stray CRLF between pipelined requests
        line = conn.readline()
    if not line:
        return None
    try:
        method, target, version = line.decode("latin-1").rstrip("\r\n").split(" ")
    except ValueError as exc:
        raise BadRequest("bad request line") from exc
    if not version.startswith("HTTP/1."):
        raise BadRequest("unsupported version")
    headers: Headers = []
    for _ in range(_MAX_HEADERS + 1):
        raw = conn.readline()
        if raw in (b"\r\n", b"\n"):
            break
        if not raw:
            raise ClientGone("EOF inside headers")
        text = raw.decode("latin-1").rstrip("\r\n")
        name, sep, value = text.partition(":")
        if not sep or not name or name != name.strip():
            raise BadRequest("bad header line")
        headers.append((name, value.strip()))
    else:
        raise BadRequest("too many headers")
    if target.startswith(("http://", "https://")):
        parts = urlsplit(target)
        path, query = parts.path or "/", parts.query
    else:
        path, _, query = target.partition("?")
    return HttpRequest(method.upper(), target, version, headers, path, query)


def iter_body(conn: HttpConn, req: HttpRequest) -> Iterator[bytes]:
    """The request body in pieces, tracking ``req.body_state`` so nobody reads it twice."""
    if req.body_state != "unread":
        raise BadRequest(f"request body already {req.body_state}")
    kind, n = req.body_kind()
    req.body_state = "partial"
    if kind == "length":
        yield from conn.iter_exact(n)
    elif kind == "chunked":
        yield from conn.iter_chunked()
    req.body_state = "done"


def discard_body(conn: HttpConn, req: HttpRequest) -> None:
    """Consume the request body so the connection stays in sync for keep-alive (no-op if done).

    Raises BadRequest when the body was partly read already (the connection cannot be resynced).
    """
    if req.body_state == "done":
        return
    for _ in iter_body(conn, req):
        pass


def reason_phrase(code: int) -> str:
    """Standard reason phrase, or a neutral one for unusual codes."""
    try:
        return HTTPStatus(code).phrase
    except ValueError:
        return "Status"


def encode_head(version: str, code: int, reason: str, headers: Iterable[tuple[str, str]]) -> bytes:
    """Serialise a response head."""
    lines = [f"{version} {code} {reason}"]
    lines.extend(f"{k}: {v}" for k, v in headers)
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def send_simple(
    conn: HttpConn,
    req: HttpRequest,
    code: int,
    headers: Iterable[tuple[str, str]],
    body: bytes,
    *,
    keep: bool | None = None,
) -> bool:
    """Send a complete small response with Content-Length; return whether to keep the connection."""
    keep = req.keep_alive if keep is None else keep and req.keep_alive
    hdrs = [
        (k, v) for k, v in headers if k.lower() not in ("content-length", "connection", "transfer-encoding")
    ]
    hdrs.append(("Content-Length", str(len(body))))
    if not keep:
        hdrs.append(("Connection", "close"))
    payload = encode_head("HTTP/1.1", code, reason_phrase(code), hdrs)
    if req.method != "HEAD":
        payload += body
    conn.sendall(payload)
    return keep


class LoopbackServer:
    """Accept loop + one thread per connection, with a bounded, thread-joining stop.

    Why hand-rolled instead of socketserver: stop() must also interrupt idle keep-alive connections and
    join every thread with a deadline, and tests count accepted connections exactly.
    """

    def __init__(
        self,
        host: str,
        port: int,
        *,
        tls_context: ssl.SSLContext | None,
        name: str,
        on_connection: Callable[[HttpConn], None],
        read_timeout: float = 30.0,
    ) -> None:
        self.host = host
        self.port = port
        self.tls_context = tls_context
        self.name = name
        self._on_connection = on_connection
        self.read_timeout = read_timeout
        self.stop_event = threading.Event()
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self._accept_thread: threading.Thread | None = None
        self._threads: set[threading.Thread] = set()
        self._socks: set[socket.socket] = set()
        self._next_id = 0
        self.connections_opened = 0
        self._wake_r, self._wake_w = socket.socketpair()  # lets stop() interrupt the accept select at once

    def bind(self) -> None:
        """Bind and listen (raises OSError if the address is unavailable)."""
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind((self.host, self.port))
            listener.listen(128)
        except OSError:
            listener.close()
            raise
        self.port = listener.getsockname()[1]
        self._listener = listener

    def start(self) -> None:
        """Start accepting (binds first if needed)."""
        if self._listener is None:
            self.bind()
        self._accept_thread = threading.Thread(
            target=self._accept_loop, name=f"{self.name}-accept", daemon=True
        )
        self._accept_thread.start()

    def _accept_loop(self) -> None:
        listener = self._listener
        assert listener is not None
        while not self.stop_event.is_set():
            try:
                readable, _, _ = select.select([listener, self._wake_r], [], [], 1.0)
                if listener not in readable:
                    continue
                sock, _addr = listener.accept()
            except (OSError, ValueError):
                if self.stop_event.is_set():
                    return
                continue
            with self._lock:
                self._next_id += 1
                conn_id = self._next_id
                self.connections_opened += 1
                self._socks.add(sock)
                thread = threading.Thread(
                    target=self._run_connection,
                    args=(sock, conn_id),
                    name=f"{self.name}-conn-{conn_id}",
                    daemon=True,
                )
                self._threads.add(thread)
            thread.start()

    def _run_connection(self, raw: socket.socket, conn_id: int) -> None:
        sock: socket.socket = raw
        try:
            raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            raw.settimeout(self.read_timeout)
            if self.tls_context is not None:
                raw.settimeout(5.0)
                sock = self.tls_context.wrap_socket(raw, server_side=True)
                sock.settimeout(self.read_timeout)
                with self._lock:
                    self._socks.discard(raw)
                    self._socks.add(sock)
            conn = HttpConn(sock, conn_id, self.stop_event, self.read_timeout)
            try:
                self._on_connection(conn)
            finally:
                conn.close()
        except (OSError, ssl.SSLError, ClientGone):
            pass
        finally:
            with contextlib.suppress(OSError):
                sock.close()
            with self._lock:
                self._socks.discard(sock)
                self._socks.discard(raw)
                self._threads.discard(threading.current_thread())

    def stop(self, timeout: float = 5.0) -> None:
        """Stop accepting, interrupt every connection, join threads within ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        self.stop_event.set()
        with contextlib.suppress(OSError):
            self._wake_w.send(b"x")
        if self._accept_thread is not None:
            self._accept_thread.join(max(0.0, deadline - time.monotonic()))
        for sock in (self._listener, self._wake_r, self._wake_w):
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.close()
        with self._lock:
            socks = list(self._socks)
            threads = list(self._threads)
        for sock in socks:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    @property
    def thread_count(self) -> int:
        """Live connection threads (0 after a clean stop)."""
        with self._lock:
            return sum(1 for t in self._threads if t.is_alive())


# --------------------------------------------------------------------------------------------------
# Response model and plan
# --------------------------------------------------------------------------------------------------


@dataclass
class _Resp:
    """A response about to be sent: head, a body iterator, and how to release its source."""

    status: int
    reason: str
    headers: Headers
    body: Iterator[bytes] | None = None
    release: Callable[[], None] = lambda: None
    reusable: bool = True  # False when the request body could not be consumed
    close_framed: bool = False  # end the body by closing the connection (no length, no chunking)

    def get(self, name: str) -> str | None:
        low = name.lower()
        for key, value in self.headers:
            if key.lower() == low:
                return value
        return None

    def remove(self, name: str) -> None:
        low = name.lower()
        self.headers = [(k, v) for k, v in self.headers if k.lower() != low]

    def set(self, name: str, value: str) -> None:
        """Replace every ``name`` header by one ``name: value`` at the first one's position."""
        low = name.lower()
        out: Headers = []
        placed = False
        for key, old in self.headers:
            if key.lower() != low:
                out.append((key, old))
            elif not placed:
                out.append((key, value))
                placed = True
        if not placed:
            out.append((name, value))
        self.headers = out

    def read_all(self, limit: int = _MAX_BUFFERED_BODY) -> bytes:
        """Buffer the whole body (only when a rule needs it), then release the source."""
        parts: list[bytes] = []
        total = 0
        try:
            if self.body is not None:
                for piece in self.body:
                    total += len(piece)
                    if total > limit:
                        raise RuntimeError("body too large to buffer in the fault proxy")
                    parts.append(piece)
        finally:
            self.release()
        self.body = None
        return b"".join(parts)

    def set_body(self, data: bytes) -> None:
        """Replace the body with bytes and fix the framing headers."""
        self.body = iter([data]) if data else None
        self.remove("transfer-encoding")
        self.set("Content-Length", str(len(data)))


@dataclass
class _Plan:
    """What the matched rule asks for, split by the stage it acts in."""

    rule: Rule | None = None
    delay: float = 0.0
    reset: bool = False
    terminal: Action | None = None
    edits: list[Action] = field(default_factory=list)
    drip: Drip | None = None
    cut: Truncate | ResetMidBody | None = None
    cut_head: CutHead | None = None
    after: AfterWork | None = None

    @property
    def names(self) -> tuple[str, ...]:
        return () if self.rule is None else tuple(a.kind for a in self.rule.actions)


def _build_plan(rule: Rule | None) -> _Plan:
    plan = _Plan(rule=rule)
    if rule is None:
        return plan
    for act in rule.actions:
        if isinstance(act, Delay):
            plan.delay += act.seconds
        elif isinstance(act, Reset):
            plan.reset = True
        elif isinstance(act, Status | Redirect | HugeBody | Paginate | EmulateOciTagDelete):
            plan.terminal = act
        elif isinstance(act, Drip):
            plan.drip = act
        elif isinstance(act, Truncate | ResetMidBody):
            plan.cut = act
        elif isinstance(act, CutHead):
            plan.cut_head = act
        elif isinstance(act, AfterWork):
            plan.after = act
        else:
            plan.edits.append(act)
    return plan


#: Query parameters whose values are never kept in request records (same names the sink treats as secrets).
SECRET_QUERY_PARAMS = frozenset(
    {"token", "password", "access_token", "refresh_token", "private_token", "job_token", "client_secret"}
)


def _redact_query(query: str) -> str:
    """The query string with secret-named parameter values replaced, so records are safe to print."""
    if not query:
        return query
    parts = []
    for item in query.split("&"):
        name, sep, _value = item.partition("=")
        parts.append(f"{name}=<redacted>" if sep and name.lower() in SECRET_QUERY_PARAMS else item)
    return "&".join(parts)


def _json_error(code: str, message: str, detail: object) -> bytes:
    return json.dumps({"errors": [{"code": code, "message": message, "detail": detail}]}).encode()


def _manifest_unknown(tag: str) -> _Resp:
    body = _json_error("MANIFEST_UNKNOWN", "manifest unknown", {"Tag": tag})
    headers = [
        ("Content-Type", "application/json; charset=utf-8"),
        ("Docker-Distribution-Api-Version", "registry/2.0"),
        ("Content-Length", str(len(body))),
    ]
    return _Resp(404, "Not Found", headers, iter([body]))


# --------------------------------------------------------------------------------------------------
# Generated bodies
# --------------------------------------------------------------------------------------------------

_GZIP_BLOCK = 1 << 20
_gzip_cache: dict[int, tuple[bytes, bytes]] = {}
_gzip_lock = threading.Lock()


def _gzip_zero_block() -> tuple[bytes, bytes]:
    """(gzip header, deflate bytes of one MiB of zeros after a full flush).

    After Z_FULL_FLUSH the compressor keeps no history, so compressing another MiB of zeros yields the
    same bytes every time: the bomb is that block repeated, generated in O(1) CPU per MiB.
    """
    with _gzip_lock:
        if 0 not in _gzip_cache:
            comp = zlib.compressobj(9, zlib.DEFLATED, 31)
            zeros = bytes(_GZIP_BLOCK)
            first = comp.compress(zeros) + comp.flush(zlib.Z_FULL_FLUSH)
            block = comp.compress(zeros) + comp.flush(zlib.Z_FULL_FLUSH)
            assert first[10:] == block
            _gzip_cache[0] = (first[:10], block)
        return _gzip_cache[0]


def _gzip_piece(data: bytes) -> bytes:
    """Deflate bytes for ``data`` from a fresh (flushed) state, full-flushed, without a gzip header."""
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    return comp.compress(data) + comp.flush(zlib.Z_FULL_FLUSH)


def _gzip_bomb_iter(total: int | None, prefix: bytes, stop: threading.Event) -> Iterator[bytes]:
    """A valid gzip stream inflating to ``prefix`` + zeros (``total`` bytes; None: never ends)."""
    header, block = _gzip_zero_block()
    yield header
    crc = 0
    if prefix:
        yield _gzip_piece(prefix)
        crc = zlib.crc32(prefix, crc)
    zeros_left = None if total is None else total - len(prefix)
    zero_block = bytes(_GZIP_BLOCK)
    while not stop.is_set() and (zeros_left is None or zeros_left >= _GZIP_BLOCK):
        yield block
        if zeros_left is not None:
            crc = zlib.crc32(zero_block, crc)
            zeros_left -= _GZIP_BLOCK
    if zeros_left is None or stop.is_set():
        return
    if zeros_left:
        tail = bytes(zeros_left)
        yield _gzip_piece(tail)
        crc = zlib.crc32(tail, crc)
    assert total is not None
    yield b"\x01\x00\x00\xff\xff" + struct.pack("<II", crc & 0xFFFFFFFF, total & 0xFFFFFFFF)


def _gzip_bomb_length(total: int, prefix: bytes) -> int:
    """Exact compressed length of ``_gzip_bomb_iter(total, prefix)``."""
    header, block = _gzip_zero_block()
    zeros = total - len(prefix)
    length = len(header) + (len(_gzip_piece(prefix)) if prefix else 0)
    length += (zeros // _GZIP_BLOCK) * len(block)
    if zeros % _GZIP_BLOCK:
        length += len(_gzip_piece(bytes(zeros % _GZIP_BLOCK)))
    return length + 5 + 8


def _filler_iter(total: int | None, prefix: bytes, stop: threading.Event) -> Iterator[bytes]:
    """``prefix`` then ``A`` bytes, ``total`` bytes in all (None: until stopped or the client leaves)."""
    filler = b"A" * _CHUNK
    if prefix:
        yield prefix
    left = None if total is None else total - len(prefix)
    while not stop.is_set() and (left is None or left > 0):
        piece = filler if left is None or left >= _CHUNK else filler[:left]
        if left is not None:
            left -= len(piece)
        yield piece


# --------------------------------------------------------------------------------------------------
# Upstream connections
# --------------------------------------------------------------------------------------------------


class _UpstreamError(Exception):
    """The upstream could not be reached or broke before a response head."""

    def __init__(self, message: str, timeout: bool = False, body_started: bool = False) -> None:
        super().__init__(message)
        self.timeout = timeout
        self.body_started = body_started  # part of the request body was consumed: close afterwards


class _Upstream:
    """The upstream connection owned by one client connection, reused while it stays healthy."""

    def __init__(self, proxy: FaultProxy) -> None:
        self._proxy = proxy
        self.conn: http.client.HTTPConnection | None = None

    def get(self) -> tuple[http.client.HTTPConnection, bool]:
        """A connection and whether it is a reused (possibly stale) one."""
        conn = self.conn
        if conn is not None and conn.sock is not None:
            try:
                readable, _, _ = select.select([conn.sock], [], [], 0)
            except (OSError, ValueError):
                readable = [conn.sock]
            if not readable:
                return conn, True
            self.discard()  # EOF or stray bytes on an idle connection: stale
        if self.conn is None:
            self.conn = self._proxy._new_upstream_connection()
            self._proxy._track_upstream(self, add=True)
        return self.conn, False

    def discard(self) -> None:
        """Close the connection (unread body, error, stale); the next request reconnects."""
        conn, self.conn = self.conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()

    def abort(self) -> None:
        """Interrupt a blocked upstream read from another thread (proxy stop)."""
        conn = self.conn
        sock = None if conn is None else conn.sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self.discard()
        self._proxy._track_upstream(self, add=False)


# --------------------------------------------------------------------------------------------------
# The proxy
# --------------------------------------------------------------------------------------------------


class FaultProxy:
    """Reverse proxy on ``127.0.0.1:<free port>`` in front of ``upstream_url``, with fault rules.

    ``ca_file`` / ``upstream_ssl_context`` verify an https upstream; ``tls_context`` (a server-side
    ``ssl.SSLContext``) makes the proxy itself speak TLS.  ``idle_timeout`` closes idle keep-alive client
    connections like a real server would (FT: stale keep-alive).  Rules can be changed while running.
    """

    def __init__(
        self,
        upstream_url: str,
        *,
        ca_file: str | None = None,
        upstream_ssl_context: ssl.SSLContext | None = None,
        tls_context: ssl.SSLContext | None = None,
        rules: Sequence[Rule] = (),
        host: str = "127.0.0.1",
        idle_timeout: float | None = None,
        upstream_timeout: float = 30.0,
        client_timeout: float = 30.0,
    ) -> None:
        parts = urlsplit(upstream_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"upstream must be an http(s) URL: {upstream_url!r}")
        if not host.startswith("127."):
            raise ValueError("the fault proxy only listens on loopback")
        self.upstream_url = upstream_url.rstrip("/")
        self._up_scheme = parts.scheme
        self._up_host = parts.hostname
        self._up_port = parts.port or (443 if parts.scheme == "https" else 80)
        self._up_netloc = parts.netloc.rpartition("@")[2]
        self._up_prefix = parts.path.rstrip("/")
        self._up_base = f"{parts.scheme}://{self._up_netloc}"
        self._up_ssl: ssl.SSLContext | None = None
        if parts.scheme == "https":
            self._up_ssl = upstream_ssl_context or ssl.create_default_context(cafile=ca_file)
        self.tls = tls_context is not None
        self.idle_timeout = idle_timeout
        self.upstream_timeout = upstream_timeout
        self._lock = threading.Lock()
        self._rules: list[Rule] = list(rules)
        self._records: list[RequestRecord] = []
        self._in_flight = 0
        self._peak = 0
        self._conn_base = 0
        self._deleted: dict[str, set[str]] = {}
        self._page_cache: dict[str, list[str]] = {}
        self._upstreams: set[_Upstream] = set()
        self._server = LoopbackServer(
            host,
            0,
            tls_context=tls_context,
            name="faultproxy",
            on_connection=self._serve,
            read_timeout=client_timeout,
        )
        self._started = False

    # ---- lifecycle -------------------------------------------------------------------------------

    def start(self) -> FaultProxy:
        """Bind a free port and start serving; returns self for chaining."""
        self._server.start()
        self._started = True
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop serving, interrupt connections (client and upstream), join threads within ``timeout``."""
        if not self._started:
            return
        self._started = False
        self._server.stop_event.set()
        with self._lock:
            upstreams = list(self._upstreams)
        for up in upstreams:
            up.abort()
        self._server.stop(timeout)

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def host(self) -> str:
        return self._server.host

    @property
    def port(self) -> int:
        return self._server.port

    @property
    def netloc(self) -> str:
        """``host:port`` of the proxy, as a client would put it in an image reference."""
        return f"{self.host}:{self.port}"

    @property
    def url(self) -> str:
        """Base URL of the proxy (``http://`` or ``https://``)."""
        return f"{'https' if self.tls else 'http'}://{self.netloc}"

    @property
    def threads_alive(self) -> int:
        """Connection threads still running (0 after a clean stop)."""
        return self._server.thread_count

    def to_proxy_url(self, url: str) -> str:
        """Map an absolute upstream URL to the same path on the proxy (other URLs unchanged)."""
        if url.startswith(self._up_base):
            return self.url + url[len(self._up_base) :]
        return url

    # ---- rules -----------------------------------------------------------------------------------

    def set_rules(self, rules: Sequence[Rule]) -> None:
        """Replace the rule list (safe while requests are in flight)."""
        with self._lock:
            self._rules = list(rules)

    def add_rule(self, rule: Rule) -> Rule:
        """Append one rule; returns it (to read ``hits`` later)."""
        with self._lock:
            self._rules.append(rule)
        return rule

    def clear_rules(self) -> None:
        """Plain forwarding from now on."""
        self.set_rules([])

    @property
    def rules(self) -> list[Rule]:
        with self._lock:
            return list(self._rules)

    def _match(self, method: str, path_and_query: str) -> Rule | None:
        with self._lock:
            for rule in self._rules:
                if not rule.exhausted and rule.matches(method, path_and_query):
                    rule.hits += 1
                    return rule
        return None

    # ---- counters --------------------------------------------------------------------------------

    @property
    def requests(self) -> list[RequestRecord]:
        """Snapshot of every request since the last ``reset_counters()``."""
        with self._lock:
            return list(self._records)

    def count(self, method: str | None = None, path_regex: str | None = None) -> int:
        """Requests matching ``method`` and ``re.search(path_regex, path_and_query)``."""
        regex = None if path_regex is None else re.compile(path_regex)
        total = 0
        for rec in self.requests:
            if method is not None and rec.method != method.upper():
                continue
            target = rec.path + ("?" + rec.query if rec.query else "")
            if regex is not None and not regex.search(target):
                continue
            total += 1
        return total

    @property
    def peak_concurrency(self) -> int:
        """Most requests in flight at once (head received, response not finished)."""
        with self._lock:
            return self._peak

    @property
    def in_flight(self) -> int:
        """Requests whose response is not finished yet."""
        with self._lock:
            return self._in_flight

    def wait_idle(self, timeout: float = 2.0) -> bool:
        """Wait (bounded) until no request is in flight.

        Why: the client can hold a complete response a moment before the proxy thread finishes its
        bookkeeping (``outcome``, ``duration``, ``in_flight``); assert on those after this returns True.
        """
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.in_flight == 0:
                return True
            time.sleep(0.005)
        return self.in_flight == 0

    @property
    def connections_opened(self) -> int:
        """Client connections accepted since the last ``reset_counters()``."""
        with self._lock:
            return self._server.connections_opened - self._conn_base

    def reset_counters(self) -> None:
        """Forget records, peak concurrency (back to the current in-flight count) and connection count."""
        with self._lock:
            self._records.clear()
            self._peak = self._in_flight
            self._conn_base = self._server.connections_opened

    # ---- emulated registry state -----------------------------------------------------------------

    @property
    def deleted_tags(self) -> dict[str, frozenset[str]]:
        """Tags deleted through ``emulate_oci_tag_delete``, per repository."""
        with self._lock:
            return {name: frozenset(tags) for name, tags in self._deleted.items() if tags}

    def reset_state(self) -> None:
        """Forget emulated tag deletes and cached tag lists."""
        with self._lock:
            self._deleted.clear()
            self._page_cache.clear()

    def _is_deleted(self, name: str, tag: str) -> bool:
        with self._lock:
            return tag in self._deleted.get(name, ())

    # ---- upstream plumbing -----------------------------------------------------------------------

    def _new_upstream_connection(self) -> http.client.HTTPConnection:
        if self._up_ssl is not None:
            return http.client.HTTPSConnection(
                self._up_host, self._up_port, timeout=self.upstream_timeout, context=self._up_ssl
            )
        return http.client.HTTPConnection(self._up_host, self._up_port, timeout=self.upstream_timeout)

    def _track_upstream(self, up: _Upstream, add: bool) -> None:
        with self._lock:
            if add:
                self._upstreams.add(up)
            else:
                self._upstreams.discard(up)

    def _upstream_headers(self, req: HttpRequest, extra: Mapping[str, str] | None = None) -> Headers:
        """Client headers minus hop-by-hop ones, Host rewritten; Authorization kept."""
        drop = HOP_BY_HOP | req.connection_tokens() | {"host", "content-length", "expect"}
        if extra:
            drop = drop | {k.lower() for k in extra}
        headers: Headers = [("Host", self._up_netloc)]
        headers.extend((k, v) for k, v in req.headers if k.lower() not in drop)
        if extra:
            headers.extend(extra.items())
        return headers

    def _open(
        self,
        up: _Upstream,
        method: str,
        target: str,
        headers: Headers,
        *,
        body: Iterator[bytes] | None = None,
        chunked: bool = False,
    ) -> http.client.HTTPResponse:
        """Send one request upstream and return the response head; retry once on a stale connection."""
        url = self._up_prefix + target
        for attempt in range(2):
            hc, reused = up.get()
            body_started = False
            try:
                hc.putrequest(method, url, skip_host=True, skip_accept_encoding=True)
                for key, value in headers:
                    hc.putheader(key, value)
                hc.endheaders()
                if body is not None:
                    body_started = True
                    for piece in body:
                        if chunked:
                            hc.send(b"%x\r\n%s\r\n" % (len(piece), piece) if piece else b"")
                        else:
                            hc.send(piece)
                    if chunked:
                        hc.send(b"0\r\n\r\n")
                return hc.getresponse()
            except ClientGone:
                up.discard()
                raise
            except TimeoutError as exc:
                up.discard()
                raise _UpstreamError(f"upstream timeout: {exc}", True, body_started) from exc
            except (OSError, ValueError, http.client.HTTPException) as exc:  # ValueError: bad header value
                up.discard()
                if reused and attempt == 0 and not body_started:
                    continue
                raise _UpstreamError(f"upstream failed: {exc!r}", False, body_started) from exc
        raise _UpstreamError("upstream failed twice")

    def _wrap(self, resp: http.client.HTTPResponse, up: _Upstream, method: str) -> _Resp:
        """Turn an upstream response into a streamed _Resp (hop-by-hop headers dropped)."""
        conn_tokens = {
            t.strip().lower() for v in (resp.headers.get_all("Connection") or []) for t in v.split(",")
        }
        headers = [(k, v) for k, v in resp.getheaders() if k.lower() not in HOP_BY_HOP | conn_tokens]
        state = {"done": False}

        def body() -> Iterator[bytes]:
            while True:
                piece = resp.read1(_CHUNK)
                if not piece:
                    break
                yield piece
            state["done"] = True

        def release() -> None:
            if not state["done"] or resp.will_close:
                up.discard()
            else:
                with contextlib.suppress(Exception):
                    resp.close()

        no_body = method == "HEAD" or resp.status in (204, 304)
        if no_body:
            state["done"] = True
        return _Resp(
            resp.status,
            resp.reason or reason_phrase(resp.status),
            headers,
            None if no_body else body(),
            release,
        )

    def _fetch(
        self,
        req: HttpRequest,
        up: _Upstream,
        method: str,
        target: str,
        extra: Mapping[str, str] | None = None,
    ) -> tuple[_Resp, bytes]:
        """A small body-less upstream request made on the client's behalf (same credentials)."""
        resp = self._wrap(self._open(up, method, target, self._upstream_headers(req, extra)), up, method)
        return resp, resp.read_all()

    def _forward(self, conn: HttpConn, req: HttpRequest, up: _Upstream) -> _Resp:
        kind, length = req.body_kind()
        headers = self._upstream_headers(req)
        body: Iterator[bytes] | None = None
        if kind == "length":
            headers.append(("Content-Length", str(length)))
            body = iter_body(conn, req)
        elif kind == "chunked":
            headers.append(("Transfer-Encoding", "chunked"))
            body = iter_body(conn, req)
        if "100-continue" in (req.header("expect") or "").lower() and body is not None:
            conn.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
        return self._wrap(
            self._open(
                up,
                req.method,
                req.target if not req.target.startswith("http") else req.path_and_query,
                headers,
                body=body,
                chunked=kind == "chunked",
            ),
            up,
            req.method,
        )

    # ---- request handling ------------------------------------------------------------------------

    def _serve(self, conn: HttpConn) -> None:
        up = _Upstream(self)
        try:
            while True:
                try:
                    req = read_request(conn, self.idle_timeout)
                except BadRequest:
                    with contextlib.suppress(ClientGone):
                        conn.sendall(
                            b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                        )
                    return
                if req is None:
                    return
                if not self._handle(conn, req, up):
                    return
        except (ClientGone, BadRequest):
            return
        finally:
            up.close()

    def _handle(self, conn: HttpConn, req: HttpRequest, up: _Upstream) -> bool:
        auth = req.header("authorization")
        record = RequestRecord(
            method=req.method,
            path=req.path,
            query=_redact_query(req.query),
            authorization=auth is not None,
            auth_scheme=auth.split()[0] if auth and auth.split() else None,
            connection_id=conn.id,
            started=time.monotonic(),
        )
        with self._lock:
            self._records.append(record)
            self._in_flight += 1
            self._peak = max(self._peak, self._in_flight)
        try:
            plan = _build_plan(self._match(req.method, req.path_and_query))
            record.actions = plan.names
            if plan.delay > 0 and self._server.stop_event.wait(plan.delay):
                raise ClientGone("stopping")
            if plan.reset:
                record.outcome = "reset"
                conn.reset()
                return False
            if plan.cut_head is not None:
                discard_body(conn, req)
                conn.sendall(plan.cut_head.head)
                conn.close()
                record.outcome = "cut-head"
                return False
            try:
                resp = self._produce(conn, req, up, plan)
                if plan.after is not None:
                    resp = self._after_work(conn, resp, plan.after, record)
                    if resp is None:
                        return False
            except _UpstreamError as exc:
                code = 504 if exc.timeout else 502
                body = f"fault proxy: {exc}\n".encode()
                record.status = code
                record.outcome = "upstream-error"
                try:
                    discard_body(conn, req)
                    synced = True
                except BadRequest:  # part of the body went upstream: the stream cannot be resynced
                    synced = False
                return send_simple(conn, req, code, [("Content-Type", "text/plain")], body, keep=synced)
            self._apply_state(req, up, resp)
            self._apply_edits(resp, plan, req)
            record.status = resp.status
            keep, outcome = self._send(conn, req, resp, plan)
            record.outcome = outcome
            return keep
        except ClientGone:
            if record.outcome == "pending":
                record.outcome = "client-gone"
            raise
        finally:
            record.duration = time.monotonic() - record.started
            with self._lock:
                self._in_flight -= 1

    @staticmethod
    def _after_work(conn: HttpConn, done: _Resp, act: AfterWork, record: RequestRecord) -> _Resp | None:
        """The upstream's answer is drained (its work is done); answer ``act.code`` or reset (None)."""
        done.read_all()
        record.upstream_status = done.status
        if act.code is None:
            record.outcome = "reset-after-work"
            conn.reset()
            return None
        headers = [(k, v) for k, v in act.headers if k.lower() != "content-length"]
        headers.append(("Content-Length", str(len(act.body))))
        return _Resp(act.code, reason_phrase(act.code), headers, iter([act.body]) if act.body else None)

    def _produce(self, conn: HttpConn, req: HttpRequest, up: _Upstream, plan: _Plan) -> _Resp:
        act = plan.terminal
        if isinstance(act, Status):
            discard_body(conn, req)
            headers = [(k, v) for k, v in act.headers if k.lower() != "content-length"]
            headers.append(("Content-Length", str(len(act.body))))
            return _Resp(act.code, reason_phrase(act.code), headers, iter([act.body]) if act.body else None)
        if isinstance(act, Redirect):
            discard_body(conn, req)
            location = act.location(req.path_and_query) if callable(act.location) else act.location
            return _Resp(
                act.status, reason_phrase(act.status), [("Location", location), ("Content-Length", "0")]
            )
        if isinstance(act, HugeBody):
            discard_body(conn, req)
            return self._huge(act)
        if isinstance(act, Paginate):
            paged = self._paginate(conn, req, up, act.n)
            if paged is not None:
                return paged
        if isinstance(act, EmulateOciTagDelete):
            deleted = self._oci_delete(conn, req, up)
            if deleted is not None:
                return deleted
        return self._forward(conn, req, up)

    def _huge(self, act: HugeBody) -> _Resp:
        stop = self._server.stop_event
        headers: Headers = [("Content-Type", act.content_type)]
        if act.gzip_bomb:
            headers.append(("Content-Encoding", "gzip"))
            body = _gzip_bomb_iter(act.n_bytes, act.prefix, stop)
            length = None if act.n_bytes is None else _gzip_bomb_length(act.n_bytes, act.prefix)
        else:
            body = _filler_iter(act.n_bytes, act.prefix, stop)
            length = act.n_bytes
        if not act.chunked and length is not None:
            headers.append(("Content-Length", str(length)))
        return _Resp(200, "OK", headers, body, close_framed=not act.chunked and length is None)

    def _paginate(self, conn: HttpConn, req: HttpRequest, up: _Upstream, page_size: int) -> _Resp | None:
        m = _TAGS_RE.match(req.path)
        catalog = req.path == _CATALOG_PATH
        if req.method not in ("GET", "HEAD") or not (m or catalog):
            return None
        discard_body(conn, req)
        params = dict(parse_qsl(req.query, keep_blank_values=True))
        size = page_size
        if "n" in params:
            with contextlib.suppress(ValueError):
                size = max(0, min(size, int(params["n"])))
        last = params.get("last")
        key_field = "repositories" if catalog else "tags"
        with self._lock:
            cached = self._page_cache.get(req.path)
        if last is None or cached is None:
            fetched = self._fetch_list(req, up, key_field)
            if isinstance(fetched, _Resp):
                return fetched
            cached = fetched
            with self._lock:
                self._page_cache[req.path] = cached
        items = sorted(cached)
        if m:
            with self._lock:
                gone = set(self._deleted.get(m.group("name"), ()))
            items = [t for t in items if t not in gone]
        start = bisect.bisect_right(items, last) if last else 0
        page = items[start : start + size]
        doc: dict[str, object] = {"name": m.group("name"), "tags": page} if m else {"repositories": page}
        body = json.dumps(doc).encode()
        headers: Headers = [
            ("Content-Type", "application/json; charset=utf-8"),
            ("Docker-Distribution-Api-Version", "registry/2.0"),
            ("Content-Length", str(len(body))),
        ]
        if page and start + len(page) < len(items):
            headers.append(("Link", f'<{req.path}?{urlencode({"n": size, "last": page[-1]})}>; rel="next"'))
        return _Resp(200, "OK", headers, iter([body]))

    def _fetch_list(self, req: HttpRequest, up: _Upstream, key_field: str) -> list[str] | _Resp:
        """The complete upstream list (following upstream Link pages), or the upstream's error response."""
        items: list[str] = []
        target: str | None = req.path
        extra = {"Accept": "application/json"}
        for _ in range(_MAX_LIST_PAGES):
            if target is None:
                return items
            resp, body = self._fetch(req, up, "GET", target, extra)
            if resp.status != 200:
                resp.set_body(body)
                return resp
            try:
                doc = json.loads(body)
                values = doc.get(key_field) or []
            except (ValueError, AttributeError):
                resp.set_body(body)
                return resp  # not a list: pass the oddity through unchanged
            items.extend(str(v) for v in values)
            link = resp.get("Link")
            nxt = _LINK_NEXT_RE.search(link) if link else None
            target = None
            if nxt:
                parts = urlsplit(nxt.group(1))
                if not parts.netloc or parts.netloc == self._up_netloc:
                    target = parts.path + ("?" + parts.query if parts.query else "")
        return items

    def _oci_delete(self, conn: HttpConn, req: HttpRequest, up: _Upstream) -> _Resp | None:
        m = _MANIFEST_RE.match(req.path)
        if req.method != "DELETE" or not m or ":" in m.group("ref"):
            return None
        name, tag = m.group("name"), m.group("ref")
        discard_body(conn, req)
        probe, body = self._fetch(req, up, "DELETE", f"/v2/{name}/manifests/{_ZERO_DIGEST}")
        if probe.status != 404:
            probe.set_body(body)
            return probe
        if self._is_deleted(name, tag):
            return _manifest_unknown(tag)
        head, _ = self._fetch(req, up, "HEAD", f"/v2/{name}/manifests/{tag}", {"Accept": _MANIFEST_ACCEPT})
        if head.status == 404:
            return _manifest_unknown(tag)
        if head.status >= 500:
            head.set_body(b"")
            return head
        with self._lock:
            self._deleted.setdefault(name, set()).add(tag)
        headers = [("Docker-Distribution-Api-Version", "registry/2.0"), ("Content-Length", "0")]
        return _Resp(202, "Accepted", headers)

    def _apply_state(self, req: HttpRequest, up: _Upstream, resp: _Resp) -> None:
        """Make forwarded answers agree with emulated tag deletes."""
        with self._lock:
            if not self._deleted:
                return
        m = _MANIFEST_RE.match(req.path)
        if m and ":" not in m.group("ref"):
            name, tag = m.group("name"), m.group("ref")
            if not self._is_deleted(name, tag):
                return
            if req.method in ("GET", "HEAD") and 200 <= resp.status < 300:
                resp.release()
                err = _manifest_unknown(tag)
                resp.status, resp.reason, resp.headers, resp.body = (
                    err.status,
                    err.reason,
                    err.headers,
                    err.body,
                )
                resp.release = lambda: None
            elif req.method == "PUT" and 200 <= resp.status < 300:
                with self._lock:
                    self._deleted.get(name, set()).discard(tag)
            return
        t = _TAGS_RE.match(req.path)
        if t and req.method == "GET" and resp.status == 200:
            with self._lock:
                gone = set(self._deleted.get(t.group("name"), ()))
            if not gone:
                return
            body = resp.read_all()
            try:
                doc = json.loads(body)
                if isinstance(doc, dict) and isinstance(doc.get("tags"), list):
                    doc["tags"] = [x for x in doc["tags"] if x not in gone]
                    body = json.dumps(doc).encode()
            except ValueError:
                pass
            resp.set_body(body)

    def _apply_edits(self, resp: _Resp, plan: _Plan, req: HttpRequest) -> None:
        for act in plan.edits:
            if isinstance(act, RewriteHeader):
                old = resp.get(act.name)
                new = act.value(old) if callable(act.value) else act.value
                if new is None:
                    resp.remove(act.name)
                else:
                    resp.set(act.name, new)
            elif isinstance(act, RemoveHeader):
                resp.remove(act.name)
            elif isinstance(act, AddHeader):
                resp.headers.append((act.name, act.value))
            elif isinstance(act, LocationViaProxy):
                loc = resp.get("Location")
                if loc is not None:
                    resp.set("Location", self.to_proxy_url(loc))
            elif isinstance(act, ReplaceBody):
                if req.method == "HEAD":
                    continue
                if callable(act.body):
                    resp.set_body(act.body(resp.read_all()))
                else:
                    resp.read_all()
                    resp.set_body(act.body)

    def _send(self, conn: HttpConn, req: HttpRequest, resp: _Resp, plan: _Plan) -> tuple[bool, str]:
        """Write the response with the plan's drip/cut; return (keep connection, outcome)."""
        no_body = req.method == "HEAD" or resp.status in (204, 304) or resp.status < 200
        close_framed = resp.close_framed
        headers = [(k, v) for k, v in resp.headers if k.lower() not in ("connection", "transfer-encoding")]
        has_length = resp.get("Content-Length") is not None
        if no_body:
            framing = "none"
        elif has_length and not close_framed:
            framing = "length"
        elif req.version == "HTTP/1.1" and not close_framed:
            framing = "chunked"
            headers.append(("Transfer-Encoding", "chunked"))
        else:
            framing = "close"
        keep = req.keep_alive and resp.reusable and framing != "close" and plan.cut is None
        if not keep:
            headers.append(("Connection", "close"))
        try:
            conn.sendall(encode_head("HTTP/1.1", resp.status, resp.reason, headers))
            if no_body or resp.body is None:
                resp.release()
                if framing == "chunked":
                    conn.sendall(b"0\r\n\r\n")
                return self._finish_cut(conn, plan) if plan.cut else (keep, "ok")
            return self._send_body(conn, resp, plan, framing, keep)
        except ClientGone:
            resp.release()
            raise

    def _send_body(
        self, conn: HttpConn, resp: _Resp, plan: _Plan, framing: str, keep: bool
    ) -> tuple[bool, str]:
        assert resp.body is not None
        stop = self._server.stop_event
        cut = plan.cut
        limit = None if cut is None else (cut.n if isinstance(cut, Truncate) else cut.after_bytes)
        sent = 0
        first = True

        def pieces() -> Generator[bytes, None, None]:
            """The body as is, or re-cut into exactly ``bytes_per_chunk`` pieces for a drip."""
            assert resp.body is not None
            if plan.drip is None:
                yield from resp.body
                return
            step = plan.drip.bytes_per_chunk
            pending = bytearray()
            for piece in resp.body:
                pending += piece
                while len(pending) >= step:
                    yield bytes(pending[:step])
                    del pending[:step]
            if pending:
                yield bytes(pending)

        source = pieces()
        try:
            while True:
                if limit is not None and sent >= limit:
                    break
                try:
                    piece = next(source)
                except StopIteration:
                    break
                except (OSError, http.client.HTTPException):
                    resp.release()
                    conn.reset()
                    return False, "upstream-error"
                if not piece:
                    continue
                if limit is not None:
                    piece = piece[: limit - sent]
                if plan.drip is not None and not first and stop.wait(plan.drip.interval):
                    raise ClientGone("stopping")
                first = False
                conn.sendall(b"%x\r\n%s\r\n" % (len(piece), piece) if framing == "chunked" else piece)
                sent += len(piece)
        finally:
            source.close()
            resp.release()
        if cut is not None:
            return self._finish_cut(conn, plan)
        if framing == "chunked":
            conn.sendall(b"0\r\n\r\n")
        if framing == "close":
            conn.close()
            return False, "ok"
        return keep, "ok"

    @staticmethod
    def _finish_cut(conn: HttpConn, plan: _Plan) -> tuple[bool, str]:
        if isinstance(plan.cut, ResetMidBody):
            conn.reset()
            return False, "reset-mid-body"
        conn.close()
        return False, "truncated"
