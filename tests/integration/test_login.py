"""Issue #5 acceptance: `ocireg login` / `logout` verify, then store where Docker does (SEC: redaction, files)."""

from __future__ import annotations

import base64
import json
import os
import stat
import sys
from pathlib import Path

import pytest

from clirunner import run_cli
from rig import BASIC_PASSWORD, BASIC_USER, Rig
from rig.tokenserver import ALICE, ALICE_PAT, BOB, BOB_PASSWORD

HELPERS = Path(__file__).resolve().parents[1] / "helpers"
# ALICE_PAT is a canary: a GitLab-style token that must never show up in any output, log or argv.
SECRET = ALICE_PAT
SECRET_B64 = base64.b64encode(f"{ALICE}:{SECRET}".encode()).decode()


@pytest.fixture
def docker_config(isolated_env: Path) -> Path:
    return Path(os.environ["DOCKER_CONFIG"]) / "config.json"


@pytest.fixture
def helper_env(tmp_path: Path) -> dict[str, str]:
    """PATH with the test helper plus an argv-recording wrapper (``docker-credential-spy``)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    spy = bin_dir / "docker-credential-spy"
    spy.write_text(
        f"#!{sys.executable}\n"
        "import json, os, subprocess, sys\n"
        "with open(os.environ['SPY_ARGV_LOG'], 'a') as log:\n"
        "    log.write(json.dumps(sys.argv[1:]) + '\\n')\n"
        f"sys.exit(subprocess.run([{str(HELPERS / 'docker-credential-ocireg-test')!r}, *sys.argv[1:]]).returncode)\n"
    )
    spy.chmod(0o755)
    return {
        "PATH": f"{bin_dir}:{HELPERS}:{os.environ.get('PATH', '')}",
        "OCIREG_TEST_HELPER_STORE": str(tmp_path / "helper-store.json"),
        "SPY_ARGV_LOG": str(tmp_path / "argv.jsonl"),
        "OCIREG_TOKEN_CACHE": "0",
    }


def _login(rig: Rig, *extra: str, user: str = ALICE, secret: str = SECRET, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    return run_cli(["login", rig.host, "-u", user, "--password-stdin", *extra], env, stdin=secret + "\n")


def _assert_no_secret(*texts: str) -> None:
    for text in texts:
        assert SECRET not in text
        assert SECRET_B64 not in text


def test_login_logout_round_trip_through_config_file(token_rig: Rig, docker_config: Path) -> None:
    """SEC/PC: login verifies, writes auths[host] 0600 keeping other keys; exists uses it; logout erases it."""
    docker_config.parent.mkdir(parents=True, exist_ok=True)
    docker_config.write_text(
        json.dumps({"psFormat": "table", "auths": {"other.example:5000": {"auth": "eDp5"}}})
    )
    ref = token_rig.ref("group/project", "oci")
    assert run_cli(["exists", "--no-token-cache", ref]).code == 4  # anonymous: denied before login
    result = _login(token_rig, "--debug")
    assert result.code == 0, result.both
    assert "login succeeded" in result.out
    _assert_no_secret(result.out, result.err)
    doc = json.loads(docker_config.read_text())
    assert doc["psFormat"] == "table"
    assert doc["auths"]["other.example:5000"] == {"auth": "eDp5"}
    assert doc["auths"][token_rig.host] == {"auth": SECRET_B64}
    assert stat.S_IMODE(docker_config.stat().st_mode) == 0o600
    assert [p.name for p in docker_config.parent.iterdir()] == ["config.json"]  # no temporary file left
    assert run_cli(["exists", "--no-token-cache", ref]).code == 0  # the stored login works
    out = run_cli(["logout", token_rig.host])
    assert out.code == 0, out.both
    doc = json.loads(docker_config.read_text())
    assert token_rig.host not in doc["auths"]
    assert doc["auths"]["other.example:5000"] == {"auth": "eDp5"}
    assert run_cli(["exists", "--no-token-cache", ref]).code == 4
    again = run_cli(["logout", token_rig.host])
    assert again.code == 0
    assert "not logged in" in again.out


def test_login_checks_with_one_scopeless_token_request(token_rig: Rig, docker_config: Path) -> None:
    """PC: the check is GET /v2/ answered with one token request without a scope (as GitLab's realm allows)."""
    assert token_rig.token_server is not None
    token_rig.token_server.clear_requests()
    result = _login(token_rig)
    assert result.code == 0, result.both
    requests = token_rig.token_server.requests
    assert len(requests) == 1
    assert requests[0].scopes == ()
    assert requests[0].username == ALICE
    assert requests[0].status == 200


def test_wrong_password_is_rejected_once_and_nothing_stored(token_rig: Rig, docker_config: Path) -> None:
    """PC/SEC: bad credentials → exit 3 after exactly one token request (never retried); no file written."""
    assert token_rig.token_server is not None
    token_rig.token_server.clear_requests()
    # GitLab accepts a personal access token whatever the user name (Gitlab::Auth#find_for_git_client ignores
    # the login for PATs), so the wrong secret here is a password that is nobody's (#12: the rig is faithful).
    wrong = "glpat-nobody-0000-canary"
    result = _login(token_rig, "--debug", user=BOB, secret=wrong)
    assert result.code == 3, result.both
    _assert_no_secret(result.out, result.err)
    assert wrong not in result.both
    assert [r.status for r in token_rig.token_server.requests] == [401]
    assert not docker_config.exists()


def test_login_logout_round_trip_through_cred_helper(
    token_rig: Rig, docker_config: Path, helper_env: dict[str, str]
) -> None:
    """SEC/PC: credHelpers[host] gets the login via 'store' on stdin (never argv); config holds no secret."""
    docker_config.parent.mkdir(parents=True, exist_ok=True)
    docker_config.write_text(json.dumps({"credHelpers": {token_rig.host: "spy"}}))
    result = _login(token_rig, "--debug", env=helper_env)
    assert result.code == 0, result.both
    assert "docker-credential-spy" in result.out
    _assert_no_secret(result.out, result.err, docker_config.read_text())
    store = json.loads(Path(helper_env["OCIREG_TEST_HELPER_STORE"]).read_text())
    assert store == {token_rig.host: {"Username": ALICE, "Secret": SECRET}}
    used = run_cli(["exists", "--no-token-cache", token_rig.ref("group/project", "oci")], helper_env)
    assert used.code == 0, used.both
    out = run_cli(["logout", token_rig.host], helper_env)
    assert out.code == 0, out.both
    assert json.loads(Path(helper_env["OCIREG_TEST_HELPER_STORE"]).read_text()) == {}
    argv_log = Path(helper_env["SPY_ARGV_LOG"]).read_text()
    assert [json.loads(line) for line in argv_log.splitlines()] == [["store"], ["get"], ["erase"]]
    _assert_no_secret(argv_log)


def test_creds_store_replaces_a_stale_plain_entry(
    token_rig: Rig, docker_config: Path, helper_env: dict[str, str]
) -> None:
    """SEC: with a credsStore, login stores in the helper and drops the old plain-text auths entry."""
    docker_config.parent.mkdir(parents=True, exist_ok=True)
    stale = base64.b64encode(b"alice:old-password").decode()
    docker_config.write_text(
        json.dumps({"credsStore": "ocireg-test", "auths": {f"http://{token_rig.host}": {"auth": stale}}})
    )
    result = _login(token_rig, env=helper_env)
    assert result.code == 0, result.both
    doc = json.loads(docker_config.read_text())
    assert doc == {"credsStore": "ocireg-test", "auths": {}}
    store = json.loads(Path(helper_env["OCIREG_TEST_HELPER_STORE"]).read_text())
    assert store[token_rig.host] == {"Username": ALICE, "Secret": SECRET}


def test_basic_registry_login(basic_rig: Rig, docker_config: Path) -> None:
    """PC: Basic-only registry — the password is checked on /v2/ itself; wrong one → exit 3."""
    bad = _login(basic_rig, user=BASIC_USER, secret="not-the-password")
    assert bad.code == 3, bad.both
    assert not docker_config.exists()
    good = _login(basic_rig, user=BASIC_USER, secret=BASIC_PASSWORD)
    assert good.code == 0, good.both
    assert run_cli(["exists", basic_rig.ref("group/project", "oci")]).code == 0


def test_open_registry_login_warns_it_verified_nothing(open_rig: Rig, docker_config: Path) -> None:
    """PC: anonymous flow — a registry that never challenges: stored, with a warning that nothing was verified."""
    result = _login(open_rig, "-o", "json")
    assert result.code == 0, result.both
    assert "could not be verified" in result.err
    assert json.loads(result.out)["verified"] is False


def test_malformed_config_is_never_overwritten(token_rig: Rig, docker_config: Path) -> None:
    """BI: broken credential configuration — a config.json that is not JSON is refused (exit 3), untouched."""
    docker_config.parent.mkdir(parents=True, exist_ok=True)
    docker_config.write_text("{not json")
    result = _login(token_rig)
    assert result.code == 3, result.both
    assert docker_config.read_text() == "{not json"


def test_login_needs_password_stdin(token_rig: Rig, docker_config: Path) -> None:
    """SEC: a password is never taken from the command line; without --password-stdin → exit 2."""
    result = run_cli(["login", token_rig.host, "-u", ALICE], stdin=SECRET + "\n")
    assert result.code == 2
    assert not docker_config.exists()
    wrong = run_cli(["login", "https://user@host/x/y", "-u", ALICE, "--password-stdin"], stdin="x\n")
    assert wrong.code == 2


def test_outsider_login_succeeds_but_grants_nothing(token_rig: Rig, docker_config: Path) -> None:
    """PC: GitLab semantics — valid credentials log in even without access to any project."""
    result = _login(token_rig, user=BOB, secret=BOB_PASSWORD)
    assert result.code == 0, result.both
    assert run_cli(["exists", "--no-token-cache", token_rig.ref("group/project", "oci")]).code == 4
