"""``ocireg verify`` against the real registry, signatures pushed by the rig signer (#24, docs/architecture.md §10).

Each case pushes an image and signs it with tests/rig/signer.py in the layout cosign or containers/image writes
(raw HTTP, never through ocireg), then runs the CLI in-process with the token rig's credentials. Verdicts are
containers/image's where it can judge (``.sig`` tag, per-platform images); index-level signatures and the
referrer forms get the documented ones. Catalogue: PC (verdicts), SEC (hostile signatures, escaping), BI (bad
keys).
"""

from __future__ import annotations

import base64
import json
import secrets
from pathlib import Path

import pytest

from clirunner import Result, creds, run_cli
from rig import Rig
from rig.seed import SeededManifest
from rig.signer import (
    Signer,
    bundle,
    bundle_referrer,
    cosign_referrer,
    push_referrers_index,
    push_sig_tag,
    signature_layer,
    simple_payload,
)
from rig.tokenserver import ALICE, ALICE_PASSWORD

ALICE_ENV = creds(ALICE, ALICE_PASSWORD)


@pytest.fixture(scope="module")
def signer() -> Signer:
    return Signer()


@pytest.fixture(scope="module")
def other() -> Signer:
    return Signer()


@pytest.fixture
def key(signer: Signer, tmp_path: Path) -> str:
    return signer.write_public(tmp_path / "cosign.pub")


def _image(rig: Rig, name: str = "verify") -> SeededManifest:
    repo = f"group/project/{name}-{secrets.token_hex(3)}"
    with rig.pusher() as pusher:
        return pusher.push_image(repo, "v1", label=f"{repo}-{secrets.token_hex(4)}")


def _subject(image: SeededManifest) -> tuple[str, int, str]:
    return image.digest, len(image.body), image.media_type


def _cosign_sign(rig: Rig, image: SeededManifest, *signers: Signer, identity: str | None = None) -> None:
    """``cosign sign --key`` (≤ 2.x): a repository-only identity in the ``.sig`` tag, one layer per signer."""
    payload = simple_payload(image.digest, identity or f"{rig.host}/{image.repo}")
    with rig.pusher() as pusher:
        push_sig_tag(pusher, image.repo, image.digest, [signature_layer(s, payload) for s in signers])


def _verify(rig: Rig, image: SeededManifest, *args: str, ref: str | None = None) -> Result:
    return run_cli(["verify", *args, ref or rig.ref(image.repo, "v1")], ALICE_ENV)


def _json(result: Result) -> dict[str, object]:
    doc = json.loads(result.out)
    [one] = doc["results"]
    return one  # type: ignore[no-any-return]


def test_signed_by_the_trusted_key_verifies(token_rig: Rig, signer: Signer, key: str) -> None:
    """PC: cosign's .sig layout, repository-only identity: exit 0, signer and source named."""
    image = _image(token_rig)
    _cosign_sign(token_rig, image, signer)
    result = _verify(token_rig, image, "--key", key, "-o", "json")
    assert result.code == 0, result.err
    doc = _json(result)
    assert (doc["status"], doc["digest"], doc["source"], doc["reason"]) == (
        "verified",
        image.digest,
        "tag",
        None,
    )
    assert doc["signer"] == key
    text = _verify(token_rig, image, "--key", key)
    assert text.out.split()[0] == "verified"


def test_unsigned_is_no_signature(token_rig: Rig, key: str) -> None:
    """PC: no .sig tag, no referrers: exit 8 no-signature (c/image: "no signature exists")."""
    image = _image(token_rig)
    result = _verify(token_rig, image, "--key", key, "-o", "json")
    assert result.code == 8
    assert _json(result)["reason"] == "no-signature"
    assert "no-signature" in _verify(token_rig, image, "--key", key).err


def test_signed_by_another_key_is_untrusted(token_rig: Rig, other: Signer, key: str) -> None:
    """PC: c/image "cryptographic signature verification failed": exit 8 untrusted-signature."""
    image = _image(token_rig)
    _cosign_sign(token_rig, image, other)
    result = _verify(token_rig, image, "--key", key, "-o", "json")
    assert (result.code, _json(result)["reason"]) == (8, "untrusted-signature")


