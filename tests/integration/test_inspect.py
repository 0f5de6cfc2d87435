"""Issue #3 acceptance: `ocireg inspect` against the real registry rig (PC, BI, SEC: output injection)."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys

import pytest

from clirunner import creds, run_cli
from rig import Rig
from rig.faultproxy import Rule, add_header, rewrite_header
from rig.proxy_fixtures import fault_proxy_factory  # noqa: F401
from rig.tokenserver import ALICE, ALICE_PASSWORD, BOB, BOB_PASSWORD

ALICE_ENV = creds(ALICE, ALICE_PASSWORD)
IMAGE_TAGS = ["oci", "docker"]
INDEX_TAGS = ["index", "list"]


def _json(text: str) -> dict[str, object]:
    doc = json.loads(text)
    assert doc["schema"] == 1
    assert doc["command"] == "inspect"
    return doc


@pytest.mark.parametrize("tag", IMAGE_TAGS)
def test_pc_inspect_image_manifest_json(token_rig: Rig, tag: str) -> None:
    """PC: inspect an OCI and a Docker v2 image manifest: digest, sizes, config, layers, platform, labels."""
    seeded = token_rig.seeded.get("group/project", tag)
    result = run_cli(["inspect", "-o", "json", token_rig.ref("group/project", tag)], ALICE_ENV)
    assert result.code == 0, result.err
    doc = _json(result.out)
    assert doc["kind"] == "manifest"
    assert doc["digest"] == seeded.digest
    assert doc["media_type"] == seeded.media_type
    assert doc["size"] == seeded.size
    config, layers = seeded.config, seeded.layers
    assert config is not None
    assert doc["config"]["digest"] == config.digest  # type: ignore[index]
    assert [layer["digest"] for layer in doc["layers"]] == [b.digest for b in layers]  # type: ignore[union-attr]
    assert [layer["size"] for layer in doc["layers"]] == [b.size for b in layers]  # type: ignore[union-attr]
    assert doc["total_size"] == config.size + sum(b.size for b in layers)
    assert doc["created"] == "2024-01-01T00:00:00Z"
    assert doc["platform"] == {"os": "linux", "architecture": "amd64"}
    assert doc["labels"] == {"org.ocireg.rig": tag}
    assert doc["annotations"] == {}
    assert "rate_limit" in doc


@pytest.mark.parametrize("tag", INDEX_TAGS)
def test_pc_inspect_index_lists_platforms(token_rig: Rig, tag: str) -> None:
    """PC: inspect an OCI index and a Docker manifest list: digest and one row per platform (text)."""
    seeded = token_rig.seeded.get("group/project", tag)
    result = run_cli(["inspect", token_rig.ref("group/project", tag)], ALICE_ENV)
    assert result.code == 0, result.err
    assert seeded.digest in result.out
    assert seeded.media_type in result.out
    rows = {
        line.split()[0]: line.split()[1] for line in result.out.splitlines() if line.startswith("  linux/")
    }
    assert rows == {
        "linux/amd64": seeded.children[0].digest,
        "linux/arm64/v8": seeded.children[1].digest,
    }
    doc = _json(run_cli(["inspect", "-o", "json", token_rig.ref("group/project", tag)], ALICE_ENV).out)
    assert doc["kind"] == "index"
    assert [(m["digest"], m["size"]) for m in doc["manifests"]] == [  # type: ignore[union-attr]
        (c.digest, c.size) for c in seeded.children
    ]


@pytest.mark.parametrize("tag", INDEX_TAGS)
def test_pc_inspect_index_with_platform_inspects_the_child(token_rig: Rig, tag: str) -> None:
    """PC: --platform linux/arm64 selects the arm64 child and inspects it, naming the index."""
    seeded = token_rig.seeded.get("group/project", tag)
    arm = seeded.children[1]
    result = run_cli(
        ["inspect", "-o", "json", "--platform", "linux/arm64", token_rig.ref("group/project", tag)], ALICE_ENV
    )
    assert result.code == 0, result.err
    doc = _json(result.out)
    assert doc["digest"] == arm.digest
    assert doc["index"]["digest"] == seeded.digest  # type: ignore[index]
    assert doc["platform"] == {"os": "linux", "architecture": "arm64", "variant": "v8"}
    text = run_cli(["inspect", "--platform", "linux/arm64", token_rig.ref("group/project", tag)], ALICE_ENV)
    assert text.code == 0
    assert "linux/arm64/v8" in text.out
    assert arm.digest in text.out


def test_pc_inspect_platform_not_in_index_exit_1(token_rig: Rig) -> None:
    """PC: a platform the index does not have is 'absent' (exit 1) and the message lists what it has."""
    result = run_cli(
        ["inspect", "--platform", "linux/s390x", token_rig.ref("group/project", "index")], ALICE_ENV
    )
    assert result.code == 1
    assert "linux/amd64" in result.err
    assert "Traceback" not in result.err


@pytest.mark.parametrize("tag", ["oci", "index", "docker", "list"])
def test_pc_inspect_raw_bytes_hash_to_digest(token_rig: Rig, tag: str) -> None:
    """PC: --raw prints exactly the manifest bytes: they hash to the digest (and equal what was pushed)."""
    seeded = token_rig.seeded.get("group/project", tag)
    result = run_cli(["inspect", "--raw", token_rig.ref("group/project", tag)], ALICE_ENV)
    assert result.code == 0, result.err
    raw = result.out.encode("utf-8")
    assert "sha256:" + hashlib.sha256(raw).hexdigest() == seeded.digest
    assert raw == seeded.body


def test_pc_inspect_raw_binary_stdout_subprocess(token_rig: Rig) -> None:
    """PC: through a real (binary) stdout the bytes are unchanged too: no newline added, no re-encoding."""
    seeded = token_rig.seeded.docker_list
    env = {"PATH": "/usr/bin:/bin", "HOME": "/nonexistent", **ALICE_ENV, "OCIREG_TOKEN_CACHE": "0"}
    proc = subprocess.run(
        [sys.executable, "-m", "ocireg", "inspect", "--raw", token_rig.ref("group/project", "list")],
        env=env,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == seeded.body


def test_pc_inspect_config_prints_verified_config(token_rig: Rig) -> None:
    """PC: --config prints the config blob exactly (fetched by digest, verified), for an index child too."""
    seeded = token_rig.seeded.oci
    result = run_cli(["inspect", "--config", token_rig.ref("group/project", "oci")], ALICE_ENV)
    assert result.code == 0, result.err
    assert seeded.config is not None
    assert result.out.encode() == seeded.config.data
    child = token_rig.seeded.index.children[1]
    result = run_cli(
        ["inspect", "--config", "--platform", "linux/arm64", token_rig.ref("group/project", "index")],
        ALICE_ENV,
    )
    assert result.code == 0, result.err
    assert child.config is not None
    assert result.out.encode() == child.config.data
    # An index has no config of its own: a usage error that names the platforms.
    result = run_cli(["inspect", "--config", token_rig.ref("group/project", "index")], ALICE_ENV)
    assert result.code == 2
    assert "linux/arm64" in result.err


def test_pc_inspect_by_digest_and_single_platform_check(token_rig: Rig) -> None:
    """PC: inspect REF@digest; --platform on a single-platform image checks the image's platform."""
    seeded = token_rig.seeded.oci
    ref = token_rig.ref("group/project", "@" + seeded.digest)
    assert run_cli(["inspect", "--platform", "linux/amd64", ref], ALICE_ENV).code == 0
    wrong = run_cli(["inspect", "--platform", "linux/arm64", ref], ALICE_ENV)
    assert wrong.code == 1
    assert "linux/amd64" in wrong.err


