"""The documented library API (issue #2 item 10): RegistryClient without the CLI."""

from __future__ import annotations

import pytest

from ocireg.client import RegistryClient
from ocireg.credentials import Credential
from ocireg.errors import NotFound, PermissionDenied
from ocireg.manifest import Index, Manifest, parse_platform
from ocireg.reference import parse_reference

from rig import Rig
from rig.tokenserver import ALICE, ALICE_PASSWORD, BOB, BOB_PASSWORD


def test_client_methods(token_rig: Rig) -> None:
    alice = Credential(username=ALICE, password=ALICE_PASSWORD, source="test")
    with RegistryClient(alice) as client:
        oci = parse_reference(token_rig.ref("group/project", "oci"))
        assert client.exists(oci)
        assert not client.exists(oci.with_tag("missing"))
        info = client.head_manifest(oci)
        assert str(info.digest) == token_rig.seeded.digest("group/project", "oci")
        assert info.media_type == "application/vnd.oci.image.manifest.v1+json"
        manifest = client.get_manifest(oci)
        assert isinstance(manifest, Manifest)
        assert manifest.raw == token_rig.seeded.get("group/project", "oci").body
        index = client.get_manifest(parse_reference(token_rig.ref("group/project", "index")))
        assert isinstance(index, Index)
        assert len(index.manifests) == 2
        child = client.digest(
            parse_reference(token_rig.ref("group/project", "index")), platform=parse_platform("linux/amd64")
        )
        assert str(child) in {m.digest for m in token_rig.seeded.get("group/project", "index").children}
        config = client.get_image_config(oci, manifest)
        assert config["os"] == "linux"
        by_digest = parse_reference(token_rig.ref("group/project", "@" + str(info.digest)))
        assert client.exists(by_digest)
        with pytest.raises(NotFound):
            client.head_manifest(oci.with_tag("missing"))


def test_client_typed_errors(token_rig: Rig) -> None:
    bob = Credential(username=BOB, password=BOB_PASSWORD, source="test")
    with RegistryClient(bob) as client, pytest.raises(PermissionDenied) as excinfo:
        client.exists(parse_reference(token_rig.ref("group/project", "oci")))
    assert excinfo.value.hint and "granted no access" in excinfo.value.hint


def test_client_shares_one_token_across_threads(token_rig: Rig) -> None:
    """LD: token single-flight — 16 concurrent checks of one repository cost one token request."""
    from concurrent.futures import ThreadPoolExecutor

    assert token_rig.token_server is not None
    alice = Credential(username=ALICE, password=ALICE_PASSWORD, source="test")
    ref = parse_reference(token_rig.ref("group/project", "oci"))
    with RegistryClient(alice) as client, ThreadPoolExecutor(16) as pool:
        results = list(pool.map(lambda _: client.exists(ref), range(16)))
    assert all(results)
    assert len(token_rig.token_server.requests) == 1
