"""Issue #5 acceptance: `ocireg delete` never removes other tags silently (PC: safe tag delete, delete scope)."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass

import pytest

from clirunner import creds, run_cli
from rig import ACCEPT_ALL, Rig
from rig.faultproxy import Rule, emulate_oci_tag_delete, location_via_proxy
from rig.proxy_fixtures import FaultProxyFactory
from rig.tokenserver import ALICE, ALICE_PASSWORD, DEPLOY_TOKEN, DEPLOY_USER

ALICE_ENV = {**creds(ALICE, ALICE_PASSWORD), "OCIREG_TOKEN_CACHE": "0"}


@dataclass(frozen=True)
class Siblings:
    """``a`` and ``b`` on one digest, ``c`` on another, in a fresh repository."""

    repo: str
    digest: str
    body: bytes
    other: str


@pytest.fixture
def siblings(request: pytest.FixtureRequest) -> Siblings:
    rig: Rig = request.getfixturevalue(request.param if hasattr(request, "param") else "token_rig")
    repo = f"group/project/del-{secrets.token_hex(4)}"
    with rig.pusher() as pusher:
        image = pusher.push_image(repo, "a", label=f"del-{repo}")
        pusher.tag(image, "b")
        other = pusher.push_image(repo, "c", label=f"del-other-{repo}")
    return Siblings(repo, image.digest, image.body, other.digest)


def _status(base: Rig, repo: str, ref: str, *, netloc: str | None = None) -> tuple[int, str | None]:
    """(status, Docker-Content-Digest) of a manifest GET, directly or through a proxy at ``netloc``."""
    headers = {"Accept": ACCEPT_ALL}
    auth = base.authorization(repo, ["pull"])
    if auth:
        headers["Authorization"] = auth
    with base.raw_client(base_url=f"http://{netloc}" if netloc else base.url) as raw:
        response = raw.get(f"/v2/{repo}/manifests/{ref}", headers=headers)
    return response.status_code, response.headers.get("docker-content-digest")


def test_delete_without_options_on_28_refuses_and_deletes_nothing(token_rig: Rig, siblings: Siblings) -> None:
    """PC: safe tag delete — distribution 2.8 refuses the tag delete (400); exit 6, both tags survive."""
    result = run_cli(["delete", token_rig.ref(siblings.repo, "a")], ALICE_ENV)
    assert result.code == 6, result.both
    assert "--untag" in result.err
    assert "--manifest" in result.err
    assert "nothing was deleted" in result.err
    for tag in ("a", "b"):
        assert _status(token_rig, siblings.repo, tag) == (200, siblings.digest)


def test_untag_removes_only_that_tag_on_28(token_rig: Rig, siblings: Siblings) -> None:
    """PC: safe tag delete — --untag on 2.8: 'a' goes, sibling 'b' still resolves to the same digest."""
    result = run_cli(["delete", "--untag", "-o", "json", token_rig.ref(siblings.repo, "a")], ALICE_ENV)
    assert result.code == 0, result.err
    doc = json.loads(result.out)
    assert doc["status"] == "deleted"
    assert doc["mode"] == "untag"
    assert doc["digest"] == siblings.digest
    assert doc["removed_tags"] == ["a"]
    placeholder = doc["deleted_manifest"]
    assert placeholder not in (None, siblings.digest)
    assert _status(token_rig, siblings.repo, "a")[0] == 404
    assert _status(token_rig, siblings.repo, "b") == (200, siblings.digest)
    assert _status(token_rig, siblings.repo, siblings.digest) == (200, siblings.digest)
    assert _status(token_rig, siblings.repo, placeholder)[0] == 404  # the throw-away manifest is gone too
    assert _status(token_rig, siblings.repo, "c") == (200, siblings.other)


def test_delete_scope_is_asked_for_once(
    token_rig: Rig, siblings: Siblings, fault_proxy_factory: FaultProxyFactory
) -> None:
    """PC: delete scope asked for once — one token request carrying 'delete'.

    The realm is known from the earlier requests of the same run, so the delete token is fetched before the
    first DELETE and no DELETE collects a 401.
    """
    assert token_rig.token_server is not None
    proxy = fault_proxy_factory(token_rig.url)
    proxy.add_rule(Rule("POST", "/blobs/uploads/", location_via_proxy()))
    token_rig.token_server.clear_requests()
    result = run_cli(["delete", "--untag", f"{proxy.netloc}/{siblings.repo}:a"], ALICE_ENV)
    assert result.code == 0, result.both
    delete_tokens = [r for r in token_rig.token_server.requests if any("delete" in s for s in r.scopes)]
    assert len(delete_tokens) == 1
    assert delete_tokens[0].granted == (f"repository:{siblings.repo}:pull,delete",)
    assert [r.status for r in proxy.requests if r.method == "DELETE"] == [404, 202]  # probe, then delete


def test_oci_tag_delete_where_the_registry_supports_it(
    token_rig: Rig, siblings: Siblings, fault_proxy_factory: FaultProxyFactory
) -> None:
    """PC: safe tag delete on a registry with the OCI tag delete (emulated by the proxy): only 'a' goes."""
    proxy = fault_proxy_factory(token_rig.url)
    proxy.add_rule(Rule("DELETE", "/manifests/", emulate_oci_tag_delete()))
    result = run_cli(["delete", f"{proxy.netloc}/{siblings.repo}:a"], ALICE_ENV)
    assert result.code == 0, result.both
    assert proxy.deleted_tags == {siblings.repo: frozenset({"a"})}
    assert _status(token_rig, siblings.repo, "a", netloc=proxy.netloc)[0] == 404
    assert _status(token_rig, siblings.repo, "b", netloc=proxy.netloc) == (200, siblings.digest)
    assert run_cli(["exists", f"{proxy.netloc}/{siblings.repo}:a"], ALICE_ENV).code == 1
    assert run_cli(["exists", f"{proxy.netloc}/{siblings.repo}:b"], ALICE_ENV).code == 0
    again = run_cli(["delete", "--ignore-missing", f"{proxy.netloc}/{siblings.repo}:a"], ALICE_ENV)
    assert again.code == 0, again.both
    assert again.out.startswith("absent")


def test_manifest_delete_lists_siblings_and_needs_yes(token_rig: Rig, siblings: Siblings) -> None:
    """PC: --manifest names every tag that would disappear; without --yes exit 2 and nothing is deleted."""
    ref = token_rig.ref(siblings.repo, "a")
    refused = run_cli(["delete", "--manifest", ref], ALICE_ENV)
    assert refused.code == 2, refused.both
    assert "b" in refused.err.split("tag(s):", 1)[1]
    assert "--yes" in refused.err
    dry = run_cli(["delete", "--manifest", "--yes", "--dry-run", "-o", "json", ref], ALICE_ENV)
    assert dry.code == 0, dry.both
    assert json.loads(dry.out)["removed_tags"] == ["a", "b"]
    assert json.loads(dry.out)["status"] == "would-delete"
    for tag in ("a", "b"):
        assert _status(token_rig, siblings.repo, tag) == (200, siblings.digest)
    done = run_cli(["delete", "--manifest", "--yes", ref], ALICE_ENV)
    assert done.code == 0, done.both
    assert "a, b" in done.out
    for tag in ("a", "b"):
        assert _status(token_rig, siblings.repo, tag)[0] == 404
    assert _status(token_rig, siblings.repo, "c") == (200, siblings.other)


def test_manifest_delete_of_a_lone_tag_needs_no_yes(token_rig: Rig, siblings: Siblings) -> None:
    """PC: --manifest on an image with a single tag deletes it without --yes."""
    result = run_cli(["delete", "--manifest", token_rig.ref(siblings.repo, "c")], ALICE_ENV)
    assert result.code == 0, result.both
    assert _status(token_rig, siblings.repo, "c")[0] == 404
    assert _status(token_rig, siblings.repo, "a") == (200, siblings.digest)


def test_ignore_missing_and_absent(token_rig: Rig, siblings: Siblings) -> None:
    """PC: a missing tag is exit 1, or exit 0 with --ignore-missing (idempotent cleanup jobs)."""
    ref = token_rig.ref(siblings.repo, "gone")
    assert run_cli(["delete", "--untag", ref], ALICE_ENV).code == 1
    quiet = run_cli(["delete", "--untag", "--ignore-missing", ref], ALICE_ENV)
    assert quiet.code == 0, quiet.both
    assert quiet.out.startswith("absent")


def test_dry_run_untag_changes_nothing(token_rig: Rig, siblings: Siblings) -> None:
    """PC: --dry-run says what would go and changes nothing."""
    result = run_cli(["delete", "--untag", "--dry-run", token_rig.ref(siblings.repo, "a")], ALICE_ENV)
    assert result.code == 0, result.both
    assert result.out.startswith("would delete")
    assert _status(token_rig, siblings.repo, "a") == (200, siblings.digest)


@pytest.mark.parametrize("siblings", ["nodelete_rig"], indirect=True)
def test_delete_disabled_registry_is_refused_without_retries(
    nodelete_rig: Rig, siblings: Siblings, fault_proxy_factory: FaultProxyFactory
) -> None:
    """PC: delete disabled (405 UNSUPPORTED) — clear message, no retries, no placeholder ever pushed."""
    proxy = fault_proxy_factory(nodelete_rig.url)
    plain = run_cli(["delete", f"{proxy.netloc}/{siblings.repo}:a"], ALICE_ENV)
    assert plain.code == 6, plain.both
    assert "deletes disabled" in plain.err
    assert proxy.count("DELETE") == 2  # the tag delete, then one probe: no retry of a 405
    proxy.reset_counters()
    untag = run_cli(["delete", "--untag", f"{proxy.netloc}/{siblings.repo}:a"], ALICE_ENV)
    assert untag.code == 6, untag.both
    assert "deletes disabled" in untag.err
    assert proxy.count("DELETE") == 1
    assert proxy.count("PUT") == 0  # the tag was never swapped
    assert _status(nodelete_rig, siblings.repo, "a") == (200, siblings.digest)


def test_digest_reference_needs_manifest_flag(token_rig: Rig, siblings: Siblings) -> None:
    """BI: REPO@DIGEST deletes every tag on it: refused (exit 2) unless --manifest."""
    result = run_cli(["delete", token_rig.ref(siblings.repo, f"@{siblings.digest}")], ALICE_ENV)
    assert result.code == 2, result.both
    assert "--manifest" in result.err
    assert _status(token_rig, siblings.repo, "a") == (200, siblings.digest)


def test_tag_pinned_to_another_digest_is_refused(token_rig: Rig, siblings: Siblings) -> None:
    """BI/SEC: digest pinning — TAG@DIGEST deletes only if the tag still points there."""
    result = run_cli(["delete", "--untag", token_rig.ref(siblings.repo, f"a@{siblings.other}")], ALICE_ENV)
    assert result.code == 2, result.both
    assert _status(token_rig, siblings.repo, "a") == (200, siblings.digest)


def test_delete_without_permission_is_denied(token_rig: Rig, siblings: Siblings) -> None:
    """PC: insufficient_scope once then fail — a pull-only deploy token cannot delete (exit 4)."""
    result = run_cli(
        ["delete", "--untag", token_rig.ref(siblings.repo, "a")], creds(DEPLOY_USER, DEPLOY_TOKEN)
    )
    assert result.code == 4, result.both
    assert _status(token_rig, siblings.repo, "a") == (200, siblings.digest)
