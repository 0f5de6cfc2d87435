"""Verdicts on containers/image's real cosign fixtures, transcribed from its own tests (#24).

Source: containers/image commit df7e80d2d19872b61f352a8a182ec934dc0c2346, ``signature/policy_eval_sigstore_test.go``
(``TestPRrSigstoreSignedIsSignatureAccepted``, ``TestPRSigstoreSignedIsRunningImageAllowed``) with the fixtures
in tests/data/signatures/containers-image/ (see its README). Each case states containers/image's verdict
(accepted / rejected) and the reason ocireg gives for it. containers/image's tests use ``matchRepository`` for
cosign-made signatures ("that doesn't work with matchExact"): ocireg's ``repository`` rule; ``matchExact`` cases
use ocireg's ``exact`` rule (for a tag reference, ``matchRepoDigestOrExact`` is ``matchExact``). Catalogue: BI.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from ocireg.errors import UsageError
from ocireg.reference import Digest, parse_reference
from ocireg.signatures.bundle import decode_base64
from ocireg.signatures.candidate import Candidate
from ocireg.signatures.keys import TrustedKey, load_key
from ocireg.signatures.layout import ANNOTATION_SIGNATURE, SIMPLE_SIGNING
from ocireg.signatures.policy import TrustPolicy, judge

FIXTURES = Path(__file__).resolve().parents[1] / "data" / "signatures" / "containers-image"
SINGLE = "192.168.64.2:5000/cosign-signed-single-sample"


def key(name: str) -> TrustedKey:
    return load_key(str(FIXTURES / name))


def signature_file(path: str) -> list[Candidate]:
    """containers/image's on-disk signature (``\\0sigstore-json\\n`` + JSON) as ocireg finds it in a ``.sig``
    layer; a non-signature attachment is skipped, as discovery skips it (by its layer media type)."""
    raw = (FIXTURES / path).read_bytes()
    prefix = b"\x00sigstore-json\n"
    assert raw.startswith(prefix)
    doc = json.loads(raw[len(prefix) :])
    if doc["mimeType"] != SIMPLE_SIGNING:
        return []
    annotations = doc["annotations"]
    payload = base64.b64decode(doc["payload"])
    return [Candidate("tag", payload, decode_base64(annotations.get(ANNOTATION_SIGNATURE)), annotations)]


def manifest_digest(directory: str) -> Digest:
    return Digest.from_bytes((FIXTURES / directory / "manifest.json").read_bytes())


def verdict(
    directory: str, signatures: list[str], wanted: str, keys: list[str], identity: str = "repository"
) -> str:
    candidates = [c for path in signatures for c in signature_file(path)]
    policy = TrustPolicy(keys=tuple(key(k) for k in keys), identity=identity)
    result = judge(candidates, manifest_digest(directory), parse_reference(wanted), policy)
    return result.reason or "accepted"


@pytest.mark.parametrize(
    "keys", [["cosign.pub"], ["cosign.pub", "cosign2.pub"], ["cosign2.pub", "cosign.pub"]]
)
def test_successful_validation_with_any_of_the_keys(keys: list[str]) -> None:
    """c/image: "Successful validation, with KeyPath/KeyPaths/KeyData/KeyDatas" — accepted."""
    assert verdict("dir-img-cosign-valid", ["dir-img-cosign-valid/signature-1"], SINGLE, keys) == "accepted"


def test_signature_without_cryptographic_signature_is_untrusted() -> None:
    """c/image: "Signature has no cryptographic signature" — rejected."""
    [candidate] = signature_file("dir-img-cosign-valid/signature-1")
    bare = Candidate("tag", candidate.payload, None, {})
    policy = TrustPolicy(keys=(key("cosign.pub"),))
    assert judge([bare], manifest_digest("dir-img-cosign-valid"), parse_reference(SINGLE), policy).reason == (
        "untrusted-signature"
    )


def test_signature_which_does_not_verify_is_untrusted() -> None:
    """c/image: "A signature which does not verify" (base64 of "invalid signature") — rejected."""
    [candidate] = signature_file("dir-img-cosign-valid/signature-1")
    forged = Candidate("tag", candidate.payload, b"invalid signature", {})
    policy = TrustPolicy(keys=(key("cosign.pub"),))
    assert judge(
        [forged], manifest_digest("dir-img-cosign-valid"), parse_reference(SINGLE), policy
    ).reason == ("untrusted-signature")


def test_valid_signature_by_an_unknown_key_is_untrusted() -> None:
    """c/image: "A valid signature using an unknown key" — rejected."""
    reason = verdict("dir-img-cosign-valid", ["unknown-cosign-key.signature"], SINGLE, ["cosign.pub"])
    assert reason == "untrusted-signature"


def test_altered_payload_byte_is_untrusted() -> None:
    """The signature covers the exact payload bytes: one byte changed (a space added) and nothing verifies."""
    [candidate] = signature_file("dir-img-cosign-valid/signature-1")
    altered = Candidate(
        "tag", candidate.payload.replace(b'{"critical"', b'{ "critical"'), candidate.signature
    )
    policy = TrustPolicy(keys=(key("cosign.pub"),))
    assert judge(
        [altered], manifest_digest("dir-img-cosign-valid"), parse_reference(SINGLE), policy
    ).reason == ("untrusted-signature")


def test_valid_signature_with_a_rejected_identity() -> None:
    """c/image: "A valid signature with a rejected identity" (another name) — rejected."""
    reason = verdict(
        "dir-img-cosign-valid", ["dir-img-cosign-valid/signature-1"], "this/does-not:match", ["cosign.pub"]
    )
    assert reason == "identity-mismatch"


def test_valid_signature_with_a_non_matching_manifest_is_a_digest_mismatch() -> None:
    """c/image: "A valid signature with a non-matching manifest" — rejected."""
    reason = verdict(
        "dir-img-cosign-modified-manifest",
        ["dir-img-cosign-modified-manifest/signature-1"],
        SINGLE,
        ["cosign.pub"],
    )
    assert reason == "digest-mismatch"


def test_exact_rule_accepts_the_matching_tag() -> None:
    """c/image: matchExact "Signatures with a matching tag work" — accepted."""
    directory = "dir-img-cosign-valid-with-tag"
    wanted = "192.168.64.2:5000/skopeo-signed:tag"
    assert verdict(directory, [f"{directory}/signature-1"], wanted, ["cosign.pub"], "exact") == "accepted"


def test_exact_rule_refuses_another_tag() -> None:
    """c/image: matchExact "Signatures with a non-matching tag are rejected" — rejected."""
    directory = "dir-img-cosign-valid-with-tag"
    wanted = "192.168.64.2:5000/skopeo-signed:othertag"
    assert verdict(directory, [f"{directory}/signature-1"], wanted, ["cosign.pub"], "exact") == (
        "identity-mismatch"
    )
    # ... which the repository rule accepts: it does not protect against an unexpected tag.
    assert verdict(directory, [f"{directory}/signature-1"], wanted, ["cosign.pub"]) == "accepted"


def test_exact_rule_refuses_cosign_made_repository_only_identity() -> None:
    """c/image: matchExact "Cosign-created signatures are rejected" — by tag and, under matchRepoDigestOrExact,
    by digest too (policy_reference_match.go: a name-only signed identity is never accepted)."""
    signature = ["dir-img-cosign-valid/signature-1"]
    by_tag = verdict("dir-img-cosign-valid", signature, f"{SINGLE}:latest", ["cosign.pub"], "exact")
    digest = manifest_digest("dir-img-cosign-valid")
    by_digest = verdict("dir-img-cosign-valid", signature, f"{SINGLE}@{digest}", ["cosign.pub"], "exact")
    assert (by_tag, by_digest) == ("identity-mismatch", "identity-mismatch")


def test_key_rekor_signature_verifies_with_its_key() -> None:
    """c/image: the key+Rekor fixture is signed by cosign2.pub ("Successful key+Rekor use"; ocireg does not
    require the SET for key-based signatures) — accepted; by cosign.pub alone — rejected."""
    directory = "dir-img-cosign-key-rekor-valid"
    wanted = "192.168.64.2:5000/cosign-signed/key-1"
    assert verdict(directory, [f"{directory}/signature-1"], wanted, ["cosign2.pub"]) == "accepted"
    assert verdict(directory, [f"{directory}/signature-1"], wanted, ["cosign.pub"]) == "untrusted-signature"


def test_running_image_allowed_cases() -> None:
    """c/image ``TestPRSigstoreSignedIsRunningImageAllowed``: single valid (allowed), no signatures, only a
    non-signature attachment, a non-matching reference (rejected), two valid signatures (allowed)."""
    valid = ["dir-img-cosign-valid/signature-1"]
    assert verdict("dir-img-cosign-valid", valid, SINGLE, ["cosign.pub"]) == "accepted"
    assert verdict("dir-img-unsigned", [], "testing/manifest:latest", ["cosign.pub"]) == "no-signature"
    other = ["dir-img-cosign-other-attachment/signature-1"]
    assert verdict("dir-img-cosign-other-attachment", other, "testing/manifest:latest", ["cosign.pub"]) == (
        "no-signature"
    )
    assert verdict("dir-img-cosign-valid", valid, "testing/manifest:notlatest", ["cosign.pub"]) == (
        "identity-mismatch"
    )
    two = ["dir-img-cosign-valid-2/signature-1", "dir-img-cosign-valid-2/signature-2"]
    assert verdict("dir-img-cosign-valid-2", two, SINGLE, ["cosign.pub"]) == "accepted"


def test_rsa_key_of_the_fixtures_loads() -> None:
    """c/image uses some-rsa-key.pub as a valid (RSA) public key file."""
    assert key("some-rsa-key.pub").kind.startswith("rsa-")


# ---- keyless: Fulcio certificate + Rekor SET (containers/image "Successful Fulcio certificate use" and the
# rejections after it in TestPRrSigstoreSignedIsSignatureAccepted) -----------------------------------------------

FULCIO = "dir-img-cosign-fulcio-rekor-valid"
FULCIO_REF = "192.168.64.2:5000/cosign-signed/fulcio-rekor-1"
EMAIL, ISSUER = "mitr@redhat.com", "https://github.com/login/oauth"


def keyless(
    *,
    rekor: tuple[str, ...] = ("rekor.pub",),
    roots: bytes | None = None,
    email: str = EMAIL,
    issuer: str = ISSUER,
) -> TrustPolicy:
    from cryptography import x509

    from ocireg.signatures.keyless import KeylessPolicy

    certificates = x509.load_pem_x509_certificates(roots or (FIXTURES / "fulcio_v1.crt.pem").read_bytes())
    return TrustPolicy(
        keyless=KeylessPolicy(email, issuer, tuple(certificates), tuple(key(k).key for k in rekor))
    )


def fulcio_candidate(drop: str | None = None, **replace: str) -> Candidate:
    [candidate] = signature_file(f"{FULCIO}/signature-1")
    annotations = {k: v for k, v in candidate.annotations.items() if k != drop}
    annotations.update(replace)
    return Candidate("tag", candidate.payload, candidate.signature, annotations)


def keyless_verdict(policy: TrustPolicy, candidate: Candidate | None = None) -> str:
    result = judge(
        [candidate or fulcio_candidate()], manifest_digest(FULCIO), parse_reference(FULCIO_REF), policy
    )
    return result.reason or "accepted"


@pytest.mark.parametrize("rekor", [("rekor.pub",), ("rekor.pub", "cosign.pub"), ("cosign.pub", "rekor.pub")])
def test_fulcio_rekor_accepted(rekor: tuple[str, ...]) -> None:
    """c/image: "Successful Fulcio certificate use" with each order of Rekor keys — accepted (the leaf expired
    minutes after signing in 2023: the chain is checked at the SET's integrated time)."""
    assert keyless_verdict(keyless(rekor=rekor)) == "accepted"


@pytest.mark.parametrize(
    "annotation",
    ["dev.sigstore.cosign/bundle", "dev.sigstore.cosign/certificate", "dev.sigstore.cosign/chain"],
)
def test_fulcio_missing_annotation_rejected(annotation: str) -> None:
    """c/image: "Fulcio, missing Rekor SET annotation", "missing certificate annotation", "missing certificate
    chain annotation causes the Cosign-issued signature to be rejected" — rejected."""
    assert keyless_verdict(keyless(), fulcio_candidate(drop=annotation)) == "untrusted-signature"


def test_fulcio_without_chain_accepted_when_the_intermediate_is_trusted() -> None:
    """c/image: "a signature without the intermediate annotation is fine if the issuer is directly trusted"."""
    chain = fulcio_candidate().annotations["dev.sigstore.cosign/chain"].encode()
    policy = keyless(roots=chain)
    assert keyless_verdict(policy, fulcio_candidate(drop="dev.sigstore.cosign/chain")) == "accepted"


def test_fulcio_rejections() -> None:
    """c/image: an invalid certificate, another subject e-mail, an invalid SET, a SET checked with another key
    (cosign.pub instead of rekor.pub) — each rejected. And another issuer (ocireg's --certificate-oidc-issuer)."""
    invalid_certificate = fulcio_candidate(
        **{"dev.sigstore.cosign/certificate": "this is not a valid certificate"}
    )
    assert keyless_verdict(keyless(), invalid_certificate) == "untrusted-signature"
    assert keyless_verdict(keyless(email="this-does-not-match@example.com")) == "untrusted-signature"
    invalid_set = fulcio_candidate(**{"dev.sigstore.cosign/bundle": "this is not a valid SET"})
    assert keyless_verdict(keyless(), invalid_set) == "untrusted-signature"
    assert keyless_verdict(keyless(rekor=("cosign.pub",))) == "untrusted-signature"
    assert keyless_verdict(keyless(issuer="https://accounts.google.com")) == "untrusted-signature"


@pytest.mark.parametrize("where", ["set", "body"])
def test_deeply_nested_set_is_untrusted_not_an_internal_error(where: str) -> None:
    """SEC: the Rekor SET annotation (and the body inside it) is whoever-can-push's text, parsed before its
    signature is checked: JSON nested 100 000 deep is an untrusted signature, not a RecursionError (which made
    the whole batch an "internal error", exit 6, and hid any valid signature)."""
    nested = "[" * 100_000 + "]" * 100_000
    if where == "body":
        body = base64.b64encode(nested.encode()).decode()
        nested = json.dumps({"SignedEntryTimestamp": "", "Payload": {"body": body, "integratedTime": 1}})
    candidate = fulcio_candidate(**{"dev.sigstore.cosign/bundle": nested})
    assert keyless_verdict(keyless(), candidate) == "untrusted-signature"


def test_key_signature_with_another_entrys_set_is_rejected_keyless() -> None:
    """c/image: "A valid Rekor SET for one accepted key, but a signature with a different accepted key" (the
    key+Rekor fixture's SET on the key-only signature): the SET names another signature — rejected."""
    [key_only] = signature_file("dir-img-cosign-valid/signature-1")
    [key_rekor] = signature_file("dir-img-cosign-key-rekor-valid/signature-1")
    mixed = Candidate(
        "tag",
        key_only.payload,
        key_only.signature,
        {
            **key_only.annotations,
            "dev.sigstore.cosign/bundle": key_rekor.annotations["dev.sigstore.cosign/bundle"],
        },
    )
    assert keyless_verdict(keyless(), mixed) == "untrusted-signature"


def _trusted_root_verdict(
    tmp_path: Path, ca_valid: dict[str, str] | None = None, log_valid: dict[str, str] | None = None
) -> str:
    """--trusted-root: sigstore's trusted_root.json with the fixture's Fulcio root and Rekor key, each with an
    optional ``validFor`` (protobuf-specs ``TimeRange``), judging the Fulcio fixture."""
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    from ocireg.signatures.keyless import load_keyless_policy

    root = x509.load_pem_x509_certificate((FIXTURES / "fulcio_v1.crt.pem").read_bytes())
    rekor = key("rekor.pub").key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    public_key: dict[str, object] = {
        "rawBytes": base64.b64encode(rekor).decode(),
        "keyDetails": "PKIX_ECDSA_P256_SHA_256",
    }
    authority: dict[str, object] = {
        "certChain": {
            "certificates": [{"rawBytes": base64.b64encode(root.public_bytes(Encoding.DER)).decode()}]
        }
    }
    if log_valid is not None:
        public_key["validFor"] = log_valid
    if ca_valid is not None:
        authority["validFor"] = ca_valid
    doc = {
        "mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
        "tlogs": [
            {
                "baseUrl": "https://rekor.sigstore.dev",
                "hashAlgorithm": "SHA2_256",
                "publicKey": public_key,
                "logId": {"keyId": base64.b64encode(b"x").decode()},
            }
        ],
        "certificateAuthorities": [authority],
    }
    path = tmp_path / "trusted_root.json"
    path.write_text(json.dumps(doc))
    policy = load_keyless_policy(
        identity=EMAIL, issuer=ISSUER, trusted_root=str(path), fulcio_ca=None, rekor_key=None
    )
    return keyless_verdict(TrustPolicy(keyless=policy))


def test_trusted_root_json_built_from_the_fixture_roots(tmp_path: Path) -> None:
    """--trusted-root: sigstore's trusted_root.json with the fixture's Fulcio root and Rekor key — accepted."""
    assert _trusted_root_verdict(tmp_path) == "accepted"


# The fixture's SET: integratedTime 1674247893 (2023-01-20T20:51:33Z).
@pytest.mark.parametrize(
    ("ca_valid", "log_valid", "verdict"),
    [
        ({"start": "2021-03-07T03:20:29.000Z"}, {"start": "2021-01-12T11:53:27.000Z"}, "accepted"),
        ({"start": "2021-03-07T03:20:29Z", "end": "2024-01-01T00:00:00Z"}, None, "accepted"),
        (
            {"start": "2021-03-07T03:20:29.000Z", "end": "2022-04-13T20:06:15.000Z"},
            None,
            "untrusted-signature",
        ),
        ({"start": "2023-06-01T00:00:00Z"}, None, "untrusted-signature"),
        (
            None,
            {"start": "2021-01-12T11:53:27Z", "end": "2022-12-31T23:59:59.999999999Z"},
            "untrusted-signature",
        ),
        (None, {"start": "2024-01-01T00:00:00+00:00"}, "untrusted-signature"),
    ],
)
def test_trusted_root_validity_periods(
    tmp_path: Path, ca_valid: dict[str, str] | None, log_valid: dict[str, str] | None, verdict: str
) -> None:
    """SEC: a retired Fulcio CA or Rekor key of trusted_root.json (``validFor`` ended before the SET's time, or
    starting after it) does not vouch for the signature (it was trusted for ever), as sigstore-go decides:
    ``pkg/verify/certificate.go`` ``VerifyLeafCertificate`` (commit 03535ca1) and ``pkg/tlog/entry.go``
    ``VerifySET`` (commit 065da6d3)."""
    assert _trusted_root_verdict(tmp_path, ca_valid, log_valid) == verdict


def test_trusted_root_with_a_malformed_validity_period_is_exit_2(tmp_path: Path) -> None:
    with pytest.raises(UsageError):
        _trusted_root_verdict(tmp_path, {"start": "yesterday"})


def test_fulcio_signature_other_than_the_one_in_the_set_is_rejected() -> None:
    """c/image ``VerifyRekorSET``: "signature in Rekor SET does not match". The fixture's ECDSA signature made
    malleable ((r, s) → (r, n − s) still verifies with the certificate's key) but is not the logged one."""
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

    candidate = fulcio_candidate()
    assert candidate.signature is not None
    r, s = decode_dss_signature(candidate.signature)
    p256_order = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
    twin = encode_dss_signature(r, p256_order - s)
    annotations = {
        **candidate.annotations,
        "dev.cosignproject.cosign/signature": base64.b64encode(twin).decode(),
    }
    malleated = Candidate("tag", candidate.payload, twin, annotations)
    assert keyless_verdict(keyless(), malleated) == "untrusted-signature"


def _rig_keyless_verdict(issuer: str, wanted_issuer: str, **layer: object) -> str:
    """A keyless signature made by the rig's Fulcio/Rekor-like authority, judged without a registry."""
    import datetime as dt

    from ocireg.signatures.keyless import KeylessPolicy

    from rig.signer import KeylessAuthority, simple_payload

    authority = KeylessAuthority()
    digest = "sha256:" + "cd" * 32
    payload = simple_payload(digest, "example.com/app")
    when = dt.datetime(2025, 3, 1, 12, 0, tzinfo=dt.timezone.utc)
    blob, annotations, _ = authority.layer(payload, "ci@example.com", issuer, when, **layer)  # type: ignore[arg-type]
    candidate = Candidate("tag", blob, decode_base64(annotations[ANNOTATION_SIGNATURE]), annotations)
    rekor = authority.rekor_key.public_key()
    policy = TrustPolicy(keyless=KeylessPolicy("ci@example.com", wanted_issuer, (authority.root,), (rekor,)))
    result = judge([candidate], Digest.parse(digest), parse_reference("example.com/app:v1"), policy)
    return result.reason or "accepted"


def test_issuer_of_more_than_127_bytes_in_the_v2_extension_alone() -> None:
    """PC: Fulcio's 1.3.6.1.4.1.57264.1.8 is a DER UTF8String; an issuer of 127 bytes or more has a long-form
    length (a GKE cluster's issuer URL can be that long). Without the deprecated .1.1 beside it, it was read as
    no issuer at all (untrusted-signature)."""
    issuer = (
        "https://container.googleapis.com/v1/projects/"
        + "p" * 60
        + "/locations/europe-west1/clusters/"
        + "c" * 40
    )
    assert len(issuer) > 127
    assert _rig_keyless_verdict(issuer, issuer, with_v1=False) == "accepted"
    assert _rig_keyless_verdict(issuer, issuer) == "accepted"
    assert _rig_keyless_verdict("https://short.example", "https://short.example", with_v1=False) == "accepted"


def test_inconsistent_issuer_extensions_are_rejected() -> None:
    """SEC: containers/image ``fulcio_cert.go`` (``fulcioIssuerInCertificate``): v1 and v2 issuer extensions that
    disagree are "inconsistent OIDC issuer extension values" — rejected whichever one the policy names."""
    good, other = "https://gitlab.example.com", "https://evil.example.com"
    assert _rig_keyless_verdict(good, good, issuer_v1=other) == "untrusted-signature"
    assert _rig_keyless_verdict(good, other, issuer_v1=other) == "untrusted-signature"


def test_trusted_root_nested_too_deep_is_exit_2(tmp_path: Path) -> None:
    """BI: a --trusted-root nested 100 000 deep (deeper than the interpreter's stack) is a usage error, exit 2,
    never a traceback."""
    from ocireg.signatures.keyless import load_keyless_policy

    path = tmp_path / "trusted_root.json"
    path.write_bytes(b"[" * 100_000 + b"]" * 100_000)
    with pytest.raises(UsageError):
        load_keyless_policy(
            identity=EMAIL, issuer=ISSUER, trusted_root=str(path), fulcio_ca=None, rekor_key=None
        )
