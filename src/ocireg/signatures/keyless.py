"""Keyless (Fulcio certificate + Rekor SET) verification, offline (#24, docs/architecture.md §10)."""

from __future__ import annotations

from ocireg.record import record
from ocireg.signatures.candidate import Candidate

__all__ = ["KeylessPolicy"]


@record(frozen=True)
class KeylessPolicy:
    """Who may sign keyless: the certificate identity and OIDC issuer, and the trust root."""

    identity: str
    issuer: str

    def signer(self, candidate: Candidate, signature: bytes, message: bytes) -> str | None:
        return None
