"""#13 item 6: ``*.localhost`` names are loopback (RFC 6761 §6.3) for the plain-HTTP fallback, as the realm
policy (``ocireg.auth._is_private_host``) already treats them.

No reference implementation publishes cases for this; the names below follow RFC 6761 §6.3 ("localhost." and
any name falling within it) and the realm policy's own rule, which the two must now share.
"""

from __future__ import annotations

import socket

import pytest

from ocireg.auth import validate_realm
from ocireg.reference import parse_registry
from ocireg.tls import peer_is_loopback as _peer_is_loopback


@pytest.mark.parametrize(
    ("name", "loopback"),
    [
        ("localhost", True),
        ("localhost:5000", True),
        ("registry.localhost", True),
        ("registry.localhost:5000", True),
        ("a.b.localhost:443", True),
        ("127.0.0.1:5000", True),
        ("[::1]:5000", True),
        # not within the localhost. domain
        ("notlocalhost:5000", False),
        ("localhost.example.com", False),
        ("registry.localhost.example.com:5000", False),
        ("registry-localhost:5000", False),
        ("10.0.0.1:5000", False),
    ],
)
def test_sec_localhost_names_are_loopback(name: str, loopback: bool) -> None:
    """#13 item 6: the plain-HTTP fallback's notion of loopback covers ``*.localhost`` and nothing more."""
    assert parse_registry(name).is_loopback is loopback


def test_sec_realm_policy_and_fallback_agree_on_dot_localhost() -> None:
    """#13 item 6: a ``*.localhost`` realm is private to the realm policy exactly when the registry may use HTTP."""
    validate_realm("http://auth.localhost/jwt/auth", "http://registry.localhost:5000")
    assert parse_registry("registry.localhost:5000").is_loopback


def test_sec_fallback_needs_a_loopback_peer() -> None:
    """#13 item 6: the probe falls back to HTTP only when the address it reached is a loopback one."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        with socket.create_connection(listener.getsockname(), timeout=5) as client:
            assert _peer_is_loopback(client)
    finally:
        listener.close()
    left, right = socket.socketpair()  # not an IP peer at all
    with left, right:
        assert not _peer_is_loopback(left)
