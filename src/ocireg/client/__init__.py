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
from ocireg.client.manifests import CONFIG_LIMIT as CONFIG_LIMIT
from ocireg.client.manifests import MANIFEST_LIMIT as MANIFEST_LIMIT
from ocireg.client.manifests import ManifestApi, ManifestInfo

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ocireg.client.listing import CATALOG_SCOPE, GITLAB_TAG_SORTS, GitLabTagSort, ListingApi, TagDetail
    from ocireg.client.referrers import ReferrerApi, Referrers, referrers_tag
else:
    # The listing and referrers nouns are imported at first use: a check (one HEAD) needs neither (#16, start-up).
    _LATER_EXPORTS = {
        "CATALOG_SCOPE": "listing",
        "GITLAB_TAG_SORTS": "listing",
        "GitLabTagSort": "listing",  # a Literal type, built at first use (#16: no typing for a check)
        "TagDetail": "listing",
        "Referrers": "referrers",
        "referrers_tag": "referrers",
    }

    def __getattr__(name: str) -> object:
        module = _LATER_EXPORTS.get(name)
        if module is None:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        import importlib

        return getattr(importlib.import_module(f"ocireg.client.{module}"), name)


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


#: The methods RegistryClient takes from the listing and referrers nouns, by module and class: at run time each is
#: a :class:`_Later` until first use (tests/unit/test_client_nouns.py checks the lists against the classes).
LATER_METHODS: dict[tuple[str, str], tuple[str, ...]] = {
    ("listing", "ListingApi"): (
        "tags",
        "catalog",
        "_list_pages",
        "gitlab_tags",
        "gitlab_tag_pages",
        "_gitlab_pages",
        "_gitlab_page",
        "delete_tag_reference",
    ),
    ("referrers", "ReferrerApi"): ("referrers", "_referrers_api", "_referrers_tag"),
}


class _Later:
    """A method of a noun module not imported yet: the first lookup imports the module, puts the real function
    on the class in its place, and returns it bound; ``help()`` and ``dir()`` see the real methods."""

    def __init__(self, module: str, owner: str) -> None:
        self._module = module
        self._owner = owner
        self._name = ""
        self._cls: type | None = None

    def __set_name__(self, cls: type, name: str) -> None:
        self._cls, self._name = cls, name

    def __get__(self, instance: object, cls: type | None = None) -> object:
        import importlib

        noun = getattr(importlib.import_module(f"ocireg.client.{self._module}"), self._owner)
        function = noun.__dict__[self._name]
        setattr(self._cls, self._name, function)
        return function if instance is None else function.__get__(instance, cls)


if TYPE_CHECKING:
    # To the type checker RegistryClient is every noun's subclass, as it reads.
    class _Nouns(ReferrerApi, ListingApi):
        pass

else:
    # At run time the listing and referrers methods come in at first use: a check imports neither module.
    class _Nouns(ManifestApi):
        pass

    for (_module, _owner), _names in LATER_METHODS.items():
        for _name in _names:
            _later = _Later(_module, _owner)
            setattr(_Nouns, _name, _later)
            _later.__set_name__(_Nouns, _name)


class RegistryClient(_Nouns):
    """A client for OCI / Docker Registry v2 registries.

    ``credentials``: a :class:`~ocireg.credentials.Chain` (or anything with ``lookup(registry)``), a single
    :class:`~ocireg.credentials.Credential` used for every registry, or ``None`` for anonymous access.
    ``config``: timeouts, TLS and plain-HTTP policy (:class:`~ocireg.transport.TransportConfig`).
    ``token_cache``: an optional :class:`~ocireg.tokencache.TokenCache` shared across processes.

    The calls are grouped by noun, one module each (docs/architecture.md §1): :mod:`ocireg.client.manifests`,
    :mod:`~ocireg.client.blobs`, :mod:`~ocireg.client.listing` (tags, catalog, GitLab's tag details),
    :mod:`~ocireg.client.referrers`, over the request core :mod:`~ocireg.client.core`.
    """
