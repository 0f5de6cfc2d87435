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
    from _thread import LockType
    from concurrent.futures import Future
    from typing import TypeVar

    T = TypeVar("T")
    R = TypeVar("R")

__all__ = ["run_bounded", "run_each"]


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


def run_each(
    fn: Callable[[int], None],
    count: int,
    *,
    jobs: int,
    on_interrupt: Callable[[], None] | None = None,
) -> None:
    """Call ``fn(0)`` … ``fn(count - 1)`` on at most ``jobs`` threads, each taking the next index when it is free;
    return when every call has returned, then re-raise the first exception one raised (the others still ran).

    For a batch of cheap items (one HEAD each): no future per item, no wake-up of the waiting thread per item;
    ``run_bounded``'s futures cost a 1,000-reference batch about 12 µs of CPU per reference, a tenth of the rest
    (#25). Ctrl-C as in :func:`run_bounded`: ``on_interrupt`` is called, no index is taken any more, the waiting
    thread does not join the running workers.
    """
    from _thread import allocate_lock, start_new_thread

    take = iter(range(count)).__next__  # a range iterator's next is one C call: atomic under the GIL
    errors: list[BaseException] = []
    stopped = [False]

    def worker(finished: LockType) -> None:
        try:
            while not stopped[0]:
                try:
                    index = take()
                except StopIteration:
                    return
                try:
                    fn(index)
                except BaseException as exc:  # noqa: BLE001 -- kept and re-raised in the waiting thread
                    errors.append(exc)
        finally:
            finished.release()

    finished = []
    for _ in range(max(1, min(jobs, count))):
        lock = allocate_lock()
        lock.acquire()
        finished.append(lock)
        start_new_thread(worker, (lock,))
    try:
        for lock in finished:
            # In slices: a signal handled for this thread while it waits (Ctrl-C relayed by another thread,
            # _thread.interrupt_main) raises here at the next slice at the latest.
            while not lock.acquire(timeout=0.25):
                pass
    except BaseException:
        stopped[0] = True
        if on_interrupt is not None:
            on_interrupt()
        raise
    if errors:
        raise errors[0]