def test_two_signers_any_trusted_key_is_enough(
    token_rig: Rig, signer: Signer, other: Signer, key: str, tmp_path: Path
) -> None:
    """PC: B's layer then A's in one .sig manifest (how c/image appends): trusting A, B or both verifies."""
    image = _image(token_rig)
    _cosign_sign(token_rig, image, other, signer)
    other_key = other.write_public(tmp_path / "other.pub")
    for keys in (["--key", key], ["--key", other_key], ["--key", other_key, "--key", key]):
        result = _verify(token_rig, image, *keys)
        assert result.code == 0, (keys, result.err)


@pytest.mark.parametrize("kind", ["ecdsa-p384", "rsa", "ed25519"])
def test_other_key_types(token_rig: Rig, tmp_path: Path, kind: str) -> None:
    """PC: c/image's LoadVerifier key types: ECDSA P-384, RSA (PKCS#1 v1.5, SHA-256), Ed25519."""
    image = _image(token_rig)
    typed = Signer(kind)
    _cosign_sign(token_rig, image, typed)
    assert _verify(token_rig, image, "--key", typed.write_public(tmp_path / "k.pub")).code == 0


def test_identity_of_another_repository_is_a_mismatch(token_rig: Rig, signer: Signer, key: str) -> None:
    """PC: a valid signature naming another repository: exit 8 identity-mismatch (both rules)."""
    image = _image(token_rig)
    _cosign_sign(token_rig, image, signer, identity=f"{token_rig.host}/group/project/elsewhere")
    for rule in ("repository", "exact"):
        result = _verify(token_rig, image, "--key", key, "--identity", rule, "-o", "json")
        assert (result.code, _json(result)["reason"]) == (8, "identity-mismatch")


def test_repository_only_identity_under_both_rules(token_rig: Rig, signer: Signer, key: str) -> None:
    """PC: cosign's repository-only identity passes 'repository', fails 'exact' by tag and by digest (c/image's
    matchRepoDigestOrExact never accepts a name-only identity)."""
    image = _image(token_rig)
    _cosign_sign(token_rig, image, signer)
    assert _verify(token_rig, image, "--key", key).code == 0
    by_digest = token_rig.ref(image.repo, f"@{image.digest}")
    for ref in (token_rig.ref(image.repo, "v1"), by_digest):
        result = _verify(token_rig, image, "--key", key, "--identity", "exact", "-o", "json", ref=ref)
        assert (result.code, _json(result)["reason"]) == (8, "identity-mismatch"), ref


def test_skopeo_identity_with_tag_under_exact(token_rig: Rig, signer: Signer, key: str) -> None:
    """PC: skopeo writes repo:tag; 'exact' accepts that tag and the digest, refuses another tag."""
    image = _image(token_rig)
    payload = simple_payload(image.digest, token_rig.ref(image.repo, "v1"), skopeo=True)
    with token_rig.pusher() as pusher:
        push_sig_tag(pusher, image.repo, image.digest, [signature_layer(signer, payload)])
        pusher.tag(image, "v2")
    assert _verify(token_rig, image, "--key", key, "--identity", "exact").code == 0
    digest_ref = token_rig.ref(image.repo, f"@{image.digest}")
    assert _verify(token_rig, image, "--key", key, "--identity", "exact", ref=digest_ref).code == 0
    other_tag = _verify(
        token_rig, image, "--key", key, "--identity", "exact", ref=token_rig.ref(image.repo, "v2")
    )
    assert other_tag.code == 8 and "identity-mismatch" in other_tag.err


def test_signature_copied_from_another_image_is_a_digest_mismatch(
    token_rig: Rig, signer: Signer, key: str
) -> None:
    """SEC: image X's valid signature (same repository) pushed as Y's .sig: exit 8 digest-mismatch."""
    x = _image(token_rig)
    with token_rig.pusher() as pusher:
        y = pusher.push_image(x.repo, "v2", label=f"y-{secrets.token_hex(4)}")
        payload = simple_payload(x.digest, f"{token_rig.host}/{x.repo}")
        push_sig_tag(pusher, y.repo, y.digest, [signature_layer(signer, payload)])
    result = _verify(token_rig, y, "--key", key, "-o", "json", ref=token_rig.ref(y.repo, "v2"))
    assert (result.code, _json(result)["reason"]) == (8, "digest-mismatch")


