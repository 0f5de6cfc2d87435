"""The shared part of the registry fronts (#22 item 6): TLS under the real names, accounts, tokens, forwarding.

Each public registry is modelled by a small subclass of :class:`RegistryFront` (one module per registry in this
package, each citing its sources) in front of its own real ``docker-registry`` (plain HTTP on loopback, no auth,
deletes enabled): manifests, blobs, tags and uploads are the real distribution's; the front adds what that
registry does differently — its challenge, token endpoint, refusals, error bodies, pagination and delete rules.

The client reaches the front by the registry's real host names through the test-only ``connect_to`` hook of
the transport (``OCIREG_TEST_CONNECT_TO`` for the CLI, docs/testing.md "Registries under their own names"):
every name maps to this front's loopback port; TLS is checked against the real name with the rig CA.

Accounts are ``users`` (name -> :class:`Account`); rights are per repository prefix. Tokens are opaque
(``rig-…``) and kept in memory with their grant; ``expire(token)`` makes one stale.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import json
import re
import secrets
import ssl
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit

from ..pki import Pki
from ..registry import RegistryProcess, free_port

__all__ = ["Account", "RegistryFront", "Reply", "Request", "error_body", "json_reply"]

_MANIFEST = re.compile(r"^/v2/(?P<name>.+)/manifests/(?P<ref>[^/]+)$")
_TAGS = re.compile(r"^/v2/(?P<name>.+)/tags/list$")
_REPO_ROUTE = re.compile(r"^/v2/(?P<name>.+)/(?:manifests|blobs|tags|referrers)/")
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "content-length"}
_MAX_BODY = 64 * 1024 * 1024


@dataclass
class Account:
    """A user: its secret and the actions it has per repository prefix (``""`` = every repository)."""

    secret: str
    rights: Mapping[str, frozenset[str]] = field(default_factory=dict)

    def actions(self, repo: str) -> frozenset[str]:
        found: set[str] = set()
        for prefix, actions in self.rights.items():
            if not prefix or repo == prefix or repo.startswith(prefix.rstrip("/") + "/"):
                found |= actions
        return frozenset(found)


@dataclass
class Reply:
    status: int
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class Request:
    """One request as the front saw it."""

    method: str
    host: str
    path: str
    query: dict[str, list[str]]
    headers: Mapping[str, str]
    body: bytes
    raw_query: str = ""

    @property
    def authorization(self) -> str | None:
        return self.headers.get("Authorization")

    def basic(self) -> tuple[str, str] | None:
        value = self.authorization or ""
        if not value.lower().startswith("basic "):
            return None
        try:
            user, _, secret = base64.b64decode(value[6:].strip(), validate=True).decode().partition(":")
        except ValueError:
            return None
        return user, secret

    def bearer(self) -> str | None:
        value = self.authorization or ""
        return value[7:].strip() if value.lower().startswith("bearer ") else None

    def form(self) -> dict[str, list[str]]:
        return parse_qs(self.body.decode("utf-8", "replace"))


def json_reply(status: int, payload: Any, *headers: tuple[str, str]) -> Reply:
    return Reply(status, json.dumps(payload).encode(), [("Content-Type", "application/json"), *headers])


def error_body(code: str, message: str, detail: Any = None) -> dict[str, Any]:
    return {"errors": [{"code": code, "message": message, "detail": detail}]}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    owner: RegistryFront

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients hanging up are normal."""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "registry-front"
    sys_version = ""
    timeout = 30
    server: _Server

    def setup(self) -> None:
        super().setup()
        if isinstance(self.connection, ssl.SSLSocket):
            self.connection.do_handshake()

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet; ``RegistryFront.log`` records requests."""

    def do_GET(self) -> None:
        self.server.owner._handle(self)

    do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_GET


class RegistryFront:
    """A registry under its real names. Subclasses set the class attributes and override the hooks."""

    #: Host names this registry answers to (certificate SANs; each is mapped to this front's port).
    hosts: ClassVar[tuple[str, ...]] = ()
    #: Path of the token endpoint on ``token_host`` (``None``: no token service, e.g. ECR).
    token_path: ClassVar[str | None] = "/token"
    #: Actions the token service grants (others are dropped from the grant).
    known_actions: ClassVar[frozenset[str]] = frozenset({"pull", "push", "delete", "*"})

    def __init__(self, directory: Path, pki: Pki) -> None:
        self.directory = directory
        self.backend = RegistryProcess(directory / "registry", variant=type(self).__name__.lower())
        self._tls = pki.server_context(*self.hosts)
        self.port = 0
        self.users: dict[str, Account] = {}
        self.public: set[str] = set()
        self._tokens: dict[str, tuple[str | None, dict[str, frozenset[str]]]] = {}
        self._expired: set[str] = set()
        self.log: list[tuple[str, str, str, int]] = []
        self._lock = threading.Lock()
        self._server: _Server | None = None

    # ---- hosts and lifecycle -----------------------------------------------------------------------------

    @property
    def api_host(self) -> str:
        return self.hosts[0]

    @property
    def token_host(self) -> str:
        return self.hosts[0]

    @property
    def realm(self) -> str:
        return f"https://{self.token_host}{self.token_path}"

    def connect_to(self) -> str:
        """The ``OCIREG_TEST_CONNECT_TO`` value for this front."""
        return ",".join(f"{host}:443:127.0.0.1:{self.port}" for host in self.hosts)

    def start(self) -> RegistryFront:
        self.backend.start()
        self.port = free_port()
        server = _Server(("127.0.0.1", self.port), _Handler)
        server.owner = self
        server.socket = self._tls.wrap_socket(server.socket, server_side=True, do_handshake_on_connect=False)
        self._server = server
        threading.Thread(target=server.serve_forever, name=f"front-{self.api_host}", daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        self.backend.stop()

    def count(self, method: str, path_regex: str = "") -> int:
        with self._lock:
            return sum(1 for m, _, p, _ in self.log if m == method and re.search(path_regex, p))

    # ---- tokens ------------------------------------------------------------------------------------------

    def issue(self, subject: str | None, grant: Mapping[str, frozenset[str]]) -> str:
        token = "rig-" + secrets.token_hex(12)
        with self._lock:
            self._tokens[token] = (subject, dict(grant))
        return token

    def expire(self, token: str) -> None:
        with self._lock:
            self._expired.add(token)

    def token_state(self, token: str) -> tuple[str | None, dict[str, frozenset[str]]] | None:
        with self._lock:
            return None if token in self._expired else self._tokens.get(token)

    def check_user(self, user: str, secret: str) -> Account | None:
        account = self.users.get(user)
        return account if account is not None and secrets.compare_digest(account.secret, secret) else None

    def rights(self, subject: str | None, repo: str) -> frozenset[str]:
        actions = self.users[subject].actions(repo) if subject in self.users else frozenset()
        if repo in self.public:
            actions |= {"pull"}
        return actions

    def grant(self, subject: str | None, scopes: Iterable[str]) -> dict[str, frozenset[str]]:
        """What a token for ``scopes`` carries: the asked actions the subject has (downscoped, never refused)."""
        grant: dict[str, frozenset[str]] = {}
        for scope in scopes:
            kind, _, rest = scope.partition(":")
            repo, _, actions = rest.rpartition(":")
            if kind != "repository" or not repo:
                continue
            asked = set(actions.split(","))
            have = self.rights(subject, repo)
            granted = {a for a in asked if a in have or ("*" in have and a in self.known_actions)}
            grant[repo] = grant.get(repo, frozenset()) | frozenset(granted & self.known_actions)
        return grant

    def scopes(self, req: Request) -> list[str]:
        values = req.query.get("scope", []) + req.form().get("scope", [])
        return [s for v in values for s in v.split(" ") if s]

    # ---- hooks -------------------------------------------------------------------------------------------

    def token_endpoint(self, req: Request) -> Reply:
        """The token service: Basic -> checked user, none -> anonymous; 401 on bad credentials."""
        basic = req.basic()
        subject: str | None = None
        if basic is not None:
            if self.check_user(*basic) is None:
                return self.bad_credentials(req)
            subject = basic[0]
        token = self.issue(subject, self.grant(subject, self.scopes(req)))
        return json_reply(200, {"token": token, "access_token": token, "expires_in": 300})

    def bad_credentials(self, req: Request) -> Reply:
        return json_reply(401, error_body("UNAUTHORIZED", "authentication required"))

    def challenge(self, req: Request, repo: str | None, action: str, *, insufficient: bool) -> Reply:
        """401 with this registry's Bearer challenge and body."""
        params = f'Bearer realm="{self.realm}",service="{self.api_host}"'
        if repo is not None:
            params += f',scope="repository:{repo}:{action}"'
        if insufficient:
            params += ',error="insufficient_scope"'
        return json_reply(
            401, error_body("UNAUTHORIZED", "authentication required"), ("WWW-Authenticate", params)
        )

    def action_for(self, req: Request, repo: str) -> str:
        if req.method in ("GET", "HEAD"):
            return "pull"
        return "delete" if req.method == "DELETE" else "push"

    def authorize(self, req: Request, repo: str | None) -> Reply | None:
        """``None`` to serve the request, else the refusal. Bearer tokens from this front's service."""
        action = self.action_for(req, repo) if repo is not None else "pull"
        token = req.bearer()
        state = self.token_state(token) if token else None
        if repo is None:
            return None if state is not None else self.challenge(req, None, action, insufficient=False)
        if state is None and action == "pull" and repo in self.public and self.anonymous_reads_direct:
            return None
        if state is not None and action in state[1].get(repo, frozenset()):
            return None
        return self.refuse(req, repo, action, state)

    #: Quay serves public repositories without any token.
    anonymous_reads_direct: ClassVar[bool] = False

    def refuse(self, req: Request, repo: str, action: str, state: Any) -> Reply:
        return self.challenge(req, repo, action, insufficient=state is not None)

    def route(self, req: Request) -> Reply | None:
        """Registry-specific routes before the generic ones (``None``: generic handling)."""
        return None

    def not_found(self, req: Request, repo: str, ref: str, upstream: Reply) -> Reply:
        return upstream

    def delete(self, req: Request, repo: str, ref: str) -> Reply:
        return self.forward(req)

    def tags(self, req: Request, repo: str) -> Reply:
        return self.forward(req)

    def decorate(self, req: Request, reply: Reply) -> Reply:
        return reply

    # ---- the request path --------------------------------------------------------------------------------

    def _handle(self, h: _Handler) -> None:
        parts = urlsplit(h.path)
        length = h.headers.get("Content-Length")
        body = h.rfile.read(int(length)) if length and length.isdigit() and int(length) <= _MAX_BODY else b""
        req = Request(
            h.command,
            (h.headers.get("Host") or "").split(":")[0].lower(),
            parts.path,
            parse_qs(parts.query),
            dict(h.headers.items()),
            body,
            parts.query,
        )
        try:
            reply = self.decorate(req, self._route(req))
        except Exception as exc:  # a rig bug shows as a 500 the test can see
            reply = json_reply(500, error_body("RIG_ERROR", repr(exc)))
        with self._lock:
            self.log.append((req.method, req.host, req.path, reply.status))
        h.send_response(reply.status)
        for name, value in reply.headers:
            h.send_header(name, value)
        h.send_header("Content-Length", str(len(reply.body)))
        h.end_headers()
        if h.command != "HEAD" and reply.body:
            h.wfile.write(reply.body)
        h.wfile.flush()

    def _route(self, req: Request) -> Reply:
        special = self.route(req)
        if special is not None:
            return special
        if self.token_path is not None and req.host == self.token_host and req.path == self.token_path:
            return self.token_endpoint(req)
        if req.path in ("/v2", "/v2/"):
            return self.authorize(req, None) or self.forward(req)
        match = _REPO_ROUTE.match(req.path)
        if match is None:
            return Reply(404, b"404 page not found\n", [("Content-Type", "text/plain")])
        repo = match["name"]
        refusal = self.authorize(req, repo)
        if refusal is not None:
            return refusal
        if tags := _TAGS.match(req.path):
            return self.tags(req, tags["name"])
        manifest = _MANIFEST.match(req.path)
        if manifest is not None and req.method == "DELETE":
            return self.delete(req, repo, manifest["ref"])
        reply = self.forward(req)
        if manifest is not None and reply.status == 404:
            return self.not_found(req, repo, manifest["ref"], reply)
        return reply

    def forward(self, req: Request, *, method: str | None = None, path: str | None = None) -> Reply:
        headers = {k: v for k, v in req.headers.items() if k.lower() not in _HOP_BY_HOP | {"authorization"}}
        headers["X-Forwarded-Proto"] = "https"
        method = method or req.method
        target = path or (req.path + ("?" + req.raw_query if req.raw_query else ""))
        conn = http.client.HTTPConnection(self.backend.host, self.backend.port, timeout=30)
        try:
            conn.request(method, target, body=req.body if req.body else None, headers=headers)
            response = conn.getresponse()
            data = response.read()
        finally:
            conn.close()
        out = [(k, v) for k, v in response.getheaders() if k.lower() not in _HOP_BY_HOP]
        return Reply(response.status, b"" if method == "HEAD" else data, out)

    # ---- the backend's storage (tag deletes the way distribution's Untag does) --------------------------

    def tag_link(self, repo: str, tag: str) -> Path:
        storage = self.backend.storage_dir / "docker/registry/v2/repositories"
        return storage / repo / "_manifests/tags" / tag

    def untag(self, repo: str, tag: str) -> bool:
        link = self.tag_link(repo, tag)
        if not link.is_dir():
            return False
        import shutil

        shutil.rmtree(link)
        return True

    def tags_of(self, repo: str, digest: str) -> list[str]:
        root = self.tag_link(repo, "x").parent
        found = []
        with contextlib.suppress(OSError):
            for entry in sorted(root.iterdir()):
                link = entry / "current/link"
                if link.is_file() and link.read_text().strip() == digest:
                    found.append(entry.name)
        return found
