"""Issue #5 acceptance: `ocireg copy` mounts within a registry and streams between registries (PC, SEC, LD)."""

from __future__ import annotations

import hashlib
import io
import json
import os
import random
import secrets
import subprocess
from pathlib import Path
from urllib.parse import urljoin

import pytest

from integration.faultkit import interrupt_when, measured_argv, ocireg_argv, split_peak_rss

from clirunner import creds, run_cli
from rig import Rig, SeededManifest
from rig.faultproxy import Rule, location_via_proxy, replace_body, rewrite_header
from rig.proxy_fixtures import FaultProxyFactory
from rig.seed import OCI_CONFIG, OCI_LAYER, OCI_MANIFEST, config_json, sha256_digest
from rig.sink import Sink
from rig.tokenserver import ALICE, ALICE_PASSWORD

ALICE_ENV = creds(ALICE, ALICE_PASSWORD)
LARGE_LAYER = 200 * 1024 * 1024
RSS_LIMIT_KIB = 150 * 1024


def _fresh(rig: Rig, kind: str, repo: str | None = None) -> SeededManifest:
    repo = repo or f"group/project/copy-src-{kind}-{secrets.token_hex(3)}"
    with rig.pusher() as pusher:
        label = f"copy-{kind}-{repo}"
        if kind == "oci":
            return pusher.push_image(repo, "v1", label=label)
        if kind == "docker":
            return pusher.push_image(repo, "v1", label=label, docker=True)
        return pusher.push_index(repo, "v1", label=label, docker=kind == "list")


def _manifest(rig: Rig, repo: str, ref: str) -> tuple[int, bytes]:
    response = rig.get_manifest(repo, ref)
    return response.status_code, response.content


def _blob_status(rig: Rig, repo: str, digest: str) -> int:
    headers = {}
    auth = rig.authorization(repo, ["pull"])
    if auth:
        headers["Authorization"] = auth
    with rig.raw_client() as raw:
        return raw.head(f"/v2/{repo}/blobs/{digest}", headers=headers).status_code


def _all_blobs(manifest: SeededManifest) -> set[str]:
    found = {b.digest for b in manifest.blobs}
    for child in manifest.children:
        found |= _all_blobs(child)
    return found


def test_same_registry_copy_mounts_and_uploads_nothing(
    token_rig: Rig, fault_proxy_factory: FaultProxyFactory
) -> None:
    """PC: same-registry copy mounts blobs — no upload PUT/PATCH, no blob GET; one token carries both scopes."""
    seeded = _fresh(token_rig, "index")
    proxy = fault_proxy_factory(token_rig.url)
    dst_repo = f"group/project/copy-dst-{secrets.token_hex(3)}"
    assert token_rig.token_server is not None
    token_rig.token_server.clear_requests()
    result = run_cli(
        ["copy", "-o", "json", f"{proxy.netloc}/{seeded.repo}:v1", f"{proxy.netloc}/{dst_repo}:prod"],
        ALICE_ENV,
    )
    assert result.code == 0, result.err
    doc = json.loads(result.out)
    blobs = _all_blobs(seeded)
    assert doc["digest"] == seeded.digest
    assert doc["blobs"] == {"total": len(blobs), "uploaded": 0, "mounted": len(blobs), "skipped": 0}
    assert doc["bytes_uploaded"] == 0
    assert proxy.count("POST", r"/blobs/uploads/\?mount=") == len(blobs)
    assert proxy.count("PUT", r"/blobs/uploads/") == 0
    assert proxy.count("PATCH") == 0
    assert proxy.count("GET", r"/blobs/") == 0
    assert _manifest(token_rig, dst_repo, "prod") == (200, seeded.body)
    for child in seeded.children:
        assert _manifest(token_rig, dst_repo, child.digest) == (200, child.body)
    mount_tokens = [
        r
        for r in token_rig.token_server.requests
        if f"repository:{dst_repo}:pull,push" in r.scopes and f"repository:{seeded.repo}:pull" in r.scopes
    ]
    assert len(mount_tokens) == 1


