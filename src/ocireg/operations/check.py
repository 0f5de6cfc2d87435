"""``ocireg check`` as a library function: the image references found in deploy files, each checked to exist.

:func:`check_files` scans paths and checks what it found; :func:`check_findings` checks findings already
scanned (the CLI scans first, to report unreadable files its own way). Each distinct reference is asked once,
with the exists batch of :mod:`ocireg.operations.batch`; every finding gets its own result, in scan order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ocireg.client import RegistryClient
from ocireg.errors import InvalidReference, OciregError
from ocireg.operations.batch import CheckResult, check_exists
from ocireg.operations.files import Finding, Scan, VariablePolicy, scan_paths
from ocireg.record import record
from ocireg.reference import Digest, Reference, parse_reference

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ocireg.operations.verify import VerifyResult
    from ocireg.signatures.policy import TrustPolicy

__all__ = ["FileResult", "check_files", "check_findings"]


@record(frozen=True)
class FileResult:
    """One finding's outcome: ``present`` (with digest), ``absent``, ``error`` or ``skipped`` (not resolved)."""

    finding: Finding
    reference: Reference | None
    status: str
    digest: Digest | None = None
    error: OciregError | None = None


def check_findings(
    client: RegistryClient, findings: Sequence[Finding], *, jobs: int = 8, verify: TrustPolicy | None = None
) -> list[FileResult]:
    """Check every finding; a skipped finding stays skipped, an invalid reference is its error.

    ``verify`` (#24): each image must also be signed under that policy; the statuses are then ``verified``,
    ``not-verified`` (a :class:`~ocireg.errors.NotVerified` error), ``absent`` or ``error``.
    """
    results: list[FileResult | None] = [None] * len(findings)
    unique: dict[str, Reference] = {}
    refs: dict[int, Reference] = {}
    for i, finding in enumerate(findings):
        if finding.text is None:
            results[i] = FileResult(finding, None, "skipped")
            continue
        try:
            ref = parse_reference(finding.text)
        except InvalidReference as exc:
            results[i] = FileResult(finding, None, "error", error=exc)
            continue
        refs[i] = ref
        unique.setdefault(str(ref), ref)
    checked: dict[str, CheckResult | VerifyResult] = {}
    if unique and verify is not None:
        from ocireg.operations.verify import verify_references

        checked.update(
            (r.text, r) for r in verify_references(client, list(unique.items()), verify, jobs=jobs)
        )
    elif unique:
        checked.update((r.text, r) for r in check_exists(client, list(unique.items()), jobs=jobs))
    for i, ref in refs.items():
        outcome = checked[str(ref)]
        results[i] = FileResult(findings[i], ref, outcome.status, outcome.digest, outcome.error)
    return [r for r in results if r is not None]


def check_files(
    client: RegistryClient,
    paths: Sequence[str],
    env: Mapping[str, str],
    *,
    policy: VariablePolicy | None = None,
    jobs: int = 8,
) -> tuple[Scan, list[FileResult]]:
    """Scan ``paths`` (``env`` expands variables, guarded by ``policy``) and check every reference found.

    Files that cannot be read or parsed are in ``Scan.problems``; the caller decides what they mean.
    """
    scan = scan_paths(paths, env, policy=policy)
    return scan, check_findings(client, scan.findings, jobs=jobs)
