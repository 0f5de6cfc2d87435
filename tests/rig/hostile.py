"""A scripted hostile HTTP server on loopback: it writes exactly the bytes a test scripts.

Why a server of its own: the fault proxy and the sink speak well-formed HTTP, but some hostile registries do
not — a garbage status line, a 5,000-digit ``Content-Length``, 200 KB of headers, a drip of one header line
every half second, an error body that echoes the ``Authorization`` it was sent. A script sees the parsed
request head (``Authorization`` included, so it can echo it) and yields the answer as raw ``bytes`` to send and
``float`` pauses in seconds. Every connection is closed after one answer (no keep-alive), so each request is
a fresh connection and the request log is exact.

Only loopback: the listener binds 127.0.0.1 and never connects anywhere.
"""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from .faultproxy import BadRequest, ClientGone, HttpConn, LoopbackServer, discard_body, read_request

__all__ = ["RawRequest", "RawServer", "Script", "http_response"]


@dataclass(frozen=True)
class RawRequest:
    """The head of one request the hostile server received."""

    method: str
    target: str
    headers: tuple[tuple[str, str], ...]

    def header(self, name: str) -> str | None:
        low = name.lower()
        return next((v for k, v in self.headers if k.lower() == low), None)


Script = Callable[[RawRequest], Iterable[bytes | float]]


def http_response(status: int, headers: Iterable[tuple[str, str]] = (), body: bytes = b"") -> bytes:
    """A well-formed HTTP/1.1 answer with ``Content-Length`` and ``Connection: close``."""
    lines = [f"HTTP/1.1 {status} X", *(f"{k}: {v}" for k, v in headers)]
    lines += [f"Content-Length: {len(body)}", "Connection: close"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


class RawServer:
    """Answers every request with ``script(request)``; records the requests it saw."""

    def __init__(self, script: Script, *, port: int = 0, tls_context: ssl.SSLContext | None = None) -> None:
        """``port`` 0 binds a free port; a given port is reused (SO_REUSEADDR) to play a registry that went
        down and came back, possibly switching between plain HTTP and TLS (``tls_context``)."""
        self._script = script
        self._lock = threading.Lock()
        self._requests: list[RawRequest] = []
        self._server = LoopbackServer(
            "127.0.0.1",
            port,
            tls_context=tls_context,
            name="hostile",
            on_connection=self._serve,
            read_timeout=10.0,
        )
        self.tls = tls_context is not None

    def start(self) -> RawServer:
        self._server.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._server.stop(timeout)

    def set_script(self, script: Script) -> None:
        with self._lock:
            self._script = script

    @property
    def port(self) -> int:
        return self._server.port

    @property
    def netloc(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def requests(self) -> list[RawRequest]:
        with self._lock:
            return list(self._requests)

    def _serve(self, conn: HttpConn) -> None:
        try:
            if not self.tls and conn.wait_readable(10.0) and conn.sock.recv(1, socket.MSG_PEEK) == b"\x16":
                return  # a TLS ClientHello on the plain port: hang up at once, as a plain server's parser would
            req = read_request(conn, 10.0)
            if req is None:
                return
            discard_body(conn, req)
        except (ClientGone, BadRequest, OSError):
            return
        raw = RawRequest(req.method, req.target, tuple(req.headers))
        with self._lock:
            self._requests.append(raw)
            script = self._script
        for piece in script(raw):
            if isinstance(piece, float):
                if self._server.stop_event.wait(piece):
                    return
                continue
            try:
                conn.sendall(piece)
            except (ClientGone, OSError):
                return
