"""Keyless signatures, offline: a Fulcio certificate and a Rekor SET (#24, docs/architecture.md §10).

Transcribed from containers/image ``signature/internal/rekor_set.go`` (``VerifyRekorSET``) and
``signature/fulcio_cert.go``, in their order, for the ``.sig`` layout (annotations
``dev.sigstore.cosign/certificate``, ``…/chain``, ``…/bundle``):

1. the Rekor SET: its signature by a trusted Rekor key over the RFC 8785 form of its ``Payload``; the
   ``hashedrekord`` 0.0.1 body must name this certificate, this signature and sha256 of this payload;
2. the certificate chain to a trusted Fulcio CA **at the SET's integrated time** (a Fulcio leaf lives ten
   minutes), with the code-signing extended key usage;
3. the OIDC issuer extension (1.3.6.1.4.1.57264.1.8, or the older .1.1) and the subject (SAN e-mail or URI);
4. then the payload signature with the certificate's key (:mod:`ocireg.signatures.policy` goes on from there).

Like containers/image, the certificate's SCT is not checked (``fulcio_cert.go`` explains why). Keyless sigstore
bundles (cosign 3) need Rekor inclusion proofs: not verified here (docs/architecture.md §10).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from typing import TypeVar

from ocireg.errors import UsageError
from ocireg.record import field, record
from ocireg.signatures.bundle import decode_base64
from ocireg.signatures.candidate import Candidate
from ocireg.signatures.keys import verify_with
from ocireg.signatures.layout import ANNOTATION_BUNDLE, ANNOTATION_CERTIFICATE, ANNOTATION_CHAIN
from ocireg.text import escape

TYPE_CHECKING = False
if TYPE_CHECKING:
    import datetime as dt

    from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes
    from cryptography.x509 import Certificate

__all__ = ["KeylessPolicy", "load_keyless_policy", "trusted_root_material"]

_ISSUER_V2 = "1.3.6.1.4.1.57264.1.8"  # Fulcio: OIDC issuer, DER UTF8String
_ISSUER_V1 = "1.3.6.1.4.1.57264.1.1"  # Fulcio: OIDC issuer, raw bytes (deprecated)
MAX_TRUST_FILE = 1024 * 1024

#: A ``validFor`` period of ``trusted_root.json`` (protobuf-specs ``TimeRange``) in Unix seconds: (start, end or
#: None). A CA or a log key vouches only for a SET whose integrated time falls in it (sigstore-go
#: ``VerifyLeafCertificate``, ``VerifySET``); a key given as a file has no period (None: always).
Period = tuple[int, int | None]
_TIMESTAMP = re.compile(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(\.\d{1,9})?(Z|[+-]\d\d:\d\d)")


class _Rejected(Exception):
    """Why a keyless signature is not accepted (the reason stays untrusted-signature)."""


@record(frozen=True)
class KeylessPolicy:
    """Who may sign keyless: the certificate ``identity`` (SAN e-mail or URI) and OIDC ``issuer``, trusted by
    ``fulcio_roots`` (certificates) and ``rekor_keys`` (public keys) given as files."""

    identity: str
    issuer: str
    fulcio_roots: tuple[Certificate, ...] = field(repr=False, compare=False)
    rekor_keys: tuple[PublicKeyTypes, ...] = field(repr=False, compare=False)
    #: The :data:`Period` of each of ``fulcio_roots`` and ``rekor_keys``, in their order (empty: always valid).
    root_periods: tuple[Period | None, ...] = field(default=(), repr=False, compare=False)
    rekor_periods: tuple[Period | None, ...] = field(default=(), repr=False, compare=False)

    def signer(self, candidate: Candidate, signature: bytes, message: bytes) -> str | None:
        """``identity (issuer)`` if ``signature`` over ``message`` is this identity's, keyless; else None."""
        if candidate.envelope is not None:
            return None  # keyless bundles: not verified yet (module docstring)
        try:
            leaf = self._check(candidate.annotations, signature, message)
        except _Rejected:
            return None
        if not verify_with(leaf.public_key(), signature, message):
            return None
        return f"{self.identity} ({self.issuer})"

    def _check(self, annotations: Mapping[str, str], signature: bytes, payload: bytes) -> Certificate:
        from cryptography import x509

        pem, chain_pem, set_text = (
            annotations.get(ANNOTATION_CERTIFICATE),
            annotations.get(ANNOTATION_CHAIN),
            annotations.get(ANNOTATION_BUNDLE),
        )
        if not pem or not set_text:
            raise _Rejected("no certificate or no Rekor SET")
        try:
            leaf = x509.load_pem_x509_certificate(pem.encode())
            chain = x509.load_pem_x509_certificates(chain_pem.encode()) if chain_pem else []
        except ValueError:
            raise _Rejected("unreadable certificate") from None
        when = _verify_set(_paired(self.rekor_keys, self.rekor_periods), set_text, leaf, signature, payload)
        moment = int(when.timestamp())
        roots = tuple(
            r for r, period in _paired(self.fulcio_roots, self.root_periods) if _within(period, moment)
        )
        if not roots:
            raise _Rejected("no trusted Fulcio CA was valid at the SET's time")
        _verify_chain(leaf, chain, roots, when)
        if _issuer(leaf) != self.issuer or self.identity not in _subjects(leaf):
            raise _Rejected("another identity or issuer")
        return leaf


