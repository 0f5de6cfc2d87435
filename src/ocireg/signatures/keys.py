"""Trusted public keys and the signature check over exact bytes (#24, docs/architecture.md §10).

Keys are PEM ``PUBLIC KEY`` (SubjectPublicKeyInfo), as ``cosign generate-key-pair`` writes ``cosign.pub``:
ECDSA P-256 (cosign's default) or P-384, RSA, Ed25519, the set containers/image's ``LoadVerifier`` takes
(signature/internal/sigstore_payload.go). Signatures are checked as sigstore's verifiers do: ECDSA ASN.1 DER
and RSA PKCS#1 v1.5 over SHA-256 (containers/image hard-codes SHA-256; cosign also uses SHA-384 with P-384),
Ed25519 over the message itself.

``cryptography`` is the optional extra ``verify``: imported here, inside functions, never at start-up.
"""

from __future__ import annotations

from ocireg.errors import UsageError
from ocireg.record import field, record
from ocireg.text import escape

TYPE_CHECKING = False
if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

__all__ = ["INSTALL_HINT", "TrustedKey", "load_key", "load_key_pem", "require_crypto", "verify_with"]

INSTALL_HINT = "pip install 'ocireg[verify]'"
#: A public key file larger than this is not a public key (an RSA-16384 PEM is ~3 KiB).
MAX_KEY_FILE = 64 * 1024
#: RSA keys shorter than this are refused: they do not protect anything today (NIST SP 800-131A).
MIN_RSA_BITS = 2048


@record(frozen=True)
class TrustedKey:
    """A trusted public key and where it came from (``name``: the file, for messages)."""

    name: str
    key: PublicKeyTypes = field(repr=False, compare=False)
    kind: str


def require_crypto() -> None:
    """Raise a usage error (exit 2) naming the extra when ``cryptography`` is not installed: never pass."""
    try:
        import cryptography  # noqa: F401
    except ImportError:
        raise UsageError(
            "verifying signatures needs the 'cryptography' package, which is not installed",
            hint=f"{INSTALL_HINT} (the single-file build cannot carry it)",
        ) from None


def load_key(path: str, option: str = "--key") -> TrustedKey:
    """The public key in the PEM file ``path``; a missing, unreadable or non-key file is a usage error."""
    require_crypto()
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_KEY_FILE + 1)
    except OSError as exc:
        raise UsageError(f"{option} {escape(path)}: {escape(exc.strerror or str(exc))}") from None
    if len(data) > MAX_KEY_FILE:
        raise UsageError(f"{option} {escape(path)}: larger than {MAX_KEY_FILE // 1024} KiB: not a public key")
    return load_key_pem(data, path, option)


def load_key_pem(data: bytes, name: str, option: str = "--key") -> TrustedKey:
    """The public key in PEM ``data`` (``name`` for messages): ECDSA P-256/P-384, RSA ≥ 2048 bits or Ed25519."""
    require_crypto()
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    what = f"{option} {escape(name)}"
    if b"PRIVATE KEY" in data:
        raise UsageError(f"{what}: this is a private key; give the public key (cosign.pub)")
    try:
        key = load_pem_public_key(data)
    except (ValueError, TypeError):
        raise UsageError(
            f"{what}: not a PEM public key",
            hint="the file 'cosign generate-key-pair' writes as cosign.pub (-----BEGIN PUBLIC KEY-----)",
        ) from None
    except Exception as exc:  # noqa: BLE001 - cryptography raises its own classes for malformed DER
        raise UsageError(f"{what}: not a PEM public key ({type(exc).__name__})") from None
    if isinstance(key, ec.EllipticCurvePublicKey):
        if key.curve.name not in ("secp256r1", "secp384r1"):
            raise UsageError(f"{what}: ECDSA curve {key.curve.name} is not supported (P-256 or P-384)")
        return TrustedKey(name, key, f"ecdsa-{key.curve.name}")
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < MIN_RSA_BITS:
            raise UsageError(f"{what}: RSA key of {key.key_size} bits; at least {MIN_RSA_BITS} are needed")
        return TrustedKey(name, key, f"rsa-{key.key_size}")
    if isinstance(key, ed25519.Ed25519PublicKey):
        return TrustedKey(name, key, "ed25519")
    raise UsageError(f"{what}: a {type(key).__name__} is not supported (ECDSA, RSA or Ed25519)")


def verify_with(key: PublicKeyTypes, signature: bytes, message: bytes) -> bool:
    """True if ``signature`` is ``key``'s signature over exactly ``message`` (docs/architecture.md §10)."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

    try:
        if isinstance(key, ec.EllipticCurvePublicKey):
            algorithms: list[hashes.HashAlgorithm] = [hashes.SHA256()]
            if key.curve.name == "secp384r1":
                algorithms.append(hashes.SHA384())
            for algorithm in algorithms:
                try:
                    key.verify(signature, message, ec.ECDSA(algorithm))
                    return True
                except InvalidSignature:
                    continue
            return False
        if isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, message, padding.PKCS1v15(), hashes.SHA256())
            return True
        if isinstance(key, ed25519.Ed25519PublicKey):
            key.verify(signature, message)
            return True
    except (InvalidSignature, ValueError):
        return False
    return False
