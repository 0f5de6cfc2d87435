"""GitLab's ``/jwt/auth`` and its dependency proxy, for the integration rig (the GitLab host, 127.0.0.2).

GitLab cannot run on the test machine, so this server answers as gitlab-org/gitlab's sources say GitLab answers;
the decisions themselves (who is who, what is granted, which status) are in :mod:`rig.gitlab_model`, with the
source file and commit each rule was read from. Here is the wire:

* ``GET /jwt/auth?service=container_registry&scope=repository:NAME:ACTIONS[&scope=...]`` with optional HTTP
  Basic credentials (password, personal access token with scopes, ``gitlab-ci-token`` + job token, deploy
  token) or none (anonymous, with GitLab's read-only abilities). Answers: 200 ``{"token": ...}`` with the actions
  the caller may have (others dropped silently, so "no such project" looks like "denied" to a signed-in user);
  **401** ``UNAUTHORIZED`` "HTTP Basic: Access denied…" for a wrong password or token, a blocked user, or a
  two-factor user who sent a password; **403** ``{"errors": [{"code": "DENIED", "message": "access forbidden"}],
  "http_status": 403}`` for anonymous requests with nothing granted (private/internal/missing project, push,
  catalog) and for credentials without any registry ability (PAT or deploy token lacking a registry scope);
  **403** "Pushing to protected repository path forbidden" for a push the protection rules refuse.
* ``service=dependency_proxy``: an HS256 token **without** ``access`` for signed-in users (403
  ``{"message": "access forbidden", ...}`` otherwise). The same host serves ``/v2/`` and
  ``/v2/<group>/dependency_proxy/containers/<image>/{manifests,blobs}/<ref>`` (GET/HEAD; routes from
  gitlab-org/gitlab ``config/routes/group.rb``), challenging with ``Bearer realm=".../jwt/auth",
  service="dependency_proxy"`` (``DependencyProxy::Registry.authenticate_header``) and serving what the rig's
  registry holds under ``library/<image>`` (or ``<ns>/<image>``), fetched with a pull token as GitLab's
  Workhorse fetches from Docker Hub. Not modelled: the proxy's cache and its purge, group visibility per user,
  Docker Hub rate limits, and the ``personal_access_token``/``deploy_token`` claims GitLab puts in the token.
* Unknown or missing ``service``: **404 with an empty body** (JwtController's ``head :not_found``).
* ``POST /jwt/auth``: 404 (GitLab has no such route) unless the ``oauth_post`` knob enables the Docker OAuth2
  flavour (``grant_type=password`` / ``grant_type=refresh_token``).
* Registry tokens: RS256 JWTs signed with ``cryptography``, header carries ``x5c`` with the self-signed signing
  certificate, which the registry trusts through its ``rootcertbundle`` (``cert_file``); ``sub`` is the user
  (for a job token: the user running the job), empty for anonymous callers and deploy tokens.

Knobs (thread-safe attributes, restored by ``reset()``): ``ttl``, ``response_style``, ``extra_fields``,
``fail_status``, ``fail_headers``, ``delay``, ``oauth_post``, ``clock_offset``, ``exp_skew``.

Recording: every request is kept as a ``RecordedRequest`` (no passwords or tokens in it, so tests may print it).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import datetime as dt
import hmac
import json
import math
import secrets
import socket
import ssl
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Generic, Literal, TypeVar, overload
from urllib.parse import parse_qs, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

# The identities are re-exported: tests import them from here.
from .gitlab_model import (
    ACCESS_DENIED_MESSAGE,
    ALICE,
    ALICE_PASSWORD,
    ALICE_PAT,
    ALICE_PAT_READ,
    ALICE_PAT_READ_API,
    ALICE_PAT_REPO,
    ALICE_PAT_WRITE,
    ALICE_PAT_WRITE_ONLY,
    ALICE_REFRESH_TOKEN,
    ALL_REPOSITORY_ACTIONS,
    BOB,
    BOB_PASSWORD,
    CAROL,
    CAROL_PASSWORD,
    CAROL_PAT,
    DAVE,
    DAVE_PASSWORD,
    DEPENDENCY_PROXY_SERVICE,
    DEPLOY_TOKEN,
    DEPLOY_TOKEN_REPO,
    DEPLOY_TOKEN_RW,
    DEPLOY_USER,
    DEPLOY_USER_REPO,
    DEPLOY_USER_RW,
    EVE,
    EVE_PASSWORD,
    EVE_PAT,
    FORBIDDEN_MESSAGE,
    FULL_ABILITIES,
    INTERNAL_PROJECT,
    JOB_TOKEN,
    JOB_TOKEN_DEV,
    JOB_USER,
    PRIVATE_PROJECT,
    PRIVATE_SUB_PROJECT,
    PROJECTS,
    PROTECTED_PATH_MESSAGE,
    PROTECTED_REPO,
    PUBLIC_PROJECT,
    REFRESH_TOKENS,
    ROOT,
    ROOT_PASSWORD,
    SERVICE,
    USERS,
    AccessEntry,
    Identity,
    Unauthorized,
    container_registry_decision,
    dependency_proxy_decision,
    dependency_proxy_groups,
    find_for_git_client,
    grant,
    parse_scope,
    project_of,
)

# --------------------------------------------------------------------------------------------------------------
# Identity model: tests/rig/gitlab_model.py (what GitLab decides); here the wire
# --------------------------------------------------------------------------------------------------------------

ISSUER = "gitlab-issuer"
REALM_PATH = "/jwt/auth"
#: Default host of the realm: another loopback address than the registry's, like GitLab's realm host.
REALM_HOST = "127.0.0.2"

#: Alias kept for the rig package's exports: the users by name.
ACCOUNTS = USERS

ResponseStyle = Literal["gitlab", "expires", "access_token", "both"]
RESPONSE_STYLES: tuple[str, ...] = ("gitlab", "expires", "access_token", "both")

__all__ = [
    "ACCESS_DENIED_MESSAGE",
    "ACCOUNTS",
    "ALICE",
    "ALICE_PASSWORD",
    "ALICE_PAT",
    "ALICE_PAT_READ",
    "ALICE_PAT_READ_API",
    "ALICE_PAT_REPO",
    "ALICE_PAT_WRITE",
    "ALICE_PAT_WRITE_ONLY",
    "ALICE_REFRESH_TOKEN",
    "ALL_REPOSITORY_ACTIONS",
    "BOB",
    "BOB_PASSWORD",
    "CAROL",
    "CAROL_PASSWORD",
    "CAROL_PAT",
    "DAVE",
    "DAVE_PASSWORD",
    "DEPENDENCY_PROXY_SERVICE",
    "DEPLOY_TOKEN",
    "DEPLOY_TOKEN_REPO",
    "DEPLOY_TOKEN_RW",
    "DEPLOY_USER",
    "DEPLOY_USER_REPO",
    "DEPLOY_USER_RW",
    "EVE",
    "EVE_PASSWORD",
    "EVE_PAT",
    "FORBIDDEN_MESSAGE",
    "INTERNAL_PROJECT",
    "JOB_TOKEN",
    "JOB_TOKEN_DEV",
    "JOB_USER",
    "PRIVATE_PROJECT",
    "PRIVATE_SUB_PROJECT",
    "PROJECTS",
    "PROTECTED_PATH_MESSAGE",
    "PROTECTED_REPO",
    "PUBLIC_PROJECT",
    "REFRESH_TOKENS",
    "ROOT",
    "ROOT_PASSWORD",
    "SERVICE",
    "USERS",
    "TokenServer",
    "decode_jwt",
    "grant",
    "parse_scope",
    "project_of",
]


def split_scopes(values: Iterable[str]) -> list[str]:
    """Scopes from repeated ``scope`` parameters, each possibly space-separated (OAuth2 style)."""
    return [part for value in values for part in value.split(" ") if part]


# --------------------------------------------------------------------------------------------------------------
# JWT helpers
# --------------------------------------------------------------------------------------------------------------


def b64url(data: bytes) -> str:
    """Unpadded base64url, as JWS requires."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Inverse of ``b64url`` (adds the padding back)."""
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def decode_jwt(
    token: str, verify_with: x509.Certificate | None = None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Return (header, claims); with ``verify_with`` also check the RS256 signature (raises on mismatch)."""
    head_b64, claims_b64, sig_b64 = token.split(".")
    header = json.loads(b64url_decode(head_b64))
    claims = json.loads(b64url_decode(claims_b64))
    if verify_with is not None:
        public_key = verify_with.public_key()
        assert isinstance(public_key, rsa.RSAPublicKey)
        public_key.verify(
            b64url_decode(sig_b64),
            f"{head_b64}.{claims_b64}".encode("ascii"),
            padding.PKCS1v15(),
            hashes.SHA256(),
        )
    return header, claims


def _make_signing_identity(issuer: str) -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    """A self-signed RSA certificate, like GitLab's registry signing key (``registry.key``/``registry.crt``)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{issuer} token signer")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return key, cert


# --------------------------------------------------------------------------------------------------------------
# Recording and knobs
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RecordedRequest:
    """One request the token server saw. Never holds a password, token or refresh token."""

    method: str
    path: str
    query: Mapping[str, tuple[str, ...]]
    authorization: bool  # was an Authorization header sent at all
    auth_scheme: str | None  # "Basic", "Bearer", ... as sent
    username: str | None  # Basic (or OAuth password-grant) username
    status: int
    scopes: tuple[str, ...] = ()
    granted: tuple[str, ...] = ()  # "type:name:a,b" strings that made it into the token
    form: Mapping[str, str] = field(default_factory=dict)  # POST form, secrets replaced by "<redacted>"
    time: float = 0.0

    @property
    def service(self) -> str | None:
        """The ``service`` query/form parameter, if any."""
        values = self.query.get("service") or ((self.form["service"],) if "service" in self.form else ())
        return values[0] if values else None


@dataclass
class _Knobs:
    ttl: float = 300.0
    response_style: ResponseStyle = "gitlab"
    extra_fields: dict[str, Any] = field(default_factory=dict)
    fail_status: int | None = None
    fail_headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    oauth_post: bool = False
    clock_offset: float = 0.0
    exp_skew: float = 0.0
    tag_protection: dict[str, TagProtection] = field(default_factory=dict)


T = TypeVar("T")


class _Knob(Generic[T]):
    """Descriptor for a thread-safe knob stored in the owner's ``_knobs`` behind its ``_lock``."""

    name: str

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, obj: None, objtype: type | None = None) -> _Knob[T]: ...
    @overload
    def __get__(self, obj: TokenServer, objtype: type | None = None) -> T: ...
    def __get__(self, obj: TokenServer | None, objtype: type | None = None) -> T | _Knob[T]:
        if obj is None:
            return self
        with obj._lock:
            value: T = getattr(obj._knobs, self.name)
            return value

    def __set__(self, obj: TokenServer, value: T) -> None:
        if self.name == "response_style" and value not in RESPONSE_STYLES:
            raise ValueError(f"response_style must be one of {RESPONSE_STYLES}")
        if self.name == "delay" and not 0 <= float(value) <= MAX_DELAY:  # type: ignore[arg-type]
            raise ValueError(f"delay must be within 0..{MAX_DELAY} s")
        with obj._lock:
            setattr(obj._knobs, self.name, value)


