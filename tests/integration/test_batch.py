"""Issue #4 acceptance: large batches through the fault proxy (LD: bounded concurrency, token single-flight;
FT: token expiry mid-batch).

The references go through the proxy (``127.0.0.1:PROXY/...``); the registry's challenge still names the token
server on 127.0.0.2, so token requests are counted there and registry requests at the proxy.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass

from clirunner import Result, creds, run_cli
from rig import Rig
from rig.faultproxy import FaultProxy, Rule, delay
from rig.proxy_fixtures import FaultProxyFactory
from rig.tokenserver import ALICE, ALICE_PASSWORD

ALICE_ENV = creds(ALICE, ALICE_PASSWORD)
PROJECT = "group/project"
NESTED = "group/sub/project/image"
PRESENT_TAGS = ("oci", "index", "docker", "list", "v1.2.3", "stable")


@dataclass(frozen=True)
class Expect:
    reference: str
    status: str  # present / absent / denied
    digest: str | None = None


def mixed_batch(rig: Rig, proxy: FaultProxy, n_per_kind: int) -> tuple[list[Expect], set[str]]:
    """Present and absent tags on two accessible repositories, and references to four denied repositories.

    Returns the expectations (shuffled deterministically) and the set of distinct repositories.
    """
    host = proxy.netloc
    run = uuid.uuid4().hex[:6]
    items: list[Expect] = []
    for i in range(n_per_kind):
        tag = PRESENT_TAGS[i % len(PRESENT_TAGS)]
        items.append(Expect(f"{host}/{PROJECT}:{tag}", "present", rig.seeded.digest(PROJECT, tag)))
        items.append(Expect(f"{host}/{PROJECT}:absent-{run}-{i:04d}", "absent"))
        if i % 2 == 0:
            items.append(Expect(f"{host}/{NESTED}:latest", "present", rig.seeded.digest(NESTED, "latest")))
        else:
            items.append(Expect(f"{host}/{NESTED}:absent-{run}-{i:04d}", "absent"))
        items.append(Expect(f"{host}/other/secret-{i % 4}:t{i:04d}", "denied"))
    # Interleave deterministically so every worker sees every kind.
    items = items[::2] + items[1::2]
    repos = {e.reference.split("/", 1)[1].rsplit(":", 1)[0] for e in items}
    return items, repos


def run_batch(items: list[Expect], *extra: str, env: dict[str, str] | None = None) -> Result:
    stdin = "# batch\n" + "\n".join(e.reference for e in items) + "\n"
    return run_cli(
        ["exists", "--jobs", "8", "-o", "jsonl", "--from-file", "-", *extra], env or ALICE_ENV, stdin=stdin
    )


def assert_all_correct(result: Result, items: list[Expect]) -> None:
    lines = [json.loads(line) for line in result.out.splitlines()]
    assert len(lines) == len(items)
    wrong = []
    for expect, got in zip(items, lines, strict=True):
        assert got["input"] == expect.reference  # input order kept
        if expect.status == "present":
            ok = got["status"] == "present" and got["digest"] == expect.digest
        elif expect.status == "absent":
            ok = got["status"] == "absent" and got["exit_code"] == 1
        else:
            ok = got["status"] == "error" and got["exit_code"] == 4
        if not ok:
            wrong.append((expect, got))
    assert not wrong, f"{len(wrong)} wrong answers, first: {wrong[:3]}"


def test_500_references_jobs_8_bounded_concurrency_and_one_token_per_repository(
    token_rig: Rig, fault_proxy_factory: FaultProxyFactory
) -> None:
    """LD: 500 mixed references, --jobs 8: every answer right, peak in-flight ≤ 8 at the proxy, token requests ≤
    distinct repositories (single-flight), exit 4 (denied outranks absent)."""
    assert token_rig.token_server is not None
    proxy = fault_proxy_factory(token_rig.url)
    proxy.add_rule(Rule("HEAD", r"/manifests/", delay(0.02)))  # lets concurrency build up
    items, repos = mixed_batch(token_rig, proxy, 125)
    assert len(items) == 500
    assert len(repos) == 6
    result = run_batch(items)
    assert result.code == 4, result.err[-2000:]
    assert_all_correct(result, items)
    assert 2 <= proxy.peak_concurrency <= 8
    token_requests = token_rig.token_server.requests
    assert len(token_requests) <= len(repos), [r.scopes for r in token_requests]
    assert ALICE_PASSWORD not in result.both


def test_token_expiry_mid_batch_known_expiry(token_rig: Rig, fault_proxy_factory: FaultProxyFactory) -> None:
    """FT: tokens live 5 s and say so (JWT exp); a batch spanning ~20 s refreshes them and answers everything."""
    assert token_rig.token_server is not None
    token_rig.token_server.ttl = 5
    token_rig.token_server.response_style = "expires"
    proxy = fault_proxy_factory(token_rig.url)
    proxy.add_rule(Rule("HEAD", r"/manifests/", delay(0.3)))
    items, _ = mixed_batch(token_rig, proxy, 60)  # 240 references × 0.3 s / 4 workers ≈ 18 s
    result = run_batch(items, "--jobs", "4")
    assert result.code == 4, result.err[-2000:]
    assert_all_correct(result, items)
    requests = token_rig.token_server.requests
    assert all(r.status == 200 for r in requests)
    span = requests[-1].time - requests[0].time
    # Every repository was refreshed as its tokens expired, not once per request (no stampede).
    assert len(requests) < len(items) / 2, (len(requests), span)


def test_token_expiry_mid_batch_registry_rejects_early(
    token_rig: Rig, fault_proxy_factory: FaultProxyFactory
) -> None:
    """FT: the registry starts refusing tokens ~5 s after issue while the client believes they live 60 s
    (exp_skew): each refusal (401 invalid_token) is answered by one fresh token, and every answer is right."""
    assert token_rig.token_server is not None
    token_rig.token_server.ttl = 5
    token_rig.token_server.exp_skew = -60  # the registry's 60 s leeway ends ~5 s after issue
    proxy = fault_proxy_factory(token_rig.url)
    proxy.add_rule(Rule("HEAD", r"/manifests/", delay(0.3)))
    items, _ = mixed_batch(token_rig, proxy, 60)
    result = run_batch(items, "--jobs", "4")
    assert result.code == 4, result.err[-2000:]
    assert_all_correct(result, items)
    requests = token_rig.token_server.requests
    assert len(requests) > 6  # tokens really expired mid-batch and were fetched again
    assert len(requests) < len(items) / 2
    rejected = [r for r in proxy.requests if r.status == 401 and r.auth_scheme == "Bearer"]
    assert rejected  # the registry did refuse expired tokens
