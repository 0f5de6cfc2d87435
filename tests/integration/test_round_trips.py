"""Round trips per check, counted at a proxy in front of the real registry (issue #2 item 7, issue #7)."""

from __future__ import annotations

from typing import Any

from clirunner import creds, run_cli
from rig import Rig
from rig.tokenserver import ALICE, ALICE_PASSWORD

ALICE_ENV = creds(ALICE, ALICE_PASSWORD)


def test_cold_check_is_three_requests_warm_is_one(token_rig: Rig, fault_proxy_factory: Any) -> None:
    """PC: cold = HEAD (401 + challenge) → token → HEAD; no /v2/ ping. Warm token cache = one HEAD."""
    proxy = fault_proxy_factory(token_rig.url)
    assert token_rig.token_server is not None
    ref = f"{proxy.netloc}/group/project:oci"
    cold = run_cli(["exists", "--plain-http", proxy.netloc, ref], ALICE_ENV)
    assert cold.code == 0, cold.err
    assert [(r.method, r.status) for r in proxy.requests] == [("HEAD", 401), ("HEAD", 200)]
    assert len(token_rig.token_server.requests) == 1
    assert proxy.count(path_regex=r"^/v2/?$") == 0

    proxy.reset_counters()
    token_rig.token_server.clear_requests()
    warm = run_cli(["exists", "--plain-http", proxy.netloc, ref], ALICE_ENV)
    assert warm.code == 0, warm.err
    assert [(r.method, r.status) for r in proxy.requests] == [("HEAD", 200)]
    assert len(token_rig.token_server.requests) == 0


def test_token_cache_is_per_identity(token_rig: Rig, fault_proxy_factory: Any) -> None:
    """SEC: a cached token is never used for another identity."""
    proxy = fault_proxy_factory(token_rig.url)
    ref = f"{proxy.netloc}/group/project:oci"
    assert run_cli(["exists", "--plain-http", proxy.netloc, ref], ALICE_ENV).code == 0
    other = run_cli(["exists", "--plain-http", proxy.netloc, ref], creds("bob", "bob-password"))
    assert other.code == 4


def test_no_token_cache_switches(token_rig: Rig, fault_proxy_factory: Any) -> None:
    """--no-token-cache and OCIREG_TOKEN_CACHE=0 each force a fresh token request."""
    proxy = fault_proxy_factory(token_rig.url)
    assert token_rig.token_server is not None
    ref = f"{proxy.netloc}/group/project:oci"
    assert run_cli(["exists", "--plain-http", proxy.netloc, ref], ALICE_ENV).code == 0
    token_rig.token_server.clear_requests()
    assert run_cli(["exists", "--no-token-cache", "--plain-http", proxy.netloc, ref], ALICE_ENV).code == 0
    assert (
        run_cli(["exists", "--plain-http", proxy.netloc, ref], {**ALICE_ENV, "OCIREG_TOKEN_CACHE": "0"}).code
        == 0
    )
    assert len(token_rig.token_server.requests) == 2


def test_cold_batch_learns_the_challenge_once(token_rig: Rig, fault_proxy_factory: Any) -> None:
    """LD/PC: a cold batch of 20 checks with 8 workers costs one 401 and one token request, not one per worker."""
    proxy = fault_proxy_factory(token_rig.url)
    assert token_rig.token_server is not None
    tags = ["oci", "index", "docker", "list", "v1.2.3", "stable"] * 3 + ["oci", "stable"]
    refs = [f"{proxy.netloc}/group/project:{tag}" for tag in tags]
    result = run_cli(
        ["exists", "--no-token-cache", "--jobs", "8", "--plain-http", proxy.netloc, *refs], ALICE_ENV
    )
    assert result.code == 0, result.err
    statuses = [r.status for r in proxy.requests]
    assert statuses.count(401) == 1
    assert statuses.count(200) == len(refs)
    assert len(token_rig.token_server.requests) == 1