_T = TypeVar("_T")


def _paired(items: Sequence[_T], periods: tuple[Period | None, ...]) -> list[tuple[_T, Period | None]]:
    return list(zip(items, periods or (None,) * len(items), strict=True))


def _within(period: Period | None, moment: int) -> bool:
    return period is None or (period[0] <= moment and (period[1] is None or moment <= period[1]))


def _canonical(doc: object) -> bytes:
    """RFC 8785 for what a SET payload holds (ASCII keys, strings and integers): sorted keys, no spaces."""
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _verify_set(
    keys: list[tuple[PublicKeyTypes, Period | None]],
    text: str,
    leaf: Certificate,
    signature: bytes,
    payload: bytes,
) -> dt.datetime:
    """containers/image ``VerifyRekorSET``: the SET's time, if it is signed by a Rekor key and names this entry."""
    import datetime as dt

    from cryptography.hazmat.primitives.serialization import Encoding

    try:
        doc = json.loads(text)
        set_signature = decode_base64(doc["SignedEntryTimestamp"])
        set_payload = doc["Payload"]
        body = json.loads(base64.b64decode(set_payload["body"], validate=True))
        integrated = set_payload["integratedTime"]
        if set_signature is None or not isinstance(integrated, int) or isinstance(integrated, bool):
            raise _Rejected("malformed SET")
        valid = [key for key, period in keys if _within(period, integrated)]
        if not any(verify_with(key, set_signature, _canonical(set_payload)) for key in valid):
            raise _Rejected("the SET is not signed by a trusted Rekor key")
        if body.get("kind") != "hashedrekord" or body.get("apiVersion") != "0.0.1":
            raise _Rejected("not a hashedrekord 0.0.1 entry")
        spec = body["spec"]
        logged_pem = base64.b64decode(spec["signature"]["publicKey"]["content"], validate=True)
        logged_signature = base64.b64decode(spec["signature"]["content"], validate=True)
        hashed = spec["data"]["hash"]
    except (KeyError, TypeError, ValueError, AttributeError, RecursionError) as exc:
        # RecursionError: the SET is the pusher's text, parsed before its signature is checked (JSON nested
        # deeper than the interpreter's stack) -- an untrusted signature, never an internal error.
        raise _Rejected(f"malformed SET: {type(exc).__name__}") from None
    from cryptography import x509

    try:
        logged = x509.load_pem_x509_certificate(logged_pem)
    except ValueError:
        raise _Rejected("the SET names no certificate") from None
    if logged.public_bytes(Encoding.DER) != leaf.public_bytes(Encoding.DER):
        raise _Rejected("the SET names another certificate")
    if logged_signature != signature:
        raise _Rejected("the SET names another signature")
    if hashed.get("algorithm") != "sha256" or hashed.get("value") != hashlib.sha256(payload).hexdigest():
        raise _Rejected("the SET names another payload")
    return dt.datetime.fromtimestamp(integrated, dt.timezone.utc)


