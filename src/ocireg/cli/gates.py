"""CI deploy gates: ``ocireg wait``, ``ocireg check`` and ``ocireg pin``.

``wait`` polls until images exist; ``check`` verifies every image a set of deployment files refers to; ``pin``
rewrites those references to ``repo:tag@sha256:…``. The logic lives in :mod:`ocireg.operations.wait`,
:mod:`ocireg.operations.check` and :mod:`ocireg.operations.pin`; this module parses, calls and renders.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from ocireg.cli.exitcodes import EXIT_CODE_HELP, ExitCode, exit_code_for, worst
from ocireg.cli.options import (
    CREDENTIALS_HELP,
    add_common_options,
    add_from_file_option,
    add_jobs_option,
    add_platform_option,
    add_verify_key_option,
    positive_duration,
)
from ocireg.cli.parser import add_command
from ocireg.cli.render import error_json, print_error, result_json, result_row, text_table, write_json
from ocireg.errors import OciregError, UsageError
from ocireg.text import escape

if TYPE_CHECKING:
    from ocireg.cli.context import Context
    from ocireg.operations.check import FileResult
    from ocireg.operations.files import FileProblem, Finding, Scan, VariablePolicy
    from ocireg.operations.pin import FilePlan, PinChange, PinStatus
    from ocireg.operations.wait import WaitOutcome, WaitProgress

__all__ = ["add_allow_env_option", "cmd_check", "cmd_pin", "cmd_wait", "register", "variable_policy"]

DEFAULT_WAIT = "10m"
DEFAULT_INTERVAL = "10s"
DEFAULT_WAIT_SECONDS = 600.0  # literal, so building the parser parses nothing
DEFAULT_INTERVAL_SECONDS = 10.0

WAIT_EPILOG = f"""\
examples:
  ocireg wait registry.example.com/group/app:v1.2.3 --timeout 10m
  ocireg wait :$CI_COMMIT_SHA --timeout 15m --interval 30s    # inside GitLab CI
  ocireg wait app:1 worker:1 --timeout 90s -o json
  ocireg wait :$CI_COMMIT_SHA --timeout 15m -o dotenv > image.env   # OCIREG_DIGEST=sha256:...

Polls with HEAD until every reference exists: the pause starts at 1s and doubles up to
--interval; a Retry-After from the registry is honoured. A refused login (3), denied
access (4) or an invalid reference (2) ends the wait at once. At the deadline the
references still absent are listed and the exit code is 1 (or the code of the last
network/registry error, if that was the last answer). A progress line is shown on a
terminal only.

--timeout here is the whole wait (a duration: 90s, 10m, 1h30m; default {DEFAULT_WAIT});
each round of requests may run past it by at most a few seconds.

{EXIT_CODE_HELP}

{CREDENTIALS_HELP}"""

ALLOW_ENV_HELP = """\
secrets in deploy files: a variable whose name marks a secret (*PASSWORD*,
*PASSWD*, *TOKEN*, *SECRET*, *_AUTH*, AUTH_*, *KEY*, *CREDENTIAL*, *JWT*, e.g.
CI_JOB_TOKEN, DOCKER_AUTH_CONFIG) or whose value is a credential ocireg holds is
never expanded: the reference is listed as skipped with the reason and nothing is
sent. Allow a name that is not a secret with --allow-env NAME (repeatable; also
OCIREG_ALLOW_ENV=NAME,NAME)."""

CHECK_EPILOG = f"""\
examples:
  ocireg check docker-compose.yml
  ocireg check k8s/ .gitlab-ci.yml Dockerfile     # directories are searched recursively
  ocireg check -o json deploy/ > images.json
  IMAGE_TAG=v1.2.3 ocireg check compose.yaml      # ${{IMAGE_TAG}} is expanded from the environment

