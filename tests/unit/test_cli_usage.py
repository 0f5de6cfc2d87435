"""CLI usage errors: exit 2 with a clear message and no network I/O (BI, SEC: argument injection)."""

from __future__ import annotations

import io
import subprocess
import sys
from typing import Any

import pytest

from ocireg.cli import main
from ocireg.connection import Connections


def run(argv: list[str], env: dict[str, str] | None = None, stdin: str = "") -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(argv, env or {"HOME": "/nonexistent"}, stdin=io.StringIO(stdin), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("network I/O attempted")

    monkeypatch.setattr(Connections, "send", refuse)


@pytest.mark.parametrize(
    ("ref", "fragment"),
    [
        ("Registry.example.com/Group/App:v1", "lowercase"),
        ("a//b", ""),
        ("app:", ""),
        ("app@sha256:abc", ""),
        ("app:" + "x" * 129, ""),
        ("app\nevil", ""),
        ("-rf", ""),
        ("", ""),
    ],
)
def test_bad_reference_exit_2_without_io(ref: str, fragment: str) -> None:
    """BI: reference grammar — exit 2 before any network I/O."""
    code, _, err = run(["exists", "--", ref])
    assert code == 2
    assert "error" in err
    assert fragment in err
    assert "Traceback" not in err


def test_batch_with_one_bad_reference_does_no_io() -> None:
    code, _, err = run(["exists", "localhost:1/ok:1", "BAD//ref"])
    assert code == 2
    assert "BAD//ref" in err


def test_shorthand_outside_gitlab_ci() -> None:
    code, _, err = run(["exists", ":v1"])
    assert code == 2
    assert "GitLab CI" in err


def test_unknown_option_and_command() -> None:
    assert run(["exists", "--nope", "x"])[0] == 2
    assert run(["frobnicate"])[0] == 2
    assert run([])[0] == 2


def test_username_requires_password_stdin() -> None:
    """SEC: a password is never taken from argv."""
    code, _, err = run(["exists", "--username", "alice", "localhost:1/a:b"])
    assert code == 2
    assert "--password-stdin" in err
    code, _, err = run(["exists", "--password-stdin", "localhost:1/a:b"], stdin="pw\n")
    assert code == 2


@pytest.mark.parametrize("command", [["exists", "localhost:1/a:b"], ["login", "localhost:1"]])
def test_password_stdin_that_is_not_utf8_is_exit_3_and_not_echoed(command: list[str]) -> None:
    """BI (invalid UTF-8), SEC: bytes that are not UTF-8 on --password-stdin arrive surrogate-escaped; they used
    to fail later as an internal error (exit 6) naming the offending byte and its position. A broken credential
    is exit 3 whatever its source (#14 item 4; it was exit 2 for this source)."""
    secret = "s3cr\udcffet"  # what sys.stdin (surrogateescape) makes of b"s3cr\xffet"
    code, out, err = run([*command, "-u", "alice", "--password-stdin"], stdin=secret + "\n")
    assert code == 3, err
    assert "not valid UTF-8" in err
    assert "internal error" not in err
    assert "udcff" not in out + err and "s3cr" not in out + err


def test_bad_jobs_and_timeout() -> None:
    assert run(["exists", "--jobs", "0", "a"])[0] == 2
    assert run(["exists", "--jobs", "33", "a"])[0] == 2
    assert run(["exists", "--timeout", "-1", "a"])[0] == 2
    assert run(["exists", "--timeout", "nan", "a"])[0] == 2


def test_missing_from_file() -> None:
    code, _, err = run(["exists", "--from-file", "/nonexistent/refs.txt"])
    assert code == 2
    assert "/nonexistent/refs.txt" in err


def test_help_documents_exit_codes_and_credentials() -> None:
    code, out, _ = run(["exists", "--help"])
    assert code == 0
    assert "exit codes" in out and "CI_JOB_TOKEN" in out and "examples" in out


def test_version_does_not_import_the_http_layer() -> None:
    """Start-up: `ocireg --version` must not import the HTTP stack (ours, http.client, ssl)."""
    probe = (
        "import sys; from ocireg.cli import main; main(['--version']); "
        "print(any(m in sys.modules for m in ('ocireg.connection', 'http.client', 'ssl')))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.strip().endswith("False")


def test_version_imports_neither_typing_nor_argparse() -> None:
    """LD start-up (#16): ``ocireg --version`` (≤ 40 ms) imports ocireg and ocireg.cli only — not typing (which
    brings re, enum, contextlib), not argparse."""
    probe = (
        "import sys; from ocireg.cli import main; main(['--version']); "
        "print(sorted(m for m in ('typing', 're', 'argparse', 'ocireg.cli.parser') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.strip().endswith("[]")


#: What a check never needs: other commands' modules and operations, the YAML/terminal/schema libraries, shutil
#: and tempfile (bz2, lzma, random), which only writing a cache or config file needs.
_NOT_FOR_A_CHECK = (
    "ocireg.cli.read",
    "ocireg.cli.write",
    "ocireg.cli.gates",
    "ocireg.cli.prune",
    "ocireg.cli.authcmd",
    "ocireg.cli.completion",
    "ocireg.operations.copy",
    "ocireg.operations.files",
    "ocireg.operations.check",
    "ocireg.operations.inspect",
    "ocireg.operations.prune",
    "ocireg.operations.tags",
    "ocireg.gitlab",
    "rich",
    "ruamel",
    "ruamel.yaml",
    "jsonschema",
    "shutil",
    "tempfile",
    "bz2",
    "lzma",
)


def test_exists_imports_nothing_a_check_does_not_need(open_rig: Any, tmp_path: Any) -> None:
    """LD start-up (#16): a whole ``ocireg exists REF`` against the real registry (present, exit 0, its cache
    warm from a first run) imports none of the heavy modules a check does not use (as --help builds no command
    module)."""
    probe = (
        "import sys; from ocireg.cli import main\n"
        f"code = main(['exists', {open_rig.host + '/group/project:oci'!r}], {{'OCIREG_CACHE_DIR': {str(tmp_path)!r}}})\n"
        f"print(code, sorted(m for m in {_NOT_FOR_A_CHECK!r} if m in sys.modules))\n"
    )
    for _ in range(
        2
    ):  # the first run may store what it learnt (that writes a file: tempfile); the second reads
        done = subprocess.run(
            [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
        )
    assert done.stdout.strip().splitlines()[-1] == "0 []", done.stdout + done.stderr


def test_command_index_matches_registrations() -> None:
    """Start-up: the command → module index used to build only one subparser is complete and correct."""
    import argparse
    import importlib

    from ocireg.cli import COMMAND_INDEX, COMMAND_MODULES

    registered: dict[str, str] = {}
    for module in COMMAND_MODULES:
        parser = argparse.ArgumentParser()
        sub = parser.add_subparsers()
        importlib.import_module(module).register(sub)
        for name in sub.choices:
            registered[name] = module
    assert registered == COMMAND_INDEX


def test_top_level_help_lists_every_command_without_building_them() -> None:
    """LD start-up: ``ocireg --help`` comes from the summary index, and says exactly what the full parser says."""
    from ocireg.cli import COMMAND_INDEX, COMMAND_MODULES, COMMAND_SUMMARY
    from ocireg.cli.parser import build_parser

    full = build_parser(COMMAND_MODULES).format_help()
    code, out, _ = run(["--help"])
    assert code == 0
    assert out == full
    assert set(COMMAND_SUMMARY) == set(COMMAND_INDEX)
    # Help placed before the command: the command's module is built, every other command is still listed.
    code, out, _ = run(["-h", "tags"])
    assert code == 0
    assert out == full


def test_top_level_help_imports_no_command_module() -> None:
    """LD start-up: top-level help and an unknown command build no command's options."""
    probe = (
        "import sys, io\n"
        "from ocireg.cli import main\n"
        "main(['--help'], {}, stdout=io.StringIO())\n"
        "main(['nosuch'], {}, stdout=io.StringIO(), stderr=io.StringIO())\n"
        "print(sorted(m for m in sys.modules if m.startswith('ocireg.cli.') and m not in "
        "('ocireg.cli.parser', 'ocireg.cli.exitcodes', 'ocireg.cli.options')))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == "[]"


def test_single_command_parser_still_rejects_unknown_options() -> None:
    code, _, err = run(["digest", "--frobnicate", "a"])
    assert code == 2
    assert "unrecognized" in err or "frobnicate" in err


@pytest.mark.parametrize(
    ("argv", "same_as"),
    [
        (["help"], ["--help"]),
        (["help", "exists"], ["exists", "--help"]),
        (["help", "auth", "explain"], ["auth", "explain", "--help"]),
    ],
)
def test_help_command_as_crane_skopeo_regctl(argv: list[str], same_as: list[str]) -> None:
    """BI (#18): `ocireg help [COMMAND]`, as `crane help`, `skopeo help` and `regctl help` take it; same text."""
    code, out, err = run(argv)
    assert (code, out, err) == run(same_as)
    assert code == 0 and out.startswith("usage: ocireg")


def test_help_of_an_unknown_command_is_a_usage_error() -> None:
    """BI (#18): `ocireg help nosuch` names the bad command and exits 2, as `ocireg nosuch` does."""
    code, out, err = run(["help", "nosuch"])
    assert code == 2 and out == ""
    assert "nosuch" in err.splitlines()[0]