def _verify_chain(
    leaf: Certificate, chain: list[Certificate], roots: tuple[Certificate, ...], when: dt.datetime
) -> None:
    """The path from ``leaf`` to a trusted Fulcio certificate, valid at ``when``, for code signing."""
    from cryptography import x509
    from cryptography.x509.oid import ExtendedKeyUsageOID
    from cryptography.x509.verification import (
        Criticality,
        ExtensionPolicy,
        PolicyBuilder,
        Store,
        VerificationError,
    )

    def code_signing(_policy: object, _cert: object, eku: x509.ExtendedKeyUsage | None) -> None:
        if eku is None or ExtendedKeyUsageOID.CODE_SIGNING not in eku:
            raise ValueError("the certificate is not for code signing")

    # Fulcio intermediates carry a code-signing EKU, which WebPKI's CA policy would refuse for a client path.
    ca = ExtensionPolicy.webpki_defaults_ca().may_be_present(
        x509.ExtendedKeyUsage, Criticality.AGNOSTIC, None
    )
    ee = ExtensionPolicy.permit_all().require_present(
        x509.ExtendedKeyUsage, Criticality.AGNOSTIC, code_signing
    )
    builder = (
        PolicyBuilder().store(Store(list(roots))).time(when).extension_policies(ca_policy=ca, ee_policy=ee)
    )
    try:
        builder.build_client_verifier().verify(leaf, chain)
    except (VerificationError, ValueError) as exc:
        raise _Rejected(f"certificate chain: {exc}") from None


def _issuer(leaf: Certificate) -> str | None:
    """The OIDC issuer, as containers/image ``fulcioIssuerInCertificate`` reads it: the deprecated .1.1 (raw bytes)
    and .1.8 (a DER UTF8String); both present must agree. ``None`` when absent, malformed or inconsistent."""
    from cryptography import x509

    found: dict[str, str | None] = {}
    for extension in leaf.extensions:
        oid, value = extension.oid.dotted_string, extension.value
        if oid in (_ISSUER_V1, _ISSUER_V2) and isinstance(value, x509.UnrecognizedExtension):
            raw = value.value
            found[oid] = raw.decode("utf-8", "replace") if oid == _ISSUER_V1 else _utf8_string(raw)
    values = set(found.values())
    if len(values) != 1:
        return None  # none, or v1 and v2 disagree ("inconsistent OIDC issuer extension values")
    return values.pop()


def _utf8_string(der: bytes) -> str | None:
    """The text of a DER UTF8String (tag 0x0C; short or long-form length) that fills ``der`` exactly."""
    if len(der) < 2 or der[0] != 0x0C:
        return None
    length, start = der[1], 2
    if length & 0x80:
        count = length & 0x7F
        if count not in (1, 2) or len(der) < 2 + count:
            return None
        length, start = int.from_bytes(der[2 : 2 + count], "big"), 2 + count
    if len(der) != start + length:
        return None
    try:
        return der[start:].decode("utf-8")
    except UnicodeDecodeError:
        return None


def _subjects(leaf: Certificate) -> list[str]:
    from cryptography import x509

    try:
        names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    return [
        *names.get_values_for_type(x509.RFC822Name),
        *names.get_values_for_type(x509.UniformResourceIdentifier),
    ]


def _read(path: str, option: str) -> bytes:
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_TRUST_FILE + 1)
    except OSError as exc:
        raise UsageError(f"{option} {escape(path)}: {escape(exc.strerror or str(exc))}") from None
    if len(data) > MAX_TRUST_FILE:
        raise UsageError(f"{option} {escape(path)}: larger than {MAX_TRUST_FILE // 1024} KiB")
    return data


