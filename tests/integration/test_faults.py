"""Fault tests (FT): the registry, the network and the token service misbehave; ocireg keeps its answers honest.

The invariant every test here checks (``assert_absent_only_on_404``): ``exists`` reports absent (exit 1) only
when the registry answered 404 for that manifest. Faults end as present (after a transparent retry) or as an
error with the exit code of its cause (5 network, 6 registry, 7 rate limit, 3 credentials), never as absent.
Requests are counted at the fault proxy; no assertion depends on how fast the machine is.
"""

from __future__ import annotations

import contextlib
import email.utils
import json
import os
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from integration.faultkit import (
    ALICE_ENV,
    REPO,
    assert_absent_only_on_404,
    interrupt_when,
    json_results,
    manifest_statuses,
    ocireg_argv,
    plain,
    subprocess_env,
    via,
    wait_until,
)
from ocireg.client import RegistryClient
from ocireg.credentials import Credential
from ocireg.reference import parse_reference
from ocireg.transport import TransportConfig

from clirunner import creds, run_cli
from rig import ManyTags, Rig
from rig.faultproxy import (
    FaultProxy,
    Rule,
    delay,
    drip,
    reset,
    reset_mid_body,
    rewrite_realm,
    status,
    truncate,
)
from rig.tokenserver import ALICE, ALICE_PASSWORD

MANIFEST = r"^/v2/group/project/manifests/"


@pytest.fixture
def proxy(token_rig: Rig, fault_proxy_factory: Any) -> FaultProxy:
    """A fault proxy in front of the token-auth registry (the token server stays direct)."""
    made: FaultProxy = fault_proxy_factory(token_rig.url)
    return made


def _warm(proxy: FaultProxy, tag: str = "oci") -> None:
    """Fill the token cache (so the next run sends the token straight away), then forget the counters."""
    assert run_cli(["exists", *plain(proxy), via(proxy, REPO, tag)], ALICE_ENV).code == 0
    proxy.reset_counters()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ---------------------------------------------------------------------------------------------------------
# Registry down, resets, truncation
# ---------------------------------------------------------------------------------------------------------


def test_ft_registry_down_batch_every_line_is_an_error() -> None:
    """FT: registry down — every reference of a batch is an error (exit 5), none is absent; exists and digest."""
    port = _closed_port()
    refs = [f"127.0.0.1:{port}/{REPO}:{tag}" for tag in ("oci", "missing", "index")]
    for command in ("exists", "digest"):
        result = run_cli([command, "-o", "json", "--plain-http", f"127.0.0.1:{port}", *refs])
        assert result.code == 5, result.err
        results = json_results(result)
        assert [r["status"] for r in results] == ["error"] * 3
        assert {r["error"]["exit_code"] for r in results} == {5}
        assert all("connection refused" in r["error"]["message"] for r in results)
        assert_absent_only_on_404(result)


def test_ft_reset_before_response_is_retried_transparently(proxy: FaultProxy, token_rig: Rig) -> None:
    """FT: reset before response — HEAD is idempotent, so two resets are retried away (on new connections)."""
    _warm(proxy)
    rule = proxy.add_rule(Rule("HEAD", MANIFEST + "oci$", reset(), times=2))
    result = run_cli(["exists", *plain(proxy), via(proxy)], ALICE_ENV)
    assert result.code == 0, result.err
    assert result.out.split() == ["present", via(proxy), token_rig.seeded.digest(REPO, "oci")]
    assert rule.hits == 2
    assert manifest_statuses(proxy, "oci") == [None, None, 200]  # two resets, then the answer
    assert len({r.connection_id for r in proxy.requests}) == 3  # a reset connection is never reused


def test_ft_reset_every_time_is_a_network_error_after_bounded_retries(proxy: FaultProxy) -> None:
    """FT: a registry that always resets — exit 5 after 1 + 3 attempts, never absent."""
    proxy.add_rule(Rule("HEAD", MANIFEST, reset()))
    result = run_cli(["exists", *plain(proxy), via(proxy)], ALICE_ENV)
    assert result.code == 5, result.err
    assert proxy.count("HEAD") == 4
    assert "error" in result.out
    assert_absent_only_on_404(result, proxy)


