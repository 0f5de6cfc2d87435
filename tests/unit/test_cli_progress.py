"""Issue #8: when a progress display may be drawn (the pty behaviour itself is in tests/integration)."""

from __future__ import annotations

import io
import os
import subprocess
import sys

import pytest

from ocireg.cli.progress import NullProgress, progress_enabled


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


class _Closed(io.StringIO):
    def isatty(self) -> bool:
        raise ValueError("I/O operation on closed file")


@pytest.mark.parametrize(
    ("stream", "env", "quiet", "expected"),
    [
        (_Tty(), {"TERM": "xterm"}, False, True),
        (_Tty(), {}, False, True),
        (io.StringIO(), {"TERM": "xterm"}, False, False),  # piped / redirected
        (_Closed(), {"TERM": "xterm"}, False, False),
        (_Tty(), {"TERM": "xterm"}, True, False),  # -q
        (_Tty(), {"TERM": "xterm", "NO_COLOR": "1"}, False, False),
        (_Tty(), {"TERM": "xterm", "NO_COLOR": ""}, False, True),  # NO_COLOR only counts when non-empty
        (_Tty(), {"TERM": "dumb"}, False, False),
        (_Tty(), {"TERM": "xterm", "OCIREG_PROGRESS": "0"}, False, False),
        (_Tty(), {"TERM": "xterm", "OCIREG_PROGRESS": "1"}, False, True),
    ],
)
def test_progress_enabled(stream: io.StringIO, env: dict[str, str], quiet: bool, expected: bool) -> None:
    assert progress_enabled(stream, env, quiet=quiet) is expected


def test_null_progress_accepts_everything() -> None:
    bar = NullProgress()
    bar.advance()
    bar.advance(3)
    bar.on_result(0, object())
    bar.describe("anything")


def test_rich_is_not_imported_for_help_version_or_completion() -> None:
    code = (
        "import io, sys\n"
        "from ocireg.cli import main\n"
        "for argv in (['--version'], ['--help'], ['exists', '--help'], ['completion', 'bash']):\n"
        "    main(argv, {}, stdout=io.StringIO(), stderr=io.StringIO())\n"
        "print(sorted(m for m in ('rich', 'rich.progress') if m in sys.modules))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=dict(os.environ),
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"
