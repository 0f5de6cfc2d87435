"""Sigstore bundles (cosign 3's default form) read as DSSE envelopes (#24, docs/architecture.md §10).

The bundle is protobuf-JSON (sigstore protobuf-specs ``bundle.proto``, v0.3): ``dsseEnvelope`` with ``payload``
(base64), ``payloadType`` and ``signatures[].sig`` (base64); ``verificationMaterial`` with ``publicKey`` (a
hint only: the verifier's trusted keys decide) or ``certificate.rawBytes`` (keyless, DER). A bundle holding a
``messageSignature`` instead (``cosign sign-blob``) is not an image signature.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping

from ocireg.signatures.candidate import Envelope
from ocireg.signatures.payload import PayloadError, load_json

__all__ = ["decode_base64", "parse_bundle"]


def decode_base64(text: object) -> bytes | None:
    """Strict standard base64 (with padding), ``None`` for anything else."""
    if not isinstance(text, str):
        return None
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        return None


def _certificate(material: Mapping[str, object]) -> str | None:
    """The leaf certificate of a keyless bundle, as PEM (``certificate`` in v0.3, the chain's first before)."""
    raw: object = None
    cert = material.get("certificate")
    if isinstance(cert, dict):
        raw = cert.get("rawBytes")
    chain = material.get("x509CertificateChain")
    if raw is None and isinstance(chain, dict):
        certs = chain.get("certificates")
        if isinstance(certs, list) and certs and isinstance(certs[0], dict):
            raw = certs[0].get("rawBytes")
    der = decode_base64(raw)
    if der is None:
        return None
    body = base64.encodebytes(der).decode("ascii")
    return f"-----BEGIN CERTIFICATE-----\n{body}-----END CERTIFICATE-----\n"


def parse_bundle(raw: bytes) -> Envelope:
    """The DSSE envelope in a sigstore bundle; :class:`PayloadError` if the bundle holds none."""
    doc = load_json(raw, "sigstore bundle")
    envelope = doc.get("dsseEnvelope")
    if not isinstance(envelope, dict):
        raise PayloadError("the bundle holds no DSSE envelope (not an image signature)")
    payload = decode_base64(envelope.get("payload"))
    payload_type = envelope.get("payloadType")
    if payload is None or not isinstance(payload_type, str):
        raise PayloadError("the bundle's DSSE envelope has no valid payload or payloadType")
    signatures = envelope.get("signatures")
    signature = None
    if isinstance(signatures, list) and len(signatures) == 1 and isinstance(signatures[0], dict):
        signature = decode_base64(signatures[0].get("sig"))
    material = doc.get("verificationMaterial")
    certificate = _certificate(material) if isinstance(material, dict) else None
    return Envelope(payload_type, payload, signature, certificate)
