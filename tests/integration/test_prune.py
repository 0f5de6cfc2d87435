"""Issue #17 acceptance: `ocireg prune` against the rig (real distribution 2.8, GitLab-style token server).

Images are seeded with raw HTTP (never with ocireg) with image configs whose ``created`` times the tests
choose, so ages are known independently of the code under test. Where a registry with the OCI tag delete is
needed, the fault proxy emulates it on top of 2.8 (``emulate_oci_tag_delete``: only that tag disappears).
"""

from __future__ import annotations

import json
import re
import secrets
import signal
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from integration.faultkit import (
    measured_argv,
    ocireg_argv,
    split_peak_rss,
    subprocess_env,
    wait_until,
    with_default_sigint,
)

from clirunner import creds, run_cli
from rig import ACCEPT_ALL, Rig
from rig.faultproxy import FaultProxy, Rule, delay, emulate_oci_tag_delete, location_via_proxy
from rig.gitlab_fixtures import GitLabRig
from rig.proxy_fixtures import FaultProxyFactory
from rig.seed import (
    OCI_CONFIG,
    OCI_INDEX,
    OCI_LAYER,
    OCI_MANIFEST,
    Pusher,
    layer_gzip,
    seed_many_tags,
    sha256_digest,
)
from rig.tokenserver import ALICE, ALICE_PASSWORD, JOB_TOKEN

ALICE_ENV = {**creds(ALICE, ALICE_PASSWORD), "OCIREG_TOKEN_CACHE": "0"}
NOW = datetime.now(timezone.utc)


def ago(days: float) -> str:
    return (NOW - timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _descriptor(media_type: str, digest: str, size: int, **extra: object) -> dict[str, object]:
    return {"mediaType": media_type, "digest": digest, "size": size, **extra}


def push_dated(
    pusher: Pusher, repo: str, tag: str | None, created: str | None, label: str
) -> tuple[str, int]:
    """An OCI image whose config says ``created`` (omitted when None); returns (digest, manifest size)."""
    layer, diff_id = layer_gzip(label)
    config_doc: dict[str, object] = {
        "architecture": "amd64",
        "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "config": {"Labels": {"org.ocireg.rig": label}},
    }
    if created is not None:
        config_doc["created"] = created
    config = json.dumps(config_doc).encode()
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": _descriptor(OCI_CONFIG, pusher.put_blob(repo, config), len(config)),
        "layers": [_descriptor(OCI_LAYER, pusher.put_blob(repo, layer), len(layer))],
    }
    body = json.dumps(manifest, indent=2).encode()
    digest = sha256_digest(body)
    pusher.put_manifest(repo, tag or digest, body, OCI_MANIFEST)
    return digest, len(body)


def push_dated_index(
    pusher: Pusher, repo: str, tag: str, children: Sequence[str], label: str, annotation: str | None = None
) -> str:
    """An OCI index over one child per ``created`` time (amd64, arm64, ...), optionally annotated."""
    arches = ["amd64", "arm64", "ppc64le", "s390x"]
    manifests = []
    for arch, created in zip(arches, children, strict=False):
        digest, size = push_dated(pusher, repo, None, created, f"{label}-{arch}")
        manifests.append(
            _descriptor(OCI_MANIFEST, digest, size, platform={"os": "linux", "architecture": arch})
        )
    doc: dict[str, object] = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests}
    if annotation is not None:
        doc["annotations"] = {"org.opencontainers.image.created": annotation}
    return pusher.put_manifest(repo, tag, json.dumps(doc, indent=2).encode(), OCI_INDEX)


def fresh_repo(prefix: str) -> str:
    return f"group/project/{prefix}-{secrets.token_hex(4)}"


def tag_digest(rig: Rig, repo: str, tag: str, *, via: FaultProxy | None = None) -> str | None:
    """The digest ``tag`` points to now (None when absent), asked directly or through ``via``."""
    headers = {"Accept": ACCEPT_ALL}
    auth = rig.authorization(repo, ["pull"])
    if auth:
        headers["Authorization"] = auth
    base = f"http://{via.netloc}" if via is not None else rig.url
    with rig.raw_client(base_url=base) as raw:
        response = raw.head(f"/v2/{repo}/manifests/{tag}", headers=headers)
    if response.status_code == 404:
        return None
    assert response.status_code == 200, response.status_code
    return response.headers["docker-content-digest"]


def prune_json(argv: list[str], env: dict[str, str] | None = None) -> tuple[int, dict[str, object], str]:
    result = run_cli(["prune", "-o", "json", *argv], env or ALICE_ENV)
    assert result.out, result.err
    return result.code, json.loads(result.out), result.err


def by_tag(doc: dict[str, object]) -> dict[str, dict[str, object]]:
    tags = doc["tags"]
    assert isinstance(tags, list)
    return {entry["tag"]: entry for entry in tags}


@dataclass(frozen=True)
class Dated:
    repo: str
    digests: dict[str, str]


