"""Retag without pulling: the manifest's exact bytes PUT under new tags, so the digest cannot change.

Why exact bytes: a manifest's digest is the hash of its bytes. Re-serialising the JSON (key order, whitespace)
would give a new digest and break every ``@sha256:`` pin of the image; the registry also needs the original
``Content-Type`` to store the same kind of document (OCI/Docker, manifest/index).
"""

from __future__ import annotations

from collections.abc import Sequence

from ocireg.client import RegistryClient
from ocireg.errors import NotFound, Refused
from ocireg.record import record
from ocireg.reference import Digest, Reference
from ocireg.text import escape

__all__ = ["RetagResult", "TagOutcome", "retag"]


@record(frozen=True)
class TagOutcome:
    """One new tag: ``status`` is ``tagged`` (PUT done) or ``unchanged`` (already on this digest); ``previous``
    is the image the tag named before (None for a new tag)."""

    reference: Reference
    status: str
    previous: Digest | None = None


@record(frozen=True)
class RetagResult:
    source: Reference
    digest: Digest
    media_type: str
    tags: tuple[TagOutcome, ...]


def retag(
    client: RegistryClient,
    source: Reference,
    targets: Sequence[Reference],
    *,
    no_clobber: bool = False,
) -> RetagResult:
    """Point every tag in ``targets`` (references in ``source``'s repository) at ``source``'s manifest.

    Works for image manifests and indexes alike: in the same repository every child and blob is already
    there. Every target is resolved first (``previous``); one already on the digest is left ``unchanged``. With
    ``no_clobber`` and a tag that exists on another digest stops
    the whole operation before anything is written (:class:`~ocireg.errors.Refused`, exit 2); a target
    already on the digest is left alone. The check and the PUT are separate requests: a tag moved by
    someone else in between is overwritten.
    """
    for target in targets:
        if target.repository != source.repository or target.tag is None or target.digest is not None:
            raise ValueError("retag targets must be tags in the source repository")
    deadline = client.deadline()
    # One token for the whole operation: asking for pull,push up front saves the second token request the
    # PUT would otherwise trigger (a registry answers insufficient_scope to a pull-only token).
    scopes = (source.repository.scope("pull", "push"),)
    document = client.get_manifest(source, deadline=deadline, scopes=scopes)
    # Every target is looked at first: a moved tag says which image it named before (#23), and with
    # ``no_clobber`` one on another image stops everything before the first write.
    previous: dict[Reference, Digest | None] = {}
    for target in targets:
        try:
            found = client.head_manifest(target, deadline=deadline, scopes=scopes).digest
            if found is None:  # no Docker-Content-Digest: hash the bytes (as RegistryClient.digest does)
                found = client.get_manifest(target, deadline=deadline, scopes=scopes).digest
            previous[target] = found
        except NotFound:
            previous[target] = None
    if no_clobber:
        moved = [t for t in targets if previous[t] not in (None, document.digest)]
        if moved:
            names = ", ".join(escape(t.tag or "") for t in moved)
            raise Refused(
                f"--no-clobber: tag(s) {names} already point to another image; nothing was changed",
                hint="drop --no-clobber to move them",
            )
    outcomes = []
    for target in targets:
        before = previous.get(target)
        if before == document.digest:
            outcomes.append(TagOutcome(target, "unchanged", before))
            continue
        client.put_manifest(
            target.with_digest(None), document.raw, document.media_type, deadline=deadline, scopes=scopes
        )
        outcomes.append(TagOutcome(target, "tagged", before))
    return RetagResult(source, document.digest, document.media_type, tuple(outcomes))
