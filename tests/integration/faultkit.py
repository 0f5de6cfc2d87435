"""Helpers shared by the fault, security, load and soak tests (FT, SEC, LD).

Not a test module: imported as ``integration.faultkit``. Everything here runs against loopback rigs only.
"""

from __future__ import annotations

import json
import os
import pty
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from clirunner import Result, creds
from rig.faultproxy import FaultProxy
from rig.tokenserver import ALICE, ALICE_PASSWORD

ALICE_ENV = creds(ALICE, ALICE_PASSWORD)
REPO = "group/project"
#: Every exit code a check may end with when it could NOT tell (never "absent", never "present").
NOT_AN_ANSWER = {2, 3, 4, 5, 6, 7, 130}


def ocireg_binary() -> str:
    """The ``ocireg`` console script of the running virtualenv (falls back to ``python -m ocireg``)."""
    candidate = Path(sys.executable).with_name("ocireg")
    return str(candidate) if candidate.exists() else ""


def ocireg_argv(*args: str) -> list[str]:
    binary = ocireg_binary()
    return [binary, *args] if binary else [sys.executable, "-m", "ocireg", *args]


# A shell without job control starts background commands with SIGINT ignored (POSIX; bash "Signals"), and an
# ignored disposition survives exec: Python then keeps ignoring it, as it should. Tests about Ctrl-C need the
# default disposition whoever started pytest, so a small exec wrapper resets it (preexec_fn would run Python
# between fork and exec in a threaded parent, which the subprocess docs warn against).
_DEFAULT_SIGINT_LAUNCHER = "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); os.execv(sys.argv[1], sys.argv[1:])"


def with_default_sigint(argv: list[str]) -> list[str]:
    """``argv`` (absolute program path first) started with SIGINT at its default disposition."""
    return [sys.executable, "-c", _DEFAULT_SIGINT_LAUNCHER, *argv]


def interrupt_when(
    argv: list[str], env: Mapping[str, str], ready: Callable[[], bool], *, timeout: float = 30.0
) -> tuple[int, str, str]:
    """Run ``argv`` (SIGINT at its default), send SIGINT once ``ready()`` holds; return (code, stdout, stderr).

    Fails if ``ready`` never holds or the process does not end within ``timeout`` after the signal: a test
    that sets up a longer hang (and ``--timeout``) thereby asserts that the interrupt is prompt.
    """
    proc = subprocess.Popen(
        with_default_sigint(argv),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=subprocess_env(env),
    )
    try:
        assert wait_until(ready, timeout=timeout), f"never ready (exit {proc.poll()})"
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=10)
    return proc.returncode, out, err


# Peak RSS of one ocireg process. getrusage()'s ru_maxrss is useless here: Linux carries the parent's peak over
# fork+exec, so a child of a big pytest worker "peaks" at the worker's size. VmHWM belongs to the process's
# own address space, which exec replaces.
MEASURED_LAUNCHER = (
    "import atexit, sys\n"
    "def _hwm():\n"
    "    with open('/proc/self/status') as f:\n"
    "        kb = next(line.split()[1] for line in f if line.startswith('VmHWM:'))\n"
    "    sys.stderr.write('OCIREG_TEST_VMHWM_KB ' + kb + '\\n')\n"
    "atexit.register(_hwm)\n"
    "from ocireg.cli import main\n"
    "code = main(sys.argv[1:])\n"
    "sys.stdout.flush()\n"
    "sys.exit(code)\n"
)


def measured_argv(*args: str) -> list[str]:
    """argv that runs ``ocireg ARGS`` and reports its own peak RSS on stderr (see :func:`split_peak_rss`)."""
    return [sys.executable, "-c", MEASURED_LAUNCHER, *args]


def split_peak_rss(stderr: str) -> tuple[str, float]:
    """(stderr without the report line, peak RSS in MB) from a :func:`measured_argv` run."""
    lines = stderr.splitlines(keepends=True)
    report = [line for line in lines if line.startswith("OCIREG_TEST_VMHWM_KB ")]
    if not report:
        raise AssertionError(f"no peak RSS report in stderr: {stderr[-500:]!r}")
    rest = "".join(line for line in lines if not line.startswith("OCIREG_TEST_VMHWM_KB "))
    return rest, int(report[-1].split()[1]) / 1024


