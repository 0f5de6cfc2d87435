"""Keyless (Fulcio certificate + Rekor SET) verification, offline (#24, docs/architecture.md §10)."""

from __future__ import annotations

from ocireg.record import record
from ocireg.signatures.candidate import Candidate

__all__ = ["KeylessPolicy", "load_keyless_policy"]


@record(frozen=True)
class KeylessPolicy:
    """Who may sign keyless: the certificate identity and OIDC issuer, and the trust root."""

    identity: str
    issuer: str

    def signer(self, candidate: Candidate, signature: bytes, message: bytes) -> str | None:
        return None


def load_keyless_policy(
    *,
    identity: str | None,
    issuer: str | None,
    trusted_root: str | None,
    fulcio_ca: str | None,
    rekor_key: str | None,
) -> KeylessPolicy:
    """The keyless policy of the command line (every file read and checked before any request)."""
    from ocireg.errors import UsageError

    raise UsageError("keyless verification is not available yet; use --key")
