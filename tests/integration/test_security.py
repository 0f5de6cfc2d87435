"""Security tests (SEC): a hostile or misconfigured registry, proxy or config never gets ocireg to leak a credential.

Each test names the rule of docs/architecture.md §4 it checks and, in SECURITY.md, the advisory behind it. The credential
sink (a server on 127.0.0.2/3) records any credential it receives; every test that involves it asserts it
received none. Only loopback addresses are ever contacted: "public" registry names end in ``.invalid`` and are
reached through the fault proxy acting as an HTTP proxy (``ALL_PROXY``), so DNS is never asked.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import stat
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from integration.faultkit import (
    ALICE_ENV,
    REPO,
    ocireg_argv,
    plain,
    subprocess_env,
    via,
)
from ocireg.client import RegistryClient
from ocireg.credentials import Credential
from ocireg.errors import ProtocolViolation
from ocireg.reference import Digest, parse_reference
from ocireg.transport import TransportConfig

from clirunner import creds, run_cli
from rig import Pki, Rig
from rig.faultproxy import (
    FaultProxy,
    Rule,
    add_header,
    redirect,
    remove_header,
    replace_body,
    rewrite_header,
    rewrite_realm,
    status,
)
from rig.seed import OCI_MANIFEST, sha256_digest
from rig.sink import Sink
from rig.tokenserver import (
    ALICE,
    ALICE_PASSWORD,
    BOB,
    BOB_PASSWORD,
    DEPLOY_TOKEN,
    DEPLOY_USER,
    JOB_TOKEN,
    JOB_USER,
    ROOT,
    ROOT_PASSWORD,
)

PUBLIC_NAME = "registry.example.invalid"
CANARY_PASSWORD = "canary-PW-5b1e9c"
CANARY_QUERY = "canary-Q-0d4f77"
CANARY_SIGNATURE = "canary-SIG-a8c3e1"
MANIFEST = r"^/v2/group/project/manifests/"


@pytest.fixture
def proxy(token_rig: Rig, fault_proxy_factory: Any) -> FaultProxy:
    made: FaultProxy = fault_proxy_factory(token_rig.url)
    return made


def _warm(proxy: FaultProxy, tag: str = "oci") -> None:
    """Fill the token cache so the next run sends ``Authorization`` on its very first request."""
    assert run_cli(["exists", *plain(proxy), via(proxy, REPO, tag)], ALICE_ENV).code == 0
    proxy.reset_counters()


def _assert_sink_clean(sink: Sink) -> None:
    assert sink.credentials_received() == [], sink.credentials_received()


def _tls_proxy(rig: Rig, pki: Pki, factory: Any) -> FaultProxy:
    """An HTTPS fault proxy on 127.0.0.1 (rig CA) in front of the TLS registry."""
    made: FaultProxy = factory(rig.url, ca_file=rig.ca_file, tls_context=pki.server_context("127.0.0.1"))
    return made


# ---------------------------------------------------------------------------------------------------------
# Realm validation before any connection
# ---------------------------------------------------------------------------------------------------------


def test_sec_realm_on_loopback_for_a_public_registry_is_refused(
    token_rig: Rig, fault_proxy_factory: Any, sink: Sink
) -> None:
    """SEC: realm validation before any connection — a public registry's realm on a loopback address (realm SSRF).

    The registry is ``registry.example.invalid`` (reached through an HTTP proxy); its challenge points the realm
    at the sink on 127.0.0.2 (and, in the second run, the real token server on 127.0.0.2): refused, exit 6,
    nothing sent to either.
    """
    assert token_rig.token_server is not None
    proxy: FaultProxy = fault_proxy_factory(token_rig.url)
    env = {**ALICE_ENV, "ALL_PROXY": proxy.url}
    ref = f"{PUBLIC_NAME}/{REPO}:oci"
    proxy.add_rule(Rule("*", r"^/v2/", rewrite_realm(f"{sink.url}/jwt/auth")))
    result = run_cli(["exists", "--no-token-cache", "--plain-http", PUBLIC_NAME, ref], env)
    assert result.code == 6, result.err
    assert "realm" in result.err
    assert sink.requests == []
    proxy.clear_rules()
    genuine = run_cli(["exists", "--no-token-cache", "--plain-http", PUBLIC_NAME, ref], env)
    assert genuine.code == 6, genuine.err
    assert token_rig.token_server.requests == []
    assert proxy.count() == 2 and not any(r.authorization for r in proxy.requests)


def test_sec_http_realm_for_https_registry_is_refused(
    tls_rig: Rig, rig_pki: Pki, fault_proxy_factory: Any, sink: Sink
) -> None:
    """SEC: realm validation — an https registry whose challenge names a plain-http realm: refused, nothing sent."""
    assert tls_rig.ca_file is not None
    proxy = _tls_proxy(tls_rig, rig_pki, fault_proxy_factory)
    proxy.add_rule(Rule("*", r"^/v2/", rewrite_realm(f"{sink.url}/jwt/auth?private_token={CANARY_QUERY}")))
    result = run_cli(["exists", "--no-token-cache", "--ca-file", tls_rig.ca_file, via(proxy)], ALICE_ENV)
    assert result.code == 6, result.err
    assert "plain HTTP" in result.err
    assert CANARY_QUERY not in result.both  # the refused realm is named without its query values
    assert sink.requests == []


def test_sec_realm_with_userinfo_is_refused(proxy: FaultProxy, sink: Sink) -> None:
    """SEC: realm validation — a realm with userinfo (``http://user:pw@host``) is refused before any connection."""
    proxy.add_rule(Rule("*", r"^/v2/", rewrite_realm(f"http://evil:pw@{sink.netloc}/jwt/auth")))
    result = run_cli(["exists", "--no-token-cache", *plain(proxy), via(proxy)], ALICE_ENV)
    assert result.code == 6, result.err
    assert "userinfo" in result.err
    assert "evil:pw" not in result.err
    assert sink.requests == []


# ---------------------------------------------------------------------------------------------------------
# No credentials through redirects, cross-host challenges, token-server redirects
# ---------------------------------------------------------------------------------------------------------


def test_sec_manifest_head_redirect_to_sink_and_cross_host_challenge(
    proxy: FaultProxy, sink: Sink, token_rig: Rig
) -> None:
    """SEC: no credentials through redirects; cross-host challenge — the token is not forwarded, and the other
    host's Bearer challenge is refused (exit 4) without any token request to its realm."""
    _warm(proxy)
    realm = sink.challenge(scope="repository:group/project:pull")
    proxy.add_rule(Rule("HEAD", MANIFEST, redirect(lambda path: sink.url + path)))
    assert token_rig.token_server is not None
    token_rig.token_server.clear_requests()
    result = run_cli(["exists", *plain(proxy), via(proxy)], ALICE_ENV)
    assert result.code == 4, result.err
    assert "another host" in result.err
    assert proxy.requests[0].authorization  # the token was in play...
    _assert_sink_clean(sink)  # ...and never reached the sink
    assert [r.path for r in sink.requests] == ["/v2/group/project/manifests/oci"]
    assert not any(r.path == "/token" for r in sink.requests), realm
    assert token_rig.token_server.requests == []


def test_sec_manifest_get_redirect_to_sink(proxy: FaultProxy, sink: Sink) -> None:
    """SEC: no credentials through redirects — a manifest GET redirected to another host: no Authorization there,
    and its answer (not the registry's manifest) is rejected, never printed as a digest."""
    _warm(proxy, "index")
    proxy.add_rule(Rule("GET", MANIFEST, redirect(lambda path: sink.url + path, 302)))
    result = run_cli(
        ["digest", "--platform", "linux/amd64", *plain(proxy), via(proxy, REPO, "index")], ALICE_ENV
    )
    assert result.code == 6, result.err
    assert "sha256:" not in result.out
    assert proxy.requests[0].authorization
    assert len(sink.requests) == 1
    _assert_sink_clean(sink)


def test_sec_blob_get_redirect_to_sink(proxy: FaultProxy, sink: Sink, token_rig: Rig) -> None:
    """SEC: no credentials through redirects — blob GETs are redirected to storage hosts in real life; the config
    blob fetch follows without the token, and the foreign bytes fail digest verification (exit 6)."""
    _warm(proxy)
    proxy.add_rule(Rule("GET", r"/blobs/sha256:", redirect(lambda path: sink.url + path)))
    result = run_cli(["inspect", *plain(proxy), via(proxy)], ALICE_ENV)
    assert result.code == 6, result.err
    assert any(r.authorization and "/blobs/" in r.path for r in proxy.requests)
    assert any("/blobs/" in r.path for r in sink.requests)
    _assert_sink_clean(sink)


def test_sec_basic_credentials_never_follow_a_redirect(
    basic_rig: Rig, fault_proxy_factory: Any, sink: Sink
) -> None:
    """SEC: no credentials through redirects — pre-emptive Basic credentials are dropped on a cross-host hop."""
    assert basic_rig.basic_auth is not None
    proxy: FaultProxy = fault_proxy_factory(basic_rig.url)
    sink.challenge()
    proxy.add_rule(Rule("HEAD", MANIFEST + "docker$", redirect(lambda path: sink.url + path)))
    refs = [via(proxy, REPO, "oci"), via(proxy, REPO, "docker")]
    result = run_cli(["exists", "--jobs", "1", *plain(proxy), *refs], creds(*basic_rig.basic_auth))
    assert result.code == 4, result.err
    assert result.out.splitlines()[0].split()[0] == "present"
    assert [r.auth_scheme for r in proxy.requests if r.path.endswith("/docker")] == ["Basic"]
    _assert_sink_clean(sink)


def test_sec_https_to_http_redirect_is_never_followed(
    tls_rig: Rig, rig_pki: Pki, fault_proxy_factory: Any, sink: Sink
) -> None:
    """SEC: never downgrade https → http — a redirect to a plain-http URL is refused; the sink hears nothing."""
    assert tls_rig.ca_file is not None
    proxy = _tls_proxy(tls_rig, rig_pki, fault_proxy_factory)
    proxy.add_rule(Rule("HEAD", MANIFEST, redirect(lambda path: sink.url + path)))
    result = run_cli(["exists", "--ca-file", tls_rig.ca_file, via(proxy)], ALICE_ENV)
    assert result.code == 6, result.err
    assert "https to http" in result.err
    assert sink.requests == []


def test_sec_redirect_loop_is_bounded(proxy: FaultProxy) -> None:
    """SEC: bounded redirect hops — a registry redirecting to itself forever is exit 6 after a few hops."""
    proxy.add_rule(Rule("HEAD", MANIFEST, redirect(lambda path: proxy.url + path)))
    result = run_cli(["exists", *plain(proxy), via(proxy)], ALICE_ENV)
    assert result.code == 6, result.err
    assert "redirects" in result.err
    assert proxy.count("HEAD") <= 4 * 6  # (1 + 3 retries at most) x (1 + 5 hops)


def test_sec_token_server_redirect_is_not_followed(
    proxy: FaultProxy, token_rig: Rig, fault_proxy_factory: Any, sink: Sink
) -> None:
    """SEC: token-server redirect — a realm answering 302 is not followed (the Basic credentials stay home)."""
    assert token_rig.token_server is not None
    token_proxy: FaultProxy = fault_proxy_factory(token_rig.token_server.url)
    proxy.add_rule(Rule("*", r"^/v2/", rewrite_realm(f"{token_proxy.url}/jwt/auth")))
    token_proxy.add_rule(Rule("*", r"^/jwt/auth", redirect(lambda path: sink.url + path, 302)))
    result = run_cli(["exists", "--no-token-cache", *plain(proxy), via(proxy)], ALICE_ENV)
    assert result.code == 6, result.err
    assert "redirect" in result.err
    assert token_proxy.count() == 1 and token_proxy.requests[0].auth_scheme == "Basic"
    assert sink.requests == []


def test_sec_link_to_another_host_is_not_followed(proxy: FaultProxy, sink: Sink) -> None:
    """SEC: Link SSRF — a tags/list ``Link: rel=next`` to another host is refused; the sink gets no request."""
    _warm(proxy)
    link = f'<{sink.url}/v2/group/project/tags/list?n=2&last=b>; rel="next"'
    proxy.add_rule(Rule("GET", r"/tags/list", rewrite_header("Link", link)))
    result = run_cli(["tags", *plain(proxy), f"{proxy.netloc}/{REPO}"], ALICE_ENV)
    assert result.code == 6, result.err
    assert "another host" in result.err
    assert sink.requests == []


def test_sec_upload_location_on_another_host_is_refused(proxy: FaultProxy, sink: Sink) -> None:
    """SEC: Location SSRF — an upload ``Location`` on another host gets neither the token nor the data."""
    alice = Credential(username=ALICE, password=ALICE_PASSWORD, source="test")
    proxy.add_rule(Rule("POST", r"/blobs/uploads/", rewrite_header("Location", f"{sink.url}/upload/here")))
    data = b"sec-location-test " + str(time.time()).encode()
    digest = Digest.parse(sha256_digest(data))
    repository = parse_reference(via(proxy)).repository
    config = TransportConfig(plain_http_hosts=frozenset({proxy.netloc}))
    with (
        RegistryClient(alice, config=config) as client,
        pytest.raises(ProtocolViolation, match="another origin"),
    ):
        client.upload_blob(repository, digest, len(data), [data])
    assert sink.requests == []


def test_sec_foreign_layer_urls_are_never_fetched(proxy: FaultProxy, token_rig: Rig, sink: Sink) -> None:
    """SEC: ``urls`` SSRF (CVE-2020-15157) — a source manifest whose non-distributable layer lists ``urls`` on
    the sink: copying it never contacts the sink (with or without credentials)."""
    config = b'{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}'
    with token_rig.pusher() as pusher:
        config_digest = pusher.put_blob(REPO, config)
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": config_digest,
            "size": len(config),
        },
        "layers": [
            {
                "mediaType": "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
                "digest": "sha256:" + "ab" * 32,
                "size": 1234,
                "urls": [f"{sink.url}/layer.tar.gz", f"{sink.url}/v2/{REPO}/blobs/sha256:{'ab' * 32}"],
            }
        ],
    }
    body = json.dumps(manifest, indent=2).encode()
    # distribution 2.8 refuses to store such a manifest without a urls allow-list: the proxy serves it instead
    proxy.add_rule(
        Rule(
            "*",
            MANIFEST + "oci$",
            [
                replace_body(body),
                remove_header("Docker-Content-Digest"),
                rewrite_header("Content-Type", OCI_MANIFEST),
            ],
        )
    )
    result = run_cli(
        ["copy", *plain(proxy), via(proxy), token_rig.ref("group/sub/project", "foreign")], ALICE_ENV
    )
    assert result.code in (0, 6), result.err  # copied without the foreign layer, or refused: never fetched
    assert sink.requests == []


