"""Issue #12 (registry half): ocireg against a GitLab-faithful registry (tests/rig/gitlabfront.py).

The rig's front answers as gitlab-org/container-registry v4.32.0 does (mirror tigrisdata/container-registry,
commit 27b04ab33a032281a5b3716a72f48e44afb9ca20: ``registry/handlers/manifests.go``,
``registry/handlers/repositories.go``, ``registry/api/v2/errors.go``, ``docs/spec/gitlab/api.md``) in front
of the real distribution 2.8; the token server puts GitLab's tag protection patterns into the token
(gitlab-org/gitlab ``Auth::ContainerRegistryAuthenticationService``).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator, Sequence

import pytest

from ocireg.auth.refusal import unchallenged_refusal
from ocireg.client import RegistryClient
from ocireg.credentials import Credential
from ocireg.errors import AuthenticationFailed, NotFound, PermissionDenied
from ocireg.operations.delete import delete
from ocireg.reference import parse_reference, parse_repository
from ocireg.registries.gitlab import GITLAB

from clirunner import creds, run_cli
from rig import Rig, seed_many_tags
from rig.gitlab_fixtures import GitLabRig
from rig.tokenserver import (
    ALICE,
    ALICE_PASSWORD,
    JOB_TOKEN,
    ROOT,
    ROOT_PASSWORD,
    TagProtection,
)

ALICE_CRED = Credential(username=ALICE, password=ALICE_PASSWORD, source="test")
ALICE_ENV = creds(ALICE, ALICE_PASSWORD)
ROOT_ENV = creds(ROOT, ROOT_PASSWORD)


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
    details = client.tag_details(parse_repository(f"{gitlab_rig.host}/{repo}"))
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
    details = client.tag_details(parse_repository(f"{gitlab_rig.host}/{repo}"))
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
    up = client.tag_details(repository, sort="published_at")
    down = client.tag_details(repository, sort="-published_at")
    assert up is not None and down is not None
    assert [d.name for d in up] == ["older", "old", "new", "latest", "newer"]
    assert [d.name for d in down] == ["newer", "latest", "new", "old", "older"]
    assert up[1].updated_at == base.replace(month=3) and up[1].published_at == base.replace(month=3)


def test_pc_gitlab_tags_name_filters(gitlab_rig: GitLabRig, client: RegistryClient) -> None:
    """#12 /gitlab/v1: name (partial match on the server) and name_exact."""
    repo = "group/project/filters"
    _push(gitlab_rig, repo, ["mr-1", "mr-12", "main", "v1"])
    repository = parse_repository(f"{gitlab_rig.host}/{repo}")
    partial = client.tag_details(repository, name="mr-1")
    exact = client.tag_details(repository, name_exact="mr-1")
    assert partial is not None and exact is not None
    assert [d.name for d in partial] == ["mr-1", "mr-12"]
    assert [d.name for d in exact] == ["mr-1"]


def test_pc_gitlab_tags_unknown_repository_is_not_found(
    gitlab_rig: GitLabRig, client: RegistryClient
) -> None:
    """#12 /gitlab/v1: NAME_UNKNOWN is the registry saying "absent" (NotFound), not "no API"."""
    with pytest.raises(NotFound):
        client.tag_details(parse_repository(f"{gitlab_rig.host}/group/project/never-pushed"))


def test_pc_gitlab_tags_none_without_database_remembered(
    gitlab_rig: GitLabRig, client: RegistryClient
) -> None:
    """#12 /gitlab/v1: 404 without a body (metadata database off) is None, and asked once per client."""
    gitlab_rig.gitlab.configure(database=False)
    repository = parse_repository(f"{gitlab_rig.host}/group/project")
    assert client.tag_details(repository) is None
    asked = gitlab_rig.gitlab.count("GET", r"^/gitlab/v1/")
    assert client.tag_details(repository) is None
    assert gitlab_rig.gitlab.count("GET", r"^/gitlab/v1/") == asked


def test_pc_gitlab_tags_none_on_plain_registry(token_rig: Rig, client: RegistryClient) -> None:
    """#12 /gitlab/v1: distribution 2.8 (a plain OCI registry) answers 404: None, once per client."""
    repository = parse_repository(f"{token_rig.host}/group/project")
    assert client.tag_details(repository) is None
    before = client.transport.request_count
    assert client.tag_details(repository) is None
    assert client.transport.request_count == before


