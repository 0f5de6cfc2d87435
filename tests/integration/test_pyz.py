"""Issue #18: dist/ocireg.pyz — one file with every dependency inside, built reproducibly by scripts/build-pyz,
run with ``python3 -I -S`` (no site-packages, no environment variables read by Python) against the TLS rig.

The build takes the dependencies from this environment (the versions the suite runs with); the archive must hold
no compiled extension and no ruamel.yaml C extension, and a non-TTY run must not import rich.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from integration.faultkit import stderr_on_pty

from rig import Rig
from rig.tokenserver import ALICE, ALICE_PASSWORD

ROOT = Path(__file__).resolve().parents[2]
BUILD = ROOT / "scripts" / "build-pyz"
TIMEOUT = 300
PROJECT = "group/project"

pytestmark = pytest.mark.slow


def _build(output: Path) -> Path:
    proc = subprocess.run(
        [sys.executable, str(BUILD), "--output", str(output), "--python", sys.executable],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return output


@pytest.fixture(scope="module")
def pyz(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _build(tmp_path_factory.mktemp("pyz") / "ocireg.pyz")


def _clean_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON") and k != "VIRTUAL_ENV"}
    env.update({"PATH": "/usr/bin:/bin", "HOME": str(home), "OCIREG_USERNAME": ALICE})
    env["OCIREG_PASSWORD"] = ALICE_PASSWORD
    return env


def _run(pyz: Path, args: list[str], cwd: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    """``python3 -I -S [FLAGS] ocireg.pyz ARGS`` in a clean environment, as users start the file."""
    return subprocess.run(
        [sys.executable, "-I", "-S", *flags, str(pyz), *args],
        cwd=cwd,
        env=_clean_env(cwd),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )


def test_pyz_build_is_reproducible_and_has_its_sha256(pyz: Path, tmp_path: Path) -> None:
    """#18: two builds from the same tree are the same bytes; PYZ.sha256 is `<hex>  ocireg.pyz`."""
    again = _build(tmp_path / "ocireg.pyz")
    first = hashlib.sha256(pyz.read_bytes()).hexdigest()
    assert hashlib.sha256(again.read_bytes()).hexdigest() == first
    assert (pyz.parent / "ocireg.pyz.sha256").read_text() == f"{first}  ocireg.pyz\n"
    assert pyz.read_bytes().startswith(b"#!/usr/bin/env python3\n")


def test_pyz_is_pure_python_with_every_dependency(pyz: Path) -> None:
    """#18: ocireg, platformdirs, rich, ruamel.yaml inside; no compiled extension, no ruamel.yaml.clib;
    fixed timestamps and sorted entries."""
    with zipfile.ZipFile(pyz) as archive:
        infos = archive.infolist()
    names = [i.filename for i in infos]
    assert names == sorted(names)
    assert {i.date_time for i in infos} == {(1980, 1, 1, 0, 0, 0)}
    for top in ("__main__.py", "ocireg/cli/__init__.py", "platformdirs/__init__.py", "rich/console.py"):
        assert top in names, top
    assert "ruamel/yaml/main.py" in names
    assert not [n for n in names if n.endswith((".so", ".pyd", ".dylib", ".dll"))]
    assert not [n for n in names if "clib" in n or n.startswith("_ruamel_yaml")]


def test_pyz_runs_without_site_packages_against_the_rig(pyz: Path, tls_rig: Rig, tmp_path: Path) -> None:
    """#18, PC: `python3 -I -S ocireg.pyz` — --version, exists, digest, tags, check, pin (--check) against the
    TLS rig; nothing is imported from outside the file and the standard library."""
    assert tls_rig.ca_file is not None
    ca = ["--ca-file", tls_rig.ca_file]
    ref = tls_rig.ref(PROJECT, "v1.2.3")
    digest = tls_rig.seeded.digest(PROJECT, "v1.2.3")

    version = _run(pyz, ["--version", "-v"], tmp_path)
    assert version.returncode == 0, version.stderr
    assert version.stdout.startswith("ocireg ")
    for dependency in ("platformdirs", "rich", "ruamel.yaml"):
        assert f"\n{dependency} " in version.stdout, version.stdout

    exists = _run(pyz, [*ca, "exists", ref], tmp_path)
    assert exists.returncode == 0, exists.stderr
    assert exists.stdout.split() == ["present", ref, digest]
    absent = _run(pyz, [*ca, "exists", tls_rig.ref(PROJECT, "no-such-tag")], tmp_path)
    assert absent.returncode == 1, absent.stderr
    assert "Traceback" not in absent.stderr

    got = _run(pyz, [*ca, "digest", ref], tmp_path)
    assert got.returncode == 0, got.stderr
    assert got.stdout.strip() == digest

    tags = _run(pyz, [*ca, "-o", "json", "tags", f"{tls_rig.host}/{PROJECT}"], tmp_path)
    assert tags.returncode == 0, tags.stderr
    assert "v1.2.3" in json.dumps(json.loads(tags.stdout))

    compose = tmp_path / "compose.yaml"
    compose.write_text(f"services:\n  app:\n    image: {ref}\n")
    check = _run(pyz, [*ca, "check", str(compose)], tmp_path)
    assert check.returncode == 0, check.stderr
    assert "present" in check.stdout

    gate = _run(pyz, ["pin", "--check", "--offline", str(compose)], tmp_path)
    assert gate.returncode == 1, gate.stderr
    assert f"{compose}:3: " in gate.stdout
    pin = _run(pyz, [*ca, "pin", "--write", str(compose)], tmp_path)
    assert pin.returncode == 0, pin.stderr
    assert compose.read_text() == f"services:\n  app:\n    image: {ref}@{digest}\n"
    verified = _run(pyz, [*ca, "pin", "--check", str(compose)], tmp_path)
    assert verified.returncode == 0, verified.stderr


