"""Retention policies (``ocireg prune``): which tags of a repository to delete, planned first, deleted safely.

Three parts, kept apart so each can be trusted on its own:

* :func:`plan_prune` — **pure**: (tags with digests and times, a :class:`Policy`, now) → a :class:`Plan` that
  says for every tag ``delete`` or ``keep`` and why. No registry, no clock, no environment.
* :func:`gather` — the registry side: every tag, its digest and its times. On GitLab's registry with its
  metadata database, ``GET /gitlab/v1/repositories/<path>/tags/list/`` (gitlab-org/container-registry
  ``docs/spec/gitlab/api.md``, "List Repository Tags") gives all three for 1,000 tags per request: the age is
  then the tag's ``published_at`` (when it was pushed, or last moved to another image). Elsewhere the tags come
  from ``/v2/`` (one ``HEAD`` for the digest of each tag the plan looks at: not for a tag the selectors leave
  out or a keep rule keeps by name) and the age is the image's build time from an
  :class:`AgeSource`: :class:`ConfigCreated` reads the image configuration's ``created`` — for an index its
  ``org.opencontainers.image.created`` annotation (image-spec ``annotations.md``), else the newest child's
  config — fetched once per distinct digest, ``jobs`` at a time (on GitLab too, when ``--by created`` asks
  for build times).
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
import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Literal, Protocol, get_args

from ocireg.errors import (
    InvalidReference,
    NotFound,
    OciregError,
    Refused,
    Unsupported,
    UsageError,
)
from ocireg.record import field, record
from ocireg.reference import Digest, Reference, Repository
from ocireg.semver import parse_version, version_sort_key
from ocireg.text import escape

if TYPE_CHECKING:
    from ocireg.client import RegistryClient
    from ocireg.manifest import Index, Manifest

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
#: image-spec annotations.md: "date and time on which the image was built, conforming to RFC 3339".
INDEX_CREATED_ANNOTATION = "org.opencontainers.image.created"
_MAX_PATTERN = 1024
_MAX_CHILDREN = 64  # children of one index read for its time (a platform index has a handful)
LATEST = "latest"
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


# ---------------------------------------------------------------------------------------------------- inputs


@record(frozen=True)
class TagState:
    """What the registry said about one tag, or why something is unknown (``problem``).

    ``time`` is the tag's age (what ``older_than`` measures): ``published`` where the registry records it,
    else ``created``. ``published``: when the tag was pushed or last moved (GitLab's ``published_at``);
    ``created``: the image's build time (its config's ``created``), when it was read.
    """

    tag: str
    digest: Digest | None = None
    time: datetime | None = None
    problem: str | None = None
    published: datetime | None = None
    created: datetime | None = None


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
        """Whether publication times are needed (``keep_last`` by ``published``: GitLab's registry only)."""
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


# ------------------------------------------------------------------------------------------------------ times


_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:([Zz])|([+-])(\d{2}):?(\d{2}))?"
)


def parse_time(text: object) -> datetime | None:
    """An RFC 3339 time (as image configs and GitLab write them, nanoseconds included) in UTC, or ``None``.

    A time without a zone is taken as UTC (Docker writes ``Z``; some tools omit it). Years before 1970 or
    after 9999 — and anything unparseable — are ``None`` ("unknown"), never a guess.
    """
    if not isinstance(text, str) or len(text) > 64:
        return None
    match = _RFC3339.fullmatch(text.strip())
    if match is None:
        return None
    year, month, day, hour, minute, second = (int(match.group(i)) for i in range(1, 7))
    micro = int((match.group(7) or "0")[:6].ljust(6, "0"))
    offset = timedelta(0)
    if match.group(9):
        offset = timedelta(hours=int(match.group(10)), minutes=int(match.group(11)))
        if match.group(9) == "-":
            offset = -offset
    try:
        moment = datetime(year, month, day, hour, minute, min(second, 59), micro, tzinfo=timezone(offset))
    except ValueError:
        return None
    if moment.year < 1970:
        return (
            None  # "0001-01-01T00:00:00Z" is Go's zero time: reproducible builds write it, it means "unknown"
        )
    return moment.astimezone(timezone.utc)


# ------------------------------------------------------------------------------------------------ age sources


class AgeSource(Protocol):
    """Where tag times come from. ``times`` answers for the distinct digests it is given (``jobs`` at a time),
    each as a time or a problem (a sentence); it raises only when it cannot work at all."""

    name: str

    def times(
        self,
        client: RegistryClient,
        repository: Repository,
        digests: Sequence[Digest],
        *,
        jobs: int,
        on_step: Callable[[], None] | None = None,
    ) -> dict[Digest, datetime | str]: ...


