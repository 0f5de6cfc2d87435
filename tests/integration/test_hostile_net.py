"""Hostile registries: credentials and transport (issue 14, items 1, 2, 4, 5, 6, 8, 11, 13, 14, 15).

Every hostile server here is on loopback: the fault proxy in front of the real registry, the credential sink,
and :class:`rig.hostile.RawServer`, which writes whatever bytes a test scripts (a garbage status line, endless
headers, a drip of header lines) where no real server would. "Public" registry names end in ``.invalid`` and
are reached through the fault proxy acting as an HTTP proxy (``ALL_PROXY``), so DNS is never asked.
"""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest

from integration.faultkit import ALICE_ENV, REPO

from clirunner import run_cli
from rig import Rig
from rig.faultproxy import FaultProxy, Rule, rewrite_realm
from rig.sink import Sink

PUBLIC_NAME = "registry.example.invalid"


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