# ---------------------------------------------------------------------------------------------------------
# Plain HTTP only by policy; TLS on by default, CA file, per-host skip-verify
# ---------------------------------------------------------------------------------------------------------


def test_sec_public_registry_never_speaks_plain_http_without_the_flag(
    open_rig: Rig, fault_proxy_factory: Any
) -> None:
    """SEC: plain HTTP only by policy — a non-loopback registry is https unless ``--plain-http`` names it.

    Through an HTTP proxy (``ALL_PROXY``) the difference is visible: without the flag ocireg asks the proxy for
    a TLS tunnel (CONNECT) and never sends a plain-HTTP registry request; with it, plain HTTP works.
    """
    proxy: FaultProxy = fault_proxy_factory(open_rig.url)
    env = {"ALL_PROXY": proxy.url}
    ref = f"{PUBLIC_NAME}/{REPO}:oci"
    refused = run_cli(["exists", "--timeout", "10", ref], env)
    assert refused.code == 5, refused.err
    assert {r.method for r in proxy.requests} == {"CONNECT"}
    proxy.reset_counters()
    allowed = run_cli(["exists", "--plain-http", PUBLIC_NAME, ref], env)
    assert allowed.code == 0, allowed.err
    assert {r.method for r in proxy.requests} == {"HEAD"}
    env_allowed = run_cli(["exists", ref], {**env, "OCIREG_PLAIN_HTTP": PUBLIC_NAME})
    assert env_allowed.code == 0, env_allowed.err