@pytest.fixture
def dated(token_rig: Rig) -> Dated:
    """mr-old (30d), mr-mid (20d), mr-new (2d), mr-undated (no created), an annotated index (40d, children
    2d), an index without annotation (children 25d and 3d: newest 3d), latest (60d) and v1.0.0 (50d)."""
    repo = fresh_repo("prune-ages")
    digests: dict[str, str] = {}
    with token_rig.pusher() as pusher:
        digests["mr-old"] = push_dated(pusher, repo, "mr-old", ago(30), f"{repo}-old")[0]
        digests["mr-mid"] = push_dated(pusher, repo, "mr-mid", ago(20), f"{repo}-mid")[0]
        digests["mr-new"] = push_dated(pusher, repo, "mr-new", ago(2), f"{repo}-new")[0]
        digests["mr-undated"] = push_dated(pusher, repo, "mr-undated", None, f"{repo}-undated")[0]
        digests["mr-index-annotated"] = push_dated_index(
            pusher, repo, "mr-index-annotated", [ago(2), ago(2)], f"{repo}-ia", annotation=ago(40)
        )
        digests["mr-index-children"] = push_dated_index(
            pusher, repo, "mr-index-children", [ago(25), ago(3)], f"{repo}-ic"
        )
        digests["latest"] = push_dated(pusher, repo, "latest", ago(60), f"{repo}-latest")[0]
        digests["v1.0.0"] = push_dated(pusher, repo, "v1.0.0", ago(50), f"{repo}-v1")[0]
    return Dated(repo, digests)


def test_pc_prune_ages_from_seeded_configs_and_dry_run_changes_nothing(
    token_rig: Rig, dated: Dated, fault_proxy_factory: FaultProxyFactory
) -> None:
    """#17 Age + Safety: ages come from the image configs (an index: its annotation, else its newest child);
    a tag without a time is kept and reported; without --yes the plan is printed, exit 0, and not one
    request that changes anything is sent."""
    proxy = fault_proxy_factory(token_rig.url)
    code, doc, err = prune_json([f"{proxy.netloc}/{dated.repo}", "--match", "mr-*", "--older-than", "14d"])
    assert code == 0, err
    assert doc["schema"] == 1 and doc["command"] == "prune" and doc["dry_run"] is True
    assert doc["age_source"] == "created"
    tags = by_tag(doc)
    expected = {
        "mr-old": ("delete", 30),
        "mr-mid": ("delete", 20),
        "mr-new": ("keep", 2),
        "mr-undated": ("keep", None),
        "mr-index-annotated": ("delete", 40),  # the annotation wins over the (young) children
        "mr-index-children": ("keep", 3),  # no annotation: the newest child
    }
    for tag in ("latest", "v1.0.0"):  # not chosen by --match: never resolved (#23: no HEAD per listed tag)
        assert tags[tag]["action"] == "keep" and "not selected" in str(tags[tag]["reason"])
        assert tags[tag]["digest"] is None and tags[tag]["age"] is None
    for tag, (action, days) in expected.items():
        entry = tags[tag]
        assert entry["action"] == action, (tag, entry)
        assert entry["digest"] == dated.digests[tag]
        if days is None:
            assert entry["age"] is None and "age unknown" in str(entry["reason"])
        else:
            assert isinstance(entry["age"], int)
            assert abs(entry["age"] - days * 86400) < 3600, (tag, entry)
        assert "outcome" not in entry or entry["outcome"] is None
    assert doc["summary"] == {"tags": 8, "delete": 3, "keep": 5}
    assert {r.method for r in proxy.requests} <= {"GET", "HEAD"}, [(r.method, r.path) for r in proxy.requests]
    for tag, digest in dated.digests.items():
        assert tag_digest(token_rig, dated.repo, tag) == digest

    text = run_cli(
        ["prune", f"{token_rig.host}/{dated.repo}", "--match", "mr-*", "--older-than", "14d"], ALICE_ENV
    )
    assert text.code == 0, text.err
    lines = text.out.splitlines()
    assert lines[-1].startswith(f"plan for {token_rig.host}/{dated.repo}: delete 3, keep 5 (nothing changed")
    assert any(line.startswith("delete") and "mr-old" in line and "30d" in line for line in lines), text.out


