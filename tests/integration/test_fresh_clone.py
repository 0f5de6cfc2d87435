"""Issue #26: `git clone … && scripts/build-pyz` — the single file from a fresh clone, with no .venv made before.

scripts/build-pyz prepares its own environment (``scripts/bootstrap --venv-only``: the project's bootstrap, limited to
the virtualenv) and its failures end with a newline and say what to run. The clone is of this repository's HEAD
(committed work only), run with a PATH that holds no virtualenv, as a developer's shell has.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from rig import Rig
from rig.tokenserver import ALICE, ALICE_PASSWORD

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 600
PROJECT = "group/project"

pytestmark = pytest.mark.slow


def _plain_env(home: Path) -> dict[str, str]:
    """The environment of a shell without any virtualenv: no venv's bin on PATH, no VIRTUAL_ENV, no PYTHON*."""
    path = [
        p
        for p in os.environ.get("PATH", "/usr/bin:/bin").split(os.pathsep)
        if p and not (Path(p) / "activate").exists() and Path(sys.prefix) not in Path(p).parents
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON") and k != "VIRTUAL_ENV"}
    env.update({"PATH": os.pathsep.join(path), "HOME": str(home)})
    return env


def _run(argv: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=TIMEOUT, check=False
    )


@pytest.fixture(scope="module")
def clone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("fresh") / "ocireg"
    proc = subprocess.run(
        ["git", "clone", "--quiet", str(ROOT), str(target)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert not (target / ".venv").exists()
    return target


def test_bi_build_pyz_failures_end_with_a_newline_and_say_what_to_run(clone: Path, tmp_path: Path) -> None:
    """#26: a bootstrap that cannot run (no such python3) and an interpreter without the dependencies each fail
    with exit 1, one message ending in a newline that names the command to run, no traceback, no file written."""
    env = _plain_env(tmp_path)
    broken = _run(
        [str(clone / "scripts" / "build-pyz")], clone, {**env, "PYTHON": str(tmp_path / "no-python3")}
    )
    assert broken.returncode == 1, broken.stderr
    assert broken.stderr.endswith("\n") and "Traceback" not in broken.stderr, broken.stderr
    last = broken.stderr.splitlines()[-1]
    assert last.startswith("build-pyz: scripts/bootstrap --venv-only failed (exit 127): run it"), last
    assert not (clone / ".venv").exists() and not (clone / "dist" / "ocireg.pyz").exists()

    bare = tmp_path / "bare"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(bare)], check=True, timeout=120)
    lacking = _run(
        [str(clone / "scripts" / "build-pyz"), "--python", str(bare / "bin" / "python")], clone, env
    )
    assert lacking.returncode == 1, lacking.stderr
    assert lacking.stderr.endswith("\n") and "Traceback" not in lacking.stderr, lacking.stderr
    assert "platformdirs" in lacking.stderr and "-m pip install" in lacking.stderr, lacking.stderr
    assert "scripts/bootstrap --venv-only" in lacking.stderr, lacking.stderr
    assert not (clone / "dist" / "ocireg.pyz").exists()


def test_pc_build_pyz_in_a_fresh_clone_runs_against_the_rig(
    clone: Path, tls_rig: Rig, tmp_path: Path
) -> None:
    """#26, PC: in a fresh clone `scripts/build-pyz` prepares .venv itself and writes dist/ocireg.pyz and its
    .sha256; `python3 -I dist/ocireg.pyz` prints its version and checks an image on the TLS rig."""
    assert tls_rig.ca_file is not None
    env = _plain_env(tmp_path)
    build = _run([str(clone / "scripts" / "build-pyz")], clone, env)
    assert build.returncode == 0, build.stdout[-2000:] + build.stderr[-3000:]
    assert "preparing .venv" in build.stderr
    pyz = clone / "dist" / "ocireg.pyz"
    digest = hashlib.sha256(pyz.read_bytes()).hexdigest()
    assert (clone / "dist" / "ocireg.pyz.sha256").read_text() == f"{digest}  ocireg.pyz\n"

    python3 = shutil.which("python3", path=env["PATH"])
    assert python3 is not None
    version = _run([python3, "-I", str(pyz), "--version"], tmp_path, env)
    assert version.returncode == 0, version.stderr
    assert version.stdout.startswith("ocireg "), version.stdout

    ref = tls_rig.ref(PROJECT, "v1.2.3")
    creds = {**env, "OCIREG_USERNAME": ALICE, "OCIREG_PASSWORD": ALICE_PASSWORD}
    exists = _run([python3, "-I", str(pyz), "--ca-file", tls_rig.ca_file, "exists", ref], tmp_path, creds)
    assert exists.returncode == 0, exists.stderr
    assert exists.stdout.split() == ["present", ref, tls_rig.seeded.digest(PROJECT, "v1.2.3")]

    again = _run([str(clone / "scripts" / "build-pyz")], clone, env)  # .venv is there now: built as before
    assert again.returncode == 0, again.stderr
    assert "preparing .venv" not in again.stderr
    assert hashlib.sha256(pyz.read_bytes()).hexdigest() == digest
