"""``ocireg prune``: a retention policy for one repository — the plan by default, deletes only with ``--yes``.

The policy, the planner and the executor live in :mod:`ocireg.operations.prune`; this module parses, reads
``--keep-files`` the way ``check`` reads deploy files, calls, and renders.
"""

from __future__ import annotations

import argparse
import threading
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from ocireg.cli.exitcodes import EXIT_CODE_HELP, ExitCode, exit_code_for, worst
from ocireg.cli.options import CREDENTIALS_HELP, add_common_options, add_jobs_option
from ocireg.cli.parser import add_command
from ocireg.cli.render import SCHEMA, error_json, json_text, print_error
from ocireg.errors import InvalidReference, UsageError
from ocireg.record import replace
from ocireg.text import escape

if TYPE_CHECKING:
    from ocireg.cli.context import Context
    from ocireg.operations.prune import Outcome, Plan, PlanEntry, Policy
    from ocireg.reference import Digest, Repository

__all__ = ["cmd_prune", "register"]

DEFAULT_MAX_DELETE = (
    500  # literal (operations.prune.DEFAULT_MAX_DELETE), so building the parser imports nothing
)
MAX_OLDER_THAN = 3650 * 86400.0

PRUNE_EPILOG = f"""\
examples:
  ocireg prune registry.example.com/group/app --match 'mr-*' --older-than 14d          # plan only
  ocireg prune registry.example.com/group/app --match 'mr-*' --older-than 14d --yes    # do it
  ocireg prune : --regex '^sha-' --keep-last 20 --keep-files k8s/ docker-compose.yml --yes   # in GitLab CI

Without --yes nothing is changed: every tag is listed with 'delete' or 'keep' and why, and
the exit code is 0. With --yes each tag goes through the same path as 'ocireg delete':
the OCI tag delete, which removes only that tag; on a registry without it (distribution
2.x, GitLab before 16.4) the first tag is refused (exit 6) and nothing is deleted, unless
--untag is given. An image is never deleted by digest, so no other tag ever disappears.
A tag that moved to another image since the plan is refused, not deleted. A failure on
one tag does not stop the others; the exit code is the worst (2 > 5 > 6 > 7 > 3 > 4 > 1).
Ctrl-C finishes the tag being deleted, reports what was done and exits 130.

Selection, in this order (the first that applies decides):
  1. --match GLOB (repeatable; any) and --regex RE (re.search) choose the candidates;
     without either, every tag is a candidate
  2. 'latest' is kept unless --match latest names it
  3. --keep GLOB (repeatable) keeps matching tags
  4. --keep-files PATH... keeps every tag of this repository referenced in those files
     (compose, Kubernetes, .gitlab-ci.yml, Dockerfile, Helm values, kustomize; read as
     'ocireg check' reads them) and every tag on an image they reference by digest
  5. a tag whose digest or age cannot be determined is kept (the reason says why)
  6. --keep-last N keeps the N newest candidates: by default the youngest by age (see
     Ages); --by published: pushed last (GitLab only); created: the image's build
     time; semver: the highest versions, non-versions kept; name: the greatest names;
     ties (tags on one image) go to the higher version, then the greater name
  7. --older-than DURATION keeps candidates younger than that (14d, 36h, 90m)
  8. the rest is deleted
At least one of --match, --regex, --older-than, --keep-last is required (exit 2).

Ages: on GitLab's registry (with its metadata database) the tag's published_at from
/gitlab/v1 — when it was pushed, or last moved to another image — with every tag's
digest, 1,000 tags per request. Elsewhere the image config's 'created' (for a
multi-platform index: its org.opencontainers.image.created annotation, else its newest
platform image), read once per distinct image, --jobs at a time, after one HEAD per tag
the selectors choose (a tag kept by name alone is not resolved);
--by created reads these on GitLab too. --by published where the registry records no
publication dates (not GitLab's, or without its database) is refused (exit 6).

--max-delete N (default {DEFAULT_MAX_DELETE}) refuses, with exit 2 and nothing deleted, a plan that
would delete more than N tags. -o json prints the schema-1 envelope (one entry per tag
with action, reason, age, digest and, after --yes, outcome); -o jsonl one line per tag.

{EXIT_CODE_HELP}

{CREDENTIALS_HELP}"""


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = add_command(
        sub,
        "prune",
        "Delete the tags a retention policy selects; without --yes only print the plan.",
        PRUNE_EPILOG,
    )
    p.add_argument(
        "repository",
        metavar="REPO",
        help="registry/path of the repository (inside GitLab CI ':' is $CI_REGISTRY_IMAGE)",
    )
    sel = p.add_argument_group("selection")
    sel.add_argument(
        "--match", action="append", default=[], metavar="GLOB", help="candidate tags (shell glob; repeatable)"
    )
    sel.add_argument("--regex", metavar="RE", help="candidate tags (regular expression, searched)")
    sel.add_argument(
        "--keep", action="append", default=[], metavar="GLOB", help="never delete these tags (repeatable)"
    )
    sel.add_argument(
        "--older-than", type=_older_than, metavar="DURATION", help="keep candidates younger than this (14d)"
    )
    sel.add_argument("--keep-last", type=_count, metavar="N", help="keep the N newest candidates")
    sel.add_argument(
        "--keep-files",
        nargs="+",
        action="extend",
        default=[],
        metavar="PATH",
        help="keep every tag and image referenced in these deploy files or directories",
    )
    sel.add_argument(
        "--by",
        choices=["created", "published", "semver", "name"],
        default=None,
        help="what 'newest' means for --keep-last (default: the age — published on GitLab's registry, "
        "else created)",
    )
    act = p.add_argument_group("deleting")
    act.add_argument("--yes", "-y", action="store_true", help="delete; without it only the plan is printed")
    act.add_argument(
        "--untag",
        action="store_true",
        help="on registries without the OCI tag delete: swap a throw-away manifest onto each tag and delete that",
    )
    act.add_argument(
        "--max-delete",
        type=_count,
        default=DEFAULT_MAX_DELETE,
        metavar="N",
        help=f"refuse (exit 2) a plan deleting more than N tags (default {DEFAULT_MAX_DELETE})",
    )
    add_jobs_option(act, "tags resolved and images dated concurrently")
    add_common_options(p)
    for action in p._actions:  # text, json and jsonl (one line per tag)
        if action.dest == "output":
            action.choices = ["text", "json", "jsonl"]


