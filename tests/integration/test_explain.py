"""Issue #3 acceptance: `ocireg auth explain` against the real registry rig (PC, SEC, BI)."""

from __future__ import annotations

import json

import pytest

from clirunner import Result, creds, run_cli
from rig import BASIC_PASSWORD, BASIC_USER, Rig
from rig.faultproxy import FaultProxy, Rule, rewrite_realm
from rig.proxy_fixtures import fault_proxy_factory  # noqa: F401
from rig.tokenserver import (
    ALICE,
    ALICE_PASSWORD,
    BOB,
    BOB_PASSWORD,
    DAVE,
    DAVE_PASSWORD,
    DEPLOY_TOKEN,
    DEPLOY_USER,
    JOB_TOKEN,
    JOB_USER,
)

SECRETS = (ALICE_PASSWORD, BOB_PASSWORD, JOB_TOKEN, DEPLOY_TOKEN, BASIC_PASSWORD, "wrong-password-canary")


def job_env(rig: Rig) -> dict[str, str]:
    """A GitLab CI job of group/project on this registry: the job token is the credential."""
    return {
        "GITLAB_CI": "true",
        "CI_REGISTRY": rig.host,
        "CI_REGISTRY_IMAGE": f"{rig.host}/group/project",
        "CI_JOB_TOKEN": JOB_TOKEN,
    }


def explain(argv: list[str], env: dict[str, str] | None = None) -> tuple[Result, dict[str, object]]:
    text = run_cli(["auth", "explain", *argv], env)
    as_json = run_cli(["auth", "explain", "-o", "json", *argv], env)
    assert text.code == as_json.code
    for output in (text.both, as_json.both):
        assert "Traceback" not in output
        for secret in SECRETS:
            assert secret not in output  # SEC: never a secret, whatever the outcome
        assert "eyJ" not in output  # no JWT (header base64 starts so) is ever echoed
    doc = json.loads(as_json.out)
    assert (doc["schema"], doc["command"], doc["exit_code"]) == (1, "auth explain", as_json.code)
    return text, doc


def test_pc_explain_job_token_own_project_pull_granted(token_rig: Rig) -> None:
    """PC: CI_JOB_TOKEN on its own project: source, challenge, realm ok, pull granted (unverified claims), exit 0."""
    text, doc = explain([":oci"], job_env(token_rig))
    assert text.code == 0, text.err
    assert "GitLab CI (CI_JOB_TOKEN)" in text.out
    assert "WITHOUT signature verification" in text.out
    assert "repository:group/project:pull" in text.out
    assert token_rig.realm is not None
    assert token_rig.realm in text.out
    assert "realm check    ok" in text.out
    credentials = doc["credentials"]
    assert isinstance(credentials, dict)
    assert credentials["username"] == JOB_USER
    assert credentials["anonymous"] is False
    challenge = doc["challenge"]
    assert isinstance(challenge, dict)
    assert challenge["realm"] == token_rig.realm
    assert challenge["service"] == "container_registry"
    assert challenge["scope"] == "repository:group/project:pull"
    token = doc["token"]
    assert isinstance(token, dict)
    assert token["granted"] == [{"type": "repository", "name": "group/project", "actions": ["pull"]}]
    # GitLab's token names the job's user (current_user.username), not "gitlab-ci-token" (#12).
    assert token["claims_unverified"]["sub"] == ALICE  # type: ignore[index]
    assert isinstance(token["claims_unverified"]["exp"], int)  # type: ignore[index]
    assert doc["missing"] == []
    assert doc["digest"] == token_rig.seeded.digest("group/project", "oci")
    assert doc["profile"] == "gitlab"  # #22: recognised by the challenge (container_registry, /jwt/auth)