@pytest.mark.parametrize("fault", [reset_mid_body(40), truncate(40)], ids=["reset-mid-body", "truncate"])
def test_ft_body_cut_short_is_never_a_digest(proxy: FaultProxy, token_rig: Rig, fault: Any) -> None:
    """FT: reset mid-body / truncated body — a GET manifest cut short once is fetched again; every time is exit 5.

    A digest is never computed over a partial body.
    """
    _warm(proxy, "index")
    args = ["digest", "--platform", "linux/amd64", *plain(proxy), via(proxy, REPO, "index")]
    expected = {c.digest for c in token_rig.seeded.get(REPO, "index").children}
    once = proxy.add_rule(Rule("GET", MANIFEST + "index$", fault, times=1))
    result = run_cli(args, ALICE_ENV)
    assert once.hits == 1
    assert result.code == 0, result.err
    assert result.out.strip() in expected

    assert proxy.count("GET", MANIFEST + "index$") == 2  # the cut answer, then the whole one
    proxy.clear_rules()
    proxy.reset_counters()
    proxy.add_rule(Rule("GET", MANIFEST + "index$", fault))
    always = run_cli(args, ALICE_ENV)
    assert always.code == 5, always.err
    assert "sha256:" not in always.out
    assert proxy.count("GET", MANIFEST + "index$") == 2  # one replay of the GET, not an endless loop


# ---------------------------------------------------------------------------------------------------------
# Timeouts and the total deadline
# ---------------------------------------------------------------------------------------------------------


@pytest.fixture
def unaccepting_port() -> Iterator[int]:
    """A loopback port whose accept queue is full: new connections hang in SYN (a connect timeout)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    for _ in range(8):
        filler = socket.socket()
        filler.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            filler.connect(("127.0.0.1", port))
        fillers.append(filler)
    try:
        yield port
    finally:
        for sock in (*fillers, listener):
            sock.close()


def test_ft_connect_timeout_is_network_error(unaccepting_port: int) -> None:
    """FT: connect timeout — a host that never completes the handshake is exit 5 within --timeout."""
    host = f"127.0.0.1:{unaccepting_port}"
    result = run_cli(["exists", "--timeout", "2", "--plain-http", host, f"{host}/{REPO}:oci"], ALICE_ENV)
    assert result.code == 5, result.err
    assert "error" in result.out
    assert_absent_only_on_404(result)


def test_ft_read_timeout_is_network_error(proxy: FaultProxy) -> None:
    """FT: read timeout — a registry that accepts and never answers is exit 5 at the deadline, not absent."""
    proxy.add_rule(Rule("HEAD", MANIFEST, delay(60)))
    result = run_cli(["exists", "--timeout", "2", *plain(proxy), via(proxy)], ALICE_ENV)
    assert result.code == 5, result.err
    assert "within" in result.err or "deadline" in result.err
    assert_absent_only_on_404(result, proxy)


def test_ft_slow_drip_stops_at_the_total_deadline(proxy: FaultProxy) -> None:
    """FT: slow drip vs the total deadline — 4 bytes every 0.5 s would take minutes; --timeout 3 ends it (exit 5).

    Every chunk arrives well inside the socket timeout, so only the total deadline can stop this body.
    """
    _warm(proxy, "index")
    proxy.add_rule(Rule("GET", MANIFEST + "index$", drip(4, 0.5)))
    result = run_cli(
        ["digest", "--platform", "linux/amd64", "--timeout", "3", *plain(proxy), via(proxy, REPO, "index")],
        ALICE_ENV,
    )
    # had the deadline not bounded the drip, the body would have arrived whole (exit 0) after minutes
    assert result.code == 5, result.err
    assert "deadline" in result.err or "stopped arriving" in result.err
    assert "sha256:" not in result.out


# ---------------------------------------------------------------------------------------------------------
# 429 and Retry-After
# ---------------------------------------------------------------------------------------------------------


def test_ft_429_retry_after_seconds_is_honoured(proxy: FaultProxy, token_rig: Rig) -> None:
    """FT: 429 + Retry-After (seconds) — wait as told, then the answer; the wait is the advertised one."""
    _warm(proxy)
    proxy.add_rule(Rule("HEAD", MANIFEST + "oci$", status(429, {"Retry-After": "1"}), times=1))
    result = run_cli(["exists", "--debug", *plain(proxy), via(proxy)], ALICE_ENV)
    assert result.code == 0, result.err
    assert token_rig.seeded.digest(REPO, "oci") in result.out
    assert manifest_statuses(proxy, "oci") == [429, 200]
    assert "retrying manifest" in result.err and "in 1.00s" in result.err


def test_ft_429_retry_after_http_date_is_honoured(proxy: FaultProxy) -> None:
    """FT: 429 + Retry-After as an HTTP-date (RFC 9110 §10.2.3) — waited for, then the answer."""
    _warm(proxy)
    when = email.utils.formatdate(time.time() + 2, usegmt=True)
    proxy.add_rule(Rule("HEAD", MANIFEST + "oci$", status(429, {"Retry-After": when}), times=1))
    result = run_cli(["exists", "--debug", *plain(proxy), via(proxy)], ALICE_ENV)
    assert result.code == 0, result.err
    assert manifest_statuses(proxy, "oci") == [429, 200]
    waits = [
        float(line.rsplit(" in ", 1)[1].rstrip("s")) for line in result.err.splitlines() if "retrying" in line
    ]
    assert len(waits) == 1 and 0 < waits[0] <= 2.5, waits


@pytest.mark.parametrize(
    "retry_after",
    ["30", "3600", "far-date"],
    ids=["longer-than-deadline", "longer-than-cap", "http-date-in-an-hour"],
)
def test_ft_429_retry_after_too_long_fails_fast_with_the_wait(proxy: FaultProxy, retry_after: str) -> None:
    """FT: Retry-After longer than the deadline (or the cap) — exit 7 at once with the advertised wait, no retry."""
    value = (
        email.utils.formatdate(time.time() + 3600, usegmt=True) if retry_after == "far-date" else retry_after
    )
    proxy.add_rule(Rule("HEAD", MANIFEST, status(429, {"Retry-After": value})))
    result = run_cli(["exists", "--timeout", "10", *plain(proxy), via(proxy)], ALICE_ENV)
    # exit 7 after one request: neither retried nor waited out (waiting would end at the deadline, exit 5)
    assert result.code == 7, result.err
    assert proxy.count("HEAD") == 1
    assert "wait" in result.err
    advertised = {"30": "30s", "3600": "3600s", "far-date": "s"}[retry_after]
    assert advertised in result.err
    assert_absent_only_on_404(result, proxy)


# ---------------------------------------------------------------------------------------------------------
# The status matrix
# ---------------------------------------------------------------------------------------------------------

RETRIED = {408: 6, 429: 7, 499: 6, 500: 6, 502: 6, 503: 6, 504: 6, 522: 6}
NOT_RETRIED = {400: 6, 403: 4, 404: 1, 405: 6, 501: 6}


@pytest.mark.parametrize("code", sorted(RETRIED | NOT_RETRIED))
def test_ft_status_matrix(proxy: FaultProxy, code: int) -> None:
    """FT: the status matrix — 408/429/499/500/502/503/504/522 retried (1 + 3 attempts), 400/403/404/405/501 not.

    Counted at the proxy. Only the 404 is "absent".
    """
    proxy.add_rule(Rule("HEAD", MANIFEST, status(code, {"Content-Type": "text/html"}, "<html>oops</html>")))
    result = run_cli(["exists", *plain(proxy), via(proxy)], ALICE_ENV)
    attempts = proxy.count("HEAD")
    if code in RETRIED:
        assert attempts == 4, attempts
        assert result.code == RETRIED[code], result.err
    else:
        assert attempts == 1, attempts
        assert result.code == NOT_RETRIED[code], result.err
    assert_absent_only_on_404(result, proxy)


# ---------------------------------------------------------------------------------------------------------
# Safe replay: token requests
# ---------------------------------------------------------------------------------------------------------


@pytest.fixture
def token_proxy(token_rig: Rig, proxy: FaultProxy, fault_proxy_factory: Any) -> FaultProxy:
    """A second fault proxy in front of the token server; the registry proxy points the realm at it."""
    assert token_rig.token_server is not None
    made: FaultProxy = fault_proxy_factory(token_rig.token_server.url)
    proxy.add_rule(Rule("*", r"^/v2/", rewrite_realm(f"{made.url}/jwt/auth")))
    return made


def test_ft_credentialed_token_request_is_never_retried(token_proxy: FaultProxy, proxy: FaultProxy) -> None:
    """FT: safe replay — a token request carrying Basic credentials is sent once, even when the connection resets.

    (GitLab counts failed Basic logins towards its abuse throttling; a replay could lock the account.)
    """
    token_proxy.add_rule(Rule("GET", r"^/jwt/auth", reset()))
    result = run_cli(["exists", "--no-token-cache", *plain(proxy), via(proxy)], ALICE_ENV)
    assert result.code == 5, result.err
    assert token_proxy.count("GET", r"^/jwt/auth") == 1
    assert token_proxy.requests[0].authorization
    assert_absent_only_on_404(result, proxy)


def test_ft_anonymous_token_request_is_retried(
    token_proxy: FaultProxy, proxy: FaultProxy, token_rig: Rig
) -> None:
    """FT: safe replay — an anonymous token request holds no credential and is retried like any GET."""
    token_proxy.add_rule(Rule("GET", r"^/jwt/auth", reset(), times=1))
    result = run_cli(["exists", "--no-token-cache", *plain(proxy), via(proxy, "public/app", "latest")])
    assert result.code == 0, result.err
    assert token_rig.seeded.digest("public/app", "latest") in result.out
    assert token_proxy.count("GET", r"^/jwt/auth") == 2
    assert not any(r.authorization for r in token_proxy.requests)


def test_ft_token_server_5xx_with_credentials_is_not_retried(
    token_proxy: FaultProxy, proxy: FaultProxy
) -> None:
    """FT: safe replay — a 502 from the token service to a credentialed request is exit 6 after one request."""
    token_proxy.add_rule(Rule("GET", r"^/jwt/auth", status(502)))
    result = run_cli(["exists", "--no-token-cache", *plain(proxy), via(proxy)], ALICE_ENV)
    assert result.code == 6, result.err
    assert token_proxy.count("GET", r"^/jwt/auth") == 1
    assert_absent_only_on_404(result, proxy)


def test_ft_token_endpoint_404_is_a_registry_error_not_absent(
    token_proxy: FaultProxy, proxy: FaultProxy
) -> None:
    """BI: token endpoint 401/403/404/5xx — a 404 (or 400 NAME_UNKNOWN) from the token service says nothing about
    the image: exit 6, never exit 1 "absent" (it used to surface as NotFound)."""
    token_proxy.add_rule(Rule("GET", r"^/jwt/auth", status(404)))
    result = run_cli(["exists", "--no-token-cache", *plain(proxy), via(proxy)], ALICE_ENV)
    assert result.code == 6, result.err
    assert "token service answered HTTP 404" in result.err
    assert_absent_only_on_404(result, proxy)


def test_ft_rejected_credentials_are_sent_to_the_token_service_once_per_batch(
    token_proxy: FaultProxy, proxy: FaultProxy
) -> None:
    """FT: safe replay / LD: token single-flight — with a wrong password, a batch of references in one
    repository costs ONE failed login, not one per reference or worker (GitLab throttles failed logins)."""
    refs = [via(proxy, REPO, tag) for tag in ("oci", "v1", "v2", "v3", "v4", "v5", "v6", "v7")]
    result = run_cli(
        ["exists", "--no-token-cache", "--jobs", "4", *plain(proxy), *refs], creds(ALICE, "not-the-password")
    )
    assert result.code == 3, result.err
    assert token_proxy.count("GET", r"^/jwt/auth") == 1
    assert_absent_only_on_404(result, proxy)


# ---------------------------------------------------------------------------------------------------------
# Tokens: expiry mid-batch, token server down, clock skew
# ---------------------------------------------------------------------------------------------------------


def test_ft_token_expiry_mid_batch(proxy: FaultProxy, many_tags_repo: ManyTags, token_rig: Rig) -> None:
    """FT: token expiry mid-batch (short) — tokens die ~2 s after issue; a 4 s batch re-authenticates, all correct."""
    server = token_rig.token_server
    assert server is not None
    server.ttl = 2
    server.exp_skew = -60  # the registry allows 60 s past exp: each token dies ~2 s after issue
    proxy.add_rule(Rule("HEAD", r"/manifests/", delay(0.1)))
    tags = many_tags_repo.tags[:60]
    refs = [via(proxy, many_tags_repo.repo, tag) for tag in tags]
    started = time.monotonic()
    result = run_cli(["exists", "-o", "json", "--jobs", "2", *plain(proxy), *refs], ALICE_ENV)
    elapsed = time.monotonic() - started
    assert result.code == 0, result.err
    results = json_results(result)
    assert [r["status"] for r in results] == ["present"] * len(refs)
    assert {r["digest"] for r in results} == {many_tags_repo.digest}
    rejected = sum(1 for r in proxy.requests if r.status == 401 and r.authorization)
    assert elapsed > 2.5, "the batch was too fast to outlive a token; slow the proxy down"
    assert rejected >= 1, "no token expired during the batch"
    # one token per expiry window (plus the first), not one per worker or per request
    assert len(server.requests) <= 2 + elapsed / 2 + 1


def test_ft_token_server_down_with_warm_cache_still_answers(proxy: FaultProxy, token_rig: Rig) -> None:
    """FT: token server down — a cached token still answers; without one every reference is exit 5, never absent."""
    server = token_rig.token_server
    assert server is not None
    _warm(proxy)
    server.stop()
    try:
        warm = run_cli(["exists", *plain(proxy), via(proxy)], ALICE_ENV)
        cold = run_cli(
            [
                "exists",
                "--no-token-cache",
                "--timeout",
                "10",
                *plain(proxy),
                via(proxy),
                via(proxy, REPO, "gone"),
            ],
            ALICE_ENV,
        )
    finally:
        server.start()
    assert warm.code == 0, warm.err
    assert cold.code == 5, cold.err
    assert [line.split()[0] for line in cold.out.splitlines()] == ["error", "error"]
    assert_absent_only_on_404(cold, proxy)


@pytest.mark.parametrize("offset", [-30, 30])
def test_ft_small_clock_skew_is_tolerated(proxy: FaultProxy, token_rig: Rig, offset: int) -> None:
    """FT: clock skew within the registry's leeway (token server ±30 s) — checks work."""
    assert token_rig.token_server is not None
    token_rig.token_server.clock_offset = offset
    result = run_cli(["exists", "--no-token-cache", *plain(proxy), via(proxy)], ALICE_ENV)
    assert result.code == 0, result.err