def _older_than(text: str) -> float:
    from ocireg.duration import parse_duration

    try:
        return parse_duration(text, maximum=MAX_OLDER_THAN)
    except UsageError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _count(text: str) -> int:
    if not text.isdigit() or int(text) > 1_000_000:
        raise argparse.ArgumentTypeError(f"must be a whole number from 0 to 1000000: {text!r}")
    return int(text)


# ---------------------------------------------------------------------------------------------------- inputs


def _repository(ctx: Context, text: str) -> Repository:
    from ocireg.reference import parse_repository

    if text in (":", ""):
        ci = ctx.gitlab
        if ci is None or not ci.registry_image:
            raise UsageError(
                "':' means $CI_REGISTRY_IMAGE and works only inside GitLab CI; name the repository"
            )
        return parse_repository(ci.registry_image)
    return parse_repository(ctx.reference_text(text))


def _policy(ctx: Context, repository: Repository) -> Policy:
    from ocireg.operations.prune import Policy

    args = ctx.args
    keep_tags: frozenset[str] = frozenset()
    keep_digests: frozenset[Digest] = frozenset()
    if args.keep_files:
        keep_tags, keep_digests = _kept_by_files(ctx, repository, args.keep_files)
    return Policy(
        match=tuple(args.match),
        regex=args.regex,
        keep=tuple(args.keep),
        older_than=args.older_than,
        keep_last=args.keep_last,
        keep_tags=keep_tags,
        keep_digests=keep_digests,
        by=args.by,
        max_delete=args.max_delete,
    )


def _kept_by_files(
    ctx: Context, repository: Repository, paths: Sequence[str]
) -> tuple[frozenset[str], frozenset[Digest]]:
    """Tags and digests of ``repository`` referenced in the deploy files (read as ``check`` reads them).

    Safe by default: a file that cannot be read, or a reference whose variables cannot be expanded, might be
    the very image a deployment runs; rather than guess, prune stops (exit 2).
    """
    from ocireg.operations.files import scan_paths
    from ocireg.reference import parse_reference

    scan = scan_paths(list(paths), ctx.env)
    fatal = []
    for problem in scan.problems:
        where = escape(problem.path) + (f":{problem.line}" if problem.line else "")
        fatal.append(f"{where}: {escape(problem.message)}")
    for finding in scan.findings:
        if finding.text is None:
            fatal.append(
                f"{escape(finding.location)}: {escape(finding.raw)} cannot be expanded "
                f"({escape(finding.skipped or 'unresolved')})"
            )
    if fatal:
        for line in fatal:
            ctx.err(f"ocireg: error: --keep-files {line}")
        raise UsageError(
            "--keep-files: some references could not be read, so the tags they name cannot be kept; nothing "
            "was planned",
            hint="set the variables they use (as the deploy job would), or name only the files that resolve",
        )
    tags: set[str] = set()
    digests: set[Digest] = set()
    for finding in scan.findings:
        try:
            ref = parse_reference(finding.text or "")
        except InvalidReference:
            ctx.warn(f"--keep-files {escape(finding.location)}: not an image reference; ignored")
            continue
        if ref.repository != repository:
            continue
        if ref.tag is not None:
            tags.add(ref.tag)
        if ref.digest is not None:
            digests.add(ref.digest)
    if not scan.findings:
        ctx.warn(f"--keep-files: no image references found in {len(scan.files)} file(s)")
    return frozenset(tags), frozenset(digests)


