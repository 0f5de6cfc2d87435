"""Blobs (#15 item 2): read one whole (small, verified) or as a stream, check, mount across repositories, upload.

Writes: see the package docstring (:mod:`ocireg.client`): never replayed blindly, scopes widened once.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from urllib.parse import urljoin, urlsplit

from ocireg.auth import read_capped_quiet
from ocireg.client.core import ClientCore, _header_digest
from ocireg.connection import split_url
from ocireg.errors import (
    DigestMismatch,
    NotFound,
    OciregError,
    ProtocolViolation,
    UploadSessionLost,
    UsageError,
)
from ocireg.reference import Digest, Repository
from ocireg.response import Response
from ocireg.text import escape
from ocireg.transport import Deadline, read_capped, redact_url

#: Bytes per read when streaming a blob: memory per transfer stays at a few chunks whatever the blob size.
BLOB_CHUNK_SIZE = 1024 * 1024


class BlobApi(ClientCore):
    """The blob calls of :class:`~ocireg.client.RegistryClient`."""

    def get_blob_bytes(
        self, repository: Repository, digest: Digest, *, limit: int, deadline: Deadline | None = None
    ) -> bytes:
        """GET a small blob (config, ...) completely, verifying its digest."""
        with self.open_blob(repository, digest, deadline=deadline) as blob:
            return blob.read_verified(limit, digest)

    def head_blob(
        self,
        repository: Repository,
        digest: Digest,
        *,
        deadline: Deadline | None = None,
        scopes: tuple[str, ...] | None = None,
    ) -> int | None:
        """The size of blob ``digest`` in ``repository``, or None when the registry says it is not there."""
        deadline = deadline or self.deadline()
        what = _blob_what(repository, digest)
        try:
            response = self.request(
                "HEAD",
                repository.registry,
                _blob_path(repository, digest),
                scopes=scopes or (repository.scope("pull"),),
                deadline=deadline,
                what=what,
            )
        except NotFound:
            return None
        response.close()
        size = _content_length(response)
        if size is None:
            raise ProtocolViolation(f"{what}: HEAD answered 200 without a valid Content-Length")
        return size

    def open_blob(
        self, repository: Repository, digest: Digest, *, deadline: Deadline | None = None
    ) -> BlobStream:
        """Start a streaming GET of a blob; use the result as a context manager and read ``chunks()``.

        Registries often redirect blob GETs to object storage; the transport follows without sending
        ``Authorization`` to the other host. The bytes are passed on as received (``Accept-Encoding:
        identity``, no decoding) so they still hash to ``digest``; verifying them is the reader's job
        (:func:`verified_chunks`, which :meth:`upload_blob` applies; :meth:`BlobStream.read_verified`).
        """
        deadline = deadline or self.deadline()
        what = _blob_what(repository, digest)
        response = self.request(
            "GET",
            repository.registry,
            _blob_path(repository, digest),
            scopes=(repository.scope("pull"),),
            headers={"Accept-Encoding": "identity"},
            deadline=deadline,
            what=what,
        )
        return BlobStream(response, deadline=deadline, what=what)

    def mount_blob(
        self,
        repository: Repository,
        digest: Digest,
        source: Repository,
        *,
        deadline: Deadline | None = None,
        scopes: tuple[str, ...] | None = None,
    ) -> bool:
        """Cross-repository mount of ``digest`` from ``source`` into ``repository`` (same registry).

        True when the registry mounted it (201): no byte is uploaded. False when it answered 202 (the blob is
        not mountable, e.g. no pull access on ``source``): the upload session it opened is cancelled and the
        caller uploads instead. One token carries pull on the source and pull,push on the destination.
        """
        if repository.registry != source.registry:
            raise UsageError("a blob can only be mounted from a repository on the same registry")
        deadline = deadline or self.deadline()
        what = f"mount of blob {digest} from {escape(str(source))} into {escape(str(repository))}"
        response = self.request(
            "POST",
            repository.registry,
            f"/v2/{repository.path}/blobs/uploads/?mount={digest}&from={source.path}",
            scopes=scopes or (repository.scope("pull", "push"), source.scope("pull")),
            deadline=deadline,
            what=what,
            ok=(201, 202),
        )
        read_capped_quiet(response, deadline, what)
        if response.status == 201:
            announced = _header_digest(response.headers, what)
            if announced is not None and announced != digest:
                raise DigestMismatch(f"{what}: the registry mounted {announced} instead")
            return True
        location = response.headers.get("location")
        if location:
            self._cancel_upload(repository, location, deadline, what)
        return False

    def upload_blob(
        self,
        repository: Repository,
        digest: Digest,
        size: int,
        chunks: Iterable[bytes],
        *,
        deadline: Deadline | None = None,
        scopes: tuple[str, ...] | None = None,
    ) -> None:
        """Upload a blob from ``chunks`` without holding it in memory: ``POST`` an upload, then one streamed
        ``PUT <Location>?digest=`` (monolithic, ``Content-Length: size``). A session the registry forgets
        (``404 BLOB_UPLOAD_UNKNOWN``) is started afresh once when ``chunks`` can be read again (not an iterator);
        else :class:`~ocireg.errors.UploadSessionLost` (exit 6) is raised.

        The bytes are verified while they stream (:func:`verified_chunks`): on a wrong size or digest the last
        chunk is never sent, so the registry cannot commit the blob, and :class:`~ocireg.errors.DigestMismatch`
        is raised. The upload ``Location`` may be relative; one on another scheme, host or port than the
        registry is refused (SEC: upload Location handling; credentials never leave the registry's origin).
        """
        deadline = deadline or self.deadline()
        scopes = scopes or (repository.scope("pull", "push"),)
        try:
            self._upload_once(repository, digest, size, chunks, deadline, scopes)
        except UploadSessionLost:
            if isinstance(chunks, Iterator):
                raise  # the bytes are gone: the caller opens its source again (operations.copy does, once)
            self._upload_once(repository, digest, size, chunks, deadline, scopes)

    def _upload_once(
        self,
        repository: Repository,
        digest: Digest,
        size: int,
        chunks: Iterable[bytes],
        deadline: Deadline,
        scopes: tuple[str, ...],
    ) -> None:
        """One upload session: ``POST``, then the streamed ``PUT``."""
        what = f"upload of blob {digest} to {escape(str(repository))}"
        response = self.request(
            "POST",
            repository.registry,
            f"/v2/{repository.path}/blobs/uploads/",
            scopes=scopes,
            deadline=deadline,
            what=what,
            ok=(202,),
        )
        read_capped_quiet(response, deadline, what)
        path = self._upload_path(repository, response.headers.get("location"), deadline, what)
        separator = "&" if "?" in path else "?"
        try:
            response = self.request(
                "PUT",
                repository.registry,
                f"{path}{separator}digest={digest}",
                scopes=scopes,
                headers={"Content-Type": "application/octet-stream", "Content-Length": str(size)},
                content=verified_chunks(chunks, digest, size, what=f"blob {digest}"),
                deadline=deadline,
                what=what,
                ok=(201, 204),
            )
        except NotFound as exc:
            # 404 to the PUT of a session the registry itself opened: it forgot the session (BLOB_UPLOAD_UNKNOWN;
            # a restart, a load balancer without sticky sessions). Never "absent" (exit 1): exit 6, restarted once.
            raise UploadSessionLost(
                f"{what}: the registry lost the upload session ({exc})",
                hint="the registry (or a load balancer in front of it) does not keep upload sessions; try again",
                status=404,
            ) from None
        except OciregError:
            self._cancel_upload(repository, path, deadline, what)
            raise
        read_capped_quiet(response, deadline, what)
        announced = _header_digest(response.headers, what)
        if announced is not None and announced != digest:
            raise DigestMismatch(f"{what}: the registry stored the blob as {announced}")

    def _upload_path(
        self, repository: Repository, location: str | None, deadline: Deadline, what: str
    ) -> str:
        """The path+query of an upload ``Location``, which must be on the registry's own origin."""
        if not location:
            raise ProtocolViolation(f"{what}: the registry opened an upload without a Location header")
        base_url = self._base_url(repository.registry, deadline)
        base = split_url(base_url)
        joined = urljoin(f"{base_url}/v2/{repository.path}/blobs/uploads/", location.strip())
        try:
            target = split_url(joined) if urlsplit(joined).scheme in ("http", "https") else None
        except ValueError as exc:
            raise ProtocolViolation(f"{what}: invalid upload Location") from exc
        if target is None or (target.scheme, target.host, target.port) != (base.scheme, base.host, base.port):
            # Credentials go only to the registry (docs/architecture.md §4): an upload Location elsewhere (SSRF, a storage
            # host, a downgrade to http) is refused rather than sent our Authorization or our data.
            raise ProtocolViolation(
                f"{what}: the registry sent an upload Location on another origin "
                f"({redact_url(joined)}); refused",
                hint="a registry behind a proxy must generate upload URLs for its public address",
            )
        return target.path

    def _cancel_upload(self, repository: Repository, location: str, deadline: Deadline, what: str) -> None:
        """Best effort ``DELETE`` of an upload session, so a failed upload leaves nothing behind."""
        try:
            path = self._upload_path(repository, location, deadline, what)
            response = self.request(
                "DELETE",
                repository.registry,
                path,
                scopes=(repository.scope("pull", "push"),),
                deadline=Deadline(_cleanup_budget(deadline)),
                what=f"cancel of {what}",
                ok=(200, 202, 204, 404),
            )
            response.close()
        except OciregError:
            pass


class BlobStream:
    """An open blob GET (from :meth:`RegistryClient.open_blob`): ``size`` and the raw ``chunks()``."""

    def __init__(self, response: Response, *, deadline: Deadline, what: str) -> None:
        self._response = response
        self._deadline = deadline
        self._what = what
        self.size = _content_length(response)

    def __enter__(self) -> BlobStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._response.close()

    def read_verified(self, limit: int, digest: Digest) -> bytes:
        """The whole body, at most ``limit`` bytes, verified against ``digest`` (a small blob: a config)."""
        raw = read_capped(self._response, limit, deadline=self._deadline, what=self._what)
        if not digest.matches(raw):
            raise DigestMismatch(f"{self._what}: the bytes received do not hash to the digest")
        return raw

    def chunks(self, chunk_size: int = BLOB_CHUNK_SIZE) -> Iterator[bytes]:
        """The body as received, ``chunk_size`` bytes at a time (memory stays bounded whatever the blob size)."""
        self._response.what = self._what  # failures while reading are raised as ocireg errors naming it
        try:
            for chunk in self._response.iter_raw(chunk_size):
                self._deadline.check(self._what)
                yield chunk
        finally:
            self._response.close()


def _blob_path(repository: Repository, digest: Digest) -> str:
    return f"/v2/{repository.path}/blobs/{digest}"


def _blob_what(repository: Repository, digest: Digest) -> str:
    return f"blob {digest} in {escape(str(repository))}"


def _content_length(response: Response) -> int | None:
    """The ``Content-Length`` when it is a plain number that fits 64 bits, else ``None``."""
    length = response.headers.get("content-length", "")
    return int(length) if length.isdigit() and len(length) <= 19 else None


def _cleanup_budget(deadline: Deadline) -> float:
    """Seconds for a best-effort cleanup request: a few, even when the operation's own budget is spent."""
    left = deadline.remaining()
    return 10.0 if left is None else max(2.0, min(10.0, left))


def verified_chunks(chunks: Iterable[bytes], digest: Digest, size: int, *, what: str) -> Iterator[bytes]:
    """Pass ``chunks`` on while hashing them; the last chunk is released only once size and digest match.

    Holding back one chunk means a consumer that sends what it gets (an upload) never completes a body that
    is too long, too short or does not hash to ``digest``: :class:`~ocireg.errors.DigestMismatch` is raised
    instead of the final chunk (TESTING PC: cross-registry copy streams and verifies).
    """
    hasher = digest.hasher()
    total = 0
    held: bytes | None = None
    for chunk in chunks:
        if not chunk:
            continue
        total += len(chunk)
        if total > size:
            raise DigestMismatch(f"{what}: more bytes than the {size} the descriptor announces")
        hasher.update(chunk)
        if held is not None:
            yield held
        held = chunk
    if total != size:
        raise DigestMismatch(f"{what}: {total} bytes received, the descriptor announces {size}")
    if hasher.hexdigest() != digest.hex:
        raise DigestMismatch(
            f"{what}: the bytes received do not hash to the digest",
            hint="the source registry or a proxy altered the blob; nothing was committed at the destination",
        )
    if held is not None:
        yield held
