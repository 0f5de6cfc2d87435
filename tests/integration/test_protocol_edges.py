"""Protocol edge cases of the core flow, against the real registry (through the fault proxy where needed)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from clirunner import creds, run_cli
from rig import Rig
from rig.faultproxy import Rule, remove_header, rewrite_header
from rig.tokenserver import ALICE, ALICE_PASSWORD, ALICE_REFRESH_TOKEN

ALICE_ENV = creds(ALICE, ALICE_PASSWORD)


def test_head_without_digest_header_falls_back_to_get(token_rig: Rig, fault_proxy_factory: Any) -> None:
    """BI: HEAD without Docker-Content-Digest → GET and hash the exact bytes."""
    proxy = fault_proxy_factory(token_rig.url)
    proxy.set_rules([Rule("*", r"/manifests/", remove_header("Docker-Content-Digest"))])
    result = run_cli(
        ["digest", "--plain-http", proxy.netloc, f"{proxy.netloc}/group/project:index"], ALICE_ENV
    )
    assert result.code == 0, result.err
    assert result.out.strip() == token_rig.seeded.digest("group/project", "index")
    assert proxy.count("GET", r"/manifests/index") == 1


def test_digest_header_disagreeing_with_body_is_an_error(token_rig: Rig, fault_proxy_factory: Any) -> None:
    """SEC/BI: a Docker-Content-Digest that disagrees with the body is exit 6, never a digest."""
    proxy = fault_proxy_factory(token_rig.url)
    wrong = "sha256:" + "0" * 64
    proxy.set_rules([Rule("GET", r"/manifests/", rewrite_header("Docker-Content-Digest", wrong))])
    result = run_cli(
        [
            "digest",
            "--platform",
            "linux/amd64",
            "--plain-http",
            proxy.netloc,
            f"{proxy.netloc}/group/project:index",
        ],
        ALICE_ENV,
    )
    assert result.code == 6
    assert "do not hash" in result.err


def test_malformed_digest_header_is_rejected(token_rig: Rig, fault_proxy_factory: Any) -> None:
    """BI: malformed digests from the server (path traversal, upper case) are validated before use."""
    proxy = fault_proxy_factory(token_rig.url)
    for bad in ("sha256:../../etc/passwd", "sha256:" + "A" * 64, "sha256:abc"):
        proxy.set_rules([Rule("HEAD", r"/manifests/", rewrite_header("Docker-Content-Digest", bad))])
        result = run_cli(
            ["exists", "--plain-http", proxy.netloc, f"{proxy.netloc}/group/project:oci"], ALICE_ENV
        )
        assert result.code == 6, (bad, result.err)


def test_identity_token_uses_oauth2_post(token_rig: Rig, isolated_env: Path) -> None:
    """docs/architecture.md §3: config.json identitytoken → OAuth2 refresh-token POST to the realm."""
    assert token_rig.token_server is not None
    token_rig.token_server.oauth_post = True
    config = {"auths": {token_rig.host: {"identitytoken": ALICE_REFRESH_TOKEN}}}
    (isolated_env / ".docker" / "config.json").write_text(json.dumps(config))
    result = run_cli(["exists", token_rig.ref("group/project", "oci")])
    assert result.code == 0, result.err
    assert [r.method for r in token_rig.token_server.requests] == ["POST"]


def test_identity_token_falls_back_to_get_when_post_is_404(token_rig: Rig, isolated_env: Path) -> None:
    """GitLab's /jwt/auth has no OAuth2 POST (404): fall back to GET with Basic, as docker does."""
    assert token_rig.token_server is not None
    config = {"auths": {token_rig.host: {"username": ALICE, "identitytoken": ALICE_PASSWORD}}}
    (isolated_env / ".docker" / "config.json").write_text(json.dumps(config))
    result = run_cli(["exists", token_rig.ref("group/project", "oci")])
    assert result.code == 0, result.err
    assert [r.method for r in token_rig.token_server.requests] == ["POST", "GET"]


def test_invalid_token_from_cache_is_refreshed_once(token_rig: Rig, fault_proxy_factory: Any) -> None:
    """PC: invalid_token refresh once — a cached token the registry rejects is replaced by one new token."""
    server = token_rig.token_server
    assert server is not None
    proxy = fault_proxy_factory(token_rig.url)
    server.ttl = 3
    server.exp_skew = -60  # the registry allows 60 s past exp: this token dies ~3 s after issue
    argv = ["exists", "--plain-http", proxy.netloc, f"{proxy.netloc}/group/project:oci"]
    assert run_cli(argv, ALICE_ENV).code == 0
    time.sleep(4)
    server.reset()  # fresh tokens are valid again; the cached one is dead
    proxy.reset_counters()
    result = run_cli(argv, ALICE_ENV)
    assert result.code == 0, result.err
    # the cached (dead) token was sent first, refused, and replaced by exactly one new token
    assert [(r.authorization, r.status) for r in proxy.requests] == [(True, 401), (True, 200)]
    assert len(server.requests) == 1


def test_token_endpoint_down_is_network_error(token_rig: Rig) -> None:
    """FT: token server down → exit 5, never absent."""
    server = token_rig.token_server
    assert server is not None
    server.stop()
    try:
        result = run_cli(
            ["exists", "--no-token-cache", "--timeout", "10", token_rig.ref("group/project", "oci")],
            ALICE_ENV,
        )
    finally:
        server.start()
    assert result.code == 5, result.err


def test_token_endpoint_5xx_is_registry_error(token_rig: Rig) -> None:
    """BI: token endpoint 5xx → exit 6 (credentialed token requests are not retried), never absent."""
    server = token_rig.token_server
    assert server is not None
    server.fail_status = 503
    result = run_cli(["exists", "--no-token-cache", token_rig.ref("group/project", "oci")], ALICE_ENV)
    assert result.code == 6, result.err
    assert len(server.requests) == 1
