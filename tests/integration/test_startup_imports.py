"""What a warm check imports (#16, start-up): only what it needs, asserted as a set of modules, never as a time.

A check's own share of start-up (bench/README.md, "Python floor") came mostly from modules it did not need:
``dataclasses`` (which imports ``inspect``, ``ast``, ``dis`` and ``tokenize``), ``typing``, and the manifest
parser for a HEAD that parses no manifest. Each case runs the real ``ocireg`` process against the rig with a warm
token cache, under ``python -X importtime``, and reads the modules from its report. Catalogue: PC (the checks
themselves are covered elsewhere; here only the import set).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from clirunner import creds
from rig import Rig
from rig.tokenserver import ALICE, ALICE_PASSWORD

#: Never on a warm check's path: each of these cost milliseconds of start-up on every run.
NEVER = {"dataclasses", "inspect", "ast", "dis", "tokenize", "typing", "shutil", "tempfile"}
# getaddrinfo() with a str host imports the IDNA codec; ocireg dials with the (already ASCII) host as bytes (#25).
NEVER |= {"encodings.idna", "stringprep"}


_ENTRY = "import sys; from ocireg.cli import run; sys.exit(run())"


def _imported(argv: list[str], cache: Path) -> set[str]:
    return set(_import_order(argv, cache))


def _import_order(argv: list[str], cache: Path) -> list[str]:
    """The modules a warm run imports, in the order their imports finished."""
    env = dict(os.environ)
    env.update(creds(ALICE, ALICE_PASSWORD), OCIREG_CACHE_DIR=str(cache))
    # As the installed ``ocireg`` script starts it: ``-m`` would add runpy's own imports (contextlib among them).
    command = [sys.executable, "-X", "importtime", "-c", _ENTRY, *argv]
    first = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert first.returncode == 0, first.stderr[-2000:]  # fills the token cache: the next run is warm
    warm = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert warm.returncode == 0, warm.stderr[-2000:]
    modules = [
        line.rsplit("|", 1)[1].strip()
        for line in warm.stderr.splitlines()
        if line.startswith("import time:") and "imported package" not in line
    ]
    assert "ocireg.cli" in modules, "no import report: was -X importtime honoured?"
    return modules


@pytest.mark.parametrize("command", ["exists", "digest"])
def test_warm_check_imports_no_dataclasses_typing_or_manifest_parser(
    token_rig: Rig, tmp_path: Path, command: str
) -> None:
    """#16: a warm exists/digest (one HEAD) imports neither dataclasses, typing nor ocireg.manifest."""
    modules = _imported([command, token_rig.ref("group/project", "oci")], tmp_path / "cache")
    assert not modules & (NEVER | {"ocireg.manifest"})
    # RegistryClient's listing and referrers methods come in at first use (tests/unit/test_client_nouns.py).
    assert not modules & {"ocireg.client.listing", "ocireg.client.referrers"}
    # argparse builds the parser of the command that runs only: no other command module is imported.
    assert not {m for m in modules if m.startswith("ocireg.cli.")} - {
        "ocireg.cli.core",
        "ocireg.cli.context",
        "ocireg.cli.exitcodes",
        "ocireg.cli.headstart",  # the connections the command line names, begun before parsing (#25)
        "ocireg.cli.options",
        "ocireg.cli.parser",
        "ocireg.cli.progress",
        "ocireg.cli.render",
    }


def test_warm_tags_imports_no_dataclasses_or_typing(token_rig: Rig, tmp_path: Path) -> None:
    """#16: a warm tags run imports neither dataclasses nor typing (its JSON goes through ocireg.manifest)."""
    modules = _imported(["tags", f"{token_rig.host}/group/project"], tmp_path / "cache")
    assert not modules & NEVER


@pytest.mark.parametrize("command", ["exists", "digest"])
def test_warm_check_imports_no_contextlib_pathlib_or_threading_and_hashlib_after_ssl(
    token_rig: Rig, tmp_path: Path, command: str
) -> None:
    """#16: a warm exists/digest imports neither contextlib, pathlib nor threading, and hashlib only after ssl.

    contextlib served a few ``suppress`` calls and the progress display's context manager; pathlib, the paths of
    the token cache and the auth files, which os.path joins as well; threading, locks (``_thread``'s, the same
    type) and two events a single check never waits on; hashlib imported
    before ssl made OpenSSL's digest set-up cost a check twice what it costs after it (the credential fingerprint
    and the token-cache key need it, after the transport's modules are in).
    """
    order = _import_order([command, token_rig.ref("group/project", "oci")], tmp_path / "cache")
    assert not {"contextlib", "pathlib", "threading"} & set(order)
    assert "ssl" in order and "_hashlib" in order
    assert order.index("ssl") < order.index("_hashlib")


@pytest.mark.parametrize("command", ["exists", "digest"])
def test_check_imports_no_http_client_or_email_and_a_cold_one_no_tempfile(
    token_rig: Rig, tmp_path: Path, command: str
) -> None:
    """#25: ocireg reads HTTP/1.1 itself (ocireg.response), so a check imports neither http.client nor the email
    package under it (45 M instructions per run); a cold check that stores its token does it without tempfile
    (shutil, random, bz2 and lzma under it)."""
    env = dict(os.environ)
    env.update(creds(ALICE, ALICE_PASSWORD), OCIREG_CACHE_DIR=str(tmp_path / "cache"))
    command_line = [
        sys.executable,
        "-X",
        "importtime",
        "-c",
        _ENTRY,
        command,
        token_rig.ref("group/project", "oci"),
    ]
    cold = subprocess.run(command_line, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert cold.returncode == 0, cold.stderr[-2000:]
    modules = {
        line.rsplit("|", 1)[1].strip() for line in cold.stderr.splitlines() if line.startswith("import time:")
    }
    assert "ocireg.cli" in modules and (tmp_path / "cache").exists()
    assert not modules & {"http.client", "email", "email.parser", "tempfile", "shutil"}
    warm = _imported([command, token_rig.ref("group/project", "oci")], tmp_path / "cache")
    assert not warm & {"http.client", "email", "email.parser"}
