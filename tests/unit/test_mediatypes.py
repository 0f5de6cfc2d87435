"""Unit tests for ocireg.mediatypes: the Accept list every manifest request sends (PC-accept, docs/architecture.md §5)."""

from __future__ import annotations

import pytest

from ocireg import mediatypes as mt


def test_accept_list_has_all_four_manifest_types() -> None:
    """Distribution 2.8 answers 404 for an OCI index unless all four types are accepted (a false "absent")."""
    assert mt.MANIFEST_ACCEPT == (
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    )
    assert ", ".join(mt.MANIFEST_ACCEPT) == mt.ACCEPT_HEADER
    assert set(mt.MANIFEST_ACCEPT) == mt.INDEX_TYPES | mt.IMAGE_MANIFEST_TYPES == mt.MANIFEST_TYPES


def test_schema1_is_never_accepted() -> None:
    assert not mt.SCHEMA1_TYPES & set(mt.MANIFEST_ACCEPT)
    assert mt.DOCKER_MANIFEST_V1_SIGNED in mt.SCHEMA1_TYPES


def test_type_sets_are_disjoint() -> None:
    assert not mt.INDEX_TYPES & mt.IMAGE_MANIFEST_TYPES
    assert not mt.GENERIC_CONTENT_TYPES & mt.MANIFEST_TYPES


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("", None),
        ("  ; charset=utf-8", None),
        ("application/json", "application/json"),
        ("Application/VND.OCI.image.index.v1+json; charset=utf-8", mt.OCI_INDEX),
        (" application/vnd.docker.distribution.manifest.v2+json ", mt.DOCKER_MANIFEST_V2),
    ],
)
def test_base_type(value: str | None, expected: str | None) -> None:
    assert mt.base_type(value) == expected
