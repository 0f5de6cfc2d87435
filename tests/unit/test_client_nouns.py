"""RegistryClient's listing and referrers methods come in at first use (#16, start-up): the same methods, typed as
every noun's subclass for mypy, while a check (one HEAD) imports neither module. Catalogue: PC (the calls
themselves are tested against the rig in the integration tests; here only how they are put together)."""

from __future__ import annotations

import subprocess
import sys

import ocireg.client
from ocireg.client import LATER_METHODS, RegistryClient
from ocireg.client.listing import ListingApi
from ocireg.client.referrers import ReferrerApi


def test_the_later_methods_are_every_method_of_their_nouns() -> None:
    """#16: a method added to ListingApi or ReferrerApi must be listed, or RegistryClient would lack it."""
    for cls in (ListingApi, ReferrerApi):
        module = cls.__module__.rsplit(".", 1)[1]
        assert set(LATER_METHODS[(module, cls.__name__)]) == {
            k for k in cls.__dict__ if not k.startswith("__")
        }


def test_registry_client_has_every_noun_method_as_the_real_function() -> None:
    """#16: help() and dir() see the real methods; an instance gets them bound."""
    client = RegistryClient()
    try:
        for (_module, owner), names in LATER_METHODS.items():
            noun = {"ListingApi": ListingApi, "ReferrerApi": ReferrerApi}[owner]
            for name in names:
                assert getattr(RegistryClient, name) is noun.__dict__[name]
                assert getattr(client, name).__func__ is noun.__dict__[name]
    finally:
        client.close()


def test_every_public_name_of_ocireg_client_resolves() -> None:
    """#16: the names the listing and referrers modules export through ocireg.client still resolve."""
    for name in ocireg.client.__all__:
        assert getattr(ocireg.client, name) is not None


def test_importing_ocireg_client_imports_neither_listing_nor_referrers() -> None:
    """#16: a check's RegistryClient (manifests over blobs over core) without the listing and referrers modules."""
    code = (
        "import sys; import ocireg.client; c = ocireg.client.RegistryClient(); c.close(); "
        "print(sorted(m for m in sys.modules if m.startswith('ocireg.client.')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "ocireg.client.listing" not in out and "ocireg.client.referrers" not in out
    assert "ocireg.client.manifests" in out
