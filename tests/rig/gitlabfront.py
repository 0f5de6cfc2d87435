"""A GitLab container-registry front in front of the real distribution 2.8 (issue #12).

GitLab's registry (gitlab-org/container-registry, a fork of distribution) cannot run on the test machine, so this
front sits between the client and ``docker-registry`` 2.8 and adds what GitLab's registry does differently.
Everything else (manifests, blobs, uploads, auth challenges, token verification) is the real distribution's.
Read from gitlab-org/container-registry at v4.32.0 (mirror tigrisdata/container-registry, commit
27b04ab33a032281a5b3716a72f48e44afb9ca20):

* **Protected and immutable tags** (``registry/handlers/manifests.go``: ``validateTagPushRestriction``,
  ``validateTagDeleteRestriction``, ``validateManifestDeleteRestriction``, ``dbTagManifest``; error codes in
  ``registry/api/v2/errors.go``). GitLab's Rails puts the patterns into the token's access entries
  (``meta.tag_deny_access_patterns.{push,delete}``, ``meta.tag_immutable_patterns``:
  ``registry/auth/token/token.go``); the registry answers **401 without ``WWW-Authenticate``** and
  ``{"errors":[{"code":"PROTECTED_TAG"|"IMMUTABLE_TAG"|"PROTECTED_MANIFEST",...}]}``. Push onto a tag matching
  a deny-push pattern: ``PROTECTED_TAG``; push onto an *existing* tag matching an immutable pattern (a new tag
  may be created, registry 4.22): ``IMMUTABLE_TAG``; tag delete matching a deny-delete pattern
  (``PROTECTED_TAG``) or an immutable one (``IMMUTABLE_TAG``); any delete by digest while the token carries
  deny-delete or immutable patterns: ``PROTECTED_MANIFEST``. More than 5 patterns: 400
  ``TAG_PATTERN_COUNT_LIMIT_EXCEEDED``. Patterns are RE2, matched unanchored (Python ``re.search``).
* **OCI tag delete** ``DELETE /v2/<name>/manifests/<tag>`` (registry 3.80 / GitLab 16.4): removes only that tag,
  done here on the registry's filesystem storage (``_manifests/tags/<tag>``, what distribution's ``Untag``
  removes); with ``version`` below 3.80 it is distribution's own answer (400). ``DELETE /v2/<name>/tags/reference/<tag>``, GitLab's older single-tag delete (2.8-gitlab, removed
  in 4.0), is served while ``version`` is below 4.
* **``GET /v2/``** answers ``Gitlab-Container-Registry-Version``, ``Gitlab-Container-Registry-Features:
  tag_delete`` (``version/version.go``, ``ExtFeatures``) and ``Gitlab-Container-Registry-Database-Enabled``
  (``registry/handlers/app.go``, ``distributionAPIBase``).
* **``GET /gitlab/v1/repositories/<path>/tags/list/``** (``docs/spec/gitlab/api.md``, "List Repository
  Tags"; ``registry/handlers/repositories.go``, ``HandleGetTags``; ``registry/handlers/catalog.go``,
  ``createLinkEntry``): ``n`` 1-1000 (default 100; 400 ``INVALID_QUERY_PARAMETER_TYPE``/``_VALUE``),
  ``last``/``before`` markers (mutually exclusive; base64 ``TIMESTAMP|TAG`` when sorting by ``published_at``),
  ``name`` (partial match) / ``name_exact``, ``sort`` ``name``/``published_at`` with ``-`` for descending, a
  *relative* ``Link`` with ``rel="previous"``/``rel="next"``, per tag ``name``, ``digest``, ``config_digest``,
  ``media_type``, ``size_bytes``, ``created_at``, ``updated_at``, ``published_at`` (ISO 8601, milliseconds, Z).
  Strict slash: 301 to the path with ``/``. With the metadata database off (``database=False``) every
  ``/gitlab/v1`` route answers 404 with an empty body (``dbAssertionhandler``). Authorization is the real
  registry's: the front asks distribution for ``/v2/<path>/tags/list`` with the client's header first and
  relays its 401 challenge (scope ``repository:<path>:pull``) or its 404 ``NAME_UNKNOWN``.
* **Rate limiting** with a fractional ``Retry-After`` written with ``%f`` (``1.500000``): the ``throttle``
  knob answers the next N requests with 429 ``TOOMANYREQUESTS``.

Not modelled (written down, not faked): the database itself (dates are the front's own records of pushes made
through it, falling back to the tag link's mtime; ``size_bytes`` is config + layers, summed over the children
of an index); referrers in the tags list; the other ``/gitlab/v1`` routes (404).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import datetime as dt
import http.client
import json
import re
import shutil
import ssl
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from .registry import RegistryProcess, free_port
from .tokenserver import TokenServer, decode_jwt

__all__ = ["DEFAULT_VERSION", "FrontRequest", "GitLabFront", "TagTimes"]

DEFAULT_VERSION = "4.32.0-gitlab"
TAG_PATTERN_MAX_COUNT = 5  # manifests.go, tagPatternMaxCount
TAG_PATTERN_MAX_LEN = 100  # manifests.go, tagPatternMaxLen
N_DEFAULT, N_MIN, N_MAX = 100, 1, 1000  # repositories.go
MAX_BODY = 64 * 1024 * 1024
_TAG_RE = re.compile(r"^[\w][\w.-]{0,127}$")  # distribution reference.TagRegexp
_NAME_FILTER_RE = re.compile(r"^[a-zA-Z0-9._-]{1,128}$")  # repositories.go, tagNameQueryParamPattern
_TIMESTAMP_RE = re.compile(r"^\d{1,}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")  # timestampRegexParam
_MANIFEST_PATH = re.compile(r"^/v2/(?P<name>.+)/manifests/(?P<ref>[^/]+)$")
_TAG_REFERENCE_PATH = re.compile(r"^/v2/(?P<name>.+)/tags/reference/(?P<tag>[^/]+)$")
_V1_TAGS_PATH = re.compile(r"^/gitlab/v1/repositories/(?P<name>.+)/tags/list/?$")
_HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade"}
)
_OWN_HEADERS = frozenset({"date", "server"})  # the front's http.server writes its own
_SORTS = ("-name", "name", "-published_at", "published_at")  # sortQueryParamValidValues

# registry/api/v2/errors.go and registry/api/gitlab/v1/errors.go: code -> (message, status)
_ERRORS: Mapping[str, tuple[str, int]] = {
    "PROTECTED_TAG": ("insufficient permissions to push or delete protected tag", 401),
    "IMMUTABLE_TAG": ("tag is immutable", 401),
    "PROTECTED_MANIFEST": (
        "insufficient permissions to delete manifest due to tag protection or immutability policies",
        401,
    ),
    "TAG_PATTERN_COUNT_LIMIT_EXCEEDED": (
        "tag protection and immutability patterns count limit exceeded",
        400,
    ),
    "TAG_PROTECTION_PATTERN_INVALID": ("invalid tag protection pattern", 400),
    "TAG_IMMUTABILITY_PATTERN_INVALID": ("invalid tag immutability pattern", 400),
    "UNSUPPORTED": ("The operation is unsupported.", 405),
    "NAME_UNKNOWN": ("repository name not known to registry", 404),
    "MANIFEST_UNKNOWN": ("manifest unknown", 404),
    "INVALID_QUERY_PARAMETER_VALUE": ("invalid query parameter value", 400),
    "INVALID_QUERY_PARAMETER_TYPE": ("invalid query parameter value type", 400),
    "TOOMANYREQUESTS": ("too many requests", 429),
}


@dataclass(frozen=True)
class FrontRequest:
    """One request the front answered (no header values kept: tests may print it)."""

    method: str
    path: str
    query: str
    status: int
    authorization: bool


@dataclass
class TagTimes:
    """A tag's dates as GitLab's database keeps them (``created_at``; ``updated_at`` once moved)."""

    created: dt.datetime
    updated: dt.datetime | None = None

    @property
    def published(self) -> dt.datetime:
        return self.updated or self.created


@dataclass
class _Knobs:
    version: str = DEFAULT_VERSION
    features: str = "tag_delete"
    database: bool = True
    throttle: int = 0
    retry_after: float = 1.5


@dataclass
class _Reply:
    status: int
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)


def _error(code: str, detail: Any = None, status: int | None = None) -> _Reply:
    message, default_status = _ERRORS[code]
    item: dict[str, Any] = {"code": code, "message": message}
    if detail is not None:
        item["detail"] = detail
    body = (json.dumps({"errors": [item]}) + "\n").encode()
    return _Reply(status or default_status, body, [("Content-Type", "application/json")])


def _ms(when: dt.datetime) -> str:
    """``2006-01-02T15:04:05.000Z`` (repositories.go, timeToString)."""
    when = when.astimezone(dt.timezone.utc)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def _us(when: dt.datetime) -> str:
    """``2006-01-02T15:04:05.000000Z`` (repositories.go, timeToStringMicroPrecision): pagination markers."""
    return when.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    owner: GitLabFront

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients hanging up mid-request are normal in fault tests."""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "gitlab-front"
    sys_version = ""
    timeout = 30
    server: _Server
    upstream: http.client.HTTPConnection | None = None

    def setup(self) -> None:
        super().setup()
        if isinstance(self.connection, ssl.SSLSocket):
            self.connection.do_handshake()  # in this connection's thread, never in accept()

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            if self.upstream is not None:
                self.upstream.close()

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the stderr access log; ``GitLabFront.requests`` replaces it."""

    def do_GET(self) -> None:
        self.server.owner._handle(self)

    do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_GET


class GitLabFront:
    """The front: ``start()`` listens on 127.0.0.1 (a fresh port, kept across restarts) and forwards to
    ``upstream``. Knobs (thread-safe, restored by ``reset()``): ``version``, ``features``, ``database``,
    ``throttle(n, retry_after)``; ``set_tag_times`` fixes a tag's dates for sorting tests."""

    def __init__(
        self,
        upstream: RegistryProcess,
        token_server: TokenServer,
        *,
        host: str = "127.0.0.1",
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        if not host.startswith("127."):
            raise ValueError("the rig only ever listens on loopback addresses")
        self.upstream = upstream
        self.token_server = token_server
        self.host = host
        self.port = 0
        self._ssl_context = ssl_context
        self._lock = threading.Lock()
        self._knobs = _Knobs()
        self._times: dict[tuple[str, str], TagTimes] = {}
        self._synthetic: dict[str, tuple[int, str, dt.datetime]] = {}
        self._records: list[FrontRequest] = []
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # ---- lifecycle -------------------------------------------------------------------------------------------

    @property
    def scheme(self) -> str:
        return "https" if self._ssl_context is not None else "http"

    @property
    def netloc(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.netloc}"

    @property
    def running(self) -> bool:
        return self._server is not None

    def start(self) -> GitLabFront:
        if self._server is not None:
            return self
        if self.port == 0:
            self.port = free_port(self.host)
        server = _Server((self.host, self.port), _Handler)
        server.owner = self
        if self._ssl_context is not None:
            server.socket = self._ssl_context.wrap_socket(
                server.socket, server_side=True, do_handshake_on_connect=False
            )
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"gitlabfront-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if thread is not None:
            thread.join(timeout=5)
        self._server = None
        self._thread = None

    # ---- knobs -----------------------------------------------------------------------------------------------

    def configure(
        self, *, version: str | None = None, features: str | None = None, database: bool | None = None
    ) -> None:
        """``version`` (``Gitlab-Container-Registry-Version``; below 4 also serves ``tags/reference``),
        ``features`` (the features header; ``""`` sends none), ``database`` (False: ``/gitlab/v1`` is 404)."""
        with self._lock:
            if version is not None:
                self._knobs.version = version
            if features is not None:
                self._knobs.features = features
            if database is not None:
                self._knobs.database = database

    def throttle(self, count: int, retry_after: float = 1.5) -> None:
        """Answer the next ``count`` requests with 429 and ``Retry-After`` written ``%f`` (``1.500000``)."""
        with self._lock:
            self._knobs.throttle = count
            self._knobs.retry_after = retry_after

    def set_tag_times(
        self, repo: str, tag: str, created: dt.datetime, updated: dt.datetime | None = None
    ) -> None:
        """Fix ``repo:tag``'s ``created_at``/``updated_at`` (as the metadata database would hold them)."""
        with self._lock:
            self._times[(repo, tag)] = TagTimes(created, updated)

    def synthesize_tags(self, repo: str, count: int, digest: str, published: dt.datetime) -> None:
        """Serve ``repo``'s ``/gitlab/v1`` listing as ``count`` generated tags ``s0000000``, ``s0000001``, ...
        on ``digest``, published ``published`` minus one minute per tag: a large listing (LD: 100,000 tags)
        without 100,000 pushes. Authorization still comes from the real registry (the repository must exist);
        only the name order (``sort`` unset) is served. Data, like tag dates: ``reset()`` keeps it."""
        with self._lock:
            self._synthetic[repo] = (count, digest, published)

    def reset(self) -> None:
        """Default knobs, no recorded requests (tag dates are data, they stay)."""
        with self._lock:
            self._knobs = _Knobs()
            self._records.clear()

    def clear_requests(self) -> None:
        with self._lock:
            self._records.clear()

    @property
    def requests(self) -> list[FrontRequest]:
        with self._lock:
            return list(self._records)

    def count(self, method: str | None = None, path_regex: str | None = None) -> int:
        """Requests answered, optionally only ``method`` and paths (with query) matching ``path_regex``."""
        pattern = re.compile(path_regex) if path_regex else None
        return sum(
            1
            for r in self.requests
            if (method is None or r.method == method)
            and (pattern is None or pattern.search(r.path + ("?" + r.query if r.query else "")))
        )

    # ---- storage (the rig owns the registry's filesystem) ----------------------------------------------------

    def _repo_dir(self, name: str) -> Path:
        return self.upstream.storage_dir / "docker" / "registry" / "v2" / "repositories" / name

    def _tag_link(self, name: str, tag: str) -> Path:
        return self._repo_dir(name) / "_manifests" / "tags" / tag / "current" / "link"

    def _tag_digest(self, name: str, tag: str) -> str | None:
        try:
            return self._tag_link(name, tag).read_text(encoding="ascii").strip() or None
        except OSError:
            return None

    def _blob(self, digest: str) -> bytes | None:
        algorithm, _, hexa = digest.partition(":")
        if not re.fullmatch(r"[a-f0-9]{64}", hexa) or algorithm != "sha256":
            return None
        path = self.upstream.storage_dir / "docker/registry/v2/blobs/sha256" / hexa[:2] / hexa / "data"
        try:
            return path.read_bytes()
        except OSError:
            return None

    def _times_of(self, name: str, tag: str) -> TagTimes:
        with self._lock:
            known = self._times.get((name, tag))
        if known is not None:
            return known
        try:
            mtime = self._tag_link(name, tag).stat().st_mtime
        except OSError:
            mtime = time.time()
        return TagTimes(dt.datetime.fromtimestamp(mtime, dt.timezone.utc))

    # ---- request handling ------------------------------------------------------------------------------------

    def _handle(self, h: _Handler) -> None:
        parts = urlsplit(h.path)
        body = self._read_body(h)
        if body is None:
            reply = _Reply(400, b"bad request body\n", [("Content-Type", "text/plain")])
            h.close_connection = True
        else:
            try:
                reply = self._route(h, parts.path, parts.query, body)
            except Exception as exc:  # a rig bug must show as a 500 the test can see, not a hung client
                reply = _Reply(
                    500, json.dumps({"errors": [{"code": "RIG_ERROR", "message": repr(exc)}]}).encode()
                )
        with self._lock:
            self._records.append(
                FrontRequest(h.command, parts.path, parts.query, reply.status, "Authorization" in h.headers)
            )
        h.send_response(reply.status)
        names = {k.lower() for k, _ in reply.headers}
        for name, value in reply.headers:
            h.send_header(name, value)
        if "content-length" not in names:
            h.send_header("Content-Length", str(len(reply.body)))
        h.end_headers()
        if h.command != "HEAD" and reply.body:
            h.wfile.write(reply.body)
        h.wfile.flush()

    @staticmethod
    def _read_body(h: _Handler) -> bytes | None:
        if h.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks: list[bytes] = []
            total = 0
            while True:
                line = h.rfile.readline(1024)
                try:
                    size = int(line.split(b";", 1)[0].strip(), 16)
                except ValueError:
                    return None
                if size == 0:
                    while h.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                total += size
                if total > MAX_BODY:
                    return None
                chunks.append(h.rfile.read(size))
                h.rfile.readline(1024)
        length = h.headers.get("Content-Length")
        if length is None:
            return b""
        if not length.isdigit() or int(length) > MAX_BODY:
            return None
        return h.rfile.read(int(length))

    def _route(self, h: _Handler, path: str, query: str, body: bytes) -> _Reply:
        with self._lock:
            knobs = _Knobs(**vars(self._knobs))
            if self._knobs.throttle > 0:
                self._knobs.throttle -= 1
        if knobs.throttle > 0:
            reply = _error("TOOMANYREQUESTS")
            reply.headers.append(("Retry-After", f"{knobs.retry_after:f}"))  # GitLab writes %f: 1.500000
            return reply
        method = h.command
        if path.startswith("/gitlab/v1"):
            return self._gitlab_v1(h, path, query, knobs)
        if path == "/v2/" and method in ("GET", "HEAD"):
            reply = self._forward(h, body)
            if reply.status == 200:
                reply.headers.append(("Gitlab-Container-Registry-Version", knobs.version))
                if knobs.features:
                    reply.headers.append(("Gitlab-Container-Registry-Features", knobs.features))
                reply.headers.append(
                    ("Gitlab-Container-Registry-Database-Enabled", str(knobs.database).lower())
                )
            return reply
        if match := _TAG_REFERENCE_PATH.match(path):
            if method != "DELETE" or _major(knobs.version) >= 4:
                return _Reply(404, b"404 page not found\n", [("Content-Type", "text/plain; charset=utf-8")])
            return self._delete_tag(h, match["name"], match["tag"], body)
        match = _MANIFEST_PATH.match(path)
        if match is None:
            return self._forward(h, body)
        name, ref = match["name"], match["ref"]
        is_digest = ":" in ref
        if method == "PUT" and not is_digest:
            return self._put_tag(h, name, ref, body)
        if method == "DELETE":
            if is_digest:
                return self._delete_digest(h, name, body)
            if _version(knobs.version) < (3, 80):
                return self._forward(h, body)  # before 3.80 a tag delete here is distribution's 400
            return self._delete_tag(h, name, ref, body)
        return self._forward(h, body)

    # ---- forwarding ------------------------------------------------------------------------------------------

    def _forward(
        self, h: _Handler, body: bytes, *, method: str | None = None, path: str | None = None
    ) -> _Reply:
        headers = {
            k: v
            for k, v in h.headers.items()
            if k.lower() not in _HOP_BY_HOP and k.lower() != "content-length"
        }
        # Host stays the client's: distribution builds upload Locations from it, so they point at the front.
        method = method or h.command
        send_body = body if method in ("PUT", "POST", "PATCH") or body else None
        if send_body is not None:
            headers["Content-Length"] = str(len(send_body))
        target = path or h.path
        for attempt in range(2):
            conn = h.upstream
            if conn is None:
                conn = h.upstream = http.client.HTTPConnection(
                    self.upstream.host, self.upstream.port, timeout=30
                )
            try:
                conn.request(method, target, body=send_body, headers=headers)
                response = conn.getresponse()
                data = response.read()
                break
            except (OSError, http.client.HTTPException):
                conn.close()
                h.upstream = None
                if attempt:
                    return _Reply(502, b"upstream unreachable\n", [("Content-Type", "text/plain")])
        out = [(k, v) for k, v in response.getheaders() if k.lower() not in _HOP_BY_HOP | _OWN_HEADERS]
        if method == "HEAD":
            return _Reply(response.status, b"", out)
        out = [(k, v) for k, v in out if k.lower() != "content-length"]
        return _Reply(response.status, data, out)

    # ---- tokens ----------------------------------------------------------------------------------------------

    def _claims(self, h: _Handler) -> dict[str, Any] | None:
        """The claims of a Bearer token the registry would accept (signature, issuer, audience, 60 s leeway)."""
        scheme, _, token = (h.headers.get("Authorization") or "").partition(" ")
        if scheme.lower() != "bearer" or token.count(".") != 2:
            return None
        ts = self.token_server
        try:
            _, claims = decode_jwt(token.strip(), verify_with=ts.signing_cert)
        except Exception:
            return None
        now = time.time()
        aud = claims.get("aud")
        audiences = aud if isinstance(aud, list) else [aud]
        if claims.get("iss") != ts.issuer or ts.service not in audiences:
            return None
        if not isinstance(claims.get("exp"), int) or now > claims["exp"] + 60:
            return None
        if isinstance(claims.get("nbf"), int) and now < claims["nbf"] - 60:
            return None
        return claims

    @staticmethod
    def _access(claims: Mapping[str, Any], name: str) -> tuple[set[str], dict[str, Any]]:
        """Actions granted on repository ``name`` and the ``meta`` of its entry (last one wins, as in Go)."""
        actions: set[str] = set()
        meta: dict[str, Any] = {}
        for entry in claims.get("access") or []:
            if isinstance(entry, dict) and entry.get("type") == "repository" and entry.get("name") == name:
                actions.update(a for a in entry.get("actions") or [] if isinstance(a, str))
                if isinstance(entry.get("meta"), dict):
                    meta = entry["meta"]
        if "*" in actions:
            actions.update(("pull", "push", "delete"))
        return actions, meta

    @staticmethod
    def _patterns(meta: Mapping[str, Any], action: str) -> tuple[list[str], list[str]]:
        deny = meta.get("tag_deny_access_patterns")
        denied = [p for p in (deny.get(action) or []) if isinstance(p, str)] if isinstance(deny, dict) else []
        immutable = [p for p in meta.get("tag_immutable_patterns") or [] if isinstance(p, str)]
        return denied, immutable

    # ---- manifests: protection, tag delete -------------------------------------------------------------------

    def _put_tag(self, h: _Handler, name: str, tag: str, body: bytes) -> _Reply:
        claims = self._claims(h)
        actions, meta = self._access(claims, name) if claims else (set(), {})
        if "push" in actions:
            denied, immutable = self._patterns(meta, "push")
            if len(denied) + len(immutable) > TAG_PATTERN_MAX_COUNT:
                return _error(
                    "TAG_PATTERN_COUNT_LIMIT_EXCEEDED", f"tag pattern count exceeds {TAG_PATTERN_MAX_COUNT}"
                )
            refused = _match(tag, denied, "PROTECTED_TAG", "TAG_PROTECTION_PATTERN_INVALID", "protected")
            if refused is not None:
                return refused
            # Immutability only for a tag that exists: a new tag may be created (registry 4.22, dbTagManifest).
            if self._tag_digest(name, tag) is not None:
                refused = _match(
                    tag, immutable, "IMMUTABLE_TAG", "TAG_IMMUTABILITY_PATTERN_INVALID", "immutable"
                )
                if refused is not None:
                    return refused
        before = self._tag_digest(name, tag)
        reply = self._forward(h, body)
        if reply.status == 201:
            now = dt.datetime.now(dt.timezone.utc)
            after = self._tag_digest(name, tag)
            with self._lock:
                known = self._times.get((name, tag))
                if known is None or before is None:
                    self._times[(name, tag)] = TagTimes(now)
                elif before != after:
                    known.updated = now  # "an update happens when a tag is switched to a different manifest"
        return reply

    def _delete_allowed(self, h: _Handler, name: str, body: bytes) -> tuple[_Reply | None, dict[str, Any]]:
        """Authorization as the real registry decides it (relayed), then "deletes enabled"."""
        claims = self._claims(h)
        actions, meta = self._access(claims, name) if claims else (set(), {})
        if "delete" not in actions:
            # The real registry answers the challenge (401, scope repository:NAME:delete).
            return self._forward(
                h, body, method="DELETE", path=f"/v2/{name}/manifests/sha256:{'0' * 64}"
            ), meta
        if not self.upstream.delete_enabled:
            return _error("UNSUPPORTED"), meta
        return None, meta

    def _delete_tag(self, h: _Handler, name: str, tag: str, body: bytes) -> _Reply:
        refused, meta = self._delete_allowed(h, name, body)
        if refused is not None:
            return refused
        denied, immutable = self._patterns(meta, "delete")
        if len(denied) + len(immutable) > TAG_PATTERN_MAX_COUNT:
            return _error(
                "TAG_PATTERN_COUNT_LIMIT_EXCEEDED", f"tag pattern count exceeds {TAG_PATTERN_MAX_COUNT}"
            )
        for patterns, code, invalid, word in (
            (denied, "PROTECTED_TAG", "TAG_PROTECTION_PATTERN_INVALID", "protected"),
            (immutable, "IMMUTABLE_TAG", "TAG_IMMUTABILITY_PATTERN_INVALID", "immutable"),
        ):
            refused = _match(tag, patterns, code, invalid, word)
            if refused is not None:
                return refused
        if not self._repo_dir(name).is_dir():
            return _error("NAME_UNKNOWN")
        tag_dir = self._repo_dir(name) / "_manifests" / "tags" / tag
        if not _TAG_RE.match(tag) or self._tag_digest(name, tag) is None:
            return _error("MANIFEST_UNKNOWN")
        shutil.rmtree(tag_dir, ignore_errors=True)  # what distribution's tagStore.Untag deletes
        with self._lock:
            self._times.pop((name, tag), None)
        return _Reply(202, b"", [("Content-Length", "0")])

    def _delete_digest(self, h: _Handler, name: str, body: bytes) -> _Reply:
        refused, meta = self._delete_allowed(h, name, body)
        if refused is not None:
            return refused
        denied, immutable = self._patterns(meta, "delete")
        if denied or immutable:
            return _error("PROTECTED_MANIFEST")
        return self._forward(h, body)

    # ---- /gitlab/v1 ------------------------------------------------------------------------------------------

    def _gitlab_v1(self, h: _Handler, path: str, query: str, knobs: _Knobs) -> _Reply:
        version = ("Gitlab-Container-Registry-Version", knobs.version)
        match = _V1_TAGS_PATH.match(path)
        if match is None or h.command not in ("GET", "HEAD"):
            return _Reply(
                404, b"404 page not found\n", [("Content-Type", "text/plain; charset=utf-8"), version]
            )
        if not path.endswith("/"):
            location = path + "/" + (f"?{query}" if query else "")
            return _Reply(301, b"", [("Location", location)])
        name = match["name"]
        # Authorization by the real registry: pull on NAME, or its challenge / NAME_UNKNOWN, relayed.
        upstream = self._forward(h, b"", method="GET", path=f"/v2/{name}/tags/list")
        if upstream.status in (401, 403):
            return upstream
        if not knobs.database:
            return _Reply(404, b"", [version])  # dbAssertionhandler: no body
        if upstream.status != 200:
            return upstream
        with self._lock:
            synthetic = self._synthetic.get(name)
        if synthetic is not None:
            return self._synthetic_page(path, synthetic, parse_qs(query, keep_blank_values=True))
        try:
            listed = json.loads(upstream.body).get("tags") or []
        except (ValueError, AttributeError):
            listed = []
        params = parse_qs(query, keep_blank_values=True)
        return self._tags_page(path, name, [t for t in listed if isinstance(t, str)], params)

    def _tags_page(
        self, path: str, name: str, listed: Sequence[str], params: Mapping[str, list[str]]
    ) -> _Reply:
        get = {k: v[0] for k, v in params.items()}
        n = N_DEFAULT
        if "n" in get:
            if not re.fullmatch(r"[+-]?\d{1,18}", get["n"]):
                return _error(
                    "INVALID_QUERY_PARAMETER_TYPE", "the 'n' query parameter value type must be one of: int"
                )
            n = int(get["n"])
            if not N_MIN <= n <= N_MAX:
                return _error(
                    "INVALID_QUERY_PARAMETER_VALUE",
                    f"the 'n' query parameter value must be between {N_MIN} and {N_MAX}",
                )
        if "last" in get and "before" in get:
            return _error("INVALID_QUERY_PARAMETER_VALUE", "keys: [last before] are mutually exclusive")
        markers: dict[str, tuple[str | None, str]] = {}
        for key in ("before", "last"):
            if key in get:
                published, tag = _decode_marker(get[key])
                if not _TAG_RE.match(tag):
                    return _error(
                        "INVALID_QUERY_PARAMETER_VALUE",
                        f"the '{key}' query parameter value must match the pattern '{_TAG_RE.pattern}'",
                    )
                markers[key] = (published, tag)
        if "name" in get and "name_exact" in get:
            return _error("INVALID_QUERY_PARAMETER_VALUE", "keys: [name name_exact] are mutually exclusive")
        name_filter = get.get("name", "")
        if name_filter and not _NAME_FILTER_RE.match(name_filter):
            return _error(
                "INVALID_QUERY_PARAMETER_VALUE",
                f"the 'name' query parameter value must match the pattern '{_NAME_FILTER_RE.pattern}'",
            )
        exact = get.get("name_exact", "")
        if exact and not _TAG_RE.match(exact):
            return _error(
                "INVALID_QUERY_PARAMETER_VALUE",
                f"the 'name_exact' query parameter value must match the pattern '{_TAG_RE.pattern}'",
            )
        sort = get.get("sort", "").strip().lower()
        if sort and sort not in _SORTS:
            return _error(
                "INVALID_QUERY_PARAMETER_VALUE",
                f"the 'sort' query parameter must be set to one of: {', '.join(_SORTS)}",
            )
        by_published = sort.lstrip("-") == "published_at"
        descending = sort.startswith("-")
        tags = [t for t in listed if (not exact or t == exact) and (not name_filter or name_filter in t)]
        rows = [self._detail(name, t) for t in tags]
        rows = [r for r in rows if r is not None]

        def key(row: Mapping[str, Any]) -> tuple[str, str]:
            return (row["_published_us"], row["name"]) if by_published else ("", row["name"])

        def marker_key(marker: tuple[str | None, str]) -> tuple[str, str]:
            published, tag = marker
            if not by_published:
                return ("", tag)
            if published is None:  # a bare tag name: its own date, if known
                found = next((r for r in rows if r["name"] == tag), None)
                published = found["_published_us"] if found else ""
            return (published, tag)

        rows.sort(key=key, reverse=descending)
        if exact:
            page, more_after, more_before = rows[:1], False, False
        else:

            def beyond(a: tuple[str, str], b: tuple[str, str]) -> bool:  # a comes after b in this order
                return a < b if descending else a > b

            if "last" in markers:
                mk = marker_key(markers["last"])
                candidates = [r for r in rows if beyond(key(r), mk)]
                page = candidates[:n]
            elif "before" in markers:
                mk = marker_key(markers["before"])
                candidates = [r for r in rows if beyond(mk, key(r))]
                page = candidates[-n:]
            else:
                page = rows[:n]
            more_after = bool(page) and any(beyond(key(r), key(page[-1])) for r in rows)
            more_before = bool(page) and any(beyond(key(page[0]), key(r)) for r in rows)
        links = []
        if page and more_before:
            links.append(_link(path, "previous", "before", page[0], n, name_filter, sort, by_published))
        if page and more_after:
            links.append(_link(path, "next", "last", page[-1], n, name_filter, sort, by_published))
        headers = [("Content-Type", "application/json")]
        if links:
            headers.append(("Link", ", ".join(links)))
        public = [{k: v for k, v in r.items() if not k.startswith("_")} for r in page]
        return _Reply(200, (json.dumps(public) + "\n").encode(), headers)

    @staticmethod
    def _synthetic_page(
        path: str, synthetic: tuple[int, str, dt.datetime], params: Mapping[str, list[str]]
    ) -> _Reply:
        """One page of a :meth:`synthesize_tags` listing, generated (name order, ``n`` and ``last`` only)."""
        count, digest, published = synthetic
        get = {k: v[0] for k, v in params.items()}
        n = max(N_MIN, min(N_MAX, int(get.get("n", N_DEFAULT))))
        last = get.get("last")
        start = 0 if last is None else int(last[1:]) + 1 if re.fullmatch(r"s\d{7}", last) else count
        rows = []
        for index in range(start, min(count, start + n)):
            when = _ms(published - dt.timedelta(minutes=index))
            rows.append(
                {
                    "name": f"s{index:07d}",
                    "digest": digest,
                    "media_type": "application/vnd.oci.image.manifest.v1+json",
                    "size_bytes": 1234,
                    "created_at": when,
                    "published_at": when,
                }
            )
        headers = [("Content-Type", "application/json")]
        if rows and start + n < count:
            values = sorted([("last", rows[-1]["name"]), ("n", str(n))])
            headers.append(("Link", f'<{path}?{urlencode(values)}>; rel="next"'))
        return _Reply(200, (json.dumps(rows) + "\n").encode(), headers)

    def _detail(self, name: str, tag: str) -> dict[str, Any] | None:
        """One tag as ``RepositoryTagResponse`` (field order and omitempty as in repositories.go)."""
        digest = self._tag_digest(name, tag)
        if digest is None:
            return None
        raw = self._blob(digest)
        doc: dict[str, Any] = {}
        if raw is not None:
            with contextlib.suppress(ValueError):
                loaded = json.loads(raw)
                doc = loaded if isinstance(loaded, dict) else {}
        media_type = doc.get("mediaType") or (
            "application/vnd.oci.image.index.v1+json"
            if "manifests" in doc
            else "application/vnd.oci.image.manifest.v1+json"
        )
        times = self._times_of(name, tag)
        row: dict[str, Any] = {"name": tag, "digest": digest}
        config = doc.get("config")
        if isinstance(config, dict) and isinstance(config.get("digest"), str):
            row["config_digest"] = config["digest"]
        row["media_type"] = media_type
        row["size_bytes"] = self._size(doc)
        row["created_at"] = _ms(times.created)
        if times.updated is not None:
            row["updated_at"] = _ms(times.updated)
        row["published_at"] = _ms(times.published)
        row["_published_us"] = _us(times.published)
        return row

    def _size(self, doc: Mapping[str, Any], depth: int = 0) -> int:
        """config + layers; for an index, the sum over its children (an approximation of the database's)."""
        total = 0
        config = doc.get("config")
        if isinstance(config, dict) and isinstance(config.get("size"), int):
            total += config["size"]
        for layer in doc.get("layers") or []:
            if isinstance(layer, dict) and isinstance(layer.get("size"), int):
                total += layer["size"]
        if depth == 0:
            for child in doc.get("manifests") or []:
                raw = self._blob(child.get("digest", "")) if isinstance(child, dict) else None
                if raw is not None:
                    with contextlib.suppress(ValueError):
                        loaded = json.loads(raw)
                        if isinstance(loaded, dict):
                            total += self._size(loaded, depth + 1)
        return total


def _major(version: str) -> int:
    return _version(version)[0]


def _version(version: str) -> tuple[int, int]:
    parts = version.split(".")
    try:
        return int(parts[0]), int(parts[1])
    except (IndexError, ValueError):
        return (0, 0)


def _match(tag: str, patterns: Sequence[str], code: str, invalid: str, word: str) -> _Reply | None:
    """validateTagProtection / validateTagImmutability: RE2 patterns, unanchored, at most 100 characters."""
    for pattern in patterns:
        if len(pattern) > TAG_PATTERN_MAX_LEN:
            return _error(invalid, f"pattern {pattern!r} exceeds length limit of {TAG_PATTERN_MAX_LEN}")
        try:
            compiled = re.compile(pattern)
        except re.error as exc:
            return _error(invalid, f"failed compiling pattern {pattern!r}: {exc}")
        if compiled.search(tag):
            return _error(code, f'tag "{tag}" is {word}')
    return None


def _decode_marker(value: str) -> tuple[str | None, str]:
    """catalog.go DecodeFilter: base64 ``TIMESTAMP|TAG`` when it decodes to a timestamp, else a bare tag."""
    try:
        decoded = base64.b64decode(value, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None, value
    published, sep, tag = decoded.partition("|")
    if sep and "|" not in tag and _TIMESTAMP_RE.match(published):
        return published, tag.strip()
    return None, value


def _link(
    path: str,
    rel: str,
    key: str,
    row: Mapping[str, Any],
    n: int,
    name_filter: str,
    sort: str,
    by_published: bool,
) -> str:
    """catalog.go generateLink: the request's own (relative) path, keys in url.Values.Encode order."""
    marker = row["name"]
    if by_published:
        marker = base64.b64encode(f"{row['_published_us']}|{row['name']}".encode()).decode("ascii")
    values = [(key, marker), ("n", str(n))]
    if name_filter:
        values.append(("name", name_filter))
    if sort:
        values.append(("sort", sort))
    return f'<{path}?{urlencode(sorted(values))}>; rel="{rel}"'
