"""Issue #2 acceptance: `ocireg exists` / `ocireg digest` against the real registry rig (PC, SEC, FT)."""

from __future__ import annotations

import base64
import json
import socket
from pathlib import Path

import pytest

from clirunner import creds, run_cli
from rig import Rig
from rig.tokenserver import (
    ALICE,
    ALICE_PASSWORD,
    ALICE_PAT,
    BOB,
    BOB_PASSWORD,
    DEPLOY_TOKEN,
    DEPLOY_USER,
    JOB_TOKEN,
    JOB_USER,
)

FOUR_TYPES = ["oci", "index", "docker", "list"]
ALICE_ENV = creds(ALICE, ALICE_PASSWORD)


def _token_requests(rig: Rig) -> int:
    assert rig.token_server is not None
    return len(rig.token_server.requests)


@pytest.mark.parametrize("tag", FOUR_TYPES)
def test_exists_four_manifest_types_tls_realm_on_other_host(tls_rig: Rig, tag: str) -> None:
    """PC: exists for all four manifest types; TLS registry, TLS realm on 127.0.0.2; digest = sha256(GET body)."""
    assert tls_rig.ca_file is not None
    ref = tls_rig.ref("group/project", tag)
    result = run_cli(["exists", "--ca-file", tls_rig.ca_file, ref], ALICE_ENV)
    assert result.code == 0, result.err
    expected = tls_rig.seeded.digest("group/project", tag)
    assert result.out.split() == ["present", ref, expected]
    digest = run_cli(["digest", "--ca-file", tls_rig.ca_file, ref], ALICE_ENV)
    assert digest.code == 0
    assert digest.out.strip() == expected


@pytest.mark.parametrize("tag", FOUR_TYPES)
def test_digest_equals_sha256_of_get_body_plain(token_rig: Rig, tag: str) -> None:
    """PC: digest = sha256(GET body), stable across calls."""
    import hashlib

    with token_rig.raw_client() as raw:
        body = raw.get(
            f"/v2/group/project/manifests/{tag}",
            headers={
                "Authorization": token_rig.bearer("group/project"),
                "Accept": ", ".join(
                    [
                        "application/vnd.oci.image.index.v1+json",
                        "application/vnd.oci.image.manifest.v1+json",
                        "application/vnd.docker.distribution.manifest.list.v2+json",
                        "application/vnd.docker.distribution.manifest.v2+json",
                    ]
                ),
            },
        ).content
    expected = "sha256:" + hashlib.sha256(body).hexdigest()
    first = run_cli(["digest", token_rig.ref("group/project", tag)], ALICE_ENV)
    second = run_cli(["digest", "--no-token-cache", token_rig.ref("group/project", tag)], ALICE_ENV)
    assert first.out.strip() == second.out.strip() == expected


def test_missing_tag_is_absent(token_rig: Rig) -> None:
    """PC: a missing tag in an existing repository is exit 1 (the registry said MANIFEST_UNKNOWN)."""
    result = run_cli(["exists", token_rig.ref("group/project", "no-such-tag")], ALICE_ENV)
    assert result.code == 1
    assert result.out.startswith("absent")


def test_wrong_password_exit_3_one_token_request(token_rig: Rig) -> None:
    """PC/SEC: wrong password → exit 3 and exactly one token request (never retry a 401 from the realm)."""
    result = run_cli(
        ["exists", "--no-token-cache", token_rig.ref("group/project", "oci")], creds(ALICE, "wrong")
    )
    assert result.code == 3, result.err
    assert _token_requests(token_rig) == 1
    assert "rejected the credentials" in result.err
    assert "OCIREG_USERNAME" in result.err or "user 'alice'" in result.err


def test_user_without_access_is_denied(token_rig: Rig) -> None:
    """PC: a valid user without access → exit 4, never absent; one token request (insufficient_scope once)."""
    result = run_cli(
        ["exists", "--no-token-cache", token_rig.ref("group/project", "oci")], creds(BOB, BOB_PASSWORD)
    )
    assert result.code == 4, result.err
    assert _token_requests(token_rig) == 1
    assert "granted no access" in result.err


def test_nonexistent_project_is_denied_with_hint(token_rig: Rig) -> None:
    """PC: GitLab-like empty-access token for a project that does not exist → exit 4 with a hint, never 1."""
    result = run_cli(["exists", token_rig.ref("no/such-project", "v1")], ALICE_ENV)
    assert result.code == 4
    assert "misspelt or does not exist" in result.err
    assert "ocireg auth explain" in result.err


