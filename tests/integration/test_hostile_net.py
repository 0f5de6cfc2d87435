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
from collections.abc import Iterable, Iterator
from typing import Any

import pytest

from integration.faultkit import ALICE_ENV, REPO

from clirunner import run_cli
from rig import Rig
from rig.faultproxy import FaultProxy, Rule, rewrite_realm
from rig.hostile import RawRequest, RawServer, Script, http_response
from rig.sink import Sink
from rig.tokenserver import ALICE, ALICE_PASSWORD, SERVICE

PUBLIC_NAME = "registry.example.invalid"


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
