"""A rig signer: signs images in exactly the layouts cosign and containers/image write, and pushes the signatures
into the real registry through the rig's raw HTTP :class:`~rig.seed.Pusher` (never through ocireg) (#24).

Layouts (cosign ``specs/SIGNATURE_SPEC.md`` and ``specs/BUNDLE_SPEC.md``; containers/image
``docker/docker_image_dest.go`` ``putSignaturesToSigstoreAttachments``):

- the ``sha256-<hex>.sig`` tag: an OCI image manifest, config ``application/vnd.oci.image.config.v1+json`` (an
  image config whose ``rootfs.diff_ids`` lists the layers), one layer per signature of media type
  ``application/vnd.dev.cosign.simplesigning.v1+json`` whose blob is the payload and whose annotation
  ``dev.cosignproject.cosign/signature`` is the base64 ASN.1 signature;
- cosign's OCI 1.1 referrer (``--registry-referrers-mode=oci-1-1``): the same layers, with ``subject`` and
  ``artifactType`` = ``config.mediaType`` = ``application/vnd.dev.cosign.artifact.sig.v1+json``;
- cosign 3's sigstore bundle referrer: ``artifactType application/vnd.dev.sigstore.bundle.v0.3+json``, empty
  config, one layer = the bundle (a DSSE envelope of an in-toto statement naming the digest).

distribution 2.8 has no referrers API: referrers are listed in the ``sha256-<hex>`` index (the OCI "referrers
tag schema"), as cosign and oras keep it on such registries. The rig never imports ocireg; this module needs
``cryptography`` and PyNaCl (the test extra). Every :class:`Signer` keeps its key as cosign does: written in
cosign's encrypted private-key format (:mod:`rig.cosignkey`) and loaded back from it before signing.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

from rig import cosignkey
from rig.seed import Pusher, sha256_digest

SIMPLE_SIGNING = "application/vnd.dev.cosign.simplesigning.v1+json"
COSIGN_SIG_ARTIFACT = "application/vnd.dev.cosign.artifact.sig.v1+json"
BUNDLE_TYPE = "application/vnd.dev.sigstore.bundle.v0.3+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
EMPTY = "application/vnd.oci.empty.v1+json"
SIGNATURE_ANNOTATION = "dev.cosignproject.cosign/signature"

Layer = tuple[bytes, dict[str, str], str]  # blob, annotations, media type


class Signer:
    """A key pair: ``kind`` is ``ecdsa-p256`` (cosign's default), ``ecdsa-p384``, ``rsa`` or ``ed25519``.

    As ``cosign generate-key-pair``: the generated key is written as ``ENCRYPTED SIGSTORE PRIVATE KEY``
    (:attr:`private_pem`, under :attr:`password`), and the key that signs is the one loaded back from it."""

    password = b"rig-cosign-password"

    def __init__(self, kind: str = "ecdsa-p256") -> None:
        self.kind = kind
        generated: Any
        if kind == "ecdsa-p256":
            generated = ec.generate_private_key(ec.SECP256R1())
        elif kind == "ecdsa-p384":
            generated = ec.generate_private_key(ec.SECP384R1())
        elif kind == "rsa":
            generated = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        elif kind == "ed25519":
            generated = ed25519.Ed25519PrivateKey.generate()
        else:
            raise ValueError(kind)
        self.private_pem = cosignkey.write_private_key(generated, self.password)
        self.key: Any = cosignkey.load_private_key(self.private_pem, self.password)

    def write_private(self, path: Path) -> str:
        """The ``cosign.key`` file (encrypted; its password is :attr:`password`)."""
        path.write_bytes(self.private_pem)
        return str(path)

    def public_pem(self) -> bytes:
        return self.key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def write_public(self, path: Path) -> str:
        path.write_bytes(self.public_pem())
        return str(path)

    def sign(self, data: bytes) -> bytes:
        """As sigstore's signers: ECDSA (DER) and RSA PKCS#1 v1.5 over SHA-256, Ed25519 over the message."""
        if self.kind.startswith("ecdsa"):
            return bytes(self.key.sign(data, ec.ECDSA(hashes.SHA256())))
        if self.kind == "rsa":
            return bytes(self.key.sign(data, padding.PKCS1v15(), hashes.SHA256()))
        return bytes(self.key.sign(data))


def simple_payload(digest: str, docker_reference: str, *, skopeo: bool = False) -> bytes:
    """The simple-signing payload as cosign writes it (``optional: null``, compact JSON) or as skopeo does
    (``optional`` with ``creator`` and ``timestamp``)."""
    optional: Any = {"creator": "containers/image 5.22.1", "timestamp": 1796675766} if skopeo else None
    doc = {
        "critical": {
            "identity": {"docker-reference": docker_reference},
            "image": {"docker-manifest-digest": digest},
            "type": "cosign container image signature",
        },
        "optional": optional,
    }
    return json.dumps(doc, separators=(",", ":")).encode()


def signature_layer(signer: Signer, payload: bytes) -> Layer:
    """One ``.sig`` layer: the payload blob and its signature annotation."""
    return payload, {SIGNATURE_ANNOTATION: base64.b64encode(signer.sign(payload)).decode()}, SIMPLE_SIGNING


def _dump(doc: object) -> bytes:
    return json.dumps(doc, separators=(",", ":")).encode()


def _layers(pusher: Pusher, repo: str, layers: Sequence[Layer]) -> list[dict[str, Any]]:
    out = []
    for blob, notes, media_type in layers:
        digest = pusher.put_blob(repo, blob)
        descriptor: dict[str, Any] = {"mediaType": media_type, "digest": digest, "size": len(blob)}
        if notes:
            descriptor["annotations"] = notes
        out.append(descriptor)
    return out


def push_sig_tag(
    pusher: Pusher, repo: str, digest: str, layers: Sequence[Layer], *, tag: str | None = None
) -> str:
    """The ``sha256-<hex>.sig`` manifest with ``layers`` in order (containers/image appends each new one)."""
    descriptors = _layers(pusher, repo, layers)
    config = _dump(
        {
            "architecture": "",
            "os": "",
            "config": {},
            "rootfs": {"type": "layers", "diff_ids": [d["digest"] for d in descriptors]},
        }
    )
    body = _dump(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": pusher.put_blob(repo, config), "size": len(config)},
            "layers": descriptors,
        }
    )
    return pusher.put_manifest(repo, tag or digest.replace(":", "-") + ".sig", body, OCI_MANIFEST)