@pytest.mark.parametrize("kind", ["oci", "index", "docker", "list"])
def test_cross_registry_copy_keeps_digest(token_rig: Rig, open_rig: Rig, kind: str) -> None:
    """PC: cross-registry copy streams and verifies; destination digest == source digest, children first."""
    seeded = _fresh(token_rig, kind)
    dst_repo = f"mirror/{kind}-{secrets.token_hex(3)}"
    result = run_cli(
        ["copy", "-o", "json", token_rig.ref(seeded.repo, "v1"), f"{open_rig.host}/{dst_repo}"], ALICE_ENV
    )
    assert result.code == 0, result.err
    doc = json.loads(result.out)
    assert doc["destination"] == f"{open_rig.host}/{dst_repo}:v1@{seeded.digest}"  # tag taken from SRC
    assert doc["blobs"]["uploaded"] == len(_all_blobs(seeded))
    assert doc["manifests"] == 1 + len(seeded.children)
    assert _manifest(open_rig, dst_repo, "v1") == (200, seeded.body)
    for child in seeded.children:
        assert _manifest(open_rig, dst_repo, child.digest) == (200, child.body)
    # A second copy finds every blob present (HEAD) and uploads nothing.
    again = run_cli(
        ["copy", "-o", "json", token_rig.ref(seeded.repo, "v1"), f"{open_rig.host}/{dst_repo}:v1"], ALICE_ENV
    )
    assert again.code == 0, again.err
    assert json.loads(again.out)["blobs"]["skipped"] == len(_all_blobs(seeded))
    assert json.loads(again.out)["bytes_uploaded"] == 0


def test_copy_one_platform_of_an_index(token_rig: Rig, open_rig: Rig) -> None:
    """PC: --platform copies one child; DST then names that child manifest."""
    seeded = token_rig.seeded.index
    arm = next(c for c in seeded.children if c.platform and c.platform[1] == "arm64")
    dst_repo = f"mirror/arm-{secrets.token_hex(3)}"
    result = run_cli(
        [
            "copy",
            "--platform",
            "linux/arm64",
            token_rig.ref(seeded.repo, "index"),
            f"{open_rig.host}/{dst_repo}:arm",
        ],
        ALICE_ENV,
    )
    assert result.code == 0, result.err
    assert _manifest(open_rig, dst_repo, "arm") == (200, arm.body)
    missing = run_cli(
        [
            "copy",
            "--platform",
            "linux/s390x",
            token_rig.ref(seeded.repo, "index"),
            f"{open_rig.host}/{dst_repo}:x",
        ],
        ALICE_ENV,
    )
    assert missing.code == 1
    assert "linux/arm64" in missing.err  # names what the index has


@pytest.mark.parametrize("corruption", ["flip", "longer"])
def test_corrupt_source_blob_aborts_before_the_manifest(
    token_rig: Rig, open_rig: Rig, fault_proxy_factory: FaultProxyFactory, corruption: str
) -> None:
    """PC/FT: a blob altered in transit (fault proxy) aborts the copy; the destination tag stays untouched."""
    seeded = _fresh(token_rig, "oci")
    layer = seeded.layers[0]
    dst_repo = f"mirror/corrupt-{corruption}-{secrets.token_hex(3)}"
    with open_rig.pusher() as pusher:
        before = pusher.push_image(dst_repo, "v1", label=f"before-{dst_repo}")

    def alter(body: bytes) -> bytes:
        if corruption == "longer":
            return body + b"\0"
        middle = len(body) // 2
        return body[:middle] + bytes([body[middle] ^ 0xFF]) + body[middle + 1 :]

    src = fault_proxy_factory(token_rig.url)
    src.add_rule(Rule("GET", f"/blobs/{layer.digest}$", replace_body(alter)))
    dst = fault_proxy_factory(open_rig.url)
    dst.add_rule(Rule("POST", "/blobs/uploads/", location_via_proxy()))
    result = run_cli(
        ["copy", "--jobs", "1", f"{src.netloc}/{seeded.repo}:v1", f"{dst.netloc}/{dst_repo}:v1"], ALICE_ENV
    )
    assert result.code == 6, result.both
    assert layer.digest in result.err
    assert dst.count("PUT", "/manifests/") == 0
    # The corrupt upload never completed: ocireg withheld the last chunk (it never reached the registry's own
    # digest check, which would have answered 400), or, for a wrong size, never started it.
    layer_puts = [r for r in dst.requests if r.method == "PUT" and layer.digest in r.query]
    assert all(r.status is None for r in layer_puts), layer_puts
    assert len(layer_puts) == (1 if corruption == "flip" else 0)
    assert _manifest(open_rig, dst_repo, "v1") == (200, before.body)
    assert _blob_status(open_rig, dst_repo, layer.digest) == 404


def test_upload_location_on_another_host_is_refused(
    token_rig: Rig, open_rig: Rig, fault_proxy_factory: FaultProxyFactory, sink: Sink
) -> None:
    """SEC: upload Location handling — a Location on another origin gets neither credentials nor data."""
    seeded = _fresh(token_rig, "oci")
    dst = fault_proxy_factory(open_rig.url)
    dst.add_rule(
        Rule(
            "POST", "/blobs/uploads/", rewrite_header("Location", f"{sink.url}/v2/x/blobs/uploads/u?_state=s")
        )
    )
    result = run_cli(
        ["copy", f"{token_rig.host}/{seeded.repo}:v1", f"{dst.netloc}/mirror/evil:v1"], ALICE_ENV
    )
    assert result.code == 6, result.both
    assert "another origin" in result.err
    assert sink.requests == []
    assert dst.count("PUT", "/manifests/") == 0


