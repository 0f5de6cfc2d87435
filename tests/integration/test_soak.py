"""The bounded soak (LD): ~40 s of mixed checks under every fault at once — zero wrong answers.

Tokens die every ~3 s (``ttl`` + ``exp_skew``), the registry restarts once, and 5 % of registry requests are
reset (a ``reset()`` rule re-armed from a background thread: one reset per 20 requests). ``exists`` and
``digest`` batches (with and without ``--platform``) run back to back through one token cache, like a busy CI
runner. Every answer is compared with what was seeded: a wrong digest, a present reference reported absent, or
an absent one reported present fails the test; errors (exit 5/6) are allowed only while the registry restarts.
This is a correctness test with a time bound, not a benchmark.
"""

from __future__ import annotations

import json
import random
import threading
import time
from typing import Any

import pytest

from integration.faultkit import ALICE_ENV, REPO, plain, via

from clirunner import run_cli
from rig import ManyTags, Rig
from rig.faultproxy import FaultProxy, Rule, reset

SOAK_SECONDS = 40.0
RESET_EVERY = 20  # one reset per 20 requests: 5 %


@pytest.mark.slow
def test_ld_soak_expiry_restart_and_resets(
    token_rig: Rig, many_tags_repo: ManyTags, fault_proxy_factory: Any
) -> None:
    """LD: bounded soak (≤ 60 s) — token expiry, one registry restart, 5 % connection resets: zero wrong answers."""
    server = token_rig.token_server
    assert server is not None
    server.ttl = 3
    server.exp_skew = -60  # the registry's 60 s leeway: each token dies ~3 s after issue
    proxy: FaultProxy = fault_proxy_factory(token_rig.url)
    resets = proxy.add_rule(Rule("*", r"^/v2/.+/manifests/", reset(), times=0))
    stop = threading.Event()

    def rearm() -> None:
        # allow one more reset each time another RESET_EVERY requests have gone through
        while not stop.wait(0.02):
            resets.times = proxy.count() // RESET_EVERY

    restart_window: list[float] = []

    def restart_once() -> None:
        if stop.wait(SOAK_SECONDS / 3):
            return
        restart_window.append(time.monotonic())
        token_rig.registry.restart()
        restart_window.append(time.monotonic())

    seeded = token_rig.seeded
    present = {
        tag: seeded.digest(REPO, tag) for tag in ("oci", "index", "docker", "list", "v1.2.3", "stable")
    }
    arm64 = next(
        c.digest for c in seeded.get(REPO, "index").children if c.platform and c.platform[1] == "arm64"
    )
    rng = random.Random(6)
    threads = [
        threading.Thread(target=rearm, daemon=True),
        threading.Thread(target=restart_once, daemon=True),
    ]
    for thread in threads:
        thread.start()
    checked = wrong = errors = 0
    failures: list[str] = []
    error_rounds: list[tuple[float, float, str]] = []
    started = time.monotonic()
    try:
        round_no = 0
        while time.monotonic() - started < SOAK_SECONDS and round_no < 500:
            round_no += 1
            many = rng.sample(many_tags_repo.tags, 10)
            expected: dict[str, str | None] = {
                via(proxy, many_tags_repo.repo, t): many_tags_repo.digest for t in many
            }
            expected.update({via(proxy, REPO, t): d for t, d in present.items()})
            expected.update({via(proxy, REPO, f"absent-{round_no}-{i}"): None for i in range(2)})
            command = ["exists"] if round_no % 3 else ["digest"]
            refs = list(expected)
            if round_no % 5 == 0:
                command, refs = ["digest", "--platform", "linux/arm64"], [via(proxy, REPO, "index")]
                expected = {refs[0]: arm64}
            rng.shuffle(refs)
            round_started = time.monotonic()
            result = run_cli([*command, "-o", "json", "--jobs", "4", *plain(proxy), *refs], ALICE_ENV)
            for doc in json.loads(result.out)["results"]:
                checked += 1
                want = expected[doc["input"]]
                got = doc["status"]
                if got == "error":
                    errors += 1
                    error_rounds.append((round_started, time.monotonic(), doc["error"]["message"]))
                elif (want is None) != (got == "absent") or (want is not None and doc["digest"] != want):
                    wrong += 1
                    failures.append(f"WRONG {doc['input']}: {got} {doc.get('digest')} (want {want})")
    finally:
        stop.set()
        for thread in threads:
            thread.join(30)
    elapsed = time.monotonic() - started
    total = proxy.count()
    print(
        f"\nLD soak: {round_no} rounds, {checked} answers, {wrong} wrong, {errors} errors, {total} registry "
        f"requests, {resets.hits} resets, {len(server.requests)} token requests, {elapsed:.1f} s"
    )
    assert wrong == 0, failures[:20]
    assert len(restart_window) == 2, "the registry was not restarted during the soak"
    assert resets.hits >= total // RESET_EVERY - 2 > 0, (resets.hits, total)
    assert len(server.requests) >= 3, "tokens did not expire during the soak"
    # an error is tolerated only in a round that overlapped the restart (the retries may all fall inside it)
    down_from, down_to = restart_window
    outside = [m for t0, t1, m in error_rounds if t1 < down_from or t0 > down_to + 1]
    assert outside == [], outside[:20]
