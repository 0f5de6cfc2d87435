"""Issue #12 (registry half): ocireg against a GitLab-faithful registry (tests/rig/gitlabfront.py).

The rig's front answers as gitlab-org/container-registry v4.32.0 does (mirror tigrisdata/container-registry,
commit 27b04ab33a032281a5b3716a72f48e44afb9ca20: ``registry/handlers/manifests.go``,
``registry/handlers/repositories.go``, ``registry/api/v2/errors.go``, ``docs/spec/gitlab/api.md``) in front
of the real distribution 2.8; the token server puts GitLab's tag protection patterns into the token
(gitlab-org/gitlab ``Auth::ContainerRegistryAuthenticationService``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence

import pytest

from ocireg.client import RegistryClient
from ocireg.credentials import Credential
from ocireg.errors import NotFound
from ocireg.reference import parse_repository

from rig import Rig, seed_many_tags
from rig.gitlab_fixtures import GitLabRig
from rig.tokenserver import ALICE, ALICE_PASSWORD

ALICE_CRED = Credential(username=ALICE, password=ALICE_PASSWORD, source="test")


@pytest.fixture
def client() -> Iterator[RegistryClient]:
    with RegistryClient(ALICE_CRED) as c:
        yield c


def _push(rig: Rig, repo: str, tags: Sequence[str], label: str | None = None) -> str:
    """Push one image under ``tags`` through the rig's address; returns its digest."""
    with rig.pusher() as pusher:
        image = pusher.push_image(repo, tags[0], label=label or f"front-{repo}")
        for tag in tags[1:]:
            pusher.tag(image, tag)
    return image.digest


# ------------------------------------------------------------------------------- client: /gitlab/v1 tags


def test_pc_gitlab_tags_details_in_one_request(gitlab_rig: GitLabRig, client: RegistryClient) -> None:
    """#12 /gitlab/v1: every tag with digest, config digest, media type, size and dates, in one request."""
    repo = "group/project/details"
    digest = _push(gitlab_rig, repo, ["v1", "v2", "latest"])
    gitlab_rig.gitlab.clear_requests()
    details = client.gitlab_tags(parse_repository(f"{gitlab_rig.host}/{repo}"))
    assert details is not None
    assert [d.name for d in details] == ["latest", "v1", "v2"]
    for d in details:
        assert str(d.digest) == digest
        assert d.media_type == "application/vnd.oci.image.manifest.v1+json"
        assert d.config_digest is not None and d.size and d.size > 0
        assert d.created_at is not None and d.published == d.created_at
        assert d.created_at.tzinfo is not None
    assert gitlab_rig.gitlab.count("GET", r"^/gitlab/v1/") == 2  # the 401 challenge, then the page


def test_pc_gitlab_tags_pages_of_1000(gitlab_rig: GitLabRig, client: RegistryClient) -> None:
    """#12 /gitlab/v1: 1,200 tags come in two pages of n=1000 through the relative Link."""
    repo = "group/project/thousand"
    seeded = seed_many_tags(gitlab_rig, repo, 1200)
    gitlab_rig.gitlab.clear_requests()
    details = client.gitlab_tags(parse_repository(f"{gitlab_rig.host}/{repo}"))
    assert details is not None
    assert [d.name for d in details] == sorted(seeded.tags)
    assert gitlab_rig.gitlab.count("GET", r"^/gitlab/v1/.*n=1000") == 3  # challenge + 2 pages


def test_pc_gitlab_tags_sort_published_both_ways(gitlab_rig: GitLabRig, client: RegistryClient) -> None:
    """#12 /gitlab/v1: sort=published_at and -published_at, ties broken by name, across pages."""
    repo = "group/project/published"
    _push(gitlab_rig, repo, ["older", "old", "latest", "new", "newer"])
    base = dt.datetime(2023, 1, 1, 0, 0, 1, tzinfo=dt.timezone.utc)
    front = gitlab_rig.gitlab
    # docs/spec/gitlab/api.md, "Sorting by published date" (the table's dates).
    front.set_tag_times(repo, "older", base)
    front.set_tag_times(repo, "old", base.replace(month=2), base.replace(month=3))
    front.set_tag_times(repo, "latest", base.replace(month=3), base.replace(month=5))
    front.set_tag_times(repo, "new", base.replace(month=4))
    front.set_tag_times(repo, "newer", base.replace(month=5))
    repository = parse_repository(f"{gitlab_rig.host}/{repo}")
    up = client.gitlab_tags(repository, sort="published_at")
    down = client.gitlab_tags(repository, sort="-published_at")
    assert up is not None and down is not None
    assert [d.name for d in up] == ["older", "old", "new", "latest", "newer"]
    assert [d.name for d in down] == ["newer", "latest", "new", "old", "older"]
    assert up[1].updated_at == base.replace(month=3) and up[1].published_at == base.replace(month=3)


def test_pc_gitlab_tags_name_filters(gitlab_rig: GitLabRig, client: RegistryClient) -> None:
    """#12 /gitlab/v1: name (partial match on the server) and name_exact."""
    repo = "group/project/filters"
    _push(gitlab_rig, repo, ["mr-1", "mr-12", "main", "v1"])
    repository = parse_repository(f"{gitlab_rig.host}/{repo}")
    partial = client.gitlab_tags(repository, name="mr-1")
    exact = client.gitlab_tags(repository, name_exact="mr-1")
    assert partial is not None and exact is not None
    assert [d.name for d in partial] == ["mr-1", "mr-12"]
    assert [d.name for d in exact] == ["mr-1"]


def test_pc_gitlab_tags_unknown_repository_is_not_found(
    gitlab_rig: GitLabRig, client: RegistryClient
) -> None:
    """#12 /gitlab/v1: NAME_UNKNOWN is the registry saying "absent" (NotFound), not "no API"."""
    with pytest.raises(NotFound):
        client.gitlab_tags(parse_repository(f"{gitlab_rig.host}/group/project/never-pushed"))


def test_pc_gitlab_tags_none_without_database_remembered(
    gitlab_rig: GitLabRig, client: RegistryClient
) -> None:
    """#12 /gitlab/v1: 404 without a body (metadata database off) is None, and asked once per client."""
    gitlab_rig.gitlab.configure(database=False)
    repository = parse_repository(f"{gitlab_rig.host}/group/project")
    assert client.gitlab_tags(repository) is None
    asked = gitlab_rig.gitlab.count("GET", r"^/gitlab/v1/")
    assert client.gitlab_tags(repository) is None
    assert gitlab_rig.gitlab.count("GET", r"^/gitlab/v1/") == asked


def test_pc_gitlab_tags_none_on_plain_registry(token_rig: Rig, client: RegistryClient) -> None:
    """#12 /gitlab/v1: distribution 2.8 (a plain OCI registry) answers 404: None, once per client."""
    repository = parse_repository(f"{token_rig.host}/group/project")
    assert client.gitlab_tags(repository) is None
    before = client.transport.request_count
    assert client.gitlab_tags(repository) is None
    assert client.transport.request_count == before