def _timestamp(text: object, *, round_up: bool = False) -> int:
    """Unix seconds of a protobuf-JSON ``Timestamp`` (RFC 3339); a fraction rounds down, or up for a start."""
    import datetime as dt

    match = _TIMESTAMP.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise ValueError(f"not an RFC 3339 time: {str(text)[:40]!r}")
    *fields, fraction, zone = match.groups()
    offset = (
        dt.timedelta(0)
        if zone == "Z"
        else int(zone[0] + "1") * dt.timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6]))
    )
    year, month, day, hour, minute, second = (int(f) for f in fields)
    moment = dt.datetime(year, month, day, hour, minute, second, tzinfo=dt.timezone(offset))
    seconds = int(moment.timestamp())
    return seconds + 1 if round_up and fraction and int(fraction[1:]) else seconds


def _period(valid_for: object) -> Period | None:
    """A ``validFor`` (``{"start": …, "end": …}``, end optional) as a :data:`Period`; None when absent."""
    if valid_for is None:
        return None
    if not isinstance(valid_for, dict):
        raise TypeError("validFor is not an object")
    end = valid_for.get("end")
    return _timestamp(valid_for.get("start"), round_up=True), None if end is None else _timestamp(end)


def trusted_root_material(
    data: bytes, name: str
) -> tuple[list[tuple[Certificate, Period | None]], list[tuple[PublicKeyTypes, Period | None]]]:
    """Fulcio certificates and Rekor keys from sigstore's ``trusted_root.json`` (protobuf-specs ``TrustedRoot``:
    ``certificateAuthorities[].certChain.certificates[].rawBytes``, ``tlogs[].publicKey.rawBytes``), each with
    its authority's or key's ``validFor`` period."""
    from cryptography import x509
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives.serialization import load_der_public_key

    what = f"--trusted-root {escape(name)}"
    try:
        doc = json.loads(data)
        certificates = [
            (x509.load_der_x509_certificate(base64.b64decode(c["rawBytes"], validate=True)), period)
            for authority in doc.get("certificateAuthorities", [])
            for period in (_period(authority.get("validFor")),)
            for c in authority["certChain"]["certificates"]
        ]
        keys = [
            (
                load_der_public_key(base64.b64decode(log["publicKey"]["rawBytes"], validate=True)),
                _period(log["publicKey"].get("validFor")),
            )
            for log in doc.get("tlogs", [])
        ]
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError, UnsupportedAlgorithm) as exc:
        raise UsageError(f"{what}: not a sigstore trusted_root.json ({type(exc).__name__})") from None
    if not certificates or not keys:
        raise UsageError(f"{what}: no certificate authority or no transparency log in it")
    return certificates, keys


def load_keyless_policy(
    *,
    identity: str | None,
    issuer: str | None,
    trusted_root: str | None,
    fulcio_ca: str | None,
    rekor_key: str | None,
) -> KeylessPolicy:
    """The keyless policy of the command line: every file read and checked before any request (exit 2)."""
    from cryptography import x509

    from ocireg.signatures.keys import load_key

    if not identity or not issuer:
        raise UsageError("keyless verification needs --certificate-identity and --certificate-oidc-issuer")
    if trusted_root and (fulcio_ca or rekor_key):
        raise UsageError("give --trusted-root, or --fulcio-ca with --rekor-key, not both")
    if trusted_root:
        authorities, logs = trusted_root_material(_read(trusted_root, "--trusted-root"), trusted_root)
        return KeylessPolicy(
            identity,
            issuer,
            tuple(r for r, _ in authorities),
            tuple(k for k, _ in logs),
            tuple(p for _, p in authorities),
            tuple(p for _, p in logs),
        )
    if not fulcio_ca or not rekor_key:
        raise UsageError(
            "keyless verification needs a trust root: --trusted-root, or --fulcio-ca and --rekor-key"
        )
    try:
        roots = x509.load_pem_x509_certificates(_read(fulcio_ca, "--fulcio-ca"))
    except ValueError:
        raise UsageError(f"--fulcio-ca {escape(fulcio_ca)}: not PEM certificates") from None
    return KeylessPolicy(identity, issuer, tuple(roots), (load_key(rekor_key, "--rekor-key").key,))
