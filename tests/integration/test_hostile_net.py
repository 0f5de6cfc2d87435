"""Hostile registries: credentials and transport (issue 14, items 1, 2, 4, 5, 6, 8, 11, 13, 14, 15).

Every hostile server here is on loopback: the fault proxy in front of the real registry, the credential sink,
and :class:`rig.hostile.RawServer`, which writes whatever bytes a test scripts (a garbage status line, endless
headers, a drip of header lines) where no real server would. "Public" registry names end in ``.invalid`` and
are reached through the fault proxy acting as an HTTP proxy (``ALL_PROXY``), so DNS is never asked.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import socket
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest

from integration.faultkit import ALICE_ENV, REPO

from clirunner import run_cli
from rig import Pki, Rig
from rig.faultproxy import FaultProxy, Rule, rewrite_realm
from rig.hostile import RawRequest, RawServer, Script, http_response
from rig.sink import Sink
from rig.tokenserver import ALICE, ALICE_PASSWORD, SERVICE

PUBLIC_NAME = "registry.example.invalid"


@pytest.fixture
def proxy(token_rig: Rig, fault_proxy_factory: Any) -> FaultProxy:
    """The fault proxy in front of the token-auth registry (plain HTTP on 127.0.0.1)."""
    made: FaultProxy = fault_proxy_factory(token_rig.url)
    return made


@pytest.fixture
def raw_server() -> Iterator[RawServer]:
    """A scripted hostile server on 127.0.0.1 (answers 404 until the test sets a script)."""
    server = RawServer(lambda req: [http_response(404)]).start()
    try:
        yield server
    finally:
        server.stop()


def _assert_sink_clean(sink: Sink) -> None:
    assert sink.credentials_received() == [], sink.credentials_received()


# ---------------------------------------------------------------------------------------------------------
# #14 item 1: a realm written as a non-dotted IP is judged as the address the socket layer reaches
# ---------------------------------------------------------------------------------------------------------


def _spellings(dotted: str) -> dict[str, str]:
    addr = ipaddress.IPv4Address(dotted)
    a, b, c, d = addr.packed
    return {
        "integer": str(int(addr)),
        "hex": hex(int(addr)),
        "short": f"{a}.{(b << 16) | (c << 8) | d}",
        "mapped": f"[::ffff:{dotted}]",
    }


@pytest.mark.parametrize("spelling", ["integer", "hex", "short", "mapped"])
def test_sec_realm_as_non_dotted_ip_gets_no_credentials(
    token_rig: Rig, fault_proxy_factory: Any, sink: Sink, spelling: str
) -> None:
    """#14 item 1: a public registry whose challenge names the sink's loopback address as one number, in
    hex, in inet_aton's short form or IPv4-mapped: refused before any connection (exit 6), the sink gets
    nothing. It used to receive the Basic credentials (only the dotted form was refused)."""
    proxy: FaultProxy = fault_proxy_factory(token_rig.url)
    host = _spellings(sink.host)[spelling]
    # NO_PROXY sends the realm request straight to the sink (as a realm on an internal host would go).
    env = {**ALICE_ENV, "ALL_PROXY": proxy.url, "NO_PROXY": host}
    proxy.add_rule(Rule("*", r"^/v2/", rewrite_realm(f"http://{host}:{sink.port}/jwt/auth")))
    result = run_cli(
        ["exists", "--no-token-cache", "--plain-http", PUBLIC_NAME, f"{PUBLIC_NAME}/{REPO}:oci"], env
    )
    assert result.code == 6, result.err
    assert "realm" in result.err
    assert sink.requests == []
    _assert_sink_clean(sink)
    assert not any(r.authorization for r in proxy.requests)


# ---------------------------------------------------------------------------------------------------------
# #14 item 5: proxy variables — curl's scheme-less form works, the rest is a clear usage error
# ---------------------------------------------------------------------------------------------------------

PROXY_SECRET = "canary-PROXY-7c2d90"


def test_sec_scheme_less_https_proxy_is_used_like_curl(open_rig: Rig, fault_proxy_factory: Any) -> None:
    """#14 item 5: ``HTTPS_PROXY=user:secret@host:port`` (no scheme, as curl accepts it) is an HTTP proxy; it
    used to end in an internal error that printed the proxy password. The password never shows, --debug
    included. (The registry is the rig's open one: a public name may not use the rig's loopback realm.)"""
    proxy: FaultProxy = fault_proxy_factory(open_rig.url)
    env = {**ALICE_ENV, "HTTPS_PROXY": f"alice:{PROXY_SECRET}@{proxy.netloc}"}
    result = run_cli(["exists", "--debug", "--plain-http", PUBLIC_NAME, f"{PUBLIC_NAME}/{REPO}:oci"], env)
    assert result.code == 0, result.err
    assert PROXY_SECRET not in result.both
    assert proxy.count() >= 1


def test_sec_https_proxy_url_is_used_over_tls(
    open_rig: Rig, rig_pki: Pki, fault_proxy_factory: Any, tmp_path: Path
) -> None:
    """#16 regression: ``HTTPS_PROXY=https://user:secret@proxy:port`` (a proxy reached over TLS) works again —
    the stdlib transport refused it, httpx2 accepted it. The proxy's certificate is verified like a registry's
    (``--ca-file``): without the rig CA the same run is a network error naming the proxy. The password never
    shows."""
    proxy: FaultProxy = fault_proxy_factory(open_rig.url, tls_context=rig_pki.server_context("127.0.0.1"))
    env = {**ALICE_ENV, "HTTPS_PROXY": f"https://alice:{PROXY_SECRET}@{proxy.netloc}"}
    argv = ["exists", "--debug", "--plain-http", PUBLIC_NAME, f"{PUBLIC_NAME}/{REPO}:oci"]
    result = run_cli([*argv[:1], "--ca-file", str(rig_pki.ca_file), *argv[1:]], env)
    assert result.code == 0, result.err
    assert PROXY_SECRET not in result.both
    assert proxy.count() >= 1
    untrusted = run_cli(argv, {**env, "OCIREG_CACHE_DIR": str(tmp_path)})
    assert untrusted.code == 5, untrusted.err
    assert "proxy" in untrusted.err and "not trusted" in untrusted.err
    assert PROXY_SECRET not in untrusted.both


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("HTTPS_PROXY", f"socks5://alice:{PROXY_SECRET}@127.0.0.1:1080", "socks5"),
        ("ALL_PROXY", f"socks5h://alice:{PROXY_SECRET}@127.0.0.1:1080", "socks5h"),
        ("HTTPS_PROXY", f"ftp://alice:{PROXY_SECRET}@127.0.0.1:21", "ftp"),
        ("HTTPS_PROXY", f"http://alice:{PROXY_SECRET}@127.0.0.1:3128\n", "newline"),
        ("https_proxy", f"alice:{PROXY_SECRET}@127.0.0.1:3128 ", "whitespace"),
        ("HTTPS_PROXY", f"http://alice:{PROXY_SECRET}@127.0.0.1:99999", "port"),
        ("HTTPS_PROXY", f"http://alice:{PROXY_SECRET}@[::1", "valid proxy URL"),
        ("HTTPS_PROXY", f"http://alice:{PROXY_SECRET}@127.0.0.1:3128/path?x=1", "valid proxy URL"),
    ],
)
def test_bi_unusable_proxy_variable_is_a_usage_error(name: str, value: str, says: str) -> None:
    """#14 item 5: a SOCKS or FTP proxy, a trailing newline, a bad port: exit 2 naming the variable and the
    problem, never the proxy's userinfo (these used to be internal errors quoting the whole URL)."""
    result = run_cli(["exists", "--debug", "registry.example.invalid/group/project:oci"], {name: value})
    assert result.code == 2, result.err
    assert name in result.err and says in result.err
    assert PROXY_SECRET not in result.both
    assert "internal error" not in result.err


