"""The wire: HTTP/1.1 over ``socket`` + ``ssl``, through a keep-alive pool.

:class:`Connections` sends one :class:`~ocireg.response.Request` and returns the streamed
:class:`~ocireg.response.Response`; policies (retries, redirects, which CA, which proxy) belong to
:mod:`ocireg.transport`, which tells this layer per host which TLS context and proxy to use.

* **Pool**: idle connections are kept per (scheme, host, port, TLS context, proxy), thread-safe, at most
  ``max_idle`` per route and ``idle_expiry`` seconds. Before reuse a connection is checked for a close the peer
  sent while it was idle (readable with no request outstanding = EOF or garbage: dropped); a request that still
  finds its reused connection dead before any response byte is sent once more on a fresh one, if its body can
  be replayed (RFC 9112 §9.3.1 allows retrying such requests).
* **Deadline**: every ``recv`` and ``send`` is bounded by the step timeout and by what is left of the total
  deadline, the status line and headers included: a peer dripping one byte per second cannot outlive it.
* **Messages** are read by :mod:`ocireg.response` (:func:`~ocireg.response.read_head`,
  :class:`~ocireg.response.FramedBody`), not by ``http.client``: its header parsing through the ``email``
  package was most of a batch's CPU per request, and importing it a tenth of a cold check's instructions (#25).
  A head or body that ends with the connection too early is a broken connection
  (:class:`~ocireg.response.CutMessage`, exit 5), never a complete answer (#23).
* **Protocol violations** (garbage status line, a malformed field line, more than 100 header fields or 64 KiB
  of head, a ``Content-Length`` that is not one decimal number of at most 19 digits, a transfer coding other
  than ``chunked``) raise :class:`~ocireg.response.MalformedMessage`, never a connection error: they are not
  retried.
* **Proxies**: ``https`` through an HTTP proxy via ``CONNECT`` (RFC 9110 §9.3.6), ``http`` in absolute form
  (RFC 9112 §3.2.2); the proxy's credentials go in ``Proxy-Authorization`` only, never to the registry. An
  ``https://`` proxy is reached over TLS first, its certificate checked by the same TLS policy as a registry's
  (docs/architecture.md §4); a registry's TLS then runs inside that TLS (:class:`_TlsInTls`).
"""

from __future__ import annotations

import io
import select
import socket
import ssl
import time
from _thread import allocate_lock  # threading.Lock itself; threading stays off a check's path (#16, start-up)
from collections.abc import Callable, Iterator, Mapping
from functools import lru_cache, partial
from urllib.parse import quote, unquote, urlsplit

