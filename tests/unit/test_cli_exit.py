"""How the ``ocireg`` console script leaves: without the interpreter's finalization when nothing depends on it
(#25: tearing down the imported modules cost milliseconds after the answer), the normal way otherwise.

Each case runs the entry point in a real process, as the installed script does, and checks what a caller sees:
the whole output, the exit code, and that an embedder's ``atexit`` callback or a running non-daemon thread is not
cut short.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from ocireg import __version__


def _run(prelude: str, *argv: str) -> subprocess.CompletedProcess[str]:
    code = f"import sys\n{prelude}\nfrom ocireg.cli import console\nsys.argv = ['ocireg', *{list(argv)!r}]\nconsole()\n"
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )


def test_output_and_exit_code_survive_the_fast_exit() -> None:
    proc = _run("", "--version")
    assert proc.returncode == 0
    assert proc.stdout == f"ocireg {__version__}\n"


def test_a_usage_error_keeps_its_exit_code_and_message() -> None:
    """BI: an unknown option is exit 2 with its message on stderr (flushed before the process leaves)."""
    proc = _run("", "exists", "--no-such-option", "a/b:c")
    assert proc.returncode == 2
    assert "ocireg: error:" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_an_atexit_callback_still_runs() -> None:
    """An embedder's (or coverage's) ``atexit`` callback: the process exits the normal way and runs it."""
    proc = _run("import atexit\natexit.register(lambda: print('callback ran'))", "--version")
    assert proc.returncode == 0
    assert proc.stdout == f"ocireg {__version__}\ncallback ran\n"


def test_a_running_non_daemon_thread_is_waited_for(tmp_path: Path) -> None:
    marker = tmp_path / "done"
    prelude = (
        "import threading, time\n"
        f"def late(): time.sleep(0.3); open({str(marker)!r}, 'w').close()\n"
        "threading.Thread(target=late).start()"
    )
    proc = _run(prelude, "--version")
    assert proc.returncode == 0
    assert marker.exists()


def test_run_still_raises_system_exit_for_a_caller_that_catches_it() -> None:
    """``run`` (``python -m ocireg``, the pyz) exits the normal way: a caller catching ``SystemExit`` goes on."""
    code = (
        "import sys\nfrom ocireg.cli import run\nsys.argv = ['ocireg', '--version']\n"
        "try:\n    run()\nexcept SystemExit as exc:\n    print('caught', exc.code)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 0
    assert proc.stdout == f"ocireg {__version__}\ncaught 0\n"