def test_pc_prune_yes_deletes_only_the_plan_with_oci_tag_delete(
    token_rig: Rig, dated: Dated, fault_proxy_factory: FaultProxyFactory
) -> None:
    """#17 Safety: with --yes each planned tag goes through the OCI tag delete; only those tags disappear,
    the images stay for every other tag, -o jsonl has one line per tag; a second run deletes nothing."""
    proxy = fault_proxy_factory(token_rig.url)
    proxy.add_rule(Rule("DELETE", "/manifests/", emulate_oci_tag_delete()))
    ref = f"{proxy.netloc}/{dated.repo}"
    result = run_cli(
        ["prune", ref, "--match", "mr-*", "--older-than", "14d", "--yes", "-o", "jsonl"], ALICE_ENV
    )
    assert result.code == 0, result.err
    lines = [json.loads(line) for line in result.out.splitlines()]
    assert len(lines) == 8 and all(line["schema"] == 1 and line["command"] == "prune" for line in lines)
    outcomes = {line["tag"]: line.get("outcome") for line in lines}
    assert outcomes["mr-old"] == outcomes["mr-mid"] == outcomes["mr-index-annotated"] == "deleted"
    assert proxy.deleted_tags == {dated.repo: frozenset({"mr-old", "mr-mid", "mr-index-annotated"})}
    # never a delete by digest: the images themselves are untouched
    assert not [
        r
        for r in proxy.requests
        if r.method == "DELETE" and "/manifests/sha256:" in r.path and r.status == 202
    ]
    again = run_cli(["prune", ref, "--match", "mr-*", "--older-than", "14d", "--yes"], ALICE_ENV)
    assert again.code == 0, again.err
    assert "nothing to delete" in again.out


def test_pc_prune_keep_files(
    token_rig: Rig, dated: Dated, fault_proxy_factory: FaultProxyFactory, tmp_path: Path
) -> None:
    """#17 --keep-files: a tag a compose file deploys, and every tag on an image a Kubernetes manifest pins by
    digest, are kept; references to other repositories change nothing; an unexpandable one stops prune."""
    proxy = fault_proxy_factory(token_rig.url)
    proxy.add_rule(Rule("DELETE", "/manifests/", emulate_oci_tag_delete()))
    repo_ref = f"{proxy.netloc}/{dated.repo}"
    (tmp_path / "docker-compose.yml").write_text(
        f"services:\n  web:\n    image: {repo_ref}:mr-old\n  other:\n    image: {proxy.netloc}/group/project/x:mr-mid\n"
    )
    k8s = tmp_path / "k8s"
    k8s.mkdir()
    (k8s / "deploy.yaml").write_text(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: app}\nspec:\n  template:\n    spec:\n"
        f"      containers:\n        - name: app\n          image: {repo_ref}@{dated.digests['mr-index-annotated']}\n"
    )
    argv = [
        repo_ref,
        "--match",
        "mr-*",
        "--older-than",
        "14d",
        "--keep-files",
        str(k8s),
        str(tmp_path / "docker-compose.yml"),
    ]
    code, doc, err = prune_json([*argv, "--yes"])
    assert code == 0, err
    tags = by_tag(doc)
    assert tags["mr-old"]["action"] == "keep" and "--keep-files" in str(tags["mr-old"]["reason"])
    assert tags["mr-index-annotated"]["action"] == "keep"
    assert tags["mr-mid"]["action"] == "delete" and tags["mr-mid"]["outcome"] == "deleted"
    assert proxy.deleted_tags == {dated.repo: frozenset({"mr-mid"})}

    (tmp_path / "docker-compose.yml").write_text(
        f"services:\n  web:\n    image: {repo_ref}:${{DEPLOY_TAG}}\n"
    )
    refused = run_cli(["prune", *argv, "--yes"], ALICE_ENV)
    assert refused.code == 2, refused.both
    assert "DEPLOY_TAG" in refused.err and "nothing was planned" in refused.err
    assert proxy.deleted_tags == {dated.repo: frozenset({"mr-mid"})}


def test_pc_prune_keep_last_with_ties(token_rig: Rig, fault_proxy_factory: FaultProxyFactory) -> None:
    """#17 --keep-last with ties: three tags on one image (one time) and two on a newer one; --keep-last 3
    keeps the newer image's two and, of the tie, the greatest name — exactly 3, the same on every run."""
    repo = fresh_repo("prune-ties")
    with token_rig.pusher() as pusher:
        old, _ = push_dated(pusher, repo, "build-a1", ago(10), f"{repo}-a")
        for tag in ("build-a2", "build-a3"):
            push_dated(pusher, repo, tag, ago(10), f"{repo}-a")
        push_dated(pusher, repo, "build-b1", ago(5), f"{repo}-b")
        push_dated(pusher, repo, "build-b2", ago(5), f"{repo}-b")
    proxy = fault_proxy_factory(token_rig.url)
    proxy.add_rule(Rule("DELETE", "/manifests/", emulate_oci_tag_delete()))
    argv = [f"{proxy.netloc}/{repo}", "--match", "build-*", "--keep-last", "3"]
    plans = [{t: e["action"] for t, e in by_tag(prune_json(argv)[1]).items()} for _ in range(2)]
    assert plans[0] == plans[1]
    assert plans[0] == {
        "build-a1": "delete",
        "build-a2": "delete",
        "build-a3": "keep",
        "build-b1": "keep",
        "build-b2": "keep",
    }
    code, _, err = prune_json([*argv, "--yes"])
    assert code == 0, err
    assert proxy.deleted_tags == {repo: frozenset({"build-a1", "build-a2"})}
    assert (
        tag_digest(token_rig, repo, "build-a3", via=proxy) == old
    )  # the shared image stays for its last tag


