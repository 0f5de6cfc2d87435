"""Retention policies (``ocireg prune``): which tags of a repository to delete, planned first, deleted safely.

Three parts, kept apart so each can be trusted on its own:

* :func:`plan_prune` — **pure**: (tags with digests and times, a :class:`Policy`, now) → a :class:`Plan` that
  says for every tag ``delete`` or ``keep`` and why. No registry, no clock, no environment.
* :func:`gather` (:mod:`ocireg.operations.inventory`) — the registry side: every tag, its digest and its times,
  from the registry's own tag-details listing where it has one (the age is then the tag's publication time),
  else from ``/v2/`` with the image's build time as its age (:class:`ConfigCreated`).
* :func:`execute` — deletes the planned tags one by one through :func:`ocireg.operations.delete.delete` (the
  same path as ``ocireg delete``: the OCI tag delete, or ``untag``; never a manifest delete, so never another
  tag's image). The reference carries the planned digest, so a tag moved since the plan is refused, not
  deleted. A failure on one tag does not stop the others; ``should_stop`` is asked between tags only, so an
  interrupt never leaves a tag half-deleted (``untag`` is two requests).

The steps of the planner, in order (the first that applies gives the reason):

1. a tag not chosen by the selectors (``match`` globs — any of them — and ``regex``, both when both are
   given) is kept; with neither, every tag is chosen;
2. ``latest`` is kept unless a ``match`` pattern is exactly ``latest``;
3. a tag matching a ``keep`` glob is kept;
4. a tag named in the deploy files, or whose digest they name, is kept (``keep_tags`` / ``keep_digests``);
5. a tag whose digest or, when the policy needs it, time (its age, or the time ``by`` orders by) could not be
   determined is kept (the reason says why); with ``by="semver"`` and ``keep_last``, a tag that is not a
   version is kept likewise;
6. ``keep_last`` N: the N newest of the remaining candidates (by ``by``: ``created`` the image's build time,
   ``published`` the tag's publication time, ``semver``, ``name``, or — ``None`` — the tag's age, whichever
   time that is; ties broken by version, then name, the greater counting as newer) are kept;
7. ``older_than``: a candidate younger than that is kept;
8. everything left is deleted.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Literal, get_args

from ocireg.errors import (
    OciregError,
    Refused,
    Unsupported,
    UsageError,
)
from ocireg.operations.inventory import (
    INDEX_CREATED_ANNOTATION,
    AgeSource,
    ConfigCreated,
    Gathered,
    TagState,
    gather,
    parse_time,
)
from ocireg.record import field, record
from ocireg.reference import Digest, Reference, Repository
from ocireg.semver import parse_version, version_sort_key
from ocireg.text import escape

if TYPE_CHECKING:
    from ocireg.client import RegistryClient

__all__ = [
    "BY_MODES",
    "DEFAULT_MAX_DELETE",
    "INDEX_CREATED_ANNOTATION",
    "AgeSource",
    "ByMode",
    "ConfigCreated",
    "Gathered",
    "Outcome",
    "Plan",
    "PlanEntry",
    "Policy",
    "TagState",
    "check_max_delete",
    "execute",
    "gather",
    "parse_time",
    "plan_prune",
]

ByMode = Literal["created", "published", "semver", "name"]
BY_MODES: tuple[ByMode, ...] = get_args(ByMode)
DEFAULT_MAX_DELETE = 500
_MAX_PATTERN = 1024
LATEST = "latest"
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


# ---------------------------------------------------------------------------------------------------- inputs


@record(frozen=True)
class Policy:
    """What to delete (see the module docstring for the order of the steps).

    ``older_than`` is in seconds. At least one of ``match``, ``regex``, ``older_than``, ``keep_last`` is
    required: a policy without any would delete every tag. ``by`` orders ``keep_last``; ``None`` (the
    default) orders by the tag's age, the same time ``older_than`` measures.
    """

    match: tuple[str, ...] = ()
    regex: str | None = None
    keep: tuple[str, ...] = ()
    older_than: float | None = None
    keep_last: int | None = None
    keep_tags: frozenset[str] = frozenset()
    keep_digests: frozenset[Digest] = frozenset()
    by: ByMode | None = None
    max_delete: int = DEFAULT_MAX_DELETE
    _compiled: re.Pattern[str] | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not (
            self.match or self.regex is not None or self.older_than is not None or self.keep_last is not None
        ):
            raise UsageError(
                "prune needs a selection: at least one of --match, --regex, --older-than, --keep-last "
                "(without one every tag would be deleted)"
            )
        if self.by is not None and self.by not in BY_MODES:
            raise UsageError(f"unknown --by {escape(str(self.by))!r}: use one of {', '.join(BY_MODES)}")
        if self.keep_last is not None and self.keep_last < 0:
            raise UsageError("--keep-last must be 0 or more")
        if self.older_than is not None and self.older_than < 0:
            raise UsageError("--older-than must not be negative")
        if self.max_delete < 0:
            raise UsageError("--max-delete must be 0 or more")
        for pattern in (*self.match, *self.keep):
            if len(pattern) > _MAX_PATTERN:
                raise UsageError(f"pattern longer than {_MAX_PATTERN} characters")
        if self.regex is not None:
            if len(self.regex) > _MAX_PATTERN:
                raise UsageError(f"--regex longer than {_MAX_PATTERN} characters")
            try:
                object.__setattr__(self, "_compiled", re.compile(self.regex))
            except re.error as exc:
                raise UsageError(
                    f"--regex {escape(self.regex)!r} is not a valid regular expression: {exc}"
                ) from None

    @property
    def needs_time(self) -> bool:
        """Whether tag ages are needed: for ``older_than``, and for ``keep_last`` ordered by age."""
        return self.older_than is not None or (self.keep_last is not None and self.by is None)

    @property
    def needs_created(self) -> bool:
        """Whether the images' build times are needed (``keep_last`` by ``created``)."""
        return self.keep_last is not None and self.by == "created"

    @property
    def needs_published(self) -> bool:
        """Whether publication times are needed (``keep_last`` by ``published``: a registry's tag-details listing only)."""
        return self.keep_last is not None and self.by == "published"

    def needs_digest(self, tag: str) -> bool:
        """Whether the plan looks at ``tag``'s digest: not for a tag it keeps by name alone (steps 1-4), so
        ``gather`` resolves only the others — one HEAD per chosen tag, not per listed tag (#23)."""
        if not self.chooses(tag) or tag in self.keep_tags:
            return False
        if tag == LATEST and LATEST not in self.match:
            return False
        return not any(fnmatch.fnmatchcase(tag, pattern) for pattern in self.keep)

    def chooses(self, tag: str) -> bool:
        if self.match and not any(fnmatch.fnmatchcase(tag, p) for p in self.match):
            return False
        return self._compiled is None or self._compiled.search(tag) is not None