def test_pc_explain_push_and_delete_actions(token_rig: Rig) -> None:
    """PC: the job token may push to and delete in its own project (GitLab's build_destroy_container_image,
    #12); a Developer may push but not delete (exit 4, 'delete' missing, the Maintainer hint)."""
    push, doc = explain(["--push", ":oci"], job_env(token_rig))
    assert push.code == 0, push.err
    assert doc["wanted"] == ["repository:group/project:pull,push"]
    job_delete, doc = explain(["--delete", ":oci"], job_env(token_rig))
    assert job_delete.code == 0, job_delete.err
    delete, doc = explain(["--delete", token_rig.ref("group/project", "oci")], creds(DAVE, DAVE_PASSWORD))
    assert delete.code == 4
    assert doc["missing"] == ["delete"]
    assert "Maintainer" in delete.out
    maintainer, _ = explain(
        ["--push", "--delete", token_rig.ref("group/project", "oci")], creds(ALICE, ALICE_PASSWORD)
    )
    assert maintainer.code == 0, maintainer.err


def test_pc_explain_outsider_empty_access_hint(token_rig: Rig) -> None:
    """PC: bob gets a token with an empty access list: exit 4 and the GitLab hint (typo, role, allowlist)."""
    text, doc = explain([token_rig.ref("group/project", "oci")], creds(BOB, BOB_PASSWORD))
    assert text.code == 4
    token = doc["token"]
    assert isinstance(token, dict)
    assert token["granted"] == []
    assert "nothing granted" in text.out
    hints = " ".join(doc["hints"])  # type: ignore[arg-type]
    for fragment in ("misspelt", "role", "job token allowlist"):
        assert fragment in hints
    assert "misspelt" in text.out


def test_pc_explain_path_typo_is_denied_not_absent(token_rig: Rig) -> None:
    """PC: a misspelt project path is 'denied' with the hint (GitLab cannot tell), never 'absent'."""
    text, _ = explain([token_rig.ref("group/projetc", "oci")], creds(ALICE, ALICE_PASSWORD))
    assert text.code == 4
    assert "misspelt" in text.out


def test_pc_explain_wrong_password_exit_3(token_rig: Rig) -> None:
    """PC: a rejected password stops at the token request: exit 3, the outcome says so, nothing granted."""
    text, doc = explain([token_rig.ref("group/project", "oci")], creds(ALICE, "wrong-password-canary"))
    assert text.code == 3
    assert doc["token"] is None
    assert "rejected" in str(doc["token_outcome"])
    error = doc["error"]
    assert isinstance(error, dict)
    assert error["type"] == "AuthenticationFailed"
    assert token_rig.token_server is not None
    assert (
        len([r for r in token_rig.token_server.requests if r.username == ALICE]) == 2
    )  # text + json, no retry


def test_pc_explain_anonymous_public_and_private(token_rig: Rig) -> None:
    """PC: anonymous pull of a public project is granted; of a private one denied with a credentials hint."""
    public, doc = explain([token_rig.ref("public/app", "latest")])
    assert public.code == 0, public.err
    assert doc["credentials"]["anonymous"] is True  # type: ignore[index]
    private, doc = explain([token_rig.ref("group/project", "oci")])
    assert private.code == 4
    assert "no credentials were found" in " ".join(doc["hints"])  # type: ignore[arg-type]


def test_pc_explain_absent_manifest_exit_1_and_deploy_token(token_rig: Rig) -> None:
    """PC: access granted but the tag does not exist: exit 1 like `exists`; deploy tokens pull their project."""
    text, doc = explain([token_rig.ref("group/project", "no-such-tag")], creds(DEPLOY_USER, DEPLOY_TOKEN))
    assert text.code == 1
    assert "authorized, but the manifest does not exist" in text.out
    assert doc["missing"] == []


