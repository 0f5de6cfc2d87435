"""A test double of ocireg's wire (:class:`ocireg.transport.Wire`): a handler answers each request in-process.

Only for protocol edge cases the real registry cannot produce (docs/testing.md: real parts, not mocks). Everything above
the wire — retries, redirects, the deadline, caps, auth — runs for real; the handler gets ocireg's own
:class:`~ocireg.response.Request` and returns a :class:`~ocireg.response.Response` built by :func:`respond`, or
raises what the wire raises (``ConnectionRefusedError``, ``ConnectionResetError``, ``TimeoutError``,
:class:`~ocireg.response.MalformedMessage`).
"""

from __future__ import annotations

import io
import json as jsonlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from ocireg.response import Headers, Request, Response
from ocireg.transport import Transport, TransportConfig

__all__ = ["Handler", "Scripted", "params", "path", "respond", "transport"]

Handler = Callable[[Request], Response]
HeaderSpec = Mapping[str, str] | Sequence[tuple[str | bytes, str | bytes]] | None


class _Bytes:
    def __init__(self, data: bytes) -> None:
        self._io = io.BytesIO(data)

    def read(self, size: int) -> bytes:
        return self._io.read(size)

    def close(self) -> None:
        return None


class _Chunks:
    """A body from an iterable; whatever the iterable raises (a reset, a timeout) is raised by ``read``."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks: Iterator[bytes] = iter(chunks)
        self._pending = b""

    def read(self, size: int) -> bytes:
        while not self._pending:
            try:
                self._pending = next(self._chunks)
            except StopIteration:
                return b""
        out, self._pending = self._pending[:size], self._pending[size:]
        return out

    def close(self) -> None:
        return None


def _headers(spec: HeaderSpec) -> list[tuple[str, str]]:
    if spec is None:
        return []
    pairs = spec.items() if isinstance(spec, Mapping) else spec
    # http.client decodes field values as Latin-1; so does the double.
    return [
        (
            k.decode("latin-1") if isinstance(k, bytes) else k,
            v.decode("latin-1") if isinstance(v, bytes) else v,
        )
        for k, v in pairs
    ]


def respond(
    status: int,
    *,
    headers: HeaderSpec = None,
    content: str | bytes | Iterable[bytes] | None = None,
    json: Any = None,
    stream: Iterable[bytes] | None = None,
) -> Response:
    """A response as the wire would return it (``url`` and ``what`` are filled in by :class:`Scripted`)."""
    fields = _headers(headers)
    names = {k.lower() for k, _ in fields}
    if json is not None:
        content = jsonlib.dumps(json).encode()
        if "content-type" not in names:
            fields.append(("Content-Type", "application/json"))
    body: _Bytes | _Chunks
    if isinstance(content, str):
        content = content.encode()
    if content is not None and not isinstance(content, bytes):
        stream = content
    if stream is not None:
        body = _Chunks(stream)
    else:
        data = content if isinstance(content, bytes) else b""
        body = _Bytes(data)
        if "content-length" not in names and "transfer-encoding" not in names:
            fields.append(("Content-Length", str(len(data))))
    return Response(status, Headers(fields), url="", body=body)


class Scripted:
    """The wire, answered by ``handler``; ``requests`` keeps every request it saw (bodies read)."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.requests: list[Request] = []

    def send(self, request: Request, *, timeout: float, end: float | None, what: str = "request") -> Response:
        fields = request.headers.multi_items()
        content = request.content
        if "content-length" in request.headers:  # the framing the wire adds (ocireg.connection)
            pass
        elif isinstance(content, bytes) or (content is None and request.method in ("POST", "PUT", "PATCH")):
            fields.append(("Content-Length", str(len(content or b""))))
        elif content is not None:
            fields.append(("Transfer-Encoding", "chunked"))
        request.headers = Headers(fields)
        request.read()  # like the wire, the body is consumed by sending it
        self.requests.append(request)
        response = self.handler(request)
        response.url = request.url
        response.what = what
        return response

    def close(self) -> None:
        return None


def transport(handler: Handler, config: TransportConfig | None = None) -> Transport:
    """A :class:`Transport` whose wire is ``handler``."""
    return Transport(config or TransportConfig(), wire=Scripted(handler))


def path(request: Request) -> str:
    return urlsplit(request.url).path


def params(request: Request) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(request.url).query, keep_blank_values=True))
