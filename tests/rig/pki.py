"""Throwaway PKI for the integration rig.

One trustme CA per test session signs every server certificate the rig needs, so TLS tests exercise real
certificate verification (CA file, hostname/IP SAN checks) without touching the system trust store.

Why separate certificates per role: the registry's certificate covers ``127.0.0.1`` and ``localhost`` only and
the token server's covers ``127.0.0.2`` only, like a GitLab registry and its realm living on different hosts.
A client that sent the registry's hostname to the realm (or the other way round) fails verification, which is
what security tests need. ``server_cert()`` with no argument issues one certificate for all three names.
"""

from __future__ import annotations

import ssl
import threading
from dataclasses import dataclass
from pathlib import Path

import trustme

#: Names the registry's TLS certificate is valid for.
REGISTRY_NAMES: tuple[str, ...] = ("127.0.0.1", "localhost")
#: Names the token server's (realm's) TLS certificate is valid for.
REALM_NAMES: tuple[str, ...] = ("127.0.0.2",)
#: Every name the rig ever serves TLS on.
ALL_NAMES: tuple[str, ...] = ("127.0.0.1", "127.0.0.2", "localhost")


@dataclass(frozen=True)
class ServerCert:
    """A leaf certificate written to disk (the registry binary needs files, not in-memory keys)."""

    names: tuple[str, ...]
    cert_file: Path  # leaf + chain, PEM
    key_file: Path  # private key, PEM

    def server_context(self) -> ssl.SSLContext:
        """An SSLContext for an in-process Python server presenting this certificate."""
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(str(self.cert_file), str(self.key_file))
        return ctx


class Pki:
    """A session CA plus cached server certificates, all written under ``directory``."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.directory.mkdir(parents=True, exist_ok=True)
        self.ca = trustme.CA(organization_name="ocireg test rig")
        self.ca_file: Path = self.directory / "ca.pem"
        self.ca.cert_pem.write_to_path(str(self.ca_file))
        self._certs: dict[tuple[str, ...], ServerCert] = {}
        self._lock = threading.Lock()

    def server_cert(self, *names: str) -> ServerCert:
        """Issue (once) and return a server certificate valid for exactly ``names`` (default: all rig names)."""
        key = tuple(names) if names else ALL_NAMES
        with self._lock:
            cached = self._certs.get(key)
            if cached is not None:
                return cached
            leaf = self.ca.issue_cert(*key)
            stem = "cert-" + "_".join(n.replace(".", "-") for n in key)
            cert_file = self.directory / f"{stem}.pem"
            key_file = self.directory / f"{stem}.key"
            # Chain file: leaf first, then intermediates (none here), as Go's tls.LoadX509KeyPair expects.
            cert_file.write_bytes(b"".join(blob.bytes() for blob in leaf.cert_chain_pems))
            leaf.private_key_pem.write_to_path(str(key_file))
            key_file.chmod(0o600)
            made = ServerCert(names=key, cert_file=cert_file, key_file=key_file)
            self._certs[key] = made
            return made

    def server_context(self, *names: str) -> ssl.SSLContext:
        """Server-side SSLContext for ``names`` (see ``server_cert``)."""
        return self.server_cert(*names).server_context()

    def client_context(self) -> ssl.SSLContext:
        """Client-side SSLContext trusting only the rig CA (hostname checking on)."""
        ctx = ssl.create_default_context(cafile=str(self.ca_file))
        return ctx

    def write_ca(self, path: Path) -> Path:
        """Copy the CA PEM to ``path`` (tests that need the CA file in a specific place, e.g. a config dir)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(self.ca_file.read_bytes())
        return path