@pytest.mark.parametrize("offset", [-3600, 3600])
def test_ft_large_clock_skew_is_an_auth_error_not_absent(
    proxy: FaultProxy, token_rig: Rig, offset: int
) -> None:
    """FT: clock skew of an hour (tokens expired or not yet valid for the registry) — exit 3 naming the clock.

    The refused token is replaced once (invalid_token refresh) and then the error is reported: no loop.
    """
    server = token_rig.token_server
    assert server is not None
    server.clock_offset = offset
    result = run_cli(["exists", "--no-token-cache", *plain(proxy), via(proxy)], ALICE_ENV)
    assert result.code == 3, result.err
    assert "clock" in result.err
    assert len(server.requests) <= 2
    assert proxy.count("HEAD") <= 3
    assert_absent_only_on_404(result, proxy)


# ---------------------------------------------------------------------------------------------------------
# Registry restart, stale keep-alive, DNS
# ---------------------------------------------------------------------------------------------------------


def _met_registry_down(proxy: FaultProxy) -> bool:
    """Whether a request reached the proxy while its upstream could not answer (502/503/504 or an upstream error)."""
    return any(r.status in (502, 503, 504) or r.outcome == "upstream-error" for r in proxy.requests)


def test_ft_registry_restart_mid_batch(proxy: FaultProxy, many_tags_repo: ManyTags, token_rig: Rig) -> None:
    """FT: registry restart mid-batch — requests during the restart are retried; no answer is wrong.

    Debian's registry restarts in ~60 ms here, so a bare restart could fall between two requests (it missed in
    most rounds once the batch got faster, #25). A real registry takes seconds to restart, so the rig's restart
    is made more like one: the registry stays down until a request has met it down (bounded: 2 s), then starts
    again. The scenario is repeated (at most 8 times) until a request met the restart; every round must answer
    correctly.
    """
    proxy.add_rule(Rule("HEAD", r"/manifests/", delay(0.05)))
    tags = many_tags_repo.tags[:120]
    refs = [via(proxy, many_tags_repo.repo, tag) for tag in tags]
    hit = False
    for _round in range(8):
        proxy.reset_counters()
        restarted = threading.Event()

        def restart_when_busy(event: threading.Event = restarted) -> None:
            if wait_until(lambda: proxy.count("HEAD") >= 30, timeout=30):
                token_rig.registry.stop()
                wait_until(lambda: _met_registry_down(proxy), timeout=2)
                token_rig.registry.start()
                event.set()

        thread = threading.Thread(target=restart_when_busy, daemon=True)
        thread.start()
        result = run_cli(["exists", "-o", "json", "--jobs", "4", *plain(proxy), *refs], ALICE_ENV)
        thread.join(60)
        assert restarted.is_set(), "the batch finished before the restart; slow the proxy down"
        results = json_results(result)
        assert len(results) == len(refs)
        for doc in results:
            assert doc["status"] in ("present", "error"), doc
            if doc["status"] == "present":
                assert doc["digest"] == many_tags_repo.digest
            else:
                assert doc["error"]["exit_code"] in (5, 6), doc
        # Requests during the restart are retried with jittered backoff; a reference whose every retry fell
        # inside the (sub-second) restart may end as an error, never as a wrong answer. At most one per worker.
        errors = [d for d in results if d["status"] != "present"]
        assert len(errors) <= 4, errors
        assert result.code == (5 if any(d["error"]["exit_code"] == 5 for d in errors) else 6 if errors else 0)
        assert_absent_only_on_404(result, proxy)
        proxy.wait_idle()
        if any(r.status in (502, 503) or r.outcome != "ok" for r in proxy.requests):
            hit = True
            break
    assert hit, "no request met the restart in 8 rounds"


