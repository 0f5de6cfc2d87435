"""The HTTP layer: one ``httpx2.Client``, and the policies every request obeys.

Policies (each cited where implemented):

* **TLS** on by default with the system trust store; ``ca_file`` adds a CA for every host, ``host_ca_files`` adds
  one per host (GitLab CI's ``CI_SERVER_TLS_CA_FILE``), ``insecure_hosts`` skips verification per host only.
* **Plain HTTP** only for ``plain_http_hosts`` or, like Docker, for loopback registries whose port does not speak
  TLS (:meth:`Transport.base_url`).
* **Redirects** are followed here, hop by hop: never https→http, never ``Authorization`` to another host, at most
  :data:`MAX_REDIRECTS` hops (DESIGN §4, CVE-2020-15157).
* **Retries** only for idempotent methods, for connection errors and 408/429/499/500/502/503/504/522, with full
  jitter backoff, ``Retry-After`` honoured (capped) and shared per host, all inside one total deadline.
* **Body caps**: :func:`read_capped` fails with :class:`BodyTooLarge` instead of truncating, counting decoded
  bytes so a gzip bomb stops at the cap too.
* **Debug log**: one line per request and response with secrets redacted (:func:`redact_url`, :data:`SAFE_HEADERS`).
* **Registry signals**: ``Warning: 299`` texts go to ``config.warn`` once each, escaped; the latest
  ``RateLimit-*`` quota per host is kept (:meth:`Transport.rate_limit`) and logged in debug.
"""

from __future__ import annotations

import email.utils
import os
import random
import re
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

import httpcore2
import httpx2

from ocireg.errors import BodyTooLarge, ProtocolViolation, RateLimited, TransportError
from ocireg.signals import RateLimit, parse_rate_limit, parse_warnings
from ocireg.text import KnownSecrets, escape

if TYPE_CHECKING:
    from ocireg.reference import Registry

__all__ = [
    "Deadline",
    "Transport",
    "TransportConfig",
    "read_capped",
    "redact_url",
]

MAX_REDIRECTS = 5
#: Distinct registry ``Warning`` texts passed to ``TransportConfig.warn`` per Transport (a hostile registry
#: must not flood stderr).
MAX_WARNINGS = 20
RETRY_STATUSES = frozenset({408, 429, 499, 500, 502, 503, 504, 522})
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
# Query parameters that may appear in a debug log; every other value is replaced by "***" (DESIGN §4).
SAFE_QUERY_PARAMS = frozenset(
    {"service", "scope", "n", "last", "mount", "from", "digest", "account", "client_id", "offline_token"}
)
# Headers shown in the debug log; everything else is listed by name only.
SAFE_HEADERS = frozenset(
    {
        "accept",
        "content-type",
        "content-length",
        "docker-content-digest",
        "docker-distribution-api-version",
        "www-authenticate",
        "location",
        "link",
        "retry-after",
        "ratelimit-limit",
        "ratelimit-remaining",
        "warning",
        "user-agent",
        "oci-subject",
        "oci-filters-applied",
        "range",
    }
)

DebugSink = Callable[[str], None]


@dataclass(frozen=True)
class TransportConfig:
    """Everything that shapes HTTP behaviour; the CLI builds one from flags and environment."""

    timeout: float = 30.0
    """Seconds for one connect / read / write step."""
    deadline: float | None = 300.0
    """Total seconds one operation may take, retries and slow bodies included; ``None`` for no limit."""
    retries: int = 3
    backoff_base: float = 0.5
    backoff_max: float = 8.0
    retry_after_cap: float = 60.0
    ca_file: str | None = None
    host_ca_files: Mapping[str, str] = field(default_factory=dict)
    plain_http_hosts: frozenset[str] = frozenset()
    insecure_hosts: frozenset[str] = frozenset()
    max_connections: int = 32
    user_agent: str = "ocireg"
    http2: bool = False
    proxy: str | None = None
    """HTTP(S) proxy URL for every registry and realm (the CLI takes it from HTTPS_PROXY / ALL_PROXY)."""
    no_proxy: tuple[str, ...] = ()
    """Hosts that bypass ``proxy`` (NO_PROXY syntax); loopback always does."""
    debug: DebugSink | None = None
    warn: DebugSink | None = None