# ---------------------------------------------------------------------------------------------------- planner

Action = Literal["delete", "keep"]


@record(frozen=True)
class PlanEntry:
    """One tag of the plan: ``delete`` or ``keep``, and why (a sentence for people)."""

    tag: str
    digest: Digest | None
    time: datetime | None
    action: Action
    reason: str

    def age(self, now: datetime) -> float | None:
        return None if self.time is None else (now - self.time).total_seconds()


@record(frozen=True)
class Plan:
    """Every tag of the repository with its action, sorted by tag name."""

    entries: tuple[PlanEntry, ...]
    now: datetime

    @property
    def deletes(self) -> tuple[PlanEntry, ...]:
        return tuple(e for e in self.entries if e.action == "delete")

    @property
    def keeps(self) -> tuple[PlanEntry, ...]:
        return tuple(e for e in self.entries if e.action == "keep")


def plan_prune(tags: Sequence[TagState], policy: Policy, *, now: datetime) -> Plan:
    """Decide for every tag (pure; see the module docstring for the steps and their order)."""
    decided: dict[str, tuple[Action, str]] = {}
    candidates: list[TagState] = []
    literal_latest = LATEST in policy.match
    seen: set[str] = set()
    unique: list[TagState] = []
    for state in tags:
        if state.tag not in seen:  # a listing that repeats a tag gets one decision
            seen.add(state.tag)
            unique.append(state)
    for state in unique:
        reason = _kept_before_ordering(state, policy, literal_latest)
        if reason is not None:
            decided[state.tag] = ("keep", reason)
        else:
            candidates.append(state)
    if policy.keep_last is not None and policy.keep_last > 0:
        ranked = sorted(candidates, key=lambda s: _order_key(s, policy.by), reverse=True)
        for rank, state in enumerate(ranked[: policy.keep_last], start=1):
            decided[state.tag] = (
                "keep",
                f"--keep-last {policy.keep_last}: newest #{rank} by {policy.by or 'age'}",
            )
    reasons: dict[str, str] = {}  # one string per distinct reason: 100,000 tags share a few dozen (#23)
    for state in candidates:
        if state.tag in decided:
            continue
        if policy.older_than is not None and state.time is not None:  # step 5 kept every tag without one
            age = (now - state.time).total_seconds()
            if age < policy.older_than:
                decided[state.tag] = (
                    "keep",
                    f"younger than --older-than {_days(policy.older_than)} (age {_days(max(age, 0.0))})",
                )
                continue
        reason = _delete_reason(state, policy, now)
        decided[state.tag] = ("delete", reasons.setdefault(reason, reason))
    # Sorted by name: the registry's order differs between registries (and runs); plans should diff cleanly.
    entries = tuple(
        PlanEntry(s.tag, s.digest, s.time, decided[s.tag][0], decided[s.tag][1])
        for s in sorted(unique, key=lambda s: s.tag)
    )
    return Plan(entries, now)