@pytest.mark.parametrize("value", ["localhost\n", "a.example,\nb.example", "a.example\tb.example", "x'y"])
def test_bi_control_character_in_no_proxy_is_a_usage_error(value: str) -> None:
    """#14 item 5: a newline (or tab, or quote) in NO_PROXY is exit 2 naming NO_PROXY, not an internal error."""
    env = {"HTTPS_PROXY": "http://127.0.0.1:9", "NO_PROXY": value}
    result = run_cli(["exists", "registry.example.invalid/group/project:oci"], env)
    assert result.code == 2, result.err
    assert "NO_PROXY" in result.err
    assert "internal error" not in result.err


# ---------------------------------------------------------------------------------------------------------
# #14 item 6: registry text that echoes a secret is shown redacted
# ---------------------------------------------------------------------------------------------------------


def _echoing_registry(challenge: str, echoed: list[str]) -> Script:
    """401 with ``challenge`` until a request carries Authorization; then a 400 whose error body, Warning
    header and error detail repeat that Authorization (and, for Basic, the decoded password)."""

    def script(req: RawRequest) -> Iterable[bytes | float]:
        auth = req.header("authorization")
        if not auth:
            return [
                http_response(401, [("WWW-Authenticate", challenge), ("Content-Type", "application/json")])
            ]
        secret = auth.split(" ", 1)[1]
        echoed.append(auth)
        words = [auth, secret]
        if auth.lower().startswith("basic "):
            user_pass = base64.b64decode(secret).decode()
            words += [user_pass, user_pass.split(":", 1)[1]]
        message = "bad credentials: " + " | ".join(words)
        body = json.dumps({"errors": [{"code": "UNKNOWN", "message": message, "detail": words}]}).encode()
        headers = [("Content-Type", "application/json"), ("Warning", f'299 - "you sent {secret}"')]
        return [http_response(400, headers, body)]

    return script


