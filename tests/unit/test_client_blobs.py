"""client/blobs.py on protocol edges the real registry cannot produce (tests/wiredouble.py), issue #5 (the write
primitives) and #15 item 6 (unit test modules named after the module they test).

PC: upload Location handling, streamed verification, mounts; SEC: Location SSRF, no replay of streams.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from urllib.parse import urlsplit

import pytest

from ocireg.client import RegistryClient, verified_chunks
from ocireg.credentials import Credential
from ocireg.errors import DigestMismatch, ProtocolViolation, RegistryError, UsageError
from ocireg.reference import Digest, parse_repository
from ocireg.response import Request, Response
from ocireg.transport import Transport, TransportConfig

from wiredouble import Scripted, params, path, respond

Handler = Callable[[Request], Response]
DATA = b"0123456789" * 1000
DIGEST = Digest.from_bytes(DATA)
REPO = parse_repository("registry.example.com/group/app")


def _client(handler: Handler, credential: Credential | None = None) -> RegistryClient:
    config = TransportConfig(retries=0)
    return RegistryClient(credential, config=config, transport=Transport(config, wire=Scripted(handler)))


def _pieces(data: bytes, size: int = 1000) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


# ------------------------------------------------------------------------------------------- verified_chunks


def test_verified_chunks_passes_good_data_through() -> None:
    assert b"".join(verified_chunks(_pieces(DATA), DIGEST, len(DATA), what="blob")) == DATA


@pytest.mark.parametrize(
    "data",
    [DATA[:-1] + b"X", DATA[:-1], DATA + b"!"],
    ids=["altered", "short", "long"],
)
def test_verified_chunks_withholds_the_last_chunk_on_mismatch(data: bytes) -> None:
    """PC: cross-registry copy verifies while streaming — a bad stream never yields its final chunk."""
    received: list[bytes] = []

    def consume() -> None:
        received.extend(verified_chunks(_pieces(data), DIGEST, len(DATA), what="blob"))

    with pytest.raises(DigestMismatch):
        consume()
    assert len(b"".join(received)) < len(data)
    assert len(b"".join(received)) < len(DATA)


# ------------------------------------------------------------------------------------------------- uploads


def _upload_handler(location: str, seen: list[Request], put_status: int = 201) -> Handler:
    def handle(request: Request) -> Response:
        request.read()
        seen.append(request)
        if request.method == "POST":
            return respond(202, headers={"Location": location})
        if request.method == "PUT":
            return respond(put_status, headers={"Docker-Content-Digest": str(DIGEST)})
        return respond(204)

    return handle


def test_upload_resolves_a_relative_location_and_appends_the_digest() -> None:
    """PC: upload Location handling — relative Location, existing query kept, digest appended, one PUT."""
    seen: list[Request] = []
    with _client(_upload_handler("/v2/group/app/blobs/uploads/u1?_state=abc", seen)) as client:
        client.upload_blob(REPO, DIGEST, len(DATA), _pieces(DATA))
    put = seen[1]
    assert put.method == "PUT"
    assert urlsplit(put.url).hostname == "registry.example.com"
    assert path(put) == "/v2/group/app/blobs/uploads/u1"
    assert params(put) == {"_state": "abc", "digest": str(DIGEST)}
    assert put.headers["content-length"] == str(len(DATA))
    assert put.content == DATA


@pytest.mark.parametrize(
    "location",
    [
        "https://evil.example.net/v2/group/app/blobs/uploads/u1",
        "http://registry.example.com/v2/group/app/blobs/uploads/u1",
        "https://registry.example.com:8443/v2/group/app/blobs/uploads/u1",
        "//evil.example.net/upload",
    ],
    ids=["other-host", "downgrade", "other-port", "scheme-relative"],
)
def test_upload_location_on_another_origin_is_refused(location: str) -> None:
    """SEC: Link/Location/urls SSRF — neither data nor credentials go to another origin."""
    seen: list[Request] = []
    credential = Credential(username="u", password="secret-pw", source="test")
    with _client(_upload_handler(location, seen), credential) as client, pytest.raises(ProtocolViolation):
        client.upload_blob(REPO, DIGEST, len(DATA), _pieces(DATA))
    assert [r.method for r in seen] == ["POST"]
    assert all(urlsplit(r.url).hostname == "registry.example.com" for r in seen)


def test_upload_without_location_is_a_protocol_violation() -> None:
    def handle(request: Request) -> Response:
        return respond(202)

    with _client(handle) as client, pytest.raises(ProtocolViolation):
        client.upload_blob(REPO, DIGEST, len(DATA), _pieces(DATA))


def test_corrupt_stream_is_never_completed_and_the_session_is_cancelled() -> None:
    """PC: the PUT body stops before its last byte; the upload session is deleted."""
    seen: list[str] = []

    def handle(request: Request) -> Response:
        if request.method == "PUT":
            received = request.read()
            seen.append(f"PUT {len(received)}")
            return respond(201)
        seen.append(request.method)
        return respond(202 if request.method == "POST" else 204, headers={"Location": "/v2/up/1"})

    bad = DATA[:-1] + b"X"
    with _client(handle) as client, pytest.raises(DigestMismatch):
        client.upload_blob(REPO, DIGEST, len(DATA), _pieces(bad))
    assert seen == ["POST", "DELETE"]  # the PUT raised while its body was being produced


def test_streamed_body_is_not_replayed_after_a_challenge() -> None:
    """PC: safe replay of writes — a 401 on a streamed PUT fails instead of re-sending a consumed stream."""
    calls: list[str] = []

    def handle(request: Request) -> Response:
        request.read()
        calls.append(request.method)
        if request.method == "POST":
            return respond(202, headers={"Location": "/v2/up/1"})
        if request.method == "PUT":
            return respond(401, headers={"WWW-Authenticate": 'Basic realm="r"'})
        return respond(204)

    with _client(handle) as client, pytest.raises(RegistryError) as caught:
        client.upload_blob(REPO, DIGEST, len(DATA), _pieces(DATA))
    assert "streamed upload" in str(caught.value)
    assert calls.count("PUT") == 1


# ----------------------------------------------------------------------------------------- manifests, mount


def test_mount_202_falls_back_and_cancels_the_session() -> None:
    """PC: a mount answered 202 returns False and deletes the upload session the registry opened."""
    seen: list[str] = []

    def handle(request: Request) -> Response:
        seen.append(f"{request.method} {path(request)}?{urlsplit(request.url).query}")
        if request.method == "POST":
            return respond(202, headers={"Location": "/v2/group/app/blobs/uploads/s1"})
        return respond(204)

    source = parse_repository("registry.example.com/group/base")
    with _client(handle) as client:
        assert client.mount_blob(REPO, DIGEST, source) is False
    assert seen == [
        f"POST /v2/group/app/blobs/uploads/?mount={DIGEST}&from=group/base",
        "DELETE /v2/group/app/blobs/uploads/s1?",
    ]


def test_mount_across_registries_is_a_usage_error() -> None:
    with _client(lambda r: respond(500)) as client, pytest.raises(UsageError):
        client.mount_blob(REPO, DIGEST, parse_repository("other.example.com/group/base"))


def test_head_blob_absent_and_present() -> None:
    def handle(request: Request) -> Response:
        if path(request).endswith(str(DIGEST)):
            return respond(200, headers={"Content-Length": "10000"})
        return respond(404, json={"errors": [{"code": "BLOB_UNKNOWN"}]})

    with _client(handle) as client:
        assert client.head_blob(REPO, DIGEST) == 10000
        assert client.head_blob(REPO, Digest.from_bytes(b"other")) is None


def test_open_blob_streams_raw_bytes_without_decoding() -> None:
    """PC: blob bytes are passed on exactly as stored, even if a server labels them gzip-encoded."""
    import gzip

    packed = gzip.compress(DATA)

    def handle(request: Request) -> Response:
        assert request.headers["accept-encoding"] == "identity"
        return respond(
            200,
            content=iter([packed]),
            headers={"Content-Encoding": "gzip", "Content-Length": str(len(packed))},
        )

    with _client(handle) as client, client.open_blob(REPO, Digest.from_bytes(packed)) as stream:
        assert stream.size == len(packed)
        assert b"".join(stream.chunks(4096)) == packed
