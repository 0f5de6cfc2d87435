"""``ocireg.atomicfile.replace_file``: the one atomic file replacement of ``login`` and ``pin --write`` (#15
item 6). Catalogue: BI (a failed write leaves the file as it was and no temporary file behind)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from ocireg.atomicfile import replace_file


@pytest.fixture
def directory(tmp_path: Path) -> Path:
    """A directory of its own (the autouse fixtures put a home and a run directory in ``tmp_path``)."""
    path = tmp_path / "files"
    path.mkdir()
    return path


def test_replaces_the_content_with_the_mode_asked_for(directory: Path) -> None:
    """#15 item 6: the new content, the mode given, nothing else left in the directory."""
    target = directory / "values.yaml"
    target.write_text("old\n")
    replace_file(target, b"new\n", prefix=".values.yaml.", mode=0o640)
    assert target.read_bytes() == b"new\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert sorted(os.listdir(directory)) == ["values.yaml"]


def test_without_a_mode_the_file_is_private(directory: Path) -> None:
    """#15 item 6, SEC: Docker's config.json holds credentials: created 0600 unless a mode is given."""
    target = directory / "config.json"
    replace_file(target, b"{}\n", prefix=".config.json.")
    assert stat.S_IMODE(target.stat().st_mode) == 0o600


def test_a_failed_replace_leaves_the_target_and_no_temporary_file(directory: Path) -> None:
    """#15 item 6, BI: the rename fails (the target is a non-empty directory): OSError, nothing changed."""
    target = directory / "taken"
    target.mkdir()
    (target / "inside").write_text("kept")
    with pytest.raises(OSError):
        replace_file(target, b"data", prefix=".taken.")
    assert (target / "inside").read_text() == "kept"
    assert sorted(os.listdir(directory)) == ["taken"]


def _dead_pid() -> int:
    """The id of a process that has ended (a child reaped at once)."""
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True
    )
    return int(proc.stdout)


def test_a_dead_writers_temporary_file_is_swept_a_live_ones_is_not(directory: Path) -> None:
    """#23, SEC: a temporary file a SIGKILLed writer left (it may hold a password) is removed by the next write;
    a live writer's, another pattern's and a symlink are left alone."""
    target = directory / "config.json"
    dead = directory / f".config.json.{_dead_pid()}-abcd_123.tmp"
    live = directory / f".config.json.{os.getppid()}-abcd_123.tmp"
    other = directory / ".config.json.backup"
    link = directory / f".config.json.{_dead_pid()}-zzzz_999.tmp"
    for path in (dead, live, other):
        path.write_text("secret")
    link.symlink_to(other)
    replace_file(target, b"{}\n", prefix=".config.json.")
    assert not dead.exists()
    assert live.exists() and other.exists() and link.is_symlink()
    assert sorted(os.listdir(directory)) == sorted(p.name for p in (target, live, other, link))


def test_temporary_names_carry_the_writers_pid(directory: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """#23: the name a sweep recognises — prefix, our pid, mkstemp's random part, suffix."""
    seen: list[str] = []
    real = os.replace

    def spy(src: str, dst: str) -> None:
        seen.append(os.path.basename(src))
        real(src, dst)

    monkeypatch.setattr(os, "replace", spy)
    replace_file(directory / "values.yaml", b"x", prefix=".values.yaml.", suffix=".ocireg-tmp")
    assert len(seen) == 1
    assert seen[0].startswith(f".values.yaml.{os.getpid()}-") and seen[0].endswith(".ocireg-tmp")


def test_locked_directory_serialises_writers(directory: Path) -> None:
    """#23, SEC: a second holder waits for the first (flock on the directory; no lock file is left)."""
    import threading

    from ocireg.atomicfile import locked_directory

    order: list[str] = []
    entered = threading.Event()

    def second() -> None:
        entered.wait(5)
        with locked_directory(directory):
            order.append("second")

    thread = threading.Thread(target=second)
    thread.start()
    with locked_directory(directory):
        entered.set()
        thread.join(0.3)  # it cannot get the lock while we hold it
        order.append("first")
    thread.join(5)
    assert order == ["first", "second"]
    assert os.listdir(directory) == []