@pytest.mark.parametrize("scheme", ["bearer", "basic"])
def test_sec_registry_text_echoing_a_secret_is_redacted(
    token_rig: Rig, raw_server: RawServer, scheme: str
) -> None:
    """#14 item 6: a registry whose error message, error detail and Warning header echo the bearer token (or
    the Basic value, its base64 and the password itself): the error is shown, every secret as ``***``, in text
    and JSON output and under --debug. The token used to be printed verbatim."""
    assert token_rig.token_server is not None
    echoed: list[str] = []
    if scheme == "bearer":
        challenge = f'Bearer realm="{token_rig.token_server.realm}",service="{SERVICE}"'
    else:
        challenge = 'Basic realm="hostile"'
    raw_server.set_script(_echoing_registry(challenge, echoed))
    ref = f"{raw_server.netloc}/{REPO}"
    for output in ("text", "json"):
        result = run_cli(
            ["tags", "--debug", "--no-token-cache", "--plain-http", raw_server.netloc, "-o", output, ref],
            ALICE_ENV,
        )
        assert result.code == 6, result.err
        assert echoed, "the registry never saw a credential"
        assert "bad credentials: ***" in result.both
        secrets = {ALICE_PASSWORD, f"{ALICE}:{ALICE_PASSWORD}"}
        for auth in echoed:
            secrets |= {auth, auth.split(" ", 1)[1]}
        for secret in secrets:
            assert secret not in result.both, f"{secret[:12]}... shown"


# ---------------------------------------------------------------------------------------------------------
# #14 item 13: an answer that is not HTTP is a protocol violation (exit 6), not "cannot reach" (5, retried)
# ---------------------------------------------------------------------------------------------------------

_NOT_HTTP: dict[str, bytes] = {
    "garbage status line": b"HTTQ/9 abc\r\n\r\n",
    "5,000-digit Content-Length": b"HTTP/1.1 200 OK\r\nContent-Length: " + b"9" * 5000 + b"\r\n\r\n",
    "200 KB of headers": b"HTTP/1.1 200 OK\r\n"
    + b"".join(b"X-Pad-%d: %s\r\n" % (i, b"a" * 1000) for i in range(200))
    + b"\r\n",
    "status line without a code": b"HTTP/1.1 OK\r\nContent-Length: 0\r\n\r\n",
}