def test_pc_inspect_text_fields(token_rig: Rig) -> None:
    """PC: the text view shows digest, media type, sizes, config, platform, created, layers and labels."""
    seeded = token_rig.seeded.docker
    result = run_cli(["inspect", token_rig.ref("group/project", "docker")], ALICE_ENV)
    assert result.code == 0, result.err
    fields = {line.split()[0] for line in result.out.splitlines() if line and not line.startswith(" ")}
    assert {
        "reference",
        "digest",
        "media",
        "size",
        "config",
        "platform",
        "created",
        "layers",
        "labels",
    } <= fields
    assert seeded.digest in result.out
    assert "linux/amd64" in result.out
    assert "org.ocireg.rig=docker" in result.out


def test_pc_inspect_denied_and_absent(token_rig: Rig) -> None:
    """PC: an outsider gets exit 4 with the GitLab hint, a missing tag exit 1; never a traceback."""
    denied = run_cli(["inspect", token_rig.ref("group/project", "oci")], creds(BOB, BOB_PASSWORD))
    assert denied.code == 4
    assert "hint:" in denied.err
    absent = run_cli(["inspect", token_rig.ref("group/project", "no-such-tag")], ALICE_ENV)
    assert absent.code == 1
    assert "Traceback" not in denied.err + absent.err


def test_bi_inspect_rate_limit_and_warning_headers(token_rig: Rig, fault_proxy_factory) -> None:  # noqa: F811
    """BI: RateLimit-* (Docker Hub style) appear in -o json; a Warning 299 is shown once, escaped, on stderr."""
    proxy = fault_proxy_factory(token_rig.url)
    proxy.set_rules(
        [
            Rule(
                "*",
                r"/manifests/",
                [
                    rewrite_header("RateLimit-Limit", "100;w=21600"),
                    rewrite_header("RateLimit-Remaining", "76;w=21600"),
                    add_header("Warning", '299 - "schema 1 is deprecated \u009b31m (see docs)"'),
                ],
            )
        ]
    )
    ref = f"{proxy.netloc}/group/project:oci"
    result = run_cli(["inspect", "-o", "json", ref], ALICE_ENV)
    assert result.code == 0, result.err
    doc = _json(result.out)
    assert doc["rate_limit"] == {"limit": 100, "remaining": 76, "window_seconds": 21600}
    warnings = [line for line in result.err.splitlines() if "deprecated" in line]
    assert len(warnings) == 1, result.err
    assert "\\x9b31m" in warnings[0]
    assert "\u009b" not in result.err
    debug = run_cli(["inspect", "--debug", ref], ALICE_ENV)
    assert "rate limit: 76 of 100 requests left per 21600s" in debug.err
