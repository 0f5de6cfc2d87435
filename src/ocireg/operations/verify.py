"""``ocireg verify`` as a library function: is each image signed by a trusted key? (#24, docs/architecture.md §10)

For each reference: resolve the digest of the manifest that will run (without a platform the reference's own
manifest, an index included; with one, that platform's image: containers/image checks each platform image, never
the index, ``copy/single.go``), find its signatures where cosign, skopeo and podman put them (the
``sha256-<hex>.sig`` tag; OCI 1.1 referrers: cosign's simple-signing artifact and sigstore bundles), download
them within the bounds of :mod:`ocireg.signatures.layout`, and judge them (:func:`ocireg.signatures.policy.judge`).
Absent images, denied access and registry faults are errors as for ``exists``; "not verified" is
:class:`~ocireg.errors.NotVerified` with its reason.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ocireg.client import RegistryClient
from ocireg.errors import (
    BodyTooLarge,
    DigestMismatch,
    InvalidManifest,
    NotFound,
    NotVerified,
    OciregError,
    ProtocolViolation,
    RegistryError,
)
from ocireg.operations.batch import MAX_JOBS
from ocireg.operations.workers import run_bounded
from ocireg.record import record
from ocireg.reference import Digest, Reference, Repository
from ocireg.signatures.candidate import Candidate
from ocireg.signatures.layout import (
    BUNDLE_ARTIFACT_PREFIX,
    COSIGN_SIG_ARTIFACT,
    MAX_IMAGE_BYTES,
    MAX_SIGNATURE_BYTES,
    MAX_SIGNATURE_MANIFESTS,
    MAX_SIGNATURES,
    SIMPLE_SIGNING,
    signature_tag,
)
from ocireg.text import escape
from ocireg.transport import Deadline

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ocireg.manifest import Descriptor, Manifest, Platform
    from ocireg.signatures.policy import TrustPolicy

__all__ = ["VerifyResult", "find_signatures", "verify_image", "verify_references"]

#: A signature manifest or layer that cannot be read is an untrusted signature, not a registry fault: whoever can
#: push to the repository could otherwise turn every check into exit 6 and hide a valid signature elsewhere.
_UNREADABLE = (BodyTooLarge, InvalidManifest, DigestMismatch)


@record(frozen=True)
class VerifyResult:
    """One reference's outcome: ``verified`` (``signer``, ``source``), ``not-verified`` (``error`` is a
    :class:`NotVerified` with its reason), ``absent`` or ``error``. ``digest`` is the manifest judged."""

    text: str
    reference: Reference | None
    digest: Digest | None = None
    error: OciregError | None = None
    signer: str | None = None
    source: str | None = None
    checked: int = 0

    @property
    def status(self) -> str:
        if self.error is None:
            return "verified"
        if isinstance(self.error, NotVerified):
            return "not-verified"
        if isinstance(self.error, NotFound):
            return "absent"
        return "error"

    @property
    def reason(self) -> str | None:
        return self.error.reason if isinstance(self.error, NotVerified) else None


class _Budget:
    """What one image's signatures may still cost: a count and bytes (docs/architecture.md §10)."""

    def __init__(self) -> None:
        self.signatures = MAX_SIGNATURES
        self.bytes = MAX_IMAGE_BYTES


def _sig_manifests(
    client: RegistryClient, repository: Repository, digest: Digest, deadline: Deadline
) -> tuple[list[tuple[str, Manifest]], list[Candidate]]:
    """The signature manifests of ``digest``: the ``.sig`` tag, then cosign's referrers (bounded in number)."""
    from ocireg.manifest import Manifest

    found: list[tuple[str, Manifest]] = []
    problems: list[Candidate] = []
    tag = signature_tag(digest.hex, digest.algorithm)
    try:
        document = client.get_manifest(Reference(repository, tag), deadline=deadline)
    except NotFound:
        document = None
    except _UNREADABLE as exc:
        document, problems = None, [Candidate("tag", problem=f"the {tag} manifest is unreadable: {exc}")]
    if isinstance(document, Manifest):
        found.append(("tag", document))
    elif document is not None:
        problems.append(Candidate("tag", problem=f"the {tag} tag holds an index, not a signature manifest"))
    try:
        listed = client.referrers(repository, digest, deadline=deadline).manifests
    except (*_UNREADABLE, ProtocolViolation) as exc:
        # The referrers tag schema is pushed content too (an image manifest, an invalid index, too many
        # referrers): like an unreadable .sig manifest, an untrusted signature, not a registry fault.
        listed = ()
        problems.append(Candidate("referrer", problem=f"the referrers of {digest} are unreadable: {exc}"))
    wanted = [d for d in listed if _is_signature(d)]
    for descriptor in wanted[: MAX_SIGNATURE_MANIFESTS - len(found)]:
        source = "referrer" if descriptor.artifact_type == COSIGN_SIG_ARTIFACT else "bundle"
        try:
            document = client.get_manifest(Reference(repository, None, descriptor.digest), deadline=deadline)
        except (NotFound, *_UNREADABLE) as exc:
            problems.append(Candidate(source, problem=f"referrer {descriptor.digest} is unreadable: {exc}"))
            continue
        # The referrers list is the registry's word; the manifest's own subject must name this image.
        if (
            isinstance(document, Manifest)
            and document.subject is not None
            and document.subject.digest == digest
        ):
            found.append((source, document))
    return found, problems


def _is_signature(descriptor: Descriptor) -> bool:
    kind = descriptor.artifact_type or ""
    return kind == COSIGN_SIG_ARTIFACT or kind.startswith(BUNDLE_ARTIFACT_PREFIX)