from ocireg.headstart import dial
from ocireg.record import record
from ocireg.response import (
    TOKEN,
    CutMessage,
    DeadlineExceeded,
    FramedBody,
    MalformedMessage,
    NoResponse,
    Request,
    Response,
    read_head,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from _thread import LockType
    from typing import TypeVar

    _T = TypeVar("_T")

__all__ = ["Connections", "Proxy", "ProxyRefused", "ProxyTlsError", "Target", "parse_proxy", "split_url"]

#: Bodies up to this size are sent with the request head in one write.
_COALESCE = 64 * 1024
# RFC 3986 §2: unreserved and reserved characters stay, "%" keeps existing escapes; everything else (spaces,
# control characters, non-ASCII) is percent-encoded, so a hostile Location cannot inject a header line.
_SAFE_PATH = "/:@!$&'()*+,;=-._~%"
_SAFE_QUERY = _SAFE_PATH + "?"


@record(frozen=True)
class Target:
    """A request URL split for the wire: ``host`` is IDNA-encoded without brackets, ``origin`` is Host."""

    scheme: str
    host: str
    port: int
    origin: str
    path: str


@lru_cache(maxsize=256)  # a request's URL is split by the transport, its redirect policy and the pool (#25)
def split_url(url: str) -> Target:
    """Split an absolute http(s) URL; ``ValueError`` if it is not one (bad port, no host, bad characters)."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise ValueError(f"unsupported URL scheme {scheme!r}")
    host = parts.hostname or ""
    if not host:
        raise ValueError("URL has no host")
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError as exc:
            raise ValueError("URL host is not a valid IDNA name") from exc
    if not all(c.isalnum() or c in ".-_:" for c in host):
        raise ValueError("URL host contains characters not allowed in a host name")
    default = 443 if scheme == "https" else 80
    port = parts.port if parts.port is not None else default  # .port raises ValueError when out of range
    origin = f"[{host}]" if ":" in host else host
    if port != default:
        origin += f":{port}"
    path = quote(parts.path or "/", safe=_SAFE_PATH)
    if parts.query:
        path += "?" + quote(parts.query, safe=_SAFE_QUERY)
    return Target(scheme, host, port, origin, path)


@record(frozen=True)
class Proxy:
    """An HTTP proxy: where to connect, whether over TLS (an ``https://`` proxy URL) and the
    ``Proxy-Authorization`` value, if the URL had userinfo."""

    host: str
    port: int
    authorization: str | None
    tls: bool = False

    def __repr__(self) -> str:  # never shows the credentials
        return f"Proxy({'https' if self.tls else 'http'}://{self.host}:{self.port})"


def parse_proxy(url: str) -> Proxy:
    """An ``http(s)://[user:pass@]host[:port]`` proxy URL; ``ValueError`` for anything else.

    The default port is the scheme's (80 / 443), as Go's ``httpproxy`` has it.
    """
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise ValueError("only http:// and https:// proxies are supported")
    if not parts.hostname:
        raise ValueError("proxy URL has no host")
    authorization = None
    if parts.username is not None:
        import base64

        raw = f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode()
        authorization = "Basic " + base64.b64encode(raw).decode("ascii")
    tls = scheme == "https"
    return Proxy(parts.hostname, parts.port or (443 if tls else 80), authorization, tls)


class ProxyRefused(ConnectionError):
    """The proxy answered ``CONNECT`` with something other than 2xx."""

    def __init__(self, status: int) -> None:
        super().__init__(f"the proxy refused the tunnel (HTTP {status})")
        self.status = status


class ProxyTlsError(ConnectionError):
    """The TLS handshake with an ``https://`` proxy failed: its certificate is not trusted, or it speaks no TLS."""

    def __init__(self, proxy: Proxy, exc: ssl.SSLError) -> None:
        reason = getattr(exc, "verify_message", None) or getattr(exc, "reason", None) or str(exc)
        untrusted = isinstance(exc, ssl.SSLCertVerificationError)
        what = "certificate not trusted" if untrusted else "handshake failed"
        super().__init__(f"TLS to the proxy {proxy.host}:{proxy.port}: {what} ({reason})")
        self.untrusted = untrusted


_RouteKey = tuple[str, str, int, int, "Proxy | None"]


class _Conn:
    """One socket and the clock bounding its current request; owned by one thread at a time."""

    __slots__ = ("end", "idle_since", "key", "sock", "step")

    def __init__(self, sock: socket.socket, key: _RouteKey) -> None:
        self.sock: socket.socket | _TlsInTls = sock
        self.key = key
        self.step = 30.0
        self.end: float | None = None
        self.idle_since = 0.0

    def arm(self, step: float, end: float | None) -> None:
        self.step, self.end = step, end

    def budget(self) -> float:
        return _budget(self.step, self.end)

    def sendall(self, data: bytes) -> None:
        self.sock.settimeout(self.budget())
        try:
            self.sock.sendall(data)
        except TimeoutError as exc:
            raise self.timed_out() from exc

    def timed_out(self) -> TimeoutError:
        """The step timeout, or :class:`DeadlineExceeded` if the wait was cut short by the total deadline."""
        if self.end is not None and self.end - time.monotonic() < 0.05:
            return DeadlineExceeded("the deadline passed")
        return TimeoutError("timed out")

    def alive(self) -> bool:
        """False if the peer closed (or wrote) while the connection sat idle: it must not be reused."""
        try:
            if hasattr(select, "poll"):
                poller = select.poll()
                poller.register(self.sock, select.POLLIN)
                readable = bool(poller.poll(0))
            else:  # pragma: no cover - Windows
                readable = bool(select.select([self.sock], [], [], 0)[0])
        except (OSError, ValueError):
            return False
        if not readable:
            return True
        # Readable while idle: EOF, a stray byte, or (TLS 1.3) a post-handshake message with no data.
        self.sock.setblocking(False)
        try:
            self.sock.recv(1)
        except (ssl.SSLWantReadError, BlockingIOError):
            return True
        except OSError:
            return False
        return False

    def close(self) -> None:
        try:  # noqa: SIM105 -- contextlib is not on a check's path (#16, start-up)
            self.sock.close()
        except OSError:
            pass


class _TlsInTls:
    """A registry's TLS inside the TLS to an ``https://`` proxy, with the socket methods :class:`_Conn` uses.

    ``ssl`` cannot wrap an ``SSLSocket`` a second time, so the inner TLS is an ``ssl.SSLObject`` over memory
    BIOs whose records travel through the outer socket (timeouts and non-blocking mode are the outer socket's).
    """

    def __init__(self, outer: ssl.SSLSocket, tls: ssl.SSLContext, server_hostname: str) -> None:
        self._outer = outer
        self._incoming = ssl.MemoryBIO()
        self._outgoing = ssl.MemoryBIO()
        self._tls = tls.wrap_bio(self._incoming, self._outgoing, server_hostname=server_hostname)
        self._pump(self._tls.do_handshake)

    def _pump(self, step: Callable[[], _T]) -> _T:
        """Run one ``SSLObject`` step, moving records through the outer socket until it completes."""
        while True:
            try:
                result = step()
            except ssl.SSLWantReadError:
                self._flush()
                data = self._outer.recv(_RECORD)  # SSLWantReadError/BlockingIOError when non-blocking
                if data:
                    self._incoming.write(data)
                else:
                    self._incoming.write_eof()
                continue
            self._flush()
            return result

    def _flush(self) -> None:
        pending = self._outgoing.read()
        if pending:
            self._outer.sendall(pending)

    def sendall(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            chunk = view[:_RECORD]
            sent = self._pump(partial(self._tls.write, chunk))
            view = view[sent:]

    def recv(self, size: int) -> bytes:
        return self._pump(partial(self._read, size))

    def recv_into(self, buffer: memoryview) -> int:
        return self._pump(partial(self._read_into, buffer))

    def _read(self, size: int) -> bytes:
        try:
            return self._tls.read(size)
        except ssl.SSLEOFError:  # the tunnel closed without close_notify: EOF, as an SSLSocket reports it
            return b""

    def _read_into(self, buffer: memoryview) -> int:
        try:
            # typeshed says bytes; with a buffer, SSLObject.read returns the count it wrote into it
            return self._tls.read(len(buffer), buffer)  # type: ignore[return-value]
        except ssl.SSLEOFError:
            return 0

    def settimeout(self, value: float | None) -> None:
        self._outer.settimeout(value)

    def setblocking(self, flag: bool) -> None:
        self._outer.setblocking(flag)

    def fileno(self) -> int:
        return self._outer.fileno()

    def getpeername(self) -> object:
        return self._outer.getpeername()

    def close(self) -> None:
        self._outer.close()


#: Plaintext per TLS record (RFC 8446 §5.1: at most 2^14 bytes).
_RECORD = 16 * 1024


def _reader(conn: _Conn) -> io.BufferedReader:
    """The connection's bytes, buffered, for one response (heads are read a line at a time)."""
    return io.BufferedReader(_Wire(conn), 64 * 1024)


def _budget(step: float, end: float | None) -> float:
    """Seconds the next socket operation may take; raises once the total deadline has passed."""
    if end is None:
        return step
    left = end - time.monotonic()
    if left <= 0:
        raise DeadlineExceeded("the deadline passed")
    return min(step, left)


class _Wire(io.RawIOBase):
    """The socket as a raw stream, each ``recv`` bounded by the connection's clock."""

    def __init__(self, conn: _Conn) -> None:
        super().__init__()
        self._conn = conn

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        sock = self._conn.sock
        sock.settimeout(self._conn.budget())
        try:
            return sock.recv_into(buffer)
        except TimeoutError as exc:
            raise self._conn.timed_out() from exc


class _WireBody:
    """A response body read off the wire (:class:`~ocireg.response.FramedBody`); gives its connection back to the
    pool once read to the end, if the connection may carry another request."""

    __slots__ = ("_body", "_conn", "_keep", "_pool")

    def __init__(self, pool: Connections, conn: _Conn, body: FramedBody, *, keep: bool) -> None:
        self._pool = pool
        self._conn: _Conn | None = conn
        self._body = body
        self._keep = keep

    def read(self, size: int) -> bytes:
        return self._body.read(size)

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        if self._body.done and self._keep:
            self._pool.checkin(conn)
        else:
            conn.close()


TlsPolicy = Callable[[str, int], ssl.SSLContext]
ProxyPolicy = Callable[[str, int], "Proxy | None"]


class Connections:
    """A thread-safe keep-alive pool of HTTP/1.1 connections, one list of idle ones per route."""

    def __init__(
        self,
        *,
        tls: TlsPolicy,
        proxy: ProxyPolicy,
        max_idle: int = 32,
        idle_expiry: float = 30.0,
        connect_to: Mapping[tuple[str, int], tuple[str, int]] | None = None,
        connect: Callable[[tuple[str, int], float], socket.socket] | None = None,
    ) -> None:
        self._tls = tls
        # How a TCP connection is opened: socket.create_connection, or a connection begun before the command
        # was parsed (ocireg.headstart, #25).
        self._connect = connect or dial
        # Tests only (docs/testing.md, "Registries under their own names"): connect to another address for a
        # (host, port), as curl's --connect-to; Host, SNI and the certificate check keep the real name.
        self._connect_to = dict(connect_to or {})
        self._proxy = proxy
        self._max_idle = max_idle
        self._idle_expiry = idle_expiry
        self._idle: dict[_RouteKey, list[_Conn]] = {}
        self._pending: dict[_RouteKey, LockType] = {}  # routes a preconnect is opening; released when done
        self._contacted: set[_RouteKey] = set()  # routes a request has been sent on: no preconnect after it
        self._lock = allocate_lock()
        self.opened = 0
        """Connections opened so far (tests: keep-alive reuse)."""

    # -- the pool -------------------------------------------------------------------------------------------

    def _checkout(self, key: _RouteKey) -> _Conn | None:
        now = time.monotonic()
        while True:
            with self._lock:
                idle = self._idle.get(key)
                if not idle:
                    return None
                conn = idle.pop()
            if now - conn.idle_since < self._idle_expiry and conn.alive():
                return conn
            conn.close()

    def checkin(self, conn: _Conn) -> None:
        conn.idle_since = time.monotonic()
        with self._lock:
            idle = self._idle.setdefault(conn.key, [])
            if len(idle) < self._max_idle:
                idle.append(conn)
                return
        conn.close()

    def adopt(self, url: str, sock: ssl.SSLSocket) -> bool:
        """Keep ``sock``, a TLS connection just opened to ``url``'s host and port with this pool's TLS policy for
        it, as an idle connection of that route: the loopback scheme probe's handshake then carries the first
        request (#16). False (nothing kept) when that route goes through a proxy: ``sock`` is not its connection.
        """
        target = split_url(url)
        if target.scheme != "https" or self._proxy(target.host, target.port) is not None:
            return False
        tls = self._tls(target.host, target.port)
        if sock.context is not tls:
            return False
        try:  # noqa: SIM105 -- contextlib is not on a check's path (#16, start-up)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass
        with self._lock:
            self.opened += 1
        self.checkin(_Conn(sock, (target.scheme, target.host, target.port, id(tls), None)))
        return True

    def preconnect(self, url: str, *, timeout: float) -> None:
        """Start opening, on a thread of its own, a connection to ``url``'s route, kept idle for the first request;
        nothing if one is idle or being opened already, or a request has gone that way (it opened its own: a
        second would be one connection too many, LD). A request to that route meanwhile waits for it instead
        of opening a second one. A failure is dropped: the request meets it again and reports it (#25: the
        handshake overlaps the caller's own work)."""
        target = split_url(url)
        proxy = self._proxy(target.host, target.port)
        tls = self._tls(target.host, target.port) if target.scheme == "https" else None
        key: _RouteKey = (target.scheme, target.host, target.port, id(tls), proxy)
        done = allocate_lock()
        done.acquire()
        with self._lock:
            if self._idle.get(key) or key in self._pending or key in self._contacted:
                return
            self._pending[key] = done
        from _thread import start_new_thread

        start_new_thread(self._preconnect, (key, target, tls, proxy, timeout, done))

    def _preconnect(
        self,
        key: _RouteKey,
        target: Target,
        tls: ssl.SSLContext | None,
        proxy: Proxy | None,
        timeout: float,
        done: LockType,
    ) -> None:
        try:
            self.checkin(self._open(key, target, tls, proxy, timeout, None))
        except (OSError, ValueError):
            pass
        finally:
            with self._lock:
                del self._pending[key]
            done.release()

    def close(self) -> None:
        with self._lock:
            idle = [c for conns in self._idle.values() for c in conns]
            self._idle.clear()
        for conn in idle:
            conn.close()

    # -- one exchange ---------------------------------------------------------------------------------------

    def send(self, request: Request, *, timeout: float, end: float | None, what: str = "request") -> Response:
        """Send ``request`` and return the response once its head has arrived (the body streams).

        ``timeout`` bounds each connect, send and receive step; ``end`` (a ``time.monotonic()`` instant) bounds
        them all. Raises ``TimeoutError`` (:class:`DeadlineExceeded` for ``end``), ``OSError``/``ssl.SSLError``
        for connection failures, :class:`MalformedMessage` for answers that are not HTTP/1.1.
        """
        target = split_url(request.url)
        proxy = self._proxy(target.host, target.port)
        tls = self._tls(target.host, target.port) if target.scheme == "https" else None
        key: _RouteKey = (target.scheme, target.host, target.port, id(tls), proxy)
        replayable = request.content is None or isinstance(request.content, bytes)
        with self._lock:
            self._contacted.add(key)
            pending = self._pending.get(key)
        if pending is not None and pending.acquire(timeout=_budget(timeout, end)):
            pending.release()  # the preconnect is done: its connection, if it got one, is in the pool
        conn = self._checkout(key)
        if conn is not None:
            conn.arm(timeout, end)
            try:
                return self._exchange(conn, request, target, proxy, what)
            except OSError as exc:
                if not (replayable and getattr(exc, "before_response", False)):
                    raise
                # The peer closed the idle connection as we reused it: once more on a fresh one.
                conn = self._open(key, target, tls, proxy, timeout, end)
                response = self._exchange(conn, request, target, proxy, what)
                response.replayed = True  # the first copy may have been processed (a DELETE done, #23)
                return response
        conn = self._open(key, target, tls, proxy, timeout, end)
        return self._exchange(conn, request, target, proxy, what)

    def _open(
        self,
        key: _RouteKey,
        target: Target,
        tls: ssl.SSLContext | None,
        proxy: Proxy | None,
        timeout: float,
        end: float | None,
    ) -> _Conn:
        address = (proxy.host, proxy.port) if proxy is not None else (target.host, target.port)
        address = self._connect_to.get(address, address)
        sock = self._connect(address, _budget(timeout, end))
        conn = _Conn(sock, key)
        conn.arm(timeout, end)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if proxy is not None and proxy.tls:
                conn.sock = self._proxy_tls(sock, proxy, conn.budget())
            if proxy is not None and tls is not None:
                self._tunnel(conn, target, proxy)
            if tls is not None:
                conn.sock.settimeout(conn.budget())
                if isinstance(conn.sock, ssl.SSLSocket):  # through an https:// proxy: TLS inside TLS
                    conn.sock = _TlsInTls(conn.sock, tls, target.host)
                else:
                    conn.sock = tls.wrap_socket(sock, server_hostname=target.host)
        except BaseException:
            conn.close()
            raise
        with self._lock:
            self.opened += 1
        return conn

    def _proxy_tls(self, sock: socket.socket, proxy: Proxy, budget: float) -> ssl.SSLSocket:
        """TLS to an ``https://`` proxy, verified by the TLS policy for the proxy's host (its CA file or
        skip-verify setting, else the system trust; docs/architecture.md §4)."""
        sock.settimeout(budget)
        try:
            return self._tls(proxy.host, proxy.port).wrap_socket(sock, server_hostname=proxy.host)
        except ssl.SSLError as exc:
            raise ProxyTlsError(proxy, exc) from exc

    @staticmethod
    def _tunnel(conn: _Conn, target: Target, proxy: Proxy) -> None:
        authority = f"[{target.host}]:{target.port}" if ":" in target.host else f"{target.host}:{target.port}"
        lines = [f"CONNECT {authority} HTTP/1.1", f"Host: {authority}"]
        if proxy.authorization:
            lines.append(f"Proxy-Authorization: {proxy.authorization}")
        conn.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("ascii"))
        try:
            head = read_head(_reader(conn), "CONNECT")
        except NoResponse as exc:
            raise ConnectionError("the proxy closed the connection instead of opening a tunnel") from exc
        except MalformedMessage as exc:
            raise MalformedMessage(f"the proxy's answer to CONNECT is not HTTP ({exc})") from exc
        if not 200 <= head.status < 300:
            raise ProxyRefused(head.status)

    def _exchange(
        self, conn: _Conn, request: Request, target: Target, proxy: Proxy | None, what: str
    ) -> Response:
        try:
            self._write(conn, request, target, proxy)
            fp = _reader(conn)
            try:
                head = read_head(fp, request.method)
            except OSError as exc:
                # Nothing of an answer arrived: the request may go again on a fresh connection (RFC 9112 §9.3.1);
                # not after a timeout or a cut head (the peer may have acted on it, #23).
                if not isinstance(exc, (TimeoutError, CutMessage)):
                    exc.before_response = True  # type: ignore[attr-defined]
                raise
        except BaseException:
            conn.close()
            raise
        return Response(
            head.status,
            head.headers,
            url=request.url,
            body=_WireBody(self, conn, FramedBody(fp, head), keep=not head.will_close),
            reason=head.reason,
            what=what,
        )

    @staticmethod
    def _write(conn: _Conn, request: Request, target: Target, proxy: Proxy | None) -> None:
        form = (
            f"{target.scheme}://{target.origin}{target.path}"
            if proxy is not None and target.scheme == "http"
            else target.path
        )
        lines = [f"{request.method} {form} HTTP/1.1", f"Host: {target.origin}"]
        for name, value in request.headers.multi_items():
            if not _valid_field(name, value):
                raise ValueError(f"invalid header field {name[:40]!r}")
            lines.append(f"{name}: {value}")
        if proxy is not None and target.scheme == "http" and proxy.authorization:
            lines.append(f"Proxy-Authorization: {proxy.authorization}")
        content = request.content
        framed = "content-length" in request.headers  # a streamed body of known size goes as it is
        if framed:
            pass
        elif isinstance(content, bytes):
            if content or request.method in ("POST", "PUT", "PATCH"):
                lines.append(f"Content-Length: {len(content)}")
        elif content is None:
            if request.method in ("POST", "PUT", "PATCH"):
                lines.append("Content-Length: 0")
        else:
            lines.append("Transfer-Encoding: chunked")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        try:
            if isinstance(content, bytes) or content is None:
                if content and len(content) > _COALESCE:
                    conn.sendall(head)
                    conn.sendall(content)
                else:
                    conn.sendall(head + (content or b""))
                return
            conn.sendall(head)
        except OSError as exc:
            if not isinstance(exc, TimeoutError):
                exc.before_response = True  # type: ignore[attr-defined]
            raise
        _write_stream(conn, content, chunked=not framed)


def _write_stream(conn: _Conn, chunks: Iterator[bytes], *, chunked: bool) -> None:
    """A streamed body: as it is (``Content-Length`` given) or in RFC 9112 §7.1 chunked coding.

    An error raised by ``chunks`` itself (a digest mismatch, the source registry failing) propagates unchanged;
    the connection is then dropped, so the registry never sees a complete body.
    """
    for chunk in chunks:
        if chunk:
            conn.sendall(b"%x\r\n%b\r\n" % (len(chunk), chunk) if chunked else chunk)
    if chunked:
        conn.sendall(b"0\r\n\r\n")


def _valid_field(name: str, value: str) -> bool:
    return TOKEN.fullmatch(name) is not None and "\r" not in value and "\n" not in value and "\0" not in value
