"""Progress display on stderr for work that takes more than a moment (batch checks, ``wait``, ``copy``).

Shown only to a person watching: stderr must be a terminal, ``-q`` not given, ``NO_COLOR`` unset, ``TERM`` not
``dumb``, and ``OCIREG_PROGRESS`` not ``0``. Piped or redirected output, CI logs and ``-q`` runs never get a
single escape sequence from here. rich is imported only when a display is actually started, so ``--version``,
``--help`` and every non-terminal run stay free of it.

Use::

    with progress(ctx, total=len(refs), description="exists") as bar:
        results = check_exists(client, refs, on_result=bar.on_result)

``bar.advance()`` / ``bar.on_result(index, result)`` are safe to call from worker threads; with the display
off the handle is a no-op, so callers never branch on it.
"""

from __future__ import annotations

from _thread import allocate_lock  # threading.Lock itself; threading stays off a check's path (#16, start-up)
from collections.abc import Mapping

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, TextIO

    from ocireg.cli.context import Context

__all__ = ["MIN_ITEMS", "NullProgress", "ProgressBar", "progress", "progress_enabled"]

MIN_ITEMS = 5
"""Batches smaller than this finish before a bar is worth drawing."""


def progress_enabled(stream: TextIO, env: Mapping[str, str], *, quiet: bool = False) -> bool:
    """Whether a progress display may be drawn on ``stream`` (a terminal, for a person, who wants it)."""
    if quiet:
        return False
    if env.get("OCIREG_PROGRESS", "").strip().lower() in ("0", "false", "no", "off"):
        return False
    if env.get("NO_COLOR", "") != "":
        return False
    if env.get("TERM", "") == "dumb":
        return False
    isatty = getattr(stream, "isatty", None)
    if isatty is None:
        return False
    try:
        return bool(isatty())
    except (ValueError, OSError):  # closed or detached stream
        return False


class NullProgress:
    """The display when it is off: every method does nothing."""

    def advance(self, steps: int = 1) -> None:
        pass

    def on_result(self, index: int, result: object) -> None:
        pass

    def describe(self, text: str) -> None:
        pass

    def reset(self, total: int | None, description: str) -> None:
        """Start a new phase of the same work (e.g. ``prune``: resolving tags, then reading image dates)."""


class ProgressBar(NullProgress):
    """A rich progress bar on stderr (transient: it is erased when the work is done)."""

    def __init__(self, stream: TextIO, env: Mapping[str, str], total: int | None, description: str) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            SpinnerColumn,
            TextColumn,
            TimeElapsedColumn,
        )

        width = env.get("COLUMNS", "")
        console = Console(
            file=stream,
            width=int(width) if width.isdigit() and int(width) > 0 else None,
            highlight=False,
            emoji=False,
            markup=False,
        )
        self._lock = allocate_lock()
        self._progress: Any = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}", markup=False),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
            redirect_stdout=False,
            redirect_stderr=False,
        )
        self._task = self._progress.add_task(description, total=total)

    def start(self) -> None:
        self._progress.start()

    def stop(self) -> None:
        self._progress.stop()

    def advance(self, steps: int = 1) -> None:
        with self._lock:
            self._progress.advance(self._task, steps)

    def on_result(self, index: int, result: object) -> None:
        self.advance()

    def describe(self, text: str) -> None:
        with self._lock:
            self._progress.update(self._task, description=text)

    def reset(self, total: int | None, description: str) -> None:
        with self._lock:
            self._progress.reset(self._task, total=total, description=description)


def progress(
    ctx: Context, *, total: int | None, description: str, min_items: int = MIN_ITEMS, enabled: bool = True
) -> _Display:
    """A progress display for ``total`` steps (``None``: unknown, a spinner), or a no-op handle; use with ``with``.

    Off when the display is not wanted (see :func:`progress_enabled`), when ``total`` is below ``min_items``
    and when the caller says so (``enabled=False``, e.g. while results already stream to the terminal). It draws on stderr only, so stdout (text, JSON, JSONL, dotenv) is the same either way.
    """
    wanted = enabled and progress_enabled(ctx.stderr, ctx.env, quiet=ctx.quiet)
    if not wanted or (total is not None and total < min_items):
        return _Display(None)
    return _Display(lambda: ProgressBar(ctx.stderr, ctx.env, total, description))


class _Display:
    """The context manager :func:`progress` returns: a class, not ``contextlib.contextmanager``, which nothing
    else on a check's path imports (#16, start-up). A bar is made and started on entry, stopped on exit."""

    def __init__(self, make: Callable[[], ProgressBar] | None) -> None:
        self._make = make
        self._bar: ProgressBar | None = None

    def __enter__(self) -> NullProgress:
        if self._make is None:
            return NullProgress()
        self._bar = self._make()
        self._bar.start()
        return self._bar

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()
