"""#23: writes that survive faults — rate-limited POSTs, redirected streamed PUTs, lost upload sessions, deletes
carried out but answered 500 or not at all, foreign 404s, inconsistent sources, a cut header block, and Ctrl-C
in the middle of ``delete --untag`` (FT: safe replay of writes, 429 + Retry-After, SIGINT; SEC: no credentials
through redirects). Everything runs against the real registry behind the fault proxy (tests/rig/faultproxy.py).
"""

from __future__ import annotations

import json
import secrets
import signal
import subprocess
import time
from dataclasses import dataclass

import pytest

from integration.faultkit import ocireg_argv, subprocess_env, wait_until, with_default_sigint

from clirunner import creds, run_cli
from rig import ACCEPT_ALL, Rig, SeededManifest
from rig.faultproxy import (
    FaultProxy,
    Rule,
    after_work,
    blob_upload_unknown,
    cut_head,
    delay,
    emulate_oci_tag_delete,
    location_via_proxy,
    redirect,
    status,
)
from rig.proxy_fixtures import FaultProxyFactory
from rig.sink import Sink
from rig.tokenserver import ALICE, ALICE_PASSWORD

ALICE_ENV = {**creds(ALICE, ALICE_PASSWORD), "OCIREG_TOKEN_CACHE": "0"}
PLACEHOLDER_DELETE = r"/manifests/sha256:(?!0{64})"  # the placeholder's delete, not the zero-digest probe
MANIFEST_UNKNOWN = json.dumps({"errors": [{"code": "MANIFEST_UNKNOWN", "message": "manifest unknown"}]})


@dataclass(frozen=True)
class Siblings:
    """``a`` and ``b`` on one digest in a fresh repository."""

    repo: str
    digest: str


@pytest.fixture
def siblings(token_rig: Rig) -> Siblings:
    repo = f"group/project/wf-{secrets.token_hex(4)}"
    with token_rig.pusher() as pusher:
        image = pusher.push_image(repo, "a", label=f"wf-{repo}")
        pusher.tag(image, "b")
    return Siblings(repo, image.digest)


def _status(rig: Rig, repo: str, ref: str) -> tuple[int, str | None]:
    headers = {"Accept": ACCEPT_ALL}
    auth = rig.authorization(repo, ["pull"])
    if auth:
        headers["Authorization"] = auth
    with rig.raw_client() as raw:
        response = raw.get(f"/v2/{repo}/manifests/{ref}", headers=headers)
    return response.status_code, response.headers.get("docker-content-digest")


def _fresh(rig: Rig, kind: str = "oci") -> SeededManifest:
    repo = f"group/project/wf-src-{secrets.token_hex(3)}"
    with rig.pusher() as pusher:
        if kind == "index":
            return pusher.push_index(repo, "v1", label=f"wf-{repo}")
        return pusher.push_image(repo, "v1", label=f"wf-{repo}")


def _destination(open_rig: Rig, factory: FaultProxyFactory) -> FaultProxy:
    proxy = factory(open_rig.url)
    proxy.add_rule(Rule("POST", "/blobs/uploads/", location_via_proxy()))
    return proxy


def _copy(source: str, destination: str, *extra: str) -> tuple[int, str]:
    result = run_cli(["copy", "--jobs", "1", *extra, source, destination], ALICE_ENV)
    return result.code, result.both


# ------------------------------------------------------------------------ 429 / 503 to the upload POST


@pytest.mark.parametrize("code", [429, 503])
def test_rate_limited_upload_post_is_retried_after_the_wait(
    token_rig: Rig, open_rig: Rig, fault_proxy_factory: FaultProxyFactory, code: int
) -> None:
    """FT: 429 + Retry-After on the blob-upload POST: not processed, so sent again after the wait; copy succeeds."""
    seeded = _fresh(token_rig)
    dst = fault_proxy_factory(open_rig.url)
    limited = dst.add_rule(Rule("POST", "/blobs/uploads/", status(code, {"Retry-After": "1"}), times=1))
    dst.add_rule(Rule("POST", "/blobs/uploads/", location_via_proxy()))
    repo = f"mirror/wf-{secrets.token_hex(3)}"
    code_, output = _copy(f"{token_rig.host}/{seeded.repo}:v1", f"{dst.netloc}/{repo}:v1")
    assert code_ == 0, output
    assert limited.hits == 1
    posts = [r.status for r in dst.requests if r.method == "POST"]
    assert posts[0] == code
    assert posts.count(202) == len(seeded.blobs)
    assert _status(open_rig, repo, "v1") == (200, seeded.digest)


