"""Issue #8: progress display for batch exists/digest — on a terminal only, never in piped output.

The CLI runs in a subprocess whose stderr is the slave side of a real pseudo-terminal (``pty.openpty``); the
test reads the master side. stdout goes to a file, so the data stream is checked separately from the display.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from integration.faultkit import stderr_on_pty

from clirunner import creds
from rig import Rig
from rig.tokenserver import ALICE, ALICE_PASSWORD

ANSI = re.compile(r"\x1b[\[\]()]")
TAGS = ["oci", "index", "docker", "list", "v1.2.3", "stable"]


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "TERM", "COLUMNS", "FORCE_COLOR")}
    env.update(creds(ALICE, ALICE_PASSWORD))
    env.update({"TERM": "xterm-256color", "COLUMNS": "100"}, **extra)
    return env


def run_with_pty_stderr(argv: list[str], env: dict[str, str], tmp_path: Path) -> tuple[int, str, str]:
    """Run ``python -m ocireg ARGV`` with stderr on a pseudo-terminal; returns (code, stdout, terminal bytes)."""
    out_path = tmp_path / "stdout.txt"
    with out_path.open("wb") as out:
        code, terminal = stderr_on_pty([sys.executable, "-m", "ocireg", *argv], env, stdout=out)
    return code, out_path.read_text(), terminal


def _refs(rig: Rig, count: int) -> list[str]:
    return [rig.ref("group/project", TAGS[i % len(TAGS)]) for i in range(count)]


def _table_ok(stdout: str, refs: list[str]) -> None:
    lines = stdout.splitlines()
    assert len(lines) == len(refs)
    assert all(line.startswith("present  ") for line in lines)
    assert not ANSI.search(stdout)


def test_progress_appears_on_a_terminal(token_rig: Rig, tmp_path: Path) -> None:
    refs = _refs(token_rig, 8)
    code, stdout, terminal = run_with_pty_stderr(["exists", *refs], _env(), tmp_path)
    assert code == 0, terminal
    _table_ok(stdout, refs)  # the data stream is unchanged by the display
    assert "checking" in terminal
    assert "/8" in terminal  # "0/8" ... "8/8"
    assert ANSI.search(terminal), "a live display draws with escape sequences"


def test_digest_batch_progress_on_a_terminal(token_rig: Rig, tmp_path: Path) -> None:
    refs = _refs(token_rig, 6)
    code, stdout, terminal = run_with_pty_stderr(["digest", *refs], _env(), tmp_path)
    assert code == 0, terminal
    assert "resolving" in terminal and "/6" in terminal
    assert [line.split()[-1] for line in stdout.splitlines()] == [
        token_rig.seeded.digest("group/project", TAGS[i % len(TAGS)]) for i in range(6)
    ]


@pytest.mark.parametrize(
    ("why", "extra_args", "extra_env", "count"),
    [
        ("NO_COLOR", [], {"NO_COLOR": "1"}, 8),
        ("TERM=dumb", [], {"TERM": "dumb"}, 8),
        ("OCIREG_PROGRESS=0", [], {"OCIREG_PROGRESS": "0"}, 8),
        ("-q", ["-q"], {}, 8),
        ("a handful of references", [], {}, 3),
        ("-o jsonl streams results", ["-o", "jsonl"], {}, 8),
    ],
)
def test_no_progress_on_a_terminal_when_unwanted(
    token_rig: Rig,
    tmp_path: Path,
    why: str,
    extra_args: list[str],
    extra_env: dict[str, str],
    count: int,
) -> None:
    refs = _refs(token_rig, count)
    code, stdout, terminal = run_with_pty_stderr(["exists", *extra_args, *refs], _env(**extra_env), tmp_path)
    assert code == 0, terminal
    assert terminal == "", f"{why}: nothing may be drawn, got {terminal!r}"
    if not extra_args:
        _table_ok(stdout, refs)


def test_no_progress_and_no_escapes_when_piped(token_rig: Rig) -> None:
    refs = _refs(token_rig, 8)
    proc = subprocess.run(
        [sys.executable, "-m", "ocireg", "exists", *refs],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=_env(),
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    _table_ok(proc.stdout, refs)
    assert not ANSI.search(proc.stdout + proc.stderr)


def test_piped_batch_never_imports_rich(token_rig: Rig) -> None:
    """rich is loaded only when a display is drawn: a piped batch does not even import it."""
    code = (
        "import io, os, sys\n"
        "from ocireg.cli import main\n"
        "out, err = io.StringIO(), io.StringIO()\n"
        "rc = main(sys.argv[1:], dict(os.environ), stdout=out, stderr=err)\n"
        "print(rc, 'rich' in sys.modules, len(out.getvalue().splitlines()))\n"
    )
    refs = _refs(token_rig, 8)
    proc = subprocess.run(
        [sys.executable, "-c", code, "exists", *refs],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["0", "False", "8"]
