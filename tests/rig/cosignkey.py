"""cosign's encrypted private-key format, written and read by the rig's signer (#24).

The format (sigstore/cosign commit d6d86c224e5899b54f56cbb063b79dc43abc11c2, ``pkg/cosign/keys.go``
``marshalKeyPair`` / ``LoadPrivateKey``; secure-systems-lab/go-securesystemslib commit
8b6ec9cb6eef425465c35e3d0668516fd9992a0d, ``encrypted/encrypted.go``): a PEM block typed
``ENCRYPTED SIGSTORE PRIVATE KEY`` (older cosign: ``ENCRYPTED COSIGN PRIVATE KEY``) whose bytes are the JSON
envelope ``{"kdf": {"name": "scrypt", "params": {"N", "r", "p"}, "salt"}, "cipher": {"name": "nacl/secretbox",
"nonce"}, "ciphertext"}`` (byte strings base64, as Go's ``encoding/json`` writes ``[]byte``); the key is scrypt
(32 bytes) of the password and salt, and the plaintext is the PKCS#8 DER private key.

Only the three scrypt parameter sets go-securesystemslib's ``CheckParams`` accepts are read (a tampered ``N``
would otherwise cost unbounded memory). Needs ``cryptography`` and PyNaCl (the test extra); the rig never
imports ocireg.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from typing import Any

import nacl.exceptions
import nacl.secret
from cryptography.hazmat.primitives import serialization

SIGSTORE_PEM_TYPE = "ENCRYPTED SIGSTORE PRIVATE KEY"
COSIGN_PEM_TYPE = "ENCRYPTED COSIGN PRIVATE KEY"

# go-securesystemslib encrypted.go: legacyParams, standardParams (cosign's default since it calls Encrypt),
# owaspParams; r=8, p=1 throughout.
LEGACY_N, STANDARD_N, OWASP_N = 1 << 15, 1 << 16, 1 << 17
_ACCEPTED = {(LEGACY_N, 8, 1), (STANDARD_N, 8, 1), (OWASP_N, 8, 1)}
_SALT_SIZE, _KEY_SIZE = 32, 32


class CosignKeyError(ValueError):
    """The PEM is not a cosign encrypted key, or the password does not open it."""


def _scrypt(password: bytes, salt: bytes, n: int, r: int, p: int) -> bytes:
    # scrypt needs 128 * r * N bytes (128 MiB at OWASP's N=2^17): above hashlib's 32 MiB default cap.
    return hashlib.scrypt(password, salt=salt, n=n, r=r, p=p, dklen=_KEY_SIZE, maxmem=256 * 1024 * 1024)


def encrypt(plaintext: bytes, password: bytes, *, n: int = STANDARD_N) -> bytes:
    """go-securesystemslib ``EncryptWithCustomKDFParameters``: the JSON envelope around ``plaintext``."""
    if (n, 8, 1) not in _ACCEPTED:
        raise CosignKeyError(f"unsupported scrypt N {n}")
    salt = os.urandom(_SALT_SIZE)
    nonce = os.urandom(nacl.secret.SecretBox.NONCE_SIZE)
    box = nacl.secret.SecretBox(_scrypt(password, salt, n, 8, 1))
    ciphertext = box.encrypt(plaintext, nonce).ciphertext  # secretbox.Seal: tag + ciphertext, no nonce
    envelope = {
        "kdf": {
            "name": "scrypt",
            "params": {"N": n, "r": 8, "p": 1},
            "salt": base64.b64encode(salt).decode(),
        },
        "cipher": {"name": "nacl/secretbox", "nonce": base64.b64encode(nonce).decode()},
        "ciphertext": base64.b64encode(ciphertext).decode(),
    }
    return json.dumps(envelope, separators=(",", ":")).encode()


def decrypt(envelope: bytes, password: bytes) -> bytes:
    """go-securesystemslib ``Decrypt``: names and parameters checked first, then scrypt and secretbox.Open."""
    try:
        doc = json.loads(envelope)
        kdf, cipher = doc["kdf"], doc["cipher"]
        params = kdf["params"]
        n, r, p = int(params["N"]), int(params["r"]), int(params["p"])
        salt = base64.b64decode(kdf["salt"], validate=True)
        nonce = base64.b64decode(cipher["nonce"], validate=True)
        ciphertext = base64.b64decode(doc["ciphertext"], validate=True)
    except (ValueError, KeyError, TypeError) as exc:
        raise CosignKeyError(f"not an encrypted envelope: {exc}") from exc
    if kdf.get("name") != "scrypt":
        raise CosignKeyError(f"unknown kdf name {kdf.get('name')!r}")
    if cipher.get("name") != "nacl/secretbox":
        raise CosignKeyError(f"unknown cipher name {cipher.get('name')!r}")
    if (n, r, p) not in _ACCEPTED:
        raise CosignKeyError("unsupported scrypt parameters")
    if len(nonce) != nacl.secret.SecretBox.NONCE_SIZE:
        raise CosignKeyError("incorrect nonce size")
    try:
        return bytes(nacl.secret.SecretBox(_scrypt(password, salt, n, r, p)).decrypt(ciphertext, nonce))
    except nacl.exceptions.CryptoError as exc:
        raise CosignKeyError("decryption failed") from exc


def write_pem(kind: str, body: bytes) -> bytes:
    text = base64.b64encode(body).decode()
    lines = [text[i : i + 64] for i in range(0, len(text), 64)]
    return ("\n".join([f"-----BEGIN {kind}-----", *lines, f"-----END {kind}-----"]) + "\n").encode()


def read_pem(pem: bytes) -> tuple[str, bytes]:
    lines = pem.decode("ascii").strip().splitlines()
    if not lines or not lines[0].startswith("-----BEGIN ") or not lines[0].endswith("-----"):
        raise CosignKeyError("invalid pem block")
    kind = lines[0][len("-----BEGIN ") : -len("-----")]
    end = f"-----END {kind}-----"
    if end not in lines:
        raise CosignKeyError("invalid pem block")
    body = "".join(lines[1 : lines.index(end)])
    return kind, base64.b64decode(body, validate=True)


def _der_item(der: bytes, at: int) -> tuple[int, int, int]:
    """(tag, start of contents, end of contents) of the DER item at ``at``."""
    tag, first = der[at], der[at + 1]
    if first < 0x80:
        return tag, at + 2, at + 2 + first
    count = first & 0x7F
    length = int.from_bytes(der[at + 2 : at + 2 + count], "big")
    return tag, at + 2 + count, at + 2 + count + length


def _is_pkcs8(der: bytes) -> bool:
    """RFC 5208 PrivateKeyInfo: SEQUENCE { INTEGER version, SEQUENCE algorithm, ... }; SEC1's ECPrivateKey and
    PKCS#1's RSAPrivateKey follow the version with an OCTET STRING / INTEGER (cryptography would take both)."""
    try:
        tag, start, _ = _der_item(der, 0)
        version_tag, _, version_end = _der_item(der, start)
        return tag == 0x30 and version_tag == 0x02 and der[version_end] == 0x30
    except IndexError:
        return False


def write_private_key(
    key: Any, password: bytes, *, kind: str = SIGSTORE_PEM_TYPE, n: int = STANDARD_N
) -> bytes:
    """cosign ``marshalKeyPair``: the PKCS#8 DER of ``key``, encrypted, in a PEM block of type ``kind``."""
    der = key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return write_pem(kind, encrypt(der, password, n=n))


def load_private_key(pem: bytes, password: bytes) -> Any:
    """cosign ``LoadPrivateKey``: either PEM type, decrypted, parsed as PKCS#8 (a SEC1 plaintext is refused, as
    ``x509.ParsePKCS8PrivateKey`` refuses it)."""
    kind, body = read_pem(pem)
    if kind not in (SIGSTORE_PEM_TYPE, COSIGN_PEM_TYPE):
        raise CosignKeyError(f"unsupported pem type: {kind}")
    der = decrypt(body, password)
    if not _is_pkcs8(der):
        raise CosignKeyError("parsing private key: not PKCS#8 (a SEC1 or PKCS#1 key)")
    try:
        return serialization.load_der_private_key(der, password=None)
    except ValueError as exc:
        raise CosignKeyError(f"parsing private key: {exc}") from exc
