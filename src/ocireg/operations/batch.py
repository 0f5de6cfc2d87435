"""Batch existence and digest checks: the heart of `ocireg exists` and `ocireg digest`.

Batch work shares one :class:`~ocireg.client.RegistryClient` (one connection pool, one token per scope) across
a bounded thread pool, and returns one result per reference in input order.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ocireg.client import RegistryClient
from ocireg.errors import InvalidReference, NotFound, OciregError, RegistryError
from ocireg.operations.workers import run_each
from ocireg.record import record
from ocireg.reference import Digest, Reference, parse_reference
from ocireg.transport import Deadline

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ocireg.manifest import Platform

__all__ = ["MAX_JOBS", "CheckResult", "check_digests", "check_exists", "parse_references"]

MAX_JOBS = 32


@record(frozen=True)
class CheckResult:
    """The answer for one reference: present (with digest), absent (registry said so), or an error."""

    text: str
    reference: Reference | None
    digest: Digest | None = None
    media_type: str | None = None
    error: OciregError | None = None

    @property
    def status(self) -> str:
        if self.error is None:
            return "present"
        if isinstance(self.error, NotFound):
            return "absent"
        return "error"


def parse_references(texts: Sequence[str]) -> list[tuple[str, Reference | InvalidReference]]:
    """Parse every reference before any network I/O; invalid ones come back as their error."""
    out: list[tuple[str, Reference | InvalidReference]] = []
    for text in texts:
        try:
            out.append((text, parse_reference(text)))
        except InvalidReference as exc:
            out.append((text, exc))
    return out


class _Stop:
    """Set once, read by every worker: a flag, as ``threading.Event`` without its ``wait``, which nothing here
    calls; threading stays off a check's path (#16, start-up)."""

    __slots__ = ("_set",)

    def __init__(self) -> None:
        self._set = False

    def set(self) -> None:
        self._set = True

    def is_set(self) -> bool:
        return self._set


def _run_batch(
    refs: Sequence[tuple[str, Reference]],
    one: Callable[[str, Reference], CheckResult],
    *,
    jobs: int,
    fail_fast: bool,
    on_result: Callable[[int, CheckResult], None] | None,
) -> list[CheckResult]:
    jobs = max(1, min(jobs, MAX_JOBS, len(refs) or 1))
    results: list[CheckResult | None] = [None] * len(refs)
    stop = _Stop()

    def work(index: int) -> None:
        text, ref = refs[index]
        if stop.is_set():
            result = CheckResult(text, ref, error=RegistryError("not checked: stopped at the first error"))
        else:
            result = one(text, ref)
            if fail_fast and result.status == "error":
                stop.set()
        results[index] = result
        if on_result is not None:
            on_result(index, result)

    if jobs == 1:
        for i in range(len(refs)):
            work(i)
    else:
        # Ctrl-C (FT: SIGINT): no further reference is started and the interrupt reaches the CLI at once.
        run_each(work, len(refs), jobs=jobs, on_interrupt=stop.set)
    return [r for r in results if r is not None]


def check_exists(
    client: RegistryClient,
    refs: Sequence[tuple[str, Reference]],
    *,
    jobs: int = 8,
    fail_fast: bool = False,
    on_result: Callable[[int, CheckResult], None] | None = None,
    deadline: float | None = None,
) -> list[CheckResult]:
    """HEAD each manifest: present with its digest, absent only on a registry 404, else the error.

    ``deadline``: seconds each reference may take, retries included (default: the client's ``config.deadline``).
    """

    def one(text: str, ref: Reference) -> CheckResult:
        try:
            info = client.head_manifest(ref, deadline=Deadline(deadline) if deadline is not None else None)
        except OciregError as exc:
            return CheckResult(text, ref, error=exc)
        return CheckResult(text, ref, digest=info.digest, media_type=info.media_type)

    return _run_batch(refs, one, jobs=jobs, fail_fast=fail_fast, on_result=on_result)


def check_digests(
    client: RegistryClient,
    refs: Sequence[tuple[str, Reference]],
    *,
    platform: Platform | None = None,
    jobs: int = 8,
    fail_fast: bool = False,
    on_result: Callable[[int, CheckResult], None] | None = None,
) -> list[CheckResult]:
    """Resolve each reference to its digest (with ``platform``: that platform's image digest)."""

    def one(text: str, ref: Reference) -> CheckResult:
        try:
            digest = client.digest(ref, platform=platform)
        except OciregError as exc:
            return CheckResult(text, ref, error=exc)
        return CheckResult(text, ref, digest=digest)

    return _run_batch(refs, one, jobs=jobs, fail_fast=fail_fast, on_result=on_result)
