"""The order of the checks and the verdict (#24, docs/architecture.md §10).

For each signature found, in containers/image's order (``signature/policy_eval_sigstore.go``): the signature
over the exact payload bytes with a trusted key (or, keyless, the Rekor SET and the Fulcio certificate first),
then the payload type, then the payload's digest against the digest being deployed, then the identity. Nothing
the payload says is believed before its bytes verify. Any one signature passing is enough. Otherwise the reason
is the furthest check any signature reached: ``identity-mismatch`` > ``digest-mismatch`` >
``untrusted-signature``; ``no-signature`` when there was none to check.
"""

from __future__ import annotations

from collections.abc import Sequence

from ocireg.record import record
from ocireg.reference import Digest, Reference
from ocireg.signatures.candidate import Candidate, Envelope
from ocireg.signatures.identity import identity_matches
from ocireg.signatures.keys import TrustedKey, verify_with
from ocireg.signatures.layout import DSSE_IN_TOTO
from ocireg.signatures.payload import (
    COSIGN_SIGN_PREDICATE,
    PayloadError,
    parse_simple_payload,
    parse_statement,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ocireg.signatures.keyless import KeylessPolicy

__all__ = ["TrustPolicy", "Verdict", "judge", "pae"]

_RANK = {"untrusted-signature": 1, "digest-mismatch": 2, "identity-mismatch": 3}


@record(frozen=True)
class TrustPolicy:
    """Who may sign (``keys``, any one; or ``keyless``) and the identity rule (``repository``, ``exact``)."""

    keys: tuple[TrustedKey, ...] = ()
    identity: str = "repository"
    keyless: KeylessPolicy | None = None


@record(frozen=True)
class Verdict:
    """The outcome for one image: ``reason`` is ``None`` when verified (then ``signer`` and ``source`` say by
    whom and where), else one of the fixed reasons; ``detail`` explains it (already escaped-safe text)."""

    reason: str | None
    detail: str
    signer: str | None = None
    source: str | None = None
    checked: int = 0


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE's pre-authentication encoding (secure-systems-lab/dsse ``protocol.md``): what the signature covers."""
    kind = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)


def _signer(policy: TrustPolicy, signature: bytes | None, message: bytes, candidate: Candidate) -> str | None:
    """The trusted key (or keyless identity) whose signature ``signature`` is over ``message``, if any."""
    if signature is None:
        return None
    if policy.keyless is not None:
        return policy.keyless.signer(candidate, signature, message)
    for trusted in policy.keys:
        if verify_with(trusted.key, signature, message):
            return trusted.name
    return None


def _judge_simple(candidate: Candidate, digest: Digest, wanted: Reference, policy: TrustPolicy) -> Verdict:
    signer = _signer(policy, candidate.signature, candidate.payload, candidate)
    if signer is None:
        return Verdict("untrusted-signature", "no signature verifies with a trusted key")
    try:
        claims = parse_simple_payload(candidate.payload)
    except PayloadError as exc:
        return Verdict("untrusted-signature", f"a trusted signature over a payload that is not valid: {exc}")
    if claims.manifest_digest != digest:
        return Verdict(
            "digest-mismatch", f"a valid signature for another image ({claims.manifest_digest}), not {digest}"
        )
    if not identity_matches(policy.identity, wanted, claims.docker_reference):
        return Verdict(
            "identity-mismatch",
            f"signed identity {claims.docker_reference[:300]!r} is not accepted "
            f"for {wanted} (--identity {policy.identity})",
        )
    return Verdict(None, f"signed by {signer}", signer, candidate.source)


def _judge_envelope(
    envelope: Envelope, candidate: Candidate, digest: Digest, wanted: Reference, policy: TrustPolicy
) -> Verdict:
    message = pae(envelope.payload_type, envelope.payload)
    signer = _signer(policy, envelope.signature, message, candidate)
    if signer is None:
        return Verdict("untrusted-signature", "no bundle signature verifies with a trusted key")
    try:
        if envelope.payload_type != DSSE_IN_TOTO:
            raise PayloadError(f"DSSE payload type {envelope.payload_type[:80]!r}")
        statement = parse_statement(envelope.payload)
        if statement.predicate_type != COSIGN_SIGN_PREDICATE:
            raise PayloadError(f"predicate type {statement.predicate_type[:120]!r} is not an image signature")
    except PayloadError as exc:
        return Verdict("untrusted-signature", f"a trusted bundle that is not an image signature: {exc}")
    if digest.algorithm != "sha256" or digest.hex not in statement.subject_sha256:
        return Verdict("digest-mismatch", f"a valid bundle for another image, not {digest}")
    if not identity_matches(policy.identity, wanted, None):
        return Verdict(
            "identity-mismatch", f"a bundle names no docker reference; --identity {policy.identity} needs one"
        )
    return Verdict(None, f"signed by {signer}", signer, candidate.source)


def judge(candidates: Sequence[Candidate], digest: Digest, wanted: Reference, policy: TrustPolicy) -> Verdict:
    """The verdict for the image ``digest`` (asked for as ``wanted``) given the signatures found."""
    best: Verdict | None = None
    for candidate in candidates:
        if candidate.problem is not None:
            verdict = Verdict("untrusted-signature", candidate.problem)
        elif candidate.envelope is not None:
            verdict = _judge_envelope(candidate.envelope, candidate, digest, wanted, policy)
        else:
            verdict = _judge_simple(candidate, digest, wanted, policy)
        if verdict.reason is None:
            return Verdict(None, verdict.detail, verdict.signer, verdict.source, len(candidates))
        if best is None or _RANK[verdict.reason] > _RANK[best.reason or ""]:
            best = verdict
    if best is None:
        return Verdict("no-signature", "no signature found (.sig tag, referrers)", checked=0)
    return Verdict(best.reason, best.detail, checked=len(candidates))