def test_untag_upload_post_rate_limited_is_retried(
    token_rig: Rig, siblings: Siblings, fault_proxy_factory: FaultProxyFactory
) -> None:
    """FT: ``delete --untag``'s upload of the empty config is retried after a 429 too."""
    proxy = fault_proxy_factory(token_rig.url)
    limited = proxy.add_rule(Rule("POST", "/blobs/uploads/", status(429, {"Retry-After": "1"}), times=1))
    proxy.add_rule(Rule("POST", "/blobs/uploads/", location_via_proxy()))
    result = run_cli(["delete", "--untag", f"{proxy.netloc}/{siblings.repo}:a"], ALICE_ENV)
    assert result.code == 0, result.both
    assert limited.hits == 1
    assert _status(token_rig, siblings.repo, "a")[0] == 404
    assert _status(token_rig, siblings.repo, "b") == (200, siblings.digest)


# ------------------------------------------------------------------------ 307 to the streamed PUT


def test_streamed_upload_put_redirect_is_refused(
    token_rig: Rig, open_rig: Rig, fault_proxy_factory: FaultProxyFactory, sink: Sink
) -> None:
    """SEC/FT: a 307 to the streamed blob PUT is not followed (the body cannot be sent twice): exit 6, why."""
    seeded = _fresh(token_rig)
    dst = _destination(open_rig, fault_proxy_factory)
    dst.add_rule(Rule("PUT", "/blobs/uploads/", redirect(lambda path: f"{sink.url}{path}")))
    code, output = _copy(f"{token_rig.host}/{seeded.repo}:v1", f"{dst.netloc}/mirror/wf-307:v1")
    assert code == 6, output
    assert "cannot be sent twice" in output
    assert sink.requests == []
    assert dst.count("PUT", "/manifests/") == 0


# ------------------------------------------------------------------------ upload session lost


def test_upload_session_lost_once_is_restarted(
    token_rig: Rig, open_rig: Rig, fault_proxy_factory: FaultProxyFactory
) -> None:
    """FT: ``PUT`` -> 404 BLOB_UPLOAD_UNKNOWN once: the upload starts afresh and the copy succeeds."""
    seeded = _fresh(token_rig)
    dst = _destination(open_rig, fault_proxy_factory)
    lost = dst.add_rule(Rule("PUT", "/blobs/uploads/", blob_upload_unknown(), times=1))
    repo = f"mirror/wf-{secrets.token_hex(3)}"
    code, output = _copy(f"{token_rig.host}/{seeded.repo}:v1", f"{dst.netloc}/{repo}:v1")
    assert code == 0, output
    assert lost.hits == 1
    assert dst.count("POST", "/blobs/uploads/") == len(seeded.blobs) + 1
    assert _status(open_rig, repo, "v1") == (200, seeded.digest)


def test_upload_session_lost_twice_exits_6(
    token_rig: Rig, open_rig: Rig, fault_proxy_factory: FaultProxyFactory
) -> None:
    """FT: a registry that always forgets the session: exit 6 (never 1, "absent"), after one restart."""
    seeded = _fresh(token_rig)
    dst = _destination(open_rig, fault_proxy_factory)
    lost = dst.add_rule(Rule("PUT", "/blobs/uploads/", blob_upload_unknown()))
    code, output = _copy(f"{token_rig.host}/{seeded.repo}:v1", f"{dst.netloc}/mirror/wf-lost:v1")
    assert code == 6, output
    assert "lost the upload session" in output
    assert lost.hits == 2
    assert dst.count("PUT", "/manifests/") == 0


def test_untag_upload_session_lost_once_is_restarted(
    token_rig: Rig, siblings: Siblings, fault_proxy_factory: FaultProxyFactory
) -> None:
    """FT: the same for ``--untag``'s own upload (its bytes are in memory: restarted inside the client)."""
    proxy = fault_proxy_factory(token_rig.url)
    proxy.add_rule(Rule("POST", "/blobs/uploads/", location_via_proxy()))
    lost = proxy.add_rule(Rule("PUT", "/blobs/uploads/", blob_upload_unknown(), times=1))
    result = run_cli(["delete", "--untag", f"{proxy.netloc}/{siblings.repo}:a"], ALICE_ENV)
    assert result.code == 0, result.both
    assert lost.hits == 1
    assert _status(token_rig, siblings.repo, "b") == (200, siblings.digest)


# ------------------------------------------------------------------------ a DELETE done but answered 500


