"""operations/copy.py's pure parts (issue #5; #15 item 6: unit test modules named after the module they test)."""

from __future__ import annotations

from ocireg.manifest import Manifest
from ocireg.reference import Digest

DIGEST = Digest.from_bytes(b"0123456789" * 1000)


def test_copy_never_transfers_foreign_layers() -> None:
    """SEC: foreign layer urls — non-distributable layers with urls are neither fetched nor uploaded by copy."""
    from ocireg.manifest import Descriptor
    from ocireg.mediatypes import DOCKER_LAYER_FOREIGN, DOCKER_LAYER_GZIP
    from ocireg.operations.copy import _unique_blobs

    config = Descriptor("application/vnd.docker.container.image.v1+json", Digest.from_bytes(b"c"), 1)
    foreign = Descriptor(
        DOCKER_LAYER_FOREIGN, Digest.from_bytes(b"f"), 1, urls=("https://evil.example.net/x",)
    )
    normal = Descriptor(DOCKER_LAYER_GZIP, Digest.from_bytes(b"n"), 1)
    manifest = Manifest(
        "application/vnd.docker.distribution.manifest.v2+json",
        config,
        (foreign, normal, normal),
        {},
        None,
        b"",
        DIGEST,
    )
    assert [d.digest for d in _unique_blobs([manifest])] == [config.digest, normal.digest]
