"""Copy an image (manifest or whole index) from one repository or registry to another, blobs streamed.

The order is the one that keeps the destination consistent at every moment (distribution spec, "Pushing
Manifests": a manifest's blobs and children must exist before it): blobs first, then child manifests by
digest, then the top manifest under the destination tag. A failure anywhere before that last PUT leaves the
destination tag untouched.

Blobs, per blob and in parallel (``jobs``):

* already at the destination (HEAD) → skipped;
* same registry, other repository → cross-repository mount (no byte moves); a 202 answer falls back to upload;
* otherwise streamed: GET from the source and a streamed PUT to the destination, ``BLOB_CHUNK_SIZE`` at a time,
  with size and digest verified on the way (:func:`ocireg.client.verified_chunks`: on a mismatch the last
  chunk is never sent, so the destination cannot commit a corrupt blob).

With ``referrers`` the manifests that name the copied ones as their ``subject`` (signatures, SBOMs,
attestations) follow, after the image, each with its blobs, and so do their own referrers (a signature of an
SBOM), up to :data:`MAX_REFERRER_DEPTH`. A destination without the referrers API gets them listed under the
subject's referrers tag (:mod:`ocireg.operations.referrers`).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from typing import Protocol

from ocireg import mediatypes
from ocireg.client import RegistryClient
from ocireg.errors import DigestMismatch, NotFound, RegistryError, UploadSessionLost
from ocireg.manifest import Descriptor, Index, Manifest, Platform, require_config_platform, select_platform
from ocireg.operations.referrers import add_to_referrers_tag
from ocireg.operations.workers import run_bounded
from ocireg.record import field, record
from ocireg.reference import Digest, Reference, Repository
from ocireg.text import escape
from ocireg.transport import Deadline

__all__ = ["DEFAULT_JOBS", "MAX_JOBS", "CopyProgress", "CopyResult", "copy_image"]

DEFAULT_JOBS = 4
MAX_JOBS = 16
#: Nested indexes deeper than this are refused (a real image has one level; a loop must not recurse forever).
MAX_INDEX_DEPTH = 4
#: Referrers of referrers followed this deep (image <- SBOM <- signature of the SBOM is 2).
MAX_REFERRER_DEPTH = 3
# Layers the registry does not distribute (Windows base layers): fetched from their ``urls`` by the runtime,
# never copied; ocireg does not follow foreign URLs either (docs/architecture.md §4).
_NONDISTRIBUTABLE = frozenset(
    {
        mediatypes.DOCKER_LAYER_FOREIGN,
        mediatypes.OCI_LAYER_NONDIST,
        mediatypes.OCI_LAYER_NONDIST_GZIP,
        "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
    }
)


class CopyProgress(Protocol):
    """Receives progress; called from worker threads (implementations must be thread-safe)."""

    def planned(self, blobs: int, size: int) -> None:
        """The copy will look at ``blobs`` blobs of ``size`` bytes in total."""

    def advanced(self, size: int) -> None:
        """``size`` more bytes are done (streamed, or a whole blob skipped or mounted)."""


@record(frozen=True)
class CopyResult:
    """What a copy did. ``destination`` carries the final digest (equal to the source's)."""

    source: Reference
    destination: Reference
    digest: Digest
    media_type: str
    manifests: int
    blobs: int
    mounted: int
    uploaded: int
    skipped: int
    bytes_uploaded: int
    platform: Platform | None = None
    referrers: int = 0


@record
class _Counters:
    mounted: int = 0
    uploaded: int = 0
    skipped: int = 0
    bytes_uploaded: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, how: str, size: int) -> None:
        with self.lock:
            if how == "mounted":
                self.mounted += 1
            elif how == "skipped":
                self.skipped += 1
            else:
                self.uploaded += 1
                self.bytes_uploaded += size