def _layer_candidate(
    client: RegistryClient,
    repository: Repository,
    source: str,
    layer: Descriptor,
    budget: _Budget,
    deadline: Deadline,
) -> Candidate:
    """One layer as a candidate signature: its blob downloaded within the bounds, never beyond them."""
    from ocireg.signatures.bundle import decode_base64, parse_bundle
    from ocireg.signatures.layout import ANNOTATION_SIGNATURE
    from ocireg.signatures.payload import PayloadError

    limit = min(MAX_SIGNATURE_BYTES, budget.bytes)
    if layer.size > limit:
        return Candidate(
            source, problem=f"signature layer {layer.digest} is {layer.size} bytes: over the bound"
        )
    # The budget counts the bytes read: a descriptor's size is the pusher's claim, and the blob may be larger.
    try:
        raw = client.get_blob_bytes(repository, layer.digest, limit=limit, deadline=deadline)
    except BodyTooLarge:
        budget.bytes -= limit
        return Candidate(
            source, problem=f"signature layer {layer.digest} is larger than {limit} bytes: over the bound"
        )
    except (NotFound, DigestMismatch) as exc:
        return Candidate(source, problem=f"signature layer {layer.digest} is unreadable: {exc}")
    budget.bytes -= len(raw)
    if source == "bundle":
        try:
            return Candidate(source, envelope=parse_bundle(raw), annotations=dict(layer.annotations))
        except PayloadError as exc:
            return Candidate(source, problem=f"bundle {layer.digest}: {exc}")
    signature = decode_base64(layer.annotations.get(ANNOTATION_SIGNATURE))
    return Candidate(source, raw, signature, dict(layer.annotations))


def find_signatures(
    client: RegistryClient, repository: Repository, digest: Digest, *, deadline: Deadline | None = None
) -> list[Candidate]:
    """Every signature of the manifest ``digest`` in ``repository``, bounded (docs/architecture.md §10).

    Layers that are not signatures (other cosign attachments) are skipped, as containers/image does; a layer
    over the bounds, or unreadable, becomes a candidate with a ``problem`` (an untrusted signature).
    """
    deadline = deadline or client.deadline()
    manifests, candidates = _sig_manifests(client, repository, digest, deadline)
    budget = _Budget()
    for source, manifest in manifests:
        for layer in manifest.layers:
            wanted = SIMPLE_SIGNING if source != "bundle" else BUNDLE_ARTIFACT_PREFIX
            if not layer.media_type.startswith(wanted):
                continue
            if budget.signatures <= 0:
                return candidates
            budget.signatures -= 1
            candidates.append(_layer_candidate(client, repository, source, layer, budget, deadline))
    return candidates


def _resolve(
    client: RegistryClient, ref: Reference, platform: Platform | None, deadline: Deadline
) -> tuple[Digest, bool]:
    """The digest of the manifest a deploy runs, and whether it is an index."""
    if platform is not None:
        return client.digest(ref, platform=platform), False
    info = client.head_manifest(ref, deadline=deadline)
    if info.digest is None:
        document = client.get_manifest(ref, deadline=deadline)
        return document.digest, "index" in document.media_type or "list" in document.media_type
    media_type = info.media_type or ""
    return info.digest, "index" in media_type or "list" in media_type


def verify_image(
    client: RegistryClient,
    text: str,
    ref: Reference,
    policy: TrustPolicy,
    *,
    platform: Platform | None = None,
) -> VerifyResult:
    """Verify one reference (see the module docstring); never raises an :class:`OciregError`."""
    from ocireg.signatures.policy import judge

    try:
        deadline = client.deadline()
        digest, is_index = _resolve(client, ref, platform, deadline)
        candidates = find_signatures(client, ref.repository, digest, deadline=deadline)
    except OciregError as exc:
        return VerifyResult(text, ref, error=exc)
    verdict = judge(candidates, digest, ref, policy)
    if verdict.reason is None:
        return VerifyResult(
            text, ref, digest, signer=verdict.signer, source=verdict.source, checked=verdict.checked
        )
    what = f"{ref}" + (f" (platform image {digest})" if platform is not None else "")
    hint = None
    if verdict.reason == "no-signature" and is_index:
        hint = "this is an index: its platform images may be signed alone; pass --platform OS/ARCH"
    error = NotVerified(
        escape(f"{what}: not verified ({verdict.reason}): {verdict.detail}"), reason=verdict.reason, hint=hint
    )
    return VerifyResult(text, ref, digest, error=error, checked=verdict.checked)


def verify_references(
    client: RegistryClient,
    refs: Sequence[tuple[str, Reference]],
    policy: TrustPolicy,
    *,
    platform: Platform | None = None,
    jobs: int = 8,
    fail_fast: bool = False,
    on_result: Callable[[int, VerifyResult], None] | None = None,
) -> list[VerifyResult]:
    """Verify each reference (``jobs`` at a time); one result per reference, in input order.

    ``fail_fast``: after the first error ("cannot tell", not "not verified") the rest are not checked.
    """
    results: list[VerifyResult | None] = [None] * len(refs)
    stopped: list[bool] = []

    def work(index: int) -> None:
        text, ref = refs[index]
        if stopped:
            result = VerifyResult(text, ref, error=RegistryError("not checked: stopped at the first error"))
        else:
            result = verify_image(client, text, ref, policy, platform=platform)
            if fail_fast and result.status == "error":
                stopped.append(True)
        results[index] = result
        if on_result is not None:
            on_result(index, result)

    jobs = max(1, min(jobs, MAX_JOBS, len(refs) or 1))
    if jobs == 1:
        for i in range(len(refs)):
            work(i)
    else:
        for future in run_bounded(work, range(len(refs)), jobs=jobs, name="ocireg-verify"):
            future.result()
    return [
        r if r is not None else VerifyResult("", None, error=RegistryError("not checked")) for r in results
    ]
