"""#16: ocireg's own HTTP layer (ocireg.connection + ocireg.response) against small loopback servers.

Each server here is a few lines of socket code scripted per test, because what is tested is exactly what a
real registry does not do on purpose: close idle keep-alive connections, drip a status line, send garbage, a
5,000-digit ``Content-Length`` or 200 KB of headers. Everything above the wire (retries, the deadline,
classification) is ocireg's real :class:`~ocireg.transport.Transport`.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import trustme

from ocireg import connection
from ocireg.errors import BodyTooLarge, ProtocolViolation, TransportError
from ocireg.transport import Deadline, Transport, TransportConfig, read_capped

Script = Callable[[socket.socket, int], None]


class Server:
    """A loopback TCP server running ``script(sock, n)`` for its n-th connection (each in a thread)."""

    def __init__(self, script: Script, tls: ssl.SSLContext | None = None) -> None:
        self.script = script
        self.tls = tls
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.connections = 0
        self.requests: list[tuple[str, dict[str, str], bytes]] = []
        self._threads: list[threading.Thread] = []
        self._accepter = threading.Thread(target=self._accept, daemon=True)
        self._accepter.start()

    @property
    def origin(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while True:
            try:
                sock, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            thread = threading.Thread(target=self._serve, args=(sock, self.connections), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _serve(self, sock: socket.socket, n: int) -> None:
        with contextlib.suppress(OSError):
            if self.tls is not None:
                sock = self.tls.wrap_socket(sock, server_side=True)
            sock.settimeout(10)
            self.script(sock, n)
        with contextlib.suppress(OSError):
            sock.close()

    def read_request(self, sock: socket.socket) -> tuple[str, dict[str, str], bytes] | None:
        """One request (head + body by Content-Length or chunked), or None at EOF."""
        data = b""
        while b"\r\n\r\n" not in data:
            more = sock.recv(65536)
            if not more:
                return None
            data += more
        head, _, rest = data.partition(b"\r\n\r\n")
        line, *fields = head.decode("latin-1").split("\r\n")
        headers = {k.strip().lower(): v.strip() for k, _, v in (f.partition(":") for f in fields)}
        body = rest
        if "content-length" in headers:
            while len(body) < int(headers["content-length"]):
                body += sock.recv(65536)
        elif headers.get("transfer-encoding") == "chunked":
            while not body.endswith(b"0\r\n\r\n"):
                body += sock.recv(65536)
            body = _unchunk(body)
        self.requests.append((line, headers, body))
        return line, headers, body

    def close(self) -> None:
        self.listener.close()
        for thread in self._threads:
            thread.join(5)


def _unchunk(data: bytes) -> bytes:
    out = b""
    while True:
        size_line, _, data = data.partition(b"\r\n")
        size = int(size_line, 16)
        if size == 0:
            return out
        out, data = out + data[:size], data[size + 2 :]


_PAD = b"\r\n".join([b"X-Pad: " + b"a" * 50_000] * 4) + b"\r\nContent-Length: 0"


def _answer(status: str = "200 OK", body: bytes = b"ok", extra: str = "") -> bytes:
    return f"HTTP/1.1 {status}\r\nContent-Length: {len(body)}\r\n{extra}\r\n".encode() + body


@pytest.fixture
def serve() -> Iterator[Callable[..., Server]]:
    started: list[Server] = []

    def make(script: Script, tls: ssl.SSLContext | None = None) -> Server:
        server = Server(script, tls)
        started.append(server)
        return server

    yield make
    for server in started:
        server.close()


def _transport(**config: Any) -> Transport:
    config.setdefault("plain_http_hosts", frozenset({"127.0.0.1"}))
    config.setdefault("backoff_base", 0.0)
    return Transport(TransportConfig(**config))


def _get(transport: Transport, url: str, seconds: float = 20, **kwargs: Any) -> bytes:
    response = transport.send("GET", url, deadline=Deadline(seconds), what="t", **kwargs)
    return read_capped(response, 10 * 1024 * 1024, deadline=Deadline(seconds), what="t")


def _keep_alive(server: Server) -> Script:
    def script(sock: socket.socket, n: int) -> None:
        while server.read_request(sock) is not None:
            sock.sendall(_answer(body=b"hello"))

    return script


# ------------------------------------------------------------------------------------------------ the pool


def test_ld_keep_alive_connection_is_reused(serve: Callable[..., Server]) -> None:
    """#16: the pool — sequential requests to one host share one connection (HEAD, GET, error bodies)."""
    server = serve(lambda sock, n: None)
    server.script = _keep_alive(server)
    transport = _transport()
    url = f"http://{server.origin}/v2/"
    for _ in range(3):
        assert _get(transport, url) == b"hello"
    transport.send("HEAD", url, deadline=Deadline(5), what="t").close()
    assert _get(transport, url) == b"hello"
    assert server.connections == 1
    assert len(server.requests) == 5