class ConfigCreated:
    """The image configuration's ``created`` (image-spec ``config.md``), once per distinct digest.

    For an index (or Docker manifest list): its ``org.opencontainers.image.created`` annotation, else the
    newest ``created`` among its children's configs (children shared by several indexes are read once).
    """

    name = "created"

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._children: dict[Digest, datetime | str] = {}

    def times(
        self,
        client: RegistryClient,
        repository: Repository,
        digests: Sequence[Digest],
        *,
        jobs: int,
        on_step: Callable[[], None] | None = None,
    ) -> dict[Digest, datetime | str]:
        from ocireg.operations.workers import run_bounded

        def one(digest: Digest) -> datetime | str:
            try:
                return self._time_of(client, repository, digest, depth=0)
            finally:
                if on_step is not None:
                    on_step()

        unique = list(dict.fromkeys(digests))
        futures = run_bounded(one, unique, jobs=max(1, jobs), name="ocireg-prune-age")
        answers: dict[Digest, datetime | str] = {}
        for digest, future in zip(unique, futures, strict=True):
            error = future.exception()
            if isinstance(error, OciregError):
                answers[digest] = _problem(error)
            elif error is not None:
                raise error
            else:
                answers[digest] = future.result()
        return answers

    def _time_of(
        self, client: RegistryClient, repository: Repository, digest: Digest, *, depth: int
    ) -> datetime | str:
        from ocireg.manifest import Index

        document = client.get_manifest(Reference(repository, None, digest))
        if isinstance(document, Index):
            return self._index_time(client, repository, document, depth=depth)
        return self._manifest_time(client, repository, document)

    @staticmethod
    def _manifest_time(client: RegistryClient, repository: Repository, manifest: Manifest) -> datetime | str:
        config = client.get_image_config(Reference(repository, None, manifest.digest), manifest)
        created = parse_time(config.get("created"))
        if created is None:
            return "the image config has no valid 'created' time"
        return created

    def _index_time(
        self, client: RegistryClient, repository: Repository, index: Index, *, depth: int
    ) -> datetime | str:
        annotated = parse_time(index.annotations.get(INDEX_CREATED_ANNOTATION))
        if annotated is not None:
            return annotated
        if depth > 1:
            return "nested indexes too deep to date"
        children = [d for d in index.manifests if not _is_attestation(d.annotations)][:_MAX_CHILDREN]
        newest: datetime | None = None
        for child in children:
            with self._lock:
                known = self._children.get(child.digest)
            if known is None:
                try:
                    known = self._time_of(client, repository, child.digest, depth=depth + 1)
                except NotFound:
                    known = "child manifest missing"
                with self._lock:
                    self._children[child.digest] = known
            if isinstance(known, datetime) and (newest is None or known > newest):
                newest = known
        if newest is None:
            return "the index has no annotation and no child with a valid 'created' time"
        return newest


def _is_attestation(annotations: Mapping[str, str]) -> bool:
    # BuildKit stores provenance/SBOM attestations as index children with platform unknown/unknown and this
    # annotation (moby/buildkit docs/attestations/attestation-storage.md); they carry no image config time.
    return annotations.get("vnd.docker.reference.type") == "attestation-manifest"


def _problem(error: OciregError) -> str:
    return f"{type(error).__name__}: {error}"


# ----------------------------------------------------------------------------------------------------- gather


@record(frozen=True)
class Gathered:
    """The tags of a repository as :func:`gather` found them.

    ``source``: where the ages came from — ``"published"`` (GitLab's ``/gitlab/v1``), ``"created"`` (the
    images' configs) or ``None`` (no ages were needed or none could be read). ``listing``: ``"gitlab"`` or
    ``"v2"``. ``distinct_digests``: how many different images the tags point to.
    """

    states: tuple[TagState, ...]
    source: str | None
    distinct_digests: int
    listing: str = "v2"


