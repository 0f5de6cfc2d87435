"""The realm policy (docs/architecture.md §4): where a token request may go, judged before any connection."""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urljoin, urlsplit

from ocireg.connection import split_url
from ocireg.errors import RealmRejected
from ocireg.text import escape
from ocireg.transport import redact_url

__all__ = ["host_class", "socket_address", "validate_realm"]

# Names that resolve to loopback without DNS: RFC 6761 §6.3 (``localhost`` and ``*.localhost``) and the names
# Debian's and Fedora's /etc/hosts give ::1.
_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"})
_NAT64 = ipaddress.IPv6Network(
    "64:ff9b::/96"
)  # RFC 6052 well-known prefix: the last 32 bits are an IPv4 address


def socket_address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address the socket layer will connect to for ``host``, if ``host`` is an address at all.

    ``getaddrinfo`` (glibc, musl, BSD libc) reads numeric IPv4 hosts with ``inet_aton``, which also accepts
    ``2130706433``, ``0x7f000001``, ``127.1``, ``0177.0.0.1`` and ``0`` (= 0.0.0.0, which Linux connects to the
    local host); a trailing dot makes no difference to what is reached. IPv6 literals lose brackets and zone
    id; an IPv4-mapped (``::ffff:a.b.c.d``), IPv4-compatible (``::a.b.c.d``) or NAT64 (``64:ff9b::a.b.c.d``)
    address is judged as the IPv4 address it carries. ``None`` for a DNS name (names are not resolved here).
    """
    text = host.strip("[]").split("%", 1)[0].rstrip(".").lower()
    if not text:
        return None
    try:
        addr = ipaddress.ip_address(text)
    except ValueError:
        return _inet_aton(text)
    if isinstance(addr, ipaddress.IPv6Address):
        return _carried_ipv4(addr)
    return addr


def _carried_ipv4(addr: ipaddress.IPv6Address) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """The IPv4 address an IPv4-mapped, IPv4-compatible or NAT64 address carries, else ``addr`` itself."""
    if addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    packed = addr.packed
    # ::a.b.c.d (deprecated, RFC 4291 §2.5.5.1), not :: or ::1; or the NAT64 well-known prefix (RFC 6052).
    if (packed[:12] == bytes(12) and int(addr) > 1) or addr in _NAT64:
        return ipaddress.IPv4Address(packed[12:])
    return addr


def _inet_aton(text: str) -> ipaddress.IPv4Address | None:
    """``text`` read as ``inet_aton`` reads a numeric IPv4 host (``127.1``, ``0x7f000001``...); ``None`` for a name."""
    import socket

    if not re.fullmatch(r"[0-9a-fx.]+", text) or not text[0].isdigit():
        return None  # a name: inet_aton forms always start with a digit
    try:
        return ipaddress.IPv4Address(socket.inet_aton(text))
    except OSError:
        return None


def host_class(host: str) -> str | None:
    """``"loopback"``, ``"link-local"``, ``"private"`` or ``None`` (a public address, or a DNS name).

    Judged on :func:`socket_address`, so ``2130706433``, ``0x7f.1``, ``localhost.`` and ``[::ffff:127.0.0.1]``
    are loopback like ``127.0.0.1``. ``0.0.0.0``/``::`` reach the local host (Linux) and count as loopback;
    every other non-global address (RFC 1918, unique local, CGNAT, reserved, multicast) counts as private.
    """
    name = host.strip("[]").rstrip(".").lower()
    if name in _LOOPBACK_NAMES or name.endswith(".localhost"):
        return "loopback"
    addr = socket_address(host)
    if addr is None:
        return None
    if addr.is_loopback or addr.is_unspecified:
        return "loopback"
    if addr.is_link_local:
        return "link-local"
    if not addr.is_global or addr.is_multicast:
        return "private"
    return None


def validate_realm(realm: str, registry_url: str) -> str:
    """Check a token realm before any connection to it, and return it as an absolute URL.

    The rules (docs/architecture.md §4; the 2026 realm SSRF fixes in other clients; CVE-2024-3727 for the general issue of
    registries steering clients): https only, unless the registry itself is plain HTTP; no userinfo; a realm
    on a loopback, link-local or private address (in any spelling the socket layer accepts, see
    :func:`host_class`) only for a registry in the same class. A relative realm is resolved against the
    registry (same origin, nothing new trusted).
    """
    if any(ord(c) < 0x21 or c == "\x7f" for c in realm):
        raise RealmRejected("token realm contains whitespace or control characters")
    try:
        absolute = urljoin(registry_url.rstrip("/") + "/", realm)
        parts = urlsplit(absolute)
        reg = urlsplit(registry_url)
        _ = parts.port
        target = split_url(absolute)  # what the transport will parse: IDNA host, brackets, port
        registry_host = split_url(registry_url).host
    except ValueError as exc:
        raise RealmRejected("token realm is not a valid URL (bad port or address)") from exc
    if parts.scheme not in ("https", "http"):
        raise RealmRejected(f"token realm must be https: {redact_url(realm)}")
    if parts.scheme == "http" and reg.scheme != "http":
        raise RealmRejected(
            f"token realm {redact_url(realm)} is plain HTTP while the registry uses HTTPS; "
            "refusing to send credentials"
        )
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise RealmRejected("token realm contains userinfo; refusing it")
    if not parts.hostname:
        raise RealmRejected(f"token realm has no host: {redact_url(realm)}")
    # Judge the host the transport will connect to (its IDNA-encoded form), read the way the socket layer
    # reads it: "http://2130706433/" is 127.0.0.1 (#14 item 1).
    realm_class = host_class(target.host)
    registry_class = host_class(registry_host)
    if realm_class is not None and realm_class != registry_class:
        # Each class only for a registry of the same class (#14 item 2): a registry on 10.x has no business
        # sending us to the metadata service (169.254.169.254) or to a loopback admin port.
        where = f"a {registry_class} address" if registry_class else "not on such an address"
        raise RealmRejected(
            f"token realm {escape(parts.hostname)} is a {realm_class} address but the registry "
            f"{escape(reg.hostname or '')} is {where}; refusing it (realm SSRF)"
        )
    return absolute
