"""Where signatures live and what bounds their download (#24, docs/architecture.md §10).

Sources: cosign ``specs/SIGNATURE_SPEC.md`` (tag-based discovery, simple signing), ``specs/BUNDLE_SPEC.md``
(bundles as OCI 1.1 referrers), containers/image ``docker/docker_client.go`` (``sigstoreAttachmentTag``) and
``internal/signature/sigstore.go`` (the annotation keys).
"""

from __future__ import annotations

__all__ = [
    "ANNOTATION_BUNDLE",
    "ANNOTATION_CERTIFICATE",
    "ANNOTATION_CHAIN",
    "ANNOTATION_SIGNATURE",
    "BUNDLE_ARTIFACT_PREFIX",
    "COSIGN_SIG_ARTIFACT",
    "DSSE_IN_TOTO",
    "MAX_IMAGE_BYTES",
    "MAX_SIGNATURES",
    "MAX_SIGNATURE_BYTES",
    "MAX_SIGNATURE_MANIFESTS",
    "SIMPLE_SIGNING",
    "signature_tag",
]

#: The layer media type of a simple-signing payload (one layer per signature).
SIMPLE_SIGNING = "application/vnd.dev.cosign.simplesigning.v1+json"
#: ``artifactType`` of cosign's simple-signing referrer (``--registry-referrers-mode=oci-1-1``).
COSIGN_SIG_ARTIFACT = "application/vnd.dev.cosign.artifact.sig.v1+json"
#: ``artifactType`` prefix of sigstore bundles (cosign 3's default: ``application/vnd.dev.sigstore.bundle.v0.3+json``).
BUNDLE_ARTIFACT_PREFIX = "application/vnd.dev.sigstore.bundle"
#: The DSSE ``payloadType`` of an in-toto statement.
DSSE_IN_TOTO = "application/vnd.in-toto+json"

ANNOTATION_SIGNATURE = "dev.cosignproject.cosign/signature"
ANNOTATION_CERTIFICATE = "dev.sigstore.cosign/certificate"
ANNOTATION_CHAIN = "dev.sigstore.cosign/chain"
ANNOTATION_BUNDLE = "dev.sigstore.cosign/bundle"

# The bounds of one image's signatures (docs/architecture.md §10): a registry, or whoever can push to the
# repository, decides how many layers a .sig manifest has and how big they are; the verifier never downloads more.
#: Signatures (layers, bundles) looked at per image; the rest are ignored (a real image has a handful).
MAX_SIGNATURES = 32
#: Signature manifests (the .sig tag and referrers) fetched per image.
MAX_SIGNATURE_MANIFESTS = 16
#: Bytes of one payload or bundle (a payload is ~300 B, a bundle with its certificate chain a few KiB).
MAX_SIGNATURE_BYTES = 256 * 1024
#: Bytes of payloads and bundles downloaded per image, all signatures together.
MAX_IMAGE_BYTES = 2 * 1024 * 1024


def signature_tag(hex_digest: str, algorithm: str = "sha256") -> str:
    """The tag cosign ≤ 2 and skopeo keep an image's signatures under: ``sha256-<hex>.sig``."""
    return f"{algorithm}-{hex_digest}.sig"
