"""Delete a tag without ever removing other tags silently (docs/architecture.md §4, TESTING PC: safe tag delete).

The trap: the registry API deletes *manifests*, by digest, and a manifest delete takes every tag pointing to
that digest with it (distribution untags them all). ``latest`` and ``v1.2.3`` on one image: "delete
``latest``" by digest would silently delete ``v1.2.3`` too. So there are three ways, chosen explicitly:

``tag`` (default)
    The OCI tag delete, ``DELETE /v2/<name>/manifests/<tag>`` (distribution spec 1.1, distribution v3): removes
    exactly that tag. A registry may advertise a single-tag delete of its own in ``GET /v2/`` (its profile
    reads the headers and knows the path, docs/architecture.md §11), which is used when the headers say so
    (seen already, or asked for once after the OCI delete was refused). Registries without either
    (distribution 2.8 answers ``400 DIGEST_INVALID``) get a refusal naming the two other ways; nothing is
    deleted. A registry that deletes only through its own web API gets its profile's message.
``untag``
    Swap a unique throw-away manifest onto the tag (an OCI manifest on the empty config
    ``application/vnd.oci.empty.v1+json`` with a random nonce, so no other tag can share its digest) and
    delete *that* by digest: the tag disappears, every other tag stays on the original image. Deletion is
    probed first so a registry that cannot delete never gets the placeholder.
``manifest``
    Delete the digest itself, after listing every tag that will disappear with it; refused without
    ``yes`` when other tags would go too.
"""

from __future__ import annotations

import contextlib
import json
import secrets
from collections.abc import Sequence
from typing import Literal

from ocireg import mediatypes
from ocireg.client import RegistryClient
from ocireg.errors import NotFound, OciregError, Refused, RegistryError, Unsupported, UsageError
from ocireg.operations.workers import run_bounded
from ocireg.record import record
from ocireg.reference import Digest, Reference, Repository
from ocireg.text import escape

__all__ = [
    "EMPTY_CONFIG",
    "DeleteMode",
    "DeleteResult",
    "SwapInterrupted",
    "delete",
    "placeholder_manifest",
    "restore_hint",
]

DeleteMode = Literal["tag", "untag", "manifest"]

#: The OCI empty descriptor's content (image spec 1.1, "Guidance for an Empty Descriptor").
EMPTY_CONFIG = b"{}"
_EMPTY_DIGEST = Digest.from_bytes(EMPTY_CONFIG)
_ZERO_DIGEST = Digest("sha256", "0" * 64)
PLACEHOLDER_ARTIFACT_TYPE = "application/vnd.ocireg.placeholder.v1"
MAX_JOBS = 32


@record(frozen=True)
class DeleteResult:
    """What ``delete`` did (or, with ``dry_run``, would do).

    ``status``: ``deleted``, ``would-delete`` or ``absent`` (with ``ignore_missing``). ``digest``: the
    manifest the tag pointed to. ``removed_tags``: every tag that disappears. ``deleted_manifest``: the digest
    deleted by digest (the placeholder for ``untag``, the image for ``manifest``), None for a tag delete.
    """

    reference: Reference
    mode: DeleteMode
    status: str
    digest: Digest | None = None
    removed_tags: tuple[str, ...] = ()
    deleted_manifest: Digest | None = None


def placeholder_manifest(tag: str) -> bytes:
    """A unique, tiny OCI manifest to swap onto ``tag`` before deleting it by digest (``--untag``)."""
    empty = {"mediaType": mediatypes.OCI_EMPTY, "digest": str(_EMPTY_DIGEST), "size": len(EMPTY_CONFIG)}
    doc = {
        "schemaVersion": 2,
        "mediaType": mediatypes.OCI_MANIFEST,
        "artifactType": PLACEHOLDER_ARTIFACT_TYPE,
        "config": empty,
        "layers": [empty],
        "annotations": {
            "io.ocireg.placeholder": f"ocireg delete --untag {tag}: swapped onto the tag to delete it alone",
            # The nonce makes the digest unique: no other tag can point to the manifest deleted by digest.
            "io.ocireg.nonce": secrets.token_hex(16),
        },
    }
    return json.dumps(doc, separators=(",", ":")).encode()