def test_ft_stale_keepalive_after_registry_restart(token_rig: Rig) -> None:
    """FT: stale keep-alive — the registry restarts between two requests of one client; the second still answers.

    The pooled connection is dead after the restart: at most one transparent retry, no error.
    """
    alice = Credential(username=ALICE, password=ALICE_PASSWORD, source="test")
    ref = parse_reference(token_rig.ref(REPO, "oci"))
    expected = token_rig.seeded.digest(REPO, "oci")
    with RegistryClient(
        alice, config=TransportConfig(plain_http_hosts=frozenset({token_rig.host}))
    ) as client:
        assert str(client.head_manifest(ref).digest) == expected
        before = client.transport.request_count
        token_rig.registry.restart()
        assert str(client.head_manifest(ref).digest) == expected
        assert client.transport.request_count - before in (1, 2)


def test_ft_stale_keepalive_server_closed_idle_connection(token_rig: Rig, fault_proxy_factory: Any) -> None:
    """FT: stale keep-alive — the server closes idle keep-alive connections; the next request opens a new one."""
    idle_proxy: FaultProxy = fault_proxy_factory(token_rig.url, idle_timeout=0.3)
    alice = Credential(username=ALICE, password=ALICE_PASSWORD, source="test")
    ref = parse_reference(via(idle_proxy))
    config = TransportConfig(plain_http_hosts=frozenset({idle_proxy.netloc}))
    with RegistryClient(alice, config=config) as client:
        assert client.exists(ref)
        assert wait_until(lambda: idle_proxy.threads_alive == 0, timeout=10)  # the proxy closed it
        before = client.transport.request_count
        assert client.exists(ref)
        assert client.transport.request_count - before in (1, 2)
    assert idle_proxy.connections_opened == 2