def test_pyz_loads_rich_only_on_a_terminal(pyz: Path, tmp_path: Path) -> None:
    """#18: a non-TTY run (CI logs) does not import rich, inside the pyz as when installed; nor does it import
    anything from outside the file and the standard library."""
    probe = (
        "import sys, runpy; pyz = sys.argv[1]; sys.path.insert(0, pyz); sys.argv = ['ocireg', '--version']\n"
        "try:\n    runpy.run_module('ocireg', run_name='__main__')\n"
        "except SystemExit:\n    pass\n"
        "mods = [m for m in sys.modules.values() if getattr(m, '__file__', None)]\n"
        "outside = [m.__name__ for m in mods if not (m.__file__.startswith(pyz) or "
        "m.__file__.startswith(sys.base_prefix))]\n"
        "print('rich' in sys.modules, outside, file=sys.stderr)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-I", "-S", "-c", probe, str(pyz)],
        cwd=tmp_path,
        env=_clean_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert proc.stderr.strip().splitlines()[-1] == "False []", proc.stderr


def test_sources_compile_on_every_supported_python() -> None:
    """#18 (the pyz, and an install, on CPython 3.10+): no string literal in ocireg holds an unpaired surrogate.
    CPython 3.13.0's compile() of the source bytes (what zipimport and an uncached import do) fails on one
    with UnicodeEncodeError; write such characters as escapes (``\\\\ud800``)."""
    import ast

    found = []
    for path in sorted((ROOT / "src" / "ocireg").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_bytes(), str(path))):
            text = node.value if isinstance(node, ast.Constant) else None
            if isinstance(text, str) and any(0xD800 <= ord(c) <= 0xDFFF for c in text):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert found == []


# zipimport reads the whole central directory at every start (about 4 us an entry on the bench machine): the file
# holds what ocireg imports and no more. 1,310 entries before #18's layout; 434 with it.
MAX_ENTRIES = 600
# `--version` imports ocireg's CLI core and nothing else from the file (no dependency).
MAX_VERSION_MODULES = 8


def test_pyz_start_up_layout(pyz: Path) -> None:
    """#18 (start-up within 10 % of the installed command): a guard on what costs time at each start, counted
    rather than timed (timings: bench/run.py). The central directory stays small (no pygments, markdown-it-py
    or mdurl, which rich requires but ocireg never imports); .pyc entries are stored, so a run on the build's
    Python never imports zlib nor inflates code; a directory has an entry only as a namespace package."""
    with zipfile.ZipFile(pyz) as archive:
        infos = archive.infolist()
    names = [i.filename for i in infos]
    assert len(names) <= MAX_ENTRIES, len(names)
    assert not [n for n in names if n.split("/")[0] in ("pygments", "markdown_it", "mdurl")]
    assert not [
        i.filename for i in infos if i.filename.endswith(".pyc") and i.compress_type != zipfile.ZIP_STORED
    ]
    assert [n for n in names if n.endswith("/")] == ["ruamel/"]


def test_pyz_version_imports_little(pyz: Path, tmp_path: Path) -> None:
    """#18: `python3 -I -S ocireg.pyz --version`, as users start it, imports no zlib (no inflating) and at most
    MAX_VERSION_MODULES modules from the file, all of them ocireg's."""
    proc = _run(pyz, ["--version"], tmp_path, "-X", "importtime")
    assert proc.returncode == 0, proc.stderr
    imported = re.findall(r"^import time:\s+\d+ \|\s+\d+ \|\s*(\S+)$", proc.stderr, re.M)
    assert "runpy" in imported, proc.stderr  # the parse found the lines
    assert "zlib" not in imported
    bundled = [m for m in imported if m.split(".")[0] in ("ocireg", "platformdirs", "rich", "ruamel")]
    assert all(m.split(".")[0] == "ocireg" for m in bundled), bundled
    assert len(bundled) <= MAX_VERSION_MODULES, bundled


def _run_on_a_terminal(pyz: Path, args: list[str], cwd: Path) -> tuple[int, str]:
    """``python3 -I -S ocireg.pyz ARGS`` with stderr on a pseudo-terminal; (exit code, terminal output)."""
    env = {**_clean_env(cwd), "TERM": "xterm-256color", "COLUMNS": "100"}
    command = [sys.executable, "-I", "-S", str(pyz), *args]
    return stderr_on_pty(command, env, stdout=subprocess.DEVNULL, cwd=cwd, timeout=TIMEOUT)


def test_pyz_progress_display_on_a_terminal(pyz: Path, tls_rig: Rig, tmp_path: Path) -> None:
    """#18, #8: on a terminal the pyz draws rich's progress display for a batch: rich works without the
    dependencies the build leaves out (pygments, markdown-it-py, mdurl)."""
    assert tls_rig.ca_file is not None
    refs = [tls_rig.ref(PROJECT, tag) for tag in ("oci", "index", "docker", "list", "v1.2.3", "stable")] * 2
    code, terminal = _run_on_a_terminal(pyz, ["--ca-file", tls_rig.ca_file, "exists", *refs], tmp_path)
    assert code == 0, terminal
    assert "Traceback" not in terminal
    assert "/12" in terminal, terminal
    assert "\x1b[" in terminal, "a live display draws with escape sequences"