# ------------------------------------------------------------------------------------------------------ run


def cmd_prune(ctx: Context) -> int:
    from datetime import timezone

    from ocireg.cli.progress import progress
    from ocireg.operations.prune import check_max_delete, gather, plan_prune

    args = ctx.args
    repository = _repository(ctx, args.repository)
    policy = _policy(ctx, repository)
    client = ctx.client()
    with progress(ctx, total=None, description="listing tags", min_items=0) as bar:
        gathered = gather(
            client,
            repository,
            needs_time=policy.needs_time,
            needs_created=policy.needs_created,
            needs_published=policy.needs_published,
            jobs=args.jobs,
            on_step=bar.advance,
            on_phase=lambda description, total: bar.reset(total, description),
            resolves=policy.needs_digest,
        )
    if policy.by is None and policy.keep_last is not None and gathered.source in ("created", "published"):
        # ordered by age: say which time that was
        policy = replace(policy, by="published" if gathered.source == "published" else "created")
    plan = plan_prune(gathered.states, policy, now=datetime.now(timezone.utc))
    if not args.yes:
        _render(ctx, repository, plan, None, gathered.source, ExitCode.OK, dry_run=True)
        if len(plan.deletes) > policy.max_delete:
            ctx.warn(
                f"with --yes this plan would be refused: {len(plan.deletes)} deletes exceed --max-delete "
                f"{policy.max_delete}"
            )
        return ExitCode.OK
    try:
        check_max_delete(plan, policy.max_delete)
    except UsageError as exc:
        _render(ctx, repository, plan, None, gathered.source, ExitCode.USAGE, dry_run=True)
        print_error(ctx, exc)
        return ExitCode.USAGE
    outcomes, interrupted = _execute(ctx, repository, plan)
    code = ExitCode.INTERRUPTED if interrupted else _exit_code(outcomes)
    _render(ctx, repository, plan, outcomes, gathered.source, code, dry_run=False)
    _report_errors(ctx, outcomes)
    if interrupted:
        done = sum(1 for o in outcomes if o.status in ("deleted", "absent"))
        ctx.err(
            f"ocireg: interrupted: {done} of {len(plan.deletes)} tag(s) deleted; the rest were not touched"
        )
    return code


def _execute(ctx: Context, repository: Repository, plan: Plan) -> tuple[list[Outcome], bool]:
    # The first Ctrl-C lets the current tag finish (--untag is two requests: stopping between them would leave
    # the tag on the placeholder), then stops; a second one interrupts at once.
    from ocireg.cli.interrupts import deferred_interrupt
    from ocireg.cli.progress import progress
    from ocireg.operations.prune import execute

    stop = threading.Event()
    with (
        progress(ctx, total=len(plan.deletes), description="deleting") as bar,
        deferred_interrupt(
            ctx.err,
            stop,
            "ocireg: interrupt: finishing the tag being deleted, then stopping (Ctrl-C again: at once)",
        ),
    ):
        outcomes = execute(
            ctx.client(),
            repository,
            plan,
            untag=bool(ctx.args.untag),
            max_delete=int(ctx.args.max_delete),
            should_stop=stop.is_set,
            on_outcome=lambda outcome: bar.advance(),
        )
    return outcomes, stop.is_set()


def _exit_code(outcomes: Sequence[Outcome]) -> ExitCode:
    return worst(exit_code_for(o.error) for o in outcomes)


def _report_errors(ctx: Context, outcomes: Sequence[Outcome]) -> None:
    shown: set[int] = set()
    for outcome in outcomes:
        error = outcome.error
        if error is None or id(error) in shown:
            continue  # a refusal shared by every remaining tag is explained once
        shown.add(id(error))
        print_error(ctx, error, prefix=f"{escape(outcome.entry.tag)}: ")