def _referrer(
    pusher: Pusher,
    repo: str,
    subject: tuple[str, int, str],
    artifact_type: str,
    config_type: str,
    layers: Sequence[Layer],
) -> dict[str, Any]:
    config = b"{}"
    body = _dump(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": artifact_type,
            "config": {
                "mediaType": config_type,
                "digest": pusher.put_blob(repo, config),
                "size": len(config),
            },
            "layers": _layers(pusher, repo, layers),
            "subject": {"mediaType": subject[2], "digest": subject[0], "size": subject[1]},
        }
    )
    digest = pusher.put_manifest(repo, sha256_digest(body), body, OCI_MANIFEST)
    return {"mediaType": OCI_MANIFEST, "digest": digest, "size": len(body), "artifactType": artifact_type}


def cosign_referrer(
    pusher: Pusher, repo: str, subject: tuple[str, int, str], layers: Sequence[Layer]
) -> dict[str, Any]:
    """cosign's simple-signing OCI 1.1 referrer; returns its descriptor (for :func:`push_referrers_index`)."""
    return _referrer(pusher, repo, subject, COSIGN_SIG_ARTIFACT, COSIGN_SIG_ARTIFACT, layers)


def pae(payload_type: str, payload: bytes) -> bytes:
    kind = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)


def bundle(
    signer: Signer, subject_digest: str, *, predicate: str = "https://sigstore.dev/cosign/sign/v1"
) -> bytes:
    """A cosign 3 image-signature bundle (public-key form): DSSE over an in-toto statement naming the digest."""
    statement = _dump(
        {
            "_type": "https://in-toto.io/Statement/v1",
            "subject": [{"name": "", "digest": {"sha256": subject_digest.split(":", 1)[1]}}],
            "predicateType": predicate,
            "predicate": {},
        }
    )
    payload_type = "application/vnd.in-toto+json"
    signature = signer.sign(pae(payload_type, statement))
    hint = base64.b64encode(hashlib.sha256(signer.public_pem()).digest()).decode()
    return _dump(
        {
            "mediaType": BUNDLE_TYPE,
            "verificationMaterial": {"publicKey": {"hint": hint}, "tlogEntries": []},
            "dsseEnvelope": {
                "payload": base64.b64encode(statement).decode(),
                "payloadType": payload_type,
                "signatures": [{"sig": base64.b64encode(signature).decode(), "keyid": ""}],
            },
        }
    )


