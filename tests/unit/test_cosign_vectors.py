"""cosign's own test vectors, judged by ocireg, and the rig's keys in cosign's encrypted format (#24 item 9).

Source: sigstore/cosign commit d6d86c224e5899b54f56cbb063b79dc43abc11c2 (files in tests/data/signatures/cosign/,
see its README):

- ``pkg/cosign/keys_test.go`` ``TestReadingPrivatePemTypes`` / ``TestLoadECDSAPrivateKey``: three encrypted
  keys cosign wrote (password ``hello``) and whether ``LoadPrivateKey`` takes them;
- ``pkg/cosign/obsolete_test.go`` ``TestObsoletePayload``: the exact simple-signing payload bytes cosign signs;
- ``cmd/cosign/cli/verify/verify_blob_attestation_test.go`` ``TestVerifyBlobAttestation``: DSSE envelopes signed
  by a fixed key, with cosign's verdict (``shouldErr``) for each.

and sigstore/sigstore-rs commit f7828d20eef7854c3e83b5ed2c67988334c358af ``tests/data/keys/``: a key cosign
wrote under an empty password. The format itself is read from go-securesystemslib commit 8b6ec9cb6eef425465c35e3d0668516fd9992a0d
``encrypted/encrypted.go`` (see tests/rig/cosignkey.py). Catalogue: BI.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from ocireg.reference import Digest, parse_reference
from ocireg.signatures.candidate import Candidate, Envelope
from ocireg.signatures.keys import load_key, load_key_pem, verify_with
from ocireg.signatures.payload import parse_simple_payload, parse_statement
from ocireg.signatures.policy import TrustPolicy, judge, pae

from rig import cosignkey
from rig.signer import Signer, simple_payload

COSIGN = Path(__file__).resolve().parents[1] / "data" / "signatures" / "cosign"
PASSWORD = b"hello"  # keys_test.go: LoadPrivateKey(tc.pemData, []byte("hello"), nil)


def public_pem(private: object) -> bytes:
    return bytes(
        private.public_key().public_bytes(  # type: ignore[attr-defined]
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )


# -- cosign's encrypted keys (keys_test.go) ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "cosign_loads"),
    [
        ("pemcosignkey.key", True),  # "COSIGN PEM RSA Type": expected nil
        (
            "pemcosigneckey.key",
            False,
        ),  # "COSIGN PEM EC Type": "parsing private key: x509: ... ParseECPrivateKey"
        ("pemsigstorekey.key", True),  # "SISTORE PEM Type": expected nil
    ],
)
def test_cosign_written_keys_load_as_cosign_loads_them(name: str, cosign_loads: bool) -> None:
    pem = (COSIGN / name).read_bytes()
    if cosign_loads:
        assert isinstance(cosignkey.load_private_key(pem, PASSWORD), ec.EllipticCurvePrivateKey)
    else:
        # It decrypts (the password is right); its plaintext is a SEC1 key, which PKCS#8 parsing refuses.
        kind, body = cosignkey.read_pem(pem)
        assert kind == cosignkey.COSIGN_PEM_TYPE
        assert cosignkey.decrypt(body, PASSWORD).startswith(b"\x30\x77\x02\x01\x01")
        with pytest.raises(cosignkey.CosignKeyError, match="parsing private key"):
            cosignkey.load_private_key(pem, PASSWORD)


def test_cosign_written_key_with_an_empty_password_loads() -> None:
    """sigstore/sigstore-rs f7828d20eef7854c3e83b5ed2c67988334c358af ``tests/data/keys/``: a key cosign wrote
    under ``COSIGN_PASSWORD=""`` (scrypt over an empty password), loaded there with ``EMPTY_PASSWORD``."""
    pem = (COSIGN / "cosign_generated_encrypted_empty_private.key").read_bytes()
    assert isinstance(cosignkey.load_private_key(pem, b""), ec.EllipticCurvePrivateKey)
    with pytest.raises(cosignkey.CosignKeyError, match="decryption failed"):
        cosignkey.load_private_key(pem, PASSWORD)


def test_cosign_written_key_with_the_wrong_password_is_refused() -> None:
    """keys_test.go ``TestLoadECDSAPrivateKey``: "Try it with the wrong one" — an error."""
    with pytest.raises(cosignkey.CosignKeyError, match="decryption failed"):
        cosignkey.load_private_key((COSIGN / "pemsigstorekey.key").read_bytes(), b"wrong")


def test_a_cosign_written_key_signs_what_ocireg_verifies() -> None:
    """cosign's key (decrypted here) signs cosign's payload bytes; ocireg, trusting its public half, accepts
    the signature for that digest and reference, and refuses it for another digest."""
    key = cosignkey.load_private_key((COSIGN / "pemsigstorekey.key").read_bytes(), PASSWORD)
    payload = OBSOLETE_PAYLOAD
    signature = key.sign(payload, ec.ECDSA(hashes.SHA256()))
    policy = TrustPolicy(keys=(load_key_pem(public_pem(key), "pemsigstorekey.pub"),))
    candidate = Candidate("tag", payload, signature)
    wanted = parse_reference("index.docker.io/namespace/image:latest")
    digest = Digest.parse("sha256:4aa3054270f7a70b4528f2064ee90961788e1e1518703592ae4463de3b889dec")
    assert judge([candidate], digest, wanted, policy).reason is None
    other = Digest.from_bytes(b"another manifest")
    assert judge([candidate], other, wanted, policy).reason == "digest-mismatch"


# -- cosign's simple-signing payload (obsolete_test.go) ----------------------------------------------------

#: ``TestObsoletePayload``'s expected bytes: what cosign signs for index.docker.io/namespace/image@sha256:4aa3….
OBSOLETE_PAYLOAD = (
    b'{"critical":{"identity":{"docker-reference":"index.docker.io/namespace/image"},"image":'
    b'{"docker-manifest-digest":"sha256:4aa3054270f7a70b4528f2064ee90961788e1e1518703592ae4463de3b889dec"},'
    b'"type":"cosign container image signature"},"optional":null}'
)


def test_cosign_payload_bytes_parse_to_its_claims() -> None:
    claims = parse_simple_payload(OBSOLETE_PAYLOAD)
    assert str(claims.manifest_digest) == (
        "sha256:4aa3054270f7a70b4528f2064ee90961788e1e1518703592ae4463de3b889dec"
    )
    assert claims.docker_reference == "index.docker.io/namespace/image"


def test_rig_payload_is_byte_for_byte_cosign_payload() -> None:
    """The rig's :func:`simple_payload` writes what cosign writes (so rig signatures are cosign's)."""
    digest = "sha256:4aa3054270f7a70b4528f2064ee90961788e1e1518703592ae4463de3b889dec"
    assert simple_payload(digest, "index.docker.io/namespace/image") == OBSOLETE_PAYLOAD


# -- cosign's DSSE vectors (verify_blob_attestation_test.go) ----------------------------------------------

BLOB_SHA256 = "658781cd4ed9bca60dacd09f7bb914bb51502e8b5d619f57f39a1d652596cc24"  # const blobSha256
ANOTHER_BLOB_SHA256 = Digest.from_bytes(b"another-blob").hex  # const anotherBlobContents

# (cosign's test description, envelope, blob digest, cosign's verdict with --type slsaprovenance and claims)
BLOB_CASES = [
    ("verify a slsaprovenance predicate", "blobSLSAProvenanceSignature", BLOB_SHA256, True),
    ("fail with incorrect blob", "blobSLSAProvenanceSignature", ANOTHER_BLOB_SHA256, False),
    ("dsse envelope predicate has no subject", "dssePredicateEmptySubject", BLOB_SHA256, False),
    ("dsse envelope predicate missing sha256 digest", "dssePredicateMissingSha256", BLOB_SHA256, False),
    ("dsse envelope has multiple subjects, one is valid", "dssePredicateMultipleSubjects", BLOB_SHA256, True),
    (
        "dsse envelope has multiple subjects, none has correct sha256 digest",
        "dssePredicateMultipleSubjectsInvalid",
        BLOB_SHA256,
        False,
    ),
    ("verify with digest instead of blob", "blobSLSAProvenanceSignature", BLOB_SHA256, True),
]


def envelope(name: str, signature: bytes | None = None) -> Envelope:
    doc = json.loads((COSIGN / f"{name}.dsse.json").read_bytes())
    sig = base64.b64decode(doc["signatures"][0]["sig"]) if signature is None else signature
    return Envelope(doc["payloadType"], base64.b64decode(doc["payload"]), sig)


def ocireg_accepts_claims(found: Envelope, sha256_hex: str) -> bool:
    """What ocireg's bundle check decides, short of the predicate type: the DSSE signature verifies with the
    trusted key over PAE, and a subject names the digest (``policy._judge_envelope``'s order)."""
    trusted = load_key(str(COSIGN / "verify-blob-attestation.pub"))
    assert found.signature is not None
    if not verify_with(trusted.key, found.signature, pae(found.payload_type, found.payload)):
        return False
    return sha256_hex in parse_statement(found.payload).subject_sha256


@pytest.mark.parametrize(("description", "name", "sha256_hex", "cosign_accepts"), BLOB_CASES)
def test_cosign_dsse_vectors_get_cosigns_verdict(
    description: str, name: str, sha256_hex: str, cosign_accepts: bool
) -> None:
    assert ocireg_accepts_claims(envelope(name), sha256_hex) is cosign_accepts, description


def test_cosign_bad_signature_vector_is_refused() -> None:
    """ "verify new bundle with public key - bad sig": the signature ``c29tZXRoaW5nCg==`` — cosign errors."""
    bad = envelope("blobSLSAProvenanceSignature", base64.b64decode("c29tZXRoaW5nCg=="))
    assert ocireg_accepts_claims(bad, BLOB_SHA256) is False
    verdict = judge(
        [Candidate("bundle", envelope=bad)],
        Digest.parse(f"sha256:{BLOB_SHA256}"),
        parse_reference("registry.example/blob:latest"),
        TrustPolicy(keys=(load_key(str(COSIGN / "verify-blob-attestation.pub")),)),
    )
    assert verdict.reason == "untrusted-signature"
    assert "no bundle signature verifies" in verdict.detail


def test_a_valid_attestation_is_not_an_image_signature() -> None:
    """cosign accepts the SLSA envelope as an *attestation* (``verify-blob-attestation``); as an image signature
    (``cosign verify``, predicate ``https://sigstore.dev/cosign/sign/v1``) ocireg refuses it, signature valid."""
    verdict = judge(
        [Candidate("bundle", envelope=envelope("blobSLSAProvenanceSignature"))],
        Digest.parse(f"sha256:{BLOB_SHA256}"),
        parse_reference("registry.example/blob:latest"),
        TrustPolicy(keys=(load_key(str(COSIGN / "verify-blob-attestation.pub")),)),
    )
    assert verdict.reason == "untrusted-signature"
    assert "not an image signature" in verdict.detail


# -- the rig's keys in cosign's format --------------------------------------------------------------------


def test_rig_signer_key_is_a_cosign_encrypted_key() -> None:
    """The rig's default key is written as ``cosign generate-key-pair`` writes it and signs once loaded back."""
    signer = Signer()
    pem = signer.private_pem
    assert pem.startswith(b"-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n")
    _, body = cosignkey.read_pem(pem)
    doc = json.loads(body)
    assert doc["kdf"]["name"] == "scrypt" and doc["kdf"]["params"] == {"N": 65536, "r": 8, "p": 1}
    assert doc["cipher"]["name"] == "nacl/secretbox"
    assert len(base64.b64decode(doc["kdf"]["salt"])) == 32
    assert len(base64.b64decode(doc["cipher"]["nonce"])) == 24
    reloaded = cosignkey.load_private_key(pem, Signer.password)
    assert public_pem(reloaded) == signer.public_pem()
    with pytest.raises(cosignkey.CosignKeyError):
        cosignkey.load_private_key(pem, b"not the password")
    payload = simple_payload(str(Digest.from_bytes(b"m")), "registry.example/app")
    trusted = load_key_pem(signer.public_pem(), "rig.pub")
    assert verify_with(trusted.key, signer.sign(payload), payload)


def test_tampered_scrypt_parameters_are_refused_before_scrypt_runs() -> None:
    """go-securesystemslib ``CheckParams``: only the three known parameter sets (no attacker-chosen N)."""
    _, body = cosignkey.read_pem(Signer().private_pem)
    doc = json.loads(body)
    doc["kdf"]["params"]["N"] = 1 << 24
    with pytest.raises(cosignkey.CosignKeyError, match="unsupported scrypt parameters"):
        cosignkey.decrypt(json.dumps(doc).encode(), Signer.password)