def test_pc_prune_registry_without_tag_delete_refuses_then_untag(token_rig: Rig) -> None:
    """#17 Safety: distribution 2.8 has no OCI tag delete — --yes is refused on the first tag (exit 6, with the
    --untag hint), the others are not even tried, nothing is deleted; with --untag the planned tags go and a
    kept tag on the same image still resolves to it."""
    repo = fresh_repo("prune-untag")
    with token_rig.pusher() as pusher:
        shared, _ = push_dated(pusher, repo, "mr-1", ago(30), f"{repo}-s")
        push_dated(pusher, repo, "release", ago(30), f"{repo}-s")
        push_dated(pusher, repo, "mr-2", ago(30), f"{repo}-2")
    ref = f"{token_rig.host}/{repo}"
    code, doc, err = prune_json([ref, "--match", "mr-*", "--yes"])
    assert code == 6, err
    assert "add --untag" in err and "nothing was deleted" in err
    assert "--manifest" not in err  # prune never deletes by digest: delete's third way is not offered
    assert err.count("ocireg: error:") == 1  # one explanation, not one per tag
    outcomes = sorted(str(e.get("outcome")) for e in doc["tags"] if e["action"] == "delete")  # type: ignore[union-attr]
    assert outcomes == ["failed", "skipped"]
    assert doc["exit_code"] == 6
    for tag in ("mr-1", "mr-2", "release"):
        assert tag_digest(token_rig, repo, tag) is not None

    code, doc, err = prune_json([ref, "--match", "mr-*", "--yes", "--untag"])
    assert code == 0, err
    assert {t: e.get("outcome") for t, e in by_tag(doc).items()} == {
        "mr-1": "deleted",
        "mr-2": "deleted",
        "release": None,
    }
    assert tag_digest(token_rig, repo, "mr-1") is None
    assert tag_digest(token_rig, repo, "mr-2") is None
    assert tag_digest(token_rig, repo, "release") == shared


def test_pc_prune_max_delete_refuses_everything(token_rig: Rig) -> None:
    """#17 Safety: --max-delete N refuses (exit 2, nothing deleted) a plan with more than N deletes; without
    --yes the plan is still printed with exit 0 and a warning."""
    repo = fresh_repo("prune-max")
    with token_rig.pusher() as pusher:
        for i in range(4):
            push_dated(pusher, repo, f"mr-{i}", ago(30), f"{repo}-{i}")
    ref = f"{token_rig.host}/{repo}"
    plan = run_cli(["prune", ref, "--match", "mr-*", "--max-delete", "3"], ALICE_ENV)
    assert plan.code == 0 and "would be refused" in plan.err
    refused = run_cli(["prune", ref, "--match", "mr-*", "--max-delete", "3", "--yes", "--untag"], ALICE_ENV)
    assert refused.code == 2, refused.both
    assert "more than --max-delete 3" in refused.err
    for i in range(4):
        assert tag_digest(token_rig, repo, f"mr-{i}") is not None


def test_pc_prune_job_token_in_gitlab_ci(gitlab_rig: GitLabRig) -> None:
    """#17 GitLab CI: `ocireg prune :` means $CI_REGISTRY_IMAGE and authenticates with the job token. The plan
    needs only pull (the /gitlab/v1 listing included); GitLab lets a job token delete in its own project, so
    --yes deletes the planned tag with the OCI tag delete and nothing else."""
    repo = fresh_repo("prune-ci")
    with gitlab_rig.pusher() as pusher:
        kept, _ = push_dated(pusher, repo, "mr-1", ago(30), f"{repo}-1")
        push_dated(pusher, repo, "keep-me", ago(30), f"{repo}-1")
        push_dated(pusher, repo, "mr-2", ago(30), f"{repo}-2")
    old = NOW - timedelta(days=30)
    for tag in ("mr-1", "keep-me", "mr-2"):
        gitlab_rig.gitlab.set_tag_times(repo, tag, old)
    env = {
        "OCIREG_TOKEN_CACHE": "0",
        "GITLAB_CI": "true",
        "CI_REGISTRY": gitlab_rig.host,
        "CI_REGISTRY_IMAGE": f"{gitlab_rig.host}/{repo}",
        "CI_JOB_TOKEN": JOB_TOKEN,
    }
    code, doc, err = prune_json([":", "--match", "mr-*", "--older-than", "7d"], env)
    assert code == 0, err
    assert doc["repository"] == f"{gitlab_rig.host}/{repo}"
    assert doc["age_source"] == "published"
    assert {t: e["action"] for t, e in by_tag(doc).items()} == {
        "mr-1": "delete",
        "mr-2": "delete",
        "keep-me": "keep",
    }
    gitlab_rig.gitlab.clear_requests()
    code, doc, err = prune_json([":", "--match", "mr-*", "--older-than", "7d", "--yes"], env)
    assert code == 0, err
    assert {t: e.get("outcome") for t, e in by_tag(doc).items()} == {
        "mr-1": "deleted",
        "mr-2": "deleted",
        "keep-me": None,
    }
    assert tag_digest(gitlab_rig, repo, "mr-1") is None
    assert tag_digest(gitlab_rig, repo, "mr-2") is None
    assert tag_digest(gitlab_rig, repo, "keep-me") == kept  # the image stays for its other tag
    # tag deletes only (the OCI tag delete), never a delete by digest
    assert gitlab_rig.gitlab.count("DELETE", r"/manifests/(mr-1|mr-2)$") == 2
    assert gitlab_rig.gitlab.count("DELETE", r"/manifests/sha256:") == 0


