"""Issue #18: the pre-commit hooks in .pre-commit-hooks.yaml, run by the real ``pre-commit`` tool
(``pre-commit try-repo``) in a temporary git repository, without any network.

``ocireg-pin-check`` (language: python) makes pre-commit build ocireg from this repository in an environment of
its own; with PIP_NO_INDEX its pip finds the build backend and the dependencies only in a local wheelhouse,
repacked here from the distributions installed in this environment (no download). ``ocireg-pin-check-system``
runs the ocireg on PATH.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import os
import re
import shutil
import subprocess
import sys
import zipfile
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 600
UNPINNED = "services:\n  web:\n    image: registry.example.com/group/app:v1.2.3\n"
PINNED = f"services:\n  web:\n    image: registry.example.com/group/app:v1.2.3@sha256:{'a' * 64}\n"

pytestmark = pytest.mark.slow


def _repack(name: str, wheelhouse: Path) -> None:
    """An installed pure-Python distribution as a wheel again (its files, METADATA, WHEEL, a fresh RECORD)."""
    dist = metadata.distribution(name)
    stem = f"{re.sub(r'[-_.]+', '_', dist.metadata['Name'])}-{dist.version}"
    info = f"{stem}.dist-info"
    records: list[tuple[str, str, str]] = []
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as wheel:
        for rel in dist.files or []:
            path = str(rel)
            if path.startswith("..") or "__pycache__" in path or path.endswith((".pyc", ".pth")):
                continue
            if ".dist-info/" in path and path.rsplit("/", 1)[1] in ("RECORD", "INSTALLER", "direct_url.json"):
                continue
            data = Path(dist.locate_file(rel)).read_bytes()
            arcname = f"{info}/{path.split('/', 1)[1]}" if ".dist-info/" in path else path
            wheel.writestr(arcname, data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            records.append((arcname, f"sha256={digest}", str(len(data))))
        out = io.StringIO()
        csv.writer(out, lineterminator="\n").writerows([*records, (f"{info}/RECORD", "", "")])
        wheel.writestr(f"{info}/RECORD", out.getvalue())
    (wheelhouse / f"{stem}-py3-none-any.whl").write_bytes(buffer.getvalue())


def _wheelhouse(directory: Path) -> Path:
    directory.mkdir()
    todo, seen = ["hatchling", "platformdirs", "rich", "ruamel.yaml"], set()
    while todo:
        name = todo.pop()
        key = re.sub(r"[-_.]+", "-", name).lower()
        if key in seen:
            continue
        seen.add(key)
        _repack(name, directory)
        for requirement in metadata.requires(name) or []:
            req = Requirement(requirement)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(req.name)
    return directory


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, timeout=60)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    repo = tmp_path / "project"
    repo.mkdir()
    _git(repo, "init", "-q")
    (repo / "deploy").mkdir()
    (repo / "deploy" / "compose.yaml").write_text(UNPINNED)
    (repo / "Dockerfile").write_text(f"FROM registry.example.com/group/base:1@sha256:{'b' * 64}\n")
    (repo / "README.md").write_text("image: registry.example.com/not/checked:1\n")
    _git(repo, "add", "-A")
    return repo


def _try_repo(project: Path, hook: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pre_commit", "try-repo", str(ROOT), hook, "--all-files"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "PYTHON", "VIRTUAL_ENV"))}
    env.update(
        {
            "PRE_COMMIT_HOME": str(tmp_path / "pre-commit-home"),
            "GIT_AUTHOR_NAME": "t",
            "GIT_AUTHOR_EMAIL": "t@example.com",
            "GIT_COMMITTER_NAME": "t",
            "GIT_COMMITTER_EMAIL": "t@example.com",
            # no route to any index: pip sees only the wheelhouse, so nothing can be downloaded
            "PIP_NO_INDEX": "1",
            "PIP_CONFIG_FILE": os.devnull,
            "PIP_DISABLE_PIP_VERSION_CHECK": "1",
            "VIRTUALENV_NO_DOWNLOAD": "1",
            "VIRTUALENV_NO_PERIODIC_UPDATE": "1",
        }
    )
    return env


def _assert_gate(project: Path, hook: str, env: dict[str, str]) -> None:
    failed = _try_repo(project, hook, env)
    output = failed.stdout + failed.stderr
    assert failed.returncode == 1, output
    assert "deploy/compose.yaml:3: not pinned to a digest: registry.example.com/group/app:v1.2.3" in output
    assert "Dockerfile" not in output.split("not pinned", 1)[1]  # the pinned Dockerfile passes
    assert "not/checked" not in output  # README.md is not a deploy file
    (project / "deploy" / "compose.yaml").write_text(PINNED)
    _git(project, "add", "-A")
    passed = _try_repo(project, hook, env)
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert "Passed" in passed.stdout


def test_system_hook_fails_on_an_unpinned_image_and_passes_when_pinned(project: Path, tmp_path: Path) -> None:
    """#18, SEC (digest pinning): `ocireg-pin-check-system` with the real pre-commit: exit 1 naming
    FILE:LINE, then 0 once the reference carries a digest; no network."""
    env = _env(tmp_path)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '/usr/bin:/bin')}"
    assert shutil.which("ocireg", path=env["PATH"]) is not None
    _assert_gate(project, "ocireg-pin-check-system", env)


def test_python_hook_installs_from_this_repository_without_an_index(project: Path, tmp_path: Path) -> None:
    """#18: `ocireg-pin-check` (language: python): pre-commit builds ocireg from the repository into its own
    environment (from a local wheelhouse only, PIP_NO_INDEX) and the gate behaves the same."""
    env = _env(tmp_path)
    env["PIP_FIND_LINKS"] = str(_wheelhouse(tmp_path / "wheelhouse"))
    env["PATH"] = "/usr/bin:/bin"  # no ocireg on PATH: the hook's own environment must provide it
    _assert_gate(project, "ocireg-pin-check", env)
