"""The signature modules without a registry: the payload's strict shape, the identity rules, DSSE's PAE, key files
and the missing extra (#24, docs/architecture.md §10). Catalogue: BI."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from ocireg.errors import UsageError
from ocireg.reference import parse_reference
from ocireg.signatures.identity import identity_matches
from ocireg.signatures.keys import load_key_pem
from ocireg.signatures.payload import PayloadError, parse_simple_payload
from ocireg.signatures.policy import pae

from clirunner import run_cli

DIGEST = "sha256:" + "ab" * 32
KEY = Path(__file__).resolve().parents[1] / "data" / "signatures" / "containers-image" / "cosign.pub"


def _payload(**changes: object) -> bytes:
    doc: dict[str, object] = {
        "critical": {
            "identity": {"docker-reference": "example.com/app"},
            "image": {"docker-manifest-digest": DIGEST},
            "type": "cosign container image signature",
        },
        "optional": None,
    }
    doc.update(changes)
    return json.dumps(doc).encode()


def test_payload_as_cosign_and_skopeo_write_it() -> None:
    assert str(parse_simple_payload(_payload()).manifest_digest) == DIGEST
    skopeo = _payload(optional={"creator": "containers/image 5.22.1", "timestamp": 1796675766})
    assert parse_simple_payload(skopeo).docker_reference == "example.com/app"


@pytest.mark.parametrize(
    "bad",
    [
        _payload(extra=1),  # c/image: exactly critical and optional
        _payload(optional={"timestamp": 1.5}),  # "Field optional.timestamp is not an integer"
        _payload(critical={"type": "atomic container signature", "image": {}, "identity": {}}),
        _payload(
            critical={
                "type": "cosign container image signature",
                "image": {"docker-manifest-digest": "x"},
                "identity": {"docker-reference": "a"},
            }
        ),
        b'{"critical":{},"critical":{},"optional":null}',  # duplicate keys
        b"not json",
    ],
)
def test_payload_strictness(bad: bytes) -> None:
    with pytest.raises(PayloadError):
        parse_simple_payload(bad)


@pytest.mark.parametrize(
    ("rule", "wanted", "signed", "ok"),
    [
        ("repository", "example.com/app:v1", "example.com/app", True),
        ("repository", "example.com/app:v1", "example.com/app:v2", True),
        ("repository", "example.com/app:v1", "example.com/other", False),
        ("repository", "example.com/app:v1", "not a reference", False),
        ("exact", "example.com/app:v1", "example.com/app:v1", True),
        ("exact", "example.com/app:v1", "example.com/app:v2", False),
        ("exact", "example.com/app:v1", "example.com/app", False),  # name-only: always refused
        ("exact", f"example.com/app@{DIGEST}", "example.com/app:v9", True),  # by digest: same repository
        ("exact", f"example.com/app@{DIGEST}", "example.com/app", False),
        ("exact", "example.com/app:v1", f"example.com/app@{DIGEST}", False),
        ("repository", "example.com/app:v1", None, True),  # a bundle names no identity
        ("exact", "example.com/app:v1", None, False),
        ("repository", "docker.io/library/alpine:3", "alpine", True),  # Docker Hub normalisation
    ],
)
def test_identity_rules(rule: str, wanted: str, signed: str | None, ok: bool) -> None:
    """containers/image policy_reference_match.go: matchRepository and matchRepoDigestOrExact."""
    assert identity_matches(rule, parse_reference(wanted), signed) is ok


def test_pae_matches_the_dsse_specification() -> None:
    """secure-systems-lab/dsse protocol.md, "Test vector"."""
    assert pae("http://example.com/HelloWorld", b"hello world") == (
        b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
    )


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"garbage",
        b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
        b"-----BEGIN PRIVATE KEY-----\n",
    ],
)
def test_bad_key_data_is_a_usage_error(data: bytes) -> None:
    with pytest.raises(UsageError):
        load_key_pem(data, "k.pub")


def test_without_cryptography_verify_exits_2_and_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    """#24: the single-file build has no cryptography: verify and --verify-key explain, exit 2, never pass."""
    monkeypatch.setitem(sys.modules, "cryptography", None)
    for argv in (
        ["verify", "--key", str(KEY), "example.com/app:v1"],
        ["exists", "--verify-key", str(KEY), "x/y:1"],
    ):
        result = run_cli(argv)
        assert result.code == 2
        assert "pip install 'ocireg[verify]'" in result.err
        assert "Traceback" not in result.err


def test_verify_is_in_the_command_table_and_help() -> None:
    result = run_cli(["--help"])
    assert "verify" in result.out
    assert "exit codes:" in run_cli(["verify", "--help"]).out
    assert "8    not verified" in run_cli(["verify", "--help"]).out


@pytest.mark.parametrize("command", [["exists"], ["check"], ["pin"]])
def test_a_bad_gate_key_is_named_by_its_option(command: list[str], tmp_path: Path) -> None:
    """BI: one good and one malformed --verify-key: exit 2 before any request, the message names --verify-key (the
    option given; it said --key, which the gates do not take)."""
    junk = tmp_path / "junk.pub"
    junk.write_bytes(b"junk")
    target = ["x/y:1"] if command == ["exists"] else [str(tmp_path)]
    result = run_cli([*command, "--verify-key", str(KEY), "--verify-key", str(junk), *target])
    assert result.code == 2, result.err
    assert f"--verify-key {junk}" in result.err
    assert "Traceback" not in result.err