def copy_image(
    client: RegistryClient,
    source: Reference,
    destination: Reference,
    *,
    platform: Platform | None = None,
    jobs: int = DEFAULT_JOBS,
    progress: CopyProgress | None = None,
    referrers: bool = False,
) -> CopyResult:
    """Copy ``source`` to ``destination`` (a tag, or a digest that must equal the copied manifest's).

    An index is copied with every child by default; with ``platform`` only the matching child is copied and
    the destination names that child manifest. The destination digest always equals the source digest
    (exact bytes). Each blob transfer gets its own deadline (the client's ``config.deadline``), so a large
    image is not cut off by a budget meant for one request sequence. With ``referrers`` the referrers of every
    manifest copied follow (see the module documentation); ``CopyResult.referrers`` counts them.
    """
    if destination.tag is None and destination.digest is None:
        raise ValueError("the destination needs a tag or a digest")
    deadline = client.deadline()
    top = client.get_manifest(source, deadline=deadline)
    if platform is not None:
        top = _select(client, source, top, platform)
    counters = _Counters()
    dst_scopes = _destination_scopes(source.repository, destination.repository)
    documents, blobs = _transfer_tree(
        client, source.repository, destination.repository, top, dst_scopes, jobs, counters, progress
    )
    digest = _push_top(client, destination, top, dst_scopes)
    copied_referrers = 0
    if referrers:
        copied_referrers = _copy_referrers(
            client,
            source.repository,
            destination.repository,
            [document.digest for document in documents],
            jobs=jobs,
            counters=_Counters(),  # the result's blob figures describe the image itself
            depth=0,
            seen=set(),
        )
    return CopyResult(
        source=source,
        destination=Reference(destination.repository, destination.tag, digest),
        digest=digest,
        media_type=top.media_type,
        manifests=len(documents),
        blobs=len(blobs),
        mounted=counters.mounted,
        uploaded=counters.uploaded,
        skipped=counters.skipped,
        bytes_uploaded=counters.bytes_uploaded,
        platform=platform,
        referrers=copied_referrers,
    )


def _push_top(
    client: RegistryClient, destination: Reference, top: Manifest | Index, scopes: tuple[str, ...]
) -> Digest:
    """Push the copied manifest itself under ``destination`` (a digest given there must be the copied one)."""
    deadline = client.deadline()
    final = Reference(destination.repository, destination.tag, destination.digest)
    if final.tag is not None and final.digest is not None:
        if final.digest != top.digest:
            raise DigestMismatch(
                f"{escape(str(destination))}: the image copied has digest {top.digest}, not the one given"
            )
        final = final.with_digest(None)
    digest = client.put_manifest(final, top.raw, top.media_type, deadline=deadline, scopes=scopes)
    if (
        digest != top.digest
    ):  # put_manifest hashes the same bytes; kept as the contract's last line of defence
        raise DigestMismatch(f"{escape(str(destination))}: pushed {digest}, expected {top.digest}")
    return digest


def _transfer_tree(
    client: RegistryClient,
    source: Repository,
    destination: Repository,
    top: Manifest | Index,
    scopes: tuple[str, ...],
    jobs: int,
    counters: _Counters,
    progress: CopyProgress | None,
) -> tuple[list[Manifest | Index], list[Descriptor]]:
    """Every blob and child manifest ``top`` needs, at the destination; ``top`` itself is left to the caller.

    Returns the documents (children first, ``top`` last) and the unique blobs.
    """
    documents = _collect(client, source, top, depth=0)
    blobs = _unique_blobs(documents)
    if progress is not None:
        progress.planned(len(blobs), sum(b.size for b in blobs))
    _transfer_all(client, source, destination, blobs, scopes, jobs, counters, progress)
    deadline = client.deadline()
    for document in documents[:-1]:
        child = Reference(destination, None, document.digest)
        client.put_manifest(child, document.raw, document.media_type, deadline=deadline, scopes=scopes)
    return documents, blobs