@pytest.mark.parametrize("answer", [500, None], ids=["500", "answer-lost"])
def test_untag_delete_done_but_answered_badly_counts_as_deleted(
    token_rig: Rig, siblings: Siblings, fault_proxy_factory: FaultProxyFactory, answer: int | None
) -> None:
    """FT: safe replay — the placeholder's DELETE is carried out but answered 500 (or not at all); the retry's
    404 means done: exit 0, said under --debug; the sibling stays."""
    proxy = fault_proxy_factory(token_rig.url)
    proxy.add_rule(Rule("POST", "/blobs/uploads/", location_via_proxy()))
    failed = proxy.add_rule(Rule("DELETE", PLACEHOLDER_DELETE, after_work(answer), times=1))
    result = run_cli(["delete", "--untag", "--debug", f"{proxy.netloc}/{siblings.repo}:a"], ALICE_ENV)
    assert result.code == 0, result.both
    assert failed.hits == 1
    assert [r.upstream_status for r in proxy.requests if r.actions == ("after_work",)] == [202]
    assert "counted as deleted" in result.err
    assert _status(token_rig, siblings.repo, "a")[0] == 404
    assert _status(token_rig, siblings.repo, "b") == (200, siblings.digest)


def test_tag_delete_done_but_answered_500_reports_deleted_with_ignore_missing(
    token_rig: Rig, siblings: Siblings, fault_proxy_factory: FaultProxyFactory
) -> None:
    """FT: the OCI tag delete (emulated) done but answered 500; the retry's 404: "deleted", not "absent"."""
    proxy = fault_proxy_factory(token_rig.url)
    proxy.add_rule(Rule("DELETE", "/manifests/a$", [emulate_oci_tag_delete(), after_work(500)], times=1))
    proxy.add_rule(Rule("DELETE", "/manifests/", emulate_oci_tag_delete()))
    result = run_cli(
        ["delete", "--ignore-missing", "-o", "json", f"{proxy.netloc}/{siblings.repo}:a"], ALICE_ENV
    )
    assert result.code == 0, result.both
    assert json.loads(result.out)["status"] == "deleted"
    assert proxy.deleted_tags == {siblings.repo: frozenset({"a"})}
    plain = run_cli(
        ["delete", f"{proxy.netloc}/{siblings.repo}:b"], ALICE_ENV
    )  # without the fault: as before
    assert plain.code == 0, plain.both


# ------------------------------------------------------------------------ foreign 404s, inconsistent sources


def test_manifest_put_redirected_to_a_host_that_answers_404_exits_6(
    token_rig: Rig, open_rig: Rig, fault_proxy_factory: FaultProxyFactory
) -> None:
    """SEC/FT: a manifest PUT redirected to another host answering 404: exit 6 (no registry statement), and
    that host never gets the credentials."""
    seeded = _fresh(token_rig)
    elsewhere = fault_proxy_factory(open_rig.url)
    elsewhere.add_rule(Rule("*", "", status(404, {"Content-Type": "application/json"}, MANIFEST_UNKNOWN)))
    dst = _destination(token_rig, fault_proxy_factory)
    dst.add_rule(Rule("PUT", "/manifests/", redirect(lambda path: f"{elsewhere.url}{path}")))
    code, output = _copy(f"{token_rig.host}/{seeded.repo}:v1", f"{dst.netloc}/group/project/wf-put:v1")
    assert code == 6, output
    assert "no registry statement" in output
    assert elsewhere.count("PUT") == 1
    assert not any(r.authorization for r in elsewhere.requests)


def test_manifest_delete_redirected_to_a_host_that_answers_404_exits_6(
    token_rig: Rig, siblings: Siblings, fault_proxy_factory: FaultProxyFactory
) -> None:
    """FT: the same for a DELETE (``--manifest``); nothing is deleted at the registry."""
    elsewhere = fault_proxy_factory(token_rig.url)
    elsewhere.add_rule(Rule("*", "", status(404, {"Content-Type": "application/json"}, MANIFEST_UNKNOWN)))
    proxy = fault_proxy_factory(token_rig.url)
    proxy.add_rule(Rule("DELETE", "/manifests/", redirect(lambda path: f"{elsewhere.url}{path}")))
    result = run_cli(["delete", "--manifest", "--yes", f"{proxy.netloc}/{siblings.repo}:a"], ALICE_ENV)
    assert result.code == 6, result.both
    assert not any(r.authorization for r in elsewhere.requests)
    assert _status(token_rig, siblings.repo, "a") == (200, siblings.digest)


def test_copy_of_an_index_with_a_child_missing_at_the_source_exits_6(
    token_rig: Rig, open_rig: Rig, fault_proxy_factory: FaultProxyFactory
) -> None:
    """FT: the source's index names a child it does not have: exit 6 naming the child (the image exists)."""
    seeded = _fresh(token_rig, "index")
    child = seeded.children[0].digest
    src = fault_proxy_factory(token_rig.url)
    src.add_rule(
        Rule("*", f"/manifests/{child}$", status(404, {"Content-Type": "application/json"}, MANIFEST_UNKNOWN))
    )
    dst = _destination(open_rig, fault_proxy_factory)
    code, output = _copy(f"{src.netloc}/{seeded.repo}:v1", f"{dst.netloc}/mirror/wf-child:v1")
    assert code == 6, output
    assert child in output
    assert "inconsistent" in output
    assert dst.count("PUT", "/manifests/") == 0


