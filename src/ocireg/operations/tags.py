"""Tag queries: list a repository's tags, then filter, pick the latest release, sort, cut, resolve digests.

The order of the steps is fixed and documented because it decides the answer:

1. ``match`` (shell glob, :func:`fnmatch.fnmatchcase`) and ``regex`` (:func:`re.search`; anchor it with
   ``^...$`` for a full match) keep the tags that pass both;
2. ``latest`` keeps only the highest semantic version (:mod:`ocireg.semver`; pre-releases only with ``pre``),
   or with ``by="published"`` the tag published last;
3. ``sort``: ``name`` (code-point order), ``semver`` (versions by precedence, then every other tag by name),
   ``published`` (oldest first, ties by name) or ``none`` (the registry's order); ``reverse`` flips the result;
4. ``limit`` keeps the first N;
5. digests, if asked for, are resolved for what is left, concurrently (``jobs``), reusing the batch checker of
   ``ocireg exists``/``digest``.

Where the registry has a tag-details listing of its own (its profile's extension, docs/architecture.md §11), the
listing comes from it (:meth:`~ocireg.client.RegistryClient.tag_details`) whenever digests or publication dates
are needed: one request per page of tags instead of one ``HEAD`` per tag. Elsewhere ``/v2/`` tags/list and
``HEAD`` requests are used, and ``published`` (sort or latest) is refused: only such a listing records when a tag
was pushed.

:func:`select_tags` (steps 1-4) is pure; :func:`list_tags` adds the registry.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import re
from collections.abc import Mapping, Sequence

from ocireg.errors import (
    InvalidReference,
    OciregError,
    ProtocolViolation,
    RegistryError,
    Unsupported,
    UsageError,
)
from ocireg.record import field, record
from ocireg.reference import Digest, Reference, Repository
from ocireg.semver import Precedence, parse_version, version_sort_key
from ocireg.text import escape

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Literal

    from ocireg.client import RegistryClient, TagDetail

    SortMode = Literal["name", "semver", "published", "none"]
    LatestBy = Literal["semver", "published"]
else:

    def __getattr__(name: str) -> object:
        # ``typing`` costs a tags run more than its sort (#16, start-up): the Literal types are built only when
        # someone asks for them, from the tuples below (tests/unit/test_tags.py checks they agree).
        if name in _LITERALS:
            from typing import Literal

            return Literal[_LITERALS[name]]
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "LATEST_BY",
    "SORT_MODES",
    "LatestBy",
    "SortMode",
    "TagEntry",
    "TagListing",
    "TagQuery",
    "latest_published",
    "latest_tag",
    "list_tags",
    "select_tags",
    "sort_tags",
]

SORT_MODES: tuple[SortMode, ...] = ("name", "semver", "published", "none")
LATEST_BY: tuple[LatestBy, ...] = ("semver", "published")
_LITERALS = {"SortMode": SORT_MODES, "LatestBy": LATEST_BY}
_MAX_PATTERN = 1024
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)


@record(frozen=True)
class TagQuery:
    """What to keep and in which order (see the module docstring for the order of the steps)."""

    match: str | None = None
    regex: str | None = None
    sort: SortMode = "name"
    reverse: bool = False
    latest: bool = False
    pre: bool = False
    limit: int | None = None
    by: LatestBy = "semver"
    _compiled: re.Pattern[str] | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.sort not in SORT_MODES:
            raise UsageError(f"unknown sort {escape(str(self.sort))!r}: use one of {', '.join(SORT_MODES)}")
        if self.limit is not None and self.limit < 1:
            raise UsageError("--limit must be at least 1")
        if self.by not in LATEST_BY:
            raise UsageError(f"unknown --by {escape(str(self.by))!r}: use one of {', '.join(LATEST_BY)}")
        if self.match is not None and len(self.match) > _MAX_PATTERN:
            raise UsageError(f"--match pattern longer than {_MAX_PATTERN} characters")
        if self.regex is not None:
            if len(self.regex) > _MAX_PATTERN:
                raise UsageError(f"--regex longer than {_MAX_PATTERN} characters")
            try:
                compiled = re.compile(self.regex)
            except re.error as exc:
                raise UsageError(
                    f"--regex {escape(self.regex)!r} is not a valid regular expression: {exc}"
                ) from None
            object.__setattr__(self, "_compiled", compiled)

    @property
    def needs_published(self) -> bool:
        """True when the answer depends on when tags were published (a registry's tag-details listing only)."""
        return self.sort == "published" or (self.latest and self.by == "published")

    def keeps(self, tag: str) -> bool:
        """True when ``tag`` passes ``match`` and ``regex``."""
        if self.match is not None and not fnmatch.fnmatchcase(tag, self.match):
            return False
        return self._compiled is None or self._compiled.search(tag) is not None


def latest_tag(tags: Sequence[str], *, pre: bool = False) -> str | None:
    """The tag with the highest semantic version (pre-releases only with ``pre``); ties go to the larger name.

    ``["v1.2.0", "v1.10.0", "v1.9.9", "latest", "1.10.0-rc1"]`` → ``"v1.10.0"``.
    """
    best: tuple[Precedence, str] | None = None
    for tag in tags:
        version = parse_version(tag)
        if version is None or (version.is_prerelease and not pre):
            continue
        key = (version.precedence(), tag)
        if best is None or key > best:
            best = key
    return best[1] if best is not None else None


def sort_tags(
    tags: Sequence[str],
    mode: SortMode,
    *,
    reverse: bool = False,
    published: Mapping[str, dt.datetime] | None = None,
) -> list[str]:
    """``tags`` sorted by ``mode`` (``none`` keeps the given order), reversed if asked.

    ``published`` (tag -> publication time) is needed for ``mode="published"``: oldest first, ties by name, tags
    without a date first."""
    if mode == "name":
        ordered = sorted(tags)
    elif mode == "published":
        if published is None:
            raise ValueError("sorting by publication needs the publication times")
        ordered = sorted(tags, key=lambda t: (_EPOCH if (when := published.get(t)) is None else when, t))
    elif mode == "semver":
        ordered = sorted(tags, key=version_sort_key)
    else:
        ordered = list(tags)
    if reverse:
        ordered.reverse()
    return ordered


def latest_published(tags: Sequence[str], published: Mapping[str, dt.datetime]) -> str | None:
    """The tag published last (ties go to the larger name); tags without a date never win."""
    dated = [(published[t], t) for t in tags if t in published]
    return max(dated)[1] if dated else None


def select_tags(
    tags: Sequence[str], query: TagQuery, published: Mapping[str, dt.datetime] | None = None
) -> list[str]:
    """Steps 1-4 of the module docstring over a list of tags (pure); ``published`` for the ``published`` modes."""
    if query.needs_published and published is None:
        raise ValueError("this query needs the publication times")
    kept = [tag for tag in tags if query.keeps(tag)]
    if query.latest:
        if query.by == "published":
            best = latest_published(kept, published or {})
        else:
            best = latest_tag(kept, pre=query.pre)
        kept = [best] if best is not None else []
    kept = sort_tags(kept, query.sort, reverse=query.reverse, published=published)
    if query.limit is not None:
        kept = kept[: query.limit]
    return kept


@record(frozen=True)
class TagEntry:
    """One selected tag; with digests asked for, its digest or the error that prevented resolving it."""

    tag: str
    digest: Digest | None = None
    error: OciregError | None = None
    published: dt.datetime | None = None


@record(frozen=True)
class TagListing:
    """The answer of :func:`list_tags`: the repository, how many tags it has, and the selected ones."""

    repository: Repository
    total: int
    entries: tuple[TagEntry, ...]
    query: TagQuery
    source: str = "v2"
    """Where the listing came from: ``"v2"`` (tags/list, HEAD per digest) or the name of the registry profile
    whose tag-details listing answered."""

    @property
    def tags(self) -> list[str]:
        return [entry.tag for entry in self.entries]


def list_tags(
    client: RegistryClient,
    repository: Repository,
    query: TagQuery | None = None,
    *,
    digests: bool = False,
    jobs: int = 8,
    page_size: int = 1000,
) -> TagListing:
    """All tags of ``repository`` (every page), selected by ``query``; with ``digests``, each one's digest.

    Digests are the manifest digests a ``HEAD`` reports (an index's own digest for multi-platform images),
    resolved ``jobs`` at a time. A tag that cannot be resolved carries its error; the listing itself raises
    only when the tag list cannot be read.
    """
    query = query or TagQuery()
    details = None
    if digests or query.needs_published:
        details = registry_details(client, repository)
    if details is not None:
        every = [d.name for d in details]
        published = {d.name: when for d in details if (when := d.published) is not None}
        by_name = {d.name: d for d in details}
        selected = select_tags(every, query, published)
        entries = tuple(TagEntry(tag, by_name[tag].digest, published=published.get(tag)) for tag in selected)
        source = client.session(repository.registry).profile.name
        return TagListing(
            repository=repository, total=len(every), entries=entries, query=query, source=source
        )
    if query.needs_published:
        raise Unsupported(
            f"{escape(str(repository))}: sorting or choosing tags by publication date needs a registry that "
            f"records when a tag was pushed ({publication_dates_from()}); this registry does not",
            hint="use --sort semver / --latest (by version) instead",
        )
    every = client.tags(repository, page_size=page_size)
    selected = select_tags(every, query)
    if not digests:
        entries = tuple(TagEntry(tag) for tag in selected)
    else:
        entries = _with_digests(client, repository, selected, jobs=jobs)
    return TagListing(repository=repository, total=len(every), entries=entries, query=query)


def registry_details(client: RegistryClient, repository: Repository) -> list[TagDetail] | None:
    """The registry's own tag-details listing, or None to use ``/v2/``: where the registry has none, or where its
    answer is broken (a registry error there must not fail what ``/v2/`` can still answer)."""
    try:
        return client.tag_details(repository)
    except RegistryError:
        return None


def publication_dates_from() -> str:
    """The registries whose tag-details listing records publication dates, for a message."""
    from ocireg.registries import all_profiles

    return ", ".join(p.tag_details_title for p in all_profiles() if p.tag_details_title) or "none known"


def _with_digests(
    client: RegistryClient, repository: Repository, tags: Sequence[str], *, jobs: int
) -> tuple[TagEntry, ...]:
    from ocireg.operations.batch import check_digests

    refs: list[tuple[str, Reference]] = []
    invalid: dict[str, OciregError] = {}
    for tag in tags:
        try:
            refs.append((tag, Reference(repository, tag)))
        except InvalidReference:
            # The registry listed something that is not a tag: never put it into a URL.
            invalid[tag] = ProtocolViolation(
                f"the registry listed {escape(tag)!r} as a tag of {escape(str(repository))}, "
                "which is not a valid tag"
            )
    results = {result.text: result for result in check_digests(client, refs, jobs=jobs)}
    entries = []
    for tag in tags:
        if tag in invalid:
            entries.append(TagEntry(tag, error=invalid[tag]))
        else:
            result = results[tag]
            entries.append(TagEntry(tag, digest=result.digest, error=result.error))
    return tuple(entries)
