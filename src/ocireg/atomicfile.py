"""Replacing a file atomically: readers see the old content or the new one, never a part (#15 item 6).

The new content goes to a temporary file in the same directory (created 0600), is flushed to the disk, gets the
mode and owner asked for, and is renamed over the target; the directory is flushed too, so the rename survives a
crash. On any failure, Ctrl-C included, the temporary file is removed and the target is untouched. Used for
Docker's ``config.json`` (``ocireg login``/``logout``) and for the files ``ocireg pin --write`` rewrites.

A SIGKILL cannot be caught: a temporary file may survive it (one of ``config.json`` holds a password). Each
temporary name carries its writer's process id, ``PREFIX<pid>-<random>SUFFIX``; before writing, the files of
exactly that pattern in the directory whose process is gone and which belong to us are removed (#23).
:func:`locked_directory` serialises read-modify-replace cycles (``login`` and ``logout`` of one
``config.json``) so that concurrent writers merge instead of clobbering each other.
"""

from __future__ import annotations

import contextlib
import os

__all__ = ["locked_directory", "replace_file", "sweep_stale"]

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator


def replace_file(
    target: str | os.PathLike[str],
    data: bytes,
    *,
    prefix: str,
    suffix: str = ".tmp",
    mode: int | None = None,
    owner: tuple[int, int] | None = None,
) -> None:
    """Replace ``target`` with ``data`` atomically; ``mode`` and ``owner`` (uid, gid) are given to the new file
    (the owner best effort: only root may give a file away). Raises :class:`OSError`; the target is then
    unchanged and no temporary file is left behind."""
    import tempfile  # only when a file is written (#16, start-up)

    directory = os.path.dirname(os.fspath(target)) or "."
    sweep_stale(directory, prefix=prefix, suffix=suffix)
    fd, temporary = tempfile.mkstemp(prefix=f"{prefix}{os.getpid()}-", suffix=suffix, dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if mode is not None:
            os.chmod(temporary, mode)
        if owner is not None and owner != (os.geteuid(), os.getegid()):
            with contextlib.suppress(OSError):
                os.chown(temporary, *owner)
        os.replace(temporary, target)
    except BaseException:  # any failure, Ctrl-C included: remove the temporary file, then re-raise
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    with contextlib.suppress(OSError):  # the rename itself is durable once the directory is flushed
        dir_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def sweep_stale(directory: str, *, prefix: str, suffix: str) -> int:
    """Remove the temporary files a killed writer left in ``directory``; returns how many.

    Only names of exactly our pattern (``prefix``, a process id, ``-``, mkstemp's 8 random characters,
    ``suffix``), only regular files (never a link) owned by us, only when that process no longer exists.
    """
    import re

    pattern = re.compile(re.escape(prefix) + r"(\d{1,10})-[a-z0-9_]{8}" + re.escape(suffix))
    removed = 0
    try:
        names = os.listdir(directory)
    except OSError:
        return 0
    for name in names:
        match = pattern.fullmatch(name)
        if match is None or _alive(int(match.group(1))):
            continue
        path = os.path.join(directory, name)
        try:
            info = os.lstat(path)
            if not os.path.isfile(path) or os.path.islink(path) or info.st_uid != os.geteuid():
                continue
            os.unlink(path)
            removed += 1
        except OSError:
            continue
    return removed


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return True  # someone else's process: not ours to judge
    return True


@contextlib.contextmanager
def locked_directory(directory: str | os.PathLike[str]) -> Iterator[None]:
    """Hold an exclusive advisory lock (``flock``) on ``directory`` itself for a read-modify-replace cycle.

    The directory, not the file: the file is replaced by a rename, so a lock on it would guard a name that
    changes inode under each writer; the directory stays, and no lock file is left beside the user's files.
    Where ``flock`` does not exist (Windows) the block runs unlocked.
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    fd = os.open(os.fspath(directory), os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock
