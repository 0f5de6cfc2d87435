"""Media types of manifests, indexes, configs and layers (OCI image spec and Docker distribution).

Pure constants plus :func:`base_type`. The Accept list for manifest requests is :data:`ACCEPT_HEADER`.
"""

from __future__ import annotations

__all__ = [
    "ACCEPT_HEADER",
    "DOCKER_CONFIG",
    "DOCKER_LAYER",
    "DOCKER_LAYER_FOREIGN",
    "DOCKER_LAYER_GZIP",
    "DOCKER_MANIFEST_LIST",
    "DOCKER_MANIFEST_V1",
    "DOCKER_MANIFEST_V1_SIGNED",
    "DOCKER_MANIFEST_V2",
    "GENERIC_CONTENT_TYPES",
    "IMAGE_MANIFEST_TYPES",
    "INDEX_TYPES",
    "MANIFEST_ACCEPT",
    "MANIFEST_TYPES",
    "OCI_ARTIFACT_MANIFEST",
    "OCI_CONFIG",
    "OCI_EMPTY",
    "OCI_INDEX",
    "OCI_LAYER",
    "OCI_LAYER_GZIP",
    "OCI_LAYER_NONDIST",
    "OCI_LAYER_NONDIST_GZIP",
    "OCI_LAYER_ZSTD",
    "OCI_LAYOUT_HEADER",
    "SCHEMA1_TYPES",
    "base_type",
]

# OCI image spec v1.1
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
OCI_LAYER_NONDIST = "application/vnd.oci.image.layer.nondistributable.v1.tar"
OCI_LAYER_NONDIST_GZIP = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
#: The withdrawn OCI artifact manifest (image spec 1.1 release candidates); recognised only to reject it.
OCI_ARTIFACT_MANIFEST = "application/vnd.oci.artifact.manifest.v1+json"
OCI_LAYOUT_HEADER = "application/vnd.oci.layout.header.v1+json"

# Docker distribution (image manifest v2, schema 2)
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_MANIFEST_V2 = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar"
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
DOCKER_LAYER_FOREIGN = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
# Docker schema 1: recognised only to reject it with a clear message.
DOCKER_MANIFEST_V1 = "application/vnd.docker.distribution.manifest.v1+json"
DOCKER_MANIFEST_V1_SIGNED = "application/vnd.docker.distribution.manifest.v1+prettyjws"

INDEX_TYPES = frozenset({OCI_INDEX, DOCKER_MANIFEST_LIST})
IMAGE_MANIFEST_TYPES = frozenset({OCI_MANIFEST, DOCKER_MANIFEST_V2})
#: Every manifest type ocireg can read (indexes and image manifests).
MANIFEST_TYPES = INDEX_TYPES | IMAGE_MANIFEST_TYPES
SCHEMA1_TYPES = frozenset({DOCKER_MANIFEST_V1, DOCKER_MANIFEST_V1_SIGNED})

#: The Accept list for every manifest request (HEAD and GET). Always all four: distribution 2.8 (Debian's
#: docker-registry 2.8.2) answers ``404 MANIFEST_UNKNOWN`` for an OCI index unless the request accepts all of
#: them, which would be a false "absent" (docs/architecture.md §5). Schema 1 is deliberately not accepted.
MANIFEST_ACCEPT: tuple[str, ...] = (OCI_INDEX, OCI_MANIFEST, DOCKER_MANIFEST_LIST, DOCKER_MANIFEST_V2)
ACCEPT_HEADER = ", ".join(MANIFEST_ACCEPT)

#: Content types that say nothing about the kind of manifest; a ``mediaType`` field is not compared with them.
GENERIC_CONTENT_TYPES = frozenset(
    {"application/json", "application/octet-stream", "text/plain", "binary/octet-stream", "*/*"}
)


def base_type(content_type: str | None) -> str | None:
    """``content_type`` without parameters, stripped and lower case; None for a missing or empty value.

    ``"application/vnd.oci.image.manifest.v1+json; charset=utf-8"``
    → ``"application/vnd.oci.image.manifest.v1+json"``
    """
    if content_type is None:
        return None
    value = content_type.partition(";")[0].strip().lower()
    return value or None
