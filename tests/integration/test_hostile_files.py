"""Issue #14 (hostile input: deploy files, output and writes) through the CLI against the real rig.

Each test names its issue item. Deploy files come from merge requests; output goes to terminals, patches and
dotenv artifacts; ``pin --write`` writes where the user pointed it. None of them may become a way to send a
credential somewhere, mislead a deploy gate, or write outside what was asked.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest

from integration.faultkit import ocireg_argv, plain, subprocess_env, via

from clirunner import creds, run_cli
from rig import Rig
from rig.faultproxy import FaultProxy, Rule, remove_header, rewrite_header, status
from rig.sink import Sink
from rig.tokenserver import ALICE, ALICE_PASSWORD

ROOT = Path(__file__).resolve().parents[2]

ALICE_ENV = creds(ALICE, ALICE_PASSWORD)
PROJECT = "group/project"
# A job token shaped like GitLab's (a valid tag, so today's code would send it in the request path).
JOB_TOKEN = "glcbt-64_Canary0Job0Token0xyz"
DB_PASSWORD = "Canary-Db-Password-123"
MANIFEST = r"^/v2/group/project/manifests/"


@pytest.fixture
def proxy(token_rig: Rig, fault_proxy_factory: Any) -> FaultProxy:
    """A fault proxy in front of the token-auth registry (the token server stays direct)."""
    made: FaultProxy = fault_proxy_factory(token_rig.url)
    return made


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


# ---------------------------------------------------------------------------------------------------------
# Output: HEAD answers, dotenv, SIGPIPE
# ---------------------------------------------------------------------------------------------------------


def test_bi_head_200_html_without_digest_is_not_present(proxy: FaultProxy) -> None:
    """#14 item 7: a web server on the registry's port answers every request ``200 text/html`` without
    Docker-Content-Digest. ``exists`` must not say present (it said so while ``digest`` exited 6): the HEAD
    does not look like a manifest answer, the GET body is judged, exit 6 for both."""
    page = "<html><body>Welcome to nginx!</body></html>"
    proxy.add_rule(Rule("*", MANIFEST, status(200, {"Content-Type": "text/html"}, page)))
    for command in ("exists", "digest"):
        result = run_cli([command, "-o", "json", *plain(proxy), via(proxy, tag="oci")], ALICE_ENV)
        (item,) = json.loads(result.out)["results"]
        assert item["status"] == "error", result.out
        assert result.code == 6, result.both
    assert proxy.count("GET", MANIFEST + "oci$") == 2


def test_bi_head_without_digest_and_generic_type_is_judged_by_get(token_rig: Rig, proxy: FaultProxy) -> None:
    """#14 item 7: a HEAD stripped of its digest and typed text/html (a proxy in between) is not trusted
    either way: the GET body decides, and a real manifest is present with its true digest. A HEAD with a
    manifest media type (and no digest) is still a manifest answer: present, no GET."""
    proxy.add_rule(
        Rule(
            "HEAD",
            MANIFEST + "index$",
            [remove_header("Docker-Content-Digest"), rewrite_header("Content-Type", "text/html")],
        )
    )
    proxy.add_rule(Rule("HEAD", MANIFEST + "oci$", remove_header("Docker-Content-Digest")))
    result = run_cli(
        ["exists", "-o", "json", *plain(proxy), via(proxy, tag="index"), via(proxy, tag="oci")], ALICE_ENV
    )
    assert result.code == 0, result.both
    index, oci = json.loads(result.out)["results"]
    assert index["status"] == oci["status"] == "present"
    assert index["digest"] == token_rig.seeded.digest(PROJECT, "index")
    assert proxy.count("GET", MANIFEST + "index$") == 1
    assert proxy.count("GET", MANIFEST + "oci$") == 0


def _dotenv(text: str) -> dict[str, str]:
    pairs = [line.split("=", 1) for line in text.splitlines() if line]
    keys = [k for k, _ in pairs]
    assert len(keys) == len(set(keys)), f"a key repeats: {text}"
    return dict(pairs)


def test_bi_dotenv_keys_are_unique_per_reference(token_rig: Rig) -> None:
    """#14 item 10: ``app:p1.0`` and ``app:p1-0`` (and two references equal in their first 120 key
    characters) got one key, the second line silently replacing the first; now each reference has its own
    key (a short hash where the sanitised name is ambiguous) and the same reference twice keeps one."""
    base = f"{token_rig.host}/{PROJECT}"
    long_repo = f"{token_rig.host}/{PROJECT}/" + "a" * 110
    refs = [
        f"{base}:p1.0",
        f"{base}:p1-0",
        f"{base}:oci",
        f"{base}:oci",
        f"{long_repo}:x1",
        f"{long_repo}:x2",
    ]
    result = run_cli(["exists", "-o", "dotenv", *refs], ALICE_ENV)
    values = _dotenv(result.out)
    statuses = {k: v for k, v in values.items() if k.endswith("_STATUS")}
    assert len(statuses) == 5, result.out  # five different references, five keys
    assert all(len(k) <= len("OCIREG__STATUS") + 120 for k in statuses)
    from ocireg.cli.render import dotenv_key

    plain_key = f"OCIREG_{dotenv_key(f'{base}:oci')}"  # unambiguous: no hash, the documented plain key
    assert statuses[f"{plain_key}_STATUS"] == "present"
    assert values[f"{plain_key}_DIGEST"] == token_rig.seeded.digest(PROJECT, "oci")


@pytest.mark.parametrize("command", ["exists", "digest"])
def test_bi_dotenv_failure_says_why_on_stderr(token_rig: Rig, command: str) -> None:
    """#14 item 12: with ``-o dotenv`` a failing reference printed only ``OCIREG_STATUS=error`` (or
    ``absent``); the reason now goes to stderr, as with ``wait -o dotenv`` and text output."""
    missing = f"{token_rig.host}/{PROJECT}:no-such-tag"
    denied = f"{token_rig.host}/other/secret:v1"
    for ref in (missing, denied):
        result = run_cli([command, "-o", "dotenv", ref], ALICE_ENV)
        assert result.code in (1, 4), result.both
        assert "OCIREG_STATUS=" in result.out
        assert result.err.startswith("ocireg: error: "), result.err
        assert "no-such-tag" in result.err or "other/secret" in result.err


def test_ft_sigpipe_after_the_first_line_exits_141_quietly(token_rig: Rig, tmp_path: Path) -> None:
    """#14 item 16: ``ocireg exists -o jsonl ... | head -1`` exited 120 with "Exception ignored ...
    BrokenPipeError"; the reader leaves after the first line of a batch whose output is larger than a pipe
    buffer, so later writes must fail: exit 141 (128 + SIGPIPE), stderr clean."""
    refs = tmp_path / "refs.txt"
    refs.write_text(f"{token_rig.host}/{PROJECT}:oci\n" * 600, encoding="utf-8")  # ~150 KB of jsonl
    proc = subprocess.Popen(
        ocireg_argv("exists", "-o", "jsonl", "--from-file", str(refs)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=subprocess_env(ALICE_ENV),
    )
    try:
        assert proc.stdout is not None and proc.stderr is not None
        first = proc.stdout.readline()
        proc.stdout.close()  # head -1 is gone
        err = proc.stderr.read().decode("utf-8", "replace")
        code = proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    assert json.loads(first)["status"] == "present"
    assert "Exception ignored" not in err
    assert "BrokenPipe" not in err and "Traceback" not in err
    assert code == 141, err


# ---------------------------------------------------------------------------------------------------------
# --from-file: size and encoding
# ---------------------------------------------------------------------------------------------------------


def test_bi_from_file_over_16_mib_is_read_whole(token_rig: Rig, tmp_path: Path) -> None:
    """#14 item 9: a ``--from-file`` larger than 16 MiB was cut at 16 MiB: the line across the cut was checked
    as another image and the lines after it never. Now the whole file is read, line by line."""
    base = f"{token_rig.host}/{PROJECT}"
    cut = 16 * 1024 * 1024
    head = f"{base}:oci\n"
    filler_line = "#" + "x" * 1022 + "\n"
    filler = filler_line * ((cut - len(head) - 20) // len(filler_line))
    pad = (
        "#" * (cut - len(head) - len(filler) - 11) + "\n"
    )  # the next line starts 10 characters before the cut
    straddling = f"{base}:docker\n"
    text = head + filler + pad + straddling + filler_line * 4 + f"{base}:index\n"
    assert len(head + filler + pad) == cut - 10 and len(text) > cut
    refs = tmp_path / "refs.txt"
    refs.write_text(text, encoding="utf-8")
    result = run_cli(["exists", "-o", "json", "--from-file", str(refs)], ALICE_ENV)
    items = json.loads(result.out)["results"]
    assert [item["input"] for item in items] == [f"{base}:oci", f"{base}:docker", f"{base}:index"]
    assert {item["status"] for item in items} == {"present"}
    assert result.code == 0, result.err


def test_bi_from_file_line_too_long_is_refused(tmp_path: Path) -> None:
    """#14 item 9: one line longer than 64 KiB is refused with exit 2 before any request, never cut."""
    refs = tmp_path / "refs.txt"
    refs.write_text("registry.example.invalid/a:" + "x" * 70_000 + "\n", encoding="utf-8")
    result = run_cli(["exists", "--from-file", str(refs)])
    assert result.code == 2
    assert "line 1 is longer than 64 KiB" in result.err
    assert "Traceback" not in result.err


