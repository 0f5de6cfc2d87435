"""A bounded pool of worker threads that lets go at once on Ctrl-C.

``with ThreadPoolExecutor(...)`` is the wrong shape for network work that an operator may interrupt: when
``KeyboardInterrupt`` reaches the waiting thread, ``__exit__`` calls ``shutdown(wait=True)``, which first runs
every queued item (a copy would go on uploading every remaining blob) and then joins workers that may be
blocked on a registry that does not answer. Here the queued items are cancelled, the waiting thread does not
join, and the interrupt reaches the CLI at once; the CLI then leaves with ``os._exit(130)`` (FT: SIGINT).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

TYPE_CHECKING = False
if TYPE_CHECKING:
    from concurrent.futures import Future
    from typing import TypeVar

    T = TypeVar("T")
    R = TypeVar("R")

__all__ = ["run_bounded"]


def run_bounded(
    fn: Callable[[T], R],
    items: Iterable[T],
    *,
    jobs: int,
    name: str,
    on_interrupt: Callable[[], None] | None = None,
) -> list[Future[R]]:
    """Run ``fn`` over ``items`` with at most ``jobs`` threads; return the futures, all done, in input order.

    Exceptions raised by ``fn`` stay in their futures (``result()`` re-raises, ``exception()`` returns them).
    An exception in the waiting thread itself (``KeyboardInterrupt``) calls ``on_interrupt`` (tell running
    workers to stop), cancels what has not started, and propagates without waiting for running workers.
    """
    from concurrent.futures import ThreadPoolExecutor  # here: a single check never needs a pool (start-up)

    pool = ThreadPoolExecutor(max_workers=max(1, jobs), thread_name_prefix=name)
    futures: list[Future[R]] = []
    try:
        futures = [pool.submit(fn, item) for item in items]
        for future in futures:
            future.exception()  # waits; never raises what fn raised
    except BaseException:  # re-raised below, after letting go of the pool
        if on_interrupt is not None:
            on_interrupt()
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
    return futures
