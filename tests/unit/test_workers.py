"""FT: SIGINT — the worker pool used by batch checks, copy and delete lets go at once on Ctrl-C."""

from __future__ import annotations

import _thread
import signal
import threading

import pytest

from ocireg.operations.workers import run_bounded, run_each


def test_results_and_errors_stay_in_their_futures_in_input_order() -> None:
    def square(n: int) -> int:
        if n == 3:
            raise ValueError("three")
        return n * n

    futures = run_bounded(square, range(6), jobs=3, name="t")
    assert [f.exception() is None for f in futures] == [True, True, True, False, True, True]
    assert [f.result() for i, f in enumerate(futures) if i != 3] == [0, 1, 4, 16, 25]
    with pytest.raises(ValueError, match="three"):
        futures[3].result()


def test_interrupt_cancels_queued_items_and_does_not_join_blocked_workers() -> None:
    """Ctrl-C while workers hang: KeyboardInterrupt propagates while they are still blocked, queued items never
    start, and ``on_interrupt`` is called (``with ThreadPoolExecutor`` would run the queue and join first)."""
    release = threading.Event()
    started: list[int] = []
    lock = threading.Lock()
    stopped = threading.Event()

    def hang(n: int) -> None:
        with lock:
            started.append(n)
            if len(started) == 2:
                _thread.interrupt_main()  # as if SIGINT arrived while both workers are busy
        release.wait(5)  # bounded: without the interrupt the test fails instead of hanging

    # interrupt_main() does nothing when SIGINT is ignored, and a shell without job control starts background
    # jobs (pytest included) that way: the test installs Python's own handler for its duration.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            run_bounded(hang, range(8), jobs=2, name="t", on_interrupt=stopped.set)
        assert not release.is_set()  # returned while the two workers were still blocked: no join
        assert stopped.is_set()
    finally:
        release.set()
        signal.signal(signal.SIGINT, previous)
    assert len(started) == 2  # the 6 queued items were cancelled, never started


def test_run_each_calls_every_index_once_on_at_most_jobs_threads_and_reraises_after_all_ran() -> None:
    """#25: the batch's pool without futures: every index once, at most ``jobs`` at a time, a failure re-raised
    in the caller only after every other index ran."""
    seen: list[int] = []
    lock = threading.Lock()
    running = [0, 0]  # now, peak

    def one(n: int) -> None:
        with lock:
            running[0] += 1
            running[1] = max(running)
        try:
            if n == 7:
                raise ValueError("seven")
            threading.Event().wait(0.001)
            with lock:
                seen.append(n)
        finally:
            with lock:
                running[0] -= 1

    with pytest.raises(ValueError, match="seven"):
        run_each(one, 50, jobs=4)
    assert sorted(seen) == [n for n in range(50) if n != 7]
    assert running[1] <= 4


def test_run_each_interrupt_starts_no_further_index_and_does_not_join_blocked_workers() -> None:
    """FT: SIGINT, as for run_bounded: KeyboardInterrupt propagates while the workers are still blocked, no
    further index starts, and ``on_interrupt`` is called."""
    release = threading.Event()
    started: list[int] = []
    lock = threading.Lock()
    stopped = threading.Event()

    def hang(n: int) -> None:
        with lock:
            started.append(n)
            if len(started) == 2:
                _thread.interrupt_main()
        release.wait(5)

    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            run_each(hang, 8, jobs=2, on_interrupt=stopped.set)
        assert not release.is_set()
        assert stopped.is_set()
    finally:
        release.set()
        signal.signal(signal.SIGINT, previous)
    threading.Event().wait(0.2)  # the two released workers see the stop flag
    assert len(started) == 2