@pytest.mark.parametrize("case", sorted(_NOT_HTTP))
def test_ft_answer_that_is_not_http_is_a_protocol_violation_not_retried(
    raw_server: RawServer, case: str
) -> None:
    """#14 item 13: a garbage status line, a 5,000-digit Content-Length, 200 KB of headers: the registry
    answered, wrongly — exit 6 after one request. It used to be "cannot reach" (exit 5), retried 3 times."""
    raw_server.set_script(lambda req: [_NOT_HTTP[case]])
    result = run_cli(["exists", "--plain-http", raw_server.netloc, f"{raw_server.netloc}/{REPO}:oci"])
    assert result.code == 6, result.err
    assert "did not answer in HTTP" in result.err
    assert len(raw_server.requests) == 1
    assert "internal error" not in result.err


def test_ft_broken_chunked_body_is_a_protocol_violation(raw_server: RawServer) -> None:
    """#14 item 13, body phase: a chunked body whose chunk header is not hex is a protocol violation (exit 6),
    not a lost connection (exit 5)."""
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    raw_server.set_script(lambda req: [head + b"zz-not-hex\r\n{}\r\n0\r\n\r\n"])
    result = run_cli(["tags", "--plain-http", raw_server.netloc, f"{raw_server.netloc}/{REPO}"])
    assert result.code == 6, result.err
    assert "did not answer in HTTP" in result.err
    assert len(raw_server.requests) == 1


# ---------------------------------------------------------------------------------------------------------
# #14 item 14: header lines dripped one by one do not outlive the total deadline
# ---------------------------------------------------------------------------------------------------------


def _dripped_head(lines: int, interval: float, final: bytes) -> Script:
    def script(req: RawRequest) -> Iterable[bytes | float]:
        yield b"HTTP/1.1 404 Not Found\r\n"
        for i in range(lines):
            yield interval
            yield b"X-Drip-%d: 1\r\n" % i
        yield final

    return script


def test_ft_header_drip_stops_at_the_total_deadline(raw_server: RawServer) -> None:
    """#14 item 14: the status line, then one header line every 0.5 s for 30 s, then a complete 404. With
    ``--timeout 3`` the check must give up at its deadline (exit 5), never wait the drip out and report the
    late 404 as "absent" (no socket read ever waited 30 s, so the per-read timeout never fired)."""
    final = b"Content-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}"
    raw_server.set_script(_dripped_head(60, 0.5, final))
    result = run_cli(
        ["exists", "--timeout", "3", "--plain-http", raw_server.netloc, f"{raw_server.netloc}/{REPO}:oci"]
    )
    assert result.code == 5, result.err
    assert "deadline" in result.err


# ---------------------------------------------------------------------------------------------------------
# #14 item 8: the loopback scheme probe — connection refused decides nothing, a wrong stored scheme is redone
# ---------------------------------------------------------------------------------------------------------

_DIGEST = "sha256:" + "a" * 64


def _present(req: RawRequest) -> Iterable[bytes | float]:
    """An anonymous registry that has every manifest (HEAD answers with a digest)."""
    headers = [
        ("Content-Type", "application/vnd.oci.image.manifest.v1+json"),
        ("Docker-Content-Digest", _DIGEST),
    ]
    return [http_response(200, headers)]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def test_ft_loopback_scheme_probe_survives_a_registry_that_was_down_or_moved(
    rig_pki: Pki, tmp_path: Path
) -> None:
    """#14 item 8: a loopback registry that is down at the first run, then up on plain HTTP, then on TLS, then
    on plain HTTP again (same port, token cache on): every run after the first answers "present". The scheme
    used to be decided once — "https" when nothing listened — and stored in the token cache, so every later
    run failed with exit 5 until the cache was deleted."""
    env = {"OCIREG_CACHE_DIR": str(tmp_path / "cache")}
    port = _free_port()
    ref = f"127.0.0.1:{port}/{REPO}:oci"
    down = run_cli(["exists", "--timeout", "10", ref], env)
    assert down.code == 5, down.err
    ca = ["--ca-file", str(rig_pki.ca_file)]
    for tls in (False, True, False):
        context = rig_pki.server_context("127.0.0.1") if tls else None
        server = RawServer(_present, port=port, tls_context=context).start()
        try:
            result = run_cli(["exists", "--timeout", "20", *ca, ref], env)
        finally:
            server.stop()
        assert result.code == 0, f"tls={tls}: {result.err}"
        assert server.requests, "the registry was never asked"