Finds image references in docker-compose / swarm stack files (services.*.image),
Kubernetes manifests (containers, initContainers, ephemeralContainers of any pod
template), .gitlab-ci.yml (image, services; jobs and default), Dockerfiles (FROM and
COPY --from, with global ARG defaults), Helm values (image.repository + image.tag /
image.digest) and kustomizations (images: newName or name, newTag, digest), and checks
that each exists, each reported with FILE:LINE.

References with ${{VARIABLES}} are expanded from the environment (compose files also
read their .env; GitLab CI files their variables:); unresolved ones are listed as
skipped (exit 2 with --strict or --verify-key). The exit code is that of 'ocireg
exists' for all references: 2 > 5 > 6 > 7 > 3 > 4 > 8 > 1 > 0.

{ALLOW_ENV_HELP}

{EXIT_CODE_HELP}"""

PIN_EPILOG = f"""\
examples:
  ocireg pin docker-compose.yml                    # show the diff, change nothing
  ocireg pin --write k8s/ Dockerfile               # rewrite the files in place
  ocireg pin --write --update .                    # refresh pins whose tag moved
  ocireg pin --platform linux/arm64 --write compose.yaml
  ocireg pin deploy/ > pin.patch && git apply pin.patch
  ocireg pin --check --offline deploy/             # a gate: fail on references without a digest
  ocireg pin --check deploy/                       # ... and verify the pinned digests exist

Rewrites each image reference to repo:tag@sha256:… (a reference without a tag gets
':latest' written out). Only the image values change: comments, quoting, key order and
indentation stay byte for byte. Without --write the unified diff goes to stdout and
nothing is written. Already pinned references are verified and kept; with --update
they are refreshed when the tag now points elsewhere. Pinning twice changes nothing.

--write replaces each file atomically and keeps its mode; if any reference cannot be
resolved, or a file could not be written in place by you (read-only, owned by another
user), no file is written. A file that is a symbolic link to a target outside the
paths given is skipped and reported (--follow-symlinks writes through it). References with variables, aliases or block scalars are
reported as skipped and left alone. A kustomize image is pinned in its digest: field
(add an empty 'digest:' to the entry); kustomize then deploys that digest.

--check changes nothing and prints FILE:LINE for each reference by tag without a
digest (exit 1; 0 when all are pinned); it also verifies each pinned digest in the
registry (and reports a tag that moved). With --offline nothing is sent: only the
files are read (for a pre-commit hook). References built from variables cannot be
judged and are reported as skipped.

{ALLOW_ENV_HELP}