class Deadline:
    """A wall-clock budget shared by every request of one operation."""

    def __init__(self, seconds: float | None) -> None:
        self._end = None if seconds is None else time.monotonic() + seconds
        self.seconds = seconds

    def remaining(self) -> float | None:
        if self._end is None:
            return None
        return self._end - time.monotonic()

    def check(self, what: str) -> None:
        left = self.remaining()
        if left is not None and left <= 0:
            raise TransportError(
                f"{what}: gave up after the {self.seconds:g}s deadline",
                hint="raise it with --timeout if the registry is just slow",
            )

    def clamp(self, timeout: float) -> float:
        left = self.remaining()
        if left is None:
            return timeout
        return max(0.001, min(timeout, left))


def _redact_query(query: str) -> str:
    return urlencode(
        [(k, v if k in SAFE_QUERY_PARAMS else "***") for k, v in parse_qsl(query, keep_blank_values=True)],
        safe=":/,*",
    )


def redact_url(url: str | httpx2.URL) -> str:
    """Return ``url`` without userinfo and with every non-allowlisted query value replaced by ``***``.

    Never raises: a URL a registry sent may be malformed (bad port, broken IPv6 literal).
    """
    try:
        parts = urlsplit(str(url))
        netloc = parts.hostname or ""
        if ":" in netloc:
            netloc = f"[{netloc}]"
        if parts.port is not None:
            netloc += f":{parts.port}"
    except ValueError:
        return "(invalid URL)"
    return escape(urlunsplit((parts.scheme, netloc, parts.path, _redact_query(parts.query), "")))


# Headers whose values carry URLs (a realm, a redirect target, a next page): shown with query values and
# userinfo redacted, since a realm or a signed storage URL may hold a secret in its query (DESIGN §4).
_URL_HEADERS = frozenset({"location", "link", "www-authenticate"})
_QUERY_IN_TEXT = re.compile(r"\?([^\s\"'<>]*)")
_USERINFO_IN_TEXT = re.compile(r"(?<=://)[^/\s\"'<>@]*@")


def _redact_urls_in(value: str) -> str:
    value = _USERINFO_IN_TEXT.sub("***@", value)
    return _QUERY_IN_TEXT.sub(lambda m: "?" + _redact_query(m.group(1)), value)


def _redact_headers(headers: httpx2.Headers) -> str:
    shown = []
    for name, value in headers.multi_items():
        lname = name.lower()
        if lname == "authorization":
            scheme = value.split(" ", 1)[0]
            shown.append(f"authorization: {escape(scheme)} ***")
        elif lname in _URL_HEADERS:
            shown.append(f"{lname}: {escape(_redact_urls_in(value[:2000])[:300])}")
        elif lname in SAFE_HEADERS:
            shown.append(f"{lname}: {escape(value[:300])}")
        else:
            shown.append(f"{lname}: …")
    return "; ".join(shown)


