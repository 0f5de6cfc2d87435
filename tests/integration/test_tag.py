"""Issue #5 acceptance: `ocireg tag` retags without pulling and keeps the digest (PC: retag keeps the bytes)."""

from __future__ import annotations

import hashlib
import json
import secrets

import pytest

from clirunner import creds, run_cli
from rig import Rig, SeededManifest
from rig.tokenserver import ALICE, ALICE_PASSWORD, DEPLOY_TOKEN, DEPLOY_USER

ALICE_ENV = creds(ALICE, ALICE_PASSWORD)


def _fresh(rig: Rig, kind: str) -> SeededManifest:
    """A manifest of ``kind`` (oci, index, docker, list) pushed to a new repository under group/project."""
    repo = f"group/project/retag-{kind}-{secrets.token_hex(3)}"
    with rig.pusher() as pusher:
        label = f"retag-{kind}-{repo}"
        if kind == "oci":
            return pusher.push_image(repo, "src", label=label)
        if kind == "docker":
            return pusher.push_image(repo, "src", label=label, docker=True)
        return pusher.push_index(repo, "src", label=label, docker=kind == "list")


def _get(rig: Rig, repo: str, tag: str) -> tuple[int, bytes, str | None]:
    response = rig.get_manifest(repo, tag)
    return response.status_code, response.content, response.headers.get("content-type")


@pytest.mark.parametrize("kind", ["oci", "index", "docker", "list"])
def test_retag_keeps_digest_bytes_and_media_type(token_rig: Rig, kind: str) -> None:
    """PC: retag keeps the bytes, for each of the four manifest types (exact bytes, same Content-Type)."""
    seeded = _fresh(token_rig, kind)
    result = run_cli(["tag", token_rig.ref(seeded.repo, "src"), "v1", "stable"], ALICE_ENV)
    assert result.code == 0, result.err
    for tag in ("v1", "stable"):
        status, body, content_type = _get(token_rig, seeded.repo, tag)
        assert status == 200
        assert body == seeded.body  # byte for byte: not re-serialised
        assert "sha256:" + hashlib.sha256(body).hexdigest() == seeded.digest
        assert content_type == seeded.media_type
    lines = result.out.splitlines()
    assert [line.split()[0] for line in lines] == ["tagged", "tagged"]
    assert all(line.split()[-1] == seeded.digest for line in lines)


def test_retag_json_and_full_reference_targets(token_rig: Rig) -> None:
    """PC: a target may be a full reference in the same repository; -o json has the versioned envelope."""
    seeded = _fresh(token_rig, "oci")
    result = run_cli(
        ["tag", "-o", "json", token_rig.ref(seeded.repo, "src"), token_rig.ref(seeded.repo, "full")],
        ALICE_ENV,
    )
    assert result.code == 0, result.err
    doc = json.loads(result.out)
    assert doc["schema"] == 1
    assert doc["command"] == "tag"
    assert doc["digest"] == seeded.digest
    assert doc["media_type"] == seeded.media_type
    assert [t["tag"] for t in doc["tags"]] == ["full"]
    assert _get(token_rig, seeded.repo, "full")[1] == seeded.body


def test_no_clobber_refuses_to_move_and_changes_nothing(token_rig: Rig) -> None:
    """PC/BI: --no-clobber checks every tag first; one tag on another image → exit 2, no tag written."""
    seeded = _fresh(token_rig, "oci")
    with token_rig.pusher() as pusher:
        other = pusher.push_image(seeded.repo, "taken", label=f"other-{seeded.repo}")
    result = run_cli(["tag", "--no-clobber", token_rig.ref(seeded.repo, "src"), "fresh", "taken"], ALICE_ENV)
    assert result.code == 2, result.both
    assert "taken" in result.err
    assert "--no-clobber" in result.err
    assert _get(token_rig, seeded.repo, "taken")[1] == other.body  # not moved
    assert _get(token_rig, seeded.repo, "fresh")[0] == 404  # nothing written at all
    # Without --no-clobber the tag moves.
    moved = run_cli(["tag", token_rig.ref(seeded.repo, "src"), "taken"], ALICE_ENV)
    assert moved.code == 0, moved.err
    assert _get(token_rig, seeded.repo, "taken")[1] == seeded.body


