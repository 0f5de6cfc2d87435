"""``RegistryClient``: typed calls of the OCI distribution API, with authentication handled inside.

Example::

    from ocireg.client import RegistryClient
    from ocireg.reference import parse_reference

    with RegistryClient() as client:                      # anonymous; pass credentials=... for private images
        ref = parse_reference("registry.example.com/group/project:v1.2.3")
        if client.exists(ref):
            print(client.digest(ref))

Every method raises a subclass of :class:`ocireg.errors.OciregError`; :class:`~ocireg.errors.NotFound` only when
the registry said the thing is absent. One ``RegistryClient`` can talk to many registries and is thread-safe.

Writes are never replayed blindly. A manifest PUT or a DELETE is idempotent and gets the transport's retries; a
streamed blob body cannot be replayed, so the transport sends it exactly once (attempts=1). Each primitive asks
for the scopes it needs; ``scopes=`` lets an operation ask for a wider set once (one token for a whole copy
instead of one per primitive) (issue #5: tag, copy, delete).
"""

from __future__ import annotations

from ocireg.client.blobs import BlobStream, verified_chunks
from ocireg.client.core import CredentialLookup
from ocireg.client.manifests import CONFIG_LIMIT as CONFIG_LIMIT
from ocireg.client.manifests import MANIFEST_LIMIT as MANIFEST_LIMIT
from ocireg.client.manifests import ManifestApi, ManifestInfo
from ocireg.registries import Features as RegistryFeatures

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator

    from ocireg.client.listing import CATALOG_SCOPE
    from ocireg.client.referrers import Referrers, referrers_tag
    from ocireg.reference import Digest, Reference, Registry, Repository
    from ocireg.registries.details import TAG_SORTS, TagDetail, TagSort
    from ocireg.transport import Deadline
else:
    # The listing and referrers nouns are imported at first use: a check (one HEAD) needs neither (#16, start-up).
    _LATER_EXPORTS = {
        "CATALOG_SCOPE": "ocireg.client.listing",
        "TAG_SORTS": "ocireg.registries.details",
        "TagSort": "ocireg.registries.details",  # a Literal type, built at first use (#16: no typing for a check)
        "TagDetail": "ocireg.registries.details",
        "Referrers": "ocireg.client.referrers",
        "referrers_tag": "ocireg.client.referrers",
    }

    def __getattr__(name: str) -> object:
        module = _LATER_EXPORTS.get(name)
        if module is None:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        import importlib

        return getattr(importlib.import_module(module), name)


__all__ = [
    "CATALOG_SCOPE",
    "TAG_SORTS",
    "BlobStream",
    "CredentialLookup",
    "ManifestInfo",
    "Referrers",
    "RegistryClient",
    "RegistryFeatures",
    "TagDetail",
    "TagSort",
    "referrers_tag",
    "verified_chunks",
]


class RegistryClient(ManifestApi):
    """A client for OCI / Docker Registry v2 registries.

    ``credentials``: a :class:`~ocireg.credentials.Chain` (or anything with ``lookup(registry)``), a single
    :class:`~ocireg.credentials.Credential` used for every registry, or ``None`` for anonymous access.
    ``config``: timeouts, TLS and plain-HTTP policy (:class:`~ocireg.transport.TransportConfig`).
    ``token_cache``: an optional :class:`~ocireg.tokencache.TokenCache` shared across processes.

    The calls are grouped by noun, one module each (docs/architecture.md §1): :mod:`ocireg.client.manifests`,
    :mod:`~ocireg.client.blobs`, :mod:`~ocireg.client.listing` (tags, catalog, a registry's tag details),
    :mod:`~ocireg.client.referrers`, over the request core :mod:`~ocireg.client.core`.
    """

    # The listing and referrers calls: their modules are imported at first use, so a check (one HEAD) imports
    # neither (#16, start-up); the class mypy sees is the class that runs.

    def tags(
        self, repository: Repository, *, page_size: int = 1000, deadline: Deadline | None = None
    ) -> list[str]:
        """Every tag of ``repository`` once (:func:`ocireg.client.listing.tags`)."""
        from ocireg.client import listing

        return listing.tags(self, repository, page_size=page_size, deadline=deadline)

    def catalog(
        self,
        registry: Registry,
        *,
        limit: int | None = None,
        page_size: int = 1000,
        deadline: Deadline | None = None,
    ) -> list[str]:
        """The repositories of ``registry`` (:func:`ocireg.client.listing.catalog`)."""
        from ocireg.client import listing

        return listing.catalog(self, registry, limit=limit, page_size=page_size, deadline=deadline)

    def tag_details(
        self,
        repository: Repository,
        *,
        name: str | None = None,
        name_exact: str | None = None,
        sort: TagSort = "name",
        limit: int | None = None,
        deadline: Deadline | None = None,
    ) -> list[TagDetail] | None:
        """Every tag with its digest and dates, where the registry serves them (:func:`ocireg.client.listing.tag_details`)."""
        from ocireg.client import listing

        return listing.tag_details(
            self, repository, name=name, name_exact=name_exact, sort=sort, limit=limit, deadline=deadline
        )

    def tag_detail_pages(
        self,
        repository: Repository,
        *,
        name: str | None = None,
        name_exact: str | None = None,
        sort: TagSort = "name",
        limit: int | None = None,
        deadline: Deadline | None = None,
    ) -> Iterator[list[TagDetail]] | None:
        """The tag details one page at a time (:func:`ocireg.client.listing.tag_detail_pages`)."""
        from ocireg.client import listing

        return listing.tag_detail_pages(
            self, repository, name=name, name_exact=name_exact, sort=sort, limit=limit, deadline=deadline
        )

    def delete_tag_reference(self, ref: Reference, *, deadline: Deadline | None = None) -> None:
        """A registry's own single-tag delete (:func:`ocireg.client.listing.delete_tag_reference`)."""
        from ocireg.client import listing

        listing.delete_tag_reference(self, ref, deadline=deadline)

    def referrers(
        self,
        repository: Repository,
        subject: Digest,
        *,
        artifact_type: str | None = None,
        deadline: Deadline | None = None,
    ) -> Referrers:
        """The manifests that refer to ``subject`` (:func:`ocireg.client.referrers.referrers`)."""
        from ocireg.client import referrers

        return referrers.referrers(self, repository, subject, artifact_type=artifact_type, deadline=deadline)