def test_anonymous_public_and_private(token_rig: Rig) -> None:
    """PC: anonymous flow — public project readable (0), private denied (4) with a credential hint."""
    public = run_cli(["exists", token_rig.ref("public/app", "latest")])
    assert public.code == 0, public.err
    private = run_cli(["exists", token_rig.ref("group/project", "oci")])
    assert private.code == 4
    assert "no credentials were found" in private.err


@pytest.mark.parametrize(
    ("user", "secret"),
    [(JOB_USER, JOB_TOKEN), (DEPLOY_USER, DEPLOY_TOKEN), (ALICE, ALICE_PAT)],
    ids=["job-token", "deploy-token", "personal-access-token"],
)
def test_gitlab_token_kinds(token_rig: Rig, user: str, secret: str) -> None:
    """PC: job token, deploy token and personal access token all pass."""
    result = run_cli(["exists", token_rig.ref("group/project", "oci")], creds(user, secret))
    assert result.code == 0, result.err


def test_docker_auth_config(token_rig: Rig) -> None:
    """docs/architecture.md §3 item 3: DOCKER_AUTH_CONFIG as GitLab runners set it."""
    auth = base64.b64encode(f"{ALICE}:{ALICE_PASSWORD}".encode()).decode()
    env = {"DOCKER_AUTH_CONFIG": json.dumps({"auths": {token_rig.host: {"auth": auth}}})}
    result = run_cli(["exists", token_rig.ref("group/project", "oci")], env)
    assert result.code == 0, result.err


def test_config_json_via_credential_helper(token_rig: Rig, isolated_env: Path, tmp_path: Path) -> None:
    """docs/architecture.md §3 item 4: ~/.docker/config.json credHelpers → docker-credential-<name> get."""
    helpers = Path(__file__).resolve().parents[1] / "helpers"
    store = tmp_path / "helper-store.json"
    store.write_text(json.dumps({token_rig.host: {"Username": ALICE, "Secret": ALICE_PASSWORD}}))
    config = isolated_env / ".docker" / "config.json"
    config.write_text(json.dumps({"credHelpers": {token_rig.host: "ocireg-test"}}))
    import os

    env = {
        "PATH": f"{helpers}{os.pathsep}{os.environ.get('PATH', '')}",
        "OCIREG_TEST_HELPER_STORE": str(store),
    }
    result = run_cli(["exists", token_rig.ref("group/project", "oci")], env)
    assert result.code == 0, result.err


def test_missing_helper_is_exit_3_and_sends_nothing(token_rig: Rig, isolated_env: Path) -> None:
    """BI/SEC: a missing credential helper is exit 3 naming the helper; nothing reaches the token service."""
    config = isolated_env / ".docker" / "config.json"
    config.write_text(json.dumps({"credHelpers": {token_rig.host: "does-not-exist"}}))
    result = run_cli(["exists", token_rig.ref("group/project", "oci")], {"PATH": "/nonexistent"})
    assert result.code == 3
    assert "docker-credential-does-not-exist" in result.err
    assert _token_requests(token_rig) == 0


def test_registry_port_closed_is_network_error() -> None:
    """FT: registry down → exit 5 with a hint, never absent."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = run_cli(["exists", "--timeout", "10", f"127.0.0.1:{port}/group/project:oci"])
    assert result.code == 5
    assert "hint:" in result.err


def test_untrusted_tls_is_network_error_with_ca_hint(tls_rig: Rig) -> None:
    """SEC: TLS verification is on by default; an untrusted certificate is exit 5 with a --ca-file hint."""
    result = run_cli(["exists", tls_rig.ref("group/project", "oci")], ALICE_ENV)
    assert result.code == 5
    assert "--ca-file" in result.err


def test_insecure_skip_verify_per_host_warns(tls_rig: Rig) -> None:
    """SEC: per-host skip-verify works for that host only and warns."""
    result = run_cli(
        [
            "exists",
            "--insecure-skip-tls-verify",
            tls_rig.host,
            "--insecure-skip-tls-verify",
            "127.0.0.2",
            tls_rig.ref("group/project", "oci"),
        ],
        ALICE_ENV,
    )
    assert result.code == 0, result.err
    assert "TLS verification is OFF" in result.err


def test_malformed_reference_makes_no_request(token_rig: Rig) -> None:
    """BI: malformed reference → exit 2, no network I/O (token server and registry see nothing)."""
    result = run_cli(
        ["exists", token_rig.ref("group/project", "oci"), f"{token_rig.host}/Group/App:v1"], ALICE_ENV
    )
    assert result.code == 2
    assert "lowercase" in result.err
    assert _token_requests(token_rig) == 0


def test_debug_never_shows_secrets(token_rig: Rig, isolated_env: Path) -> None:
    """SEC: redaction with canary secrets under --debug — password, its base64 and the token never appear."""
    canary = "canary-Secret-7f3a"
    bad = run_cli(["exists", "--debug", token_rig.ref("group/project", "oci")], creds(ALICE, canary))
    assert bad.code == 3
    for secret in (canary, base64.b64encode(f"{ALICE}:{canary}".encode()).decode()):
        assert secret not in bad.both
    good = run_cli(["exists", "--debug", token_rig.ref("group/project", "oci")], ALICE_ENV)
    assert good.code == 0
    assert "debug: > HEAD" in good.err
    cache = json.loads((isolated_env / ".cache" / "ocireg" / "tokens.json").read_text())
    tokens = [entry[0] for entry in cache["tokens"].values()]
    assert tokens
    for secret in (ALICE_PASSWORD, base64.b64encode(f"{ALICE}:{ALICE_PASSWORD}".encode()).decode(), *tokens):
        assert secret not in good.both
    assert "alice-password" not in json.dumps(cache)  # the cache holds tokens, never passwords


def test_gitlab_ci_zero_configuration(tls_rig: Rig) -> None:
    """The seed's job: inside GitLab CI, `ocireg exists :TAG` with only the runner's variables (and its CA)."""
    assert tls_rig.ca_file is not None
    env = {
        "GITLAB_CI": "true",
        "CI": "true",
        "CI_REGISTRY": tls_rig.host,
        "CI_REGISTRY_IMAGE": f"{tls_rig.host}/group/project",
        "CI_REGISTRY_USER": JOB_USER,
        "CI_REGISTRY_PASSWORD": JOB_TOKEN,
        "CI_JOB_TOKEN": JOB_TOKEN,
        "CI_SERVER_HOST": "127.0.0.2",
        "CI_SERVER_PORT": str(tls_rig.token_server.port) if tls_rig.token_server else "",
        "CI_SERVER_TLS_CA_FILE": tls_rig.ca_file,
    }
    present = run_cli(["exists", ":v1.2.3"], env)
    assert present.code == 0, present.err
    assert tls_rig.seeded.digest("group/project", "v1.2.3") in present.out
    absent = run_cli(["exists", ":v9.9.9"], env)
    assert absent.code == 1
    pinned = run_cli(["exists", "@" + tls_rig.seeded.digest("group/project", "oci")], env)
    assert pinned.code == 0, pinned.err
    # A project the job cannot see (the seed's denied case): exit 4, and a hint read at a glance: the error line
    # names the credential and its source, the hint lines do not repeat them, so none is cut (#22 item 7).
    denied = run_cli(["exists", f"{tls_rig.host}/other/project:v1"], env)
    assert denied.code == 4, denied.err
    hints = denied.err.rstrip("\n").splitlines()[1:]
    assert 1 <= len(hints) <= 3 and "…" not in "".join(hints), denied.err


def test_gitlab_ci_credentials_never_go_to_other_registries(token_rig: Rig) -> None:
    """SEC: CI credentials are for CI_REGISTRY only — another registry gets anonymous access."""
    env = {
        "GITLAB_CI": "true",
        "CI_REGISTRY": "registry.example.invalid",
        "CI_REGISTRY_IMAGE": "registry.example.invalid/group/project",
        "CI_REGISTRY_USER": ALICE,
        "CI_REGISTRY_PASSWORD": ALICE_PASSWORD,
    }
    result = run_cli(["exists", token_rig.ref("group/project", "oci")], env)
    assert result.code == 4
    assert all(not r.authorization for r in token_rig.token_server.requests)  # type: ignore[union-attr]


def test_basic_auth_registry(basic_rig: Rig) -> None:
    """PC: Basic-only registry — credentials to the registry host; rejected ones are exit 3, none at all exit 4
    (nothing was sent and the registry refused: access denied on every registry, #22 item 5)."""
    assert basic_rig.basic_auth is not None
    user, password = basic_rig.basic_auth
    ok = run_cli(["exists", basic_rig.ref("group/project", "oci")], creds(user, password))
    assert ok.code == 0, ok.err
    wrong = run_cli(["exists", basic_rig.ref("group/project", "oci")], creds(user, "nope"))
    assert wrong.code == 3
    assert "rejected the credentials" in wrong.err
    anonymous = run_cli(["exists", basic_rig.ref("group/project", "oci")])
    assert anonymous.code == 4
    assert "no credentials were found" in anonymous.err


def test_open_registry_and_nested_names(open_rig: Rig, token_rig: Rig) -> None:
    """PC: anonymous registry; GitLab nested names (group/sub/project/image)."""
    assert run_cli(["exists", open_rig.ref("group/project", "oci")]).code == 0
    nested = run_cli(["exists", token_rig.ref("group/sub/project/image", "latest")], ALICE_ENV)
    assert nested.code == 0, nested.err


@pytest.mark.parametrize("tag", ["index", "list"])
def test_digest_platform_selects_child(token_rig: Rig, tag: str) -> None:
    """PC: --platform picks the child's digest from an OCI index and a Docker manifest list."""
    seeded = token_rig.seeded.get("group/project", tag)
    arm = next(c for c in seeded.children if c.platform and c.platform[1] == "arm64")
    result = run_cli(["digest", "--platform", "linux/arm64", token_rig.ref("group/project", tag)], ALICE_ENV)
    assert result.code == 0, result.err
    assert result.out.strip() == arm.digest
    missing = run_cli(["digest", "--platform", "linux/s390x", token_rig.ref("group/project", tag)], ALICE_ENV)
    assert missing.code == 1
    assert "available" in missing.err


def test_json_output_envelope_and_batch_order(token_rig: Rig) -> None:
    """Output: versioned JSON envelope, a result per reference in input order, most serious exit code."""
    refs = [
        token_rig.ref("group/project", "oci"),
        token_rig.ref("group/project", "nope"),
        token_rig.ref("no/such", "x"),
    ]
    result = run_cli(["exists", "-o", "json", *refs], ALICE_ENV)
    doc = json.loads(result.out)
    assert doc["schema"] == 1
    assert [r["status"] for r in doc["results"]] == ["present", "absent", "error"]
    assert [r["input"] for r in doc["results"]] == refs
    assert doc["results"][2]["error"]["exit_code"] == 4
    assert result.code == doc["exit_code"] == 4


def test_dotenv_output(token_rig: Rig) -> None:
    """Output: dotenv for GitLab's artifacts:reports:dotenv."""
    ref = token_rig.ref("group/project", "v1.2.3")
    result = run_cli(["digest", "-o", "dotenv", ref], ALICE_ENV)
    digest = token_rig.seeded.digest("group/project", "v1.2.3")
    assert result.code == 0
    assert f"OCIREG_DIGEST={digest}" in result.out.splitlines()
    assert f"OCIREG_REFERENCE={token_rig.host}/group/project@{digest}" in result.out.splitlines()


def test_quiet_prints_nothing(token_rig: Rig) -> None:
    result = run_cli(["exists", "-q", token_rig.ref("group/project", "oci")], ALICE_ENV)
    assert result.code == 0
    assert result.out == ""


def test_password_stdin(token_rig: Rig) -> None:
    """docs/architecture.md §3 item 1: --username + --password-stdin (never a password in argv)."""
    result = run_cli(
        ["exists", "--username", ALICE, "--password-stdin", token_rig.ref("group/project", "oci")],
        stdin=ALICE_PASSWORD + "\n",
    )
    assert result.code == 0, result.err


def test_explicit_credentials_beat_docker_config(token_rig: Rig, isolated_env: Path) -> None:
    """docs/architecture.md §3: explicit credentials win over config.json."""
    auth = base64.b64encode(f"{BOB}:{BOB_PASSWORD}".encode()).decode()
    (isolated_env / ".docker" / "config.json").write_text(
        json.dumps({"auths": {token_rig.host: {"auth": auth}}})
    )
    assert run_cli(["exists", token_rig.ref("group/project", "oci")]).code == 4  # bob from config.json
    assert run_cli(["exists", token_rig.ref("group/project", "oci")], ALICE_ENV).code == 0


def test_jsonl_streams_one_line_per_reference_in_order(token_rig: Rig) -> None:
    """Output: -o jsonl for batches — one JSON document per line, in input order."""
    refs = [token_rig.ref("group/project", t) for t in ("oci", "nope", "index", "docker")]
    result = run_cli(["exists", "-o", "jsonl", "--jobs", "4", *refs], ALICE_ENV)
    lines = [json.loads(line) for line in result.out.splitlines()]
    assert [d["input"] for d in lines] == refs
    assert [d["status"] for d in lines] == ["present", "absent", "present", "present"]
    assert all(d["schema"] == 1 for d in lines)
    assert result.code == 1


def test_from_file_with_comments(token_rig: Rig, tmp_path: Path) -> None:
    """Batch: --from-file (one per line, # comments) and stdin."""
    listing = tmp_path / "refs.txt"
    listing.write_text(
        f"# images\n{token_rig.ref('group/project', 'oci')}  # current\n\n"
        f"{token_rig.ref('group/project', 'stable')}\n"
    )
    result = run_cli(["exists", "--from-file", str(listing)], ALICE_ENV)
    assert result.code == 0, result.err
    assert len(result.out.splitlines()) == 2
    piped = run_cli(["exists", "--from-file", "-"], ALICE_ENV, stdin=listing.read_text())
    assert piped.code == 0