def test_altered_signature_and_altered_payload_are_untrusted(
    token_rig: Rig, signer: Signer, key: str
) -> None:
    """SEC: a flipped signature byte, or a payload changed after signing: exit 8 untrusted-signature."""
    image = _image(token_rig)
    payload = simple_payload(image.digest, f"{token_rig.host}/{image.repo}")
    good = signer.sign(payload)
    flipped = bytes([good[0], good[1], good[2] ^ 1, *good[3:]])
    altered = payload.replace(b'"optional":null', b'"optional":{}')
    annotation = "dev.cosignproject.cosign/signature"
    layers = [
        (
            payload,
            {annotation: base64.b64encode(flipped).decode()},
            "application/vnd.dev.cosign.simplesigning.v1+json",
        ),
        (
            altered,
            {annotation: base64.b64encode(good).decode()},
            "application/vnd.dev.cosign.simplesigning.v1+json",
        ),
    ]
    with token_rig.pusher() as pusher:
        push_sig_tag(pusher, image.repo, image.digest, layers)
    result = _verify(token_rig, image, "--key", key, "-o", "json")
    assert (result.code, _json(result)["reason"], _json(result)["signatures_checked"]) == (
        8,
        "untrusted-signature",
        2,
    )


def _index(rig: Rig) -> SeededManifest:
    repo = f"group/project/verify-index-{secrets.token_hex(3)}"
    with rig.pusher() as pusher:
        return pusher.push_index(repo, "v1", label=f"{repo}-{secrets.token_hex(4)}")


def _sign_digest(rig: Rig, repo: str, digest: str, signer: Signer) -> None:
    with rig.pusher() as pusher:
        push_sig_tag(
            pusher, repo, digest, [signature_layer(signer, simple_payload(digest, f"{rig.host}/{repo}"))]
        )


@pytest.mark.parametrize(
    ("signed", "expected"),
    [
        ("index", {"none": 0, "platform": 8}),
        ("children", {"none": 8, "platform": 0}),
        ("both", {"none": 0, "platform": 0}),
    ],
)
def test_index_signed_at_the_index_the_children_or_both(
    token_rig: Rig, signer: Signer, key: str, signed: str, expected: dict[str, int]
) -> None:
    """PC: without --platform the index itself must be signed (cosign's default signs it); with --platform the
    platform image (skopeo/podman check only that one: c/image copy/single.go)."""
    index = _index(token_rig)
    if signed in ("index", "both"):
        _sign_digest(token_rig, index.repo, index.digest, signer)
    if signed in ("children", "both"):
        for child in index.children:
            _sign_digest(token_rig, index.repo, child.digest, signer)
    ref = token_rig.ref(index.repo, "v1")
    plain = run_cli(["verify", "--key", key, ref], ALICE_ENV)
    platform = run_cli(["verify", "--key", key, "--platform", "linux/arm64", "-o", "json", ref], ALICE_ENV)
    assert (plain.code, platform.code) == (expected["none"], expected["platform"]), (plain.err, platform.err)
    arm64 = next(c for c in index.children if c.platform and c.platform[1] == "arm64")
    assert json.loads(platform.out)["results"][0]["digest"] == arm64.digest
    if signed == "children":
        assert "--platform" in plain.err  # the hint: the platform images may be signed alone


def test_cosign_oci11_referrer(token_rig: Rig, signer: Signer, key: str) -> None:
    """PC: cosign --registry-referrers-mode=oci-1-1 (simple signing as a referrer), found via the tag schema."""
    image = _image(token_rig)
    payload = simple_payload(image.digest, f"{token_rig.host}/{image.repo}")
    with token_rig.pusher() as pusher:
        descriptor = cosign_referrer(pusher, image.repo, _subject(image), [signature_layer(signer, payload)])
        push_referrers_index(pusher, image.repo, image.digest, [descriptor])
    result = _verify(token_rig, image, "--key", key, "-o", "json")
    assert result.code == 0, result.err
    assert _json(result)["source"] == "referrer"


