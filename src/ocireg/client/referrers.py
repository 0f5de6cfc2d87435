"""Referrers (#15 item 2): the manifests whose ``subject`` is a digest, from the OCI 1.1 API or the referrers tag."""

from __future__ import annotations

from ocireg.client.core import MAX_LIST_PAGES
from ocireg.client.manifests import MANIFEST_LIMIT, ManifestApi
from ocireg.errors import (
    NotFound,
    ProtocolViolation,
    Unsupported,
)
from ocireg.mediatypes import (
    OCI_INDEX,
)
from ocireg.record import record
from ocireg.reference import Digest, Reference, Repository
from ocireg.text import escape
from ocireg.transport import Deadline, read_capped

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ocireg.manifest import Descriptor

#: Referrers gathered across pages before giving up: real images carry a handful (signatures, SBOMs,
#: attestations); a registry sending more is broken or hostile, and each descriptor costs memory.
MAX_REFERRERS = 10_000


def referrers_tag(subject: Digest) -> str:
    """The tag ``<alg>-<ref>`` under which registries without the referrers API keep ``subject``'s referrers.

    distribution-spec v1.1, "Referrers Tag Schema": the algorithm cut to 32 characters and the encoded digest to
    64, so a sha512 subject gets a valid tag too.
    """
    return f"{subject.algorithm[:32]}-{subject.hex[:64]}"


@record(frozen=True)
class Referrers:
    """The manifests whose ``subject`` is ``subject`` (signatures, SBOMs, attestations...).

    ``source`` says where the list came from: ``"api"`` (the OCI 1.1 referrers API) or ``"tag-schema"`` (the
    ``<alg>-<hex>`` index tag that registries without the API carry).
    """

    subject: Digest
    manifests: tuple[Descriptor, ...]
    source: str


def referrers(
    client: ManifestApi,
    repository: Repository,
    subject: Digest,
    *,
    artifact_type: str | None = None,
    deadline: Deadline | None = None,
) -> Referrers:
    """The manifests in ``repository`` whose ``subject`` is ``subject``, optionally of one artifact type.

    OCI distribution-spec v1.1, "Listing Referrers": ``GET /v2/<name>/referrers/<digest>`` answers an image
    index (``Link`` pages followed as for tags). A registry without the API (distribution 2.8, and others)
    answers 404, and the spec's "Referrers Tag Schema" applies: the index tagged ``<alg>-<hex>``, which
    pushing clients (oras, cosign) keep up to date there; no such tag means no referrers. The
    ``artifactType`` filter is applied here as well: a registry MAY ignore it (it then omits
    ``OCI-Filters-Applied``).
    """
    deadline = deadline or client.deadline()
    what = f"referrers of {escape(str(repository))}@{subject}"
    found = _from_api(client, repository, subject, artifact_type, deadline, what)
    source = "api"
    if found is None:
        found, source = _from_tag(client, repository, subject, deadline), "tag-schema"
    if artifact_type is not None:
        found = [d for d in found if d.artifact_type == artifact_type]
    return Referrers(subject=subject, manifests=tuple(found), source=source)


def _from_api(
    client: ManifestApi,
    repository: Repository,
    subject: Digest,
    artifact_type: str | None,
    deadline: Deadline,
    what: str,
) -> list[Descriptor] | None:
    """Every page of the referrers API; ``None`` when the registry has no such API (404, 405, 501)."""
    from urllib.parse import quote

    query = f"?artifactType={quote(artifact_type, safe='')}" if artifact_type else ""
    current = f"/v2/{repository.path}/referrers/{subject}{query}"
    visited = {current}
    found: list[Descriptor] = []
    for page in range(MAX_LIST_PAGES):
        try:
            response = client.request(
                "GET",
                repository.registry,
                current,
                scopes=(repository.scope("pull"),),
                headers={"Accept": OCI_INDEX},
                deadline=deadline,
                what=what,
            )
        except (NotFound, Unsupported):
            if page == 0:
                return None
            raise
        links = response.headers.get_list("link")
        content_type = response.headers.get("content-type")
        body = read_capped(response, MANIFEST_LIMIT, deadline=deadline, what=what)
        from ocireg.manifest import Index, parse_manifest  # parsed here only (#16: a HEAD parses none)

        index = parse_manifest(body, content_type)
        if not isinstance(index, Index):
            raise ProtocolViolation(f"{what}: the registry answered a {index.media_type}, not an image index")
        found.extend(index.manifests)
        if len(found) > MAX_REFERRERS:
            raise ProtocolViolation(f"{what}: more than {MAX_REFERRERS} referrers; giving up")
        following = client._next_page(
            repository.registry, links, current, visited, bool(index.manifests), deadline, what
        )
        if following is None:
            return found
        current = following
    raise ProtocolViolation(f"{what}: more than {MAX_LIST_PAGES} pages; giving up")


def _from_tag(
    client: ManifestApi, repository: Repository, subject: Digest, deadline: Deadline
) -> list[Descriptor]:
    """The index under the referrers tag of ``subject`` (:func:`referrers_tag`); no such tag: none."""
    from ocireg.manifest import Index

    tag = referrers_tag(subject)
    try:
        index = client.get_manifest(Reference(repository, tag), deadline=deadline)
    except NotFound:
        return []
    if not isinstance(index, Index):
        raise ProtocolViolation(
            f"{escape(str(repository))}:{tag}: the referrers tag holds a {index.media_type}, not an image index"
        )
    return list(index.manifests)
