"""The registry side of ``ocireg prune``: every tag of a repository with its digest and its times (:func:`gather`).

Where the registry has a tag-details listing of its own (its profile's extension, docs/architecture.md §11), it
gives all three in one request per page of tags, and the age is the tag's publication time (when it was pushed,
or last moved to another image). Elsewhere the tags come from ``/v2/`` (one ``HEAD`` per tag the plan looks at,
for its digest) and the age is the image's build time from an :class:`AgeSource`: :class:`ConfigCreated` reads
the image configuration's ``created`` — for an index its ``org.opencontainers.image.created`` annotation
(image-spec ``annotations.md``), else the newest child's config — fetched once per distinct digest, ``jobs`` at a
time (with a tag-details listing too, when ``--by created`` asks for build times).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Protocol

from ocireg.errors import InvalidReference, NotFound, OciregError, Unsupported
from ocireg.record import record
from ocireg.reference import Digest, Reference, Repository
from ocireg.text import escape

if TYPE_CHECKING:
    from ocireg.client import RegistryClient
    from ocireg.manifest import Index, Manifest

__all__ = [
    "INDEX_CREATED_ANNOTATION",
    "AgeSource",
    "ConfigCreated",
    "Gathered",
    "TagState",
    "gather",
    "parse_time",
]

#: image-spec annotations.md: "date and time on which the image was built, conforming to RFC 3339".
INDEX_CREATED_ANNOTATION = "org.opencontainers.image.created"
_MAX_CHILDREN = 64  # children of one index read for its time (a platform index has a handful)


@record(frozen=True)
class TagState:
    """What the registry said about one tag, or why something is unknown (``problem``).

    ``time`` is the tag's age (what ``older_than`` measures): ``published`` where the registry records it,
    else ``created``. ``published``: when the tag was pushed or last moved (a tag-details listing's ``published_at``);
    ``created``: the image's build time (its config's ``created``), when it was read.
    """

    tag: str
    digest: Digest | None = None
    time: datetime | None = None
    problem: str | None = None
    published: datetime | None = None
    created: datetime | None = None


# ------------------------------------------------------------------------------------------------------ times


_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:([Zz])|([+-])(\d{2}):?(\d{2}))?"
)


def parse_time(text: object) -> datetime | None:
    """An RFC 3339 time (as image configs and registries write them, nanoseconds included) in UTC, or ``None``.

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

    ``source``: where the ages came from — ``"published"`` (the registry's tag-details listing), ``"created"``
    (the images' configs) or ``None`` (no ages were needed or none could be read). ``listing``: ``"v2"`` or the
    name of the registry profile whose tag-details listing answered. ``distinct_digests``: how many different
    images the tags point to.
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

    The registry's own tag-details listing is asked first: where it answers, one request per page of tags gives
    every digest and publication time, and the age (``needs_time``) is the publication time. Elsewhere: ``/v2/`` tags/list,
    one ``HEAD`` per tag ``resolves`` keeps (``jobs`` at a time), and the age is the build time from ``source`` (default
    :class:`ConfigCreated`), read once per distinct digest — as it is, on any registry, with
    ``needs_created``. ``needs_published`` on a registry without publication times raises
    :class:`~ocireg.errors.Unsupported` before anything per tag is asked.

    A tag that cannot be resolved or dated carries the reason; only an unreadable tag list raises.
    ``on_phase(description, steps)`` announces each phase, ``on_step`` is called after each step (progress).
    """
    from ocireg.operations.tags import publication_dates_from

    details = _details_listing(client, repository)
    if details is None and needs_published:
        raise Unsupported(
            f"{escape(str(repository))}: --by published needs publication dates, which only a registry that "
            f"records when a tag was pushed has ({publication_dates_from()}); this registry does not",
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
    listing = client.session(repository.registry).profile.name if details is not None else "v2"
    return Gathered(tuple(states), used, len(distinct), listing)


_Listing = tuple[list[str], dict[str, Digest], dict[str, datetime], dict[str, str]]


def _details_listing(client: RegistryClient, repository: Repository) -> _Listing | None:
    """Tags, digests, publication times and problems from the registry's tag-details listing (no HEAD per tag),
    or None to use ``/v2/`` (no such listing, or a broken answer: the same fallback as ``ocireg tags``).

    Read page by page, keeping only what the plan needs of each tag, one object per distinct digest: 100,000
    tags stay far below the 2.3 KB each that whole tag details cost (#23)."""
    from ocireg.errors import RegistryError

    tags: list[str] = []
    digests: dict[str, Digest] = {}
    published: dict[str, datetime] = {}
    problems: dict[str, str] = {}
    shared: dict[Digest, Digest] = {}
    try:
        pages = client.tag_detail_pages(repository)
        if pages is None:
            return None
        for page in pages:
            for detail in page:
                tags.append(detail.name)
                digests[detail.name] = shared.setdefault(detail.digest, detail.digest)
                if detail.published is not None:
                    published[detail.name] = detail.published
                else:
                    problems[detail.name] = "the registry recorded no publication time"
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