def test_cosign3_bundle_referrer(token_rig: Rig, signer: Signer, other: Signer, key: str) -> None:
    """PC: cosign 3's default: a sigstore bundle (DSSE, subject digest) as a referrer. Verified under
    'repository'; under 'exact' it names no identity (identity-mismatch); by another key: untrusted."""
    image = _image(token_rig)
    with token_rig.pusher() as pusher:
        descriptor = bundle_referrer(pusher, image.repo, _subject(image), bundle(signer, image.digest))
        push_referrers_index(pusher, image.repo, image.digest, [descriptor])
    result = _verify(token_rig, image, "--key", key, "-o", "json")
    assert result.code == 0, result.err
    assert _json(result)["source"] == "bundle"
    exact = _verify(token_rig, image, "--key", key, "--identity", "exact", "-o", "json")
    assert (exact.code, _json(exact)["reason"]) == (8, "identity-mismatch")
    image2 = _image(token_rig)
    with token_rig.pusher() as pusher:
        descriptor = bundle_referrer(pusher, image2.repo, _subject(image2), bundle(other, image2.digest))
        push_referrers_index(pusher, image2.repo, image2.digest, [descriptor])
    untrusted = _verify(token_rig, image2, "--key", key, "-o", "json")
    assert (untrusted.code, _json(untrusted)["reason"]) == (8, "untrusted-signature")


def test_bundle_naming_another_digest_is_a_digest_mismatch(token_rig: Rig, signer: Signer, key: str) -> None:
    """SEC: a valid bundle for image X attached (as a referrer) to image Y."""
    x, y = _image(token_rig), _image(token_rig)
    with token_rig.pusher() as pusher:
        descriptor = bundle_referrer(pusher, y.repo, _subject(y), bundle(signer, x.digest))
        push_referrers_index(pusher, y.repo, y.digest, [descriptor])
    result = _verify(token_rig, y, "--key", key, "-o", "json")
    assert (result.code, _json(result)["reason"]) == (8, "digest-mismatch")


def test_huge_signature_count_is_bounded(token_rig: Rig, signer: Signer, other: Signer, key: str) -> None:
    """SEC: 40 signatures by an untrusted key, the trusted one last: only the first 32 are looked at."""
    image = _image(token_rig)
    payload = simple_payload(image.digest, f"{token_rig.host}/{image.repo}")
    noise = [
        signature_layer(other, payload.replace(b'"optional":null', f'"optional":{{"n":{i}}}'.encode()))
        for i in range(40)
    ]
    with token_rig.pusher() as pusher:
        push_sig_tag(pusher, image.repo, image.digest, [*noise, signature_layer(signer, payload)])
    result = _verify(token_rig, image, "--key", key, "-o", "json")
    assert (result.code, _json(result)["signatures_checked"]) == (8, 32)


def test_oversized_signature_layer_is_not_downloaded(token_rig: Rig, signer: Signer, key: str) -> None:
    """SEC: a 300 KiB "payload" (over the 256 KiB bound) next to nothing else: untrusted, never read."""
    image = _image(token_rig)
    huge = b"{" + b" " * (300 * 1024) + b"}"
    with token_rig.pusher() as pusher:
        push_sig_tag(pusher, image.repo, image.digest, [signature_layer(signer, huge)])
    result = _verify(token_rig, image, "--key", key, "-o", "json")
    assert (result.code, _json(result)["reason"]) == (8, "untrusted-signature")
    assert "over the bound" in _json(result)["error"]["message"]  # type: ignore[index]


def test_layer_sizes_that_lie_do_not_lift_the_byte_bound(token_rig: Rig, signer: Signer, key: str) -> None:
    """SEC: nine 250 KiB junk layers each declared as 1 byte, then a valid signature: the 2 MiB per image counts
    the bytes read, not the sizes the manifest claims, so the valid one is past the bound (exit 8, as with more
    than 32 signatures). The claimed sizes were subtracted, and 8 MiB could be read."""
    image = _image(token_rig)
    payload = simple_payload(image.digest, f"{token_rig.host}/{image.repo}")
    good_blob, good_notes, media_type = signature_layer(signer, payload)
    with token_rig.pusher() as pusher:
        layers = []
        for i in range(9):
            junk = b"{" + bytes([0x20 + i]) * (250 * 1024) + b"}"
            layers.append({"mediaType": media_type, "digest": pusher.put_blob(image.repo, junk), "size": 1})
        good = {
            "mediaType": media_type,
            "digest": pusher.put_blob(image.repo, good_blob),
            "size": len(good_blob),
        }
        config = b"{}"
        body = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {
                    "mediaType": "application/vnd.oci.image.config.v1+json",
                    "digest": pusher.put_blob(image.repo, config),
                    "size": len(config),
                },
                "layers": [*layers, {**good, "annotations": good_notes}],
            }
        ).encode()
        tag = image.digest.replace(":", "-") + ".sig"
        pusher.put_manifest(image.repo, tag, body, "application/vnd.oci.image.manifest.v1+json")
    result = _verify(token_rig, image, "--key", key, "-o", "json")
    assert (result.code, _json(result)["reason"], _json(result)["signatures_checked"]) == (
        8,
        "untrusted-signature",
        10,
    ), result.err