@pytest.mark.parametrize("via_stdin", [False, True])
def test_bi_from_file_with_bom_and_crlf(token_rig: Rig, tmp_path: Path, via_stdin: bool) -> None:
    """#14 item 20: a file saved by a Windows editor (UTF-8 BOM, CRLF line ends) was refused at its first
    line, the BOM shown raw; both are accepted now, from a file and from stdin."""
    base = f"{token_rig.host}/{PROJECT}"
    text = f"\ufeff{base}:oci\r\n# comment\r\n{base}:docker\r\n"
    if via_stdin:
        result = run_cli(["exists", "-o", "json", "--from-file", "-"], ALICE_ENV, stdin=text)
    else:
        refs = tmp_path / "refs.txt"
        refs.write_bytes(text.encode("utf-8"))
        result = run_cli(["exists", "-o", "json", "--from-file", str(refs)], ALICE_ENV)
    assert result.code == 0, result.err
    items = json.loads(result.out)["results"]
    assert [item["input"] for item in items] == [f"{base}:oci", f"{base}:docker"]


def test_bi_invisible_characters_in_a_reference_are_shown_escaped(tmp_path: Path) -> None:
    """#14 item 20: a BOM or zero-width character inside a line is an invalid reference, shown escaped."""
    refs = tmp_path / "refs.txt"
    refs.write_text(
        "registry.example.invalid/a:v1\nregistry.example.invalid/b\ufeff:v1\u200b\n", encoding="utf-8"
    )
    result = run_cli(["exists", "--from-file", str(refs)])
    assert result.code == 2
    assert "\\ufeff" in result.err and "\\u200b" in result.err
    assert "\ufeff" not in result.err and "\u200b" not in result.err


