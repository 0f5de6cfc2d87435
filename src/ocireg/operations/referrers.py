"""Keep an image's referrers (signatures, SBOMs, attestations) where registries without the API look for them.

distribution-spec v1.1: a manifest with a ``subject`` is a referrer of that subject. A registry with the
referrers API indexes it when it is pushed and says so (``OCI-Subject``). On the others (distribution 2.8,
and others) the pushing client keeps an image index under the subject's referrers tag (``sha256-<hex>``, "Referrers
Tag Schema") listing every referrer: that is where oras, cosign and notation look on such registries, and where
:meth:`ocireg.client.RegistryClient.referrers` falls back to.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from ocireg.client import RegistryClient, referrers_tag
from ocireg.errors import NotFound, ProtocolViolation
from ocireg.manifest import Descriptor, Index
from ocireg.mediatypes import OCI_INDEX
from ocireg.reference import Digest, Reference, Repository
from ocireg.text import escape
from ocireg.transport import Deadline

__all__ = ["add_to_referrers_tag"]


def add_to_referrers_tag(
    client: RegistryClient,
    repository: Repository,
    subject: Digest,
    descriptors: Sequence[Descriptor],
    *,
    deadline: Deadline | None = None,
    scopes: tuple[str, ...] | None = None,
) -> bool:
    """Add ``descriptors`` to the index under ``subject``'s referrers tag; True if the index was written.

    The current index is read first (no tag yet: an empty one). Its entries are kept byte for byte as JSON
    values (fields ocireg does not model survive), descriptors already listed (same digest) are not added
    twice, and nothing is written when nothing is new, so copying the same image again changes nothing.
    """
    reference = Reference(repository, referrers_tag(subject))
    what = f"referrers tag {escape(str(reference))}"
    try:
        current = client.get_manifest(reference, deadline=deadline, scopes=scopes)
    except NotFound:
        current = None
    if current is not None and not isinstance(current, Index):
        raise ProtocolViolation(f"{what} holds a {current.media_type}, not an image index; left alone")
    document: dict[str, object] = (
        json.loads(current.raw) if current is not None else {"schemaVersion": 2, "mediaType": OCI_INDEX}
    )
    listed = {d.digest for d in current.manifests} if current is not None else set()
    fresh: list[Descriptor] = []
    for descriptor in descriptors:
        if descriptor.digest not in listed:
            listed.add(descriptor.digest)
            fresh.append(descriptor)
    if not fresh:
        return False
    entries = document.get("manifests")
    document["manifests"] = [*(entries if isinstance(entries, list) else []), *(d.to_json() for d in fresh)]
    raw = json.dumps(document, separators=(",", ":")).encode()
    client.put_manifest(reference, raw, OCI_INDEX, deadline=deadline, scopes=scopes)
    return True