def test_sig_tag_holding_an_index_is_not_a_signature(token_rig: Rig, key: str) -> None:
    """SEC: the .sig tag points at an index (a loop back to the image list): not a signature, exit 8."""
    index = _index(token_rig)
    with token_rig.pusher() as pusher:
        pusher.put_manifest(index.repo, index.digest.replace(":", "-") + ".sig", index.body, index.media_type)
    result = run_cli(["verify", "--key", key, "-o", "json", token_rig.ref(index.repo, "v1")], ALICE_ENV)
    assert (result.code, _json(result)["reason"]) == (8, "untrusted-signature")


def test_hostile_referrers_tag_does_not_hide_a_valid_sig_tag(
    token_rig: Rig, signer: Signer, key: str
) -> None:
    """SEC: whoever can push puts an image manifest (not an index) under the referrers tag ``sha256-<hex>``: the
    valid .sig signature still verifies (exit 0), as for an unreadable .sig manifest (docs/architecture.md §10);
    the referrers tag is pushed content, not a registry fault (it was exit 6)."""
    image = _image(token_rig)
    _cosign_sign(token_rig, image, signer)
    with token_rig.pusher() as pusher:
        pusher.put_manifest(image.repo, image.digest.replace(":", "-"), image.body, image.media_type)
    result = _verify(token_rig, image, "--key", key, "-o", "json")
    assert result.code == 0, result.err
    assert _json(result)["source"] == "tag"
    unsigned = _image(token_rig)
    with token_rig.pusher() as pusher:
        pusher.put_manifest(
            unsigned.repo, unsigned.digest.replace(":", "-"), unsigned.body, unsigned.media_type
        )
    refused = _verify(token_rig, unsigned, "--key", key, "-o", "json")
    assert (refused.code, _json(refused)["reason"]) == (8, "untrusted-signature"), refused.err


def test_registry_text_is_escaped(token_rig: Rig, signer: Signer, key: str) -> None:
    """SEC: a signed identity carrying terminal escapes reaches stderr escaped."""
    image = _image(token_rig)
    _cosign_sign(token_rig, image, signer, identity="evil\x1b[2J\r\nfake")
    result = _verify(token_rig, image, "--key", key)
    assert result.code == 8
    assert "\x1b" not in result.both and "\r" not in result.both


def test_batch_worst_code_and_jsonl(token_rig: Rig, signer: Signer, key: str) -> None:
    """PC: signed, unsigned, absent: one line each, 8 outranks 1 and 0; -o jsonl streams in input order."""
    signed, unsigned = _image(token_rig), _image(token_rig)
    _cosign_sign(token_rig, signed, signer)
    refs = [
        token_rig.ref(signed.repo, "v1"),
        token_rig.ref(unsigned.repo, "v1"),
        token_rig.ref(signed.repo, "nope"),
    ]
    result = run_cli(["verify", "--key", key, "-o", "jsonl", "--jobs", "3", *refs], ALICE_ENV)
    assert result.code == 8
    statuses = [json.loads(line)["status"] for line in result.out.splitlines()]
    assert statuses == ["verified", "not-verified", "absent"]
    # 4 ("cannot tell": a project that does not exist or is not visible) outranks 8.
    denied = run_cli(["verify", "--key", key, refs[1], token_rig.ref("no/such-project", "v1")], ALICE_ENV)
    assert denied.code == 4, denied.err