@pytest.fixture
def published(gitlab_rig: GitLabRig) -> Dated:
    """On the GitLab rig, publication dates that contradict the images' build dates: mr-old was built 2 days
    ago but pushed 30 days ago, mr-new built 60 days ago and pushed 1 day ago; an index pushed 40 days ago;
    mr-moved pushed 50 days ago, moved to another image 3 days ago (published_at = updated_at); latest 90d."""
    repo = fresh_repo("prune-published")
    digests: dict[str, str] = {}
    with gitlab_rig.pusher() as pusher:
        digests["mr-old"] = push_dated(pusher, repo, "mr-old", ago(2), f"{repo}-old")[0]
        digests["mr-new"] = push_dated(pusher, repo, "mr-new", ago(60), f"{repo}-new")[0]
        digests["mr-index"] = push_dated_index(pusher, repo, "mr-index", [ago(5), ago(5)], f"{repo}-ix")
        digests["mr-moved"] = push_dated(pusher, repo, "mr-moved", ago(70), f"{repo}-moved")[0]
        digests["latest"] = push_dated(pusher, repo, "latest", ago(1), f"{repo}-latest")[0]
    front = gitlab_rig.gitlab
    front.set_tag_times(repo, "mr-old", NOW - timedelta(days=30))
    front.set_tag_times(repo, "mr-new", NOW - timedelta(days=1))
    front.set_tag_times(repo, "mr-index", NOW - timedelta(days=40))
    front.set_tag_times(repo, "mr-moved", NOW - timedelta(days=50), NOW - timedelta(days=3))
    front.set_tag_times(repo, "latest", NOW - timedelta(days=90))
    return Dated(repo, digests)


def test_pc_prune_ages_from_gitlab_published_at_without_reading_images(
    gitlab_rig: GitLabRig, published: Dated
) -> None:
    """#17 Age / #12: on GitLab's registry the age is the tag's `published_at` from /gitlab/v1 (one request
    per 1,000 tags, with the digests), not the image's build time: the plan costs the tags page and nothing
    else — not one HEAD per tag, not one manifest or config read per image."""
    gitlab_rig.gitlab.clear_requests()
    code, doc, err = prune_json(
        [f"{gitlab_rig.host}/{published.repo}", "--match", "mr-*", "--older-than", "14d"]
    )
    assert code == 0, err
    assert doc["age_source"] == "published"
    expected = {
        "mr-old": ("delete", 30),  # built 2 days ago, pushed 30 days ago
        "mr-new": ("keep", 1),  # built 60 days ago, pushed yesterday
        "mr-index": ("delete", 40),
        "mr-moved": ("keep", 3),  # moved to another image 3 days ago: published_at is the move
        "latest": ("keep", 90),
    }
    tags = by_tag(doc)
    for tag, (action, days) in expected.items():
        entry = tags[tag]
        assert (entry["action"], entry["digest"]) == (action, published.digests[tag]), (tag, entry)
        assert isinstance(entry["age"], int) and abs(entry["age"] - days * 86400) < 3600, (tag, entry)
    front = gitlab_rig.gitlab
    assert front.count("HEAD") == 0
    assert front.count("GET", r"^/v2/.+/(manifests|blobs)/") == 0
    listed = [r for r in front.requests if r.path.startswith("/gitlab/v1/") and r.status == 200]
    assert len(listed) == 1
    assert all(r.method == "GET" for r in front.requests)