class _HostGate:
    """Per-host "not before" time: one worker's 429/503 backoff holds back every worker (LD: 429 storm)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._not_before: dict[str, float] = {}

    def wait(self, host: str, deadline: Deadline) -> None:
        with self._lock:
            until = self._not_before.get(host, 0.0)
        delay = until - time.monotonic()
        if delay > 0:
            left = deadline.remaining()
            if left is not None and delay > left:
                delay = max(0.0, left)
            time.sleep(delay)

    def hold(self, host: str, seconds: float) -> None:
        with self._lock:
            until = time.monotonic() + seconds
            if until > self._not_before.get(host, 0.0):
                self._not_before[host] = until


def _retry_after(value: str | None, cap: float) -> float | None:
    """Parse ``Retry-After`` as delta-seconds or HTTP-date (RFC 9110 §10.2.3)."""
    if value is None:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():  # str.isdigit() also accepts "²", which int() refuses
        return float(min(int(value[:12]), 10**9))
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - time.time())


def _describe_connect_error(exc: Exception) -> tuple[str, str | None]:
    text = str(exc) or type(exc).__name__
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ssl.SSLCertVerificationError):
            reason = cause.verify_message or str(cause)
            return (
                f"TLS certificate not trusted ({reason})",
                "pass --ca-file PATH with the registry's CA certificate (inside GitLab CI, "
                "CI_SERVER_TLS_CA_FILE is used automatically), or --insecure-skip-tls-verify HOST as a last resort",
            )
        cause = cause.__cause__ or cause.__context__
    if "CERTIFICATE_VERIFY_FAILED" in text:
        return (
            "TLS certificate not trusted",
            "pass --ca-file PATH with the registry's CA certificate (inside GitLab CI, "
            "CI_SERVER_TLS_CA_FILE is used automatically)",
        )
    if "Name or service not known" in text or "nodename nor servname" in text or "getaddrinfo" in text:
        return f"DNS lookup failed ({text})", "check the registry host name"
    if "Connection refused" in text or "Errno 111" in text:
        return "connection refused", "is the registry running on that host and port?"
    return text, None


def _is_plain_http_port(exc: Exception) -> bool:
    """True if a TLS handshake failed because the server answered in plain HTTP."""
    text = repr(exc)
    cause: BaseException | None = exc
    while cause is not None:
        text += repr(cause)
        cause = cause.__cause__ or cause.__context__
    return any(
        marker in text
        for marker in (
            "WRONG_VERSION_NUMBER",
            "wrong version number",
            "RECORD_LAYER_FAILURE",
            "record layer failure",
            "HTTP_REQUEST",
            "http request",
            "UNEXPECTED_EOF",
        )
    )


# -- every byte read counts against the deadline (#14 item 14) -------------------------------------------------
#
# httpx2 applies its read timeout to each socket read, and reads a response head once per phase: a server that
# drips one header line every half second never trips a 30 s read timeout and holds a request for as long as
# it likes. The deadline of the operation a thread is working on is kept here, and every socket operation of
# every connection clamps its timeout to what is left of it.
_io_deadline = threading.local()


def _clamp_io(timeout: float | None) -> float | None:
    deadline: Deadline | None = getattr(_io_deadline, "deadline", None)
    if deadline is None:
        return timeout
    left = deadline.remaining()
    if left is None:
        return timeout
    left = max(left, 0.001)
    return left if timeout is None else min(timeout, left)


class _DeadlineScope:
    """``with _DeadlineScope(deadline):`` — socket I/O of this thread stops at ``deadline``."""

    def __init__(self, deadline: Deadline) -> None:
        self._deadline = deadline
        self._saved: Deadline | None = None

    def __enter__(self) -> None:
        self._saved = getattr(_io_deadline, "deadline", None)
        _io_deadline.deadline = self._deadline

    def __exit__(self, *exc: object) -> None:
        _io_deadline.deadline = self._saved


def _deadline_stream(inner: httpcore2.NetworkStream) -> httpcore2.NetworkStream:
    class DeadlineStream(httpcore2.NetworkStream):
        def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
            return inner.read(max_bytes, _clamp_io(timeout))

        def write(self, buffer: bytes, timeout: float | None = None) -> None:
            inner.write(buffer, _clamp_io(timeout))

        def close(self) -> None:
            inner.close()

        def start_tls(
            self,
            ssl_context: ssl.SSLContext,
            server_hostname: str | None = None,
            timeout: float | None = None,
        ) -> httpcore2.NetworkStream:
            return _deadline_stream(inner.start_tls(ssl_context, server_hostname, _clamp_io(timeout)))

        def get_extra_info(self, info: str) -> object:
            return inner.get_extra_info(info)

    return DeadlineStream()


class _DeadlineBackend(httpcore2.SyncBackend):
    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore2.SOCKET_OPTION] | None = None,
    ) -> httpcore2.NetworkStream:
        stream = super().connect_tcp(host, port, _clamp_io(timeout), local_address, socket_options)
        return _deadline_stream(stream)


def _deadline_aware(transport: httpx2.HTTPTransport) -> httpx2.HTTPTransport:
    # httpx2's HTTPTransport takes no network backend, but its pool (a ConnectionPool or HTTPProxy) creates
    # every connection through `_network_backend`. Temporary: ocireg's own transport (issue 16) replaces this.
    pool = getattr(transport, "_pool", None)
    if pool is not None and hasattr(pool, "_network_backend"):
        pool._network_backend = _DeadlineBackend()
    return transport


class Transport:
    """One HTTP client with ocireg's policies; thread-safe, shared by a bounded pool of workers."""

    def __init__(self, config: TransportConfig, *, http: httpx2.Client | None = None) -> None:
        self.config = config
        self._http = http if http is not None else self._build_client(config)
        self._gate = _HostGate()
        self._schemes: dict[str, str] = {}
        self._schemes_lock = threading.Lock()
        self.request_count = 0
        self._count_lock = threading.Lock()
        self._signals_lock = threading.Lock()
        self._warned: set[str] = set()
        self._rate_limits: dict[str, RateLimit] = {}
        #: Secrets sent through this transport (and those auth registers): redacted from registry-provided
        #: text — error messages, Warning headers, the debug log — before it is shown (#14 item 6).
        self.secrets = KnownSecrets()

    # -- construction ---------------------------------------------------------------------------------------

    @staticmethod
    def _ssl_context(*cafiles: str | None) -> ssl.SSLContext:
        ctx = _system_trust_context()
        for cafile in cafiles:
            if cafile:
                try:
                    ctx.load_verify_locations(cafile=cafile)
                except (OSError, ssl.SSLError) as exc:
                    raise TransportError(f"cannot load CA file {cafile}: {exc}") from exc
        return ctx

    @classmethod
    def _build_client(cls, config: TransportConfig) -> httpx2.Client:
        limits = httpx2.Limits(
            max_connections=config.max_connections,
            max_keepalive_connections=config.max_connections,
            keepalive_expiry=30.0,
        )
        default_ctx = cls._ssl_context(config.ca_file)

        def transport(verify: ssl.SSLContext, host: str | None = None) -> httpx2.HTTPTransport:
            # One transport per (TLS policy, proxy) combination; `proxy` only where the host is not exempt.
            proxy = None if host is not None and _proxy_exempt(host, config.no_proxy) else config.proxy
            return _deadline_aware(
                httpx2.HTTPTransport(
                    verify=verify, limits=limits, http2=config.http2, trust_env=False, proxy=proxy
                )
            )

        mounts: dict[str, httpx2.BaseTransport | None] = {}
        if config.proxy:
            mounts["all://"] = transport(default_ctx)
            for host in config.no_proxy:
                if host != "*":
                    mounts[_mount_pattern(host.lstrip("."), wildcard=host.startswith("."))] = None
            for loopback in ("localhost", "127.0.0.0/8", "[::1]"):
                # Like Go's ProxyFromEnvironment: loopback never goes through a proxy.
                mounts[f"all://{loopback}"] = None
        for host, cafile in config.host_ca_files.items():
            mounts[_mount_pattern(host)] = transport(cls._ssl_context(config.ca_file, cafile), host)
        for host in config.insecure_hosts:
            insecure = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            insecure.check_hostname = False
            insecure.verify_mode = ssl.CERT_NONE
            mounts[_mount_pattern(host)] = transport(insecure, host)
        return httpx2.Client(
            verify=default_ctx,
            # trust_env=False: no ~/.netrc, no SSL_CERT_* or *_PROXY from the process environment; the library never reads
            # the environment (DESIGN §1; the CLI passes proxies in), and .netrc must never add credentials
            # to a foreign host (SEC: .netrc isolation).
            trust_env=False,
            http2=config.http2,
            limits=limits,
            timeout=httpx2.Timeout(config.timeout),
            follow_redirects=False,
            mounts=mounts or None,
            headers={"User-Agent": config.user_agent},
            transport=_deadline_aware(
                httpx2.HTTPTransport(verify=default_ctx, limits=limits, http2=config.http2, trust_env=False)
            ),
        )

    def close(self) -> None:
        self._http.close()

    # -- scheme policy --------------------------------------------------------------------------------------

    def base_url(self, registry: Registry, deadline: Deadline) -> str:
        """``https://host`` or, by policy, ``http://host`` for this registry (DESIGN §4)."""
        host = registry.api_host
        with self._schemes_lock:
            known = self._schemes.get(host)
        if known is not None:
            return f"{known}://{host}"
        decided: str | None
        if host in self.config.plain_http_hosts or registry.name in self.config.plain_http_hosts:
            decided = "http"
        elif registry.is_loopback:
            decided = self._probe_loopback(host, deadline)
        else:
            decided = "https"
        if decided is None:
            # Nothing listens (yet): that decides nothing (#14 item 8). Try https now, probe again next time.
            return f"https://{host}"
        with self._schemes_lock:
            self._schemes[host] = decided
        return f"{decided}://{host}"

    def remember_scheme(self, host: str, scheme: str) -> None:
        with self._schemes_lock:
            self._schemes[host] = scheme

    def known_scheme(self, host: str) -> str | None:
        """The scheme decided for ``host`` (by policy, a probe or :meth:`remember_scheme`), if any."""
        with self._schemes_lock:
            return self._schemes.get(host)

    def forget_scheme(self, host: str) -> None:
        """Drop the scheme decided for ``host``: the next :meth:`base_url` decides (probes) again."""
        with self._schemes_lock:
            self._schemes.pop(host, None)

    def _probe_loopback(self, host: str, deadline: Deadline) -> str | None:
        """Docker's rule for loopback registries: TLS if the port speaks it, else plain HTTP.

        The probe is a bare TLS handshake (no HTTP request), so it costs no request at the registry. ``None``
        when nothing answers on the port: undecided, and nothing may be remembered (#14 item 8).
        """
        import socket

        hostname, _, port_text = host.rpartition(":") if not host.endswith("]") else (host, "", "")
        if not hostname:
            hostname, port_text = host, ""
        hostname = hostname.strip("[]")
        port = int(port_text) if port_text.isdigit() else 443
        timeout = deadline.clamp(min(self.config.timeout, 5.0))
        try:
            sock = socket.create_connection((hostname, port), timeout=timeout)
        except OSError:
            return None  # unreachable either way; let the real request report the error
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        try:
            with ctx.wrap_socket(sock, server_hostname=hostname) as tls:
                tls.settimeout(timeout)
            return "https"
        except ssl.SSLError:
            return "http"
        except OSError:
            return "http"
        finally:
            sock.close()

    # -- sending --------------------------------------------------------------------------------------------

    def _log(self, line: str) -> None:
        if self.config.debug is not None:
            self.config.debug(self.secrets.redact(line))

    def send(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        content: bytes | Iterator[bytes] | None = None,
        deadline: Deadline,
        what: str,
        follow_redirects: bool = True,
        retry: bool = True,
        on_attempt: Callable[[int | None], None] | None = None,
    ) -> httpx2.Response:
        """Send one request with retries and the redirect policy; return the streaming response.

        The caller must close the response (``with`` or :func:`read_capped`). Statuses are not raised here:
        classifying them is the caller's job, through :func:`ocireg.errors.from_response`. ``on_attempt`` is
        told the status of every attempt (``None`` for a connection failure), retried ones included.
        """
        attempts = 1 + (self.config.retries if retry and method in IDEMPOTENT_METHODS else 0)
        if content is not None and not isinstance(content, bytes):
            attempts = 1  # a streamed body cannot be replayed
        parsed = httpx2.URL(url)  # once: parsing is a measurable share of a warm check's CPU
        host = parsed.netloc.decode("ascii")
        with _DeadlineScope(deadline):
            return self._send_attempts(
                method, parsed, host, headers, content, deadline, what, follow_redirects, attempts, on_attempt
            )

    def _send_attempts(
        self,
        method: str,
        parsed: httpx2.URL,
        host: str,
        headers: Mapping[str, str] | None,
        content: bytes | Iterator[bytes] | None,
        deadline: Deadline,
        what: str,
        follow_redirects: bool,
        attempts: int,
        on_attempt: Callable[[int | None], None] | None,
    ) -> httpx2.Response:
        last_exc: Exception | None = None
        for attempt in range(attempts):
            deadline.check(what)
            self._gate.wait(host, deadline)
            try:
                response = self._send_following(
                    method, parsed, headers or {}, content, deadline, what, follow_redirects
                )
            except TransportError as exc:
                if on_attempt is not None:
                    on_attempt(None)
                last_exc = exc
                if attempt + 1 >= attempts:
                    raise
                self._sleep_backoff(attempt, deadline, None, what)
                continue
            if on_attempt is not None:
                on_attempt(response.status_code)
            if response.status_code in RETRY_STATUSES and attempt + 1 < attempts:
                wait = _retry_after(response.headers.get("retry-after"), self.config.retry_after_cap)
                if wait is not None and wait > self.config.retry_after_cap:
                    return response  # the caller reports RateLimited with the advertised wait
                left = deadline.remaining()
                if wait is not None and left is not None and wait > left:
                    response.close()
                    raise RateLimited(
                        f"{what}: HTTP {response.status_code}; the registry asks to wait {wait:.0f}s, "
                        f"more than the {left:.0f}s left before the deadline",
                        retry_after=wait,
                    )
                response.close()
                if wait is not None:
                    self._gate.hold(host, wait)
                self._sleep_backoff(attempt, deadline, wait, what)
                continue
            return response
        raise last_exc if last_exc else TransportError(f"{what}: no response")  # pragma: no cover

    def _sleep_backoff(self, attempt: int, deadline: Deadline, retry_after: float | None, what: str) -> None:
        # Full jitter (AWS architecture blog, "Exponential Backoff And Jitter"): spreads concurrent workers.
        ceiling = min(self.config.backoff_max, self.config.backoff_base * (2**attempt))
        delay = retry_after if retry_after is not None else random.uniform(0, ceiling)  # noqa: S311
        left = deadline.remaining()
        if left is not None:
            delay = min(delay, max(0.0, left))
        self._log(f"  retrying {what} in {delay:.2f}s")
        time.sleep(delay)

    def _send_following(
        self,
        method: str,
        url: httpx2.URL,
        headers: Mapping[str, str],
        content: bytes | Iterator[bytes] | None,
        deadline: Deadline,
        what: str,
        follow_redirects: bool,
    ) -> httpx2.Response:
        current = url
        origin = (current.scheme, current.netloc)
        send_headers = dict(headers)
        for _hop in range(MAX_REDIRECTS + 1):
            response = self._send_once(method, current, send_headers, content, deadline, what)
            if not (response.is_redirect and "location" in response.headers):
                return response
            if not follow_redirects:
                response.close()
                raise ProtocolViolation(
                    f"{what}: unexpected redirect (HTTP {response.status_code}) to "
                    f"{redact_url(response.headers['location'])}; not followed"
                )
            location = response.headers["location"]
            response.close()
            try:
                target = httpx2.URL(urljoin(str(current), location))
            except (httpx2.InvalidURL, ValueError) as exc:
                raise ProtocolViolation(f"{what}: invalid redirect target") from exc
            if target.scheme not in ("http", "https"):
                raise ProtocolViolation(f"{what}: redirect to unsupported scheme {escape(target.scheme)}")
            if current.scheme == "https" and target.scheme == "http":
                # Never downgrade (DESIGN §4).
                raise ProtocolViolation(
                    f"{what}: refusing redirect from https to http ({redact_url(target)})"
                )
            if (target.scheme, target.netloc) != origin:
                # Never forward credentials across hosts (CVE-2020-15157-style leaks).
                send_headers = {k: v for k, v in send_headers.items() if k.lower() != "authorization"}
            if response.status_code == 303 or (response.status_code in (301, 302) and method == "POST"):
                method, content = "GET", None
            self._log(f"  redirect → {redact_url(target)}")
            current = target
        raise ProtocolViolation(f"{what}: more than {MAX_REDIRECTS} redirects")

    def _send_once(
        self,
        method: str,
        url: httpx2.URL,
        headers: Mapping[str, str],
        content: bytes | Iterator[bytes] | None,
        deadline: Deadline,
        what: str,
    ) -> httpx2.Response:
        timeout = deadline.clamp(self.config.timeout)
        for name, value in headers.items():
            if name.lower() == "authorization":
                self.secrets.add_authorization(value)
        request = self._http.build_request(
            method, url, headers=headers, content=content, timeout=httpx2.Timeout(timeout)
        )
        started = time.monotonic()
        if self.config.debug is not None:  # building the redacted line costs more than the check
            self._log(f"> {method} {redact_url(url)}  [{_redact_headers(request.headers)}]")
        with self._count_lock:
            self.request_count += 1
        try:
            response = self._http.send(request, stream=True)
        except httpx2.RemoteProtocolError as exc:
            violation = _protocol_violation(exc, what, url)
            if violation is not None:
                raise violation from exc
            reason, hint = _describe_connect_error(exc)
            raise TransportError(f"{what}: cannot reach {url.host}: {reason}", hint=hint) from exc
        except httpx2.TimeoutException as exc:
            deadline.check(what)  # the deadline, not the registry's pace, ended the wait
            raise TransportError(
                f"{what}: no answer from {url.host} within {timeout:.0f}s ({type(exc).__name__})",
                hint="check the network, or raise the limit with --timeout",
            ) from exc
        except httpx2.UnsupportedProtocol as exc:
            raise TransportError(f"{what}: unsupported URL {redact_url(url)}") from exc
        except (httpx2.TransportError, ssl.SSLError, OSError) as exc:
            reason, hint = _describe_connect_error(exc)
            raise TransportError(f"{what}: cannot reach {url.host}: {reason}", hint=hint) from exc
        if method == "HEAD":
            # A HEAD has no body, yet its connection goes back to the pool only once that empty body has been
            # read; closed unread, every HEAD would cost a new connection (LD: connection reuse).
            try:
                response.read()
            except (httpx2.TransportError, OSError) as exc:
                response.close()
                raise TransportError(f"{what}: connection lost after the response head ({exc})") from exc
        if self.config.debug is not None:
            elapsed = (time.monotonic() - started) * 1000
            self._log(
                f"< {response.status_code} {method} {redact_url(url)} ({elapsed:.0f} ms)  "
                f"[{_redact_headers(response.headers)}]"
            )
        self._observe(url, response)
        return response

    # -- registry signals -----------------------------------------------------------------------------------

    def _observe(self, url: httpx2.URL, response: httpx2.Response) -> None:
        """Registry signals (:mod:`ocireg.signals`): each ``Warning: 299`` text once, the latest quota per host."""
        headers = response.headers
        if "warning" in headers and self.config.warn is not None:
            host = escape(url.netloc.decode("ascii", "replace"))
            for text in parse_warnings(headers.get_list("warning")):
                line = f"registry {host}: {self.secrets.redact(text)}"
                with self._signals_lock:
                    if line in self._warned or len(self._warned) >= MAX_WARNINGS:
                        continue
                    self._warned.add(line)
                self.config.warn(line)
        if "ratelimit-limit" in headers or "ratelimit-remaining" in headers:
            quota = parse_rate_limit(headers.get("ratelimit-limit"), headers.get("ratelimit-remaining"))
            if quota is not None:
                with self._signals_lock:
                    self._rate_limits[url.netloc.decode("ascii", "replace")] = quota
                self._log(f"  rate limit: {quota}")

    def rate_limit(self, host: str) -> RateLimit | None:
        """The latest ``RateLimit-*`` quota ``host`` (``host[:port]`` as in the URL) announced, if any."""
        with self._signals_lock:
            return self._rate_limits.get(host)


