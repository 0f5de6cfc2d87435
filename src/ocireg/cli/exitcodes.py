"""The exit-code contract (docs/architecture.md §2): the one place that maps errors to exit codes."""

from __future__ import annotations

from collections.abc import Iterable
from enum import IntEnum

__all__ = ["EXIT_CODE_HELP", "ExitCode", "exit_code_for", "worst"]


class ExitCode(IntEnum):
    OK = 0
    ABSENT = 1
    USAGE = 2
    AUTH_FAILED = 3
    DENIED = 4
    NETWORK = 5
    REGISTRY = 6
    RATE_LIMITED = 7
    NOT_VERIFIED = 8
    INTERRUPTED = 130


# Most serious first: with several references the process exits with the first class present in this order.
# Usage errors outrank everything (nothing was checked as asked); network and registry faults outrank rate
# limits and credential problems; "absent" is the least serious failure because it is a definite answer, and
# "not verified" (#24) is a definite "no" too: it ranks just above "absent", below every "cannot tell".
SEVERITY: tuple[ExitCode, ...] = (
    ExitCode.INTERRUPTED,
    ExitCode.USAGE,
    ExitCode.NETWORK,
    ExitCode.REGISTRY,
    ExitCode.RATE_LIMITED,
    ExitCode.AUTH_FAILED,
    ExitCode.DENIED,
    ExitCode.NOT_VERIFIED,
    ExitCode.ABSENT,
    ExitCode.OK,
)


def _by_class() -> tuple[tuple[type[BaseException], ExitCode], ...]:
    # Imported here, not at module level: `ocireg --help` should not load the error tree's dependencies.
    from ocireg import errors

    return (
        (errors.NotVerified, ExitCode.NOT_VERIFIED),
        (errors.NotFound, ExitCode.ABSENT),
        (errors.UsageError, ExitCode.USAGE),
        (errors.CredentialError, ExitCode.AUTH_FAILED),
        (errors.AuthenticationFailed, ExitCode.AUTH_FAILED),
        (errors.PermissionDenied, ExitCode.DENIED),
        (errors.TransportError, ExitCode.NETWORK),
        (errors.RateLimited, ExitCode.RATE_LIMITED),
        (errors.RegistryError, ExitCode.REGISTRY),
    )


EXIT_CODE_HELP = """\
exit codes:
  0    success (exists: every reference is present)
  1    absent: the registry said the manifest/tag/repository does not exist
  2    usage error, invalid reference or input file
  3    authentication failed: credentials rejected, or a credential source is broken
  4    access denied: not allowed (on GitLab also: project missing or not visible)
  5    network, TLS or timeout: the registry could not be reached
  6    registry error: 5xx after retries, protocol violation, digest mismatch
  7    rate limited after retries (429)
  8    not verified: no signature by a trusted key verifies (verify, --verify-key)
  130  interrupted
  With several references the most serious code wins: 2 > 5 > 6 > 7 > 3 > 4 > 8 > 1 > 0."""


def exit_code_for(error: BaseException | None) -> ExitCode:
    if error is None:
        return ExitCode.OK
    if isinstance(error, KeyboardInterrupt):
        return ExitCode.INTERRUPTED
    for cls, code in _by_class():
        if isinstance(error, cls):
            return code
    return ExitCode.REGISTRY


def worst(codes: Iterable[int]) -> ExitCode:
    present = {ExitCode(c) for c in codes}
    for code in SEVERITY:
        if code in present:
            return code
    return ExitCode.OK
