"""Load tests (LD): bounded concurrency, one token per scope, shared backoff, bounded memory and descriptors.

Counts come from the fault proxy and the token server; memory from the kernel's accounting of a real ``ocireg``
process (``os.wait4`` rusage, peak RSS). Nothing asserts on speed.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from integration.faultkit import (
    ALICE_ENV,
    REPO,
    json_results,
    measured_argv,
    plain,
    run_subprocess,
    split_peak_rss,
    subprocess_env,
    via,
)

from clirunner import run_cli
from rig import ManyTags, Rig
from rig.faultproxy import FaultProxy, Rule, delay, huge_body, replace_body, rewrite_realm, status
from rig.seed import OCI_INDEX

#: Peak resident memory an ``ocireg`` process may reach on a hostile body (issue #6 acceptance).
RSS_LIMIT_MB = 150


@pytest.fixture
def proxy(token_rig: Rig, fault_proxy_factory: Any) -> FaultProxy:
    made: FaultProxy = fault_proxy_factory(token_rig.url)
    return made


def _refs(proxy: FaultProxy, many: ManyTags, count: int) -> list[str]:
    return [via(proxy, many.repo, tag) for tag in many.tags[:count]]


def _all_present(result_out: str, count: int, digest: str) -> None:
    lines = [line.split() for line in result_out.splitlines()]
    assert len(lines) == count
    assert all(line[0] == "present" and line[2] == digest for line in lines), lines[:3]


# ---------------------------------------------------------------------------------------------------------
# Concurrency and tokens
# ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("jobs", [1, 4, 16])
def test_ld_bounded_concurrency(proxy: FaultProxy, many_tags_repo: ManyTags, jobs: int) -> None:
    """LD: bounded concurrency — peak requests in flight at the registry never exceed --jobs."""
    proxy.add_rule(Rule("HEAD", r"/manifests/", delay(0.05)))
    refs = _refs(proxy, many_tags_repo, 48)
    result = run_cli(["exists", "--jobs", str(jobs), *plain(proxy), *refs], ALICE_ENV)
    assert result.code == 0, result.err
    _all_present(result.out, len(refs), many_tags_repo.digest)
    assert 1 <= proxy.peak_concurrency <= jobs, proxy.peak_concurrency
    if jobs > 1:
        assert proxy.peak_concurrency > 1  # the batch did run in parallel


def test_ld_token_single_flight_under_concurrency(
    proxy: FaultProxy, token_rig: Rig, many_tags_repo: ManyTags
) -> None:
    """LD: token single-flight — 16 workers, three repositories, a cold cache: exactly one token per repository."""
    assert token_rig.token_server is not None
    refs = _refs(proxy, many_tags_repo, 40)
    refs += [via(proxy, REPO, tag) for tag in ("oci", "index", "docker", "list", "stable") * 4]
    refs += [via(proxy, "group/sub/project/image", "latest")] * 8
    token_rig.token_server.delay = 0.3  # a slow token service widens the window for a stampede
    result = run_cli(["exists", "--no-token-cache", "--jobs", "16", *plain(proxy), *refs], ALICE_ENV)
    assert result.code == 0, result.err
    scopes = sorted(s for r in token_rig.token_server.requests for s in r.scopes)
    assert scopes == [
        "repository:group/project/many:pull",
        "repository:group/project:pull",
        "repository:group/sub/project/image:pull",
    ], scopes


def test_ld_token_single_flight_at_expiry(
    proxy: FaultProxy, token_rig: Rig, many_tags_repo: ManyTags
) -> None:
    """LD: no stampede at expiry — 16 workers meet a dead token together; one of them fetches the next one.

    Tokens die ~2 s after issue (``ttl`` + ``exp_skew``); the batch lasts several lifetimes. Without the
    single-flight lock every worker refused at an expiry would ask the realm: ~16 requests per expiry.
    """
    server = token_rig.token_server
    assert server is not None
    server.ttl = 2
    server.exp_skew = -60
    proxy.add_rule(Rule("HEAD", r"/manifests/", delay(0.15)))
    refs = _refs(proxy, many_tags_repo, 480)  # 30 rounds of 16 x 0.15 s: at least 4.5 s, whatever the machine
    started = time.monotonic()
    result = run_cli(
        ["exists", "-o", "json", "--no-token-cache", "--jobs", "16", *plain(proxy), *refs], ALICE_ENV
    )
    elapsed = time.monotonic() - started
    assert result.code == 0, result.err
    assert {r["digest"] for r in json_results(result)} == {many_tags_repo.digest}
    refused = sum(1 for r in proxy.requests if r.status == 401 and r.authorization)
    assert elapsed > 4, "the batch did not outlive two tokens; slow the proxy down"
    assert refused >= 2, "no token expired during the batch"
    expiries = elapsed / 2 + 1
    print(f"\nLD expiry: {len(server.requests)} token requests, {refused} refused, {elapsed:.1f} s")
    assert len(server.requests) <= expiries + 2, (len(server.requests), elapsed, refused)


def test_ld_429_storm_shared_backoff(proxy: FaultProxy, many_tags_repo: ManyTags) -> None:
    """LD: 429 storm with shared per-host backoff — the first 16 requests get 429 Retry-After: 1; the total stays
    bounded (each refused request is retried, nothing more) and every answer is correct."""
    refs = _refs(proxy, many_tags_repo, 40)
    assert (
        run_cli(["exists", *plain(proxy), refs[0]], ALICE_ENV).code == 0
    )  # warm token: every HEAD is authorized
    proxy.reset_counters()
    storm = proxy.add_rule(Rule("HEAD", r"/manifests/", status(429, {"Retry-After": "1"}), times=16))
    result = run_cli(["exists", "--jobs", "8", "--debug", *plain(proxy), *refs], ALICE_ENV)
    assert result.code == 0, result.err
    _all_present(result.out, len(refs), many_tags_repo.digest)
    assert storm.hits == 16
    heads = proxy.count("HEAD")
    assert heads == len(refs) + 16, heads  # one retry per 429, no extra traffic
    waits = [line for line in result.err.splitlines() if "retrying" in line]
    assert len(waits) == 16 and all("in 1.00s" in w for w in waits), waits[:3]


# ---------------------------------------------------------------------------------------------------------
# Connections and file descriptors
# ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("jobs", [1, 8])
def test_ld_connection_reuse(proxy: FaultProxy, many_tags_repo: ManyTags, jobs: int) -> None:
    """LD: connection reuse — 100 checks over one client open about --jobs connections, not 100."""
    refs = _refs(proxy, many_tags_repo, 100)
    result = run_cli(["exists", "--jobs", str(jobs), *plain(proxy), *refs], ALICE_ENV)
    assert result.code == 0, result.err
    _all_present(result.out, len(refs), many_tags_repo.digest)
    assert proxy.count("HEAD") >= 100
    assert proxy.connections_opened <= jobs + 2, proxy.connections_opened


def _limit_fds() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))


def test_ld_file_descriptor_limit(token_rig: Rig, many_tags_repo: ManyTags, tmp_path: Path) -> None:
    """LD: file-descriptor limits — a 300-reference batch with 32 workers under ``ulimit -n 64`` answers every line."""
    listing = tmp_path / "refs.txt"
    refs = [token_rig.ref(many_tags_repo.repo, tag) for tag in many_tags_repo.tags[:300]]
    listing.write_text("\n".join(refs) + "\n")
    result = run_subprocess(
        ["exists", "-o", "jsonl", "--jobs", "32", "--from-file", str(listing)],
        ALICE_ENV,
        preexec_fn=_limit_fds,
        timeout=300,
    )
    assert result.code == 0, result.err[-2000:]
    docs = [json.loads(line) for line in result.out.splitlines()]
    assert [d["input"] for d in docs] == refs
    assert {d["status"] for d in docs} == {"present"}
    assert {d["digest"] for d in docs} == {many_tags_repo.digest}


# ---------------------------------------------------------------------------------------------------------
# Memory: hostile bodies stop at their cap, in bounded memory
# ---------------------------------------------------------------------------------------------------------


def _run_measured(
    args: list[str], env: dict[str, str], timeout: float = 120
) -> tuple[int, str, float, float]:
    """Run ``ocireg ARGS``; return (exit code, stderr, peak RSS in MB, seconds) of that one process."""
    proc = subprocess.Popen(
        measured_argv(*args),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=subprocess_env(env),
    )
    started = time.monotonic()
    assert proc.stderr is not None
    err_chunks: list[bytes] = []
    end = started + timeout
    while True:
        pid, wait_status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if time.monotonic() > end:
            proc.kill()
            pid, wait_status, usage = os.wait4(proc.pid, 0)
            break
        time.sleep(0.05)
    elapsed = time.monotonic() - started
    proc.returncode = os.waitstatus_to_exitcode(wait_status)
    err_chunks.append(proc.stderr.read())
    proc.stderr.close()
    del usage  # ru_maxrss inherits the pytest worker's peak across fork+exec; see faultkit.MEASURED_LAUNCHER
    err, peak_mb = split_peak_rss(b"".join(err_chunks).decode("utf-8", "replace"))
    return proc.returncode, err, peak_mb, elapsed


@pytest.mark.parametrize(
    "body",
    [
        huge_body(10 * 1024**3, content_type=OCI_INDEX, gzip_bomb=True),
        huge_body(None, content_type=OCI_INDEX),
        huge_body(None, content_type=OCI_INDEX, chunked=False),
    ],
    ids=["gzip-bomb-10GiB", "endless-chunked", "endless-close-delimited"],
)
def test_ld_memory_hostile_manifest_body(proxy: FaultProxy, body: Any, record_property: Any) -> None:
    """LD: memory — a 10 GiB gzip bomb and endless bodies as a manifest stop at the 8 MiB cap (exit 6), in
    bounded memory (peak RSS of the ocireg process under 150 MB)."""
    assert run_cli(["exists", *plain(proxy), via(proxy, REPO, "index")], ALICE_ENV).code == 0  # warm token
    proxy.add_rule(Rule("GET", r"/manifests/", body))
    args = [
        "digest",
        "--platform",
        "linux/amd64",
        "--timeout",
        "100",
        *plain(proxy),
        via(proxy, REPO, "index"),
    ]
    code, err, rss_mb, seconds = _run_measured(args, ALICE_ENV)
    record_property("peak_rss_mb", round(rss_mb, 1))
    record_property("seconds", round(seconds, 2))
    print(
        f"\nLD memory {body.n_bytes} gzip={body.gzip_bomb}: exit {code}, peak RSS {rss_mb:.1f} MB, {seconds:.2f} s"
    )
    # exit 6 (BodyTooLarge) proves the read stopped at the cap: an endless body would otherwise run into the
    # 100 s deadline (exit 5)
    assert code == 6, err
    assert "limit" in err
    assert rss_mb < RSS_LIMIT_MB, rss_mb


def test_ld_memory_endless_token_response(
    proxy: FaultProxy, token_rig: Rig, fault_proxy_factory: Any, record_property: Any
) -> None:
    """LD: memory — an endless token response stops at the 64 KiB cap (exit 6) in bounded memory."""
    assert token_rig.token_server is not None
    token_proxy: FaultProxy = fault_proxy_factory(token_rig.token_server.url)
    proxy.add_rule(Rule("*", r"^/v2/", rewrite_realm(f"{token_proxy.url}/jwt/auth")))
    token_proxy.add_rule(
        Rule("GET", r"^/jwt/auth", huge_body(None, content_type="application/json", prefix=b'{"token": "'))
    )
    args = ["exists", "--no-token-cache", "--timeout", "100", *plain(proxy), via(proxy)]
    code, err, rss_mb, seconds = _run_measured(args, ALICE_ENV)
    record_property("peak_rss_mb", round(rss_mb, 1))
    print(f"\nLD memory endless token: exit {code}, peak RSS {rss_mb:.1f} MB, {seconds:.2f} s")
    assert code == 6, err
    assert "limit" in err
    assert rss_mb < RSS_LIMIT_MB, rss_mb


def test_ld_memory_ten_thousand_tags(proxy: FaultProxy, record_property: Any) -> None:
    """LD: memory — a 10,000-tag listing stays under 150 MB peak RSS and lists every tag once."""
    assert run_cli(["exists", *plain(proxy), via(proxy)], ALICE_ENV).code == 0  # warm token
    tags = [f"build-{i:05d}" for i in range(10_000)]
    proxy.add_rule(
        Rule("GET", r"/tags/list", replace_body(json.dumps({"name": REPO, "tags": tags}).encode()))
    )
    args = ["tags", "--sort", "none", *plain(proxy), f"{proxy.netloc}/{REPO}"]
    code, err, rss_mb, seconds = _run_measured(args, ALICE_ENV)
    record_property("peak_rss_mb", round(rss_mb, 1))
    print(f"\nLD memory 10k tags: exit {code}, peak RSS {rss_mb:.1f} MB, {seconds:.2f} s")
    assert code == 0, err
    assert rss_mb < RSS_LIMIT_MB, rss_mb
    listed = run_cli(
        ["tags", "-o", "json", "--sort", "none", *plain(proxy), f"{proxy.netloc}/{REPO}"], ALICE_ENV
    )
    assert json.loads(listed.out)["tags"] == tags