def subprocess_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """``os.environ`` (already isolated by the autouse fixture) plus ``extra``; no user site surprises."""
    env = dict(os.environ)
    env.update(extra or {})
    env.setdefault("PYTHONDONTWRITEBYTECODE", "1")
    return env


def run_subprocess(
    args: Sequence[str],
    extra_env: Mapping[str, str] | None = None,
    *,
    timeout: float = 120,
    stdin: str | None = None,
    preexec_fn: Callable[[], None] | None = None,
) -> Result:
    """Run ``ocireg ARGS`` as a real process (signals, rlimits, RSS); bounded by ``timeout``."""
    proc = subprocess.run(
        ocireg_argv(*args),
        input=stdin,
        capture_output=True,
        text=True,
        env=subprocess_env(extra_env),
        timeout=timeout,
        preexec_fn=preexec_fn,
        check=False,
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)


def via(proxy: FaultProxy, repo: str = REPO, tag: str = "oci") -> str:
    """The reference of ``repo:tag`` through ``proxy`` (``tag`` may be ``@sha256:...``)."""
    sep = "" if tag.startswith("@") else ":"
    return f"{proxy.netloc}/{repo}{sep}{tag}"


def plain(proxy: FaultProxy) -> list[str]:
    return ["--plain-http", proxy.netloc]


def manifest_statuses(proxy: FaultProxy, tag: str, repo: str = REPO) -> list[int | None]:
    """Statuses the proxy sent for manifest requests of ``repo:tag`` (in order)."""
    path = f"/v2/{repo}/manifests/{tag}"
    return [r.status for r in proxy.requests if r.path == path]


def assert_absent_only_on_404(result: Result, proxy: FaultProxy | None = None) -> None:
    """FT invariant: ``exists`` never reports absent unless the registry answered 404 for that manifest.

    Checks text output lines (``absent REF``) and JSON/JSONL documents; with a proxy, every absent reference
    must have a 404 recorded for its manifest path.
    """
    absent: list[str] = []
    for line in result.out.splitlines():
        stripped = line.strip()
        if stripped.startswith("{"):
            try:
                doc = json.loads(stripped)
            except ValueError:
                continue
            docs = doc.get("results", [doc]) if isinstance(doc, dict) else []
            absent += [d["reference"] for d in docs if isinstance(d, dict) and d.get("status") == "absent"]
        elif stripped.startswith("absent "):
            absent.append(stripped.split()[1])
    if result.code == 1:
        assert absent, f"exit 1 without an absent line:\n{result.out}\n{result.err}"
    if proxy is None:
        assert not absent, f"absent reported without any registry 404: {absent}\n{result.err}"
        return
    for ref in absent:
        match = re.match(r"^[^/]+/(?P<repo>.+?)(?::(?P<tag>[^:@/]+))?(?:@(?P<digest>.+))?$", ref)
        assert match is not None, ref
        ident = match.group("digest") or match.group("tag")
        statuses = manifest_statuses(proxy, ident, match.group("repo"))
        assert 404 in statuses, f"{ref} reported absent, but the registry answered {statuses}"


def wait_until(predicate: Callable[[], bool], timeout: float = 20.0, interval: float = 0.02) -> bool:
    """Poll ``predicate`` until it is true or ``timeout`` seconds pass (bounded)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


def json_results(result: Result) -> list[dict[str, Any]]:
    doc = json.loads(result.out)
    assert doc["schema"] == 1
    results: list[dict[str, Any]] = doc["results"]
    return results


def stderr_on_pty(
    command: Sequence[str],
    env: Mapping[str, str],
    *,
    stdout: int | IO[bytes],
    cwd: str | os.PathLike[str] | None = None,
    timeout: float = 120,
) -> tuple[int, str]:
    """Run ``command`` with stderr on a pseudo-terminal (stdin closed); (exit code, what the terminal got)."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        list(command), cwd=cwd, env=dict(env), stdin=subprocess.DEVNULL, stdout=stdout, stderr=slave
    )
    os.close(slave)
    chunks: list[bytes] = []
    try:
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: every slave descriptor is closed (the child exited)
                break
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(master)
        code = proc.wait(timeout=timeout)
    return code, b"".join(chunks).decode("utf-8", "replace")
