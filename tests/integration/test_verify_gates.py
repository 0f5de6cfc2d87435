"""The deploy gates with ``--verify-key``: exists, check and pin pass only signed images (#24, docs/architecture.md §10).

Images are signed by the rig signer (tests/rig/signer.py) in cosign's ``.sig`` layout; the gates run in-process
against the token rig with the usual credentials. Catalogue: PC.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import pytest

from clirunner import creds, run_cli
from rig import Rig
from rig.seed import SeededManifest
from rig.signer import Signer, push_sig_tag, signature_layer, simple_payload
from rig.tokenserver import ALICE, ALICE_PASSWORD

ALICE_ENV = creds(ALICE, ALICE_PASSWORD)


@pytest.fixture(scope="module")
def signer() -> Signer:
    return Signer()


@pytest.fixture
def key(signer: Signer, tmp_path: Path) -> str:
    return signer.write_public(tmp_path / "cosign.pub")


def _images(rig: Rig, signer: Signer) -> tuple[SeededManifest, SeededManifest]:
    """(signed, unsigned) in one fresh repository, tags ``signed`` and ``unsigned``."""
    repo = f"group/project/gates-{secrets.token_hex(3)}"
    with rig.pusher() as pusher:
        signed = pusher.push_image(repo, "signed", label=f"{repo}-s")
        unsigned = pusher.push_image(repo, "unsigned", label=f"{repo}-u")
        payload = simple_payload(signed.digest, f"{rig.host}/{repo}")
        push_sig_tag(pusher, repo, signed.digest, [signature_layer(signer, payload)])
    return signed, unsigned


def test_exists_verify_key(token_rig: Rig, signer: Signer, key: str) -> None:
    """PC: exists --verify-key: signed 0, unsigned 8, absent 1; without the option, exists as before."""
    signed, unsigned = _images(token_rig, signer)
    ok = run_cli(["exists", "--verify-key", key, token_rig.ref(signed.repo, "signed")], ALICE_ENV)
    assert ok.code == 0, ok.err
    assert ok.out.split()[0] == "verified"
    bad = run_cli(
        ["exists", "--verify-key", key, "-o", "json", token_rig.ref(unsigned.repo, "unsigned")], ALICE_ENV
    )
    assert bad.code == 8
    doc = json.loads(bad.out)
    assert doc["command"] == "exists"
    assert doc["results"][0]["reason"] == "no-signature"
    gone = run_cli(["exists", "--verify-key", key, token_rig.ref(signed.repo, "gone")], ALICE_ENV)
    assert gone.code == 1
    assert run_cli(["exists", token_rig.ref(unsigned.repo, "unsigned")], ALICE_ENV).code == 0


def test_check_verify_key_names_file_and_line(
    token_rig: Rig, signer: Signer, key: str, tmp_path: Path
) -> None:
    """PC: check --verify-key over a compose file: the unsigned image is exit 8 with FILE:LINE."""
    signed, unsigned = _images(token_rig, signer)
    path = tmp_path / "compose.yaml"
    path.write_text(
        "services:\n"
        f"  web:\n    image: {token_rig.ref(signed.repo, 'signed')}\n"
        f"  worker:\n    image: {token_rig.ref(unsigned.repo, 'unsigned')}\n"
    )
    result = run_cli(["check", "--verify-key", key, str(path)], ALICE_ENV)
    assert result.code == 8
    rows = [line.split()[:2] for line in result.out.splitlines()]
    assert rows == [[f"{path}:3", "verified"], [f"{path}:5", "not-verified"]]
    assert f"{path}:5: " in result.err and "no-signature" in result.err
    as_json = run_cli(["check", "--verify-key", key, "-o", "json", str(path)], ALICE_ENV)
    assert [r["status"] for r in json.loads(as_json.out)["results"]] == ["verified", "not-verified"]
    assert run_cli(["check", str(path)], ALICE_ENV).code == 0  # without the option: both exist


def test_pin_verify_key_pins_only_what_verifies(
    token_rig: Rig, signer: Signer, key: str, tmp_path: Path
) -> None:
    """PC: pin --verify-key --write: a file with only signed images is pinned; one with an unsigned image is
    exit 8 and nothing is written."""
    signed, unsigned = _images(token_rig, signer)
    good = tmp_path / "good" / "compose.yaml"
    good.parent.mkdir()
    good.write_text(f"services:\n  web:\n    image: {token_rig.ref(signed.repo, 'signed')}\n")
    result = run_cli(["pin", "--verify-key", key, "--write", str(good)], ALICE_ENV)
    assert result.code == 0, result.err
    assert f"@{signed.digest}" in good.read_text()
    mixed = tmp_path / "mixed" / "compose.yaml"
    mixed.parent.mkdir()
    text = (
        f"services:\n  web:\n    image: {token_rig.ref(signed.repo, 'signed')}\n"
        f"  worker:\n    image: {token_rig.ref(unsigned.repo, 'unsigned')}\n"
    )
    mixed.write_text(text)
    refused = run_cli(["pin", "--verify-key", key, "--write", str(mixed)], ALICE_ENV)
    assert refused.code == 8
    assert mixed.read_text() == text
    assert "no-signature" in refused.err
    assert run_cli(["pin", "--check", "--verify-key", key, str(good)], ALICE_ENV).code == 2


def test_pin_verify_key_refuses_an_outdated_unsigned_pin(
    token_rig: Rig, signer: Signer, key: str, tmp_path: Path
) -> None:
    """SEC: a file pins tag 'signed' to an unsigned digest, and the tag has since moved to the signed image. Without
    --update the old pin stays in the file (and is what a deploy runs): --verify-key must verify that digest too,
    exit 8, not 0 with "outdated"."""
    signed, unsigned = _images(token_rig, signer)
    path = tmp_path / "compose.yaml"
    text = f"services:\n  web:\n    image: {token_rig.ref(signed.repo, 'signed')}@{unsigned.digest}\n"
    path.write_text(text)
    result = run_cli(["pin", "--verify-key", key, "--write", str(path)], ALICE_ENV)
    assert result.code == 8, (result.out, result.err)
    assert "no-signature" in result.err
    assert path.read_text() == text
    assert run_cli(["pin", "--verify-key", key, "--update", "--write", str(path)], ALICE_ENV).code == 0
    assert f"@{signed.digest}" in path.read_text()


def test_check_verify_key_does_not_pass_an_image_it_could_not_name(
    token_rig: Rig, signer: Signer, key: str, tmp_path: Path
) -> None:
    """SEC: check --verify-key over a compose file whose image has an unresolved ${TAG}: the image the deploy will
    run (with its own TAG) was not verified, so the gate is exit 2 as with --strict, never 0 with a warning; with
    TAG set the image is verified."""
    signed, _ = _images(token_rig, signer)
    path = tmp_path / "compose.yaml"
    path.write_text(f"services:\n  web:\n    image: {token_rig.ref(signed.repo, '${TAG}')}\n")
    result = run_cli(["check", "--verify-key", key, str(path)], ALICE_ENV)
    assert result.code == 2, (result.out, result.err)
    assert "TAG" in result.err
    assert run_cli(["check", "--verify-key", key, str(path)], {**ALICE_ENV, "TAG": "signed"}).code == 0
    assert run_cli(["check", str(path)], ALICE_ENV).code == 0  # without the option: a warning, as before


@pytest.mark.parametrize("gate", [["verify", "--key"], ["exists", "--verify-key"]])
def test_dotenv_hands_on_only_the_verified_digest(
    token_rig: Rig, signer: Signer, key: str, gate: list[str]
) -> None:
    """PC: ``-o dotenv`` of one reference writes the digest that was verified (the keys ``digest -o dotenv``
    writes), so a deploy job runs it instead of resolving the tag again; an unsigned image (8) gets the status
    alone: no digest a later job could deploy."""
    signed, unsigned = _images(token_rig, signer)
    ok = run_cli([*gate, key, "-o", "dotenv", token_rig.ref(signed.repo, "signed")], ALICE_ENV)
    assert ok.code == 0, ok.err
    assert ok.out.splitlines() == [
        "OCIREG_STATUS=verified",
        f"OCIREG_DIGEST={signed.digest}",
        f"OCIREG_REFERENCE={token_rig.host}/{signed.repo}@{signed.digest}",
    ]
    bad = run_cli([*gate, key, "-o", "dotenv", token_rig.ref(unsigned.repo, "unsigned")], ALICE_ENV)
    assert bad.code == 8
    assert bad.out.splitlines() == ["OCIREG_STATUS=not-verified"]
    assert "no-signature" in bad.err