# ----------------------------------------------------------------------------- protected and immutable tags


def _protect(rig: GitLabRig, **rules: tuple[str, ...]) -> None:
    assert rig.token_server is not None
    rig.token_server.tag_protection = {"group/project": TagProtection(**rules)}


def test_pc_gitlab_protected_tag_push_is_access_denied(gitlab_rig: GitLabRig) -> None:
    """#12 row 1: a push onto a protected tag — 401 without a challenge, PROTECTED_TAG — is exit 4 with GitLab's
    code, message and detail, and a hint about the project's protected tag rules."""
    repo = "group/project/protected"
    _push(gitlab_rig, repo, ["base"])
    _protect(gitlab_rig, push=("^release-",), delete=("^release-",))
    result = run_cli(["tag", f"{gitlab_rig.host}/{repo}:base", "release-1"], ALICE_ENV)
    assert result.code == 4, result.both
    assert "PROTECTED_TAG" in result.err
    assert "insufficient permissions to push or delete protected tag" in result.err
    assert 'tag "release-1" is protected' in result.err
    assert "Settings > Packages and registries" in result.err
    assert "Traceback" not in result.err
    refused = [r for r in gitlab_rig.gitlab.requests if r.method == "PUT" and r.status == 401]
    assert len(refused) == 1  # refused once, never retried as if it were a challenge
    # A tag no rule covers is pushed as usual.
    assert run_cli(["tag", f"{gitlab_rig.host}/{repo}:base", "dev-1"], ALICE_ENV).code == 0


def test_pc_gitlab_protected_tag_delete_denied_admin_allowed(gitlab_rig: GitLabRig) -> None:
    """#12 row 1: deleting a protected tag is exit 4 (PROTECTED_TAG); an administrator (empty deny lists in
    the token, as GitLab gives admins) deletes it."""
    repo = "group/project/protected-delete"
    _push(gitlab_rig, repo, ["release-2", "keep"])
    _protect(gitlab_rig, push=("^release-",), delete=("^release-",))
    denied = run_cli(["delete", f"{gitlab_rig.host}/{repo}:release-2"], ALICE_ENV)
    assert denied.code == 4, denied.both
    assert "PROTECTED_TAG" in denied.err and "Protected container tags" in denied.err
    assert gitlab_rig.get_manifest(repo, "release-2").status_code == 200
    root = run_cli(["delete", f"{gitlab_rig.host}/{repo}:release-2"], ROOT_ENV)
    assert root.code == 0, root.both
    assert gitlab_rig.get_manifest(repo, "release-2").status_code == 404
    assert gitlab_rig.get_manifest(repo, "keep").status_code == 200


def test_pc_gitlab_immutable_tag_overwrite_and_delete_denied(gitlab_rig: GitLabRig) -> None:
    """#12 row 1: an immutable tag may be created once; overwriting or deleting it is exit 4 (IMMUTABLE_TAG)."""
    repo = "group/project/immutable"
    _push(gitlab_rig, repo, ["one"], label="immutable-one")
    _push(gitlab_rig, repo, ["two"], label="immutable-two")
    _protect(gitlab_rig, immutable=("^v\\d",))
    assert run_cli(["tag", f"{gitlab_rig.host}/{repo}:one", "v1"], ALICE_ENV).code == 0  # a new tag: allowed
    again = run_cli(["tag", f"{gitlab_rig.host}/{repo}:two", "v1"], ALICE_ENV)
    assert again.code == 4, again.both
    assert "IMMUTABLE_TAG" in again.err and "tag is immutable" in again.err and "immutab" in again.err
    delete = run_cli(["delete", f"{gitlab_rig.host}/{repo}:v1"], ALICE_ENV)
    assert delete.code == 4, delete.both
    assert "IMMUTABLE_TAG" in delete.err
    one = gitlab_rig.get_manifest(repo, "one").headers["docker-content-digest"]
    assert gitlab_rig.get_manifest(repo, "v1").headers["docker-content-digest"] == one