def _system_trust_context() -> ssl.SSLContext:
    """A verifying TLS context with the system's CA certificates, built cheaply.

    Loading the whole CA bundle file costs ~50 ms per process; where OpenSSL's hashed certificate directory
    exists (Debian, Ubuntu, Fedora) it is used instead, and certificates are read lazily at handshake time.
    Both hold the same CA set (update-ca-certificates writes both). Elsewhere httpx2's default applies.
    """
    paths = ssl.get_default_verify_paths()
    capath = paths.openssl_capath
    try:
        hashed = bool(capath) and any(_HASHED_CERT.fullmatch(name) for name in os.listdir(capath))
    except OSError:
        hashed = False
    if not hashed:
        return httpx2.create_ssl_context(verify=True, trust_env=False)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # check_hostname and CERT_REQUIRED by default
    ctx.load_verify_locations(capath=capath)
    return ctx


_HASHED_CERT = re.compile(r"[0-9a-f]{8}\.[0-9]+")


def _mount_pattern(host: str, *, wildcard: bool = False) -> str:
    return f"all://*.{host}" if wildcard else f"all://{host}"


def _proxy_exempt(host: str, no_proxy: tuple[str, ...]) -> bool:
    """NO_PROXY matching as curl and Go do it: exact host[:port], a domain suffix, or ``*``."""
    name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    for raw in no_proxy:
        entry = raw.strip().lower()
        if entry == "*" or entry in (host, name):
            return True
        suffix = entry if entry.startswith(".") else "." + entry
        if name.endswith(suffix):
            return True
    return False