def _kept_before_ordering(state: TagState, policy: Policy, literal_latest: bool) -> str | None:
    tag = state.tag
    if not policy.chooses(tag):
        return "not selected by --match/--regex"
    if tag == LATEST and not literal_latest:
        return "'latest' is kept unless --match latest names it"
    for pattern in policy.keep:
        if fnmatch.fnmatchcase(tag, pattern):
            return f"--keep {pattern}"
    if tag in policy.keep_tags:
        return "referenced in --keep-files"
    if state.digest is not None and state.digest in policy.keep_digests:
        return f"its image {state.digest} is referenced in --keep-files"
    if state.digest is None:
        return f"digest unknown: {state.problem or 'not resolved'}"
    if policy.needs_time and state.time is None:
        return f"age unknown: {state.problem or 'no time recorded'}"
    if policy.needs_created and state.created is None:
        return f"build time unknown: {state.problem or 'no created time'}"
    if policy.needs_published and state.published is None:
        return f"publication time unknown: {state.problem or 'not recorded by the registry'}"
    if policy.keep_last is not None and policy.by == "semver" and parse_version(tag) is None:
        return "not a version (--by semver orders versions only)"
    return None


def _order_key(state: TagState, by: ByMode | None) -> tuple[object, ...]:
    """Greater is newer. Ties (equal times: tags on one image) go to the greater version, then name."""
    tie = version_sort_key(state.tag)
    if by in (None, "created", "published"):
        when = state.time if by is None else state.created if by == "created" else state.published
        return (when or _EPOCH, tie)  # step 5 kept every tag without that time
    if by == "semver":
        return (tie,)
    return (state.tag,)


def _delete_reason(state: TagState, policy: Policy, now: datetime) -> str:
    parts = []
    if policy.match or policy.regex is not None:
        parts.append("selected")
    if policy.older_than is not None and state.time is not None:
        parts.append(
            f"older than {_days(policy.older_than)} (age {_days((now - state.time).total_seconds())})"
        )
    if policy.keep_last is not None:
        parts.append(f"not among the {policy.keep_last} newest by {policy.by or 'age'}")
    return ", ".join(parts) or "selected"