# ------------------------------------------------------------------------ a header block cut short


@pytest.mark.parametrize("method", ["HEAD", "GET"])
def test_header_block_cut_short_is_a_broken_connection(
    token_rig: Rig, fault_proxy_factory: FaultProxyFactory, method: str
) -> None:
    """FT: ``HTTP/1.1 200 OK\\r\\nContent-Ty`` then EOF: exit 5 (never a digest of an empty body); once only,
    retried like any broken connection."""
    seeded = _fresh(token_rig)
    proxy = fault_proxy_factory(token_rig.url)
    proxy.add_rule(Rule(method, "/manifests/", cut_head()))
    ref = f"{proxy.netloc}/{seeded.repo}:v1"
    command = ["digest", ref] if method == "HEAD" else ["inspect", "--raw", ref]
    always = run_cli([*command, "--timeout", "20s"], ALICE_ENV)
    assert always.code == 5, always.both
    assert "sha256:e3b0" not in always.both
    assert proxy.count(method, "/manifests/") > 1  # retried
    proxy.clear_rules()
    proxy.add_rule(Rule(method, "/manifests/", cut_head(), times=1))
    once = run_cli(command, ALICE_ENV)
    assert once.code == 0, once.both
    if method == "HEAD":
        assert once.out.strip() == seeded.digest


# ------------------------------------------------------------------------ Ctrl-C during delete --untag


def _untag_process(proxy: FaultProxy, repo: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        with_default_sigint(ocireg_argv("delete", "--untag", f"{proxy.netloc}/{repo}:a")),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=subprocess_env(ALICE_ENV),
    )


def _placeholder_delete_started(proxy: FaultProxy) -> bool:
    return any(r.method == "DELETE" and "0" * 64 not in r.path for r in proxy.requests)


def test_ctrl_c_after_the_placeholder_push_finishes_the_swap(
    token_rig: Rig, siblings: Siblings, fault_proxy_factory: FaultProxyFactory
) -> None:
    """FT: SIGINT between the placeholder's push and its delete: the delete finishes before the exit (130), the
    tag is gone, the sibling stays, no placeholder is left."""
    proxy = fault_proxy_factory(token_rig.url)
    proxy.add_rule(Rule("POST", "/blobs/uploads/", location_via_proxy()))
    proxy.add_rule(Rule("DELETE", PLACEHOLDER_DELETE, delay(5)))
    proc = _untag_process(proxy, siblings.repo)
    try:
        assert wait_until(lambda: _placeholder_delete_started(proxy), timeout=60)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=10)
    assert proc.returncode == 130, (out, err)
    assert "finishing the delete" in err
    assert "deleted tag" in out
    assert _status(token_rig, siblings.repo, "a")[0] == 404
    assert _status(token_rig, siblings.repo, "b") == (200, siblings.digest)
    placeholders = [r.path for r in proxy.requests if r.method == "DELETE" and "0" * 64 not in r.path]
    assert [r.status for r in proxy.requests if r.path in placeholders] == [202]


def test_second_ctrl_c_prints_the_digest_and_the_command_that_restores_the_tag(
    token_rig: Rig, siblings: Siblings, fault_proxy_factory: FaultProxyFactory
) -> None:
    """FT: two SIGINTs while the placeholder's delete hangs: exit 130 at once, with the original digest and the
    exact command that puts the tag back — which works."""
    proxy = fault_proxy_factory(token_rig.url)
    proxy.add_rule(Rule("POST", "/blobs/uploads/", location_via_proxy()))
    proxy.add_rule(Rule("DELETE", PLACEHOLDER_DELETE, delay(30)))
    proc = _untag_process(proxy, siblings.repo)
    try:
        assert wait_until(lambda: _placeholder_delete_started(proxy), timeout=60)
        proc.send_signal(signal.SIGINT)
        time.sleep(0.5)  # let the first one be handled (an order, not a timing assertion)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=10)
    assert proc.returncode == 130, (out, err)
    assert siblings.digest in err
    command = f"ocireg tag {proxy.netloc}/{siblings.repo}@{siblings.digest} a"
    assert command in err
    proxy.clear_rules()
    restore = run_cli(command.split()[1:], ALICE_ENV)
    assert restore.code == 0, restore.both
    assert _status(token_rig, siblings.repo, "a") == (200, siblings.digest)