# ---------------------------------------------------------------------------------------------------------
# #14 item 15: a corrupted token cache is treated as absent (and said under --debug)
# ---------------------------------------------------------------------------------------------------------


def _corrupt_tokens(cache_file: Path, corrupt: Any) -> None:
    doc = json.loads(cache_file.read_text())
    assert doc["tokens"], "the warm-up stored no token"
    doc["tokens"] = {key: corrupt(entry) for key, entry in doc["tokens"].items()}
    cache_file.write_text(json.dumps(doc))


_CORRUPTIONS: dict[str, Any] = {
    "400-digit expiry": lambda entry: [entry[0], 10**400],
    "non-ASCII token": lambda entry: ["tökén-" + entry[0], entry[1]],
    "CR/LF in the token": lambda entry: [entry[0] + "\r\nX-Injected: 1", entry[1]],
    "expiry as text": lambda entry: [entry[0], "tomorrow"],
    "token as a number": lambda entry: [12345, entry[1]],
}


@pytest.mark.parametrize("corruption", sorted(_CORRUPTIONS))
def test_bi_corrupt_token_cache_entry_is_treated_as_absent(
    proxy: FaultProxy, tmp_path: Path, corruption: str
) -> None:
    """#14 item 15: a hand-corrupted token cache entry (400-digit expiry, non-ASCII token, CR/LF in the token)
    is ignored — a fresh token is fetched, the check answers, --debug says the entry was corrupt, and the
    injected header never reaches the registry. These used to crash every later run (internal error) or
    print the token."""
    cache = tmp_path / "cache"
    env = {**ALICE_ENV, "OCIREG_CACHE_DIR": str(cache)}
    argv = ["exists", "--plain-http", proxy.netloc, f"{proxy.netloc}/{REPO}:oci"]
    assert run_cli(argv, env).code == 0
    _corrupt_tokens(cache / "tokens.json", _CORRUPTIONS[corruption])
    proxy.reset_counters()
    result = run_cli([*argv, "--debug"], env)
    assert result.code == 0, result.err
    assert "corrupt token entry" in result.err
    assert "internal error" not in result.err
    assert "X-Injected" not in result.both


def test_bi_token_cache_directory_refused_for_its_mode_is_said_under_debug(
    proxy: FaultProxy, tmp_path: Path
) -> None:
    """#14 item 15: a cache directory readable by others is not used, and --debug now says so (the reason
    used to be kept silently, so every run was cold without a word)."""
    cache = tmp_path / "cache"
    cache.mkdir(mode=0o755)
    cache.chmod(0o755)
    env = {**ALICE_ENV, "OCIREG_CACHE_DIR": str(cache)}
    result = run_cli(["exists", "--debug", "--plain-http", proxy.netloc, f"{proxy.netloc}/{REPO}:oci"], env)
    assert result.code == 0, result.err
    assert "not private" in result.err and str(cache) in result.err
    assert not (cache / "tokens.json").exists()


# ---------------------------------------------------------------------------------------------------------
# #14 item 4: a password that is not UTF-8 text is a broken credential (exit 3), nothing of it shown
# ---------------------------------------------------------------------------------------------------------

_BAD_PASSWORD = "s3cret-pw\udcff"  # b"s3cret-pw\xff" surrogate-escaped, or a "\udcff" escape in JSON


