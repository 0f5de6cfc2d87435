"""operations/delete.py's pure parts (issue #5; #15 item 6: unit test modules named after the module they test).

PC: safe tag delete (the --untag placeholder).
"""

from __future__ import annotations

import json

from ocireg.manifest import Manifest, parse_manifest
from ocireg.mediatypes import OCI_EMPTY, OCI_MANIFEST
from ocireg.operations.delete import placeholder_manifest
from ocireg.reference import Digest, Reference, parse_reference

DIGEST = Digest.from_bytes(b"0123456789" * 1000)


def test_placeholder_manifest_is_a_valid_unique_oci_manifest() -> None:
    """PC: safe tag delete — the --untag placeholder parses strictly and never repeats a digest."""
    first, second = placeholder_manifest("a"), placeholder_manifest("a")
    assert first != second
    parsed = parse_manifest(first, OCI_MANIFEST)
    assert isinstance(parsed, Manifest)
    assert parsed.config.media_type == OCI_EMPTY
    assert parsed.config.digest == Digest.from_bytes(b"{}")
    assert json.loads(first)["artifactType"]


def test_reference_helpers_used_by_delete() -> None:
    ref = parse_reference("registry.example.com/group/app:v1")
    assert Reference(ref.repository, None, DIGEST).identifier == str(DIGEST)