def test_ft_stale_keepalive_reset_on_reused_connection(proxy: FaultProxy) -> None:
    """FT: stale keep-alive — a reused connection that dies on the next request: one retry on a fresh connection."""
    alice = Credential(username=ALICE, password=ALICE_PASSWORD, source="test")
    ref = parse_reference(via(proxy))
    config = TransportConfig(plain_http_hosts=frozenset({proxy.netloc}))
    with RegistryClient(alice, config=config) as client:
        assert client.exists(ref)
        proxy.reset_counters()
        proxy.add_rule(Rule("HEAD", MANIFEST, reset(), times=1))
        assert client.exists(ref)
    # The client can hold the whole response before the proxy thread records the outcome.
    assert proxy.wait_idle()
    records = proxy.requests
    assert [r.outcome for r in records] == ["reset", "ok"]
    assert records[0].connection_id != records[1].connection_id


def test_ft_dns_failure_is_network_error(proxy: FaultProxy, token_rig: Rig) -> None:
    """FT: DNS failure — a .invalid host name is exit 5 with a DNS hint; the other references still answer."""
    bad = "registry.example.invalid/group/project:v1"
    result = run_cli(["exists", "--timeout", "20", *plain(proxy), via(proxy), bad], ALICE_ENV)
    assert result.code == 5, result.err
    lines = [line.split() for line in result.out.splitlines()]
    assert lines[0][:2] == ["present", via(proxy)]
    assert lines[1][:2] == ["error", bad]
    assert "DNS" in result.err
    assert_absent_only_on_404(result, proxy)


