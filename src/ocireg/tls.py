"""TLS policy helpers of the transport (docs/architecture.md §4): the system trust store, Docker's TLS probe of a
loopback registry's port, and the words for a failed connection.
"""

from __future__ import annotations

import os
import ssl
import sys
from collections.abc import Callable

from ocireg.errors import TransportError
from ocireg.text import LazyPattern

TYPE_CHECKING = False
if TYPE_CHECKING:
    import socket

__all__ = ["describe_connect_error", "peer_is_loopback", "probe_loopback", "system_trust_context"]


def system_trust_context() -> ssl.SSLContext:
    """A verifying TLS context with the system's CA certificates, built cheaply.

    Loading the whole CA bundle file costs ~50 ms per process; where OpenSSL's hashed certificate directory
    exists (Debian, Ubuntu, Fedora) it is used instead, and certificates are read lazily at handshake time.
    Both hold the same CA set (update-ca-certificates writes both). Elsewhere: on macOS and Windows the
    platform's own verifier through ``truststore`` (their Python has no OpenSSL CA store of its own), else
    OpenSSL's default CA file, else the platform default. ``SSL_CERT_FILE``/``SSL_CERT_DIR`` are not read: the
    library never takes trust from the process environment (the CLI passes ``--ca-file`` in).
    """
    paths = ssl.get_default_verify_paths()
    capath = paths.openssl_capath
    try:
        hashed = bool(capath) and any(_HASHED_CERT.fullmatch(name) for name in os.listdir(capath))
    except OSError:
        hashed = False
    if hashed:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # check_hostname and CERT_REQUIRED by default
        ctx.load_verify_locations(capath=capath)
        return ctx
    if sys.platform in ("darwin", "win32"):  # pragma: no cover - Linux never imports truststore
        try:
            import truststore
        except ImportError:
            pass
        else:
            return truststore.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # type: ignore[no-any-return]
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if paths.openssl_cafile and os.path.isfile(paths.openssl_cafile):
        ctx.load_verify_locations(cafile=paths.openssl_cafile)
    else:  # pragma: no cover - e.g. Windows without truststore: the system store
        ctx.load_default_certs()
    return ctx


_HASHED_CERT = LazyPattern(r"[0-9a-f]{8}\.[0-9]+")


def describe_connect_error(exc: Exception) -> tuple[str, str | None]:
    text = str(exc) or type(exc).__name__
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ssl.SSLCertVerificationError):
            reason = cause.verify_message or str(cause)
            return (
                f"TLS certificate not trusted ({reason})",
                "pass --ca-file PATH with the registry's CA certificate (CI_SERVER_TLS_CA_FILE in a CI job is used)\n"
                "or, as a last resort, --insecure-skip-tls-verify HOST",
            )
        cause = cause.__cause__ or cause.__context__
    if "CERTIFICATE_VERIFY_FAILED" in text:
        return (
            "TLS certificate not trusted",
            "pass --ca-file PATH with the registry's CA certificate (CI_SERVER_TLS_CA_FILE in a CI job is used)",
        )
    if "Name or service not known" in text or "nodename nor servname" in text or "getaddrinfo" in text:
        return f"DNS lookup failed ({text})", "check the registry host name"
    if "Connection refused" in text or "Errno 111" in text:
        return "connection refused", "is the registry running on that host and port?"
    return text, None


def peer_is_loopback(sock: socket.socket) -> bool:
    """Whether ``sock`` is connected to a loopback address (127.0.0.0/8, ``::1``, ``::ffff:127.x.y.z``)."""
    import ipaddress

    try:
        address = ipaddress.ip_address(sock.getpeername()[0].partition("%")[0])
    except (OSError, ValueError, IndexError):
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback


def probe_loopback(
    host: str,
    timeout: float,
    tls_for: Callable[[str, int], ssl.SSLContext],
    adopt: Callable[[str, ssl.SSLSocket], bool] | None,
    connect: Callable[[tuple[str, int], float], socket.socket] | None = None,
) -> str | None:
    """Docker's rule for loopback registries: TLS if the port speaks it, else plain HTTP.

    The probe is a bare TLS handshake (no HTTP request), so it costs no request at the registry. ``None``
    when nothing answers on the port: undecided, and nothing may be remembered (#14 item 8). A name
    (``localhost``, ``*.localhost`` by RFC 6761) falls back to plain HTTP only when the address it
    resolved to is a loopback one: a resolver that sends ``registry.localhost`` elsewhere gets HTTPS.

    The handshake uses the host's own TLS policy (its CA file, skip-verify setting or the system trust), so
    a verified connection is kept in the pool and carries the first request: the probe costs no round trip
    of its own (#16). A certificate that fails verification still proves the port speaks TLS ("https"; the
    request then reports the certificate); any other TLS failure means plain HTTP, as before.
    """
    from ocireg.headstart import dial

    hostname, _, port_text = host.rpartition(":") if not host.endswith("]") else (host, "", "")
    if not hostname:
        hostname, port_text = host, ""
    hostname = hostname.strip("[]")
    port = int(port_text) if port_text.isdigit() else 443
    try:
        sock = (connect or dial)((hostname, port), timeout)
    except OSError:
        return None  # unreachable either way; let the real request report the error
    kept = False
    try:
        if not peer_is_loopback(sock):
            return "https"
        try:
            ctx = tls_for(hostname, port)
        except TransportError:
            return None  # the TLS policy itself is broken (e.g. --ca-file): the request reports that
        tls = ctx.wrap_socket(sock, server_hostname=hostname)
        kept = adopt is not None and adopt(f"https://{host}/", tls)
        if not kept:
            tls.close()
        return "https"
    except ssl.SSLCertVerificationError:
        return "https"  # TLS spoken, certificate not trusted: the request says so
    except ssl.SSLError:
        return "http"
    except OSError:
        return "http"
    finally:
        if not kept:
            sock.close()