def test_copy_refuses_a_destination_digest_that_differs(token_rig: Rig, open_rig: Rig) -> None:
    """BI: DST pinned to a digest other than the image's → digest mismatch, nothing tagged."""
    seeded = token_rig.seeded.oci
    wrong = "sha256:" + "1" * 64
    result = run_cli(
        ["copy", token_rig.ref(seeded.repo, "oci"), f"{open_rig.host}/mirror/pinned:v1@{wrong}"], ALICE_ENV
    )
    assert result.code == 6, result.both
    assert _manifest(open_rig, "mirror/pinned", "v1")[0] == 404


def _push_large_image(rig: Rig, repo: str, size: int, scratch: Path) -> tuple[str, str]:
    """Push a ``size``-byte random layer streamed from a file (never whole in memory); returns (manifest, layer) digests."""
    path = scratch / "layer.bin"
    hasher = hashlib.sha256()
    rng = random.Random(5)
    with path.open("wb") as handle:
        left = size
        while left:
            chunk = rng.randbytes(min(left, 1 << 20))
            hasher.update(chunk)
            handle.write(chunk)
            left -= len(chunk)
    layer_digest = "sha256:" + hasher.hexdigest()

    def body():  # type: ignore[no-untyped-def]
        with path.open("rb") as handle:
            while chunk := handle.read(1 << 20):
                yield chunk

    auth = {"Authorization": rig.authorization(repo, ["pull", "push"]) or ""}
    with rig.raw_client(timeout=120) as raw:
        started = raw.post(f"/v2/{repo}/blobs/uploads/", headers=auth)
        assert started.status_code == 202
        location = urljoin(f"{rig.url}/v2/{repo}/blobs/uploads/", started.headers["location"])
        done = raw.put(
            f"{location}&digest={layer_digest}",
            content=body(),
            headers={**auth, "Content-Length": str(size), "Content-Type": "application/octet-stream"},
        )
        assert done.status_code == 201, done.text
    config = config_json("large", ("linux", "amd64", None), layer_digest)
    with rig.pusher() as pusher:
        config_digest = pusher.put_blob(repo, config)
        manifest = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": len(config)},
                "layers": [{"mediaType": OCI_LAYER, "digest": layer_digest, "size": size}],
            }
        ).encode()
        pusher.put_manifest(repo, "large", manifest, OCI_MANIFEST)
    path.unlink()
    return sha256_digest(manifest), layer_digest