def test_sec_skip_verify_is_for_that_host_only(tls_rig: Rig) -> None:
    """SEC: per-host skip-verify — skipping verification for the registry does not skip it for the realm host."""
    result = run_cli(
        ["exists", "--insecure-skip-tls-verify", tls_rig.host, tls_rig.ref(REPO, "oci")], ALICE_ENV
    )
    assert result.code == 5, result.err
    assert "127.0.0.2" in result.err  # the realm's certificate was still verified (and is not trusted)
    assert f"TLS verification is OFF for {tls_rig.host}" in result.err
    assert "OFF for 127.0.0.2" not in result.err
    assert tls_rig.ca_file is not None
    with_ca = run_cli(
        [
            "exists",
            "--insecure-skip-tls-verify",
            tls_rig.host,
            "--ca-file",
            tls_rig.ca_file,
            tls_rig.ref(REPO, "oci"),
        ],
        ALICE_ENV,
    )
    assert with_ca.code == 0, with_ca.err


def test_sec_ca_file_from_environment_and_wrong_ca(tls_rig: Rig, tmp_path: Path) -> None:
    """SEC: TLS on by default, CA file — OCIREG_CA_FILE works like --ca-file; a CA that did not sign is exit 5."""
    assert tls_rig.ca_file is not None
    ok = run_cli(["exists", tls_rig.ref(REPO, "oci")], {**ALICE_ENV, "OCIREG_CA_FILE": tls_rig.ca_file})
    assert ok.code == 0, ok.err
    other = Pki(tmp_path / "other-pki")
    wrong = run_cli(["exists", "--ca-file", str(other.ca_file), tls_rig.ref(REPO, "oci")], ALICE_ENV)
    assert wrong.code == 5, wrong.err
    assert "not trusted" in wrong.err


