"""Tests of the fault proxy and the credential sink themselves.

Why: fault, security and load tests trust these fixtures to do exactly what a rule says (and nothing else);
a proxy that silently buffers, drops a header or leaks a thread would make those tests meaningless.  The
upstream here is a tiny stdlib server started per test, so no registry is needed.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import json
import random
import re
import socket
import ssl
import threading
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import trustme

from rig import proxy_fixtures
from rig.faultproxy import (
    FaultProxy,
    Rule,
    add_header,
    delay,
    drip,
    emulate_oci_tag_delete,
    huge_body,
    location_via_proxy,
    paginate,
    redirect,
    remove_header,
    replace_body,
    reset,
    reset_mid_body,
    rewrite_header,
    rewrite_realm,
    status,
    truncate,
)
from rig.httpclient import Client, RemoteProtocolError, TransportError
from rig.proxy_fixtures import FaultProxyFactory, SinkFactory
from rig.sink import Sink

# The lead imports these into tests/conftest.py; binding them here too keeps this module self-sufficient.
fault_proxy_factory = proxy_fixtures.fault_proxy_factory
sink = proxy_fixtures.sink
sink_factory = proxy_fixtures.sink_factory

SMALL = b"hello, world\n"
BIG = random.Random(1).randbytes(4 * 1024 * 1024)
STALL_SIZE = 2 * 1024 * 1024
TAGS = [f"t{i:02d}" for i in range(25)]
REPOS = ["alpha", "beta", "gamma", "group/sub/project/image", "delta", "epsilon", "zeta"]
MANIFEST_TAGS = {"a", "b", "latest"}
ZERO = "sha256:" + "0" * 64
SECRET = "Bearer canary-secret-0123456789"


# --------------------------------------------------------------------------------------------------
# The upstream
# --------------------------------------------------------------------------------------------------


@dataclass
class UpstreamState:
    """What the upstream saw, for assertions about forwarding."""

    seen: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    connections: int = 0
    release: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self, method: str, path: str) -> int:
        with self.lock:
            return sum(1 for m, p, _ in self.seen if m == method and p == path)


class _UpstreamServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    state: UpstreamState
    base: str

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Resets and truncations cut the upstream off on purpose: no tracebacks for those."""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 5
    disable_nagle_algorithm = True  # like a real registry; avoids 40 ms delayed-ACK stalls
    server: _UpstreamServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def setup(self) -> None:
        super().setup()
        with self.server.state.lock:
            self.server.state.connections += 1

    def _body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", ""):
            data = bytearray()
            for _ in range(100_000):
                size = int(self.rfile.readline().split(b";")[0], 16)
                if size == 0:
                    self.rfile.readline()
                    return bytes(data)
                data += self.rfile.read(size)
                self.rfile.readline()
            raise AssertionError("too many chunks")
        return self.rfile.read(int(self.headers.get("Content-Length", "0")))

    def _send(self, code: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(code)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, code: int, doc: object, headers: dict[str, str] | None = None) -> None:
        self._send(code, json.dumps(doc).encode(), {"Content-Type": "application/json", **(headers or {})})

    def _dispatch(self) -> None:
        path, _, _query = self.path.partition("?")
        body = self._body()
        with self.server.state.lock:
            self.server.state.seen.append(
                (self.command, path, {k.lower(): v for k, v in self.headers.items()})
            )
        if path == "/small":
            digest = "sha256:" + hashlib.sha256(SMALL).hexdigest()
            headers = {
                "Content-Type": "text/plain",
                "X-Upstream": "yes",
                "Docker-Content-Digest": digest,
                "Keep-Alive": "timeout=5",
            }
            self._send(200, SMALL, headers)
        elif path == "/big":
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(BIG)))
            self.end_headers()
            for i in range(0, len(BIG), 65536):
                self.wfile.write(BIG[i : i + 65536])
        elif path == "/stall":
            self.send_response(200)
            self.send_header("Content-Length", str(STALL_SIZE))
            self.end_headers()
            self.wfile.write(b"x" * (STALL_SIZE // 2))
            self.wfile.flush()
            self.server.state.release.wait(3)
            self.wfile.write(b"y" * (STALL_SIZE // 2))
        elif path == "/chunked":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for piece in (b"one-", b"two-", b"three"):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            self.wfile.write(b"0\r\n\r\n")
        elif path == "/echo":
            doc = {
                "method": self.command,
                "length": len(body),
                "sha256": hashlib.sha256(body).hexdigest(),
                "host": self.headers.get("Host"),
                "authorization": self.headers.get("Authorization"),
                "transfer_encoding": self.headers.get("Transfer-Encoding"),
                "connection": self.headers.get("Connection"),
                "x_custom": self.headers.get("X-Custom"),
            }
            self._json(200, doc)
        elif path == "/upload":
            self._send(202, b"", {"Location": f"{self.server.base}/v2/upload/uuid-1?_state=abc"})
        elif path == "/auth":
            challenge = 'Bearer realm="http://127.0.0.1:9/token",service="svc",scope="repository:r:pull"'
            self._json(401, {"errors": [{"code": "UNAUTHORIZED"}]}, {"WWW-Authenticate": challenge})
        elif path == "/v2/repo/tags/list":
            self._json(200, {"name": "repo", "tags": TAGS})
        elif path == "/v2/_catalog":
            self._json(200, {"repositories": REPOS})
        elif m := re.fullmatch(r"/v2/repo/manifests/(.+)", path):
            self._manifest(m.group(1))
        else:
            self._json(404, {"errors": [{"code": "NOT_FOUND"}]})

    def _manifest(self, ref: str) -> None:
        if self.command == "DELETE":
            if "Authorization" not in self.headers:
                challenge = (
                    'Bearer realm="http://127.0.0.1:9/token",service="svc",scope="repository:repo:delete"'
                )
                self._json(401, {"errors": [{"code": "UNAUTHORIZED"}]}, {"WWW-Authenticate": challenge})
            elif ref.startswith("sha256:"):
                self._json(404, {"errors": [{"code": "MANIFEST_UNKNOWN"}]})
            else:  # what distribution 2.8 does with a tag reference
                self._json(400, {"errors": [{"code": "DIGEST_INVALID"}]})
        elif self.command == "PUT":
            self._send(201, b"", {"Location": f"/v2/repo/manifests/{ref}"})
        elif ref in MANIFEST_TAGS or ref in TAGS:
            body = json.dumps({"schemaVersion": 2, "tag": ref}).encode()
            digest = "sha256:" + hashlib.sha256(body).hexdigest()
            self._send(
                200,
                body,
                {
                    "Content-Type": "application/vnd.oci.image.manifest.v1+json",
                    "Docker-Content-Digest": digest,
                },
            )
        else:
            self._json(404, {"errors": [{"code": "MANIFEST_UNKNOWN"}]})

    do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = do_PATCH = _dispatch


@dataclass
class Upstream:
    url: str
    state: UpstreamState


def _start_upstream(tls: ssl.SSLContext | None = None) -> tuple[_UpstreamServer, threading.Thread]:
    server = _UpstreamServer(("127.0.0.1", 0), _Handler)
    server.state = UpstreamState()
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    server.base = f"{'https' if tls else 'http'}://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    return server, thread


def _stop_upstream(server: _UpstreamServer, thread: threading.Thread) -> None:
    server.state.release.set()
    server.shutdown()
    server.server_close()
    thread.join(2)


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    server, thread = _start_upstream()
    try:
        yield Upstream(server.base, server.state)
    finally:
        _stop_upstream(server, thread)


@pytest.fixture
def proxy(upstream: Upstream, fault_proxy_factory: FaultProxyFactory) -> FaultProxy:
    return fault_proxy_factory(upstream.url)


@pytest.fixture
def client(proxy: FaultProxy) -> Iterator[Client]:
    with Client(base_url=proxy.url, timeout=5.0) as c:
        yield c


def _wait(predicate: Any, seconds: float = 2.0) -> bool:
    """Bounded poll: background threads finish asynchronously."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return bool(predicate())


def _drain(client: Client, path: str, into: bytearray) -> None:
    """Read a streamed body into ``into`` (kept when the read fails) after checking the full length."""
    with client.stream("GET", path) as r:
        assert r.headers["content-length"] == str(len(BIG))
        for piece in r.iter_raw():
            into += piece


# --------------------------------------------------------------------------------------------------
# Forwarding
# --------------------------------------------------------------------------------------------------


def test_forwards_body_status_and_headers(client: Client, proxy: FaultProxy, upstream: Upstream) -> None:
    r = client.get("/small", headers={"Authorization": SECRET, "X-Custom": "1"})
    assert r.status_code == 200
    assert r.content == SMALL
    assert r.headers["x-upstream"] == "yes"
    assert r.headers["docker-content-digest"] == "sha256:" + hashlib.sha256(SMALL).hexdigest()
    assert "keep-alive" not in r.headers  # hop-by-hop dropped
    _, _, seen = upstream.state.seen[-1]
    assert seen["host"] == upstream.url.split("://")[1]
    assert seen["authorization"] == SECRET
    assert seen["x-custom"] == "1"
    rec = proxy.requests[-1]
    assert (rec.method, rec.path, rec.status, rec.authorization, rec.auth_scheme) == (
        "GET",
        "/small",
        200,
        True,
        "Bearer",
    )
    assert "canary" not in repr(proxy.requests)
    client.get("/small?n=1&access_token=canary-q&scope=x")
    assert proxy.requests[-1].query == "n=1&access_token=<redacted>&scope=x"


def test_head_and_chunked_upstream(client: Client) -> None:
    head = client.head("/small")
    assert head.status_code == 200
    assert head.headers["content-length"] == str(len(SMALL))
    assert head.content == b""
    r = client.get("/chunked")
    assert r.content == b"one-two-three"
    assert r.headers.get("transfer-encoding") == "chunked"
    assert client.get("/small").content == SMALL  # the connection survived both


def test_large_body_streams_byte_exact(client: Client) -> None:
    with client.stream("GET", "/big") as r:
        digest = hashlib.sha256()
        for piece in r.iter_raw():
            digest.update(piece)
    assert digest.hexdigest() == hashlib.sha256(BIG).hexdigest()


def test_response_is_streamed_not_buffered(client: Client, upstream: Upstream) -> None:
    # The upstream sends half, then waits; the first half must reach the client before it continues.
    with client.stream("GET", "/stall") as r:
        got = 0
        chunks = r.iter_raw()
        while got < STALL_SIZE // 2:
            got += len(next(chunks))
        assert not upstream.state.release.is_set()
        upstream.state.release.set()
        got += sum(len(c) for c in chunks)
    assert got == STALL_SIZE


def test_request_bodies_content_length_and_chunked(client: Client) -> None:
    data = random.Random(2).randbytes(3 * 1024 * 1024 + 7)
    r = client.put("/echo", content=data)
    doc = r.json()
    assert (doc["length"], doc["sha256"]) == (len(data), hashlib.sha256(data).hexdigest())

    def gen() -> Iterator[bytes]:
        for i in range(0, len(data), 100_000):
            yield data[i : i + 100_000]

    doc = client.post("/echo", content=gen()).json()
    assert doc["transfer_encoding"] == "chunked"
    assert (doc["length"], doc["sha256"]) == (len(data), hashlib.sha256(data).hexdigest())
    assert doc["connection"] is None


def test_upstream_down_is_502(fault_proxy_factory: FaultProxyFactory) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proxy = fault_proxy_factory(f"http://127.0.0.1:{port}")
    with Client(base_url=proxy.url, timeout=3) as c:
        assert c.get("/v2/").status_code == 502
        assert c.get("/v2/").status_code == 502
    assert proxy.connections_opened == 1


# --------------------------------------------------------------------------------------------------
# Actions
# --------------------------------------------------------------------------------------------------


def test_status_with_times_then_fall_through(client: Client, proxy: FaultProxy, upstream: Upstream) -> None:
    rule = Rule("GET", r"^/small$", status(429, {"Retry-After": "1"}, b"slow down"), times=2)
    proxy.set_rules([rule, Rule("*", r"/small", status(503))])
    first, second, third = (client.get("/small") for _ in range(3))
    assert (first.status_code, first.headers["retry-after"], first.content) == (429, "1", b"slow down")
    assert second.status_code == 429
    assert third.status_code == 503
    assert rule.hits == 2
    assert upstream.state.count("GET", "/small") == 0
    proxy.clear_rules()
    assert client.get("/small").status_code == 200
    assert proxy.requests[0].actions == ("status",)


def test_status_html_and_head(client: Client, proxy: FaultProxy) -> None:
    page = b"<html><body>Sign in to the Wi-Fi</body></html>"
    proxy.set_rules([Rule("*", r"/manifests/", status(200, {"Content-Type": "text/html"}, page))])
    assert client.get("/v2/repo/manifests/a").content == page
    head = client.head("/v2/repo/manifests/a")
    assert (head.status_code, head.headers["content-length"], head.content) == (200, str(len(page)), b"")


def test_reset_before_response(client: Client, proxy: FaultProxy, upstream: Upstream) -> None:
    proxy.set_rules([Rule("GET", r"/small", reset(), times=1)])
    with pytest.raises(TransportError):
        client.get("/small")
    assert client.get("/small").content == SMALL
    assert proxy.wait_idle()
    assert [(r.status, r.outcome) for r in proxy.requests] == [(None, "reset"), (200, "ok")]
    assert upstream.state.count("GET", "/small") == 1


def test_reset_mid_body(client: Client, proxy: FaultProxy) -> None:
    proxy.set_rules([Rule("GET", r"/big", reset_mid_body(100_000))])
    got = bytearray()
    with pytest.raises(TransportError):
        _drain(client, "/big", got)
    assert len(got) <= 100_000
    assert got == BIG[: len(got)]
    assert _wait(lambda: proxy.requests[-1].outcome == "reset-mid-body")


def test_truncate(client: Client, proxy: FaultProxy) -> None:
    proxy.set_rules([Rule("GET", r"/big", truncate(1000))])
    got = bytearray()
    with pytest.raises(RemoteProtocolError):
        _drain(client, "/big", got)
    assert got == BIG[:1000]
    assert _wait(lambda: proxy.requests[-1].outcome == "truncated")


def test_delay(client: Client, proxy: FaultProxy) -> None:
    proxy.set_rules([Rule("GET", r"/small", delay(0.3))])
    start = time.monotonic()
    assert client.get("/small").content == SMALL
    assert time.monotonic() - start >= 0.3


def test_drip(client: Client, proxy: FaultProxy) -> None:
    proxy.set_rules([Rule("GET", r"/big", drip(1024 * 1024, 0.1))])
    start = time.monotonic()
    with client.stream("GET", "/big") as r:
        sizes = [len(p) for p in r.iter_raw()]
        assert sum(sizes) == len(BIG)
    assert time.monotonic() - start >= 0.3
    assert max(sizes) <= 1024 * 1024


def test_redirect_to_sink_carries_no_credentials(client: Client, proxy: FaultProxy, sink: Sink) -> None:
    proxy.set_rules([Rule("GET", r"/v2/repo/blobs/", redirect(lambda pq: sink.url + pq))])
    r = client.get("/v2/repo/blobs/sha256:abc?x=1", headers={"Authorization": SECRET})
    assert r.status_code == 307
    assert r.headers["location"] == f"{sink.url}/v2/repo/blobs/sha256:abc?x=1"
    hop = client.get("/v2/repo/blobs/sha256:abc", headers={"Authorization": SECRET})
    # followed as a client does: no Authorization across origins
    followed = client.get(hop.headers["location"])
    assert followed.json() == {"sink": True}
    assert [q.path for q in sink.requests] == ["/v2/repo/blobs/sha256:abc"]
    assert sink.credentials_received() == []
    proxy.set_rules([Rule("GET", r"/moved", redirect("http://127.0.0.1:9/elsewhere", status=302))])
    moved = client.get("/moved")
    assert (moved.status_code, moved.headers["location"]) == (302, "http://127.0.0.1:9/elsewhere")


def test_header_edits(client: Client, proxy: FaultProxy, upstream: Upstream) -> None:
    proxy.set_rules(
        [
            Rule(
                "GET",
                r"^/small$",
                [
                    rewrite_header("Docker-Content-Digest", "sha256:" + "f" * 64),
                    remove_header("X-Upstream"),
                    rewrite_header(
                        "Link", lambda old: '</v2/x/tags/list?n=1&last=a>; rel="next"' if old is None else old
                    ),
                    add_header("Warning", '299 - "first"'),
                    add_header("Warning", '299 - "second"'),
                ],
            ),
            Rule("GET", r"^/auth$", rewrite_realm("http://127.0.0.3:1/evil")),
            Rule("*", r"^/upload$", location_via_proxy()),
        ]
    )
    r = client.get("/small")
    assert r.content == SMALL
    assert r.headers["docker-content-digest"] == "sha256:" + "f" * 64
    assert "x-upstream" not in r.headers
    assert r.headers["link"] == '</v2/x/tags/list?n=1&last=a>; rel="next"'
    assert r.headers.get_list("warning") == ['299 - "first"', '299 - "second"']
    auth = client.get("/auth")
    assert auth.headers["www-authenticate"] == (
        'Bearer realm="http://127.0.0.3:1/evil",service="svc",scope="repository:r:pull"'
    )
    up = client.post("/upload")
    assert up.headers["location"] == f"{proxy.url}/v2/upload/uuid-1?_state=abc"
    proxy.clear_rules()
    assert client.post("/upload").headers["location"] == f"{upstream.url}/v2/upload/uuid-1?_state=abc"


def test_replace_body(client: Client, proxy: FaultProxy) -> None:
    proxy.set_rules([Rule("GET", r"^/small$", replace_body(lambda old: old.upper() + b"!"))])
    r = client.get("/small")
    assert r.content == SMALL.upper() + b"!"
    assert r.headers["content-length"] == str(len(SMALL) + 1)
    proxy.set_rules([Rule("GET", r"^/chunked$", replace_body(b"{not json"))])
    r = client.get("/chunked")
    assert (r.content, r.headers["content-length"]) == (b"{not json", "9")
    assert "transfer-encoding" not in r.headers
    proxy.set_rules([Rule("HEAD", r"^/small$", replace_body(b"x"))])
    assert client.head("/small").headers["content-length"] == str(len(SMALL))


def test_huge_body_endless_stops_when_client_leaves(client: Client, proxy: FaultProxy) -> None:
    proxy.set_rules(
        [Rule("GET", r"/blob", huge_body(None, content_type="application/json", prefix=b'{"a":"'))]
    )
    got = 0
    with client.stream("GET", "/v2/r/blob") as r:
        assert r.headers["transfer-encoding"] == "chunked"
        for piece in r.iter_raw():
            if got == 0:
                assert piece.startswith(b'{"a":"')
            got += len(piece)
            if got > 5 * 1024 * 1024:
                break
    assert proxy.wait_idle()
    assert proxy.requests[-1].outcome == "client-gone"


def test_huge_body_with_length(client: Client, proxy: FaultProxy) -> None:
    proxy.set_rules([Rule("GET", r"/blob", huge_body(3 * 1024 * 1024, chunked=False))])
    r = client.get("/blob")
    assert r.headers["content-length"] == str(3 * 1024 * 1024)
    assert r.content == b"A" * (3 * 1024 * 1024)
    assert client.get("/small").content == SMALL  # keep-alive intact


def test_gzip_bomb(proxy: FaultProxy) -> None:
    inflated = 64 * 1024 * 1024 + 12345
    proxy.set_rules(
        [
            Rule(
                "GET",
                r"/bomb",
                huge_body(
                    inflated, content_type="application/json", chunked=False, gzip_bomb=True, prefix=b"["
                ),
            )
        ]
    )
    conn = http.client.HTTPConnection(proxy.host, proxy.port, timeout=5)
    try:
        conn.request("GET", "/bomb")
        resp = conn.getresponse()
        raw = resp.read()
    finally:
        conn.close()
    assert resp.getheader("Content-Encoding") == "gzip"
    assert int(resp.getheader("Content-Length") or -1) == len(raw)
    assert len(raw) < inflated // 500
    d = zlib.decompressobj(31)
    total = 0
    first = d.decompress(raw[:4096], 1 << 20)
    total += len(first)
    assert first.startswith(b"[\0")
    pending = d.unconsumed_tail + raw[4096:]
    for _ in range(10_000):
        out = d.decompress(pending, 8 << 20)
        total += len(out)
        pending = d.unconsumed_tail
        if not pending:
            break
    total += len(d.flush())
    assert d.eof
    assert total == inflated  # the trailer (CRC, size) is valid too


def test_gzip_bomb_endless(client: Client, proxy: FaultProxy) -> None:
    proxy.set_rules([Rule("GET", r"/bomb", huge_body(None, gzip_bomb=True))])
    d = zlib.decompressobj(31)
    inflated = 0
    with client.stream("GET", "/bomb") as r:
        assert r.headers["content-encoding"] == "gzip"
        for piece in r.iter_raw():
            inflated += len(d.decompress(piece, 1 << 20)) + len(d.decompress(d.unconsumed_tail, 64 << 20))
            if inflated > 100 * 1024 * 1024:
                break
    assert inflated > 100 * 1024 * 1024
    assert proxy.wait_idle()


def _walk(client: Client, path: str) -> list[tuple[dict[str, Any], str | None]]:
    pages = []
    url: str | None = path
    for _ in range(20):
        if url is None:
            break
        r = client.get(url)
        assert r.status_code == 200
        link = r.headers.get("link")
        pages.append((r.json(), link))
        url = re.match(r"<([^>]+)>", link).group(1) if link else None  # type: ignore[union-attr]
    return pages


def test_paginate_tags_and_catalog(client: Client, proxy: FaultProxy, upstream: Upstream) -> None:
    proxy.set_rules([Rule("GET", r"/tags/list|/_catalog", paginate(10))])
    pages = _walk(client, "/v2/repo/tags/list")
    assert [len(p["tags"]) for p, _ in pages] == [10, 10, 5]
    assert pages[0][1] == '</v2/repo/tags/list?n=10&last=t09>; rel="next"'
    assert pages[-1][1] is None
    assert [t for p, _ in pages for t in p["tags"]] == TAGS
    assert all(p["name"] == "repo" for p, _ in pages)
    assert upstream.state.count("GET", "/v2/repo/tags/list") == 1  # one fetch per walk
    small = client.get("/v2/repo/tags/list?n=3")
    assert small.json()["tags"] == ["t00", "t01", "t02"]
    assert small.headers["link"] == '</v2/repo/tags/list?n=3&last=t02>; rel="next"'
    proxy.set_rules([Rule("GET", r"/_catalog", paginate(3))])
    cat = _walk(client, "/v2/_catalog")
    assert [r for p, _ in cat for r in p["repositories"]] == sorted(REPOS)
    assert cat[1][1] == '</v2/_catalog?n=3&last=group%2Fsub%2Fproject%2Fimage>; rel="next"'
    assert client.get("/small").content == SMALL  # other paths fall through


def test_emulated_oci_tag_delete(client: Client, proxy: FaultProxy, upstream: Upstream) -> None:
    proxy.set_rules(
        [Rule("DELETE", r"/manifests/", emulate_oci_tag_delete()), Rule("GET", r"/tags/list", paginate(100))]
    )
    auth = {"Authorization": "Bearer t"}
    anon = client.delete("/v2/repo/manifests/a")
    assert anon.status_code == 401
    assert 'scope="repository:repo:delete"' in anon.headers["www-authenticate"]
    assert client.delete("/v2/repo/manifests/nope", headers=auth).status_code == 404
    gone = client.delete("/v2/repo/manifests/a", headers=auth)
    assert gone.status_code == 202
    assert proxy.deleted_tags == {"repo": frozenset({"a"})}
    missing = client.get("/v2/repo/manifests/a", headers=auth)
    assert missing.status_code == 404
    assert missing.json()["errors"][0]["code"] == "MANIFEST_UNKNOWN"
    assert client.head("/v2/repo/manifests/a", headers=auth).status_code == 404
    assert client.get("/v2/repo/manifests/b", headers=auth).status_code == 200  # the sibling survives
    assert "a" not in client.get("/v2/repo/tags/list").json().get("tags", [])
    assert client.delete("/v2/repo/manifests/a", headers=auth).status_code == 404
    assert upstream.state.count("DELETE", "/v2/repo/manifests/a") == 0  # the upstream keeps everything
    assert client.delete(f"/v2/repo/manifests/{ZERO}", headers=auth).status_code == 404  # digests forwarded
    assert client.put("/v2/repo/manifests/a", headers=auth, content=b"{}").status_code == 201
    assert proxy.deleted_tags == {}
    assert client.get("/v2/repo/manifests/a", headers=auth).status_code == 200


def test_emulated_tag_delete_filters_unpaginated_tags_list(client: Client, proxy: FaultProxy) -> None:
    proxy.set_rules([Rule("DELETE", r"/manifests/", emulate_oci_tag_delete())])
    assert client.delete("/v2/repo/manifests/t05", headers={"Authorization": "Basic eDp5"}).status_code == 202
    proxy.clear_rules()
    r = client.get("/v2/repo/tags/list")
    assert r.json()["tags"] == [t for t in TAGS if t != "t05"]
    assert r.headers["content-length"] == str(len(r.content))
    proxy.reset_state()
    assert proxy.deleted_tags == {}
    assert client.get("/v2/repo/tags/list").json()["tags"] == TAGS


# --------------------------------------------------------------------------------------------------
# Counters, concurrency, connections, lifecycle
# --------------------------------------------------------------------------------------------------


def test_counters_and_peak_concurrency(proxy: FaultProxy) -> None:
    proxy.set_rules([Rule("GET", r"/small", delay(0.4))])
    results: list[int] = []

    def one() -> None:
        with Client(base_url=proxy.url, timeout=5) as c:
            results.append(c.get("/small", headers={"Authorization": "Basic dTpw"}).status_code)

    threads = [threading.Thread(target=one) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(3)
    assert results == [200] * 5
    assert proxy.peak_concurrency == 5
    assert proxy.wait_idle()
    assert proxy.connections_opened == 5
    assert proxy.count() == 5
    assert proxy.count("GET", r"^/small$") == 5
    assert proxy.count("HEAD") == 0
    assert {r.auth_scheme for r in proxy.requests} == {"Basic"}
    assert "dTpw" not in repr(proxy.requests)
    proxy.reset_counters()
    assert (proxy.count(), proxy.peak_concurrency, proxy.connections_opened) == (0, 0, 0)


def test_keep_alive_reuse(client: Client, proxy: FaultProxy, upstream: Upstream) -> None:
    for _ in range(10):
        assert client.get("/small").status_code == 200
    assert client.put("/echo", content=b"x" * 1000).json()["length"] == 1000
    assert proxy.connections_opened == 1
    assert len({r.connection_id for r in proxy.requests}) == 1
    assert upstream.state.connections == 1  # the upstream connection is reused too


def test_idle_timeout_closes_keep_alive(upstream: Upstream, fault_proxy_factory: FaultProxyFactory) -> None:
    proxy = fault_proxy_factory(upstream.url, idle_timeout=0.2)
    with Client(base_url=proxy.url, timeout=5) as c:
        assert c.get("/small").status_code == 200
        time.sleep(0.4)
        assert c.get("/small").status_code == 200
    assert proxy.connections_opened == 2


def test_stop_is_clean_and_bounded(upstream: Upstream) -> None:
    proxy = FaultProxy(upstream.url)
    with proxy:
        idle = Client(base_url=proxy.url, timeout=5)
        assert idle.get("/small").status_code == 200  # leaves an idle keep-alive connection
        proxy.set_rules([Rule("GET", r"/slow", delay(30)), Rule("GET", r"/endless", huge_body(None))])
        hung = threading.Thread(target=lambda: _quiet(lambda: Client(timeout=5).get(proxy.url + "/slow")))
        hung.start()
        assert _wait(lambda: proxy.in_flight == 1)
        start = time.monotonic()
    assert time.monotonic() - start < 1.5
    assert proxy.threads_alive == 0
    hung.join(2)
    assert not hung.is_alive()
    idle.close()
    with pytest.raises(OSError), socket.create_connection((proxy.host, proxy.port), timeout=1):
        pass
    assert not [t for t in threading.enumerate() if t.name.startswith("faultproxy") and t.is_alive()]


def _quiet(fn: Any) -> None:
    with contextlib.suppress(TransportError):
        fn()


def test_tls_proxy_and_tls_upstream(tmp_path: Any, fault_proxy_factory: FaultProxyFactory) -> None:
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    upstream_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(upstream_ctx)
    proxy_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(proxy_ctx)
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    server, thread = _start_upstream(upstream_ctx)
    try:
        proxy = fault_proxy_factory(server.base, ca_file=str(ca_file), tls_context=proxy_ctx)
        assert proxy.url.startswith("https://127.0.0.1:")
        client_ctx = ssl.create_default_context(cafile=str(ca_file))
        with Client(base_url=proxy.url, verify=client_ctx, timeout=5) as c:
            for _ in range(3):
                assert c.get("/small").content == SMALL
            with c.stream("GET", "/big") as r:
                assert hashlib.sha256(b"".join(r.iter_raw())).digest() == hashlib.sha256(BIG).digest()
        assert proxy.connections_opened == 1
        proxy.stop()
        assert proxy.threads_alive == 0
    finally:
        _stop_upstream(server, thread)


# --------------------------------------------------------------------------------------------------
# Sink
# --------------------------------------------------------------------------------------------------


def _sha(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def test_sink_records_credentials_without_values(sink: Sink) -> None:
    assert sink.host in ("127.0.0.2", "127.0.0.3") or (sink.fallback and sink.host == "127.0.0.1")
    with Client(timeout=5) as c:
        assert c.get(sink.url + "/v2/").json() == {"sink": True}
        assert sink.credentials_received() == []
        c.get(sink.url + "/v2/x", headers={"Authorization": SECRET})
        c.get(sink.url + "/token?service=s&token=qtoken-canary", headers={"Cookie": "session=cookie-canary"})
        c.post(sink.url + "/oauth", data={"grant_type": "password", "password": "form-canary"})
    events = sink.credentials_received()
    assert [(e.kind, e.name, e.scheme) for e in events] == [
        ("header", "authorization", "Bearer"),
        ("header", "cookie", None),
        ("query", "token", None),
        ("form", "password", None),
    ]
    assert events[0].sha256 == _sha(SECRET)
    assert events[2].sha256 == _sha("qtoken-canary")
    everything = repr(sink.requests) + repr(events)
    for canary in ("canary-secret", "qtoken-canary", "cookie-canary", "form-canary"):
        assert canary not in everything
    assert dict(sink.requests[2].query) == {"service": "s", "token": "<redacted>"}
    sink.clear()
    assert sink.credentials_received() == []


def test_sink_challenge_and_custom_response(sink: Sink) -> None:
    realm = sink.challenge(scope="repository:x:pull")
    r = Client(timeout=5).get(sink.url + "/v2/")
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == f'Bearer realm="{realm}",service="sink",scope="repository:x:pull"'
    assert realm == f"{sink.url}/token"
    sink.set_response(500, {"Content-Type": "text/plain"}, "boom")
    r = Client(timeout=5).get(sink.url + "/anything")
    assert (r.status_code, r.text) == (500, "boom")


def test_sink_https(tmp_path: Any, sink_factory: SinkFactory) -> None:
    ca = trustme.CA()
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.2", "127.0.0.3", "127.0.0.1").configure_cert(ctx)
    server = sink_factory(tls_context=ctx)
    assert server.https_url is not None
    client_ctx = ssl.create_default_context()
    ca.configure_trust(client_ctx)
    r = Client(verify=client_ctx, timeout=5).get(server.https_url + "/v2/", headers={"Authorization": SECRET})
    assert r.status_code == 200
    (event,) = server.credentials_received()
    assert (event.tls, event.scheme, event.sha256) == (True, "Bearer", _sha(SECRET))
    server.stop()
    assert server.threads_alive == 0


def test_garbage_request_gets_400_and_close(proxy: FaultProxy) -> None:
    with socket.create_connection((proxy.host, proxy.port), timeout=2) as s:
        s.sendall(b"NOT HTTP AT ALL\r\n\r\n")
        data = b""
        for _ in range(100):
            piece = s.recv(4096)
            if not piece:
                break
            data += piece
    assert data.startswith(b"HTTP/1.1 400 ")


def test_upstream_error_after_local_body_discard(fault_proxy_factory: FaultProxyFactory) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proxy = fault_proxy_factory(f"http://127.0.0.1:{port}")
    proxy.set_rules([Rule("DELETE", r"/manifests/", emulate_oci_tag_delete())])
    with Client(base_url=proxy.url, timeout=3) as c:
        r = c.request("DELETE", "/v2/repo/manifests/a", content=b"unexpected body")
        assert r.status_code == 502
        assert c.put("/v2/repo/manifests/a", content=b"x" * 10_000).status_code == 502
    assert proxy.connections_opened == 1  # both bodies consumed exactly once: the connection stayed usable