def test_ft_stale_keep_alive_connection_is_replaced(serve: Callable[..., Server]) -> None:
    """#16: stale keep-alive — the server closes each connection after one answer, without saying so; the next
    request notices before sending (the idle socket reads EOF) and opens a new one, with no retry spent."""

    def script(sock: socket.socket, n: int) -> None:
        if server.read_request(sock) is not None:
            sock.sendall(_answer(body=b"once"))
            time.sleep(0.05)

    server = serve(script)
    transport = _transport(retries=0)
    url = f"http://{server.origin}/v2/"
    assert _get(transport, url) == b"once"
    for _ in range(20):  # the close is asynchronous: wait until it has arrived (bounded)
        if server.connections and not server._threads[-1].is_alive():
            break
        time.sleep(0.05)
    assert _get(transport, url) == b"once"
    assert server.connections == 2


def test_ft_connection_dying_as_it_is_reused_is_sent_again_once(
    serve: Callable[..., Server], monkeypatch: pytest.MonkeyPatch
) -> None:
    """#16: stale keep-alive race — the idle check passes but the peer's close arrives as the request is sent:
    the request goes once more on a fresh connection (RFC 9112 §9.3.1), with retries=0 at the transport."""

    def script(sock: socket.socket, n: int) -> None:
        if server.read_request(sock) is not None:
            if n == 1:
                sock.sendall(_answer(body=b"first"))
                server.read_request(sock)  # the reused request arrives, and the server hangs up on it
                return
            sock.sendall(_answer(body=b"fresh"))

    server = serve(script)
    monkeypatch.setattr(connection._Conn, "alive", lambda self: True)
    transport = _transport(retries=0)
    url = f"http://{server.origin}/v2/"
    assert _get(transport, url) == b"first"
    assert _get(transport, url) == b"fresh"
    assert server.connections == 2


# ------------------------------------------------------------------------------------------ bodies


def test_pc_streamed_upload_is_chunked_or_sized(serve: Callable[..., Server]) -> None:
    """#16: chunked streaming upload — an iterator body goes chunked, or as-is with a given Content-Length."""
    server = serve(lambda sock, n: None)
    server.script = _keep_alive(server)
    transport = _transport()
    data = bytes(range(256)) * 4000
    pieces = [data[i : i + 100_000] for i in range(0, len(data), 100_000)]
    url = f"http://{server.origin}/v2/up"
    transport.send("PATCH", url, content=iter(pieces), deadline=Deadline(20), what="t").close()
    _, headers, body = server.requests[-1]
    assert headers.get("transfer-encoding") == "chunked" and "content-length" not in headers
    assert body == data
    sized = {"Content-Length": str(len(data))}
    transport.send("PUT", url, headers=sized, content=iter(pieces), deadline=Deadline(20), what="t").close()
    _, headers, body = server.requests[-1]
    assert headers["content-length"] == str(len(data)) and "transfer-encoding" not in headers
    assert body == data