def test_pc_prune_keep_last_by_published_or_created_on_gitlab(
    gitlab_rig: GitLabRig, published: Dated
) -> None:
    """#17 --by: on GitLab --keep-last orders by publication by default (and with --by published); --by
    created orders by the images' build times, read once per distinct image (configs only then); --by name
    and semver need no times at all. --yes deletes through GitLab's OCI tag delete."""
    ref = f"{gitlab_rig.host}/{published.repo}"
    front = gitlab_rig.gitlab

    def plan(*extra: str) -> dict[str, str]:
        code, doc, err = prune_json([ref, "--match", "mr-*", "--keep-last", "2", *extra])
        assert code == 0, err
        return {t: e["action"] for t, e in by_tag(doc).items() if t.startswith("mr-")}

    front.clear_requests()
    newest_pushed = {"mr-new": "keep", "mr-moved": "keep", "mr-old": "delete", "mr-index": "delete"}
    assert plan() == newest_pushed
    assert plan("--by", "published") == newest_pushed
    assert front.count("GET", r"^/v2/.+/(manifests|blobs)/") == 0
    assert plan("--by", "created") == {  # built: mr-old 2d, mr-index 5d, mr-new 60d, mr-moved 70d
        "mr-old": "keep",
        "mr-index": "keep",
        "mr-new": "delete",
        "mr-moved": "delete",
    }
    # one config per distinct image: mr-old, mr-new, mr-moved, latest and the index's two children
    assert front.count("GET", r"^/v2/.+/blobs/") == 6
    assert front.count("HEAD") == 0

    code, _, err = prune_json([ref, "--match", "mr-*", "--keep-last", "2", "--yes"])
    assert code == 0, err
    assert tag_digest(gitlab_rig, published.repo, "mr-old") is None
    assert tag_digest(gitlab_rig, published.repo, "mr-index") is None
    assert tag_digest(gitlab_rig, published.repo, "mr-new") == published.digests["mr-new"]


def test_pc_prune_by_published_refused_where_no_publication_dates(
    token_rig: Rig, gitlab_rig: GitLabRig
) -> None:
    """#17 --by published: distribution 2.8 (and GitLab's registry without its metadata database) record no
    publication dates — refused before any delete (exit 6, the alternative named), never another order."""
    repo = fresh_repo("prune-nopub")
    for rig in (token_rig, gitlab_rig):
        with rig.pusher() as pusher:
            push_dated(pusher, repo, "mr-1", ago(30), f"{repo}-1")
            push_dated(pusher, repo, "mr-2", ago(20), f"{repo}-2")
    gitlab_rig.gitlab.configure(database=False)
    for rig in (token_rig, gitlab_rig):
        result = run_cli(
            ["prune", f"{rig.host}/{repo}", "--keep-last", "1", "--by", "published", "--yes", "--untag"],
            ALICE_ENV,
        )
        assert result.code == 6, result.both
        assert "publication" in result.err and "--by created" in result.err
        assert "Traceback" not in result.err
        assert tag_digest(rig, repo, "mr-1") is not None and tag_digest(rig, repo, "mr-2") is not None
    # without the database the age falls back to the images' build times
    code, doc, err = prune_json([f"{gitlab_rig.host}/{repo}", "--older-than", "25d"])
    assert code == 0, err
    assert doc["age_source"] == "created"
    assert {t: e["action"] for t, e in by_tag(doc).items()} == {"mr-1": "delete", "mr-2": "keep"}


def test_ld_prune_gitlab_1200_tags_pages_and_deletes_only(gitlab_rig: GitLabRig) -> None:
    """#17 LD / #12: 1,200 tags on GitLab's registry — the plan is two /gitlab/v1 pages (1,000 tags each) and
    nothing per tag or per image; --yes adds exactly one DELETE per planned tag (requests ≤ pages + deletes,
    plus the token challenges)."""
    repo = fresh_repo("prune-glmany")
    seeded = seed_many_tags(gitlab_rig, repo, 1200)
    old = NOW - timedelta(days=30)
    doomed = sorted(seeded.tags)[:15]
    for tag in doomed:
        gitlab_rig.gitlab.set_tag_times(repo, tag, old)
    front = gitlab_rig.gitlab
    front.clear_requests()
    ref = f"{gitlab_rig.host}/{repo}"
    code, doc, err = prune_json([ref, "--older-than", "14d"])
    assert code == 0, err
    assert doc["summary"] == {"tags": 1200, "delete": 15, "keep": 1185}
    work = [r for r in front.requests if r.status != 401]
    assert [r.path for r in work] == [f"/gitlab/v1/repositories/{repo}/tags/list/"] * 2
    front.clear_requests()
    code, doc, err = prune_json([ref, "--older-than", "14d", "--yes"])
    assert code == 0, err
    assert doc["summary"]["deleted"] == 15
    work = [r for r in front.requests if r.status != 401 and r.path != "/v2/"]
    assert sum(1 for r in work if r.path.startswith("/gitlab/v1/")) == 2
    deletes = [r for r in work if r.method == "DELETE"]
    assert sorted(r.path.rsplit("/", 1)[1] for r in deletes) == doomed
    assert len(work) <= 2 + 2 * len(doomed), [(r.method, r.path) for r in work]


