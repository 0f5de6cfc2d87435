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