# ---------------------------------------------------------------------------------------------------------
# Partial batch failure
# ---------------------------------------------------------------------------------------------------------


def test_ft_partial_batch_failure_each_line_correct(proxy: FaultProxy, token_rig: Rig) -> None:
    """FT: partial batch failure — some references time out or fail, the others answer; each result is its own."""
    proxy.add_rule(Rule("HEAD", MANIFEST + "docker$", delay(60)))
    proxy.add_rule(Rule("HEAD", MANIFEST + "list$", status(503)))
    tags = ["oci", "docker", "missing", "list", "index", "stable"]
    refs = [via(proxy, REPO, tag) for tag in tags]
    result = run_cli(
        ["exists", "-o", "json", "--timeout", "4", "--jobs", "3", *plain(proxy), *refs], ALICE_ENV
    )
    results = json_results(result)
    assert [r["input"] for r in results] == refs
    by_tag = dict(zip(tags, results, strict=True))
    for tag in ("oci", "index", "stable"):
        assert by_tag[tag]["status"] == "present"
        assert by_tag[tag]["digest"] == token_rig.seeded.digest(REPO, tag)
    assert by_tag["missing"]["status"] == "absent"
    assert by_tag["docker"]["status"] == "error" and by_tag["docker"]["error"]["exit_code"] == 5
    assert by_tag["list"]["status"] == "error" and by_tag["list"]["error"]["exit_code"] == 6
    assert result.code == 5  # the most serious class present (5 > 6 > 1)
    assert_absent_only_on_404(result, proxy)


def test_ft_hanging_first_request_does_not_sink_the_batch(proxy: FaultProxy, token_rig: Rig) -> None:
    """FT: partial batch failure — the batch's first request (the one that learns the challenge while the others
    wait) hangs. The other first-wave reference stops waiting with half its budget left and answers on its own,
    and its answer releases the references after it, which keep their whole budget.

    Whichever of oci/index leads, its HEAD is the first to reach the proxy: ``times=1`` makes exactly that one
    hang. ``list`` starts once the other one is done and needs about 3 of its 4 s (three 503s, each with
    Retry-After: 1) to end with the registry's own answer (exit 6); had it waited on the hung leader too, its
    deadline would cut the retries short (exit 5 or 7).
    """
    hang = Rule("HEAD", MANIFEST, delay(60), times=1)
    proxy.add_rule(hang)
    proxy.add_rule(Rule("HEAD", MANIFEST + "list$", status(503, {"Retry-After": "1"})))
    tags = ["oci", "index", "list"]
    refs = [via(proxy, REPO, tag) for tag in tags]
    result = run_cli(
        ["exists", "-o", "json", "--timeout", "4", "--jobs", "2", *plain(proxy), *refs], ALICE_ENV
    )
    results = json_results(result)
    assert hang.hits == 1
    first_wave = {tag: r for tag, r in zip(tags, results, strict=True) if tag != "list"}
    assert sorted(r["status"] for r in first_wave.values()) == ["error", "present"], result.out
    for tag, r in first_wave.items():
        if r["status"] == "present":
            assert r["digest"] == token_rig.seeded.digest(REPO, tag)
        else:
            assert r["error"]["exit_code"] == 5
    assert results[2]["status"] == "error" and results[2]["error"]["exit_code"] == 6, result.out
    assert result.code == 5


# ---------------------------------------------------------------------------------------------------------
# Signals: SIGINT and SIGPIPE on a real process
# ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("jobs", ["1", "4"])
def test_ft_sigint_exits_130_without_traceback(proxy: FaultProxy, jobs: str) -> None:
    """FT: SIGINT while requests hang — exit 130 promptly, "interrupted", no traceback (single and batch)."""
    proxy.add_rule(Rule("HEAD", MANIFEST, delay(60)))
    refs = [via(proxy, REPO, tag) for tag in ("oci", "index", "docker", "list")]
    argv = ocireg_argv("exists", "--jobs", jobs, "--timeout", "100", *plain(proxy), *refs)
    # the requests hang for 60 s and --timeout is 100 s: only a prompt interrupt ends within 30 s
    code, out, err = interrupt_when(argv, ALICE_ENV, lambda: proxy.in_flight >= 1)
    assert code == 130, err
    assert "Traceback" not in err
    assert "interrupted" in err
    assert "absent" not in out