def test_bad_key_files_are_exit_2(token_rig: Rig, tmp_path: Path, signer: Signer) -> None:
    """BI: missing, not PEM, a private key, empty: exit 2 before any request, never a traceback."""
    image = _image(token_rig)
    private = tmp_path / "cosign.key"
    from cryptography.hazmat.primitives import serialization

    private.write_bytes(
        signer.key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    (tmp_path / "empty.pub").write_bytes(b"")
    (tmp_path / "junk.pub").write_bytes(b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n")
    for name in ("missing.pub", "cosign.key", "empty.pub", "junk.pub"):
        result = _verify(token_rig, image, "--key", str(tmp_path / name))
        assert result.code == 2, (name, result.err)
        assert "Traceback" not in result.err and name in result.err
    assert _verify(token_rig, image).code == 2  # no key at all


def test_keyless_fulcio_rekor_offline(token_rig: Rig, tmp_path: Path) -> None:
    """PC: keyless (.sig with a Fulcio-like certificate and a Rekor SET, signed in 2025 by a ten-minute leaf):
    verified with --fulcio-ca and --rekor-key at the SET's time; another identity or issuer, or another Rekor
    key: untrusted-signature; incomplete keyless options or keys mixed with keyless: exit 2."""
    import datetime as dt

    from rig.signer import KeylessAuthority

    authority = KeylessAuthority()
    image = _image(token_rig)
    payload = simple_payload(image.digest, f"{token_rig.host}/{image.repo}")
    when = dt.datetime(2025, 3, 1, 12, 0, tzinfo=dt.timezone.utc)
    with token_rig.pusher() as pusher:
        layer = authority.layer(payload, "ci@example.com", "https://gitlab.example.com", when)
        push_sig_tag(pusher, image.repo, image.digest, [layer])
    (tmp_path / "fulcio.pem").write_bytes(authority.root_pem())
    (tmp_path / "rekor.pub").write_bytes(authority.rekor_public_pem())
    (tmp_path / "other-rekor.pub").write_bytes(KeylessAuthority().rekor_public_pem())
    trust = ["--fulcio-ca", str(tmp_path / "fulcio.pem"), "--rekor-key", str(tmp_path / "rekor.pub")]

    def keyless(identity: str, issuer: str, *extra: str) -> Result:
        args = ["--certificate-identity", identity, "--certificate-oidc-issuer", issuer, *extra]
        return _verify(token_rig, image, *args, "-o", "json")

    ok = keyless("ci@example.com", "https://gitlab.example.com", *trust)
    assert ok.code == 0, ok.err
    assert _json(ok)["signer"] == "ci@example.com (https://gitlab.example.com)"
    for identity, issuer in (
        ("mallory@example.com", "https://gitlab.example.com"),
        ("ci@example.com", "https://evil"),
    ):
        refused = keyless(identity, issuer, *trust)
        assert (refused.code, _json(refused)["reason"]) == (8, "untrusted-signature")
    other_log = keyless(
        "ci@example.com",
        "https://gitlab.example.com",
        "--fulcio-ca",
        str(tmp_path / "fulcio.pem"),
        "--rekor-key",
        str(tmp_path / "other-rekor.pub"),
    )
    assert other_log.code == 8
    assert keyless("ci@example.com", "https://gitlab.example.com").code == 2  # no trust root
    assert (
        keyless(
            "ci@example.com", "https://gitlab.example.com", "--fulcio-ca", str(tmp_path / "fulcio.pem")
        ).code
        == 2
    )
    mixed = _verify(
        token_rig, image, "--key", str(tmp_path / "rekor.pub"), "--certificate-identity", "x", *trust
    )
    assert mixed.code == 2


def test_fail_fast_stops_after_the_first_error(token_rig: Rig, signer: Signer, key: str) -> None:
    """PC: --fail-fast --jobs 1: a denied reference first, the signed one after it is not checked."""
    image = _image(token_rig)
    _cosign_sign(token_rig, image, signer)
    refs = [token_rig.ref("no/such-project", "v1"), token_rig.ref(image.repo, "v1")]
    result = run_cli(["verify", "--key", key, "--fail-fast", "--jobs", "1", "-o", "json", *refs], ALICE_ENV)
    statuses = [r["status"] for r in json.loads(result.out)["results"]]
    assert (result.code, statuses) == (6, ["error", "error"])
    assert run_cli(["verify", "--key", key, "--jobs", "1", *refs], ALICE_ENV).code == 4