MAX_DELAY = 120.0
MAX_BODY = 64 * 1024


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    owner: TokenServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients hanging up mid-request are normal in fault tests; keep the test output clean."""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "nginx"
    sys_version = ""
    timeout = 30
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.server.owner._track(self.connection, add=True)
        # As GitLab's own front ends do (nginx: tcp_nodelay on; Workhorse, a Go server: Nagle off by default):
        # without it the body, written after the head, waits for the head's delayed ACK, ≈ 40 ms per token on
        # a connection that stays open (measured in the bench's far world, #25). BaseHTTPRequestHandler
        # writes the head and the body in two sends.
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if isinstance(self.connection, ssl.SSLSocket):
            # Handshake here, in the per-connection thread, so a stalled client cannot block accept().
            try:
                self.connection.do_handshake()
            except BaseException:
                self.server.owner._track(self.connection, add=False)
                raise

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.owner._track(self.connection, add=False)

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the default stderr access log; the recording replaces it."""

    def do_GET(self) -> None:
        self.server.owner._handle(self)

    def do_POST(self) -> None:
        self.server.owner._handle(self)

    def do_HEAD(self) -> None:
        self.server.owner._handle(self)

    def do_PUT(self) -> None:
        self.server.owner._handle(self)

    def do_DELETE(self) -> None:
        self.server.owner._handle(self)