def test_new_repository_with_known_realm_skips_the_401(token_rig: Rig, fault_proxy_factory: Any) -> None:
    """PC: once the realm is known (same run, or the cache file), a token for a new scope is fetched first."""
    proxy = fault_proxy_factory(token_rig.url)
    assert token_rig.token_server is not None
    argv = ["exists", "--plain-http", proxy.netloc]
    assert run_cli([*argv, f"{proxy.netloc}/group/project:oci"], ALICE_ENV).code == 0
    proxy.reset_counters()
    token_rig.token_server.clear_requests()
    nested = run_cli([*argv, f"{proxy.netloc}/group/sub/project/image:latest"], ALICE_ENV)
    assert nested.code == 0, nested.err
    assert [(r.method, r.status) for r in proxy.requests] == [("HEAD", 200)]
    assert len(token_rig.token_server.requests) == 1


def test_loopback_tls_probe_connection_carries_the_first_request(
    tls_rig: Rig, rig_pki: Any, fault_proxy_factory: Any
) -> None:
    """#16, PC: a cold check of a TLS registry on loopback opens one registry connection: the scheme probe's
    handshake (made with the host's TLS policy) is kept in the pool and carries both HEADs."""
    proxy = fault_proxy_factory(
        tls_rig.url, ca_file=tls_rig.ca_file, tls_context=rig_pki.server_context("127.0.0.1")
    )
    assert tls_rig.ca_file is not None
    ref = f"{proxy.netloc}/group/project:oci"
    cold = run_cli(["exists", "--no-token-cache", "--ca-file", tls_rig.ca_file, ref], ALICE_ENV)
    assert cold.code == 0, cold.err
    assert [(r.method, r.status) for r in proxy.requests] == [("HEAD", 401), ("HEAD", 200)]
    assert proxy.connections_opened == 1


def test_loopback_tls_probe_with_an_untrusted_certificate_still_decides_https(
    tls_rig: Rig, rig_pki: Any, fault_proxy_factory: Any
) -> None:
    """#16, SEC: a probe handshake that fails verification proves TLS: https is kept (never plain HTTP) and the
    request reports the untrusted certificate (exit 5)."""
    proxy = fault_proxy_factory(
        tls_rig.url, ca_file=tls_rig.ca_file, tls_context=rig_pki.server_context("127.0.0.1")
    )
    result = run_cli(["exists", "--no-token-cache", f"{proxy.netloc}/group/project:oci"], ALICE_ENV)
    assert result.code == 5, result.both
    assert "certificate" in result.err.lower()
    assert proxy.requests == []


def test_loopback_tls_probe_with_an_unreadable_ca_file_reports_the_ca_file(
    tls_rig: Rig, rig_pki: Any, fault_proxy_factory: Any, tmp_path: Any
) -> None:
    """#16, SEC: a --ca-file that is not a certificate is the error a check reports (exit 5, naming the file);
    the probe, which now builds the host's TLS policy, must not take that failure for "plain HTTP" and send the
    request in clear to a port that speaks TLS."""
    proxy = fault_proxy_factory(
        tls_rig.url, ca_file=tls_rig.ca_file, tls_context=rig_pki.server_context("127.0.0.1")
    )
    bad = tmp_path / "not-a-ca.pem"
    bad.write_text("-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n")
    ref = f"{proxy.netloc}/group/project:oci"
    result = run_cli(["exists", "--no-token-cache", "--ca-file", str(bad), ref], ALICE_ENV)
    assert result.code == 5, result.both
    assert "not-a-ca.pem" in result.err
    assert proxy.requests == []


def test_check_opens_one_registry_connection_ahead_of_its_first_request(
    token_rig: Rig, fault_proxy_factory: Any
) -> None:
    """#25 (LD: connection reuse): the connection a check opens while it gets ready (the preconnect) is the one
    its requests use: one registry connection cold and warm, and no request more than before."""
    proxy = fault_proxy_factory(token_rig.url)
    ref = f"{proxy.netloc}/group/project:oci"
    for expected in ([("HEAD", 401), ("HEAD", 200)], [("HEAD", 200)]):  # cold, then warm
        proxy.reset_counters()
        result = run_cli(["exists", "--plain-http", proxy.netloc, ref], ALICE_ENV)
        assert result.code == 0, result.err
        assert [(r.method, r.status) for r in proxy.requests] == expected
        assert proxy.connections_opened == 1