# ---------------------------------------------------------------------------------------------------------
# Credential selection by exact host; .netrc isolation
# ---------------------------------------------------------------------------------------------------------


def _auth(user: str, password: str) -> dict[str, str]:
    return {"auth": base64.b64encode(f"{user}:{password}".encode()).decode()}


def test_sec_credentials_selected_by_exact_host(token_rig: Rig, isolated_env: Path) -> None:
    """SEC: credential selection by exact host — near-miss keys (no port, other port, prefix, suffix, path) are
    never used; only the exact ``host:port`` is."""
    assert token_rig.token_server is not None
    host = token_rig.host
    port = host.rsplit(":", 1)[1]
    near = {
        "127.0.0.1": _auth(ALICE, ALICE_PASSWORD),
        f"127.0.0.1:{int(port) % 60000 + 1}": _auth(ALICE, ALICE_PASSWORD),
        f"{host}.evil.example": _auth(ALICE, ALICE_PASSWORD),
        f"{host}/group/project": _auth(ALICE, ALICE_PASSWORD),
        f"evil.{host}": _auth(ALICE, ALICE_PASSWORD),
        "127.0.0.2": _auth(ALICE, ALICE_PASSWORD),
    }
    config = isolated_env / ".docker" / "config.json"
    config.write_text(json.dumps({"auths": near}))
    result = run_cli(["exists", "--no-token-cache", token_rig.ref(REPO, "oci")])
    assert result.code == 4, result.err  # anonymous: denied
    assert [r.authorization for r in token_rig.token_server.requests] == [False]
    token_rig.token_server.clear_requests()
    config.write_text(json.dumps({"auths": {**near, f"http://{host}/": _auth(ALICE, ALICE_PASSWORD)}}))
    exact = run_cli(["exists", "--no-token-cache", token_rig.ref(REPO, "oci")])
    assert exact.code == 0, exact.err
    assert [r.username for r in token_rig.token_server.requests] == [ALICE]


