"""The HTTP layer: the policies every request obeys, over the keep-alive pool of :mod:`ocireg.connection`.

Policies (each cited where implemented):

* **TLS** on by default with the system trust store; ``ca_file`` adds a CA for every host, ``host_ca_files`` adds
  one per host (the CI adapter's ``CI_SERVER_TLS_CA_FILE``), ``insecure_hosts`` skips verification per host only.
* **Plain HTTP** only for ``plain_http_hosts`` or, like Docker, for loopback registries whose port does not speak
  TLS (:meth:`Transport.decide_scheme`).
* **Redirects** are followed here, hop by hop: never https→http, never ``Authorization`` to another host, at most
  :data:`MAX_REDIRECTS` hops (docs/architecture.md §4, CVE-2020-15157).
* **Retries** only for idempotent methods, for connection errors and 408/429/499/500/502/503/504/522 (any
  method whose body can be sent again: 429/503, which say the request was not processed), with full
  jitter backoff, ``Retry-After`` honoured (capped) and shared per host, all inside one total deadline.
* **Body caps**: :func:`read_capped` fails with :class:`BodyTooLarge` instead of truncating, counting decoded
  bytes so a gzip bomb stops at the cap too.
* **Debug log**: one line per request and response with secrets redacted (:func:`redact_url`, :data:`SAFE_HEADERS`).
* **Registry signals**: ``Warning: 299`` texts go to ``config.warn`` once each, escaped; the latest
  ``RateLimit-*`` quota per host is kept (:meth:`Transport.rate_limit`) and logged in debug.
"""

from __future__ import annotations

import random
import ssl
import time
from _thread import allocate_lock  # threading.Lock itself; threading stays off a check's path (#16, start-up)
from collections.abc import Callable, Iterator, Mapping
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

from ocireg.connection import Connections, Proxy, ProxyRefused, ProxyTlsError, parse_proxy, split_url
from ocireg.errors import BodyTooLarge, ProtocolViolation, RateLimited, TransportError, retry_after_seconds
from ocireg.record import field, record
from ocireg.response import DeadlineExceeded, Headers, MalformedMessage, Request, Response
from ocireg.signals import RateLimit, parse_rate_limit, parse_warnings
from ocireg.text import KnownSecrets, LazyPattern, escape
from ocireg.tls import describe_connect_error, probe_loopback, system_trust_context

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Protocol

    from ocireg.headstart import HeadStart
    from ocireg.reference import Registry

else:
    Protocol = object  # a plain base at run time: typing costs a check more than this module (#16)

__all__ = [
    "Deadline",
    "Transport",
    "TransportConfig",
    "Wire",
    "read_capped",
    "redact_url",
]

MAX_REDIRECTS = 5
#: Distinct registry ``Warning`` texts passed to ``TransportConfig.warn`` per Transport (a hostile registry
#: must not flood stderr).
MAX_WARNINGS = 20
RETRY_STATUSES = frozenset({408, 429, 499, 500, 502, 503, 504, 522})
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
#: Answers that say the request was not processed: retried for any method whose body can be sent again.
NOT_PROCESSED_STATUSES = frozenset({429, 503})
# Query parameters that may appear in a debug log; every other value is replaced by "***" (docs/architecture.md §4).
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


@record(frozen=True)
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
    connect_to: Mapping[tuple[str, int], tuple[str, int]] = field(default_factory=dict)
    """Tests only: (host, port) -> loopback (address, port) to connect to instead; names and TLS checks unchanged."""
    head_start: HeadStart | None = None
    """TCP connections the command line began before it was parsed (:mod:`ocireg.headstart`, #25)."""


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


def redact_url(url: str) -> str:
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
# userinfo redacted, since a realm or a signed storage URL may hold a secret in its query (docs/architecture.md §4).
_URL_HEADERS = frozenset({"location", "link", "www-authenticate"})
_QUERY_IN_TEXT = LazyPattern(r"\?([^\s\"'<>]*)")
_USERINFO_IN_TEXT = LazyPattern(r"(?<=://)[^/\s\"'<>@]*@")


