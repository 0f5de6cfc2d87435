"""``ocireg wait``: poll until every reference exists, or a deadline passes.

A deploy job often starts while the image is still being pushed by another pipeline. Polling with HEAD is
cheap (one request per reference per round with a warm token), but it must not turn a refused password or a
denied project into ten minutes of silence: those end the wait at once (exit 3/4). "Still absent" at the
deadline is reported only for references the registry last called absent; a reference whose last answer was a
network or registry fault reports that fault instead (docs/architecture.md §2: absent is only ever a registry statement).

Backoff: the first pause is ``first_delay`` (1 s), doubling each round up to ``interval``; a ``Retry-After``
the registry sent with a 429 stretches the next pause (RFC 9110 §10.2.3). The last round runs at the deadline.
The clock and sleep are injectable so the schedule is unit-tested without waiting.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from ocireg.client import RegistryClient
from ocireg.duration import MAX_DURATION, format_duration, parse_duration
from ocireg.errors import (
    AuthenticationFailed,
    CredentialError,
    NotFound,
    OciregError,
    PermissionDenied,
    RateLimited,
    RegistryError,
    TransportError,
    UsageError,
)
from ocireg.operations.batch import CheckResult, check_exists
from ocireg.record import record
from ocireg.reference import Reference

__all__ = [
    "MAX_DURATION",
    "WaitOutcome",
    "WaitProgress",
    "format_duration",
    "is_transient",
    "parse_duration",
    "wait_for",
]

MIN_POLL_SECONDS = 5.0
"""A round that starts at the deadline still gets this long to answer (a wait may overrun by at most this)."""


def is_transient(error: OciregError | None) -> bool:
    """Whether polling again may change the answer: absent, network, rate limit, 5xx.

    Credentials (3), denial (4), invalid input (2) and protocol-level faults (bad digest, malformed manifest,
    unsupported) will not fix themselves while we wait, so they end the wait at once.
    """
    if error is None:
        return False
    if isinstance(error, (UsageError, CredentialError, AuthenticationFailed, PermissionDenied)):
        return False
    if isinstance(error, (NotFound, TransportError, RateLimited)):
        return True
    # Only the base class means "5xx after retries"; subclasses are protocol violations, digest mismatches...
    return type(error) is RegistryError


@record(frozen=True)
class WaitProgress:
    """Where a wait stands after a round (for a progress line)."""

    polls: int
    present: int
    total: int
    elapsed: float
    remaining: float
    next_delay: float


@record(frozen=True)
class WaitOutcome:
    """The final state of every reference (input order) and how the wait ended."""

    results: list[CheckResult]
    polls: int
    elapsed: float
    timed_out: bool
    stopped_early: bool

    @property
    def pending(self) -> list[CheckResult]:
        return [r for r in self.results if r.status != "present"]


def wait_for(
    client: RegistryClient,
    refs: Sequence[tuple[str, Reference]],
    *,
    timeout: float,
    interval: float = 10.0,
    first_delay: float = 1.0,
    jobs: int = 8,
    request_timeout: float = 120.0,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    on_progress: Callable[[WaitProgress], None] | None = None,
) -> WaitOutcome:
    """Poll ``refs`` with HEAD until all exist, a non-transient error appears, or ``timeout`` seconds pass."""
    start = clock()
    end = start + timeout
    state: dict[int, CheckResult] = {}
    pending = list(range(len(refs)))
    polls = 0
    delay = max(0.01, min(first_delay, interval))
    while True:
        remaining = end - clock()
        per_request = min(request_timeout, max(remaining, MIN_POLL_SECONDS))
        batch = [refs[i] for i in pending]
        results = check_exists(client, batch, jobs=jobs, deadline=per_request)
        polls += 1
        for index, result in zip(pending, results, strict=True):
            state[index] = result
        pending = [i for i in pending if state[i].status != "present"]
        ordered = [state[i] for i in range(len(refs))]
        fatal = any(not is_transient(state[i].error) for i in pending)
        now = clock()
        if not pending or fatal:
            return WaitOutcome(ordered, polls, now - start, timed_out=False, stopped_early=fatal)
        if now >= end:
            return WaitOutcome(ordered, polls, now - start, timed_out=True, stopped_early=False)
        pause = delay
        advertised = [
            e.retry_after
            for i in pending
            if isinstance(e := state[i].error, RateLimited) and e.retry_after is not None
        ]
        if advertised:
            pause = max(pause, *advertised)
        pause = min(pause, end - now)
        if on_progress is not None:
            on_progress(
                WaitProgress(polls, len(refs) - len(pending), len(refs), now - start, end - now, pause)
            )
        sleep(pause)
        delay = min(interval, max(delay * 2, first_delay))
