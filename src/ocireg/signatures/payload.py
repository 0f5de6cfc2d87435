"""The signed documents, parsed strictly and only after their bytes verified (#24, docs/architecture.md §10).

The simple-signing payload (cosign ``specs/SIGNATURE_SPEC.md``; parsed as containers/image
``signature/internal/sigstore_payload.go`` does: exactly the keys ``critical``/``optional``,
``type``/``image``/``identity``, ``docker-manifest-digest``, ``docker-reference``; ``optional`` may be ``null``;
an ``optional.timestamp`` must be an integer) and the in-toto statement of a cosign 3 bundle (cosign
``cmd/cosign/cli/sign/sign.go`` ``signDigestBundle``: subject digest, predicate type ``…/cosign/sign/v1``).
"""

from __future__ import annotations

from collections.abc import Mapping

from ocireg.errors import ProtocolViolation
from ocireg.record import record
from ocireg.reference import Digest

__all__ = [
    "COSIGN_SIGN_PREDICATE",
    "SIMPLE_SIGNING_TYPE",
    "PayloadError",
    "SimplePayload",
    "Statement",
    "load_json",
    "parse_simple_payload",
    "parse_statement",
]

SIMPLE_SIGNING_TYPE = "cosign container image signature"
COSIGN_SIGN_PREDICATE = "https://sigstore.dev/cosign/sign/v1"
_STATEMENT_TYPES = ("https://in-toto.io/Statement/v1", "https://in-toto.io/Statement/v0.1")


class PayloadError(ValueError):
    """A verified payload that is not a container image signature (wrong type, wrong shape)."""


@record(frozen=True)
class SimplePayload:
    """What a simple-signing payload claims: the manifest digest and the docker reference."""

    manifest_digest: Digest
    docker_reference: str


@record(frozen=True)
class Statement:
    """What an in-toto statement claims: the subjects' sha256 digests and the predicate type."""

    predicate_type: str
    subject_sha256: tuple[str, ...]


def _object(doc: Mapping[str, object], key: str) -> Mapping[str, object]:
    value = doc.get(key)
    if not isinstance(value, dict):
        raise PayloadError(f"field {key!r} is not a JSON object")
    return value


def _exact_keys(doc: Mapping[str, object], keys: set[str], where: str) -> None:
    if set(doc) != keys:
        raise PayloadError(f"{where} has the fields {sorted(doc)}, expected exactly {sorted(keys)}")


def load_json(raw: bytes, what: str) -> dict[str, object]:
    from ocireg.manifest import loads_strict

    try:
        return loads_strict(raw, what=what, error=ProtocolViolation)
    except ProtocolViolation as exc:
        raise PayloadError(str(exc)) from None


def parse_simple_payload(raw: bytes) -> SimplePayload:
    """The claims of a simple-signing payload; :class:`PayloadError` unless it has exactly the expected shape."""
    doc = load_json(raw, "signature payload")
    _exact_keys(doc, {"critical", "optional"}, "the payload")
    optional = doc["optional"]
    if optional is not None:
        if not isinstance(optional, dict):
            raise PayloadError("field 'optional' is neither null nor a JSON object")
        if "creator" in optional and not isinstance(optional["creator"], str):
            raise PayloadError("field optional.creator is not a string")
        stamp = optional.get("timestamp")
        if "timestamp" in optional and (
            isinstance(stamp, bool) or not isinstance(stamp, (int, float)) or int(stamp) != stamp
        ):
            raise PayloadError("field optional.timestamp is not an integer")
    critical = _object(doc, "critical")
    _exact_keys(critical, {"type", "image", "identity"}, "critical")
    if critical["type"] != SIMPLE_SIGNING_TYPE:
        raise PayloadError(f"unrecognised signature type {str(critical['type'])[:80]!r}")
    image = _object(critical, "image")
    _exact_keys(image, {"docker-manifest-digest"}, "critical.image")
    identity = _object(critical, "identity")
    _exact_keys(identity, {"docker-reference"}, "critical.identity")
    digest_text, reference = image["docker-manifest-digest"], identity["docker-reference"]
    if not isinstance(digest_text, str) or not isinstance(reference, str):
        raise PayloadError("docker-manifest-digest and docker-reference must be strings")
    try:
        digest = Digest.parse(digest_text)
    except ValueError:
        raise PayloadError(f"invalid docker-manifest-digest {digest_text[:80]!r}") from None
    return SimplePayload(digest, reference)


def parse_statement(raw: bytes) -> Statement:
    """The claims of an in-toto statement (DSSE payload of a cosign 3 bundle)."""
    doc = load_json(raw, "in-toto statement")
    if doc.get("_type") not in _STATEMENT_TYPES:
        raise PayloadError(f"not an in-toto statement (_type {str(doc.get('_type'))[:80]!r})")
    predicate_type = doc.get("predicateType")
    if not isinstance(predicate_type, str):
        raise PayloadError("the statement has no predicateType")
    subjects = doc.get("subject")
    if not isinstance(subjects, list):
        raise PayloadError("the statement has no subject list")
    found: list[str] = []
    for subject in subjects:
        digests = subject.get("digest") if isinstance(subject, dict) else None
        value = digests.get("sha256") if isinstance(digests, dict) else None
        if isinstance(value, str):
            found.append(value.lower())
    return Statement(predicate_type, tuple(found))