def _redact_urls_in(value: str) -> str:
    value = _USERINFO_IN_TEXT.sub("***@", value)
    return _QUERY_IN_TEXT.sub(lambda m: "?" + _redact_query(m.group(1)), value)


def _redact_headers(headers: Headers) -> str:
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
        self._lock = allocate_lock()
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
    """Parse ``Retry-After``: delta-seconds, fractional as some registries write them (``1.500000``), or an HTTP-date
    (RFC 9110 §10.2.3); one parser with :func:`ocireg.errors.retry_after_seconds`."""
    return retry_after_seconds(value)


class Wire(Protocol):
    """What :class:`Transport` sends through: :class:`~ocireg.connection.Connections`, or a test double."""

    def send(self, request: Request, *, timeout: float, end: float | None, what: str = ...) -> Response: ...

    def close(self) -> None: ...


class Transport:
    """One keep-alive pool with ocireg's policies; thread-safe, shared by a bounded pool of workers."""

    def __init__(self, config: TransportConfig, *, wire: Wire | None = None) -> None:
        self.config = config
        self._contexts: dict[str, ssl.SSLContext] = {}
        self._contexts_lock = allocate_lock()
        self._proxy: Proxy | None = None
        if config.proxy:
            try:
                self._proxy = parse_proxy(config.proxy)
            except ValueError as exc:
                raise TransportError(f"invalid proxy URL: {exc}") from exc
        self._wire: Wire = (
            wire
            if wire is not None
            else Connections(
                tls=self._tls_for,
                proxy=self._proxy_for,
                max_idle=config.max_connections,
                connect_to=_loopback_only(config),
                connect=config.head_start.connect if config.head_start is not None else None,
            )
        )
        self._default_headers = Headers(
            {"User-Agent": config.user_agent, "Accept": "*/*", "Accept-Encoding": "gzip, deflate"}
        )
        self._gate = _HostGate()
        self.request_count = 0
        self._count_lock = allocate_lock()
        self._signals_lock = allocate_lock()
        self._warned: set[str] = set()
        self._rate_limits: dict[str, RateLimit] = {}
        #: Secrets sent through this transport (and those auth registers): redacted from registry-provided
        #: text — error messages, Warning headers, the debug log — before it is shown (#14 item 6).
        self.secrets = KnownSecrets()

    # -- construction ---------------------------------------------------------------------------------------

    @staticmethod
    def _ssl_context(*cafiles: str | None) -> ssl.SSLContext:
        ctx = system_trust_context()
        for cafile in cafiles:
            if cafile:
                try:
                    ctx.load_verify_locations(cafile=cafile)
                except (OSError, ssl.SSLError) as exc:
                    raise TransportError(f"cannot load CA file {cafile}: {exc}") from exc
        return ctx

    def _tls_for(self, host: str, port: int) -> ssl.SSLContext:
        """The TLS context for ``host``: per-host skip-verify or CA file, else the shared default (built once)."""
        names = _policy_names(host, port)
        key = next((n for n in names if n in self.config.insecure_hosts), None)
        if key is None:
            key = next((n for n in names if n in self.config.host_ca_files), "")
        with self._contexts_lock:
            ctx = self._contexts.get(key)
            if ctx is not None:
                return ctx
            if key in self.config.insecure_hosts:
                ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
            elif key:
                ctx = self._ssl_context(self.config.ca_file, self.config.host_ca_files[key])
            else:
                ctx = self._ssl_context(self.config.ca_file)
            self._contexts[key] = ctx
            return ctx

    def _proxy_for(self, host: str, port: int) -> Proxy | None:
        """The proxy for ``host``, unless NO_PROXY exempts it; loopback never goes through one (as Go's
        ``httpproxy.Config.ProxyFunc`` decides)."""
        if self._proxy is None:
            return None
        if host in {"localhost", "::1"} or host.startswith("127."):
            return None
        names = _policy_names(host, port)
        if any(_proxy_exempt(name, self.config.no_proxy) for name in names):
            return None
        return self._proxy

    def close(self) -> None:
        self._wire.close()

    # -- scheme policy --------------------------------------------------------------------------------------

    def decide_scheme(self, registry: Registry, deadline: Deadline) -> str | None:
        """``"https"`` or, by policy, ``"http"`` for this registry (docs/architecture.md §4); ``None`` when a
        loopback port answers nothing yet (undecided). The registry's session remembers the answer."""
        host = registry.api_host
        if host in self.config.plain_http_hosts or registry.name in self.config.plain_http_hosts:
            return "http"
        if registry.is_loopback:
            return self._probe_loopback(host, deadline)
        return "https"

    def preconnect(self, base_url: str) -> None:
        """Open the connection a first request to ``base_url`` will use (:meth:`Connections.preconnect`)."""
        opener = getattr(self._wire, "preconnect", None)
        if opener is not None:
            opener(base_url + "/", timeout=self.config.timeout)

    def _probe_loopback(self, host: str, deadline: Deadline) -> str | None:
        """Docker's rule for loopback registries, TLS if the port speaks it, else plain HTTP (:func:`ocireg.tls.
        probe_loopback`); a verified connection is kept in the pool and carries the first request (#16)."""
        timeout = deadline.clamp(min(self.config.timeout, 5.0))
        start = self.config.head_start
        return probe_loopback(
            host,
            timeout,
            self._tls_for,
            getattr(self._wire, "adopt", None),
            start.connect if start is not None else None,
        )

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
    ) -> Response:
        """Send one request with retries and the redirect policy; return the streaming response.

        The caller must close the response (``with`` or :func:`read_capped`). Statuses are not raised here:
        classifying them is the caller's job, through :func:`ocireg.errors.from_response`.
        """
        answer: Response | None = None
        for attempt in self.attempts(
            method,
            url,
            headers=headers,
            content=content,
            deadline=deadline,
            what=what,
            follow_redirects=follow_redirects,
            retry=retry,
        ):
            answer = attempt
        if answer is None:  # pragma: no cover - attempts() ends with an answer or raises
            raise TransportError(f"{what}: no response")
        return answer

    def attempts(
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
    ) -> Iterator[Response | None]:
        """:meth:`send`, attempt by attempt, for a caller that wants to see each one as it comes (the first wave
        of a registry is released by any answer but a 401, a retried one too: docs/architecture.md §7).

        Yields ``None`` for a connection failure that will be retried, a closed response for an answer that will
        be retried (its status and headers only), and last the answer itself, open. The caller pulls: the
        transport calls nothing back.
        """
        replayable = content is None or isinstance(content, bytes)
        idempotent = method in IDEMPOTENT_METHODS
        # A 429 or 503 means the request was not processed (RFC 6585 §4, RFC 9110 §15.6.4): even a POST may be
        # sent again after the wait, as skopeo does for every body-less request (#23). A streamed body never is.
        attempts = 1 + (self.config.retries if retry and replayable else 0)
        try:
            host = split_url(url).origin  # host[:port] as in the URL, default port omitted
        except ValueError as exc:
            raise TransportError(f"{what}: unsupported URL {redact_url(url)} ({exc})") from exc
        for attempt in range(attempts):
            deadline.check(what)
            self._gate.wait(host, deadline)
            try:
                response = self._send_following(
                    method, url, headers or {}, content, deadline, what, follow_redirects
                )
            except TransportError:
                if attempt + 1 >= attempts or not idempotent:
                    raise
                yield None
                self._sleep_backoff(attempt, deadline, None, what)
                continue
            retryable = RETRY_STATUSES if idempotent else NOT_PROCESSED_STATUSES
            if response.status in retryable and attempt + 1 < attempts:
                wait = _retry_after(response.headers.get("retry-after"), self.config.retry_after_cap)
                if wait is not None and wait > self.config.retry_after_cap:
                    yield response  # the caller reports RateLimited with the advertised wait
                    return
                left = deadline.remaining()
                if wait is not None and left is not None and wait > left:
                    response.close()
                    raise RateLimited(
                        f"{what}: HTTP {response.status}; the registry asks to wait {wait:.0f}s, "
                        f"more than the {left:.0f}s left before the deadline",
                        retry_after=wait,
                    )
                response.close()
                if wait is not None:
                    self._gate.hold(host, wait)
                yield response
                self._sleep_backoff(attempt, deadline, wait, what)
                continue
            yield response
            return

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
        url: str,
        headers: Mapping[str, str],
        content: bytes | Iterator[bytes] | None,
        deadline: Deadline,
        what: str,
        follow_redirects: bool,
    ) -> Response:
        current = url
        origin = _origin(current)
        send_headers = dict(headers)
        for _hop in range(MAX_REDIRECTS + 1):
            response = self._send_once(method, current, send_headers, content, deadline, what)
            if not response.is_redirect:
                return response
            if not follow_redirects:
                response.close()
                raise ProtocolViolation(
                    f"{what}: unexpected redirect (HTTP {response.status}) to "
                    f"{redact_url(response.headers['location'])}; not followed"
                )
            location = response.headers["location"]
            response.close()
            try:
                target = urljoin(current, location.strip())
                scheme = urlsplit(target).scheme.lower()
                if scheme not in ("http", "https"):
                    raise ProtocolViolation(f"{what}: redirect to unsupported scheme {escape(scheme[:20])}")
                target_origin = _origin(target)
            except ValueError as exc:
                raise ProtocolViolation(f"{what}: invalid redirect target") from exc
            if origin[0] == "https" and scheme == "http":
                # Never downgrade (docs/architecture.md §4).
                raise ProtocolViolation(
                    f"{what}: refusing redirect from https to http ({redact_url(target)})"
                )
            if target_origin != origin:
                # Never forward credentials across hosts (CVE-2020-15157-style leaks).
                send_headers = {k: v for k, v in send_headers.items() if k.lower() != "authorization"}
            if response.status == 303 or (response.status in (301, 302) and method == "POST"):
                method, content = "GET", None
            elif content is not None and not isinstance(content, bytes):
                # The streamed body went to the first host and cannot be sent again: refuse the redirect, as
                # Go's net/http does for a body without GetBody (#23).
                raise ProtocolViolation(
                    f"{what}: the registry redirected the upload (HTTP {response.status}) to "
                    f"{redact_url(target)}; a streamed body cannot be sent twice, so the redirect was not followed",
                    hint="the registry (or a proxy in front of it) must accept uploads where it opened them",
                )
            self._log(f"  redirect → {redact_url(target)}")
            current = target
        raise ProtocolViolation(f"{what}: more than {MAX_REDIRECTS} redirects")

    def _send_once(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        content: bytes | Iterator[bytes] | None,
        deadline: Deadline,
        what: str,
    ) -> Response:
        timeout = deadline.clamp(self.config.timeout)
        for name, value in headers.items():
            if name.lower() == "authorization":
                self.secrets.add_authorization(value)
        left = deadline.remaining()
        end = None if left is None else time.monotonic() + left
        given = {k.lower() for k in headers}
        merged = [(k, v) for k, v in self._default_headers.multi_items() if k.lower() not in given]
        request = Request(method, url, Headers([*merged, *headers.items()]), content)
        started = time.monotonic()
        if self.config.debug is not None:  # building the redacted line costs more than the check
            self._log(f"> {method} {redact_url(url)}  [{_redact_headers(request.headers)}]")
        with self._count_lock:
            self.request_count += 1
        host = escape(urlsplit(url).netloc.rpartition("@")[2])
        try:
            response = self._wire.send(request, timeout=timeout, end=end, what=what)
        except DeadlineExceeded as exc:
            raise TransportError(
                f"{what}: gave up after the {deadline.seconds:g}s deadline (waiting for {host})",
                hint="raise it with --timeout if the registry is just slow",
            ) from exc
        except TimeoutError as exc:
            raise TransportError(
                f"{what}: no answer from {host} within {timeout:.0f}s ({type(exc).__name__})",
                hint="check the network, or raise the limit with --timeout",
            ) from exc
        except MalformedMessage as exc:
            # #14 item 13: the peer answered, wrongly — not a network failure, and not retried (the same bytes
            # would come back).
            raise ProtocolViolation(
                f"{what}: {host} did not answer in HTTP ({escape(str(exc)[:200])})",
                hint="something that is not a registry (or a broken proxy) answers on that host and port",
            ) from exc
        except ProxyRefused as exc:
            raise TransportError(
                f"{what}: cannot reach {host}: {exc}",
                hint="check the proxy (HTTPS_PROXY / ALL_PROXY), its credentials and NO_PROXY",
            ) from exc
        except ProxyTlsError as exc:
            raise TransportError(
                f"{what}: cannot reach {host}: {exc}",
                hint=(
                    "pass --ca-file PATH with the proxy's CA certificate\n"
                    "(the proxy's certificate is checked like a registry's)"
                    if exc.untrusted
                    else "is it an http:// proxy? check HTTPS_PROXY / ALL_PROXY"
                ),
            ) from exc
        except (ssl.SSLError, OSError) as exc:
            reason, hint = describe_connect_error(exc)
            raise TransportError(f"{what}: cannot reach {host}: {reason}", hint=hint) from exc
        except ValueError as exc:
            raise ProtocolViolation(
                f"{what}: cannot send the request to {host} ({escape(str(exc))})"
            ) from exc
        if method == "HEAD":
            # A HEAD has no body; reading its empty body gives the connection back to the pool at once.
            response.read()
        if self.config.debug is not None:
            elapsed = (time.monotonic() - started) * 1000
            self._log(
                f"< {response.status} {method} {redact_url(url)} ({elapsed:.0f} ms)  "
                f"[{_redact_headers(response.headers)}]"
            )
        self._observe(host, response)
        return response

    # -- registry signals -----------------------------------------------------------------------------------

    def _observe(self, host: str, response: Response) -> None:
        """Registry signals (:mod:`ocireg.signals`): each ``Warning: 299`` text once, the latest quota per host."""
        headers = response.headers
        if "warning" in headers and self.config.warn is not None:
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
                    self._rate_limits[host] = quota
                self._log(f"  rate limit: {quota}")

    def rate_limit(self, host: str) -> RateLimit | None:
        """The latest ``RateLimit-*`` quota ``host`` (``host[:port]`` as in the URL) announced, if any."""
        with self._signals_lock:
            return self._rate_limits.get(host)


