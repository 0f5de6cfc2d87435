"""``RegistryClient``: typed calls of the OCI distribution API, with authentication handled inside.

Example::

    from ocireg.client import RegistryClient
    from ocireg.reference import parse_reference

    with RegistryClient() as client:                      # anonymous; pass credentials=... for private images
        ref = parse_reference("registry.gitlab.com/group/project:v1.2.3")
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
from ocireg.client.core import CredentialLookup, RegistryFeatures
from ocireg.client.listing import CATALOG_SCOPE, GITLAB_TAG_SORTS, ListingApi, TagDetail
from ocireg.client.manifests import CONFIG_LIMIT as CONFIG_LIMIT
from ocireg.client.manifests import MANIFEST_LIMIT as MANIFEST_LIMIT
from ocireg.client.manifests import ManifestInfo
from ocireg.client.referrers import ReferrerApi, Referrers, referrers_tag

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ocireg.client.listing import GitLabTagSort
else:

    def __getattr__(name: str) -> object:
        if name == "GitLabTagSort":  # a Literal type, built at first use (#16: no typing for a check)
            from ocireg.client import listing

            return listing.GitLabTagSort
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "CATALOG_SCOPE",
    "GITLAB_TAG_SORTS",
    "BlobStream",
    "CredentialLookup",
    "GitLabTagSort",
    "ManifestInfo",
    "Referrers",
    "RegistryClient",
    "RegistryFeatures",
    "TagDetail",
    "referrers_tag",
    "verified_chunks",
]


class RegistryClient(ReferrerApi, ListingApi):
    """A client for OCI / Docker Registry v2 registries.

    ``credentials``: a :class:`~ocireg.credentials.Chain` (or anything with ``lookup(registry)``), a single
    :class:`~ocireg.credentials.Credential` used for every registry, or ``None`` for anonymous access.
    ``config``: timeouts, TLS and plain-HTTP policy (:class:`~ocireg.transport.TransportConfig`).
    ``token_cache``: an optional :class:`~ocireg.tokencache.TokenCache` shared across processes.

    The calls are grouped by noun, one module each (docs/architecture.md §1): :mod:`ocireg.client.manifests`,
    :mod:`~ocireg.client.blobs`, :mod:`~ocireg.client.listing` (tags, catalog, GitLab's tag details),
    :mod:`~ocireg.client.referrers`, over the request core :mod:`~ocireg.client.core`.
    """