def test_no_clobber_accepts_a_tag_already_on_the_digest(token_rig: Rig) -> None:
    """PC: --no-clobber onto a tag that already points to the same image is a no-op success."""
    seeded = _fresh(token_rig, "index")
    with token_rig.pusher() as pusher:
        pusher.tag(seeded, "same")
    result = run_cli(["tag", "--no-clobber", token_rig.ref(seeded.repo, "src"), "same", "new"], ALICE_ENV)
    assert result.code == 0, result.err
    statuses = dict(line.split()[:2][::-1] for line in result.out.splitlines())
    assert statuses == {
        token_rig.ref(seeded.repo, "same"): "unchanged",
        token_rig.ref(seeded.repo, "new"): "tagged",
    }


def test_tag_into_another_repository_is_a_usage_error(token_rig: Rig) -> None:
    """BI: a target in another repository is refused before any request (exit 2), pointing to copy."""
    result = run_cli(
        ["tag", token_rig.ref("group/project", "oci"), token_rig.ref("group/other", "x")], ALICE_ENV
    )
    assert result.code == 2
    assert "ocireg copy" in result.err


@pytest.mark.parametrize("bad", ["-x", "UPPER:", "a" * 129, "bad tag"])
def test_invalid_new_tag_is_a_usage_error(token_rig: Rig, bad: str) -> None:
    """BI: invalid tags are refused with exit 2 and nothing is sent."""
    result = run_cli(["tag", token_rig.ref("group/project", "oci"), "--", bad], ALICE_ENV)
    assert result.code == 2, result.both


def test_retag_with_a_pull_only_token_is_denied(token_rig: Rig) -> None:
    """PC: insufficient_scope once then fail: a deploy token (read_registry) cannot push → exit 4."""
    seeded = token_rig.seeded.oci
    result = run_cli(
        ["tag", token_rig.ref(seeded.repo, "oci"), f"denied-{secrets.token_hex(3)}"],
        creds(DEPLOY_USER, DEPLOY_TOKEN),
    )
    assert result.code == 4, result.both


def test_retag_costs_one_token_request(token_rig: Rig) -> None:
    """PC/LD: a retag asks for pull,push once: GET, HEAD checks and PUTs share one token (no second exchange)."""
    assert token_rig.token_server is not None
    seeded = _fresh(token_rig, "oci")
    before = len(token_rig.token_server.requests)
    result = run_cli(
        ["tag", "--no-clobber", "--no-token-cache", token_rig.ref(seeded.repo, "src"), "one", "two"],
        ALICE_ENV,
    )
    assert result.code == 0, result.err
    fetched = token_rig.token_server.requests[before:]
    assert len(fetched) == 1, [r.scopes for r in fetched]
    assert _get(token_rig, seeded.repo, "two")[1] == seeded.body


def test_moving_a_tag_says_which_image_it_named_before(token_rig: Rig) -> None:
    """#23: ``tag`` onto an existing tag moves it, and says from where: text "(was DIGEST)", -o json
    ``previous``; a new tag has no previous image, a tag already there is left ``unchanged``."""
    seeded = _fresh(token_rig, "oci")
    with token_rig.pusher() as pusher:
        other = pusher.push_image(seeded.repo, "moving", label=f"other-{seeded.repo}")
    text = run_cli(["tag", token_rig.ref(seeded.repo, "src"), "moving", "fresh"], ALICE_ENV)
    assert text.code == 0, text.err
    moved, fresh = text.out.splitlines()
    assert moved.split()[0] == "tagged" and f"(was {other.digest})" in moved
    assert "was" not in fresh and fresh.split()[-1] == seeded.digest
    with token_rig.pusher() as pusher:
        pusher.tag(other, "moving")
    result = run_cli(["tag", "-o", "json", token_rig.ref(seeded.repo, "src"), "moving", "fresh"], ALICE_ENV)
    assert result.code == 0, result.err
    tags = {t["tag"]: t for t in json.loads(result.out)["tags"]}
    assert tags["moving"]["previous"] == other.digest and tags["moving"]["status"] == "tagged"
    assert tags["fresh"]["previous"] == seeded.digest and tags["fresh"]["status"] == "unchanged"
    assert _get(token_rig, seeded.repo, "moving")[1] == seeded.body
