"""``verify -o dotenv`` and ``exists --verify-key -o dotenv`` (#24 follow-up): the lines a GitLab dotenv report hands
to a deploy job, without a registry.

A deploy must run the digest that was verified, not resolve the tag again: the digest and the digest reference are
written only for a verified image (the keys ``digest -o dotenv`` writes: OCIREG_STATUS, OCIREG_DIGEST,
OCIREG_REFERENCE); a "no" or a "cannot tell" writes the status alone, so a later job has no digest to deploy.
Catalogue: PC (the lines), BI (several references are a usage error, before any request).
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from ocireg.cli import main
from ocireg.cli.verify import verify_dotenv_lines
from ocireg.connection import Connections
from ocireg.errors import NotFound, NotVerified, TransportError
from ocireg.operations.verify import VerifyResult
from ocireg.reference import parse_digest, parse_reference

DIGEST = parse_digest("sha256:" + "ab" * 32)
REFERENCE = parse_reference("registry.example.com/group/app:v1.2.3")


def _result(error: Exception | None, digest: bool = True) -> VerifyResult:
    return VerifyResult(
        text="registry.example.com/group/app:v1.2.3",
        reference=REFERENCE,
        digest=DIGEST if digest else None,
        error=error,  # type: ignore[arg-type]
        signer="cosign.pub" if error is None else None,
        source="tag" if error is None else None,
    )


def test_pc_verified_writes_the_verified_digest_and_its_reference() -> None:
    assert verify_dotenv_lines(_result(None)) == [
        "OCIREG_STATUS=verified",
        f"OCIREG_DIGEST={DIGEST}",
        f"OCIREG_REFERENCE=registry.example.com/group/app@{DIGEST}",
    ]


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (NotVerified("no signature", reason="no-signature"), "not-verified"),
        (NotVerified("another image", reason="digest-mismatch"), "not-verified"),
        (TransportError("connection refused"), "error"),
    ],
)
def test_pc_unverified_writes_no_digest_to_deploy(error: Exception, status: str) -> None:
    """The digest was resolved (and judged), but it is not one a deploy may run: only the status."""
    assert verify_dotenv_lines(_result(error)) == [f"OCIREG_STATUS={status}"]


def test_pc_absent_writes_the_status_alone() -> None:
    assert verify_dotenv_lines(_result(NotFound("manifest unknown"), digest=False)) == [
        "OCIREG_STATUS=absent"
    ]


def run(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(argv, {"HOME": "/nonexistent"}, stdin=io.StringIO(""), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def key(tmp_path: Path) -> str:
    pytest.importorskip("cryptography")
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    public = ec.generate_private_key(ec.SECP256R1()).public_key()
    path = tmp_path / "cosign.pub"
    path.write_bytes(
        public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return str(path)


@pytest.mark.parametrize("gate", [["verify", "--key"], ["exists", "--verify-key"]])
def test_bi_dotenv_takes_one_reference(gate: list[str], key: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Several references with -o dotenv: exit 2 before any request (one OCIREG_DIGEST names one image)."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("network I/O attempted")

    monkeypatch.setattr(Connections, "send", refuse)
    code, out, err = run([*gate, key, "-o", "dotenv", "r.example/a:1", "r.example/b:1"])
    assert code == 2, err
    assert out == ""
    assert "-o dotenv takes one reference" in err and "Traceback" not in err