def test_pc_explain_basic_and_open_registries(basic_rig: Rig, open_rig: Rig) -> None:
    """PC: a Basic-auth registry (no token; right and wrong password) and an open registry (no challenge)."""
    ok, doc = explain([basic_rig.ref("group/project", "oci")], creds(BASIC_USER, BASIC_PASSWORD))
    assert ok.code == 0, ok.err
    assert doc["challenge"]["scheme"] == "basic"  # type: ignore[index]
    wrong, _ = explain([basic_rig.ref("group/project", "oci")], creds(BASIC_USER, "wrong-password-canary"))
    assert wrong.code == 3
    opened, doc = explain([open_rig.ref("group/project", "oci")])
    assert opened.code == 0, opened.err
    assert doc["challenge"]["scheme"] == "none"  # type: ignore[index]


def test_pc_explain_tls_registry_and_realm(tls_rig: Rig) -> None:
    """PC: TLS registry with a TLS realm on another loopback host."""
    assert tls_rig.ca_file is not None
    text, doc = explain(
        ["--ca-file", tls_rig.ca_file, tls_rig.ref("group/project", "index")], creds(ALICE, ALICE_PASSWORD)
    )
    assert text.code == 0, text.err
    assert str(doc["base_url"]).startswith("https://")
    assert str(doc["challenge"]["realm"]).startswith("https://127.0.0.2:")  # type: ignore[index]


@pytest.mark.parametrize(
    "realm",
    ["http://user:pass@127.0.0.2:1/jwt/auth", "file:///etc/passwd", "http://127.0.0.2:1/jwt/auth\tx"],
)
def test_sec_explain_rejected_realm_gets_nothing(
    token_rig: Rig,
    fault_proxy_factory: object,  # noqa: F811
    realm: str,
) -> None:
    """SEC: a realm failing the policy is reported and nothing is sent to it (exit 6)."""
    proxy: FaultProxy = fault_proxy_factory(token_rig.url)  # type: ignore[operator]
    proxy.set_rules([Rule("*", r"/manifests/", rewrite_realm(realm))])
    assert token_rig.token_server is not None
    before = len(token_rig.token_server.requests)
    text, doc = explain([f"{proxy.netloc}/group/project:oci"], creds(ALICE, ALICE_PASSWORD))
    assert text.code == 6
    error = doc["error"]
    assert isinstance(error, dict)
    assert error["type"] == "RealmRejected"
    assert doc["token"] is None
    assert len(token_rig.token_server.requests) == before


def test_bi_explain_broken_credential_source_exit_3(token_rig: Rig) -> None:
    """BI: a malformed DOCKER_AUTH_CONFIG is shown as the failing source, exit 3, no request made."""
    text, doc = explain([token_rig.ref("group/project", "oci")], {"DOCKER_AUTH_CONFIG": "{not json"})
    assert text.code == 3
    sources = doc["credentials"]["sources"]  # type: ignore[index]
    assert sources[-1]["source"] == "DOCKER_AUTH_CONFIG"
    assert sources[-1]["outcome"].startswith("error:")
    assert doc["challenge"] is None


def test_bi_explain_usage_errors() -> None:
    """BI: a bad reference, or 'auth' without a subcommand: exit 2."""
    assert run_cli(["auth", "explain", "Bad//Ref"]).code == 2
    assert run_cli(["auth"]).code == 2
    assert run_cli(["auth", "frobnicate"]).code == 2


def test_sec_explain_debug_log_redacted(token_rig: Rig) -> None:
    """SEC (redaction): with --debug every request is logged, but no password, job token or JWT."""
    result = run_cli(["auth", "explain", "--debug", "--push", ":oci"], job_env(token_rig))
    assert result.code == 0, result.err
    assert "> HEAD" in result.err
    assert "authorization: Bearer ***" in result.err
    assert JOB_TOKEN not in result.both
    assert "eyJ" not in result.both


def test_ft_explain_registry_down_exit_5() -> None:
    """FT (registry down): nothing listens on the port: exit 5, the report stops at the challenge step."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    text, doc = explain([f"127.0.0.1:{port}/group/project:oci"], creds(ALICE, ALICE_PASSWORD))
    assert text.code == 5
    assert doc["challenge"] is None
    assert "connection refused" in text.err
