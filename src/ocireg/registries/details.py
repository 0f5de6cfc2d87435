"""A tag with its digest and dates, as a registry's own tag-details API lists it (a profile's extension,
docs/architecture.md §11): the record, and the sort orders such an API may offer.

Imported only where tag details are read (``datetime`` stays off a check's path, #16).
"""

from __future__ import annotations

import datetime as dt

from ocireg.record import record
from ocireg.reference import Digest

__all__ = ["TAG_SORTS", "TagDetail", "TagSort"]

#: The orders a tag-details listing may be asked for (``-`` descending).
TAG_SORTS: tuple[TagSort, ...] = ("name", "-name", "published_at", "-published_at")

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Literal

    TagSort = Literal["name", "-name", "published_at", "-published_at"]
else:

    def __getattr__(name: str) -> object:
        # ``typing`` costs a run more than this module (#16, start-up): the Literal type is built only when asked
        # for, from TAG_SORTS (tests/unit/test_client_listing.py checks they agree).
        if name == "TagSort":
            from typing import Literal

            return Literal[TAG_SORTS]
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@record(frozen=True)
class TagDetail:
    """One tag as a registry's tag-details API describes it (a profile's ``tag_details_page``).

    ``digest`` of the tagged manifest (an index's own digest for multi-platform images), its ``media_type``,
    ``size`` (``size_bytes``: the image's size as the registry's database counts it), ``config_digest`` (None
    for an index), ``created_at``, ``updated_at`` (None until the tag was moved to another manifest) and
    ``published_at`` (the later of the two; None from registries older than 3.85), all timezone-aware UTC.
    """

    name: str
    digest: Digest
    media_type: str | None
    size: int | None
    config_digest: Digest | None
    created_at: dt.datetime | None
    updated_at: dt.datetime | None
    published_at: dt.datetime | None

    @property
    def published(self) -> dt.datetime | None:
        """``published_at``, else the later of ``created_at`` and ``updated_at`` (older registries)."""
        if self.published_at is not None:
            return self.published_at
        known = [t for t in (self.created_at, self.updated_at) if t is not None]
        return max(known) if known else None
