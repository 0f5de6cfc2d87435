"""The rig's own small HTTP client on ``http.client`` (never ocireg: the rig must not share the code under test).

Enough for seeding and assertions: ``Client(base_url=..., verify=..., timeout=..., auth=...)`` with
``get/head/post/put/patch/delete/request`` (``headers``, ``params``, ``content`` bytes or an iterator sent
chunked, ``data`` form, ``json``, ``auth``) and ``stream(...)``; keep-alive per thread and origin; redirects are
never followed; the process environment (proxies, ``SSL_CERT_*``, ``.netrc``) is never read.
Errors: :class:`ConnectError` (could not connect), :class:`RemoteProtocolError` (body cut short / not HTTP),
:class:`ReadError` (reset), :class:`TimeoutException`; all are :class:`TransportError`.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import json as jsonlib
import ssl
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any
from urllib.parse import urlencode, urljoin, urlsplit

__all__ = [
    "Client",
    "ConnectError",
    "Headers",
    "ReadError",
    "RemoteProtocolError",
    "Response",
    "TimeoutException",
    "TransportError",
]

Params = Mapping[str, str] | Sequence[tuple[str, str]] | None


class TransportError(Exception):
    """Any failure below HTTP."""


class ConnectError(TransportError):
    pass


class ReadError(TransportError):
    pass


class RemoteProtocolError(TransportError):
    pass


class TimeoutException(TransportError):
    pass


class Headers(Mapping[str, str]):
    """Case-insensitive multi-map; ``[name]``/``get`` join repeats with ``", "``."""

    def __init__(self, items: Iterable[tuple[str, str]] = ()) -> None:
        self._items = [(k, v) for k, v in items]

    def __getitem__(self, name: str) -> str:
        values = self.get_list(name)
        if not values:
            raise KeyError(name)
        return ", ".join(values)

    def __iter__(self) -> Iterator[str]:
        return iter(dict.fromkeys(k.lower() for k, _ in self._items))

    def __len__(self) -> int:
        return len(set(self))

    def get_list(self, name: str) -> list[str]:
        return [v for k, v in self._items if k.lower() == name.lower()]

    def multi_items(self) -> list[tuple[str, str]]:
        return list(self._items)


def _mapped(call: Any) -> Any:
    try:
        return call()
    except TimeoutError as exc:
        raise TimeoutException(str(exc)) from exc
    except http.client.IncompleteRead as exc:
        raise RemoteProtocolError(f"incomplete body: {exc}") from exc
    except http.client.RemoteDisconnected as exc:
        raise RemoteProtocolError(str(exc)) from exc
    except http.client.HTTPException as exc:
        raise RemoteProtocolError(f"{type(exc).__name__}: {exc}") from exc
    except ssl.SSLCertVerificationError as exc:
        raise ConnectError(str(exc)) from exc
    except (ConnectionRefusedError, ssl.SSLError) as exc:
        raise ConnectError(str(exc)) from exc
    except OSError as exc:
        raise ReadError(str(exc)) from exc


class Response:
    """Status, headers and the body (read at once, or streamed with ``iter_raw``/``iter_bytes``)."""

    def __init__(self, raw: http.client.HTTPResponse, url: str, release: Any) -> None:
        self._raw = raw
        self._release = release
        self.url = url
        self.status_code = raw.status
        self.reason_phrase = raw.reason
        self.headers = Headers(raw.getheaders())
        self._content: bytes | None = None

    @property
    def is_success(self) -> bool:
        return 200 <= self.status_code < 300

    def iter_raw(self, chunk_size: int = 64 * 1024) -> Iterator[bytes]:
        if self._content is not None:
            yield self._content
            return
        try:
            while True:
                chunk = _mapped(lambda: self._raw.read1(chunk_size))
                if self._raw.length == 0:
                    self._raw.close()  # read1 does not mark a Content-Length body finished; the connection is reusable
                if not chunk:
                    if self._raw.length:  # http.client returns b"" when a Content-Length body ends early
                        raise RemoteProtocolError("body ended before its Content-Length")
                    break
                yield chunk
        finally:
            self.close()

    iter_bytes = iter_raw

    def read(self) -> bytes:
        if self._content is None:
            self._content = b"".join(self.iter_raw())
        return self._content

    @property
    def content(self) -> bytes:
        return self.read()

    @property
    def text(self) -> str:
        return self.read().decode("utf-8", "replace")

    def json(self) -> Any:
        return jsonlib.loads(self.read())

    def close(self) -> None:
        if self._release is not None:
            release, self._release = self._release, None
            release(self._raw)

    def __enter__(self) -> Response:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Client:
    """See the module docstring. Thread-safe: each thread keeps its own connections."""

    def __init__(
        self,
        *,
        base_url: str = "",
        verify: ssl.SSLContext | bool = True,
        timeout: float = 10.0,
        auth: tuple[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        **_ignored: Any,  # trust_env, follow_redirects, limits: always off / never / unbounded
    ) -> None:
        self.base_url = base_url.rstrip("/")
        if isinstance(verify, ssl.SSLContext):
            self._ctx = verify
        elif verify:
            self._ctx = ssl.create_default_context()
        else:
            self._ctx = ssl._create_unverified_context()  # noqa: S323 - explicit verify=False
        self.timeout = timeout
        self.auth = auth
        self.headers = dict(headers or {})
        self._local = threading.local()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        for conn in getattr(self._local, "conns", {}).values():
            conn.close()
        self._local.conns = {}

    def _conn(self, scheme: str, netloc: str) -> http.client.HTTPConnection:
        conns: dict[tuple[str, str], http.client.HTTPConnection] = self._local.__dict__.setdefault(
            "conns", {}
        )
        conn = conns.get((scheme, netloc))
        if conn is None:
            if scheme == "https":
                conn = http.client.HTTPSConnection(netloc, timeout=self.timeout, context=self._ctx)
            else:
                conn = http.client.HTTPConnection(netloc, timeout=self.timeout)
            conns[(scheme, netloc)] = conn
        return conn

    def _send(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        params: Params = None,
        content: bytes | str | Iterable[bytes] | None = None,
        data: Mapping[str, str] | None = None,
        json: Any = None,
        auth: tuple[str, str] | None = None,
    ) -> Response:
        full = url if "://" in url else urljoin(self.base_url + "/", url.lstrip("/"))
        if params:
            pairs = params.items() if isinstance(params, Mapping) else params
            full += ("&" if "?" in full else "?") + urlencode(list(pairs))
        parts = urlsplit(full)
        send = {**self.headers, **(headers or {})}
        lower = {k.lower() for k in send}
        credentials = auth or self.auth
        if credentials and "authorization" not in lower:
            send["Authorization"] = "Basic " + base64.b64encode(":".join(credentials).encode()).decode()
        body: bytes | Iterable[bytes] | None
        if json is not None:
            body = jsonlib.dumps(json).encode()
            send.setdefault("Content-Type", "application/json")
        elif data is not None:
            body = urlencode(data).encode()
            send.setdefault("Content-Type", "application/x-www-form-urlencoded")
        else:
            body = content.encode() if isinstance(content, str) else content
        target = parts.path or "/"
        if parts.query:
            target += "?" + parts.query
        conn = self._conn(parts.scheme, parts.netloc)
        chunked = body is not None and not isinstance(body, bytes) and "content-length" not in lower
        if body is None and method in ("POST", "PUT", "PATCH"):
            body = b""

        replayable = body is None or isinstance(body, bytes)

        def go() -> http.client.HTTPResponse:
            reused = conn.sock is not None
            try:
                conn.request(method, target, body=body, headers=send, encode_chunked=chunked)
                return conn.getresponse()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                conn.close()
                if not (reused and replayable):
                    raise
            except BaseException:
                conn.close()
                raise
            # The server closed the idle keep-alive connection as it was reused: once more on a new one.
            try:
                conn.request(method, target, body=body, headers=send, encode_chunked=chunked)
                return conn.getresponse()
            except BaseException:
                conn.close()
                raise

        raw = _mapped(go)

        def release(response: http.client.HTTPResponse) -> None:
            if not response.isclosed():
                response.close()
                conn.close()  # body not read to its end: the connection cannot carry another request

        response = Response(raw, full, release)
        return response

    def request(self, method: str, url: str, **kwargs: Any) -> Response:
        response = self._send(method, url, **kwargs)
        response.read()
        return response

    def get(self, url: str, **kwargs: Any) -> Response:
        return self.request("GET", url, **kwargs)

    def head(self, url: str, **kwargs: Any) -> Response:
        return self.request("HEAD", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> Response:
        return self.request("POST", url, **kwargs)

    def put(self, url: str, **kwargs: Any) -> Response:
        return self.request("PUT", url, **kwargs)

    def patch(self, url: str, **kwargs: Any) -> Response:
        return self.request("PATCH", url, **kwargs)

    def delete(self, url: str, **kwargs: Any) -> Response:
        return self.request("DELETE", url, **kwargs)

    @contextlib.contextmanager
    def stream(self, method: str, url: str, **kwargs: Any) -> Iterator[Response]:
        response = self._send(method, url, **kwargs)
        try:
            yield response
        finally:
            response.close()