{EXIT_CODE_HELP}"""


# ----------------------------------------------------------------------------------------------------------------
# Registration
# ----------------------------------------------------------------------------------------------------------------


def _env_name(text: str) -> str:
    import re

    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", text, re.ASCII):
        raise argparse.ArgumentTypeError(f"not a variable name: {escape(text)!r}")
    return text


def add_allow_env_option(parser: argparse._ActionsContainer) -> None:
    """``--allow-env NAME``: for commands that read deploy files (check, pin, prune --keep-files)."""
    parser.add_argument(
        "--allow-env",
        type=_env_name,
        action="append",
        metavar="NAME",
        help="expand $NAME in deploy files although its name looks like a secret's (repeatable; also "
        "OCIREG_ALLOW_ENV=NAME,NAME); without it such references are skipped and nothing is sent",
    )


def variable_policy(ctx: Context) -> VariablePolicy:
    """The variable policy for reading deploy files: ``--allow-env`` / ``OCIREG_ALLOW_ENV`` names, and every
    credential ocireg holds (explicit, environment, docker/podman files; no helper is run)."""
    from ocireg.credentials import held_secrets
    from ocireg.operations.files import VariablePolicy, names_secret

    allowed = list(getattr(ctx.args, "allow_env", None) or [])
    for name in ctx.env.get("OCIREG_ALLOW_ENV", "").replace(",", " ").split():
        try:
            allowed.append(_env_name(name))
        except argparse.ArgumentTypeError as exc:
            raise UsageError(f"OCIREG_ALLOW_ENV: {exc}") from None
    secrets = set(held_secrets(ctx.credential_chain()))
    # Any variable named like a secret is a credential held too (CI_JOB_TOKEN, CI_REGISTRY_PASSWORD, ...): a
    # harmless-looking variable holding the same value is refused. Very short values are not compared.
    secrets.update(v for k, v in ctx.env.items() if names_secret(k) and k not in allowed and len(v) >= 6)
    return VariablePolicy(allow=frozenset(allowed), secrets=frozenset(secrets))


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    _wait_parser(sub)
    _check_parser(sub)
    _pin_parser(sub)


def _wait_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = add_command(
        sub,
        "wait",
        description="Poll until every reference exists, or until --timeout.",
        epilog=WAIT_EPILOG,
        # The common --timeout (seconds per operation) is replaced by the wait's own: the whole wait is the
        # operation here, and CI users write it as a duration.
        conflict_handler="resolve",
    )
    p.add_argument(
        "references", nargs="*", metavar="REF", help="image reference, e.g. registry/group/app:tag"
    )
    add_common_options(p, dotenv=True)
    group = p.add_argument_group("waiting")
    group.add_argument(
        "--timeout",
        type=positive_duration,
        default=DEFAULT_WAIT_SECONDS,
        metavar="DURATION",
        help=f"give up after this long, e.g. 90s, 10m, 1h (default {DEFAULT_WAIT})",
    )
    group.add_argument(
        "--interval",
        type=positive_duration,
        default=DEFAULT_INTERVAL_SECONDS,
        metavar="DURATION",
        help=f"longest pause between polls (default {DEFAULT_INTERVAL}); pauses start at 1s and double",
    )
    add_from_file_option(group)
    add_jobs_option(group, "references checked concurrently")


def _check_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = add_command(
        sub,
        "check",
        "Find the image references in files and directories and check that each exists.",
        CHECK_EPILOG,
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help="file or directory (searched recursively)")
    p.add_argument(
        "--strict",
        action="store_true",
        help="fail (exit 2) when a reference is skipped (unresolved variable, template)",
    )
    add_verify_key_option(p)
    add_allow_env_option(p)
    add_common_options(p)
    add_jobs_option(p, "references checked concurrently")


def _pin_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = add_command(sub, "pin", "Pin the image references in files to their current digests.", PIN_EPILOG)
    p.add_argument("paths", nargs="+", metavar="PATH", help="file or directory (searched recursively)")
    p.add_argument("--write", "-w", action="store_true", help="rewrite the files (default: print a diff)")
    p.add_argument("--update", action="store_true", help="refresh pinned references whose tag moved")
    p.add_argument(
        "--check",
        action="store_true",
        help="change nothing: exit 1 and list FILE:LINE for each reference without a digest; "
        "verify the pinned digests in the registry",
    )
    p.add_argument(
        "--offline",
        action="store_true",
        help="with --check: send nothing, only read the files (e.g. in a pre-commit hook)",
    )
    p.add_argument(
        "--follow-symlinks",
        action="store_true",
        help="with --write, also rewrite files that are symbolic links to targets outside the given paths "
        "(default: skipped and reported)",
    )
    add_platform_option(p, "pin this platform's image instead of the index")
    add_verify_key_option(p)
    add_allow_env_option(p)
    add_common_options(p)
    add_jobs_option(p, "references checked concurrently")


# ----------------------------------------------------------------------------------------------------------------
# wait
# ----------------------------------------------------------------------------------------------------------------


def _wait_status(progress: WaitProgress) -> str:
    """The status line of a wait, after each round of polls."""
    from ocireg.duration import format_duration

    return (
        f"waiting: {progress.present}/{progress.total} present after {progress.polls} "
        f"poll{'s' if progress.polls != 1 else ''}; next in {format_duration(progress.next_delay)}, "
        f"{format_duration(progress.remaining)} left"
    )


def cmd_wait(ctx: Context) -> int:
    from ocireg.cli.core import parse_reference_args, read_reference_args
    from ocireg.cli.progress import progress
    from ocireg.operations.wait import wait_for

    texts = read_reference_args(ctx)
    parsed = parse_reference_args(ctx, texts)
    if parsed is None:
        return ExitCode.USAGE
    timeout = float(ctx.args.timeout)
    # The progress display every command uses (docs/architecture.md §6): a status line on a terminal only.
    with progress(ctx, total=None, description="waiting", min_items=0) as display:
        outcome = wait_for(
            ctx.client(),
            parsed,
            timeout=timeout,
            interval=float(ctx.args.interval),
            jobs=int(ctx.args.jobs),
            request_timeout=min(120.0, max(timeout, 5.0)),
            on_progress=lambda state: display.describe(_wait_status(state)),
        )
    code = worst(exit_code_for(r.error) for r in outcome.results)
    _render_wait(ctx, outcome, code)
    return code


def _render_wait(ctx: Context, outcome: WaitOutcome, code: ExitCode) -> None:
    from ocireg.duration import format_duration

    results = outcome.results
    if ctx.output == "json" and not ctx.quiet:
        write_json(
            ctx,
            "wait",
            {
                "results": [result_json(r) for r in results],
                "polls": outcome.polls,
                "elapsed_seconds": round(outcome.elapsed, 3),
                "timed_out": outcome.timed_out,
                "exit_code": int(code),
            },
        )
    elif ctx.output == "dotenv" and not ctx.quiet:
        from ocireg.cli.core import render_dotenv

        render_dotenv(ctx, results)  # the same keys as `exists -o dotenv`, for a downstream deploy job
    elif not ctx.quiet:
        for line in text_table([result_row(r) for r in results]):
            ctx.out(line)
    for result in results:
        if result.error is not None and result.status == "error":
            print_error(ctx, result.error)
    absent = [r for r in results if r.status == "absent"]
    if outcome.timed_out and absent:
        names = ", ".join(escape(str(r.reference) if r.reference else r.text) for r in absent)
        ctx.err(
            f"ocireg: error: still absent after {format_duration(outcome.elapsed)} "
            f"({outcome.polls} polls): {names}"
        )


# ----------------------------------------------------------------------------------------------------------------
# check
# ----------------------------------------------------------------------------------------------------------------


def _scan(ctx: Context) -> tuple[Scan, int]:
    """Scan the paths; report unreadable/unparsable files. Returns the scan and USAGE if a named file failed."""
    from ocireg.operations.files import scan_paths

    paths = list(ctx.args.paths)
    scan = scan_paths(paths, ctx.env, policy=variable_policy(ctx))
    code = ExitCode.OK
    for problem in scan.problems:
        if problem.path in paths:
            _print_problem(ctx, problem, error=True)
            code = ExitCode.USAGE
        else:
            _print_problem(ctx, problem, error=False)
    return scan, code


def _print_problem(ctx: Context, problem: FileProblem, *, error: bool) -> None:
    where = escape(problem.path) + (f":{problem.line}" if problem.line else "")
    message = escape(problem.message).replace(escape(problem.path) + ": ", "")
    if error:
        ctx.err(f"ocireg: error: {where}: {message}")
    else:
        ctx.warn(f"{where}: skipped: {message}")


def cmd_check(ctx: Context) -> int:
    from ocireg.cli.verify import verify_key_policy

    policy = verify_key_policy(ctx)
    scan, code = _scan(ctx)
    if code != ExitCode.OK:
        return code
    from ocireg.operations.check import check_findings

    results = check_findings(ctx.client(), scan.findings, jobs=int(ctx.args.jobs), verify=policy)
    code = worst(exit_code_for(r.error) for r in results)
    skipped = [r for r in results if r.status == "skipped"]
    # With --verify-key a skipped image (an unresolved variable) is one the deploy runs unverified: never a pass.
    if skipped and (ctx.args.strict or policy is not None):
        code = worst([code, ExitCode.USAGE])
    _render_check(ctx, scan, results, code)
    for r in skipped if policy is not None else ():
        reason = escape(r.finding.skipped or "skipped")
        ctx.err(f"ocireg: error: {escape(r.finding.location)}: cannot be verified: {reason}")
    return code


def _finding_json(finding: Finding) -> dict[str, object]:
    return {
        "file": finding.path,
        "line": finding.line,
        "column": finding.column,
        "kind": finding.kind,
        "field": finding.field,
        "input": finding.raw,
        "expanded": finding.text,
    }


def _render_check(ctx: Context, scan: Scan, results: Sequence[FileResult], code: ExitCode) -> None:
    if not results:
        ctx.warn(f"no image references found in {len(scan.files)} file(s)")
    if ctx.output == "json" and not ctx.quiet:
        docs = [_check_json(r) for r in results]
        write_json(ctx, "check", {"files": scan.files, "results": docs, "exit_code": int(code)})
    elif not ctx.quiet:
        for line in text_table([_check_row(r) for r in results]):
            ctx.out(line)
    for r in results:
        if r.error is not None and r.status in ("error", "not-verified"):
            print_error(ctx, r.error, prefix=f"{escape(r.finding.location)}: ")


def _check_json(r: FileResult) -> dict[str, object]:
    doc = _finding_json(r.finding)
    doc.update(
        {
            "reference": str(r.reference) if r.reference is not None else None,
            "status": r.status,
            "digest": str(r.digest) if r.digest else None,
        }
    )
    if r.status == "skipped":
        doc["reason"] = r.finding.skipped
    if r.error is not None:
        doc["error"] = error_json(r.error)
    doc["exit_code"] = int(exit_code_for(r.error))
    return doc


def _check_row(r: FileResult) -> list[str]:
    if r.status in ("present", "verified"):
        detail = str(r.digest or "")
    elif r.status == "skipped":
        detail = escape(r.finding.skipped or "")
    elif r.status == "absent":
        detail = ""
    else:
        detail = f"exit {int(exit_code_for(r.error))}"
    return [escape(r.finding.location), r.status, escape(r.finding.text or r.finding.raw), detail]


# ----------------------------------------------------------------------------------------------------------------
# pin
# ----------------------------------------------------------------------------------------------------------------


def cmd_pin(ctx: Context) -> int:
    from ocireg.operations.pin import plan_pins, write_atomic

    _check_pin_options(ctx)
    if ctx.args.check:
        return _pin_check(ctx)
    from ocireg.cli.verify import verify_key_policy

    policy = verify_key_policy(ctx)
    platform = None
    if ctx.args.platform:
        from ocireg.manifest import parse_platform

        platform = parse_platform(ctx.args.platform)
    scan, code = _scan(ctx)
    if code != ExitCode.OK:
        return code
    plans = (
        plan_pins(
            ctx.client(),
            scan,
            ctx.env,
            platform=platform,
            update=bool(ctx.args.update),
            jobs=int(ctx.args.jobs),
            verify=policy,
        )
        if scan.findings
        else []
    )
    changes = [c for plan in plans for c in plan.changes]
    code = worst(exit_code_for(c.error) for c in changes)
    written: list[str] = []
    not_written: dict[str, str] = {}
    if ctx.args.write and code == ExitCode.OK:
        to_write, not_written, refused = _writable_plans(ctx, plans)
        for path, reason in refused:
            ctx.err(f"ocireg: error: {escape(path)}: {escape(reason)}; not written")
        if refused:
            ctx.err("ocireg: error: no file was written")
            code = ExitCode.USAGE
            to_write = []
        for plan in to_write:
            try:
                write_atomic(plan.path, plan.new_text, plan.old_text)
            except OciregError:
                # Each file is replaced atomically, but not all files at once: say which ones already were.
                if written:
                    ctx.err(f"ocireg: files already rewritten: {', '.join(escape(p) for p in written)}")
                raise
            written.append(plan.path)
    elif ctx.args.write and any(plan.changed for plan in plans):
        ctx.err("ocireg: error: some references could not be resolved; no file was written")
    for path, reason in not_written.items():
        ctx.warn(f"{escape(path)}: skipped: {reason}; not written (--follow-symlinks writes through it)")
    _render_pin(ctx, scan, plans, code, written, not_written)
    return code


def _check_pin_options(ctx: Context) -> None:
    if ctx.args.offline and not ctx.args.check:
        raise UsageError(
            "--offline works with --check only (pin without --check asks the registry)",
            hint="ocireg pin --check --offline FILES",
        )
    for name in ("write", "update", "verify_key"):
        if ctx.args.check and getattr(ctx.args, name):
            raise UsageError(
                f"--check changes nothing; --{name.replace('_', '-')} cannot go with it",
                hint="'ocireg check --verify-key KEY FILES' verifies the pinned references"
                if name == "verify_key"
                else None,
            )


def _pin_check(ctx: Context) -> int:
    """``pin --check [--offline]``: a gate, nothing written (#18); exit codes as docs/architecture.md §2, an
    unpinned reference counting as absent (1)."""
    from ocireg.operations.pin import check_pins

    scan, code = _scan(ctx)
    if code != ExitCode.OK:
        return code
    platform = None
    if ctx.args.platform:
        from ocireg.manifest import parse_platform

        platform = parse_platform(ctx.args.platform)
    client = None if ctx.args.offline else ctx.client
    results = check_pins(scan, ctx.env, client, platform=platform, jobs=int(ctx.args.jobs))
    code = worst(ExitCode.ABSENT if r.status == "unpinned" else exit_code_for(r.error) for r in results)
    _render_pin_check(ctx, scan, results, code)
    return code


def _pin_status_json(r: PinStatus) -> dict[str, object]:
    doc = _finding_json(r.finding)
    doc.update({"status": r.status, "note": r.note})
    if r.error is not None:
        doc["error"] = error_json(r.error)
    return doc


def _render_pin_check(ctx: Context, scan: Scan, results: Sequence[PinStatus], code: ExitCode) -> None:
    if not results:
        ctx.warn(f"no image references found in {len(scan.files)} file(s)")
    if ctx.output == "json" and not ctx.quiet:
        docs = [_pin_status_json(r) for r in results]
        write_json(
            ctx,
            "pin",
            {
                "files": scan.files,
                "references": docs,
                "offline": bool(ctx.args.offline),
                "exit_code": int(code),
            },
        )
    elif not ctx.quiet:
        for r in results:
            if r.status == "unpinned":
                ctx.out(f"{escape(r.finding.location)}: not pinned to a digest: {escape(r.finding.raw)}")
    for r in results:
        if r.status == "skipped" and not ctx.quiet:
            ctx.warn(f"{escape(r.finding.location)}: skipped: {escape(r.note or '')}")
        elif r.status == "pinned" and r.note and not ctx.quiet:
            ctx.warn(f"{escape(r.finding.location)}: {escape(r.note)}")
        elif r.error is not None:
            print_error(ctx, r.error, prefix=f"{escape(r.finding.location)}: ")
    unpinned = sum(r.status == "unpinned" for r in results)
    if unpinned:
        ctx.err(
            f"ocireg: error: {unpinned} image reference(s) without a digest; "
            "'ocireg pin --write FILES' pins them (it asks the registry)"
        )


def _writable_plans(
    ctx: Context, plans: Sequence[FilePlan]
) -> tuple[list[FilePlan], dict[str, str], list[tuple[str, str]]]:
    """(plans to write, files skipped as symlinks out of the given paths, files refused) — all decided before
    the first write, so a refused file means no file is written (#14 items 17 and 18)."""
    import os

    from ocireg.operations.pin import symlink_escape, write_refusal

    to_write: list[FilePlan] = []
    skipped: dict[str, str] = {}
    refused: list[tuple[str, str]] = []
    for plan in plans:
        if not plan.changed:
            continue
        escape_reason = None if ctx.args.follow_symlinks else symlink_escape(plan.path, list(ctx.args.paths))
        if escape_reason is not None:
            skipped[plan.path] = escape_reason
            continue
        refusal = write_refusal(os.path.realpath(plan.path))
        if refusal is not None:
            refused.append((plan.path, refusal))
            continue
        to_write.append(plan)
    return to_write, skipped, refused


def _change_row(change: PinChange) -> list[str]:
    finding = change.finding
    detail = ""
    if change.action in ("pinned", "updated"):
        detail = f"→ {change.digest}"
    elif change.action == "error" and change.error is not None:
        detail = f"exit {int(exit_code_for(change.error))}"
    elif change.note:
        detail = escape(change.note)
    return [escape(finding.location), change.action, escape(finding.raw), detail]


def _pin_json(
    plans: Sequence[FilePlan],
    changes: Sequence[PinChange],
    code: ExitCode,
    written: Sequence[str],
    not_written: Mapping[str, str],
) -> dict[str, object]:
    docs = []
    for change in changes:
        doc = _finding_json(change.finding)
        doc.update(
            {
                "action": change.action,
                "digest": str(change.digest) if change.digest else None,
                "new": change.new,
                "note": change.note,
            }
        )
        if change.error is not None:
            doc["error"] = error_json(change.error)
        docs.append(doc)
    return {
        "changes": docs,
        "files": [
            {
                "path": p.path,
                "changed": p.changed,
                "written": p.path in written,
                **({"skipped": not_written[p.path]} if p.path in not_written else {}),
            }
            for p in plans
        ],
        "diff": "".join(p.diff() for p in plans if p.changed),
        "exit_code": int(code),
    }


def _render_pin(
    ctx: Context,
    scan: Scan,
    plans: Sequence[FilePlan],
    code: ExitCode,
    written: Sequence[str],
    not_written: Mapping[str, str],
) -> None:
    changes = [c for plan in plans for c in plan.changes]
    if not changes:
        ctx.warn(f"no image references found in {len(scan.files)} file(s)")
    if ctx.output == "json" and not ctx.quiet:
        write_json(ctx, "pin", _pin_json(plans, changes, code, written, not_written))
    elif not ctx.quiet:
        _print_pin_text(ctx, plans, changes)
    for change in changes:
        if change.error is not None:
            print_error(ctx, change.error, prefix=f"{escape(change.finding.location)}: ")
    counts: dict[str, int] = {}
    for change in changes:
        counts[change.action] = counts.get(change.action, 0) + 1
    if counts and not ctx.quiet and ctx.output != "json":
        summary = ", ".join(f"{n} {action}" for action, n in sorted(counts.items()))
        verb = f"wrote {len(written)} file(s)" if written else "no file written"
        ctx.err(f"ocireg: {summary}; {verb}")


def _print_pin_text(ctx: Context, plans: Sequence[FilePlan], changes: Sequence[PinChange]) -> None:
    """With --write, a table of the changes; without, the diff on stdout and the notes on stderr."""
    if ctx.args.write:
        for line in text_table([_change_row(c) for c in changes]):
            ctx.out(line)
        return
    for plan in plans:
        if plan.changed:
            ctx.stdout.write(plan.diff())
    for change in changes:
        if change.action in ("outdated", "skipped", "updated", "kept") and change.note:
            ctx.err(f"ocireg: {change.action}: {_change_row(change)[0]}: {escape(change.note)}")
