"""Replacing a file atomically: readers see the old content or the new one, never a part (#15 item 6).

The new content goes to a temporary file in the same directory (created 0600), is flushed to the disk, gets the
mode and owner asked for, and is renamed over the target; the directory is flushed too, so the rename survives a
crash. On any failure, Ctrl-C included, the temporary file is removed and the target is untouched. Used for
Docker's ``config.json`` (``ocireg login``/``logout``) and for the files ``ocireg pin --write`` rewrites.
"""

from __future__ import annotations

import contextlib
import os

__all__ = ["replace_file"]


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
    fd, temporary = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=directory)
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
