"""Manifests (#15 item 2): HEAD, GET (digest verified over the bytes received), digest by platform, the image
config, PUT (as is, or with a ``subject``) and DELETE.

Writes: see the package docstring (:mod:`ocireg.client`): never replayed blindly, scopes widened once.
"""

from __future__ import annotations

from ocireg.auth import read_capped_quiet
from ocireg.client.blobs import BlobApi
from ocireg.client.core import _header_digest
from ocireg.errors import (
    DigestMismatch,
    NotFound,
    ProtocolViolation,
    TransportError,
)
from ocireg.mediatypes import (
    ACCEPT_HEADER,
    MANIFEST_TYPES,
    OCI_ARTIFACT_MANIFEST,
    SCHEMA1_TYPES,
    base_type,
)
from ocireg.record import record
from ocireg.reference import Digest, Reference
from ocireg.response import Headers, Response
from ocireg.text import escape
from ocireg.transport import Deadline, read_capped

TYPE_CHECKING = False
if TYPE_CHECKING:
    # ocireg.manifest (JSON parsing, platform rules) is imported where a document is parsed: a HEAD parses none (#16)
    from ocireg.manifest import Index, Manifest, Platform

MANIFEST_LIMIT = 8 * 1024 * 1024  # docs/architecture.md §4: manifests are capped at 8 MiB
CONFIG_LIMIT = 8 * 1024 * 1024


# A HEAD without Docker-Content-Digest is a manifest answer only with one of these types (schema 1 included:
# the manifest is there, even if ocireg cannot read it).
_MANIFEST_ANSWER_TYPES = MANIFEST_TYPES | SCHEMA1_TYPES | {OCI_ARTIFACT_MANIFEST}


@record(frozen=True)
class ManifestInfo:
    """What a HEAD of a manifest tells: the digest (``None`` if the registry sent none), type and size."""

    reference: Reference
    digest: Digest | None
    media_type: str | None
    size: int | None


class ManifestApi(BlobApi):
    """The manifest calls of :class:`~ocireg.client.RegistryClient` (the image config is a blob)."""

    def _manifest_path(self, ref: Reference) -> str:
        return f"/v2/{ref.repository.path}/manifests/{ref.identifier}"

    def _manifest_request(
        self,
        method: str,
        ref: Reference,
        deadline: Deadline,
        what: str,
        scopes: tuple[str, ...] | None = None,
    ) -> Response:
        # All four manifest types in Accept, always: distribution 2.8 answers 404 for an OCI index otherwise
        # (docs/architecture.md §5), which would be a false "absent".
        return self.request(
            method,
            ref.registry,
            self._manifest_path(ref),
            scopes=scopes or (ref.repository.scope("pull"),),
            headers={"Accept": ACCEPT_HEADER},
            deadline=deadline,
            what=what,
        )

    def head_manifest(
        self, ref: Reference, *, deadline: Deadline | None = None, scopes: tuple[str, ...] | None = None
    ) -> ManifestInfo:
        """HEAD the manifest: its digest (``Docker-Content-Digest``), media type and size. One request when warm.

        A 200 counts only when it looks like a manifest answer: a ``Docker-Content-Digest`` or a manifest media
        type. Anything else (``200 text/html`` from a web server or a captive proxy on the registry's port) is
        judged by GETting the body, as :meth:`digest` does: an HTML page is a registry error, never "present".
        """
        deadline = deadline or self.deadline()
        what = f"manifest {escape(str(ref))}"
        response = self._manifest_request("HEAD", ref, deadline, what, scopes)
        response.close()
        digest = _header_digest(response.headers, what)
        if digest is not None and ref.digest is not None and digest != ref.digest:
            raise DigestMismatch(f"{what}: the registry answered digest {digest}")
        size_text = response.headers.get("content-length", "")
        media_type = base_type(response.headers.get("content-type"))
        if digest is None and media_type not in _MANIFEST_ANSWER_TYPES:
            document = self.get_manifest(ref, deadline=deadline, scopes=scopes)
            return ManifestInfo(
                reference=ref, digest=document.digest, media_type=document.media_type, size=len(document.raw)
            )
        return ManifestInfo(
            reference=ref,
            digest=digest,
            media_type=media_type,
            size=int(size_text) if size_text.isdigit() else None,
        )

    def get_manifest(
        self, ref: Reference, *, deadline: Deadline | None = None, scopes: tuple[str, ...] | None = None
    ) -> Manifest | Index:
        """GET and parse the manifest, verifying its digest over the exact bytes received."""
        deadline = deadline or self.deadline()
        what = f"manifest {escape(str(ref))}"
        for attempt in range(2):
            response = self._manifest_request("GET", ref, deadline, what, scopes)
            announced = _header_digest(response.headers, what)
            content_type = response.headers.get("content-type")
            try:
                raw = read_capped(response, MANIFEST_LIMIT, deadline=deadline, what=what)
                break
            except TransportError:
                # The connection died mid-body (FT: reset mid-body, truncated body). The transport retried only
                # up to the response head; a GET is safe to send again, once, within the same deadline.
                if attempt:
                    raise
        for expected in (ref.digest, announced):
            if expected is not None and not expected.matches(raw):
                raise DigestMismatch(
                    f"{what}: the bytes received do not hash to {expected}",
                    hint="the registry or a proxy altered the manifest; do not trust this answer",
                )
        from ocireg.manifest import parse_manifest

        return parse_manifest(raw, content_type)

    def exists(self, ref: Reference) -> bool:
        """True if the manifest exists; False only when the registry says it does not. Other failures raise."""
        try:
            self.head_manifest(ref)
        except NotFound:
            return False
        return True

    def digest(self, ref: Reference, *, platform: Platform | None = None) -> Digest:
        """The manifest digest of ``ref``; with ``platform``, the digest of that platform's image.

        Without ``platform`` an index's own digest is returned (what ``docker pull`` resolves the tag to). A HEAD
        without ``Docker-Content-Digest`` falls back to GET and hashes the bytes.
        """
        deadline = self.deadline()
        if platform is None:
            info = self.head_manifest(ref, deadline=deadline)
            if info.digest is not None:
                return info.digest
            return self.get_manifest(ref, deadline=deadline).digest
        document = self.get_manifest(ref, deadline=deadline)
        from ocireg.manifest import Index, require_config_platform, select_platform

        if isinstance(document, Index):
            return select_platform(document, platform).digest
        config = self.get_image_config(ref.with_digest(document.digest), document, deadline=deadline)
        require_config_platform(config, platform, str(ref))
        return document.digest

    def get_image_config(
        self, ref: Reference, manifest: Manifest, *, deadline: Deadline | None = None
    ) -> dict[str, object]:
        """Fetch and verify the image configuration blob of ``manifest``."""
        from ocireg.manifest import loads_strict

        deadline = deadline or self.deadline()
        raw = self.get_blob_bytes(
            ref.repository, manifest.config.digest, limit=CONFIG_LIMIT, deadline=deadline
        )
        doc = loads_strict(raw)
        if not isinstance(doc, dict):
            raise ProtocolViolation(f"image config {manifest.config.digest} is not a JSON object")
        return doc

    def put_manifest(
        self,
        ref: Reference,
        raw: bytes,
        media_type: str,
        *,
        deadline: Deadline | None = None,
        scopes: tuple[str, ...] | None = None,
    ) -> Digest:
        """PUT the exact bytes ``raw`` as ``ref`` (its digest if it has one, else its tag) with ``media_type``.

        Returns the digest of ``raw``. The registry's ``Docker-Content-Digest`` must describe those same bytes
        (docs/architecture.md §4: a digest that disagrees with the body is an error), and so must ``ref.digest``.
        """
        return self._put_manifest(ref, raw, media_type, deadline=deadline, scopes=scopes)[0]

    def put_referrer(
        self,
        ref: Reference,
        raw: bytes,
        media_type: str,
        subject: Digest,
        *,
        deadline: Deadline | None = None,
        scopes: tuple[str, ...] | None = None,
    ) -> bool:
        """PUT a manifest whose ``subject`` is ``subject`` (as :meth:`put_manifest`); True if the registry indexed it.

        distribution-spec v1.1, "Pushing Manifests with Subject": a registry with the referrers API answers
        ``OCI-Subject: <subject digest>``; without that header the pushing client must add the manifest to the
        referrers tag itself (:func:`ocireg.operations.referrers.add_to_referrers_tag`).
        """
        _, headers = self._put_manifest(ref, raw, media_type, deadline=deadline, scopes=scopes)
        return headers.get("oci-subject", "").strip() == str(subject)

    def _put_manifest(
        self,
        ref: Reference,
        raw: bytes,
        media_type: str,
        *,
        deadline: Deadline | None,
        scopes: tuple[str, ...] | None,
    ) -> tuple[Digest, Headers]:
        deadline = deadline or self.deadline()
        what = f"manifest {escape(str(ref))}"
        algorithm = ref.digest.algorithm if ref.digest is not None else "sha256"
        digest = Digest.from_bytes(raw, algorithm)
        if ref.digest is not None and ref.digest != digest:
            raise DigestMismatch(
                f"{what}: the bytes to push hash to {digest}, not to the digest in the reference"
            )
        response = self.request(
            "PUT",
            ref.registry,
            self._manifest_path(ref),
            scopes=scopes or (ref.repository.scope("pull", "push"),),
            headers={"Content-Type": media_type},
            content=raw,
            deadline=deadline,
            what=what,
            ok=(200, 201),
        )
        read_capped_quiet(response, deadline, what)
        announced = _header_digest(response.headers, what)
        if announced is not None and not announced.matches(raw):
            raise DigestMismatch(
                f"{what}: the registry stored the manifest as {announced}, but the bytes sent hash to {digest}",
                hint="a proxy or the registry altered the manifest; do not rely on this tag",
            )
        return digest, response.headers

    def delete_manifest(self, ref: Reference, *, deadline: Deadline | None = None) -> None:
        """``DELETE /v2/<name>/manifests/<digest or tag>``.

        By digest this removes the manifest *and every tag pointing to it* (distribution untags them all); by
        tag it is the OCI tag delete (distribution v3 and registries that implement it), which distribution 2.8 refuses with
        ``400 DIGEST_INVALID``. ``delete`` is its own token action (docs/architecture.md §5): it is asked for up front, and a
        registry that wants more gets the one re-auth of :meth:`request`. A registry with deletes disabled
        answers 405 ``UNSUPPORTED`` (:class:`~ocireg.errors.Unsupported`), which is never retried.
        """
        deadline = deadline or self.deadline()
        what = f"delete of {escape(str(ref))}"
        response = self.request(
            "DELETE",
            ref.registry,
            self._manifest_path(ref),
            scopes=(ref.repository.scope("pull", "delete"),),
            deadline=deadline,
            what=what,
            ok=(200, 202, 204),
        )
        read_capped_quiet(response, deadline, what)