def test_pc_download_streams_in_bounded_chunks(serve: Callable[..., Server]) -> None:
    """#16: streaming download — a 4 MiB body arrives in chunks of at most the asked size, byte-exact."""
    blob = hashlib.sha256(b"seed").digest() * (4 * 1024 * 1024 // 32)

    def script(sock: socket.socket, n: int) -> None:
        if server.read_request(sock) is not None:
            sock.sendall(f"HTTP/1.1 200 OK\r\nContent-Length: {len(blob)}\r\n\r\n".encode())
            for i in range(0, len(blob), 300_000):
                sock.sendall(blob[i : i + 300_000])

    server = serve(script)
    transport = _transport()
    response = transport.send("GET", f"http://{server.origin}/b", deadline=Deadline(20), what="t")
    sizes, digest = [], hashlib.sha256()
    for chunk in response.iter_raw(256 * 1024):
        sizes.append(len(chunk))
        digest.update(chunk)
    assert digest.digest() == hashlib.sha256(blob).digest()
    assert max(sizes) <= 256 * 1024


def test_bi_gzip_decoded_and_capped_after_decoding(serve: Callable[..., Server]) -> None:
    """#16: gzip — a gzip body is decoded; a gzip bomb stops at the cap counted in decoded bytes."""
    small = gzip.compress(b'{"tags": []}')
    bomb = gzip.compress(b"\0" * (16 * 1024 * 1024))

    def script(sock: socket.socket, n: int) -> None:
        while (request := server.read_request(sock)) is not None:
            body = bomb if request[0].startswith("GET /bomb") else small
            sock.sendall(_answer(body=body, extra="Content-Encoding: gzip\r\n"))

    server = serve(script)
    transport = _transport()
    assert _get(transport, f"http://{server.origin}/small") == b'{"tags": []}'
    assert "gzip" in server.requests[0][1]["accept-encoding"]
    response = transport.send("GET", f"http://{server.origin}/bomb", deadline=Deadline(20), what="t")
    with pytest.raises(BodyTooLarge):
        read_capped(response, 64 * 1024, deadline=Deadline(20), what="t")


# ------------------------------------------------------------------------------------------ proxies


@pytest.fixture(scope="module")
def pki() -> trustme.CA:
    return trustme.CA()


def _tunnel_proxy(seen: list[tuple[str, dict[str, str]]]) -> Script:
    """An HTTP proxy: CONNECT opens a byte tunnel; any other request is forwarded in absolute form."""

    def script(sock: socket.socket, n: int) -> None:
        data = b""
        while b"\r\n\r\n" not in data:
            data += sock.recv(65536)
        head, _, rest = data.partition(b"\r\n\r\n")
        line, *fields = head.decode("latin-1").split("\r\n")
        headers = {k.strip().lower(): v.strip() for k, _, v in (f.partition(":") for f in fields)}
        seen.append((line, headers))
        method, target, _ = line.split(" ")
        if method != "CONNECT":
            sock.sendall(_answer(body=b"via proxy: " + target.encode()))
            return
        host, _, port = target.rpartition(":")
        upstream = socket.create_connection((host, int(port)))
        sock.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        if rest:
            upstream.sendall(rest)

        def pump(src: socket.socket, dst: socket.socket) -> None:
            with contextlib.suppress(OSError):
                while chunk := src.recv(65536):
                    dst.sendall(chunk)
            with contextlib.suppress(OSError):
                dst.shutdown(socket.SHUT_WR)

        back = threading.Thread(target=pump, args=(upstream, sock), daemon=True)
        back.start()
        pump(sock, upstream)
        back.join(5)
        upstream.close()

    return script


def test_sec_https_through_a_proxy_uses_connect_and_keeps_proxy_credentials_at_the_proxy(
    serve: Callable[..., Server], pki: trustme.CA, tmp_path: Any
) -> None:
    """#16: proxies via CONNECT — an https registry is reached through a CONNECT tunnel with TLS verified end to
    end; Proxy-Authorization goes to the proxy only; NO_PROXY and loopback bypass it."""
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    pki.issue_cert("registry.test").configure_cert(server_ctx)
    registry = serve(lambda sock, n: None, tls=server_ctx)
    registry.script = _keep_alive(registry)
    seen: list[tuple[str, dict[str, str]]] = []
    proxy = serve(_tunnel_proxy(seen))
    ca_file = tmp_path / "ca.pem"
    pki.cert_pem.write_to_path(str(ca_file))
    transport = Transport(
        TransportConfig(
            ca_file=str(ca_file), proxy=f"http://u:p%40ss@{proxy.origin}", no_proxy=("skip.test",)
        )
    )
    # "registry.test" resolves nowhere: the proxy connects to 127.0.0.1 on its behalf (the tunnel target's port).
    original = socket.create_connection

    def resolve(address: tuple[str, int], *args: Any, **kwargs: Any) -> socket.socket:
        host, port = address
        return original(("127.0.0.1" if host == "registry.test" else host, port), *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(socket, "create_connection", resolve)
        url = f"https://registry.test:{registry.port}/v2/"
        assert _get(transport, url) == b"hello"
        assert _get(transport, url) == b"hello"
    (line, headers), *more = seen
    assert line == f"CONNECT registry.test:{registry.port} HTTP/1.1"
    assert headers["proxy-authorization"] == "Basic dTpwQHNz"  # u:p@ss
    assert more == []  # one tunnel, kept alive for the second request
    assert all("proxy-authorization" not in h for _, h, _ in registry.requests)
    assert len(registry.requests) == 2
    # plain http through the same proxy: absolute form, credentials to the proxy
    plain = Transport(
        TransportConfig(plain_http_hosts=frozenset({"plain.test"}), proxy=f"http://{proxy.origin}")
    )
    assert _get(plain, "http://plain.test/v2/x") == b"via proxy: http://plain.test/v2/x"
    assert transport._proxy_for("skip.test", 443) is None
    assert transport._proxy_for("127.0.0.1", 5000) is None
    transport.close()
    plain.close()


def _resolving_registry_test() -> pytest.MonkeyPatch:
    """``registry.test`` resolves nowhere: the test proxies connect to 127.0.0.1 on its behalf."""
    original = socket.create_connection

    def resolve(address: tuple[str, int], *args: Any, **kwargs: Any) -> socket.socket:
        host, port = address
        return original(("127.0.0.1" if host == "registry.test" else host, port), *args, **kwargs)

    patch = pytest.MonkeyPatch()
    patch.setattr(socket, "create_connection", resolve)
    return patch


def _tls_server(pki: trustme.CA, name: str) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    pki.issue_cert(name).configure_cert(ctx)
    return ctx


def test_sec_https_proxy_is_reached_over_tls_then_connect_inside_it(
    serve: Callable[..., Server], pki: trustme.CA, tmp_path: Any
) -> None:
    """#16 (regression from the stdlib transport): ``HTTPS_PROXY=https://proxy:3129`` — ocireg speaks TLS to the
    proxy (its certificate verified by the same trust policy), sends CONNECT inside it and the registry's TLS
    inside the tunnel, keeps that tunnel alive; Proxy-Authorization goes to the proxy only; plain-http targets
    go in absolute form over the proxy's TLS; NO_PROXY and loopback still bypass it."""
    registry = serve(lambda sock, n: None, tls=_tls_server(pki, "registry.test"))
    registry.script = _keep_alive(registry)
    seen: list[tuple[str, dict[str, str]]] = []
    proxy = serve(_tunnel_proxy(seen), tls=_tls_server(pki, "127.0.0.1"))
    ca_file = tmp_path / "ca.pem"
    pki.cert_pem.write_to_path(str(ca_file))
    transport = Transport(
        TransportConfig(
            ca_file=str(ca_file),
            plain_http_hosts=frozenset({"plain.test"}),
            proxy=f"https://u:p%40ss@{proxy.origin}",
            no_proxy=("skip.test",),
        )
    )
    patch = _resolving_registry_test()
    try:
        url = f"https://registry.test:{registry.port}/v2/"
        assert _get(transport, url) == b"hello"
        assert _get(transport, url) == b"hello"
        big = transport.send("PUT", url, deadline=Deadline(20), what="t", content=b"x" * 100_000)
        big.read()
    finally:
        patch.undo()
    (line, headers), *more = seen
    assert line == f"CONNECT registry.test:{registry.port} HTTP/1.1"
    assert headers["proxy-authorization"] == "Basic dTpwQHNz"  # u:p@ss
    assert more == []  # one tunnel, kept alive
    assert proxy.connections == 1
    assert all("proxy-authorization" not in h for _, h, _ in registry.requests)
    assert [len(body) for _, _, body in registry.requests] == [0, 0, 100_000]
    assert _get(transport, "http://plain.test/v2/x") == b"via proxy: http://plain.test/v2/x"
    assert seen[-1][1]["proxy-authorization"] == "Basic dTpwQHNz"
    assert transport._proxy_for("skip.test", 443) is None
    assert transport._proxy_for("127.0.0.1", 5000) is None
    assert connection.parse_proxy("https://proxy.example").port == 443
    transport.close()  # the proxy's tunnel threads end with the connections


def test_sec_https_proxy_with_an_untrusted_certificate_is_refused(
    serve: Callable[..., Server], pki: trustme.CA, tmp_path: Any
) -> None:
    """#16: the proxy's certificate is checked like a registry's — signed by a CA ocireg does not trust, the
    connection fails (network error naming the proxy and a --ca-file hint) before any CONNECT or credential."""
    seen: list[tuple[str, dict[str, str]]] = []
    proxy = serve(_tunnel_proxy(seen), tls=_tls_server(trustme.CA(), "127.0.0.1"))
    ca_file = tmp_path / "ca.pem"
    pki.cert_pem.write_to_path(str(ca_file))
    transport = Transport(
        TransportConfig(ca_file=str(ca_file), proxy=f"https://u:secret@{proxy.origin}", retries=0)
    )
    with pytest.raises(TransportError) as info:
        _get(transport, "https://registry.test/v2/")
    assert "proxy" in str(info.value) and "not trusted" in str(info.value)
    assert info.value.hint and "--ca-file" in info.value.hint
    assert "secret" not in str(info.value)
    assert seen == []


def test_sec_proxy_refusing_the_tunnel_is_a_network_error(serve: Callable[..., Server]) -> None:
    """#16: a proxy answering CONNECT with 407 is exit 5 with a proxy hint, not a registry answer."""

    def script(sock: socket.socket, n: int) -> None:
        sock.recv(65536)
        sock.sendall(b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n")

    proxy = serve(script)
    transport = Transport(TransportConfig(proxy=f"http://{proxy.origin}", retries=0))
    with pytest.raises(TransportError) as info:
        _get(transport, "https://registry.test/v2/")
    assert "407" in str(info.value) and info.value.hint and "proxy" in info.value.hint.lower()


def test_ld_preconnect_opens_the_connection_the_first_request_uses(
    serve: Callable[..., Server], pki: trustme.CA, tmp_path: Any
) -> None:
    """#25: a preconnect's connection carries the first request; a request sent while its (slow) handshake is
    still under way waits for it instead of opening a second connection."""
    context = _tls_server(pki, "127.0.0.1")

    class SlowHandshake:
        def wrap_socket(self, sock: socket.socket, server_side: bool) -> ssl.SSLSocket:
            time.sleep(0.3)
            return context.wrap_socket(sock, server_side=server_side)

    server = serve(lambda sock, n: None, tls=SlowHandshake())
    server.script = _keep_alive(server)
    ca_file = tmp_path / "ca.pem"
    pki.cert_pem.write_to_path(str(ca_file))
    transport = Transport(TransportConfig(ca_file=str(ca_file), backoff_base=0.0))
    transport.preconnect(f"https://127.0.0.1:{server.port}")
    assert _get(transport, f"https://127.0.0.1:{server.port}/v2/") == b"hello"
    assert server.connections == 1


def test_ld_no_preconnect_to_a_route_a_request_has_taken(serve: Callable[..., Server]) -> None:
    """#25, LD: a preconnect that comes after a request has gone to the route (a token request that overtook
    the prefetch thread) opens nothing: that request's connection serves what follows. CI failure of
    2026-12-08: a cold check in a job opened two connections to the realm, one of them never used."""
    answering = threading.Event()
    release = threading.Event()

    def script(sock: socket.socket, n: int) -> None:
        while server.read_request(sock) is not None:
            answering.set()
            release.wait(10)
            sock.sendall(_answer(body=b"hello"))

    server = serve(lambda sock, n: None)
    server.script = script
    transport = _transport()
    url = f"http://{server.origin}/v2/"
    first: list[bytes] = []
    worker = threading.Thread(target=lambda: first.append(_get(transport, url)))
    worker.start()
    assert answering.wait(10)  # the request is on its connection, not yet answered
    transport.preconnect(f"http://{server.origin}")
    release.set()
    worker.join(10)
    assert first == [b"hello"] and _get(transport, url) == b"hello"
    transport.close()
    assert server.connections == 1


def test_ft_preconnect_to_a_dead_port_is_dropped_and_the_request_reports_it() -> None:
    """#25: nothing listens: the preconnect fails quietly, the request then fails as a network error."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    transport = _transport(retries=0)
    transport.preconnect(f"http://127.0.0.1:{port}")
    with pytest.raises(TransportError) as info:
        _get(transport, f"http://127.0.0.1:{port}/v2/")
    assert not isinstance(info.value, ProtocolViolation)


# ------------------------------------------------------------------------------ deadline and violations


def test_ft_status_line_drip_cannot_outlive_the_deadline(serve: Callable[..., Server]) -> None:
    """#16: one total deadline counts every byte — a status line dripped a byte at a time (each byte well
    inside the per-step timeout) fails at the deadline, not after the whole head."""
    stop = threading.Event()

    def script(sock: socket.socket, n: int) -> None:
        server.read_request(sock)
        for byte in b"HTTP/1.1 200 OK\r\n" + b"X-Slow: " + b"x" * 10_000:
            if stop.wait(0.1):
                return
            sock.sendall(bytes([byte]))

    server = serve(script)
    transport = _transport(retries=0, timeout=30)
    try:
        with pytest.raises(TransportError) as info:
            _get(transport, f"http://{server.origin}/v2/", seconds=1.0)
    finally:
        stop.set()
    assert "deadline" in str(info.value)


@pytest.mark.parametrize(
    ("name", "answer"),
    [
        ("garbage status line", b"SSH-2.0-OpenSSH_9.6\r\n\r\n"),
        ("5,000-digit Content-Length", b"HTTP/1.1 200 OK\r\nContent-Length: " + b"9" * 5000 + b"\r\n\r\n"),
        ("200 KB of headers", b"HTTP/1.1 200 OK\r\n" + _PAD + b"\r\n\r\n"),
        ("300 header fields", b"HTTP/1.1 200 OK\r\n" + b"X-A: b\r\n" * 300 + b"Content-Length: 0\r\n\r\n"),
        (
            "conflicting Content-Length",
            b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
        ),
        # #25: what http.client (through email) let pass: a line without a colon ended the head there and the
        # fields after it were dropped; a transfer coding it cannot undo was read as a plain body.
        (
            "a field line without a colon",
            b"HTTP/1.1 200 OK\r\nX-A: b\r\ngarbage\r\nContent-Length: 0\r\n\r\n",
        ),
        ("space before the colon", b"HTTP/1.1 200 OK\r\nContent-Length : 0\r\n\r\n"),
        ("a CR inside a value", b"HTTP/1.1 200 OK\r\nX-A: b\rSet-Cookie: c\r\nContent-Length: 0\r\n\r\n"),
        ("gzip as a transfer coding", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nab"),
        ("a 100 KB line", b"HTTP/1.1 200 OK\r\nX-Pad: " + b"a" * 100_000 + b"\r\n\r\n"),
        ("an unasked protocol switch", b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n\r\n"),
    ],
)
def test_bi_malformed_response_head_is_a_protocol_violation_not_retried(
    serve: Callable[..., Server], name: str, answer: bytes
) -> None:
    """#16 (and #14 item 13): a response head that is not HTTP/1.1 is ProtocolViolation (exit 6), sent once."""

    def script(sock: socket.socket, n: int) -> None:
        if server.read_request(sock) is not None:
            sock.sendall(answer)

    server = serve(script)
    transport = _transport(retries=3)
    with pytest.raises(ProtocolViolation):
        _get(transport, f"http://{server.origin}/v2/")
    assert len(server.requests) == 1, name


def test_ft_head_cut_short_is_a_network_error_not_a_complete_answer(serve: Callable[..., Server]) -> None:
    """#25 (and #23): a head that ends with the connection instead of its blank line is a broken connection
    (TransportError, exit 5; a GET is retried like any), never a 200 with an empty body."""

    def script(sock: socket.socket, n: int) -> None:
        if server.read_request(sock) is not None:
            sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nDocker-Content-Digest: sha256:")

    server = serve(script)
    transport = _transport(retries=1)
    with pytest.raises(TransportError) as info:
        _get(transport, f"http://{server.origin}/v2/")
    assert not isinstance(info.value, ProtocolViolation)
    assert len(server.requests) == 2  # retried once, as a connection error is


def test_bi_folded_and_repeated_fields_arrive_as_the_registry_meant_them(
    serve: Callable[..., Server],
) -> None:
    """#25: an obs-fold is joined with one SP (RFC 9112 §5.2; http.client kept CR LF and the indentation inside
    the value), repeated fields stay separate, lone-LF lines are read, and interim 1xx answers are skipped
    (http.client skipped only 100 and returned a 103 as the answer)."""

    def script(sock: socket.socket, n: int) -> None:
        while server.read_request(sock) is not None:
            sock.sendall(
                b"HTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\n"
                b"HTTP/1.1 200 OK\r\n"
                b'Warning: 299 - "first\r\n   second"\r\n'
                b'WWW-Authenticate: Bearer realm="https://a/jwt",service="x,y"\r\n'
                b'WWW-Authenticate: Basic realm="r"\r\n'
                b"X-Lf: lone\n"
                b"Content-Length: 2\r\n\r\nok"
            )

    server = serve(script)
    transport = _transport(retries=0)
    for _ in range(2):  # the second answer on the same connection: the head was consumed exactly
        response = transport.send("GET", f"http://{server.origin}/v2/", deadline=Deadline(10), what="t")
        assert response.status == 200
        assert response.headers["warning"] == '299 - "first second"'
        assert response.headers.get_list("www-authenticate") == [
            'Bearer realm="https://a/jwt",service="x,y"',
            'Basic realm="r"',
        ]
        assert response.headers["x-lf"] == "lone"
        assert read_capped(response, 100, deadline=Deadline(10), what="t") == b"ok"
    assert server.connections == 1


def test_ft_body_cut_short_is_a_network_error(serve: Callable[..., Server]) -> None:
    """#16: a Content-Length body that ends early is a connection failure (exit 5), not a short success."""

    def script(sock: socket.socket, n: int) -> None:
        if server.read_request(sock) is not None:
            sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly-ten!!")

    server = serve(script)
    transport = _transport(retries=0)
    response = transport.send("GET", f"http://{server.origin}/v2/", deadline=Deadline(10), what="t")
    with pytest.raises(TransportError) as info:
        read_capped(response, 1000, deadline=Deadline(10), what="t")
    assert not isinstance(info.value, ProtocolViolation)


def test_bi_hostile_location_cannot_inject_a_header_line() -> None:
    """#16: request targets are percent-encoded — CR/LF or spaces from a registry's Location stay in the path."""
    target = connection.split_url("http://h.test/v2/a b\r\nX-Injected: 1?q=\r\nz")
    assert "\r" not in target.path and "\n" not in target.path and " " not in target.path
    with pytest.raises(ValueError):
        connection.split_url("http://h.test:99999/")
    with pytest.raises(ValueError):
        connection.split_url("ftp://h.test/")


def test_sec_linux_trust_comes_from_openssl_never_truststore() -> None:
    """#16: macOS/Windows trust through truststore; Linux builds its context from OpenSSL's CA store and never
    imports truststore (it is not even installed there)."""
    import subprocess
    import sys

    probe = (
        "import sys, ssl; from ocireg.tls import system_trust_context; ctx = system_trust_context(); "
        "print(ctx.verify_mode == ssl.CERT_REQUIRED and ctx.check_hostname, 'truststore' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["True", "False"]


@pytest.mark.parametrize(
    "status_line",
    [b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n", b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n"],
)
def test_bi_chunked_answer_framed_two_ways_is_never_followed_on_its_connection(
    serve: Callable[..., Server], status_line: bytes
) -> None:
    """RFC 9112 §6.1 and §6.3 item 3: a chunked answer that also carries Content-Length, or comes as HTTP/1.0, is
    read as chunked and its connection closed, so the next answer is never parsed from bytes framed otherwise."""

    def script(sock: socket.socket, n: int) -> None:
        while server.read_request(sock) is not None:
            sock.sendall(status_line + b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n")

    server = serve(script)
    transport = _transport(retries=0)
    url = f"http://{server.origin}/v2/"
    assert _get(transport, url) == b"hello"
    assert _get(transport, url) == b"hello"
    assert server.connections == 2


def test_ft_close_after_100_continue_on_a_reused_connection_is_not_sent_again(
    serve: Callable[..., Server],
) -> None:
    """A 100 Continue says the request arrived: a close after it is a broken answer (exit 5), not the dead idle
    connection that RFC 9112 §9.3.1 lets a client send the request again for."""

    def script(sock: socket.socket, n: int) -> None:
        if server.read_request(sock) is not None:
            sock.sendall(_answer(body=b"hello"))
        if server.read_request(sock) is not None:
            sock.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")

    server = serve(script)
    transport = _transport(retries=0)
    url = f"http://{server.origin}/v2/"
    assert _get(transport, url) == b"hello"
    with pytest.raises(TransportError) as info:
        _get(transport, url)
    assert not isinstance(info.value, ProtocolViolation)
    assert len(server.requests) == 2


@pytest.mark.parametrize("case", ["body left unread", "Connection: close"])
def test_ld_connection_is_not_reused_after_an_unread_body_or_a_close(
    serve: Callable[..., Server], case: str
) -> None:
    """A body closed before its end, or an answer saying ``Connection: close``, ends its connection. The server
    here goes on on that connection once asked again, with the rest of the body shaped as an answer: a reused
    connection would return it as the next response."""
    forged = b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nforged"

    def script(sock: socket.socket, n: int) -> None:
        if server.read_request(sock) is None:
            return
        if n == 1 and case == "body left unread":
            sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\nhello" % (5 + len(forged)))
        else:
            sock.sendall(_answer(extra="Connection: close\r\n" if n == 1 else ""))
        if n == 1 and server.read_request(sock) is not None:
            sock.sendall(forged)

    server = serve(script)
    transport = _transport(retries=0)
    url = f"http://{server.origin}/v2/"
    first = transport.send("GET", url, deadline=Deadline(10), what="t")
    if case == "body left unread":
        first.close()
    else:
        assert read_capped(first, 1024, deadline=Deadline(10), what="t") == b"ok"
    assert _get(transport, url) == b"ok"
    assert server.connections == 2