def delete(
    client: RegistryClient,
    ref: Reference,
    *,
    mode: DeleteMode = "tag",
    yes: bool = False,
    dry_run: bool = False,
    ignore_missing: bool = False,
    jobs: int = 8,
) -> DeleteResult:
    """Delete ``ref`` (a tag; a digest reference only with ``mode="manifest"``) the way ``mode`` says.

    Raises :class:`~ocireg.errors.NotFound` when there is nothing to delete (unless ``ignore_missing``),
    :class:`~ocireg.errors.Unsupported` when the registry cannot do it (the message names the alternatives),
    :class:`~ocireg.errors.Refused` when other tags would disappear without ``yes``. A reference with both
    tag and digest deletes only if the tag still points to that digest.
    """
    if ref.tag is None and mode != "manifest":
        raise UsageError(
            f"{escape(str(ref))} names a digest: deleting it removes the manifest and every tag on it; "
            "pass --manifest to do that"
        )
    try:
        current = _resolve(client, ref)
    except NotFound:
        if ignore_missing:
            return DeleteResult(ref, mode, "absent")
        raise
    if ref.tag is not None and ref.digest is not None and current != ref.digest:
        raise Refused(
            f"{escape(str(ref))}: the tag now points to {current}, not to the digest given; nothing was deleted"
        )
    if mode == "manifest":
        return _delete_manifest(client, ref, current, yes=yes, dry_run=dry_run, jobs=jobs)
    tag_ref = Reference(ref.repository, ref.tag)
    if mode == "untag":
        return _untag(client, tag_ref, current, dry_run=dry_run)
    if dry_run:
        return DeleteResult(ref, mode, "would-delete", current, (ref.tag or "",))
    try:
        _delete_tag(client, tag_ref, current)
    except NotFound as exc:
        if not _done_by_us(client, exc, tag_ref):
            if ignore_missing:
                return DeleteResult(ref, mode, "absent", current)
            raise
    return DeleteResult(ref, mode, "deleted", current, (ref.tag or "",))


def _done_by_us(client: RegistryClient, error: NotFound, target: Reference) -> bool:
    """True for a 404 that answered the retry of our own DELETE after a failed attempt: that attempt was
    carried out (the registry answered 500, or its answer was lost), so the delete is done (#23)."""
    if not error.after_retry:
        return False
    if client.config.debug is not None:
        client.config.debug(
            f"  delete of {escape(str(target))}: the retry found it gone; an earlier attempt that failed "
            "(5xx or no answer) was carried out: counted as deleted"
        )
    return True


def _delete_tag(client: RegistryClient, ref: Reference, current: Digest) -> None:
    """Delete exactly one tag: the OCI tag delete, or the registry's own single-tag delete where its profile and
    its ``GET /v2/`` answer say so (docs/architecture.md §11)."""
    seen = client.registry_features(ref.registry, probe=False)
    if client.session(ref.registry).profile.own_tag_delete_first(seen):
        client.delete_tag_reference(ref)  # no OCI tag delete there: no need to try it first
        return
    try:
        client.delete_manifest(ref)
    except (Unsupported, RegistryError) as exc:
        if not (isinstance(exc, Unsupported) or exc.status == 400):
            raise
        if client.session(ref.registry).profile.unsupported("delete-tag", exc.status or 0) is not None:
            raise  # the registry's profile said why and what to use instead (docs/architecture.md §11)
        features = seen or client.registry_features(
            ref.registry, scopes=(ref.repository.scope("pull", "delete"),)
        )
        if features is not None and features.tag_delete and seen is None:
            client.delete_tag_reference(ref)
            return
        raise _tag_delete_refused(client, ref, current, exc) from None


def _resolve(client: RegistryClient, ref: Reference) -> Digest:
    """The digest the tag points to now (or the digest of a digest reference, which must exist)."""
    if ref.tag is not None:
        return client.digest(Reference(ref.repository, ref.tag))
    info = client.head_manifest(ref)
    return info.digest or ref.digest or client.get_manifest(ref).digest


def _tag_delete_refused(
    client: RegistryClient, ref: Reference, current: Digest, cause: RegistryError
) -> Unsupported:
    """Explain why the tag delete failed, after finding out whether deletes work at all."""
    reason = _reason(cause)
    try:
        _probe_delete(client, ref.repository)
    except Unsupported as disabled:
        return disabled
    return Unsupported(
        f"{escape(str(ref))}: this registry does not delete a tag on its own ({reason}; distribution 2.x and "
        "older registries delete only by digest, which removes every tag on the image); nothing was deleted",
        hint="--untag swaps a throw-away placeholder onto the tag and deletes that: other tags on the image stay\n"
        "--manifest deletes the image itself with every tag on it (listed first; --yes when there are others)",
        status=cause.status,
        details=cause.details,
    )


def _reason(error: RegistryError) -> str:
    codes = " ".join(d.code for d in error.details[:2])
    return f"HTTP {error.status}{' ' + codes if codes else ''}" if error.status else str(error)


def _probe_delete(client: RegistryClient, repository: Repository) -> None:
    """Ask the registry to delete a digest nobody has: 404 means "deletes work and you may"; 405 means
    deletes are disabled (distribution ``storage.delete.enabled: false``). Permission errors propagate."""
    try:
        client.delete_manifest(Reference(repository, None, _ZERO_DIGEST))
    except NotFound:
        return
    except Unsupported as exc:
        if client.session(repository.registry).profile.unsupported("delete-manifest", exc.status or 0):
            raise  # this registry deletes only through its own API: the message says which
        raise Unsupported(
            f"{escape(str(repository))}: the registry has deletes disabled ({_reason(exc)}); nothing was "
            "changed",
            hint="deleting needs the registry's operator (distribution: storage.delete.enabled: true)\n"
            "or the registry's own UI, API or cleanup policy",
            status=exc.status,
            details=exc.details,
        ) from None