def _copy_referrers(
    client: RegistryClient,
    source: Repository,
    destination: Repository,
    subjects: Sequence[Digest],
    *,
    jobs: int,
    counters: _Counters,
    depth: int,
    seen: set[Digest],
) -> int:
    """Copy the referrers of each of ``subjects`` (and theirs, ``depth`` levels on); returns how many.

    A referrer listed at the source but gone from it (a stale referrers-tag entry) is skipped."""
    if depth >= MAX_REFERRER_DEPTH:
        return 0
    scopes = _destination_scopes(source, destination)
    copied = 0
    for subject in subjects:
        unindexed: list[Descriptor] = []
        for descriptor in client.referrers(source, subject).manifests:
            if descriptor.digest in seen:
                continue
            seen.add(descriptor.digest)
            try:
                document = client.get_manifest(Reference(source, None, descriptor.digest))
            except NotFound:
                # A stale entry of the source's referrers tag (deleting an artifact does not update it): there
                # is nothing to copy, and listing it at the destination would point at nothing.
                continue
            _transfer_tree(client, source, destination, document, scopes, jobs, counters, None)
            if not _push_referrer(
                client, destination, document, scopes
            ):  # no OCI-Subject answer: the destination needs the referrers tag
                unindexed.append(descriptor)
            copied += 1
            copied += _copy_referrers(
                client,
                source,
                destination,
                [descriptor.digest],
                jobs=jobs,
                counters=counters,
                depth=depth + 1,
                seen=seen,
            )
        if unindexed:
            add_to_referrers_tag(client, destination, subject, unindexed, scopes=scopes)
    return copied


def _push_referrer(
    client: RegistryClient, destination: Repository, document: Manifest | Index, scopes: tuple[str, ...]
) -> bool:
    """Push a referrer; whether the registry indexed it by its subject (else the referrers tag must list it)."""
    target = Reference(destination, None, document.digest)
    deadline = client.deadline()
    if document.subject is None:  # listed in a tag index by hand, without a subject: keep it listed
        client.put_manifest(target, document.raw, document.media_type, deadline=deadline, scopes=scopes)
        return False
    return client.put_referrer(
        target, document.raw, document.media_type, document.subject.digest, deadline=deadline, scopes=scopes
    )


def _select(
    client: RegistryClient, source: Reference, document: Manifest | Index, platform: Platform
) -> Manifest | Index:
    """The child of an index for ``platform``; a single image must itself be for ``platform``."""
    if isinstance(document, Index):
        child = select_platform(document, platform)
        return _child(client, source.repository, document, child.digest)
    config = client.get_image_config(source.with_digest(document.digest), document)
    require_config_platform(config, platform, str(source))
    return document


def _collect(
    client: RegistryClient, repository: Repository, document: Manifest | Index, *, depth: int
) -> list[Manifest | Index]:
    """``document`` and everything it references, children first (the order they must be pushed in)."""
    if isinstance(document, Manifest):
        return [document]
    if depth >= MAX_INDEX_DEPTH:
        raise RegistryError(f"index {document.digest}: indexes nested more than {MAX_INDEX_DEPTH} deep")
    ordered: list[Manifest | Index] = []
    seen: set[Digest] = set()
    for descriptor in document.manifests:
        if descriptor.digest in seen:
            continue
        seen.add(descriptor.digest)
        child = _child(client, repository, document, descriptor.digest)
        ordered.extend(d for d in _collect(client, repository, child, depth=depth + 1) if d not in ordered)
    ordered.append(document)
    return ordered


def _child(client: RegistryClient, repository: Repository, index: Index, digest: Digest) -> Manifest | Index:
    """A child manifest the index names; missing at the source, the source is inconsistent (exit 6, not 1:
    the image the user named exists)."""
    try:
        return client.get_manifest(Reference(repository, None, digest))
    except NotFound as exc:
        raise RegistryError(
            f"index {index.digest} in {escape(str(repository))} names the child manifest {digest}, which the "
            f"source registry does not have: the source is inconsistent ({exc})",
            status=404,
        ) from None


