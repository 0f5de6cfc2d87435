"""A TCP delay line: forwards bytes between a client and an upstream, late by a fixed one-way delay.

Why a proxy of our own: the benchmarks model a CI runner talking to gitlab.com (tens of milliseconds away) on
one machine, and ``tc netem`` needs root and touches the whole loopback interface, which other engineers share.
This proxy works at the TCP level, so TLS passes through untouched (certificates must match the proxy's
address), and every chunk in either direction is delivered ``delay`` seconds after it was read.

What it models, and how:

* **Round trips**: each chunk is held for the one-way delay in each direction (10 ms each way = 20 ms RTT).
  Chunks keep their order; a chunk read while an earlier one is still held leaves after it, never before.
* **The TCP handshake**: the kernel completes the client's ``connect()`` to the proxy at once, which would hide
  the handshake round trip every new connection pays on a real network. So the first client→upstream chunk of
  a connection is not delivered before ``accepted + 3 × delay`` (SYN, SYN-ACK, then the data's own one-way
  trip), exactly when it would arrive over a real link. Connection reuse therefore pays off as it does for real.
* **Not modelled**: bandwidth, loss, jitter. Request/response sizes here are tiny, so latency dominates.

Run standalone (one process can serve several routes; it prints one JSON line with the bound addresses, then
answers ``stats`` / ``reset`` lines on stdin with one JSON line each, and exits at end of input)::

    python bench/latencyproxy.py --delay-ms 10 --route 127.0.0.1:0=127.0.0.1:5001 --route 127.0.0.2:0=127.0.0.2:6001

Only loopback addresses are accepted, for listening and for upstreams.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import json
import socket
import subprocess
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["LatencyProxyProcess", "Route", "serve"]

CHUNK = 64 * 1024
# Per-direction cap on bytes held in the delay line: a bound, so a runaway peer cannot grow memory forever.
MAX_HELD = 16 * 1024 * 1024
# A connection with no traffic for this long is dropped (bench runs are short; this only bounds leftovers).
IDLE_LIMIT = 120.0


def _loopback(host: str) -> str:
    if host == "localhost":
        return host
    if not ipaddress.ip_address(host).is_loopback:
        raise ValueError(f"{host}: the latency proxy only ever uses loopback addresses")
    return host


def _split(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return _loopback(host), int(port)


@dataclass
class Route:
    """One listener and the upstream it forwards to, with counters the benchmarks read."""

    listen_host: str
    listen_port: int
    upstream_host: str
    upstream_port: int
    connections: int = 0
    bytes_up: int = 0
    bytes_down: int = 0
    open_now: int = 0
    server: asyncio.base_events.Server | None = field(default=None, repr=False)

    @classmethod
    def parse(cls, text: str) -> Route:
        """``LISTEN_HOST:PORT=UPSTREAM_HOST:PORT`` (listen port 0 = any free port)."""
        listen, sep, upstream = text.partition("=")
        if not sep:
            raise ValueError(f"route must be LISTEN=UPSTREAM: {text!r}")
        lh, lp = _split(listen)
        uh, up = _split(upstream)
        return cls(lh, lp, uh, up)

    def stats(self) -> dict[str, Any]:
        return {
            "listen": f"{self.listen_host}:{self.listen_port}",
            "upstream": f"{self.upstream_host}:{self.upstream_port}",
            "connections": self.connections,
            "open": self.open_now,
            "bytes_up": self.bytes_up,
            "bytes_down": self.bytes_down,
        }

    def reset(self) -> None:
        self.connections = self.bytes_up = self.bytes_down = 0


async def _pump(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    delay: float,
    not_before: float,
    route: Route,
    upstream: bool,
) -> None:
    """Copy reader → writer, each chunk delivered ``delay`` after it was read (and not before ``not_before``)."""
    loop = asyncio.get_running_loop()
    line: asyncio.Queue[tuple[float, bytes | None]] = asyncio.Queue()
    held = 0
    room = asyncio.Event()
    room.set()

    async def deliver() -> None:
        nonlocal held
        while True:
            due, data = await line.get()
            wait = due - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            if data is None:
                with contextlib.suppress(OSError):
                    if writer.can_write_eof():
                        writer.write_eof()
                return
            writer.write(data)
            held -= len(data)
            if held < MAX_HELD:
                room.set()
            await writer.drain()

    sender = asyncio.create_task(deliver())
    last_due = 0.0
    try:
        while True:
            try:
                data = await asyncio.wait_for(reader.read(CHUNK), IDLE_LIMIT)
            except (OSError, asyncio.TimeoutError):
                data = b""
            # Never earlier than an already queued chunk: the line keeps byte order.
            due = max(loop.time() + delay, last_due, not_before)
            not_before = 0.0
            last_due = due
            if not data:
                line.put_nowait((due, None))
                break
            if upstream:
                route.bytes_up += len(data)
            else:
                route.bytes_down += len(data)
            held += len(data)
            line.put_nowait((due, data))
            if held >= MAX_HELD:
                room.clear()
                await room.wait()
        await sender
    except (OSError, ConnectionError):
        pass
    finally:
        if not sender.done():
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError, OSError, ConnectionError):
                await sender


def _nodelay(writer: asyncio.StreamWriter) -> None:
    # Nagle's algorithm would hold small writes back for an ACK and add its own, unmodelled latency.
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


async def _handle(
    route: Route, delay: float, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter
) -> None:
    loop = asyncio.get_running_loop()
    accepted = loop.time()
    route.connections += 1
    route.open_now += 1
    _nodelay(client_w)
    try:
        try:
            up_r, up_w = await asyncio.open_connection(route.upstream_host, route.upstream_port)
        except OSError:
            client_w.close()
            return
        _nodelay(up_w)
        # The handshake round trip a real network would charge before the first byte can arrive upstream.
        handshake = accepted + 3 * delay
        try:
            await asyncio.gather(
                _pump(client_r, up_w, delay, handshake, route, upstream=True),
                _pump(up_r, client_w, delay, 0.0, route, upstream=False),
            )
        finally:
            up_w.close()
            client_w.close()
            with contextlib.suppress(OSError, ConnectionError):
                await up_w.wait_closed()
    finally:
        route.open_now -= 1
        with contextlib.suppress(OSError, ConnectionError):
            await client_w.wait_closed()


async def _listen(route: Route, delay: float) -> None:
    async def on_client(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        # Cancelled at shutdown with connections still open: a normal end, not an error to print.
        with contextlib.suppress(asyncio.CancelledError):
            await _handle(route, delay, r, w)

    route.server = await asyncio.start_server(on_client, route.listen_host, route.listen_port)
    route.listen_port = route.server.sockets[0].getsockname()[1]


async def serve(routes: Sequence[Route], delay: float, *, control: bool = True) -> None:
    """Listen on every route; print the bound addresses; answer stdin commands until end of input.

    Commands (one per line, each answered by one JSON line): ``stats``, ``reset`` (zero the counters) and
    ``add LISTEN=UPSTREAM`` (a new route: the far world needs the realm's proxy port before the registry
    starts, and the registry's port before its proxy can).
    """
    routes = list(routes)
    for route in routes:
        await _listen(route, delay)
    print(json.dumps({"delay_ms": delay * 1000, "routes": [r.stats() for r in routes]}), flush=True)
    if not control:
        await asyncio.Event().wait()
        return
    loop = asyncio.get_running_loop()
    while True:
        # stdin is read in a worker thread: simple, and the event loop keeps its timing.
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line:
            break
        command = line.strip()
        reply: dict[str, Any] = {}
        if command == "reset":
            for route in routes:
                route.reset()
        elif command.startswith("add "):
            try:
                route = Route.parse(command[4:].strip())
                await _listen(route, delay)
                routes.append(route)
            except (ValueError, OSError) as exc:
                reply["error"] = str(exc)
        elif command != "stats":
            reply["error"] = f"unknown command {command!r}"
        reply["routes"] = [r.stats() for r in routes]
        print(json.dumps(reply), flush=True)
    for route in routes:
        if route.server is not None:
            route.server.close()


class LatencyProxyProcess:
    """Runs this module as a subprocess (so its timing does not share a GIL with the bench harness)."""

    def __init__(self, routes: Sequence[str], delay_ms: float, python: str = sys.executable) -> None:
        argv = [python, str(Path(__file__).resolve()), "--delay-ms", str(delay_ms)]
        for route in routes:
            argv += ["--route", route]
        self._proc = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1
        )
        self._lock = threading.Lock()
        first = self._readline(timeout=10.0)
        self.routes: list[dict[str, Any]] = first["routes"]

    def _readline(self, timeout: float) -> dict[str, Any]:
        assert self._proc.stdout is not None
        box: list[str] = []
        reader = threading.Thread(target=lambda: box.append(self._proc.stdout.readline()), daemon=True)  # type: ignore[union-attr]
        reader.start()
        reader.join(timeout)
        if not box or not box[0]:
            self.close()
            raise RuntimeError("latency proxy did not answer")
        result: dict[str, Any] = json.loads(box[0])
        return result

    def listen(self, index: int) -> tuple[str, int]:
        """(host, port) the route ``index`` listens on."""
        host, _, port = self.routes[index]["listen"].rpartition(":")
        return host, int(port)

    def _command(self, word: str) -> list[dict[str, Any]]:
        with self._lock:
            assert self._proc.stdin is not None
            self._proc.stdin.write(word + "\n")
            self._proc.stdin.flush()
            reply = self._readline(timeout=10.0)
        if "error" in reply:
            raise RuntimeError(f"latency proxy: {reply['error']}")
        routes: list[dict[str, Any]] = reply["routes"]
        self.routes = routes
        return routes

    def add(self, route: str) -> tuple[str, int]:
        """Add ``LISTEN=UPSTREAM`` while running; return where it listens."""
        self._command("add " + route)
        return self.listen(len(self.routes) - 1)

    def stats(self) -> list[dict[str, Any]]:
        """Counters per route (connections accepted, bytes each way) since the last reset."""
        return self._command("stats")

    def reset(self) -> None:
        """Zero the counters."""
        self._command("reset")

    def close(self) -> None:
        """End of input stops the proxy; terminate it if it does not go within 5 s."""
        with contextlib.suppress(OSError):
            if self._proc.stdin is not None:
                self._proc.stdin.close()
        try:
            self._proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._proc.terminate()
            self._proc.wait(timeout=5)
        if self._proc.stdout is not None:
            self._proc.stdout.close()

    def __enter__(self) -> LatencyProxyProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--delay-ms", type=float, default=10.0, help="one-way delay (default 10 = 20 ms RTT)")
    parser.add_argument(
        "--route",
        action="append",
        required=True,
        metavar="LISTEN=UPSTREAM",
        help="e.g. 127.0.0.1:0=127.0.0.1:5001 (repeatable; loopback only)",
    )
    parser.add_argument("--no-control", action="store_true", help="ignore stdin; run until killed")
    args = parser.parse_args(argv)
    if not 0 <= args.delay_ms <= 10_000:
        parser.error("--delay-ms must be within 0..10000")
    routes = [Route.parse(text) for text in args.route]
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(routes, args.delay_ms / 1000.0, control=not args.no_control))
    return 0


if __name__ == "__main__":
    sys.exit(main())