def test_sec_netrc_is_never_used(token_rig: Rig, proxy: FaultProxy, isolated_env: Path) -> None:
    """SEC: .netrc isolation — a ~/.netrc (and $NETRC) with credentials for the registry and realm hosts is
    ignored: ocireg stays anonymous."""
    assert token_rig.token_server is not None
    netrc = isolated_env / ".netrc"
    netrc.write_text(
        f"machine 127.0.0.1 login {ALICE} password {ALICE_PASSWORD}\n"
        f"machine 127.0.0.2 login {ALICE} password {ALICE_PASSWORD}\n"
        f"default login {ALICE} password {ALICE_PASSWORD}\n"
    )
    netrc.chmod(0o600)
    result = run_cli(["exists", "--no-token-cache", *plain(proxy), via(proxy)], {"NETRC": str(netrc)})
    assert result.code == 4, result.err
    assert not any(r.authorization for r in token_rig.token_server.requests)  # an anonymous token request
    assert {r.auth_scheme for r in proxy.requests} <= {None, "Bearer"}  # no Basic from .netrc


# ---------------------------------------------------------------------------------------------------------
# Redaction with canary secrets under --debug
# ---------------------------------------------------------------------------------------------------------


def _secret_forms(secret: str, user: str = ALICE) -> list[str]:
    return [secret, base64.b64encode(f"{user}:{secret}".encode()).decode()]


def _cached_tokens(home: Path) -> list[str]:
    path = home / ".cache" / "ocireg" / "tokens.json"
    if not path.exists():
        return []
    return [entry[0] for entry in json.loads(path.read_text()).get("tokens", {}).values()]


def test_sec_debug_redacts_canaries_across_commands_and_errors(
    token_rig: Rig, proxy: FaultProxy, sink: Sink, isolated_env: Path
) -> None:
    """SEC: redaction with canary secrets under --debug — a canary password (and its base64), the tokens, a
    secret realm query parameter and a signed redirect URL never reach stdout or stderr, whatever the command
    and whatever the error path."""
    server = token_rig.token_server
    assert server is not None
    outputs: list[str] = []

    def run(argv: list[str], env: dict[str, str] | None = None, stdin: str = "") -> int:
        result = run_cli(["--debug" if a == "DEBUG" else a for a in argv], env, stdin=stdin)
        outputs.append(result.out + result.err)
        assert "Traceback" not in result.err
        return result.code

    ok_env = ALICE_ENV
    bad_env = creds(ALICE, CANARY_PASSWORD)
    ref, index = via(proxy), via(proxy, REPO, "index")
    # a realm carrying a secret query parameter (some token services put API keys there)
    proxy.add_rule(Rule("*", r"^/v2/", rewrite_realm(f"{server.url}/jwt/auth?private_token={CANARY_QUERY}")))
    p = plain(proxy)
    # success paths, several commands
    assert run(["exists", "DEBUG", *p, ref, index], ok_env) == 0
    assert run(["digest", "DEBUG", "--platform", "linux/arm64", *p, index], ok_env) == 0
    assert run(["inspect", "DEBUG", *p, ref], ok_env) == 0
    assert run(["tags", "DEBUG", *p, f"{proxy.netloc}/{REPO}"], ok_env) == 0
    assert run(["auth", "explain", "DEBUG", *p, ref], ok_env) == 0
    # error paths: rejected password (exists, login), token service failure, registry 500, redirect with a
    # signed URL, password on stdin
    assert run(["exists", "DEBUG", "--no-token-cache", *p, ref], bad_env) == 3
    assert (
        run(
            ["login", "DEBUG", *p, "--username", ALICE, "--password-stdin", proxy.netloc],
            stdin=CANARY_PASSWORD,
        )
        == 3
    )
    assert (
        run(
            ["digest", "DEBUG", "--no-token-cache", *p, "--username", ALICE, "--password-stdin", ref],
            stdin=CANARY_PASSWORD + "\n",
        )
        == 3
    )
    server.fail_status = 503
    assert run(["exists", "DEBUG", "--no-token-cache", *p, ref], bad_env) == 6
    server.fail_status = None
    signed = f"{sink.url}/storage/blob?X-Amz-Signature={CANARY_SIGNATURE}&X-Amz-Credential={CANARY_SIGNATURE}"
    proxy.set_rules([Rule("GET", r"/blobs/", redirect(signed)), *proxy.rules])
    assert run(["inspect", "DEBUG", *p, ref], ok_env) == 6
    proxy.set_rules(
        [Rule("HEAD", MANIFEST + "docker$", status(500, {"Content-Type": "application/json"})), *proxy.rules]
    )
    assert run(["exists", "DEBUG", *p, via(proxy, REPO, "docker")], ok_env) == 6
    tokens = _cached_tokens(isolated_env)
    assert tokens, "the test did not obtain a token to look for"
    combined = "\n".join(outputs)
    assert "debug: >" in combined
    for secret in [
        *_secret_forms(CANARY_PASSWORD),
        *_secret_forms(ALICE_PASSWORD),
        CANARY_QUERY,
        CANARY_SIGNATURE,
        *tokens,
    ]:
        assert secret not in combined, f"a secret reached the output: {secret[:12]}…"
    _assert_sink_clean(sink)