def read_capped(response: httpx2.Response, limit: int, *, deadline: Deadline, what: str) -> bytes:
    """Read a streamed body completely, failing at ``limit`` decoded bytes or at the deadline; closes it.

    A declared ``Content-Length`` above the cap fails before any byte is read.
    """
    try:
        declared = response.headers.get("content-length")
        digits = declared is not None and declared.isascii() and declared.isdigit()
        if declared is not None and digits and (len(declared) > 18 or int(declared) > limit):
            raise BodyTooLarge(f"{what}: body of {declared[:30]} bytes exceeds the {limit}-byte limit")
        try:
            with _DeadlineScope(deadline):
                chunks = _read_chunks(response, limit, deadline, what)
        except httpx2.TimeoutException as exc:
            deadline.check(what)
            raise TransportError(f"{what}: the body stopped arriving ({type(exc).__name__})") from exc
        except httpx2.DecodingError as exc:
            raise ProtocolViolation(f"{what}: body could not be decoded ({exc})") from exc
        except httpx2.RemoteProtocolError as exc:
            violation = _protocol_violation(exc, what, response.request.url)
            if violation is not None:
                raise violation from exc
            raise TransportError(f"{what}: connection lost while reading the body ({exc})") from exc
        except (httpx2.TransportError, OSError) as exc:
            raise TransportError(f"{what}: connection lost while reading the body ({exc})") from exc
        return b"".join(chunks)
    finally:
        response.close()


