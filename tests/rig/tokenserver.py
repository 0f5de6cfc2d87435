"""A GitLab-flavoured Docker token server for the integration rig.

GitLab's ``/jwt/auth`` cannot run on the test machine, so this module imitates the parts of it that shape a
registry client (DESIGN.md §5, TESTING.md "The rig"):

* ``GET /jwt/auth?service=container_registry&scope=repository:NAME:ACTIONS[&scope=...]`` with optional HTTP
  Basic credentials (user password or personal access token, ``gitlab-ci-token`` + job token, deploy token),
  or none at all (anonymous).
* Scopes the caller may not have are **dropped silently**: the answer is still 200 with a token whose ``access``
  list simply lacks them (that is how GitLab makes "no such project" look exactly like "denied").
* Wrong credentials: 401 with GitLab's JSON error body. A failed login must never be retried by the client.
* Unknown or missing ``service``: **404 with an empty body**. GitLab's JwtController does ``head :not_found``
  when the service is not one it knows, so we do the same rather than invent a 400.
* ``POST /jwt/auth``: 404 (GitLab has no such route) unless the ``oauth_post`` knob enables the Docker OAuth2
  flavour (``grant_type=password`` / ``grant_type=refresh_token``).
* Tokens: RS256 JWTs signed with ``cryptography``, header carries ``x5c`` with the self-signed signing
  certificate, which the registry trusts through its ``rootcertbundle`` (``cert_file``).

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

# --------------------------------------------------------------------------------------------------------------
# Identity model (constants tests code against)
# --------------------------------------------------------------------------------------------------------------

SERVICE = "container_registry"
ISSUER = "gitlab-issuer"
REALM_PATH = "/jwt/auth"
#: Default host of the realm: another loopback address than the registry's, like GitLab's realm host.
REALM_HOST = "127.0.0.2"

ALICE = "alice"
ALICE_PASSWORD = "alice-password"
ALICE_PAT = "glpat-alice-token-0001"
ALICE_REFRESH_TOKEN = "refresh-alice-0001"
BOB = "bob"
BOB_PASSWORD = "bob-password"
ROOT = "root"
ROOT_PASSWORD = "root-password"
JOB_USER = "gitlab-ci-token"
JOB_TOKEN = "job-token-alice-0001"
DEPLOY_USER = "gitlab+deploy-token-1"
DEPLOY_TOKEN = "deploy-token-secret-0001"

PRIVATE_PROJECT = "group/project"
PRIVATE_SUB_PROJECT = "group/sub/project"
PUBLIC_PROJECT = "public/app"

#: Project path -> visibility. A repository belongs to the longest project path it equals or extends by "/".
PROJECTS: Mapping[str, Literal["private", "public"]] = {
    PRIVATE_PROJECT: "private",
    PRIVATE_SUB_PROJECT: "private",
    PUBLIC_PROJECT: "public",
}

ALL_REPOSITORY_ACTIONS: tuple[str, ...] = ("pull", "push", "delete")

AccountKind = Literal["user", "admin", "job", "deploy"]


@dataclass(frozen=True)
class Account:
    """One GitLab identity. ``secrets`` are the values accepted as the Basic password."""

    username: str
    secrets: tuple[str, ...]
    kind: AccountKind
    #: project path -> actions granted there (members, job token, deploy token)
    projects: tuple[tuple[str, tuple[str, ...]], ...] = ()
    refresh_tokens: tuple[str, ...] = ()

    @property
    def password(self) -> str:
        """The first accepted secret (the "password" tests normally use)."""
        return self.secrets[0]

    def allowed_actions(self, project: str) -> tuple[str, ...]:
        """Repository actions this identity gets on ``project`` (a known project path)."""
        if self.kind == "admin":
            return ALL_REPOSITORY_ACTIONS
        for path, actions in self.projects:
            if path == project:
                return actions
        # Public projects are pullable by any *user*; job and deploy tokens are confined to their project.
        if self.kind == "user" and PROJECTS.get(project) == "public":
            return ("pull",)
        return ()


ACCOUNTS: Mapping[str, Account] = {
    ALICE: Account(
        ALICE,
        (ALICE_PASSWORD, ALICE_PAT),
        "user",
        ((PRIVATE_PROJECT, ALL_REPOSITORY_ACTIONS), (PRIVATE_SUB_PROJECT, ALL_REPOSITORY_ACTIONS)),
        (ALICE_REFRESH_TOKEN,),
    ),
    BOB: Account(BOB, (BOB_PASSWORD,), "user"),
    ROOT: Account(ROOT, (ROOT_PASSWORD,), "admin"),
    JOB_USER: Account(JOB_USER, (JOB_TOKEN,), "job", ((PRIVATE_PROJECT, ("pull", "push")),)),
    DEPLOY_USER: Account(DEPLOY_USER, (DEPLOY_TOKEN,), "deploy", ((PRIVATE_PROJECT, ("pull",)),)),
}

#: Alias: some tests read better with USERS.
USERS = ACCOUNTS

REFRESH_TOKENS: Mapping[str, str] = {
    token: account.username for account in ACCOUNTS.values() for token in account.refresh_tokens
}

ACCESS_DENIED_MESSAGE = (
    "HTTP Basic: Access denied. If a password was provided for Git authentication, the password was incorrect "
    "or you're required to use a token instead of a password. If a token was provided, it was either incorrect, "
    "expired, or improperly scoped. See http://127.0.0.2/help/user/profile/account/two_factor_authentication"
    "#troubleshooting"
)

ResponseStyle = Literal["gitlab", "expires", "access_token", "both"]
RESPONSE_STYLES: tuple[str, ...] = ("gitlab", "expires", "access_token", "both")

AccessEntry = dict[str, Any]


def project_of(name: str) -> str | None:
    """The project a repository name belongs to: longest P with name == P or name startswith P + "/"."""
    best: str | None = None
    for path in PROJECTS:
        if (name == path or name.startswith(path + "/")) and (best is None or len(path) > len(best)):
            best = path
    return best


def parse_scope(scope: str) -> tuple[str, str, tuple[str, ...]] | None:
    """Split ``type:name:actions``; the name may itself contain ':' (e.g. a host:port prefix)."""
    first = scope.find(":")
    last = scope.rfind(":")
    if first <= 0 or last == first:
        return None
    kind, name, actions = scope[:first], scope[first + 1 : last], scope[last + 1 :]
    if not name:
        return None
    # "repository(plugin)" style type classes are accepted by Docker; GitLab ignores the class.
    kind = kind.split("(", 1)[0]
    acts = tuple(dict.fromkeys(a.strip() for a in actions.split(",") if a.strip()))
    return kind, name, acts


def grant(account: Account | None, scopes: Iterable[str]) -> list[AccessEntry]:
    """What GitLab would put in ``access`` for ``account`` (None = anonymous) asking for ``scopes``.

    Pure function so tests can compute expectations without a server. Requested actions keep their order;
    anything not allowed is dropped, and an entry left with no action disappears.
    """
    out: list[AccessEntry] = []
    for raw in scopes:
        parsed = parse_scope(raw)
        if parsed is None:
            continue
        kind, name, actions = parsed
        if kind == "registry":
            if name == "catalog" and account is not None and account.kind == "admin" and "*" in actions:
                out.append({"type": "registry", "name": "catalog", "actions": ["*"]})
            continue
        if kind != "repository":
            continue
        project = project_of(name)
        if project is None:
            continue
        if account is None:
            allowed: tuple[str, ...] = ("pull",) if PROJECTS[project] == "public" else ()
        else:
            allowed = account.allowed_actions(project)
        granted = [a for a in actions if a in allowed]
        if granted:
            out.append({"type": "repository", "name": name, "actions": granted})
    return out


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
        if not services or services[0] != self.service:
            return _Reply(404, b"", "text/plain; charset=utf-8", username=username, scopes=scopes)
        account: Account | None = None
        if auth_header is not None and auth_header.split(" ", 1)[0].lower() == "basic":
            creds = _basic_credentials(auth_header)
            account = _authenticate(*creds) if creds is not None else None
            if account is None:
                return _unauthorized_with(username, scopes)
        # Any other scheme (e.g. a Bearer header sent to the realm) is ignored: GitLab only parses Basic.
        access = grant(account, scopes)
        token, issued = self._sign(account.username if account else "", access, knobs.ttl, knobs)
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
        account: Account | None
        username: str | None = None
        if grant_type == "password":
            username = form.get("username")
            account = _authenticate(username or "", form.get("password", ""))
        elif grant_type == "refresh_token":
            owner = REFRESH_TOKENS.get(form.get("refresh_token", ""))
            account = ACCOUNTS.get(owner) if owner else None
            username = owner
        else:
            return _json_reply(400, {"error": "unsupported_grant_type"}, form=shown, scopes=scopes)
        if account is None:
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
        access = grant(account, scopes)
        token, issued = self._sign(account.username, access, knobs.ttl, knobs)
        payload = self._token_payload("access_token", token, issued, knobs)
        payload["scope"] = " ".join(_granted_strings(access))
        if grant_type == "password" and form.get("access_type") == "offline" and account.refresh_tokens:
            payload["refresh_token"] = account.refresh_tokens[0]
        payload.update(knobs.extra_fields)
        return _json_reply(
            200, payload, form=shown, scopes=scopes, username=username, granted=_granted_strings(access)
        )


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


def _authenticate(username: str, password: str) -> Account | None:
    """Constant-time check of ``password`` against every secret of ``username``."""
    account = ACCOUNTS.get(username)
    if account is None or not password:
        return None
    ok = False
    for secret in account.secrets:
        ok |= hmac.compare_digest(secret.encode(), password.encode())
    return account if ok else None
