"""Ctrl-C during a write that must not stop half-way (docs/architecture.md §4, "Writes under faults").

``prune`` deletes tag by tag and ``delete --untag`` swaps a placeholder onto the tag and then deletes it: a
stop between those two requests would leave the tag on the placeholder. While such a write runs, the first
Ctrl-C only asks it to stop at the next safe point; a second one interrupts at once, and the write then says
where it left things (:class:`ocireg.operations.delete.SwapInterrupted`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

__all__ = ["deferred_interrupt"]


@contextmanager
def deferred_interrupt(say: Callable[[str], None], stop: threading.Event, message: str) -> Iterator[None]:
    """Within the block, the first SIGINT sets ``stop`` and ``say``s ``message``; a second raises
    ``KeyboardInterrupt``. Only the main thread receives signals: elsewhere the block runs unchanged."""
    import signal

    if threading.current_thread() is not threading.main_thread():
        yield  # signals reach the main thread only; an embedding caller handles its own
        return

    def handler(signum: int, frame: object) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        say(message)

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