def test_pc_gitlab_protected_manifest_delete_by_digest_denied(gitlab_rig: GitLabRig) -> None:
    """#12 row 1: with tag rules in the token, a delete by digest is exit 4 (PROTECTED_MANIFEST), nothing goes."""
    repo = "group/project/protected-manifest"
    digest = _push(gitlab_rig, repo, ["only"])
    _protect(gitlab_rig, push=("^release-",), delete=("^release-",))
    result = run_cli(["delete", "--manifest", "--yes", f"{gitlab_rig.host}/{repo}@{digest}"], ALICE_ENV)
    assert result.code == 4, result.both
    assert "PROTECTED_MANIFEST" in result.err
    assert "ocireg delete REPO:TAG" in result.err
    assert gitlab_rig.get_manifest(repo, "only").status_code == 200


def test_bi_gitlab_unchallenged_401_escapes_registry_text(gitlab_rig: GitLabRig) -> None:
    """#12 row 1 (BI): the registry's detail is shown escaped; a tag-rule 401 from a hostile registry cannot
    inject terminal sequences."""
    sent = {"registry": gitlab_rig.host, "credential": Credential(username="u", password="p"), "sent": True}
    error = unchallenged_refusal(
        json.dumps(
            {
                "errors": [
                    {"code": "PROTECTED_TAG", "message": "no\u001b[2J", "detail": "tag \u001b]0;x\u0007"}
                ]
            }
        ).encode(),
        what="manifest x",
        profile=GITLAB,
        **sent,  # type: ignore[arg-type]
    )
    assert isinstance(error, PermissionDenied)
    assert "\u001b" not in str(error) and "\u0007" not in str(error)
    other = unchallenged_refusal(
        b'{"errors":[{"code":"UNAUTHORIZED","message":"who?"}]}',
        what="manifest x",
        profile=GITLAB,
        **sent,  # type: ignore[arg-type]
    )
    assert isinstance(other, AuthenticationFailed)  # every other 401 without a challenge keeps exit 3


# ------------------------------------------------------------------------- Retry-After written with %f


def test_ft_gitlab_fractional_retry_after_is_honoured(gitlab_rig: GitLabRig) -> None:
    """#12 row 7: GitLab's rate limiting writes Retry-After with %f (1.500000): the wait is 1.5 s, not a random
    backoff (the debug log shows the wait chosen)."""
    gitlab_rig.gitlab.throttle(1, retry_after=1.5)
    result = run_cli(["exists", "--debug", gitlab_rig.ref("group/project", "oci")], ALICE_ENV)
    assert result.code == 0, result.both
    assert "in 1.50s" in result.err


def test_ft_gitlab_fractional_retry_after_capped(gitlab_rig: GitLabRig) -> None:
    """#12 row 7: a fractional wait beyond the cap (60 s) is reported at once, exit 7, the wait in the message."""
    gitlab_rig.gitlab.throttle(5, retry_after=90.25)
    result = run_cli(["exists", gitlab_rig.ref("group/project", "oci")], ALICE_ENV)
    assert result.code == 7, result.both
    assert "90.2s" in result.err or "90.25" in result.err
    assert gitlab_rig.gitlab.count() == 1


# ------------------------------------------------------------------------------- /gitlab/v1 through the CLI


def test_ld_gitlab_tags_digests_300_tags_two_requests(gitlab_rig: GitLabRig) -> None:
    """#12 row 8: `tags --digests` on 300 tags is 2 registry requests (challenge + one page) instead of 302."""
    repo = "group/project/three-hundred"
    seeded = seed_many_tags(gitlab_rig, repo, 300)
    gitlab_rig.gitlab.clear_requests()
    result = run_cli(["tags", "--digests", "-o", "json", f"{gitlab_rig.host}/{repo}"], ALICE_ENV)
    assert result.code == 0, result.both
    doc = json.loads(result.out)
    assert doc["source"] == "gitlab"
    assert [e["tag"] for e in doc["entries"]] == list(seeded.tags)
    assert {e["digest"] for e in doc["entries"]} == {seeded.digest}
    assert gitlab_rig.gitlab.count() <= 2
    assert gitlab_rig.gitlab.count("HEAD") == 0