def test_sec_debug_redacts_docker_config_and_ci_secrets(
    token_rig: Rig, proxy: FaultProxy, isolated_env: Path
) -> None:
    """SEC: redaction — secrets from DOCKER_AUTH_CONFIG, an identity token and CI job tokens never appear."""
    identity = "canary-IDT-77e0a2"
    auth_config = {"auths": {proxy.netloc: _auth(DEPLOY_USER, DEPLOY_TOKEN)}}
    outputs = []
    result = run_cli(
        ["exists", "--debug", *plain(proxy), via(proxy)], {"DOCKER_AUTH_CONFIG": json.dumps(auth_config)}
    )
    assert result.code == 0, result.err
    outputs.append(result.both)
    (isolated_env / ".docker" / "config.json").write_text(
        json.dumps({"auths": {proxy.netloc: {"identitytoken": identity}}})
    )
    result = run_cli(["exists", "--debug", "--no-token-cache", *plain(proxy), via(proxy)])
    assert result.code in (3, 4), result.err
    outputs.append(result.both)
    ci = {
        "GITLAB_CI": "true",
        "CI_REGISTRY": proxy.netloc,
        "CI_REGISTRY_IMAGE": f"{proxy.netloc}/{REPO}",
        "CI_REGISTRY_USER": JOB_USER,
        "CI_REGISTRY_PASSWORD": JOB_TOKEN,
        "CI_JOB_TOKEN": JOB_TOKEN,
        "OCIREG_PLAIN_HTTP": proxy.netloc,
    }
    result = run_cli(["exists", "--debug", "--no-token-cache", ":oci"], ci)
    assert result.code == 0, result.err
    outputs.append(result.both)
    combined = "\n".join(outputs)
    for secret in [*_secret_forms(DEPLOY_TOKEN, DEPLOY_USER), identity, *_secret_forms(JOB_TOKEN, JOB_USER)]:
        assert secret not in combined


# ---------------------------------------------------------------------------------------------------------
# Token cache through the CLI: modes, symlink refusal, concurrent writers
# ---------------------------------------------------------------------------------------------------------


def test_sec_token_cache_file_modes_through_the_cli(proxy: FaultProxy, isolated_env: Path) -> None:
    """SEC: token cache file modes — directory 0700, file 0600, tokens and expiry only (no password)."""
    assert run_cli(["exists", *plain(proxy), via(proxy)], ALICE_ENV).code == 0
    directory = isolated_env / ".cache" / "ocireg"
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert stat.S_IMODE((directory / "tokens.json").stat().st_mode) == 0o600
    text = (directory / "tokens.json").read_text()
    assert (
        ALICE_PASSWORD not in text
        and base64.b64encode(f"{ALICE}:{ALICE_PASSWORD}".encode()).decode() not in text
    )
    assert not any(name.startswith(".tokens-") for name in os.listdir(directory))  # no temp file left behind


def test_sec_token_cache_symlink_is_refused_through_the_cli(
    token_rig: Rig, proxy: FaultProxy, isolated_env: Path, tmp_path: Path
) -> None:
    """SEC: token cache symlink refusal — a planted tokens.json symlink is neither read nor written through."""
    assert token_rig.token_server is not None
    directory = isolated_env / ".cache" / "ocireg"
    directory.mkdir(parents=True, mode=0o700)
    target = tmp_path / "victim.txt"
    target.write_text("do not touch\n")
    (directory / "tokens.json").symlink_to(target)
    for _ in range(2):
        assert run_cli(["exists", *plain(proxy), via(proxy)], ALICE_ENV).code == 0
    assert target.read_text() == "do not touch\n"
    linked_dir = isolated_env / ".cache" / "linked"
    linked_dir.symlink_to(tmp_path)
    token_rig.token_server.clear_requests()
    for _ in range(2):
        result = run_cli(
            ["exists", *plain(proxy), via(proxy)], {**ALICE_ENV, "OCIREG_CACHE_DIR": str(linked_dir)}
        )
        assert result.code == 0, result.err
    assert not (tmp_path / "tokens.json").exists()
    assert (
        len(token_rig.token_server.requests) == 2
    )  # no cache through a symlinked directory: a token each run


def test_sec_token_cache_not_private_is_ignored(
    token_rig: Rig, proxy: FaultProxy, isolated_env: Path
) -> None:
    """SEC: token cache file modes — a cache file readable by others is not trusted (a token per run)."""
    assert token_rig.token_server is not None
    assert run_cli(["exists", *plain(proxy), via(proxy)], ALICE_ENV).code == 0
    (isolated_env / ".cache" / "ocireg" / "tokens.json").chmod(0o644)
    token_rig.token_server.clear_requests()
    assert run_cli(["exists", *plain(proxy), via(proxy)], ALICE_ENV).code == 0
    assert len(token_rig.token_server.requests) == 1


def test_sec_token_cache_concurrent_writers_through_the_cli(
    token_rig: Rig, proxy: FaultProxy, isolated_env: Path
) -> None:
    """SEC: token cache concurrent writers — parallel ocireg processes with different identities all end up in a
    valid 0600 cache; each identity's next run is warm (no token request) and never uses another's token."""
    assert token_rig.token_server is not None
    identities = [
        (ALICE, ALICE_PASSWORD),
        (ROOT, ROOT_PASSWORD),
        (JOB_USER, JOB_TOKEN),
        (DEPLOY_USER, DEPLOY_TOKEN),
    ]
    procs = [
        subprocess.Popen(
            ocireg_argv("exists", *plain(proxy), via(proxy), via(proxy, REPO, "index")),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=subprocess_env(creds(user, password)),
        )
        for user, password in identities * 2
    ]
    for proc in procs:
        _out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    path = isolated_env / ".cache" / "ocireg" / "tokens.json"
    doc = json.loads(path.read_text())
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(doc["tokens"]) >= len(identities)
    token_rig.token_server.clear_requests()
    for user, password in identities:
        assert run_cli(["exists", *plain(proxy), via(proxy)], creds(user, password)).code == 0
    assert token_rig.token_server.requests == []
    # bob has no token of his own: he must not get anybody else's
    assert run_cli(["exists", *plain(proxy), via(proxy)], creds(BOB, BOB_PASSWORD)).code == 4


# ---------------------------------------------------------------------------------------------------------
# Output injection
# ---------------------------------------------------------------------------------------------------------

ESC_TEXT = "\x1b]0;pwned\x07\x1b[2J\x1b[31mred\r\nforged: line\u202eevil"


def _no_raw_controls(text: str) -> None:
    for char in ("\x1b", "\x07", "\u202e", "\x9b", "\r"):
        assert char not in text, f"raw control character {char!r} in output"


def test_sec_output_injection_in_registry_error_message(proxy: FaultProxy) -> None:
    """SEC: output injection — escape sequences in a registry's error message are shown escaped; -o json is valid."""
    _warm(proxy, "index")
    body = json.dumps({"errors": [{"code": "DENIED", "message": ESC_TEXT}]}).encode()
    proxy.add_rule(Rule("GET", MANIFEST, status(403, {"Content-Type": "application/json"}, body)))
    args = ["digest", "--platform", "linux/amd64", *plain(proxy), via(proxy, REPO, "index")]
    text = run_cli(args, ALICE_ENV)
    assert text.code == 4, text.err
    _no_raw_controls(text.both)
    assert "\\x1b" in text.err
    as_json = run_cli(["digest", "-o", "json", *args[1:]], ALICE_ENV)
    assert as_json.code == 4
    (doc,) = json.loads(as_json.out)["results"]
    assert "pwned" in doc["error"]["message"]
    _no_raw_controls(as_json.out)


def test_sec_output_injection_in_warning_header(proxy: FaultProxy) -> None:
    """SEC: output injection — a ``Warning`` header with a C1 control (CSI, 0x9b) is printed escaped, once."""
    proxy.add_rule(Rule("HEAD", MANIFEST, add_header("Warning", '299 - "deprecated \x9b2J\x9b31m registry"')))
    result = run_cli(["exists", *plain(proxy), via(proxy)], ALICE_ENV)
    assert result.code == 0, result.err
    _no_raw_controls(result.both)
    assert result.err.count("deprecated") == 1
    assert "\\x9b" in result.err


def test_sec_output_injection_in_tags(proxy: FaultProxy) -> None:
    """SEC: output injection — tags carrying escape sequences are escaped in text and valid JSON in -o json."""
    _warm(proxy)
    tags = ["good", ESC_TEXT, "v1\x1b[8m", "\u2028split"]
    body = json.dumps({"name": REPO, "tags": tags}).encode()
    proxy.add_rule(Rule("GET", r"/tags/list", replace_body(body)))
    text = run_cli(["tags", "--sort", "none", *plain(proxy), f"{proxy.netloc}/{REPO}"], ALICE_ENV)
    assert text.code == 0, text.err
    _no_raw_controls(text.both)
    assert "\u2028" not in text.out
    assert "good" in text.out
    as_json = run_cli(
        ["tags", "-o", "json", "--sort", "none", *plain(proxy), f"{proxy.netloc}/{REPO}"], ALICE_ENV
    )
    assert as_json.code == 0, as_json.err
    assert "\x1b" not in as_json.out  # JSON escapes control characters
    assert ESC_TEXT in json.loads(as_json.out)["tags"]  # data stays exact in JSON