# --------------------------------------------------------------------------------------------------- output


def _entry_json(entry: PlanEntry, outcome: Outcome | None, now: datetime) -> dict[str, object]:
    age = entry.age(now)
    doc: dict[str, object] = {
        "tag": entry.tag,
        "action": entry.action,
        "reason": entry.reason,
        "digest": str(entry.digest) if entry.digest else None,
        "time": entry.time.isoformat().replace("+00:00", "Z") if entry.time else None,
        "age": int(age) if age is not None else None,
    }
    if outcome is not None:
        doc["outcome"] = outcome.status
        if outcome.note:
            doc["note"] = outcome.note
        if outcome.error is not None:
            doc["error"] = error_json(outcome.error)
    elif entry.action == "delete":
        doc["outcome"] = None
    return doc


def _render(
    ctx: Context,
    repository: Repository,
    plan: Plan,
    outcomes: Sequence[Outcome] | None,
    source: str | None,
    code: ExitCode,
    *,
    dry_run: bool,
) -> None:
    if ctx.quiet:
        return
    by_tag = {o.entry.tag: o for o in outcomes or ()}
    summary: dict[str, int] = {
        "tags": len(plan.entries),
        "delete": len(plan.deletes),
        "keep": len(plan.keeps),
    }
    if outcomes is not None:
        for status in ("deleted", "absent", "failed", "skipped"):
            summary[status] = sum(1 for o in outcomes if o.status == status)
    if ctx.output in ("json", "jsonl"):
        _render_json(ctx, repository, plan, by_tag, {"age_source": source, "summary": summary}, code, dry_run)
        return
    _render_table(ctx, plan, by_tag)
    if dry_run:
        tail = "nothing changed: pass --yes to delete" if plan.deletes else "nothing to delete"
        ctx.out(
            f"plan for {escape(str(repository))}: delete {len(plan.deletes)}, keep {len(plan.keeps)} ({tail})"
        )
    else:
        parts = ", ".join(
            f"{summary[s]} {s}" for s in ("deleted", "absent", "failed", "skipped") if summary[s]
        )
        ctx.out(f"pruned {escape(str(repository))}: {parts or 'nothing to delete'}; kept {len(plan.keeps)}")


def _render_json(
    ctx: Context,
    repository: Repository,
    plan: Plan,
    by_tag: dict[str, Outcome],
    extra: dict[str, object],
    code: ExitCode,
    dry_run: bool,
) -> None:
    """Entry by entry, never the whole document in memory: a plan may hold 100,000 tags (#23)."""
    if ctx.output == "jsonl":
        for entry in plan.entries:
            doc = _entry_json(entry, by_tag.get(entry.tag), plan.now)
            ctx.out(json_text({"schema": 1, "command": "prune", "repository": str(repository), **doc}))
        return
    head = {"schema": SCHEMA, "command": "prune", "repository": str(repository), "dry_run": dry_run, **extra}
    ctx.out(json_text(head)[:-1] + ', "tags": [')
    last = len(plan.entries) - 1
    for index, entry in enumerate(plan.entries):
        text = json_text(_entry_json(entry, by_tag.get(entry.tag), plan.now))
        ctx.out(text + ("," if index < last else ""))
    ctx.out(f'], "exit_code": {int(code)}}}')


def _render_table(ctx: Context, plan: Plan, by_tag: dict[str, Outcome]) -> None:
    """text_table's layout, in two passes over the plan (widths, then lines) instead of a table in memory."""

    def rows() -> Iterator[list[str]]:
        for entry in plan.entries:
            outcome = by_tag.get(entry.tag)
            action = outcome.status if outcome is not None else entry.action
            age = entry.age(plan.now)
            shown_age = _short_age(age) if age is not None else "-"
            digest = entry.digest.hex[:12] if entry.digest else "-"
            yield [action, escape(entry.tag), shown_age, digest, escape(entry.reason)]

    widths = [0, 0, 0, 0]
    for row in rows():
        widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=False)]
    for row in rows():
        cells = [cell.ljust(widths[i]) for i, cell in enumerate(row[:-1])] + [row[-1]]
        ctx.out("  ".join(cells).rstrip())


def _short_age(seconds: float) -> str:
    days = int(seconds // 86400)
    if days >= 1:
        return f"{days}d"
    hours = int(seconds // 3600)
    return f"{hours}h" if hours >= 1 else f"{max(int(seconds // 60), 0)}m"
