"""Issue #8: packaging — the sdist and wheel build, the metadata is complete, and a fresh virtualenv with only
the wheel (dependencies from the package index, as ``pip install``/``pipx install`` do) runs ``ocireg exists``
against the rig.

``python -m build`` builds the sdist and then the wheel *from the sdist*, so a file missing from the sdist
breaks the build here rather than on a user's machine. The fresh venv is created without pip (fast) and filled
by this environment's pip with ``--python``; commands run from a directory outside the source tree so nothing
is imported from it.
"""

from __future__ import annotations

import email.parser
import importlib.util
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from rig import Rig
from rig.registry import REQUIRE_RIG_ENV
from rig.tokenserver import ALICE, ALICE_PASSWORD

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 300

pytestmark = pytest.mark.slow


def _version() -> str:
    match = re.search(
        r'^__version__ = "([^"]+)"', (ROOT / "src" / "ocireg" / "__init__.py").read_text(), re.M
    )
    assert match is not None
    return match.group(1)


def _run(argv: list[str], cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=TIMEOUT, check=False
    )
    return proc


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if importlib.util.find_spec("build") is None:
        reason = "the 'build' package is not installed (pip install -e '.[test]')"
        if os.environ.get(REQUIRE_RIG_ENV) == "1":
            pytest.fail(f"{reason}; {REQUIRE_RIG_ENV}=1 forbids skipping", pytrace=False)
        pytest.skip(reason)
    out = tmp_path_factory.mktemp("dist")
    proc = _run([sys.executable, "-m", "build", "--outdir", str(out), str(ROOT)], cwd=out)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return out


def _wheel(dist: Path) -> Path:
    wheels = list(dist.glob("ocireg-*-py3-none-any.whl"))
    assert len(wheels) == 1, list(dist.iterdir())
    return wheels[0]


def test_wheel_and_sdist_metadata(dist: Path) -> None:
    version = _version()
    assert (dist / f"ocireg-{version}.tar.gz").is_file()
    wheel = _wheel(dist)
    assert wheel.name == f"ocireg-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        info = f"ocireg-{version}.dist-info"
        metadata = email.parser.Parser().parsestr(archive.read(f"{info}/METADATA").decode())
        entry_points = archive.read(f"{info}/entry_points.txt").decode()
    assert "ocireg/py.typed" in names
    assert f"{info}/licenses/LICENSE" in names
    assert "ocireg/cli/__init__.py" in names and "ocireg/cli/completion.py" in names
    assert not any(name.startswith(("tests/", "rig/", "bench/")) for name in names)
    assert metadata["Name"] == "ocireg"
    assert metadata["Version"] == version
    assert metadata["License-Expression"] == "Apache-2.0"
    assert metadata["Requires-Python"] == ">=3.10"
    assert metadata["Summary"]
    assert metadata["Description-Content-Type"] == "text/markdown"
    assert "ocireg exists" in (metadata.get_payload() or "")  # the README is the long description
    classifiers = metadata.get_all("Classifier") or []
    assert "Typing :: Typed" in classifiers
    assert "Programming Language :: Python :: 3 :: Only" in classifiers
    assert {url.split(",")[0] for url in metadata.get_all("Project-URL") or []} >= {
        "Homepage",
        "Documentation",
        "Changelog",
        "Issues",
    }
    requires = " ".join(metadata.get_all("Requires-Dist") or [])
    for dependency in ("platformdirs", "rich"):
        assert dependency in requires
    # #16: HTTP on the standard library; truststore only where the platform has no OpenSSL CA store.
    assert "httpx" not in requires
    truststore = [r for r in metadata.get_all("Requires-Dist") or [] if r.startswith("truststore")]
    assert truststore and all("sys_platform" in r and "linux" not in r for r in truststore)
    assert "ocireg = ocireg.cli:console" in entry_points


def test_fresh_venv_from_the_wheel_runs_against_the_rig(tls_rig: Rig, dist: Path, tmp_path: Path) -> None:
    assert tls_rig.ca_file is not None
    venv = tmp_path / "fresh"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    made = _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], cwd=elsewhere)
    assert made.returncode == 0, made.stderr
    python = venv / "bin" / "python"
    installed = _run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "-q", str(_wheel(dist))],
        cwd=elsewhere,
    )
    assert installed.returncode == 0, installed.stdout[-3000:] + installed.stderr[-3000:]

    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}/usr/bin:/bin"
    env.update({"OCIREG_USERNAME": ALICE, "OCIREG_PASSWORD": ALICE_PASSWORD})
    ocireg = str(venv / "bin" / "ocireg")

    where = _run([str(python), "-c", "import ocireg, sys; print(ocireg.__file__)"], cwd=elsewhere, env=env)
    assert where.returncode == 0, where.stderr
    assert where.stdout.strip().startswith(str(venv)), where.stdout

    version = _run([ocireg, "--version"], cwd=elsewhere, env=env)
    assert version.returncode == 0, version.stderr
    assert version.stdout == f"ocireg {_version()}\n"

    ref = tls_rig.ref("group/project", "v1.2.3")
    present = _run([ocireg, "exists", "--ca-file", tls_rig.ca_file, ref], cwd=elsewhere, env=env)
    assert present.returncode == 0, present.stderr
    assert present.stdout.split() == ["present", ref, tls_rig.seeded.digest("group/project", "v1.2.3")]

    missing = tls_rig.ref("group/project", "no-such-tag")
    absent = _run(
        [str(python), "-m", "ocireg", "exists", "--ca-file", tls_rig.ca_file, missing], elsewhere, env
    )
    assert absent.returncode == 1, absent.stderr
    assert absent.stdout.startswith("absent")

    completion = _run([ocireg, "completion", "bash"], cwd=elsewhere, env=env)
    assert completion.returncode == 0 and "complete -F _ocireg ocireg" in completion.stdout