@dataclass
class _Reply:
    status: int
    body: bytes = b""
    content_type: str = "application/json; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)
    username: str | None = None
    scopes: tuple[str, ...] = ()
    granted: tuple[str, ...] = ()
    form: dict[str, str] = field(default_factory=dict)


def _json_reply(status: int, payload: Any, **kw: Any) -> _Reply:
    return _Reply(status, json.dumps(payload).encode("utf-8"), **kw)


def _unauthorized() -> _Reply:
    return _json_reply(401, {"errors": [{"code": "UNAUTHORIZED", "message": ACCESS_DENIED_MESSAGE}]})


def _granted_strings(access: Sequence[AccessEntry]) -> tuple[str, ...]:
    return tuple(f"{e['type']}:{e['name']}:{','.join(e['actions'])}" for e in access)


class TokenServer:
    """Threaded HTTP(S) token server. ``start()``/``stop()`` may be called repeatedly; the port stays the same."""

    def __init__(
        self,
        directory: Path,
        *,
        host: str = REALM_HOST,
        ssl_context: ssl.SSLContext | None = None,
        issuer: str = ISSUER,
        service: str = SERVICE,
    ) -> None:
        if not host.startswith("127."):
            raise ValueError("the rig only ever listens on loopback addresses")
        self.host = host
        self.issuer = issuer
        self.service = service
        self._ssl_context = ssl_context
        self._key, self.signing_cert = _make_signing_identity(issuer)
        directory.mkdir(parents=True, exist_ok=True)
        #: PEM of the signing certificate: the registry's ``auth.token.rootcertbundle``.
        self.cert_file: Path = directory / "token-signing.pem"
        self.cert_file.write_bytes(self.signing_cert.public_bytes(serialization.Encoding.PEM))
        self._x5c = base64.b64encode(self.signing_cert.public_bytes(serialization.Encoding.DER)).decode(
            "ascii"
        )
        self._lock = threading.Lock()
        self._knobs = _Knobs()
        self._records: list[RecordedRequest] = []
        self._conns: set[socket.socket] = set()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self.port: int = 0
        #: HS256 secret of the dependency-proxy tokens (GitLab derives it from its db_key_base).
        self._hmac_secret = secrets.token_bytes(32)
        #: The dependency proxy's "Docker Hub": base URL of the rig's registry (set by ``start_rig``) and the
        #: SSL context to reach it. Images are served from its ``library/<image>`` (or ``<ns>/<image>``).
        self.upstream_url: str | None = None
        self.upstream_ssl: ssl.SSLContext | None = None

    # ---- lifecycle -------------------------------------------------------------------------------------------

    @property
    def scheme(self) -> str:
        """``https`` when the server was given an SSL context."""
        return "https" if self._ssl_context is not None else "http"

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.2:41234``."""
        return f"{self.scheme}://{self.host}:{self.port}"

    @property
    def realm(self) -> str:
        """The realm URL the registry advertises in its Bearer challenge."""
        return self.url + REALM_PATH

    @property
    def running(self) -> bool:
        """True between ``start()`` and ``stop()``."""
        return self._server is not None

    def start(self) -> TokenServer:
        """Listen (on a fresh port the first time, the same port afterwards) and serve in a daemon thread."""
        if self._server is not None:
            return self
        server = _Server((self.host, self.port), _Handler, bind_and_activate=True)
        server.owner = self
        if self._ssl_context is not None:
            server.socket = self._ssl_context.wrap_socket(
                server.socket, server_side=True, do_handshake_on_connect=False
            )
        self.port = server.server_address[1]
        self._stopping.clear()
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"tokenserver-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening and cut every open connection (so "token server down" really is down)."""
        server, thread = self._server, self._thread
        if server is None:
            return
        self._stopping.set()
        server.shutdown()
        server.server_close()
        with self._lock:
            conns = list(self._conns)
            self._conns.clear()
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                conn.close()
        if thread is not None:
            thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> TokenServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _track(self, conn: socket.socket, *, add: bool) -> None:
        with self._lock:
            if add:
                self._conns.add(conn)
            else:
                self._conns.discard(conn)

    # ---- knobs -----------------------------------------------------------------------------------------------

    ttl = _Knob[float]()
    """Token lifetime in seconds: ``exp - iat`` and the ``expires_in`` reported (default 300, GitLab's 5 min)."""
    response_style = _Knob[ResponseStyle]()
    """"gitlab" (only ``token``), "expires" (+ ``expires_in``/``issued_at``), "access_token" (that key instead
    of ``token``), "both" (``token`` and ``access_token``)."""
    extra_fields = _Knob[dict[str, Any]]()
    """Merged last into every 200 JSON answer (e.g. ``{"expires_in": "soon"}`` for bad-response tests)."""
    fail_status = _Knob[int | None]()
    """When set, every request gets this status with a JSON error body (token server 5xx/403/429 tests)."""
    fail_headers = _Knob[dict[str, str]]()
    """Extra headers sent with ``fail_status`` answers (e.g. ``Retry-After``)."""
    delay = _Knob[float]()
    """Seconds to wait before answering (bounded by MAX_DELAY and cut short by ``stop()``)."""
    oauth_post = _Knob[bool]()
    """Enable the Docker OAuth2 ``POST`` flavour (GitLab answers 404 to a POST)."""
    clock_offset = _Knob[float]()
    """Seconds added to the server clock for ``iat``/``nbf``/``exp`` (clock-skew tests)."""
    exp_skew = _Knob[float]()
    """Seconds added to ``exp`` only. ``ttl=5, exp_skew=-60`` makes tokens the registry (60 s leeway) rejects
    about 5 s after issue while ``expires_in`` still says 5."""

    tag_protection = _Knob[dict[str, "TagProtection"]]()
    """Project path -> :class:`TagProtection`: GitLab's protected/immutable tag rules, put into each token's
    access entries as ``meta`` (see :func:`with_tag_meta`)."""

    def reset(self) -> None:
        """Restore every knob to its default and forget recorded requests."""
        with self._lock:
            self._knobs = _Knobs()
            self._records.clear()

    def clear_requests(self) -> None:
        """Forget recorded requests, keep the knobs."""
        with self._lock:
            self._records.clear()

    # ---- recording -------------------------------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot copy of every request received since the last reset."""
        with self._lock:
            return list(self._records)

    @property
    def count(self) -> int:
        """How many requests were received since the last reset."""
        with self._lock:
            return len(self._records)

    # ---- tokens ----------------------------------------------------------------------------------------------

    def mint(self, subject: str, access: Sequence[Mapping[str, Any]], ttl: float | None = None) -> str:
        """Sign a token directly (no request recorded), for seeding and assertions.

        ``ttl`` defaults to the ``ttl`` knob; ``clock_offset``/``exp_skew`` are deliberately *not* applied, so a
        test that breaks the served tokens can still mint working ones. A negative ``ttl`` mints an expired token.
        """
        return self._sign(subject, access, self.ttl if ttl is None else ttl, _Knobs())[0]

    def _sign(
        self, subject: str, access: Sequence[Mapping[str, Any]], ttl: float, knobs: _Knobs
    ) -> tuple[str, int]:
        now = int(time.time() + knobs.clock_offset)
        claims = {
            "iss": self.issuer,
            "sub": subject,
            "aud": self.service,
            "iat": now,
            "nbf": now - 5,
            "exp": now + math.ceil(ttl + knobs.exp_skew),
            "jti": secrets.token_hex(16),
            "access": [dict(a) for a in access],
        }
        header = {"typ": "JWT", "alg": "RS256", "x5c": [self._x5c]}
        signing_input = (
            b64url(json.dumps(header, separators=(",", ":")).encode())
            + "."
            + b64url(json.dumps(claims, separators=(",", ":")).encode())
        )
        signature = self._key.sign(signing_input.encode("ascii"), padding.PKCS1v15(), hashes.SHA256())
        return signing_input + "." + b64url(signature), now

    def _token_payload(
        self, key_style: ResponseStyle, token: str, issued: int, knobs: _Knobs
    ) -> dict[str, Any]:
        expires_in: float = int(knobs.ttl) if float(knobs.ttl).is_integer() else knobs.ttl
        issued_at = dt.datetime.fromtimestamp(issued, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        payload: dict[str, Any]
        if key_style == "gitlab":
            payload = {"token": token}
        elif key_style == "expires":
            payload = {"token": token, "expires_in": expires_in, "issued_at": issued_at}
        elif key_style == "access_token":
            payload = {"access_token": token, "expires_in": expires_in, "issued_at": issued_at}
        else:
            payload = {
                "token": token,
                "access_token": token,
                "expires_in": expires_in,
                "issued_at": issued_at,
            }
        payload.update(knobs.extra_fields)
        return payload

    # ---- request handling ------------------------------------------------------------------------------------

    def _handle(self, h: _Handler) -> None:
        with self._lock:
            knobs = _Knobs(**vars(self._knobs))
            knobs.extra_fields = dict(knobs.extra_fields)
            knobs.fail_headers = dict(knobs.fail_headers)
            knobs.tag_protection = dict(knobs.tag_protection)
        parts = urlsplit(h.path)
        query = {k: tuple(v) for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        auth_header = h.headers.get("Authorization")
        body = b""
        length = h.headers.get("Content-Length")
        if length is not None and length.isdigit() and int(length) <= MAX_BODY:
            body = h.rfile.read(int(length))
        elif length is not None:
            h.close_connection = True
        if knobs.delay > 0:
            self._stopping.wait(knobs.delay)
        try:
            reply = self._route(h.command, parts.path, query, auth_header, body, knobs)
        except Exception as exc:  # a rig bug must show up as a 500 the test can see, not a hung client
            reply = _json_reply(500, {"errors": [{"code": "RIG_ERROR", "message": repr(exc)}]})
        # Record *before* answering: once the client has the response, tests must see the record.
        scheme = auth_header.split(" ", 1)[0] if auth_header else None
        record = RecordedRequest(
            method=h.command,
            path=parts.path,
            query=query,
            authorization=auth_header is not None,
            auth_scheme=scheme,
            username=reply.username,
            status=reply.status,
            scopes=reply.scopes,
            granted=reply.granted,
            form=reply.form,
            time=time.time(),
        )
        with self._lock:
            self._records.append(record)
        h.send_response(reply.status)
        h.send_header("Content-Type", reply.content_type)
        if "Content-Length" not in reply.headers:
            h.send_header("Content-Length", str(len(reply.body)))
        h.send_header("Cache-Control", "no-store")
        for name, value in reply.headers.items():
            h.send_header(name, value)
        h.end_headers()
        if h.command != "HEAD":
            h.wfile.write(reply.body)
        h.wfile.flush()

    def _route(
        self,
        method: str,
        path: str,
        query: Mapping[str, tuple[str, ...]],
        auth_header: str | None,
        body: bytes,
        knobs: _Knobs,
    ) -> _Reply:
        username = _basic_username(auth_header)
        if knobs.fail_status is not None:
            reply = _json_reply(
                knobs.fail_status,
                {"errors": [{"code": "INJECTED", "message": f"injected failure {knobs.fail_status}"}]},
            )
            reply.headers.update(knobs.fail_headers)
            reply.username = username
            return reply
        if path == "/v2/" or path.startswith("/v2/"):
            return self._dependency_proxy(method, path, auth_header)
        if path != REALM_PATH:
            return _Reply(404, b"404 Not Found", "text/plain; charset=utf-8", username=username)
        if method in ("GET", "HEAD"):
            return self._get_token(query, auth_header, knobs)
        if method == "POST" and knobs.oauth_post:
            return self._post_token(body, knobs)
        return _Reply(404, b"404 Not Found", "text/plain; charset=utf-8", username=username)

    def _get_token(
        self, query: Mapping[str, tuple[str, ...]], auth_header: str | None, knobs: _Knobs
    ) -> _Reply:
        scopes = tuple(split_scopes(query.get("scope", ())))
        username = _basic_username(auth_header)
        services = query.get("service", ())
        service = services[0] if services else None
        if service not in (self.service, DEPENDENCY_PROXY_SERVICE):
            # JwtController: ``head :not_found`` for a service it does not know.
            return _Reply(404, b"", "text/plain; charset=utf-8", username=username, scopes=scopes)
        identity: Identity | None = None
        if auth_header is not None and auth_header.split(" ", 1)[0].lower() == "basic":
            creds = _basic_credentials(auth_header)
            identity = _authenticate(*creds) if creds is not None else None
            if identity is None:
                return _unauthorized_with(username, scopes)
        # Any other scheme (e.g. a Bearer header sent to the realm) is ignored: GitLab only parses Basic.
        if service == DEPENDENCY_PROXY_SERVICE:
            return self._dependency_proxy_token(identity, username, scopes, knobs)
        decision = container_registry_decision(identity, scopes)
        if decision.status != 200:
            return _json_reply(decision.status, decision.body, username=username, scopes=scopes)
        access = with_tag_meta(list(decision.access), identity, knobs.tag_protection)
        token, issued = self._sign(identity.subject if identity else "", access, knobs.ttl, knobs)
        reply = _json_reply(200, self._token_payload(knobs.response_style, token, issued, knobs))
        reply.username, reply.scopes, reply.granted = username, scopes, _granted_strings(access)
        return reply

    def _post_token(self, body: bytes, knobs: _Knobs) -> _Reply:
        form_lists = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
        form = {k: v[0] for k, v in form_lists.items()}
        shown = {k: ("<redacted>" if k in ("password", "refresh_token") else v) for k, v in form.items()}
        scopes = tuple(split_scopes(form_lists.get("scope", [])))
        grant_type = form.get("grant_type", "")
        if form.get("service") != self.service:
            return _json_reply(400, {"error": "invalid_request"}, form=shown, scopes=scopes)
        identity: Identity | None
        username: str | None = None
        if grant_type == "password":
            username = form.get("username")
            identity = _authenticate(username or "", form.get("password", ""))
        elif grant_type == "refresh_token":
            owner = REFRESH_TOKENS.get(form.get("refresh_token", ""))
            user = USERS.get(owner) if owner else None
            identity = Identity("personal_access_token", FULL_ABILITIES, user=user) if user else None
            username = owner
        else:
            return _json_reply(400, {"error": "unsupported_grant_type"}, form=shown, scopes=scopes)
        if identity is None:
            return _json_reply(
                401,
                {
                    "error": "invalid_grant",
                    "error_description": "incorrect username, password or refresh token",
                },
                form=shown,
                scopes=scopes,
                username=username,
            )
        access = with_tag_meta(grant(identity, scopes), identity, knobs.tag_protection)
        token, issued = self._sign(identity.subject, access, knobs.ttl, knobs)
        payload = self._token_payload("access_token", token, issued, knobs)
        payload["scope"] = " ".join(_granted_strings(access))
        refresh = identity.user.refresh_tokens if identity.user else ()
        if grant_type == "password" and form.get("access_type") == "offline" and refresh:
            payload["refresh_token"] = refresh[0]
        payload.update(knobs.extra_fields)
        return _json_reply(
            200, payload, form=shown, scopes=scopes, username=username, granted=_granted_strings(access)
        )

    # ---- the dependency proxy (GitLab's own host serves it) ----------------------------------------------

    def _dependency_proxy_token(
        self, identity: Identity | None, username: str | None, scopes: tuple[str, ...], knobs: _Knobs
    ) -> _Reply:
        decision = dependency_proxy_decision(identity)
        if decision.status != 200:
            return _json_reply(decision.status, decision.body, username=username, scopes=scopes)
        assert identity is not None  # only signed-in callers get a dependency-proxy token
        now = int(time.time() + knobs.clock_offset)
        claims: dict[str, Any] = {
            "jti": secrets.token_hex(16),
            "iat": now,
            "nbf": now - 5,
            "exp": now + math.ceil(knobs.ttl + knobs.exp_skew),
        }
        if identity.user is not None:
            claims["user_id"] = identity.user.user_id
        token = _hs256(claims, self._hmac_secret)
        reply = _json_reply(200, self._token_payload(knobs.response_style, token, now, knobs))
        reply.username, reply.scopes = username, scopes
        return reply

    def _dependency_proxy_challenge(self) -> _Reply:
        # DependencyProxy::Registry.authenticate_header: no scope, service "dependency_proxy".
        reply = _Reply(401, b"", "text/plain; charset=utf-8")
        reply.headers["WWW-Authenticate"] = (
            f'Bearer realm="{self.realm}",service="{DEPENDENCY_PROXY_SERVICE}"'
        )
        return reply

    def _dependency_proxy(self, method: str, path: str, auth_header: str | None) -> _Reply:
        """``/v2/`` and ``/v2/<group>/dependency_proxy/containers/<image>/{manifests,blobs}/<ref>``."""
        if method not in ("GET", "HEAD"):
            return _Reply(404, b"404 Not Found", "text/plain; charset=utf-8")
        claims = self._dependency_proxy_claims(auth_header)
        if claims is None:
            return self._dependency_proxy_challenge()
        if path == "/v2/":
            return _json_reply(200, {})
        marker = "/dependency_proxy/containers/"
        if marker not in path:
            return _Reply(404, b"404 Not Found", "text/plain; charset=utf-8")
        group, _, rest = path[len("/v2/") :].partition(marker)
        image, kind, reference = _split_image_path(rest)
        if group not in dependency_proxy_groups() or not image or kind is None:
            return _json_reply(404, {"message": "404 Group Not Found"} if image else {"message": "404"})
        if self.upstream_url is None:
            return _json_reply(503, {"message": "the rig's dependency proxy has no upstream registry"})
        # Docker Hub's normalisation: a one-word image is library/<image>.
        repo = image if "/" in image else f"library/{image}"
        return self._from_upstream(method, f"/v2/{repo}/{kind}/{reference}", repo)

    def _from_upstream(self, method: str, path: str, repo: str) -> _Reply:
        """Fetch from the rig's registry with a pull token, as GitLab's Workhorse fetches from Docker Hub."""
        import http.client

        assert self.upstream_url is not None
        parts = urlsplit(self.upstream_url)
        conn: http.client.HTTPConnection
        if parts.scheme == "https":
            conn = http.client.HTTPSConnection(parts.netloc, timeout=10, context=self.upstream_ssl)
        else:
            conn = http.client.HTTPConnection(parts.netloc, timeout=10)
        headers = {
            "Accept": ", ".join(_MANIFEST_TYPES),
            "Authorization": "Bearer " + self.mint("", _pull_access(repo)),
        }
        try:
            conn.request(method, path, headers=headers)
            response = conn.getresponse()
            body = response.read()
            reply = _Reply(response.status, body, response.getheader("Content-Type") or "application/json")
            for name in ("Docker-Content-Digest",):
                value = response.getheader(name)
                if value:
                    reply.headers[name] = value
            if method == "HEAD":
                reply.headers["Content-Length"] = response.getheader("Content-Length") or "0"
            return reply
        finally:
            conn.close()

    def _dependency_proxy_claims(self, auth_header: str | None) -> dict[str, Any] | None:
        if not auth_header or auth_header.split(" ", 1)[0].lower() != "bearer":
            return None
        claims = _hs256_verify(auth_header.split(" ", 1)[1].strip(), self._hmac_secret)
        if claims is None or not isinstance(claims.get("exp"), int) or claims["exp"] < time.time():
            return None
        return claims


def _split_image_path(rest: str) -> tuple[str, str | None, str]:
    """``alpine/manifests/3`` -> ("alpine", "manifests", "3"); ``kind`` None when neither part is there."""
    for kind in ("manifests", "blobs"):
        image, sep, reference = rest.rpartition(f"/{kind}/")
        if sep and image and reference:
            return image, kind, reference
    return rest, None, ""


_MANIFEST_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.docker.distribution.manifest.v2+json",
)


def _pull_access(repo: str) -> list[AccessEntry]:
    return [{"type": "repository", "name": repo, "actions": ["pull"]}]


def _hs256(claims: Mapping[str, Any], secret: bytes) -> str:
    """``JSONWebToken::HMACToken``: an HS256 JWT (GitLab's dependency-proxy tokens)."""
    header = {"typ": "JWT", "alg": "HS256"}
    signing_input = (
        b64url(json.dumps(header, separators=(",", ":")).encode())
        + "."
        + b64url(json.dumps(dict(claims), separators=(",", ":")).encode())
    )
    mac = hmac.new(secret, signing_input.encode("ascii"), "sha256").digest()
    return signing_input + "." + b64url(mac)


def _hs256_verify(token: str, secret: bytes) -> dict[str, Any] | None:
    parts = token.split(".")
    if len(parts) != 3:
        return None
    mac = hmac.new(secret, f"{parts[0]}.{parts[1]}".encode("ascii", "replace"), "sha256").digest()
    try:
        if not hmac.compare_digest(mac, b64url_decode(parts[2])):
            return None
        claims = json.loads(b64url_decode(parts[1]))
    except (ValueError, binascii.Error):
        return None
    return claims if isinstance(claims, dict) else None


def _unauthorized_with(username: str | None, scopes: tuple[str, ...]) -> _Reply:
    reply = _unauthorized()
    reply.username, reply.scopes = username, scopes
    return reply


def _basic_credentials(header: str | None) -> tuple[str, str] | None:
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, sep, password = decoded.partition(":")
    if not sep:
        return None
    return user, password


def _basic_username(header: str | None) -> str | None:
    creds = _basic_credentials(header)
    return creds[0] if creds else None


def _authenticate(username: str, password: str) -> Identity | None:
    """``Gitlab::Auth.find_for_git_client``; None where GitLab answers 401 "HTTP Basic: Access denied"."""
    try:
        return find_for_git_client(username, password)
    except Unauthorized:
        return None


# --------------------------------------------------------------------------------------------------------------
# Protected and immutable container tags in the token (issue #12; the registry side is rig/gitlabfront.py)
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TagProtection:
    """A project's container tag rules, as GitLab hands them to its registry inside the token.

    gitlab-org/gitlab ``app/services/auth/container_registry_authentication_service.rb`` (``access_metadata``,
    ``tag_deny_access_patterns``) and its EE override (``tag_immutable_patterns``): each repository entry of
    ``access`` gets ``meta: {"project_path": ..., "tag_deny_access_patterns": {"push": [...], "delete": [...]},
    "tag_immutable_patterns": [...]}``. Deny patterns are listed for every granted action among push/delete
    (``*`` counts as both), empty for administrators, absent for anonymous callers and when the project has no
    protection rules; immutable patterns apply to everyone whose grant includes push or delete. The rig has no
    roles, so ``push``/``delete`` are the patterns a non-admin identity may not push/delete.
    """

    push: tuple[str, ...] = ()
    delete: tuple[str, ...] = ()
    immutable: tuple[str, ...] = ()


def with_tag_meta(
    access: list[AccessEntry], identity: Identity | None, rules: Mapping[str, TagProtection]
) -> list[AccessEntry]:
    """``access`` with GitLab's ``meta`` added to repository entries of projects that have ``rules``."""
    out: list[AccessEntry] = []
    for entry in access:
        project = project_of(entry["name"]) if entry.get("type") == "repository" else None
        rule = rules.get(project) if project is not None else None
        if rule is None:
            out.append(entry)
            continue
        actions = set(entry["actions"])
        if "*" in actions:
            actions |= {"push", "delete"}
        meta: dict[str, Any] = {"project_path": project}
        user = identity.user if identity is not None else None
        if user is not None and (
            rule.push or rule.delete
        ):  # GitLab: no user (anonymous, deploy token), no list
            admin = user.admin
            meta["tag_deny_access_patterns"] = {
                action: [] if admin else list(getattr(rule, action))
                for action in ("push", "delete")
                if action in actions
            }
        if rule.immutable and actions & {"push", "delete"}:
            meta["tag_immutable_patterns"] = list(rule.immutable)
        out.append({**entry, "meta": meta})
    return out