def _read_chunks(response: httpx2.Response, limit: int, deadline: Deadline, what: str) -> list[bytes]:
    chunks: list[bytes] = []
    total = 0
    for chunk in response.iter_bytes():
        total += len(chunk)
        if total > limit:
            raise BodyTooLarge(f"{what}: body exceeds the {limit}-byte limit")
        chunks.append(chunk)
        deadline.check(what)
    return chunks


def _protocol_violation(exc: Exception, what: str, url: httpx2.URL) -> ProtocolViolation | None:
    """A :class:`ProtocolViolation` if the peer sent bytes that are not HTTP (#14 item 13), else ``None``.

    A garbage status line, an unparsable or 5,000-digit ``Content-Length``, an endless or oversized head, a
    broken chunk header: the server answered, wrongly — exit 6, and not retried (the same bytes would come
    back). The parser (h11) says so by raising its own ``RemoteProtocolError``; a connection that closed before
    any byte ("Server disconnected without sending a response", a stale keep-alive) has no such cause and stays
    a network error, retried.
    """
    cause: BaseException | None = exc
    while cause is not None:
        if type(cause).__module__.split(".")[0] == "h11" and "peer closed connection" not in str(cause):
            # (h11 also reports a body cut short as its own error: that is a lost connection, retried.)
            reason = escape(str(cause)[:200]) or type(cause).__name__
            return ProtocolViolation(
                f"{what}: {url.host} did not answer in HTTP ({reason})",
                hint="something that is not a registry (or a broken proxy) answers on that host and port",
            )
        cause = cause.__cause__ or cause.__context__
    return None
