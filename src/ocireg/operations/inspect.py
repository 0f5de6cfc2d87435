"""Inspect an image: what its manifest (or index) says, and what its image config says about it.

For an image manifest: media type, digest, sizes, config descriptor, layers, and from the config blob the
creation date, OS/architecture, labels; for an index: its children with platforms, digests and sizes. With a
platform, an index is resolved to that child and the child is inspected (the index is kept as ``parent``).
Every document is fetched by digest or verified against the digest the registry announced
(:meth:`~ocireg.client.RegistryClient.get_manifest`, :meth:`~ocireg.client.RegistryClient.get_blob_bytes`).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING

from ocireg import mediatypes
from ocireg.errors import PlatformNotFound, ProtocolViolation
from ocireg.manifest import (
    Descriptor,
    Index,
    Manifest,
    Platform,
    loads_strict,
    platform_matches,
    select_platform,
)
from ocireg.record import record
from ocireg.reference import Digest, Reference
from ocireg.text import escape

if TYPE_CHECKING:
    from ocireg.client import RegistryClient
    from ocireg.signals import RateLimit

__all__ = ["CONFIG_TYPES", "Inspection", "inspect"]

#: Config media types that are image configs (OCI image spec "config.md"; Docker image spec v1).
CONFIG_TYPES = frozenset({mediatypes.OCI_CONFIG, mediatypes.DOCKER_CONFIG})
_EMPTY: Mapping[str, str] = MappingProxyType({})


@record(frozen=True)
class Inspection:
    """What ``ocireg inspect`` shows. ``document`` is the manifest or index inspected; ``parent`` the index it
    was selected from with a platform; ``config`` the parsed image config (image manifests only) and
    ``config_raw`` its exact bytes; ``rate_limit`` the registry's last announced quota, if any.
    """

    reference: Reference
    document: Manifest | Index
    parent: Index | None = None
    config: Mapping[str, object] | None = None
    config_raw: bytes | None = None
    rate_limit: RateLimit | None = None

    @property
    def digest(self) -> Digest:
        return self.document.digest

    @property
    def media_type(self) -> str:
        return self.document.media_type

    @property
    def raw(self) -> bytes:
        """The exact manifest bytes (they hash to :attr:`digest`)."""
        return self.document.raw

    @property
    def is_index(self) -> bool:
        return isinstance(self.document, Index)

    @property
    def created(self) -> str | None:
        value = self.config.get("created") if self.config else None
        return value if isinstance(value, str) else None

    @property
    def platform(self) -> Platform | None:
        """The image's platform from its config (``os``, ``architecture``, ``variant``, ``os.version``)."""
        if not self.config:
            return None
        os_, arch = self.config.get("os"), self.config.get("architecture")
        if not isinstance(os_, str) or not isinstance(arch, str):
            return None
        variant = self.config.get("variant")
        version = self.config.get("os.version")
        return Platform(
            os_,
            arch,
            variant if isinstance(variant, str) and variant else None,
            version if isinstance(version, str) and version else None,
        )

    @property
    def labels(self) -> Mapping[str, str]:
        """``config.Labels`` of the image config (string values only)."""
        inner = self.config.get("config") if self.config else None
        labels = inner.get("Labels") if isinstance(inner, dict) else None
        if not isinstance(labels, dict):
            return _EMPTY
        return MappingProxyType(
            {k: v for k, v in labels.items() if isinstance(k, str) and isinstance(v, str)}
        )

    @property
    def annotations(self) -> Mapping[str, str]:
        return self.document.annotations

    def to_json(self) -> dict[str, object]:
        """A JSON-ready view (the CLI wraps it in its versioned envelope)."""
        doc: dict[str, object] = {
            "reference": str(self.reference),
            "kind": "index" if self.is_index else "manifest",
            "digest": str(self.digest),
            "media_type": self.media_type,
            "size": len(self.raw),
        }
        if self.parent is not None:
            doc["index"] = {
                "digest": str(self.parent.digest),
                "media_type": self.parent.media_type,
                "size": len(self.parent.raw),
            }
        document = self.document
        if isinstance(document, Index):
            doc["manifests"] = [d.to_json() for d in document.manifests]
        else:
            platform = self.platform
            doc.update(
                total_size=document.total_size,
                config=document.config.to_json(),
                layers=[d.to_json() for d in document.layers],
                created=self.created,
                platform=_platform_json(platform) if platform is not None else None,
                labels=dict(self.labels),
            )
            if document.subject is not None:
                doc["subject"] = document.subject.to_json()
        if document.artifact_type is not None:
            doc["artifact_type"] = document.artifact_type
        doc["annotations"] = dict(self.annotations)
        doc["rate_limit"] = self.rate_limit.to_json() if self.rate_limit is not None else None
        return doc


def _platform_json(platform: Platform) -> dict[str, str]:
    doc = {"os": platform.os, "architecture": platform.architecture}
    if platform.variant:
        doc["variant"] = platform.variant
    if platform.os_version:
        doc["os_version"] = platform.os_version
    return doc


def inspect(
    client: RegistryClient,
    ref: Reference,
    *,
    platform: Platform | None = None,
    fetch_config: bool | None = None,
) -> Inspection:
    """Fetch and describe the manifest or index of ``ref``.

    ``platform``: for an index, inspect the matching child instead (``NotFound`` naming the platforms it
    has); for a single-platform image, check that the image is for that platform (``NotFound`` if not).
    ``fetch_config``: fetch the config blob (default: only when it is an image config); ``True`` fetches any
    config, e.g. an artifact's, into ``config_raw``.
    """
    deadline = client.deadline()
    document = client.get_manifest(ref, deadline=deadline)
    parent: Index | None = None
    if isinstance(document, Index) and platform is not None:
        child: Descriptor = select_platform(document, platform)
        parent = document
        document = client.get_manifest(ref.with_digest(child.digest), deadline=deadline)
    config: Mapping[str, object] | None = None
    config_raw: bytes | None = None
    if isinstance(document, Manifest):
        is_image = document.config.media_type in CONFIG_TYPES
        if fetch_config or (fetch_config is None and is_image) or (platform is not None and parent is None):
            from ocireg.client import CONFIG_LIMIT

            config_raw = client.get_blob_bytes(
                ref.repository, document.config.digest, limit=CONFIG_LIMIT, deadline=deadline
            )
            if is_image:
                config = loads_strict(
                    config_raw, what=f"image config {document.config.digest}", error=ProtocolViolation
                )
    result = Inspection(
        reference=ref,
        document=document,
        parent=parent,
        config=config,
        config_raw=config_raw,
        rate_limit=client.transport.rate_limit(ref.registry.api_host),
    )
    if platform is not None and parent is None and isinstance(document, Manifest):
        have = result.platform
        if have is None or not platform_matches(platform, have):
            described = str(have) if have is not None else "an unknown platform"
            raise PlatformNotFound(
                f"{escape(str(ref))} is a single-platform image for {escape(described)}, not {escape(str(platform))}"
            )
    return result
