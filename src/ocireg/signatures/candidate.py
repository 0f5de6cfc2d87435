"""One signature as found in a registry: untrusted bytes until :mod:`ocireg.signatures.policy` says otherwise."""

from __future__ import annotations

from collections.abc import Mapping

from ocireg.record import field, record

__all__ = ["Candidate", "Envelope"]


@record(frozen=True)
class Envelope:
    """A DSSE envelope (sigstore bundle form): the signature covers PAE(``payload_type``, ``payload``)."""

    payload_type: str
    payload: bytes
    signature: bytes | None
    #: ``verificationMaterial``: the leaf certificate (PEM) of a keyless bundle, if any.
    certificate: str | None = None


@record(frozen=True)
class Candidate:
    """One signature: where it was found (``source``), the payload bytes and what came with them.

    ``source``: ``"tag"`` (the ``.sig`` tag), ``"referrer"`` (cosign's OCI 1.1 simple-signing referrer) or
    ``"bundle"`` (a sigstore bundle referrer). For the first two, ``payload`` is the simple-signing blob and
    ``signature`` the decoded ``dev.cosignproject.cosign/signature`` annotation (``None`` if absent or not
    base64); a bundle has ``envelope`` instead. ``problem`` says why a candidate cannot be judged at all
    (oversized, unreadable): it then counts as an untrusted signature.
    """

    source: str
    payload: bytes = b""
    signature: bytes | None = None
    annotations: Mapping[str, str] = field(default_factory=dict, hash=False)
    envelope: Envelope | None = None
    problem: str | None = None
