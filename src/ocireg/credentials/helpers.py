"""Docker credential helpers: ``docker-credential-<name> <action>``, run without a shell, with a timeout; their
output is never logged. Part of :mod:`ocireg.credentials`.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping

from ocireg.errors import CredentialError
from ocireg.text import LazyPattern, escape

TYPE_CHECKING = False
if TYPE_CHECKING:
    import subprocess


__all__ = ["HELPER_NAME", "HelperCredentialsNotFound", "run_helper"]

# docker-credential-helpers' errCredentialsNotFoundMessage.
_NOT_FOUND_MESSAGE = "credentials not found"
HELPER_NAME = LazyPattern(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
_HELPER_OUTPUT_LIMIT = 1024 * 1024


# ---------------------------------------------------------------------------------------------------- helpers


class HelperCredentialsNotFound(CredentialError):
    """The helper said "credentials not found" (docker's ``errCredentialsNotFound``): no credential."""


_SECRETISH_WORDS = LazyPattern(
    r"(secret|passw(or)?d|token|authorization|bearer|basic\s+[A-Za-z0-9+/=]|serverurl|username)",
    re.IGNORECASE,
)
_SECRETISH_RUN = LazyPattern(r"[A-Za-z0-9+/=_\-.~]{20,}")


def _looks_secret(line: str, payload: bytes) -> bool:
    if _SECRETISH_WORDS.search(line) or "{" in line:
        return True
    for run in _SECRETISH_RUN.findall(line):
        if any(c.isdigit() for c in run) and any(c.isalpha() for c in run):
            return True
    try:
        sent = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return False
    secret = sent.get("Secret") if isinstance(sent, dict) else None
    return isinstance(secret, str) and bool(secret) and secret in line


def _first_line(data: bytes) -> str:
    for line in data.decode("utf-8", errors="replace").splitlines():
        if line.strip():
            return line.strip()
    return ""


def _kill(proc: subprocess.Popen[bytes]) -> None:
    import signal

    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError, AttributeError, OSError):
        proc.kill()


def run_helper(
    helper: str,
    action: str,
    payload: bytes,
    *,
    env: Mapping[str, str],
    timeout: float,
    origin: str | None = None,
) -> bytes:
    """Run ``docker-credential-<helper> <action>`` with ``payload`` on stdin; return its stdout.

    The binary is found with :func:`shutil.which` on ``env["PATH"]`` and run without a shell, with ``env``
    as its environment, in its own process group (killed whole on timeout). Its output is never logged.
    ``origin`` (e.g. ``"credsStore in /home/u/.docker/config.json"``) goes into messages about a missing
    binary.

    Raises :class:`HelperCredentialsNotFound` when the helper says "credentials not found", and
    :class:`~ocireg.errors.CredentialError` when it is missing, fails, or does not answer within ``timeout``.
    """
    program = f"docker-credential-{helper}"
    if not HELPER_NAME.fullmatch(helper):
        raise CredentialError(f"{escape(program)!r} is not a credential helper name")
    where = f" ({origin})" if origin else ""
    import shutil  # only when a credential helper runs: shutil costs start-up (#16)

    path = shutil.which(program, path=env.get("PATH", os.defpath))
    if path is None:
        kind, _, file = (origin or "").partition(" in ")
        remove = f"remove {kind} from {file}" if file else "stop configuring it"
        raise CredentialError(
            f"{program} not found on PATH{where}",
            hint=f"install {program}, or {remove}",
        )
    proc, out, err = _communicate(program, path, action, payload, env=env, timeout=timeout, where=where)
    if proc.returncode != 0:
        raise _helper_failure(program, action, proc.returncode, out, err, payload)
    if len(out) > _HELPER_OUTPUT_LIMIT:
        raise CredentialError(f"credential helper {program} {action} answered more than 1 MiB")
    return out


def _communicate(
    program: str,
    path: str,
    action: str,
    payload: bytes,
    *,
    env: Mapping[str, str],
    timeout: float,
    where: str,
) -> tuple[subprocess.Popen[bytes], bytes, bytes]:
    """Run the helper at ``path`` in its own process group; killed whole on timeout or interrupt."""
    import subprocess  # here, not at the top: most runs never start a helper (start-up time)

    try:
        proc = subprocess.Popen(
            [path, action],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=dict(env),
            shell=False,
            start_new_session=True,
            close_fds=True,
        )
    except OSError as exc:
        raise CredentialError(
            f"credential helper {program} could not be started{where}: {escape(exc.strerror or str(exc))}"
        ) from None
    try:
        out, err = proc.communicate(payload, timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill(proc)
        # A grandchild that left the process group may still hold the pipes: do not wait for it forever.
        try:  # noqa: SIM105 -- contextlib is not on a check's path (#16, start-up)
            proc.communicate(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        raise CredentialError(
            f"credential helper {program} did not answer within {timeout:g}s",
            hint=f"check that {program} works (it may be waiting for a keyring unlock or a prompt)",
        ) from None
    except BaseException:  # even Ctrl-C: never leave the helper running; re-raised below
        _kill(proc)
        proc.wait()
        raise
    return proc, out, err


def _helper_failure(
    program: str, action: str, returncode: int, out: bytes, err: bytes, payload: bytes
) -> CredentialError:
    """The error for a helper that exited non-zero: "credentials not found", or its first line unless it may
    hold a secret (docs/architecture.md §4)."""
    combined = out + b"\n" + err
    if action in ("get", "erase") and _NOT_FOUND_MESSAGE.encode() in combined.lower():
        return HelperCredentialsNotFound(f"{program}: credentials not found")
    line = _first_line(err) or _first_line(out)
    if line and not _looks_secret(line, payload):
        shown = escape(line[:160]) + ("…" if len(line) > 160 else "")
        detail = f": {shown}"
    elif line:
        detail = " (its message is not shown: it may contain a secret)"
    else:
        detail = ""
    status = f"exit status {returncode}" if returncode > 0 else f"signal {-returncode}"
    return CredentialError(f"credential helper {program} {action} failed ({status}){detail}")