def _days(seconds: float) -> str:
    """A short age for reasons: ``14d``, ``3d4h``, ``5h``, ``12m``, ``40s``."""
    total = int(seconds)
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d{hours}h" if hours else f"{days}d"
    if hours:
        return f"{hours}h{minutes}m" if minutes else f"{hours}h"
    if minutes:
        return f"{minutes}m"
    return f"{secs}s"


# ---------------------------------------------------------------------------------------------------- execute

Status = Literal["deleted", "absent", "failed", "skipped"]
INTERRUPTED_NOTE = "interrupted before this tag: not deleted"


@record(frozen=True)
class Outcome:
    """What happened to one planned delete.

    ``deleted``; ``absent`` (gone already: deleting is idempotent); ``failed`` with its ``error``; ``skipped``:
    not attempted, either after an interrupt (``note``, no error) or because the registry refused the first
    tag delete in a way that applies to every tag (``error`` is that refusal).
    """

    entry: PlanEntry
    status: Status
    error: OciregError | None = None
    note: str | None = None


def check_max_delete(plan: Plan, max_delete: int) -> None:
    """Refuse (:class:`~ocireg.errors.Refused`, exit 2) a plan that deletes more than ``max_delete`` tags."""
    count = len(plan.deletes)
    if count > max_delete:
        raise Refused(
            f"the plan deletes {count} tags, more than --max-delete {max_delete}; nothing was deleted",
            hint="check the plan (run without --yes), then raise --max-delete if it is right",
        )


def execute(
    client: RegistryClient,
    repository: Repository,
    plan: Plan,
    *,
    untag: bool = False,
    max_delete: int = DEFAULT_MAX_DELETE,
    should_stop: Callable[[], bool] = lambda: False,
    on_outcome: Callable[[Outcome], None] | None = None,
) -> list[Outcome]:
    """Delete the plan's ``delete`` entries one at a time (see the module docstring); return every outcome.

    Raises :class:`~ocireg.errors.Refused` before any request when the plan exceeds ``max_delete``. A registry
    without the OCI tag delete refuses the first tag (:class:`~ocireg.errors.Unsupported`, ``--untag`` named in
    its hint); the rest are then skipped with that refusal, without a request each.
    """
    check_max_delete(plan, max_delete)
    outcomes: list[Outcome] = []
    refusal: Unsupported | None = None
    for entry in plan.deletes:
        if should_stop():
            outcome = Outcome(entry, "skipped", note=INTERRUPTED_NOTE)
        elif refusal is not None:
            outcome = Outcome(
                entry, "skipped", refusal, note="not attempted: the registry refused the first one"
            )
        else:
            outcome = _delete_one(client, repository, entry, untag=untag)
            if isinstance(outcome.error, Unsupported):
                refusal = outcome.error
        outcomes.append(outcome)
        if on_outcome is not None:
            on_outcome(outcome)
    return outcomes


def _delete_one(client: RegistryClient, repository: Repository, entry: PlanEntry, *, untag: bool) -> Outcome:
    from ocireg.operations.delete import delete

    # tag@digest: delete() refuses when the tag no longer points to the planned image (moved since the plan).
    ref = Reference(repository, entry.tag, entry.digest)
    try:
        result = delete(client, ref, mode="untag" if untag else "tag", ignore_missing=True)
    except Unsupported as exc:
        if not untag and exc.hint and "--untag" in exc.hint:
            # The registry has no tag delete (not "deletes disabled"): name prune's way out, not delete's
            # --manifest, which prune never uses (it would take other tags with the image).
            exc.hint = (
                "add --untag: each tag gets a throw-away placeholder manifest, which is then deleted by digest; "
                "other tags on the same image stay"
            )
        return Outcome(entry, "failed", exc)
    except OciregError as exc:
        return Outcome(entry, "failed", exc)
    return Outcome(entry, "absent" if result.status == "absent" else "deleted")
