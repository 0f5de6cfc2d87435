"""RegistryClient is the class mypy sees (#22 item 4): its listing and referrers methods are real methods of the
class, whose modules are imported at first call, so a check (one HEAD) imports neither module (#16, start-up).
Catalogue: PC (the calls themselves are tested against the rig in the integration tests; here only how they are
put together)."""

from __future__ import annotations

import inspect
import subprocess
import sys

import ocireg.client
from ocireg.client import RegistryClient, listing, referrers


def test_every_listing_and_referrers_function_has_its_method() -> None:
    """#22: each public call of the listing and referrers modules is a method of RegistryClient, defined on the
    class itself (no attribute put on it at run time), with the same parameters after the client."""
    for module in (listing, referrers):
        for name, function in vars(module).items():
            if (
                name.startswith("_")
                or not inspect.isfunction(function)
                or function.__module__ != module.__name__
            ):
                continue
            parameters = list(inspect.signature(function).parameters)
            if not parameters or parameters[0] != "client":
                continue
            assert name in RegistryClient.__dict__, name
            method = inspect.signature(RegistryClient.__dict__[name])
            assert list(method.parameters)[1:] == parameters[1:], name


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


def test_no_attribute_is_set_on_the_client_class_at_run_time() -> None:
    """#22 item 4: the source of ocireg.client assigns nothing onto a class (no setattr)."""
    source = inspect.getsource(ocireg.client)
    assert "setattr(" not in source
