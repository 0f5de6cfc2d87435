"""operations/wait.py: what is worth polling again and the polling schedule (fake clock, BI/FT)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from ocireg.client import ManifestInfo
from ocireg.errors import (
    AuthenticationFailed,
    DigestMismatch,
    NotFound,
    OciregError,
    PermissionDenied,
    RateLimited,
    RegistryError,
    TransportError,
    UsageError,
)
from ocireg.operations.wait import is_transient, wait_for
from ocireg.reference import Digest, Reference, parse_reference

DIGEST = Digest("sha256", "a" * 64)


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        (None, False),
        (NotFound("x"), True),
        (TransportError("x"), True),
        (RateLimited("x", retry_after=3), True),
        (RegistryError("x", status=503), True),
        (DigestMismatch("x"), False),
        (AuthenticationFailed("x"), False),
        (PermissionDenied("x"), False),
        (UsageError("x"), False),
    ],
)
def test_is_transient(error: OciregError | None, transient: bool) -> None:
    assert is_transient(error) is transient


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.sleeps.append(seconds)
        self.now += seconds


class FakeClient:
    """Answers HEAD from a script: ``answer(ref, call_number) -> digest or raises``."""

    def __init__(self, answer: Callable[[Reference, int], Digest]) -> None:
        self.answer = answer
        self.calls: dict[str, int] = {}
        self.deadlines: list[float | None] = []

    def head_manifest(self, ref: Reference, *, deadline: Any = None) -> ManifestInfo:
        n = self.calls.get(str(ref), 0) + 1
        self.calls[str(ref)] = n
        self.deadlines.append(deadline.seconds if deadline is not None else None)
        return ManifestInfo(ref, self.answer(ref, n), "application/vnd.oci.image.manifest.v1+json", 100)


def refs(*texts: str) -> list[tuple[str, Reference]]:
    return [(t, parse_reference(t)) for t in texts]


def run(client: FakeClient, clock: FakeClock, texts: list[str], **kw: Any) -> Any:
    kw.setdefault("timeout", 60.0)
    kw.setdefault("interval", 8.0)
    return wait_for(client, refs(*texts), clock=clock, sleep=clock.sleep, jobs=1, **kw)  # type: ignore[arg-type]


def test_wait_present_at_once_does_not_sleep() -> None:
    clock = FakeClock()
    client = FakeClient(lambda ref, n: DIGEST)
    outcome = run(client, clock, ["r.example/a:1", "r.example/b:1"])
    assert outcome.polls == 1
    assert clock.sleeps == []
    assert [r.status for r in outcome.results] == ["present", "present"]
    assert not outcome.timed_out


def test_wait_backoff_doubles_up_to_interval_and_polls_only_pending() -> None:
    """Pauses 1, 2, 4, 8, 8 s; a present reference is not asked again."""
    clock = FakeClock()

    def answer(ref: Reference, n: int) -> Digest:
        if ref.repository.path == "b" and n < 6:
            raise NotFound("absent")
        return DIGEST

    client = FakeClient(answer)
    outcome = run(client, clock, ["r.example/a:1", "r.example/b:1"])
    assert clock.sleeps == [1, 2, 4, 8, 8]
    assert client.calls == {"r.example/a:1": 1, "r.example/b:1": 6}
    assert outcome.polls == 6
    assert [r.status for r in outcome.results] == ["present", "present"]


def test_wait_times_out_with_a_last_poll_at_the_deadline() -> None:
    clock = FakeClock()

    def absent(ref: Reference, n: int) -> Digest:
        raise NotFound("absent")

    outcome = run(FakeClient(absent), clock, ["r.example/a:1"], timeout=10.0, interval=4.0)
    assert outcome.timed_out
    assert clock.sleeps == [1, 2, 4, 3]  # the last pause ends exactly at the deadline
    assert clock.now == 1010.0
    assert outcome.polls == 5
    assert outcome.results[0].status == "absent"


@pytest.mark.parametrize("error", [AuthenticationFailed("bad password"), PermissionDenied("denied")])
def test_wait_stops_at_once_on_credentials_or_denial(error: OciregError) -> None:
    """FT/SEC: exit-3/4 conditions end the wait without polling again (GitLab throttles failed logins)."""
    clock = FakeClock()

    def fail(ref: Reference, n: int) -> Digest:
        if ref.repository.path == "b":
            raise error
        raise NotFound("absent")

    client = FakeClient(fail)
    outcome = run(client, clock, ["r.example/a:1", "r.example/b:1"])
    assert outcome.polls == 1
    assert outcome.stopped_early
    assert clock.sleeps == []
    assert outcome.results[1].error is error


def test_wait_keeps_polling_through_network_errors() -> None:
    clock = FakeClock()

    def flaky(ref: Reference, n: int) -> Digest:
        if n <= 2:
            raise TransportError("connection refused")
        return DIGEST

    outcome = run(FakeClient(flaky), clock, ["r.example/a:1"])
    assert outcome.polls == 3
    assert outcome.results[0].status == "present"


def test_wait_reports_the_last_error_at_the_deadline() -> None:
    """Absent only on a registry statement: a network error as last answer stays a network error."""
    clock = FakeClock()

    def down(ref: Reference, n: int) -> Digest:
        raise TransportError("connection refused")

    outcome = run(FakeClient(down), clock, ["r.example/a:1"], timeout=3.0)
    assert outcome.timed_out
    assert isinstance(outcome.results[0].error, TransportError)


def test_wait_honours_retry_after() -> None:
    """FT: a 429 with Retry-After 20 stretches the next pause beyond the interval."""
    clock = FakeClock()

    def limited(ref: Reference, n: int) -> Digest:
        if n == 1:
            raise RateLimited("slow down", retry_after=20.0)
        return DIGEST

    outcome = run(FakeClient(limited), clock, ["r.example/a:1"], interval=5.0)
    assert clock.sleeps == [20.0]
    assert outcome.results[0].status == "present"


def test_wait_retry_after_never_passes_the_deadline() -> None:
    clock = FakeClock()

    def limited(ref: Reference, n: int) -> Digest:
        raise RateLimited("slow down", retry_after=500.0)

    outcome = run(FakeClient(limited), clock, ["r.example/a:1"], timeout=30.0)
    assert clock.sleeps == [30.0]
    assert outcome.timed_out


def test_wait_bounds_each_poll_by_the_remaining_time() -> None:
    """Each round's requests get min(request_timeout, remaining), at least MIN_POLL_SECONDS."""
    clock = FakeClock()

    def absent(ref: Reference, n: int) -> Digest:
        raise NotFound("absent")

    client = FakeClient(absent)
    run(client, clock, ["r.example/a:1"], timeout=20.0, interval=16.0, request_timeout=12.0)
    assert client.deadlines[0] == 12.0
    assert client.deadlines[-1] == 5.0  # the round at the deadline still gets a few seconds


def test_wait_progress_callback() -> None:
    clock = FakeClock()
    seen: list[Any] = []

    def answer(ref: Reference, n: int) -> Digest:
        if n < 3:
            raise NotFound("absent")
        return DIGEST

    run(FakeClient(answer), clock, ["r.example/a:1"], on_progress=seen.append)
    assert [p.polls for p in seen] == [1, 2]
    assert seen[0].present == 0
    assert seen[0].total == 1
    assert seen[0].next_delay == 1