@pytest.mark.slow
def test_large_layer_copy_streams_with_bounded_memory(token_rig: Rig, open_rig: Rig, tmp_path: Path) -> None:
    """LD: memory — a 200 MB layer copied across registries in a subprocess with peak RSS < 150 MB, digests equal."""
    repo = f"group/project/large-{secrets.token_hex(3)}"
    manifest_digest, layer_digest = _push_large_image(token_rig, repo, LARGE_LAYER, tmp_path)
    env = {**os.environ, **ALICE_ENV, "OCIREG_TOKEN_CACHE": "0"}
    completed = subprocess.run(
        measured_argv(
            "copy",
            "--timeout",
            "600",
            "-o",
            "json",
            f"{token_rig.host}/{repo}:large",
            f"{open_rig.host}/mirror/large:v1",
        ),
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    doc = json.loads(completed.stdout)
    assert doc["digest"] == manifest_digest
    assert doc["bytes_uploaded"] >= LARGE_LAYER
    _, peak_mb = split_peak_rss(completed.stderr)
    print(f"peak RSS of 'ocireg copy' with a {LARGE_LAYER >> 20} MiB layer: {peak_mb:.1f} MiB")
    assert peak_mb * 1024 < RSS_LIMIT_KIB, f"peak RSS {peak_mb:.1f} MiB"
    assert _blob_status(open_rig, "mirror/large", layer_digest) == 200
    status, body = _manifest(open_rig, "mirror/large", "v1")
    assert status == 200
    assert sha256_digest(body) == manifest_digest


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_is_shown_on_a_terminal_only(token_rig: Rig, open_rig: Rig) -> None:
    """Output rule (docs/architecture.md §6): progress on a TTY stderr only; none when piped or with NO_COLOR; stdout unchanged."""
    from ocireg.cli import main

    seeded = _fresh(token_rig, "oci")
    env = {**os.environ, **ALICE_ENV}
    env.pop("NO_COLOR", None)
    env.pop("OCIREG_PROGRESS", None)
    env["TERM"] = "xterm"
    tty_err, out = _Terminal(), io.StringIO()
    argv = ["copy", token_rig.ref(seeded.repo, "v1"), f"{open_rig.host}/mirror/tty:v1"]
    code = main(argv, env, stdout=out, stderr=tty_err)
    assert code == 0, tty_err.getvalue()
    assert "copying 2 blob(s)" in tty_err.getvalue()
    assert out.getvalue().startswith("copied")
    muted_err = _Terminal()
    assert main(argv, {**env, "NO_COLOR": "1"}, stdout=io.StringIO(), stderr=muted_err) == 0
    assert muted_err.getvalue() == ""
    plain = run_cli(["copy", token_rig.ref(seeded.repo, "v1"), f"{open_rig.host}/mirror/plain:v1"], ALICE_ENV)
    assert plain.code == 0, plain.err
    assert plain.err == ""
    assert plain.out.startswith("copied")


def test_copy_blob_concurrency_is_bounded_by_jobs(
    token_rig: Rig, open_rig: Rig, fault_proxy_factory: FaultProxyFactory
) -> None:
    """LD: bounded concurrency — with --jobs 2 the destination never sees more than 2 requests in flight."""
    from rig.faultproxy import delay

    seeded = _fresh(token_rig, "index")
    dst = fault_proxy_factory(open_rig.url)
    dst.set_rules(
        [Rule("HEAD", "/blobs/", delay(0.05)), Rule("POST", "/blobs/uploads/", location_via_proxy())]
    )
    result = run_cli(
        ["copy", "--jobs", "2", token_rig.ref(seeded.repo, "v1"), f"{dst.netloc}/mirror/jobs:v1"], ALICE_ENV
    )
    assert result.code == 0, result.both
    assert dst.count("HEAD", "/blobs/") == len(_all_blobs(seeded))
    assert 1 <= dst.peak_concurrency <= 2


def test_blob_redirect_to_another_host_gets_no_credentials(
    token_rig: Rig, open_rig: Rig, fault_proxy_factory: FaultProxyFactory, sink: Sink
) -> None:
    """SEC: no credentials through redirects — a blob GET redirected to another host is followed without
    Authorization; what comes back there must still hash to the digest (here it does not: exit 6)."""
    from rig.faultproxy import redirect

    seeded = _fresh(token_rig, "oci")
    layer = seeded.layers[0]
    src = fault_proxy_factory(token_rig.url)
    src.add_rule(Rule("GET", f"/blobs/{layer.digest}$", redirect(f"{sink.url}/storage/{layer.digest}")))
    dst_repo = f"mirror/redirect-{secrets.token_hex(3)}"
    result = run_cli(["copy", f"{src.netloc}/{seeded.repo}:v1", f"{open_rig.host}/{dst_repo}:v1"], ALICE_ENV)
    assert result.code == 6, result.both
    assert [r.path for r in sink.requests] == [f"/storage/{layer.digest}"]  # the redirect was followed
    assert sink.credentials_received() == []
    assert _manifest(open_rig, dst_repo, "v1")[0] == 404


def test_ctrl_c_during_blob_transfers_exits_at_once(
    token_rig: Rig, open_rig: Rig, fault_proxy_factory: FaultProxyFactory
) -> None:
    """FT: SIGINT during a copy — a transfer hangs in a worker: exit 130 at once, "interrupted", no manifest pushed.

    The worker pool neither runs the queued blobs nor joins the hanging worker first (--timeout is 100 s and the
    hang 60 s: only a prompt interrupt ends within 30 s)."""
    from rig.faultproxy import delay

    seeded = _fresh(token_rig, "oci")
    layer = seeded.layers[0]
    dst = fault_proxy_factory(open_rig.url)
    dst.set_rules(
        [
            Rule("HEAD", f"/blobs/{layer.digest}$", delay(60)),
            Rule("POST", "/blobs/uploads/", location_via_proxy()),
        ]
    )
    argv = ocireg_argv(
        "copy",
        "--jobs",
        "2",
        "--timeout",
        "100",
        token_rig.ref(seeded.repo, "v1"),
        f"{dst.netloc}/mirror/int:v1",
    )
    code, _out, err = interrupt_when(
        argv, ALICE_ENV, lambda: dst.count("HEAD", f"/blobs/{layer.digest}") >= 1
    )
    assert code == 130, err
    assert "interrupted" in err
    assert "Traceback" not in err
    assert dst.count("PUT", "/manifests/") == 0