def gather(
    client: RegistryClient,
    repository: Repository,
    *,
    needs_time: bool,
    needs_created: bool = False,
    needs_published: bool = False,
    source: AgeSource | None = None,
    jobs: int = 8,
    on_step: Callable[[], None] | None = None,
    on_phase: Callable[[str, int], None] | None = None,
    resolves: Callable[[str], bool] | None = None,
) -> Gathered:
    """Every tag of ``repository`` with its digest and the times asked for (see the module docstring).
    ``resolves`` (:meth:`Policy.needs_digest`) limits the ``/v2/`` HEADs to the tags the plan will look at.

    GitLab's ``/gitlab/v1`` is asked first: where it answers, one request per 1,000 tags gives every digest
    and publication time, and the age (``needs_time``) is the publication time. Elsewhere: ``/v2/`` tags/list,
    one ``HEAD`` per tag ``resolves`` keeps (``jobs`` at a time), and the age is the build time from ``source`` (default
    :class:`ConfigCreated`), read once per distinct digest — as it is, on any registry, with
    ``needs_created``. ``needs_published`` on a registry without publication times raises
    :class:`~ocireg.errors.Unsupported` before anything per tag is asked.

    A tag that cannot be resolved or dated carries the reason; only an unreadable tag list raises.
    ``on_phase(description, steps)`` announces each phase, ``on_step`` is called after each step (progress).
    """
    details = _gitlab_listing(client, repository)
    if details is None and needs_published:
        raise Unsupported(
            f"{escape(str(repository))}: --by published needs publication dates, which only GitLab's registry "
            "with its metadata database records (/gitlab/v1); this registry does not record when a tag was "
            "pushed",
            hint="use --by created (the image's build time), --by semver or --by name",
        )
    published: dict[str, datetime] = {}
    if details is not None:
        tags, digests, published, problems = details
    else:
        tags = list(dict.fromkeys(client.tags(repository)))
        chosen = tags if resolves is None else [t for t in tags if resolves(t)]
        digests, problems = _resolve(
            client, repository, chosen, jobs=jobs, on_step=on_step, on_phase=on_phase
        )
    distinct = list(dict.fromkeys(digests.values()))
    created: Mapping[Digest, datetime | str] = {}
    if (needs_created or (needs_time and details is None)) and distinct:
        reader = source or ConfigCreated()
        if on_phase is not None:
            on_phase(f"reading image dates ({reader.name})", len(distinct))
        created = reader.times(client, repository, distinct, jobs=jobs, on_step=on_step)
    states = _tag_states(tags, digests, created, published, problems, by_published=details is not None)
    if details is not None:
        used: str | None = "published"
    else:
        used = (source.name if source is not None else ConfigCreated.name) if created else None
    return Gathered(tuple(states), used, len(distinct), "gitlab" if details is not None else "v2")


_Listing = tuple[list[str], dict[str, Digest], dict[str, datetime], dict[str, str]]


def _gitlab_listing(client: RegistryClient, repository: Repository) -> _Listing | None:
    """Tags, digests, publication times and problems from GitLab's ``/gitlab/v1`` (no HEAD per tag), or None
    to use ``/v2/`` (no such API, or a broken answer: the same fallback as ``ocireg tags``).

    Read page by page, keeping only what the plan needs of each tag, one object per distinct digest: 100,000
    tags stay far below the 2.3 KB each that whole tag details cost (#23)."""
    from ocireg.errors import RegistryError

    tags: list[str] = []
    digests: dict[str, Digest] = {}
    published: dict[str, datetime] = {}
    problems: dict[str, str] = {}
    shared: dict[Digest, Digest] = {}
    try:
        pages = client.gitlab_tag_pages(repository)
        if pages is None:
            return None
        for page in pages:
            for detail in page:
                tags.append(detail.name)
                digests[detail.name] = shared.setdefault(detail.digest, detail.digest)
                if detail.published is not None:
                    published[detail.name] = detail.published
                else:
                    problems[detail.name] = "GitLab's registry recorded no publication time"
    except RegistryError:
        return None
    return tags, digests, published, problems


def _tag_states(
    tags: Sequence[str],
    digests: Mapping[str, Digest],
    created: Mapping[Digest, datetime | str],
    published: Mapping[str, datetime],
    problems: Mapping[str, str],
    *,
    by_published: bool,
) -> list[TagState]:
    """Each tag's state; its age is the publication time (``by_published``) or the build time."""
    states = []
    for tag in tags:
        digest = digests.get(tag)
        answer = created.get(digest) if digest is not None else None
        built = answer if isinstance(answer, datetime) else None
        pushed = published.get(tag)
        states.append(
            TagState(
                tag,
                digest,
                pushed if by_published else built,
                problems.get(tag) or (answer if isinstance(answer, str) else None),
                published=pushed,
                created=built,
            )
        )
    return states


def _resolve(
    client: RegistryClient,
    repository: Repository,
    tags: Sequence[str],
    *,
    jobs: int,
    on_step: Callable[[], None] | None,
    on_phase: Callable[[str, int], None] | None,
) -> tuple[dict[str, Digest], dict[str, str]]:
    """Each tag's digest through ``/v2/`` (one ``HEAD`` each, ``jobs`` at a time), or why it has none."""
    from ocireg.operations.batch import check_digests

    refs: list[tuple[str, Reference]] = []
    problems: dict[str, str] = {}
    for tag in tags:
        try:
            refs.append((tag, Reference(repository, tag)))
        except InvalidReference:
            # The registry listed something that is not a tag: it never goes into a URL.
            problems[tag] = "the registry listed it, but it is not a valid tag"
    if on_phase is not None:
        on_phase("resolving tags", len(refs))

    def resolved(index: int, result: object) -> None:
        if on_step is not None:
            on_step()

    results = {r.text: r for r in check_digests(client, refs, jobs=jobs, on_result=resolved)}
    digests: dict[str, Digest] = {}
    for tag, _ref in refs:
        result = results[tag]
        if result.digest is not None:
            digests[tag] = result.digest
        elif isinstance(result.error, NotFound):
            problems[tag] = "gone: deleted since it was listed"
        else:
            problems[tag] = _problem(result.error) if result.error else "not resolved"
    return digests, problems


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