def bundle_referrer(pusher: Pusher, repo: str, subject: tuple[str, int, str], blob: bytes) -> dict[str, Any]:
    """cosign 3's bundle referrer (empty config, one bundle layer with cosign's annotations)."""
    annotations = {
        "dev.sigstore.bundle.content": "dsse-envelope",
        "dev.sigstore.bundle.predicateType": "https://sigstore.dev/cosign/sign/v1",
    }
    return _referrer(pusher, repo, subject, BUNDLE_TYPE, EMPTY, [(blob, annotations, BUNDLE_TYPE)])


def push_referrers_index(
    pusher: Pusher, repo: str, subject_digest: str, descriptors: Sequence[dict[str, Any]]
) -> str:
    """The referrers tag schema: the index of ``subject_digest``'s referrers under the tag ``sha256-<hex>``."""
    body = _dump({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": list(descriptors)})
    return pusher.put_manifest(repo, subject_digest.replace(":", "-"), body, OCI_INDEX)


class KeylessAuthority:
    """A Fulcio-like CA (root, intermediate) and a Rekor-like log key, to sign keyless as cosign ≤ 2 does: a
    ten-minute leaf certificate (code signing, SAN e-mail, OIDC issuer extensions), the signature, and a Rekor
    SET over a ``hashedrekord`` entry, in the ``.sig`` annotations (containers/image's Fulcio fixture layout)."""

    def __init__(self) -> None:
        import datetime as dt

        from cryptography import x509
        from cryptography.x509.oid import NameOID

        self._x509, self._dt = x509, dt
        start, end = (
            dt.datetime(2020, 1, 1, tzinfo=dt.timezone.utc),
            dt.datetime(2040, 1, 1, tzinfo=dt.timezone.utc),
        )
        self.root_key = ec.generate_private_key(ec.SECP256R1())
        self.intermediate_key = ec.generate_private_key(ec.SECP256R1())
        self.rekor_key = ec.generate_private_key(ec.SECP256R1())
        root_name = x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "rig"),
                x509.NameAttribute(NameOID.COMMON_NAME, "rig-fulcio"),
            ]
        )
        inter_name = x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "rig"),
                x509.NameAttribute(NameOID.COMMON_NAME, "rig-fulcio-intermediate"),
            ]
        )
        self.root = self._ca(root_name, root_name, self.root_key, self.root_key, start, end, eku=False)
        self.intermediate = self._ca(
            inter_name, root_name, self.intermediate_key, self.root_key, start, end, eku=True
        )

    def _ca(
        self, subject: Any, issuer: Any, key: Any, signer: Any, start: Any, end: Any, *, eku: bool
    ) -> Any:
        x509 = self._x509
        from cryptography.x509.oid import ExtendedKeyUsageOID

        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(end)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(signer.public_key()), critical=False
            )
        )
        if eku:  # as Fulcio's intermediate
            builder = builder.add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), critical=False
            )
        return builder.sign(signer, hashes.SHA256())

    def root_pem(self) -> bytes:
        return bytes(self.root.public_bytes(serialization.Encoding.PEM))

    def rekor_public_pem(self) -> bytes:
        return bytes(
            self.rekor_key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )

    def layer(
        self,
        payload: bytes,
        email: str,
        issuer: str,
        when: Any,
        *,
        issuer_v1: str | None = None,
        with_v1: bool = True,
    ) -> Layer:
        """A keyless ``.sig`` layer signed at ``when`` (a datetime) by ``email`` from ``issuer``.

        The OIDC issuer goes in Fulcio's extension 1.3.6.1.4.1.57264.1.8 (a DER UTF8String) and, unless
        ``with_v1`` is false, in the deprecated 1.3.6.1.4.1.57264.1.1 (raw bytes; ``issuer_v1`` if given)."""
        x509 = self._x509
        from cryptography.x509.oid import ExtendedKeyUsageOID, ObjectIdentifier

        leaf_key = ec.generate_private_key(ec.SECP256R1())
        issuer_bytes = issuer.encode()
        n = len(issuer_bytes)  # DER length: short form below 128, else 0x81/0x82 and the bytes
        length = (
            bytes([n]) if n < 0x80 else bytes([0x81, n]) if n < 0x100 else bytes([0x82, n >> 8, n & 0xFF])
        )
        extensions = [
            x509.UnrecognizedExtension(
                ObjectIdentifier("1.3.6.1.4.1.57264.1.8"), b"\x0c" + length + issuer_bytes
            )
        ]
        if with_v1:
            v1 = (issuer_v1 if issuer_v1 is not None else issuer).encode()
            extensions.insert(0, x509.UnrecognizedExtension(ObjectIdentifier("1.3.6.1.4.1.57264.1.1"), v1))
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([]))
            .issuer_name(self.intermediate.subject)
            .public_key(leaf_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(when - self._dt.timedelta(seconds=1))
            .not_valid_after(when + self._dt.timedelta(minutes=10))
            .add_extension(
                x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True
            )
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), critical=False)
            .add_extension(x509.SubjectAlternativeName([x509.RFC822Name(email)]), critical=True)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.intermediate_key.public_key()),
                critical=False,
            )
        )
        for extension in extensions:
            builder = builder.add_extension(extension, critical=False)
        leaf = builder.sign(self.intermediate_key, hashes.SHA256())
        leaf_pem = leaf.public_bytes(serialization.Encoding.PEM)
        signature = leaf_key.sign(payload, ec.ECDSA(hashes.SHA256()))
        body = {
            "apiVersion": "0.0.1",
            "kind": "hashedrekord",
            "spec": {
                "data": {"hash": {"algorithm": "sha256", "value": hashlib.sha256(payload).hexdigest()}},
                "signature": {
                    "content": base64.b64encode(signature).decode(),
                    "publicKey": {"content": base64.b64encode(leaf_pem).decode()},
                },
            },
        }
        spki = self.rekor_key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        set_payload = {
            "body": base64.b64encode(_dump(body)).decode(),
            "integratedTime": int(when.timestamp()),
            "logIndex": 1,
            "logID": hashlib.sha256(spki).hexdigest(),
        }
        canonical = json.dumps(set_payload, sort_keys=True, separators=(",", ":")).encode()
        entry_timestamp = self.rekor_key.sign(canonical, ec.ECDSA(hashes.SHA256()))
        chain = self.intermediate.public_bytes(serialization.Encoding.PEM) + self.root_pem()
        annotations = {
            SIGNATURE_ANNOTATION: base64.b64encode(signature).decode(),
            "dev.sigstore.cosign/certificate": leaf_pem.decode(),
            "dev.sigstore.cosign/chain": chain.decode(),
            "dev.sigstore.cosign/bundle": json.dumps(
                {"SignedEntryTimestamp": base64.b64encode(entry_timestamp).decode(), "Payload": set_payload}
            ),
        }
        return payload, annotations, SIMPLE_SIGNING