def test_ft_prune_ctrl_c_reports_what_was_done_and_leaves_no_tag_half_deleted(
    token_rig: Rig, fault_proxy_factory: FaultProxyFactory
) -> None:
    """#17 FT: SIGINT in the middle of `prune --untag --yes` (each delete is a placeholder PUT, then a DELETE
    by digest, slowed down here): the tag being deleted is finished, the rest are not touched, the output says
    what was done, exit 130 — and every tag either still points to its image or is gone, never to a
    placeholder."""
    repo = fresh_repo("prune-sigint")
    digests: dict[str, str] = {}
    with token_rig.pusher() as pusher:
        for i in range(8):
            digests[f"mr-{i}"] = push_dated(pusher, repo, f"mr-{i}", ago(30), f"{repo}-{i}")[0]
    proxy = fault_proxy_factory(token_rig.url)
    proxy.add_rule(Rule("POST", "/blobs/uploads/", location_via_proxy()))
    proxy.add_rule(Rule("DELETE", r"/manifests/sha256:(?!0{64})", delay(0.6)))
    argv = ocireg_argv("prune", f"{proxy.netloc}/{repo}", "--match", "mr-*", "--untag", "--yes", "-o", "json")
    proc = subprocess.Popen(
        with_default_sigint(argv),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=subprocess_env({**ALICE_ENV}),
    )
    try:

        def placeholder_puts() -> int:
            return sum(1 for r in proxy.requests if r.method == "PUT" and "/manifests/" in r.path)

        if not wait_until(lambda: placeholder_puts() >= 2 or proc.poll() is not None, timeout=60):
            raise AssertionError("never started deleting")
        assert proc.poll() is None, proc.communicate()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=10)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    doc = json.loads(out)
    outcomes = {t: e.get("outcome") for t, e in by_tag(doc).items()}
    done = sorted(t for t, o in outcomes.items() if o == "deleted")
    skipped = sorted(t for t, o in outcomes.items() if o == "skipped")
    assert done and skipped and len(done) + len(skipped) == 8, outcomes
    assert f"interrupted: {len(done)} of 8 tag(s) deleted" in err
    for tag, digest in digests.items():
        now = tag_digest(token_rig, repo, tag)
        assert now == (None if tag in done else digest), (tag, now)


MANY = 2000
IMAGES = 4


@pytest.fixture(scope="module")
def many_dated(token_rig: Rig) -> str:
    """2,000 tags over 4 images of different ages (500 each): 40d, 30d, 20d, 1d."""
    from concurrent.futures import ThreadPoolExecutor

    repo = fresh_repo("prune-many")
    with token_rig.pusher() as pusher:
        images = []
        for i, days in enumerate((40, 30, 20, 1)):
            digest, _ = push_dated(pusher, repo, None, ago(days), f"{repo}-{i}")
            images.append(token_rig.get_manifest(repo, digest).content)
        work = [(f"t{n:04d}", images[n % IMAGES]) for n in range(MANY)]
        with ThreadPoolExecutor(max_workers=16) as pool:
            list(pool.map(lambda item: pusher.put_manifest(repo, item[0], item[1], OCI_MANIFEST), work))
    return repo


def test_ld_prune_2000_tags_within_request_and_memory_budget(
    token_rig: Rig, many_dated: str, fault_proxy_factory: FaultProxyFactory
) -> None:
    """#17 LD: 2,000 tags on 4 images — the plan costs one tag-list page, one HEAD per tag (the /v2/ API has no
    other way to a tag's digest) and two GETs (manifest, config) per distinct image, never one per tag; peak
    RSS stays under 150 MB. Then --yes with --keep-last deletes 20 tags at two requests each (resolve, delete)."""
    proxy = fault_proxy_factory(token_rig.url)
    proxy.add_rule(Rule("DELETE", "/manifests/", emulate_oci_tag_delete()))
    ref = f"{proxy.netloc}/{many_dated}"
    proc = subprocess.run(
        measured_argv("prune", ref, "--older-than", "14d", "-o", "json", "--max-delete", "2000"),
        capture_output=True,
        text=True,
        env=subprocess_env(ALICE_ENV),
        timeout=300,
        check=False,
    )
    err, peak_mb = split_peak_rss(proc.stderr)
    assert proc.returncode == 0, err
    doc = json.loads(proc.stdout)
    assert doc["summary"] == {"tags": MANY, "delete": 1500, "keep": 500}
    # the first request of a run meets the token challenge (401, then again with the token): not work done
    challenged = [r for r in proxy.requests if r.status == 401]
    assert len(challenged) <= 1
    registry = [
        r for r in proxy.requests if r.path.startswith("/v2/") and r.path != "/v2/" and r.status != 401
    ]
    pages = [r for r in registry if r.path.endswith("/tags/list")]
    heads = [r for r in registry if r.method == "HEAD"]
    gets = [r for r in registry if r.method == "GET" and not r.path.endswith("/tags/list")]
    assert len(pages) == 1
    assert len(heads) == MANY
    assert len(gets) == 2 * IMAGES, [r.path for r in gets]
    assert len(registry) <= MANY + len(pages) + 2 * IMAGES
    assert peak_mb < 150, peak_mb

    before = len(proxy.requests)
    result = run_cli(
        ["prune", ref, "--match", "t00*", "--keep-last", "80", "--by", "name", "--yes"], ALICE_ENV
    )
    assert result.code == 0, result.err
    assert len(proxy.deleted_tags[many_dated]) == 20
    delete_phase = [r for r in proxy.requests[before:] if r.method == "DELETE" and r.path != "/v2/"]
    assert len(delete_phase) == 20