# ---------------------------------------------------------------------------------------------------------
# pin --write: symlinks, permissions, names
# ---------------------------------------------------------------------------------------------------------


def _compose(host: str, tag: str = "oci") -> str:
    return f"services:\n  app:\n    image: {host}/{PROJECT}:{tag}\n"


def test_sec_pin_write_does_not_follow_a_symlink_out_of_the_directory(token_rig: Rig, tmp_path: Path) -> None:
    """#14 item 17: ``pin --write DIR`` rewrote the file a symlink in DIR points to, outside DIR. Now such a
    link is skipped and reported (the other files are written); a link inside DIR is written through;
    ``--follow-symlinks`` writes the outside target too."""
    host = token_rig.host
    outside = tmp_path / "elsewhere" / "victim.yaml"
    outside.parent.mkdir()
    outside.write_text(_compose(host), encoding="utf-8")
    deploy = tmp_path / "deploy"
    deploy.mkdir()
    (deploy / "app.yaml").symlink_to(outside)
    (deploy / "real.yaml").write_text(_compose(host, "docker"), encoding="utf-8")
    (deploy / "alias.yml").symlink_to(deploy / "real.yaml")
    before = outside.read_text(encoding="utf-8")

    result = run_cli(["pin", "--write", str(deploy)], ALICE_ENV)
    assert result.code == 0, result.both
    assert outside.read_text(encoding="utf-8") == before
    assert (deploy / "app.yaml").is_symlink()
    assert f"{deploy / 'app.yaml'}: skipped: a symbolic link to a file outside the paths given" in result.err
    assert "@sha256:" in (deploy / "real.yaml").read_text(encoding="utf-8")

    as_json = run_cli(["pin", "--write", "-o", "json", str(deploy)], ALICE_ENV)
    files = {Path(str(f["path"])).name: f for f in json.loads(as_json.out)["files"]}
    assert files["app.yaml"]["written"] is False and "outside" in str(files["app.yaml"]["skipped"])
    assert outside.read_text(encoding="utf-8") == before

    followed = run_cli(["pin", "--write", "--follow-symlinks", str(deploy)], ALICE_ENV)
    assert followed.code == 0, followed.both
    assert outside.read_text(encoding="utf-8") != before
    assert (deploy / "app.yaml").is_symlink()


def test_sec_pin_write_refuses_a_named_symlink_out_of_the_given_paths(token_rig: Rig, tmp_path: Path) -> None:
    """#14 item 17: the same for a link named on the command line (``pin --write k8s/*.yaml`` expands a
    planted link to an explicit argument)."""
    outside = tmp_path / "elsewhere.yaml"
    outside.write_text(_compose(token_rig.host), encoding="utf-8")
    link = tmp_path / "k8s" / "planted.yaml"
    link.parent.mkdir()
    link.symlink_to(outside)
    result = run_cli(["pin", "--write", str(link)], ALICE_ENV)
    assert "skipped: a symbolic link to a file outside the paths given" in result.err
    assert "@sha256:" not in outside.read_text(encoding="utf-8")