def test_pc_gitlab_tags_digests_fall_back_without_database(gitlab_rig: GitLabRig) -> None:
    """#12 row 8: with the metadata database off, /gitlab/v1 answers 404 and --digests uses /v2/ (HEAD per tag)."""
    repo = "group/project/fallback"
    digest = _push(gitlab_rig, repo, ["a", "b", "c"])
    gitlab_rig.gitlab.configure(database=False)
    gitlab_rig.gitlab.clear_requests()
    result = run_cli(["tags", "--digests", "-o", "json", f"{gitlab_rig.host}/{repo}"], ALICE_ENV)
    assert result.code == 0, result.both
    doc = json.loads(result.out)
    assert doc["source"] == "v2"
    assert [(e["tag"], e["digest"]) for e in doc["entries"]] == [(t, digest) for t in ("a", "b", "c")]
    assert gitlab_rig.gitlab.count("HEAD", r"/manifests/(a|b|c)$") == 3
    assert gitlab_rig.gitlab.count("GET", r"^/gitlab/v1/.*n=1000") <= 2  # asked once (challenge + 404)


def test_pc_gitlab_tags_sort_and_latest_by_published(gitlab_rig: GitLabRig) -> None:
    """#12 row 8: `tags --sort published` (oldest first, --reverse newest first) and `--latest --by published`."""
    repo = "group/project/by-published"
    _push(gitlab_rig, repo, ["v2.0.0", "v1.0.0", "hotfix"])
    base = dt.datetime(2024, 5, 1, tzinfo=dt.timezone.utc)
    gitlab_rig.gitlab.set_tag_times(repo, "v1.0.0", base)
    gitlab_rig.gitlab.set_tag_times(repo, "v2.0.0", base + dt.timedelta(days=1))
    gitlab_rig.gitlab.set_tag_times(repo, "hotfix", base, updated=base + dt.timedelta(days=2))
    target = f"{gitlab_rig.host}/{repo}"
    up = run_cli(["tags", "--sort", "published", target], ALICE_ENV)
    assert up.code == 0, up.both
    assert up.out.split() == ["v1.0.0", "v2.0.0", "hotfix"]
    down = run_cli(["tags", "--sort", "published", "--reverse", "-o", "json", target], ALICE_ENV)
    doc = json.loads(down.out)
    assert doc["tags"] == ["hotfix", "v2.0.0", "v1.0.0"]
    assert doc["entries"][0]["published_at"] == "2024-05-03T00:00:00Z"
    latest = run_cli(["tags", "--latest", "--by", "published", target], ALICE_ENV)
    assert latest.out.split() == ["hotfix"]
    assert run_cli(["tags", "--latest", target], ALICE_ENV).out.split() == ["v2.0.0"]  # by version: unchanged


def test_pc_tags_published_refused_on_plain_registry(token_rig: Rig) -> None:
    """#12 row 8: a plain OCI registry records no push dates: --sort published is exit 6 with a clear reason."""
    result = run_cli(["tags", "--sort", "published", f"{token_rig.host}/group/project"], ALICE_ENV)
    assert result.code == 6, result.both
    assert "/gitlab/v1" in result.err and "Traceback" not in result.err
    assert run_cli(["tags", "--by", "published", f"{token_rig.host}/group/project"], ALICE_ENV).code == 2


def test_ld_gitlab_delete_manifest_lists_siblings_in_one_request(gitlab_rig: GitLabRig) -> None:
    """#12 row 8: `delete --manifest` finds the tags on the digest through /gitlab/v1, not one HEAD per tag."""
    repo = "group/project/siblings-v1"
    digest = _push(gitlab_rig, repo, ["a", "b"], label="siblings-v1")
    for i in range(30):
        _push(gitlab_rig, repo, [f"other-{i}"], label=f"other-{i}")
    gitlab_rig.gitlab.clear_requests()
    refused = run_cli(["delete", "--manifest", f"{gitlab_rig.host}/{repo}:a"], ALICE_ENV)
    assert refused.code == 2, refused.both
    assert "1 other tag(s): b" in refused.err
    # Only the tag asked about is resolved (its 401 challenge, then the answer); none of the 31 others.
    assert gitlab_rig.gitlab.count("HEAD") <= 2
    assert gitlab_rig.gitlab.count("HEAD", r"/manifests/(b|other-)") == 0
    done = run_cli(["delete", "--manifest", "--yes", f"{gitlab_rig.host}/{repo}:a"], ALICE_ENV)
    assert done.code == 0, done.both
    assert gitlab_rig.get_manifest(repo, digest).status_code == 404
    assert gitlab_rig.get_manifest(repo, "other-0").status_code == 200


# ---------------------------------------------------------------------------- tag delete and the features