def test_ld_prune_on_v2_resolves_only_the_selected_tags(
    token_rig: Rig, many_dated: str, fault_proxy_factory: FaultProxyFactory
) -> None:
    """#23 LD: ``--match t000*`` over 2,000 tags on /v2/: one HEAD per tag the plan looks at (t0000-t0009 but
    t0001, kept by --keep), not one per listed tag."""
    proxy = fault_proxy_factory(token_rig.url)
    ref = f"{proxy.netloc}/{many_dated}"
    result = run_cli(["prune", ref, "--match", "t000*", "--keep", "t0001", "-o", "json"], ALICE_ENV)
    assert result.code == 0, result.err
    doc = json.loads(result.out)
    assert doc["summary"] == {"tags": MANY, "delete": 9, "keep": MANY - 9}
    heads = [r.path for r in proxy.requests if r.method == "HEAD" and r.status != 401]
    assert sorted(heads) == sorted(f"/v2/{many_dated}/manifests/t000{n}" for n in range(10) if n != 1)


def test_pc_prune_progress_on_a_terminal_only(token_rig: Rig, tmp_path: Path) -> None:
    """#17 Output: a progress display on a terminal (stderr a pty) while deleting; stdout stays plain text."""
    from integration.test_progress import ANSI, run_with_pty_stderr

    repo = fresh_repo("prune-tty")
    with token_rig.pusher() as pusher:
        for i in range(6):
            push_dated(pusher, repo, f"mr-{i}", ago(30), f"{repo}-{i}")
    env = {k: v for k, v in subprocess_env(ALICE_ENV).items() if k not in ("NO_COLOR", "OCIREG_PROGRESS")}
    env.update({"TERM": "xterm-256color", "COLUMNS": "100"})
    argv = ["prune", f"{token_rig.host}/{repo}", "--match", "mr-*", "--untag", "--yes"]
    code, stdout, terminal = run_with_pty_stderr(argv, env, tmp_path)
    assert code == 0, terminal
    assert "deleting" in terminal and ANSI.search(terminal)
    assert not ANSI.search(stdout)
    assert stdout.splitlines()[-1] == f"pruned {token_rig.host}/{repo}: 6 deleted; kept 0"


SYNTHETIC_TAGS = 100_000
SYNTHETIC_PEAK_MB = 100


@pytest.mark.parametrize("output", ["json", "text"])
def test_ld_prune_gitlab_100k_tags_streams_the_listing_in_bounded_memory(
    gitlab_rig: GitLabRig, output: str
) -> None:
    """#23 LD: 100,000 tags over /gitlab/v1 (the front's synthetic listing, 100 pages): the listing is read page
    by page and only what the plan needs is kept — peak RSS under 100 MB (whole tag details cost ~2.3 KB each,
    231 MB). A size bound, no timing."""
    repo = fresh_repo("prune-100k")
    with gitlab_rig.pusher() as pusher:
        image = pusher.push_image(repo, "seed", label=f"{repo}-seed")
    gitlab_rig.gitlab.synthesize_tags(repo, SYNTHETIC_TAGS, image.digest, datetime.now(timezone.utc))
    days = 35  # one tag a minute back from now: the oldest ~69 days
    args = ["prune", f"{gitlab_rig.host}/{repo}", "--older-than", f"{days}d", "--max-delete", "100000"]
    proc = subprocess.run(
        measured_argv(*args, *(["-o", "json"] if output == "json" else [])),
        capture_output=True,
        text=True,
        env=subprocess_env(ALICE_ENV),
        timeout=600,
        check=False,
    )
    err, peak_mb = split_peak_rss(proc.stderr)
    assert proc.returncode == 0, err
    expected = SYNTHETIC_TAGS - days * 24 * 60  # one tag a minute: those older than 35 days
    if output == "json":
        doc = json.loads(proc.stdout)
        assert doc["summary"]["tags"] == SYNTHETIC_TAGS
        planned = doc["summary"]["delete"]
        assert len(doc["tags"]) == SYNTHETIC_TAGS
    else:
        found = re.search(r"delete (\d+), keep (\d+)", proc.stdout.splitlines()[-1])
        assert found is not None, proc.stdout[-500:]
        planned = int(found.group(1))
        assert planned + int(found.group(2)) == SYNTHETIC_TAGS
        assert len(proc.stdout.splitlines()) == SYNTHETIC_TAGS + 1
    assert expected - 5 <= planned <= expected  # the minutes between the listing's "now" and the plan's
    print(f"prune over /gitlab/v1, {SYNTHETIC_TAGS} tags, -o {output}: peak RSS {peak_mb:.0f} MB")
    assert peak_mb < SYNTHETIC_PEAK_MB, peak_mb