def test_sec_pin_write_refuses_a_read_only_file(token_rig: Rig, tmp_path: Path) -> None:
    """#14 item 18: a file the user could not write in place (here read-only) was replaced through its
    writable directory; now it is refused with exit 2 and no file is written at all."""
    if os.geteuid() == 0:
        pytest.skip("root may write any file in place; the other-user case below covers root runs")
    path = tmp_path / "compose.yaml"
    other = tmp_path / "other.yaml"
    path.write_text(_compose(token_rig.host), encoding="utf-8")
    other.write_text(_compose(token_rig.host, "docker"), encoding="utf-8")
    path.chmod(0o444)
    result = run_cli(["pin", "--write", str(path), str(other)], ALICE_ENV)
    assert result.code == 2, result.both
    assert "could not write this file in place" in result.err
    assert "@sha256:" not in path.read_text() and "@sha256:" not in other.read_text()


def _reachable_by_others(path: Path) -> bool:
    """Whether a user who is neither the owner nor in the group may read ``path`` (every parent searchable)."""
    try:
        if not path.stat().st_mode & stat.S_IROTH:
            return False
        return all(parent.stat().st_mode & stat.S_IXOTH for parent in path.resolve().parents)
    except OSError:
        return False


def _argv_for_others(place: Path, *args: str) -> list[str]:
    """ocireg as another user can run it: the checkout's own command when that user may read it, else the single
    file built into ``place`` (a clean clone made under a private directory, as ``mktemp -d`` makes one, is out
    of that user's reach) run by the same interpreter."""
    argv = ocireg_argv(*args)
    if _reachable_by_others(Path(argv[0])):
        return argv
    pyz = place / "ocireg.pyz"
    if not pyz.exists():
        build = [sys.executable, str(ROOT / "scripts" / "build-pyz"), "--output", str(pyz)]
        built = subprocess.run(build, capture_output=True, text=True, timeout=300, check=False)
        assert built.returncode == 0, built.stdout[-2000:] + built.stderr[-2000:]
        pyz.chmod(0o644)
    return [str(Path(sys.executable).resolve()), "-I", str(pyz), *args]


def test_sec_pin_write_refuses_a_file_of_another_user(token_rig: Rig, tmp_path: Path) -> None:
    """#14 item 18: as an unprivileged user, a read-only file owned by another user in a directory the user
    may write was replaced and changed owner; now it is refused (exit 2), content and owner unchanged."""
    setpriv = shutil.which("setpriv")
    if os.geteuid() != 0 or setpriv is None:
        pytest.skip("needs root and setpriv (util-linux) to run ocireg as 'nobody' on a file of another user")
    nobody = 65534
    # pytest's tmp_path lies under a 0700 directory of root's: the unprivileged run needs a reachable one.
    top = Path(tempfile.mkdtemp(prefix="ocireg-item18-"))
    try:
        top.chmod(0o755)
        work = top / "work"
        work.mkdir()
        os.chown(work, nobody, nobody)
        victim = work / "compose.yaml"
        victim.write_text(_compose(token_rig.host), encoding="utf-8")
        victim.chmod(0o644)  # root's file: readable, not writable by nobody
        before = victim.read_text(encoding="utf-8")
        proc = subprocess.run(
            [
                setpriv,
                f"--reuid={nobody}",
                f"--regid={nobody}",
                "--clear-groups",
                *_argv_for_others(top, "pin", "--write", "--no-token-cache", str(victim)),
            ],
            capture_output=True,
            text=True,
            env=subprocess_env({**ALICE_ENV, "HOME": str(work)}),
            timeout=120,
            check=False,
        )
        assert proc.returncode == 2, proc.stdout + proc.stderr
        assert "could not write this file in place" in proc.stderr
        assert victim.read_text(encoding="utf-8") == before
        assert victim.stat().st_uid == 0
        assert sorted(p.name for p in work.iterdir()) == ["compose.yaml"]  # no temporary file left
    finally:
        shutil.rmtree(top, ignore_errors=True)


def test_sec_pin_diff_quotes_file_names(token_rig: Rig, tmp_path: Path) -> None:
    """#14 item 19: the diff header printed a file name raw, so an ESC sequence reached the terminal and a
    newline injected lines into the patch. Names are C-quoted the way git quotes them."""
    name = "evil\x1b[2J\n+++ b:passwd\u202e.yaml"
    path = tmp_path / name
    path.write_text(_compose(token_rig.host), encoding="utf-8")
    result = run_cli(["pin", str(tmp_path)], ALICE_ENV)
    assert result.code == 0, result.both
    assert "\x1b" not in result.both and "\u202e" not in result.both
    lines = result.out.splitlines()
    assert all(line[:1] in (" ", "+", "-", "@", "\\") for line in lines), lines
    assert sum(line.startswith("+++ ") for line in lines) == 1
    assert lines[0] == '--- "a/' + str(tmp_path) + '/evil\\033[2J\\n+++ b:passwd\\342\\200\\256.yaml"'
