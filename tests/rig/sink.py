"""A credential sink for the security tests (see /work/shared/TESTING.md, "Sink").

Why: SEC tests redirect the client (through the fault proxy's ``redirect``, a rewritten ``Link``/``Location``
/``realm``, or a foreign blob ``urls`` entry) to a host that is not the registry, and must prove the client
sent it no credentials.  The sink answers anything (200 JSON by default, or a configured status/body such
as a Bearer challenge pointing at itself) and records, for every request, whether it carried a credential:
``Authorization``/``Proxy-Authorization`` (scheme + sha256 of the value), ``Cookie``, GitLab-style token
headers, and query/form parameters named like secrets.  Credential values are never stored -- only
their sha256 -- so a failing assertion cannot leak a canary into logs.

It listens on another loopback address (127.0.0.2, else 127.0.0.3) so that "a different host" is a real
different host for the client's credential selection; if neither can be bound it falls back to
127.0.0.1 and says so in ``fallback``.  With a ``tls_context`` it serves HTTPS too, on a second port (the
certificate must name the sink's address, e.g. ``ca.issue_cert("127.0.0.2", "127.0.0.3", "127.0.0.1")``).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import ssl
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import parse_qsl

from .faultproxy import (
    SECRET_QUERY_PARAMS,
    BadRequest,
    ClientGone,
    HttpConn,
    HttpRequest,
    LoopbackServer,
    read_request,
    send_simple,
)

__all__ = ["SECRET_HEADERS", "SECRET_PARAMS", "CredentialEvent", "Sink", "SinkRequest", "SinkResponse"]

#: Headers whose mere presence means a credential reached the sink.
SECRET_HEADERS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "cookie",
        "private-token",
        "job-token",
        "deploy-token",
        "x-registry-auth",
        "x-auth-token",
    }
)
#: Query/form parameter names treated as secrets (compared case-insensitively).
SECRET_PARAMS = SECRET_QUERY_PARAMS
_CANDIDATE_HOSTS = ("127.0.0.2", "127.0.0.3")
_MAX_FORM = 1024 * 1024


def _sha256(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8", "surrogateescape")).hexdigest()


@dataclass(frozen=True)
class CredentialEvent:
    """One credential that arrived at the sink: where it was, never what it was.

    ``kind`` is "header", "query" or "form"; ``name`` the header or parameter name (lower case);
    ``scheme`` the Authorization scheme word ("Bearer", "Basic") when there is one; ``sha256`` the hex
    digest of the full value (compare with ``hashlib.sha256(canary).hexdigest()``).
    """

    kind: str
    name: str
    scheme: str | None
    sha256: str
    method: str
    path: str
    tls: bool


@dataclass(frozen=True)
class SinkRequest:
    """One request the sink received; query values named like secrets are replaced by "<redacted>"."""

    method: str
    path: str
    query: tuple[tuple[str, str], ...]
    tls: bool
    header_names: tuple[str, ...]
    credentials: tuple[CredentialEvent, ...]
    received: float


@dataclass(frozen=True)
class SinkResponse:
    """What the sink answers with."""

    status: int = 200
    headers: tuple[tuple[str, str], ...] = (("Content-Type", "application/json"),)
    body: bytes = b'{"sink": true}'


class Sink:
    """An answer-anything HTTP(S) server on 127.0.0.2/127.0.0.3 that records credentials it receives."""

    def __init__(self, *, tls_context: ssl.SSLContext | None = None, host: str | None = None) -> None:
        if host is not None and not host.startswith("127."):
            raise ValueError("the sink only listens on loopback")
        self._hosts: Sequence[str] = (host,) if host is not None else _CANDIDATE_HOSTS
        self._tls_context = tls_context
        self._lock = threading.Lock()
        self._requests: list[SinkRequest] = []
        self._response = SinkResponse()
        self._responder: Callable[[SinkRequest], SinkResponse] | None = None
        self._http: LoopbackServer | None = None
        self._https: LoopbackServer | None = None
        self.host = ""
        #: True when neither 127.0.0.2 nor 127.0.0.3 could be bound and the sink shares 127.0.0.1.
        self.fallback = False

    # ---- lifecycle -------------------------------------------------------------------------------

    def _server(self, host: str, tls: bool) -> LoopbackServer:
        return LoopbackServer(
            host,
            0,
            tls_context=self._tls_context if tls else None,
            name="sink-https" if tls else "sink",
            on_connection=lambda conn: self._serve(conn, tls),
            read_timeout=10.0,
        )

    def start(self) -> Sink:
        """Bind the first usable loopback address (HTTP, and HTTPS if configured) and serve."""
        candidates = [*self._hosts, "127.0.0.1"] if len(self._hosts) > 1 else list(self._hosts)
        last_error: OSError | None = None
        for host in candidates:
            servers: list[LoopbackServer] = []
            try:
                servers.append(self._server(host, tls=False))
                if self._tls_context is not None:
                    servers.append(self._server(host, tls=True))
                for server in servers:
                    server.bind()
            except OSError as exc:
                last_error = exc
                for server in servers:
                    server.stop(0.5)
                continue
            self.host = host
            self.fallback = host == "127.0.0.1" and "127.0.0.1" not in self._hosts
            self._http = servers[0]
            self._https = servers[1] if len(servers) > 1 else None
            for server in servers:
                server.start()
            return self
        raise OSError(f"sink could not bind any loopback address: {last_error}")

    def stop(self, timeout: float = 5.0) -> None:
        """Stop both servers and join their threads within ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        for server in (self._http, self._https):
            if server is not None:
                server.stop(max(0.1, deadline - time.monotonic()))

    def __enter__(self) -> Sink:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._http is not None, "sink not started"
        return self._http.port

    @property
    def https_port(self) -> int | None:
        return None if self._https is None else self._https.port

    @property
    def url(self) -> str:
        """``http://<sink host>:<port>``."""
        return f"http://{self.host}:{self.port}"

    @property
    def https_url(self) -> str | None:
        """``https://<sink host>:<port>``, or None without a tls_context."""
        return None if self._https is None else f"https://{self.host}:{self._https.port}"

    @property
    def netloc(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def threads_alive(self) -> int:
        """Connection threads still running (0 after a clean stop)."""
        return sum(s.thread_count for s in (self._http, self._https) if s is not None)

    # ---- behaviour -------------------------------------------------------------------------------

    def set_response(
        self,
        status: int = 200,
        headers: Mapping[str, str] | Sequence[tuple[str, str]] | None = None,
        body: bytes | str | None = None,
    ) -> None:
        """Answer every later request with this (default: 200 ``{"sink": true}``)."""
        hdrs: tuple[tuple[str, str], ...]
        if headers is None:
            hdrs = SinkResponse().headers
        elif isinstance(headers, Mapping):
            hdrs = tuple(headers.items())
        else:
            hdrs = tuple(headers)
        data = SinkResponse().body if body is None else body.encode() if isinstance(body, str) else body
        with self._lock:
            self._response = SinkResponse(status, hdrs, data)
            self._responder = None

    def set_responder(self, responder: Callable[[SinkRequest], SinkResponse] | None) -> None:
        """Decide per request (None restores the fixed response)."""
        with self._lock:
            self._responder = responder

    def challenge(self, service: str = "sink", scope: str | None = None, tls: bool = False) -> str:
        """Answer 401 with a Bearer challenge whose realm is the sink's own ``/token``; returns the realm."""
        base = self.https_url if tls and self.https_url else self.url
        realm = f"{base}/token"
        value = f'Bearer realm="{realm}",service="{service}"'
        if scope:
            value += f',scope="{scope}"'
        body = json.dumps(
            {"errors": [{"code": "UNAUTHORIZED", "message": "authentication required", "detail": None}]}
        )
        self.set_response(401, [("Content-Type", "application/json"), ("WWW-Authenticate", value)], body)
        return realm

    # ---- records ---------------------------------------------------------------------------------

    @property
    def requests(self) -> list[SinkRequest]:
        """Every request so far (snapshot)."""
        with self._lock:
            return list(self._requests)

    def credentials_received(self) -> list[CredentialEvent]:
        """Every credential the sink saw; security tests assert this is empty."""
        with self._lock:
            return [event for req in self._requests for event in req.credentials]

    def clear(self) -> None:
        """Forget recorded requests."""
        with self._lock:
            self._requests.clear()

    # ---- serving ---------------------------------------------------------------------------------

    def _serve(self, conn: HttpConn, tls: bool) -> None:
        try:
            while True:
                req = read_request(conn, None)
                if req is None:
                    return
                if not self._handle(conn, req, tls):
                    return
        except (ClientGone, BadRequest):
            return

    def _read_form(self, conn: HttpConn, req: HttpRequest) -> list[tuple[str, str]]:
        """Consume the body; parse it as a form when it is one (OAuth2 password/refresh grants)."""
        kind, n = req.body_kind()
        pieces = (
            conn.iter_chunked() if kind == "chunked" else conn.iter_exact(n) if kind == "length" else iter(())
        )
        kept = bytearray()
        for piece in pieces:
            if len(kept) < _MAX_FORM:
                kept += piece[: _MAX_FORM - len(kept)]
        ctype = (req.header("content-type") or "").lower()
        if "application/x-www-form-urlencoded" not in ctype:
            return []
        return parse_qsl(kept.decode("utf-8", "replace"), keep_blank_values=True)

    def _handle(self, conn: HttpConn, req: HttpRequest, tls: bool) -> bool:
        form = self._read_form(conn, req)
        events: list[CredentialEvent] = []

        def add(kind: str, name: str, value: str, scheme: str | None = None) -> None:
            events.append(
                CredentialEvent(kind, name.lower(), scheme, _sha256(value), req.method, req.path, tls)
            )

        for name, value in req.headers:
            low = name.lower()
            if low in SECRET_HEADERS:
                scheme = value.split()[0] if low.endswith("authorization") and value.split() else None
                add("header", low, value, scheme)
        query = parse_qsl(req.query, keep_blank_values=True)
        for name, value in query:
            if name.lower() in SECRET_PARAMS:
                add("query", name, value)
        for name, value in form:
            if name.lower() in SECRET_PARAMS:
                add("form", name, value)
        record = SinkRequest(
            method=req.method,
            path=req.path,
            query=tuple((k, "<redacted>" if k.lower() in SECRET_PARAMS else v) for k, v in query),
            tls=tls,
            header_names=tuple(name.lower() for name, _ in req.headers),
            credentials=tuple(events),
            received=time.monotonic(),
        )
        with self._lock:
            self._requests.append(record)
            responder, response = self._responder, self._response
        if responder is not None:
            with contextlib.suppress(Exception):
                response = responder(record)
        return send_simple(conn, req, response.status, response.headers, response.body)