def _bad_password_sources(tmp_path: Path, host: str) -> dict[str, tuple[dict[str, str], str]]:
    """source name -> (environment, stdin) that hands ``_BAD_PASSWORD`` to ocireg for ``host``."""
    config_dir = tmp_path / "docker"
    config_dir.mkdir()
    (config_dir / "config.json").write_text(
        json.dumps(
            {"auths": {host: {"username": ALICE, "password": _BAD_PASSWORD}}}
        )  # ensure_ascii: "\\udcff"
    )
    auth_config = json.dumps({"auths": {host: {"username": ALICE, "password": "\ud800" + ALICE_PASSWORD}}})
    return {
        "OCIREG_PASSWORD": ({"OCIREG_USERNAME": ALICE, "OCIREG_PASSWORD": _BAD_PASSWORD}, ""),
        "config.json": ({"DOCKER_CONFIG": str(config_dir)}, ""),
        "DOCKER_AUTH_CONFIG": ({"DOCKER_AUTH_CONFIG": auth_config}, ""),
        "--password-stdin": ({}, _BAD_PASSWORD + "\n"),
    }


@pytest.mark.parametrize(
    "source", ["OCIREG_PASSWORD", "config.json", "DOCKER_AUTH_CONFIG", "--password-stdin"]
)
def test_bi_password_that_is_not_utf8_is_exit_3_without_detail(
    proxy: FaultProxy, tmp_path: Path, source: str
) -> None:
    """#14 item 4: a password with a non-UTF-8 byte or a lone surrogate, from any source, is exit 3 before
    anything is sent, and the message tells nothing about the secret (no character, no position). It used to
    be "internal error: UnicodeEncodeError … position 16" — the password's length."""
    env, stdin = _bad_password_sources(tmp_path, proxy.netloc)[source]
    argv = ["exists", "--no-token-cache", "--plain-http", proxy.netloc, f"{proxy.netloc}/{REPO}:oci"]
    if stdin:
        argv += ["--username", ALICE, "--password-stdin"]
    result = run_cli(argv, env, stdin=stdin)
    assert result.code == 3, result.err
    assert "not valid UTF-8" in result.err
    for leak in ("position", "udcff", "ud800", "s3cret", "internal error", "\\x"):
        assert leak not in result.both
    assert proxy.count() == 0


# ---------------------------------------------------------------------------------------------------------
# #14 item 11: auth explain judges by the registry's answer and understands wildcard grants
# ---------------------------------------------------------------------------------------------------------


def _jwt(claims: dict[str, object]) -> str:
    def part(doc: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(doc).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}.c2ln"


@pytest.mark.parametrize(
    "access",
    [
        [{"type": "repository", "name": "group/*", "actions": ["pull"]}],
        [{"type": "repository", "name": "*", "actions": ["*"]}],
        [
            {"type": "repository", "name": "other/project", "actions": ["pull"]}
        ],  # claims say no; registry says yes
    ],
    ids=["group-wildcard", "all-wildcard", "claims-disagree"],
)
def test_pc_explain_judges_pull_by_the_registry_answer(access: list[dict[str, object]]) -> None:
    """#14 item 11: the token grants ``group/*`` (or ``*``, or its claims do not name the repository at all)
    and the registry answers 200 to the token: pull is granted, exit 0. ``auth explain`` used to say "not
    granted pull" (exit 4) by comparing the claims' names literally, against the registry's own answer."""
    token = _jwt({"access": access, "exp": 4_000_000_000, "iat": 1_700_000_000})

    def token_service(req: RawRequest) -> Iterable[bytes | float]:
        return [
            http_response(200, [("Content-Type", "application/json")], json.dumps({"token": token}).encode())
        ]

    realm = RawServer(token_service).start()
    try:

        def registry(req: RawRequest) -> Iterable[bytes | float]:
            if req.header("authorization") != f"Bearer {token}":
                challenge = f'Bearer realm="http://{realm.netloc}/jwt/auth",service="hostile"'
                return [http_response(401, [("WWW-Authenticate", challenge)])]
            return _present(req)

        server = RawServer(registry).start()
        try:
            argv = ["auth", "explain", "--plain-http", server.netloc, f"{server.netloc}/{REPO}:oci"]
            result = run_cli(argv, ALICE_ENV)
        finally:
            server.stop()
    finally:
        realm.stop()
    assert result.code == 0, result.both
    assert "not pull" not in result.both and "grants nothing" not in result.both
    assert realm.requests, "no token was asked for"