def test_ft_sigpipe_reader_gone_no_traceback(proxy: FaultProxy) -> None:
    """FT: SIGPIPE — stdout's reader is gone before output (``| head -0``); no traceback, no "Exception ignored"."""
    refs = [via(proxy, REPO, tag) for tag in ("oci", "index", "docker", "list", "missing")]
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before ocireg writes anything
    try:
        proc = subprocess.run(
            ocireg_argv("exists", "-o", "jsonl", *plain(proxy), *refs),
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            env=subprocess_env(ALICE_ENV),
            timeout=60,
            check=False,
        )
    finally:
        os.close(write_end)
    assert "Traceback" not in proc.stderr
    assert "Exception ignored" not in proc.stderr
    assert "BrokenPipe" not in proc.stderr
    assert proc.returncode == 141, proc.stderr  # 128 + SIGPIPE, as a shell reports it


# PYTHONUNBUFFERED=1 is common in CI images; without it stdout is block-buffered and output can still be
# waiting in the buffer when the process exits. Both paths end the same way: 141, nothing on stderr.
SIGPIPE_BUFFERING = {"block-buffered": None, "unbuffered": "1"}


@pytest.mark.parametrize("buffering", sorted(SIGPIPE_BUFFERING))
@pytest.mark.parametrize(
    "argv",
    [["--version"], ["--version", "-v"], ["completion", "bash"], ["exists", "--help"]],
    ids=["version", "version-verbose", "completion", "help"],
)
def test_ft_sigpipe_every_output_path(buffering: str, argv: list[str]) -> None:
    """FT (#14 item 16): every way ocireg writes to stdout survives a reader that is gone, buffered or not.

    Block-buffered, the text is still in the buffer at exit: without pointing stdout at /dev/null first, the
    interpreter's final flush fails again and exits 120 with "Exception ignored". Unbuffered, the first write
    fails: the fast --version paths must turn it into 141 too, not a traceback. argparse swallows a failed
    write of --help itself (it exits 0 then), so help may end 0 or 141.
    """
    env = subprocess_env()
    env.pop("PYTHONUNBUFFERED", None)
    if SIGPIPE_BUFFERING[buffering]:
        env["PYTHONUNBUFFERED"] = "1"
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        proc = subprocess.run(
            ocireg_argv(*argv),
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            timeout=60,
            check=False,
        )
    finally:
        os.close(write_end)
    assert proc.stderr == ""
    assert proc.returncode in ((0, 141) if "--help" in argv else (141,))


def test_ft_sigpipe_shell_pipeline_head(proxy: FaultProxy) -> None:
    """FT: SIGPIPE — ``ocireg exists ... | head -c0`` in a shell: stderr stays clean."""
    refs = " ".join(via(proxy, REPO, tag) for tag in ("oci", "index", "docker", "list"))
    command = " ".join(ocireg_argv("exists", "-o", "jsonl", *plain(proxy))) + f" {refs} | head -c0"
    proc = subprocess.run(
        ["/bin/sh", "-c", command],
        capture_output=True,
        text=True,
        env=subprocess_env(ALICE_ENV),
        timeout=60,
        check=False,
    )
    assert proc.stdout == ""
    assert "Traceback" not in proc.stderr
    assert "Exception ignored" not in proc.stderr


def test_ft_json_output_survives_every_fault_class(proxy: FaultProxy) -> None:
    """FT: whatever failed, -o json stays one valid document with a result per reference."""
    proxy.add_rule(Rule("HEAD", MANIFEST + "oci$", status(503)))
    proxy.add_rule(Rule("HEAD", MANIFEST + "index$", status(429, {"Retry-After": "999"})))
    proxy.add_rule(Rule("HEAD", MANIFEST + "docker$", reset()))
    refs = [via(proxy, REPO, tag) for tag in ("oci", "index", "docker", "missing")]
    result = run_cli(["exists", "-o", "json", *plain(proxy), *refs], ALICE_ENV)
    doc = json.loads(result.out)
    assert [r["status"] for r in doc["results"]] == ["error", "error", "error", "absent"]
    assert [r["exit_code"] for r in doc["results"]] == [6, 7, 5, 1]
    assert result.code == doc["exit_code"] == 5
    assert_absent_only_on_404(result, proxy)