def test_pc_gitlab_oci_tag_delete_removes_only_that_tag(gitlab_rig: GitLabRig) -> None:
    """#12 row 9: GitLab >= 16.4 deletes one tag (OCI tag delete): one DELETE, the sibling tag stays."""
    repo = "group/project/oci-delete"
    digest = _push(gitlab_rig, repo, ["a", "b"])
    gitlab_rig.gitlab.clear_requests()
    result = run_cli(["delete", f"{gitlab_rig.host}/{repo}:a"], ALICE_ENV)
    assert result.code == 0, result.both
    assert gitlab_rig.gitlab.count("DELETE") == 1
    assert gitlab_rig.gitlab.count("GET", r"^/v2/$") == 0
    assert gitlab_rig.get_manifest(repo, "a").status_code == 404
    assert gitlab_rig.get_manifest(repo, "b").headers["docker-content-digest"] == digest


def test_pc_gitlab_tag_delete_by_features_header_before_3_80(gitlab_rig: GitLabRig) -> None:
    """#12 row 9: a GitLab registry older than 3.80 refuses the OCI tag delete; its /v2/ features header
    (tag_delete) sends ocireg to DELETE /v2/<name>/tags/reference/<tag>: only that tag goes."""
    repo = "group/project/old-gitlab"
    digest = _push(gitlab_rig, repo, ["a", "b"])
    gitlab_rig.gitlab.configure(version="3.70.0-gitlab")
    gitlab_rig.gitlab.clear_requests()
    result = run_cli(["delete", f"{gitlab_rig.host}/{repo}:a"], ALICE_ENV)
    assert result.code == 0, result.both
    assert gitlab_rig.gitlab.count("DELETE", r"/tags/reference/a$") == 1
    assert gitlab_rig.gitlab.count("PUT") == 0  # no placeholder swap, no zero-digest probe
    assert gitlab_rig.gitlab.count("DELETE", r"sha256:0{64}") == 0
    assert gitlab_rig.get_manifest(repo, "a").status_code == 404
    assert gitlab_rig.get_manifest(repo, "b").headers["docker-content-digest"] == digest


def test_pc_gitlab_features_seen_pick_tag_delete_without_probe(gitlab_rig: GitLabRig) -> None:
    """#12 row 9: once /v2/'s headers were seen (tag_delete, registry 3.70) the library goes straight to
    tags/reference: one DELETE, no OCI attempt first."""
    repo = "group/project/seen-features"
    _push(gitlab_rig, repo, ["a", "b"])
    gitlab_rig.gitlab.configure(version="3.70.0-gitlab")
    with RegistryClient(ALICE_CRED) as client:
        ref = parse_reference(f"{gitlab_rig.host}/{repo}:a")
        features = client.registry_features(ref.registry, scopes=(ref.repository.scope("pull", "delete"),))
        assert features is not None and features.tag_delete and features.version == "3.70.0-gitlab"
        gitlab_rig.gitlab.clear_requests()
        assert delete(client, ref).status == "deleted"
    assert gitlab_rig.gitlab.count("DELETE") == 1
    assert gitlab_rig.gitlab.count("DELETE", r"/tags/reference/a$") == 1
    assert gitlab_rig.get_manifest(repo, "b").status_code == 200


# ------------------------------------------------------------------------ README: the CI cleanup job


def test_pc_gitlab_ci_cleanup_job_deletes_mr_tag(gitlab_rig: GitLabRig) -> None:
    """#12 row 6 / README: the cleanup job `ocireg delete :mr-$CI_MERGE_REQUEST_IID` with the job token deletes
    the merge request's tag in its own project (GitLab: a job token may delete there) and nothing else."""
    repo = "group/project"
    digest = _push(gitlab_rig, repo, ["mr-42", "main-42"], label="ci-cleanup")
    env = {
        "GITLAB_CI": "true",
        "CI_REGISTRY": gitlab_rig.host,
        "CI_REGISTRY_IMAGE": f"{gitlab_rig.host}/{repo}",
        "CI_JOB_TOKEN": JOB_TOKEN,
        "CI_MERGE_REQUEST_IID": "42",
    }
    result = run_cli(["delete", f":mr-{env['CI_MERGE_REQUEST_IID']}"], env)
    assert result.code == 0, result.both
    assert gitlab_rig.get_manifest(repo, "mr-42").status_code == 404
    assert gitlab_rig.get_manifest(repo, "main-42").headers["docker-content-digest"] == digest