def _untag(client: RegistryClient, ref: Reference, current: Digest, *, dry_run: bool) -> DeleteResult:
    repository = ref.repository
    _probe_delete(client, repository)
    tag = ref.tag or ""
    if dry_run:
        return DeleteResult(ref, "untag", "would-delete", current, (tag,))
    push = (repository.scope("pull", "push"),)
    if client.head_blob(repository, _EMPTY_DIGEST, scopes=push) is None:
        client.upload_blob(repository, _EMPTY_DIGEST, len(EMPTY_CONFIG), [EMPTY_CONFIG], scopes=push)
    placeholder = client.put_manifest(ref, placeholder_manifest(tag), mediatypes.OCI_MANIFEST, scopes=push)
    target = Reference(repository, None, placeholder)
    try:
        client.delete_manifest(target)
    except NotFound as exc:
        if not _done_by_us(client, exc, target):
            exc.hint = restore_hint(ref, current, placeholder)
            raise
    except OciregError as exc:
        exc.hint = restore_hint(ref, current, placeholder)
        raise
    except KeyboardInterrupt as exc:
        raise SwapInterrupted(restore_hint(ref, current, placeholder)) from exc
    return DeleteResult(ref, "untag", "deleted", current, (tag,), placeholder)


def restore_hint(ref: Reference, original: Digest, placeholder: Digest) -> str:
    """Where the tag was left after a half-done ``--untag``, and the exact command that puts it back."""
    tag = escape(ref.tag or "")
    return (
        f"'{tag}' now points to the placeholder {placeholder}, not to {original}. Run the command again to "
        f"finish the delete, or put the tag back with: ocireg tag {escape(str(ref.repository))}@{original} {tag}"
    )


class SwapInterrupted(KeyboardInterrupt):
    """Ctrl-C arrived between the placeholder's push and its delete (``--untag``): ``hint`` says where the tag
    points now and how to restore it (the CLI prints it before exiting 130)."""

    def __init__(self, hint: str) -> None:
        super().__init__(hint)
        self.hint = hint


def _delete_manifest(
    client: RegistryClient, ref: Reference, digest: Digest, *, yes: bool, dry_run: bool, jobs: int
) -> DeleteResult:
    repository = ref.repository
    sharing = _tags_on(client, repository, digest, jobs=jobs, known=ref.tag)
    others = [t for t in sharing if t != ref.tag]
    if others and not yes:
        shown = ", ".join(escape(t) for t in others[:20]) + (" ..." if len(others) > 20 else "")
        alternative = f", or --untag to remove only '{escape(ref.tag)}'" if ref.tag else ""
        raise Refused(
            f"deleting manifest {digest} would also remove {len(others)} other tag(s): {shown}; nothing was "
            "deleted",
            hint=f"pass --yes to delete them too{alternative}",
        )
    if dry_run:
        return DeleteResult(ref, "manifest", "would-delete", digest, tuple(sharing), digest)
    target = Reference(repository, None, digest)
    try:
        client.delete_manifest(target)
    except Unsupported:
        _probe_delete(client, repository)  # raises the "deletes disabled" explanation
        raise
    except NotFound as exc:
        if not _done_by_us(client, exc, target):
            raise
    return DeleteResult(ref, "manifest", "deleted", digest, tuple(sharing), digest)


def _tags_on(
    client: RegistryClient, repository: Repository, digest: Digest, *, jobs: int, known: str | None
) -> list[str]:
    """Every tag of ``repository`` that points to ``digest`` (list, then resolve each; errors propagate:
    a tag that cannot be resolved might be one that would disappear)."""
    try:
        details = client.tag_details(
            repository
        )  # every tag's digest in one request per page, where it exists
    except RegistryError:
        details = None  # a broken tag-details answer: resolve through /v2/ as everywhere else
    if details is not None:
        sharing = {d.name for d in details if d.digest == digest}
        if known is not None and known not in {d.name for d in details}:
            with contextlib.suppress(NotFound):  # listings can lag behind; the tag we resolved counts
                if client.digest(Reference(repository, known)) == digest:
                    sharing.add(known)
        return sorted(sharing)
    tags = list(dict.fromkeys(client.tags(repository)))
    if known is not None and known not in tags:
        tags.append(known)  # listings can lag behind (eventual consistency); the tag we resolved counts

    def resolve(tag: str) -> Digest | None:
        try:
            return client.digest(Reference(repository, tag))
        except NotFound:
            return None  # deleted meanwhile: it will not disappear with this manifest

    workers = max(1, min(jobs, MAX_JOBS, len(tags) or 1))
    futures = run_bounded(resolve, tags, jobs=workers, name="ocireg-delete")
    digests: Sequence[Digest | None] = [f.result() for f in futures]
    return sorted(t for t, d in zip(tags, digests, strict=True) if d == digest)