def _unique_blobs(documents: Sequence[Manifest | Index]) -> list[Descriptor]:
    blobs: dict[Digest, Descriptor] = {}
    for document in documents:
        if isinstance(document, Manifest):
            for blob in document.blobs:
                if blob.urls and blob.media_type in _NONDISTRIBUTABLE:
                    continue
                blobs.setdefault(blob.digest, blob)
    return list(blobs.values())


def _destination_scopes(source: Repository, destination: Repository) -> tuple[str, ...]:
    """One token for everything at the destination: pull,push there, plus pull on the source for mounts."""
    scopes = [destination.scope("pull", "push")]
    if source.registry == destination.registry and source != destination:
        scopes.append(source.scope("pull"))
    return tuple(scopes)


def _transfer_all(
    client: RegistryClient,
    source: Repository,
    destination: Repository,
    blobs: Sequence[Descriptor],
    scopes: tuple[str, ...],
    jobs: int,
    counters: _Counters,
    progress: CopyProgress | None,
) -> None:
    stop = threading.Event()

    def work(blob: Descriptor) -> None:
        if stop.is_set():
            return
        try:
            how = _transfer(client, source, destination, blob, scopes, progress)
        except BaseException:  # re-raised below
            stop.set()  # blobs not started yet are not started; the first error is reported
            raise
        counters.add(how, blob.size)

    workers = max(1, min(jobs, MAX_JOBS, len(blobs) or 1))
    if workers == 1:
        for blob in blobs:
            work(blob)
        return
    # The first blob (an image's config: small) goes alone, so the destination token is fetched once before
    # the workers start, instead of every worker collecting its own 401 first.
    work(blobs[0])
    # Ctrl-C: blobs not started are not started, and the interrupt does not wait for running transfers.
    futures = run_bounded(work, blobs[1:], jobs=workers, name="ocireg-copy", on_interrupt=stop.set)
    errors = [f.exception() for f in futures]
    first = next((e for e in errors if e is not None), None)
    if first is not None:
        raise first


def _transfer(
    client: RegistryClient,
    source: Repository,
    destination: Repository,
    blob: Descriptor,
    scopes: tuple[str, ...],
    progress: CopyProgress | None,
) -> str:
    """Make ``blob`` present at the destination; returns ``skipped``, ``mounted`` or ``uploaded``."""
    deadline = client.deadline()
    if client.head_blob(destination, blob.digest, deadline=deadline, scopes=scopes) is not None:
        _advance(progress, blob.size)
        return "skipped"
    mountable = source.registry == destination.registry and source != destination
    if mountable and client.mount_blob(destination, blob.digest, source, deadline=deadline, scopes=scopes):
        _advance(progress, blob.size)
        return "mounted"
    try:
        _upload(client, source, destination, blob, scopes, progress, deadline)
    except UploadSessionLost:
        # The destination forgot the upload session: read the source again and start afresh, once (#23).
        _upload(client, source, destination, blob, scopes, progress, deadline)
    return "uploaded"


def _upload(
    client: RegistryClient,
    source: Repository,
    destination: Repository,
    blob: Descriptor,
    scopes: tuple[str, ...],
    progress: CopyProgress | None,
    deadline: Deadline,
) -> None:
    with client.open_blob(source, blob.digest, deadline=deadline) as stream:
        if stream.size is not None and stream.size != blob.size:
            raise DigestMismatch(
                f"blob {blob.digest} in {escape(str(source))}: the registry announces {stream.size} bytes, "
                f"the manifest {blob.size}"
            )
        client.upload_blob(
            destination,
            blob.digest,
            blob.size,
            _counted(stream.chunks(), progress),
            deadline=deadline,
            scopes=scopes,
        )


def _counted(chunks: Iterator[bytes], progress: CopyProgress | None) -> Iterator[bytes]:
    for chunk in chunks:
        _advance(progress, len(chunk))
        yield chunk


def _advance(progress: CopyProgress | None, size: int) -> None:
    if progress is not None:
        progress.advanced(size)