def test_sec_output_injection_in_platform_list(token_rig: Rig, proxy: FaultProxy) -> None:
    """SEC: output injection — an index whose platform strings hold escape sequences: the "available" list in the
    error is escaped."""
    _warm(proxy, "index")
    original = token_rig.seeded.get(REPO, "index").json
    evil = json.loads(json.dumps(original))
    for entry in evil["manifests"]:
        entry["platform"]["os"] = "linux\x1b[2J"
    proxy.add_rule(
        Rule(
            "GET",
            MANIFEST + "index$",
            [replace_body(json.dumps(evil).encode()), remove_header("Docker-Content-Digest")],
        )
    )
    result = run_cli(
        ["digest", "--platform", "linux/s390x", *plain(proxy), via(proxy, REPO, "index")], ALICE_ENV
    )
    assert result.code in (1, 6), result.err
    _no_raw_controls(result.both)


# ---------------------------------------------------------------------------------------------------------
# Argument injection
# ---------------------------------------------------------------------------------------------------------


def test_sec_argument_injection_references_starting_with_dash(
    proxy: FaultProxy, token_rig: Rig, tmp_path: Path
) -> None:
    """SEC: argument injection — references that look like options are refused (exit 2) and nothing is sent."""
    assert token_rig.token_server is not None
    assert run_cli(["exists", "--", "-rf"], ALICE_ENV).code == 2
    assert run_cli(["exists", "--", "--plain-http=evil.example"], ALICE_ENV).code == 2
    listing = tmp_path / "refs.txt"
    listing.write_text(f"--debug\n-o json\n--plain-http={PUBLIC_NAME}\n{via(proxy)}\n")
    from_file = run_cli(["exists", "--from-file", str(listing)], ALICE_ENV)
    assert from_file.code == 2, from_file.err
    assert "debug:" not in from_file.err  # "--debug" in the file was a (bad) reference, not an option
    assert "must not start with '-'" in from_file.err
    dash_value = run_cli(["exists", "--plain-http", "--debug", via(proxy)], ALICE_ENV)
    assert dash_value.code == 2
    assert proxy.requests == []
    assert token_rig.token_server.requests == []


def test_sec_argument_injection_credential_helper_name(
    token_rig: Rig, isolated_env: Path, tmp_path: Path
) -> None:
    """SEC: argument injection — a credential helper name with a path or an option shape is refused, not run."""
    marker = tmp_path / "ran"
    evil = tmp_path / "docker-credential-x"
    evil.write_text(f"#!/bin/sh\ntouch {marker}\n")
    evil.chmod(0o755)
    for helper in (f"../..{tmp_path}/x", "-x", "x;touch", "x y"):
        config = {"credHelpers": {token_rig.host: helper}}
        (isolated_env / ".docker" / "config.json").write_text(json.dumps(config))
        result = run_cli(["exists", token_rig.ref(REPO, "oci")], {"PATH": f"{tmp_path}:/usr/bin:/bin"})
        assert result.code == 3, (helper, result.err)
    assert not marker.exists()


# ---------------------------------------------------------------------------------------------------------
# Digest pinning
# ---------------------------------------------------------------------------------------------------------


def test_sec_digest_pinning_get_with_other_bytes(token_rig: Rig, proxy: FaultProxy) -> None:
    """SEC: digest pinning (CVE-2014-8179) — ``ref@sha256:X`` served other bytes (and no digest header) is exit 6."""
    _warm(proxy, "index")
    pinned = token_rig.seeded.digest(REPO, "index")
    other = token_rig.seeded.get(REPO, "list").body
    proxy.add_rule(Rule("GET", MANIFEST, [replace_body(other), remove_header("Docker-Content-Digest")]))
    for argv in (
        ["digest", "--platform", "linux/amd64", *plain(proxy), via(proxy, REPO, "@" + pinned)],
        ["inspect", *plain(proxy), via(proxy, REPO, "@" + pinned)],
    ):
        result = run_cli(argv, ALICE_ENV)
        assert result.code == 6, (argv[0], result.err)
        assert "do not hash" in result.err
        assert token_rig.seeded.digest(REPO, "list") not in result.out


def test_sec_digest_pinning_head_with_other_digest(token_rig: Rig, proxy: FaultProxy) -> None:
    """SEC: digest pinning — a HEAD of ``ref@sha256:X`` answered with another Docker-Content-Digest is exit 6."""
    pinned = token_rig.seeded.digest(REPO, "oci")
    other = token_rig.seeded.digest(REPO, "docker")
    proxy.add_rule(Rule("HEAD", MANIFEST, rewrite_header("Docker-Content-Digest", other)))
    result = run_cli(["exists", *plain(proxy), via(proxy, REPO, "@" + pinned)], ALICE_ENV)
    assert result.code == 6, result.err
    assert "present" not in result.out


def test_sec_digest_pinning_tag_and_digest(token_rig: Rig) -> None:
    """SEC: digest pinning — ``repo:tag@sha256:X`` is resolved by the digest: a tag that moved cannot swap the image."""
    pinned = token_rig.seeded.digest(REPO, "oci")
    result = run_cli(["digest", token_rig.ref(REPO, f"docker@{pinned}")], ALICE_ENV)
    assert result.code == 0, result.err
    assert result.out.strip() == pinned
    assert hashlib.sha256(token_rig.seeded.get(REPO, "oci").body).hexdigest() in pinned