def _policy_names(host: str, port: int) -> tuple[str, ...]:
    """The spellings a per-host option may use for ``host``: ``host:port`` (IPv6 in brackets), then ``host``."""
    name = f"[{host}]" if ":" in host else host
    return (f"{name}:{port}", name, host)


def _origin(url: str) -> tuple[str, str, int]:
    target = split_url(url)
    return (target.scheme, target.host, target.port)


def _loopback_only(config: TransportConfig) -> dict[tuple[str, int], tuple[str, int]]:
    """``config.connect_to``, refused whole if any target is not a loopback address (a test hook, never a way out)."""
    if not config.connect_to:
        return {}
    import ipaddress

    for address, _ in config.connect_to.values():
        try:
            loopback = ipaddress.ip_address(address).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            raise TransportError(f"connect_to: {address!r} is not a loopback address")
    return dict(config.connect_to)


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


def read_capped(response: Response, limit: int, *, deadline: Deadline, what: str) -> bytes:
    """Read a streamed body completely, failing at ``limit`` decoded bytes or at the deadline; closes it.

    A declared ``Content-Length`` above the cap fails before any byte is read. Connection failures and
    malformed bodies are raised by the response itself (:mod:`ocireg.response`) as ocireg errors.
    """
    response.what = what
    try:
        declared = response.headers.get("content-length")
        digits = declared is not None and declared.isascii() and declared.isdigit()
        if declared is not None and digits and (len(declared) > 18 or int(declared) > limit):
            raise BodyTooLarge(f"{what}: body of {declared[:30]} bytes exceeds the {limit}-byte limit")
        chunks: list[bytes] = []
        total = 0
        for chunk in response.iter_bytes(min(limit + 1, 64 * 1024)):
            total += len(chunk)
            if total > limit:
                raise BodyTooLarge(f"{what}: body exceeds the {limit}-byte limit")
            chunks.append(chunk)
            deadline.check(what)
        return b"".join(chunks)
    finally:
        response.close()
