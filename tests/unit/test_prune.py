"""Issue #17: the prune planner is a pure function over (tags with digests and times, policy, now) → plan.

Property tests (hypothesis) for the three promises the issue names — a kept tag is never deleted, ``--keep-last
N`` keeps exactly min(N, candidates), deleting is idempotent — and table tests for each step of the order
documented in :mod:`ocireg.operations.prune`.
"""

from __future__ import annotations

import fnmatch
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ocireg.errors import Refused, UsageError
from ocireg.operations.prune import (
    Plan,
    Policy,
    TagState,
    check_max_delete,
    parse_time,
    plan_prune,
)
from ocireg.reference import Digest

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=timezone.utc)
DAY = 86400.0


def digest(n: int) -> Digest:
    return Digest("sha256", f"{n:064x}")


def state(tag: str, days: float | None, image: int = 1) -> TagState:
    time = None if days is None else NOW - timedelta(days=days)
    return TagState(tag, digest(image), time, None if time is not None else "no 'created' time", created=time)


def actions(plan: Plan) -> dict[str, str]:
    return {e.tag: e.action for e in plan.entries}


# ------------------------------------------------------------------------------------------------ the steps


def test_bi_prune_policy_needs_a_selector() -> None:
    """#17 Selection: without --match/--regex/--older-than/--keep-last the policy is refused (exit 2)."""
    with pytest.raises(UsageError, match="needs a selection"):
        Policy(keep=("v*",))
    with pytest.raises(UsageError, match="regular expression"):
        Policy(regex="(")


def test_pc_prune_selection_order() -> None:
    """#17 Selection: match/regex choose, --keep and latest excluded, --older-than keeps the young."""
    tags = [
        state("mr-1", 30),
        state("mr-2", 3),
        state("mr-keep", 30),
        state("main-1", 30),
        state("latest", 30),
        state("mr-nodate", None),
    ]
    policy = Policy(match=("mr-*",), keep=("*-keep",), older_than=14 * DAY)
    plan = plan_prune(tags, policy, now=NOW)
    assert actions(plan) == {
        "mr-1": "delete",
        "mr-2": "keep",
        "mr-keep": "keep",
        "main-1": "keep",
        "latest": "keep",
        "mr-nodate": "keep",
    }
    reasons = {e.tag: e.reason for e in plan.entries}
    assert reasons["mr-2"].startswith("younger than --older-than 14d")
    assert reasons["main-1"] == "not selected by --match/--regex"
    assert reasons["mr-nodate"].startswith("age unknown")
    assert reasons["mr-keep"] == "--keep *-keep"


def test_pc_prune_latest_only_when_named_literally() -> None:
    """#17: `latest` is kept unless a selector names it literally (a glob that matches it is not enough)."""
    tags = [state("latest", 30), state("old", 30)]
    assert actions(plan_prune(tags, Policy(match=("*",)), now=NOW))["latest"] == "keep"
    assert actions(plan_prune(tags, Policy(older_than=DAY), now=NOW))["latest"] == "keep"
    assert actions(plan_prune(tags, Policy(match=("latest",)), now=NOW))["latest"] == "delete"


def test_pc_prune_keep_files_tags_and_digests() -> None:
    """#17 --keep-files: a referenced tag, and every tag on an image referenced by digest, is kept."""
    tags = [
        state("a", 30, image=1),
        state("b", 30, image=2),
        state("c", 30, image=2),
        state("d", 30, image=3),
    ]
    policy = Policy(match=("*",), keep_tags=frozenset({"a"}), keep_digests=frozenset({digest(2)}))
    assert actions(plan_prune(tags, policy, now=NOW)) == {
        "a": "keep",
        "b": "keep",
        "c": "keep",
        "d": "delete",
    }


def test_pc_prune_keep_last_ties_go_to_version_then_name() -> None:
    """#17 --keep-last with ties: tags on one image share a time; the higher version, then name, is newer."""
    tags = [
        state("a1", 10, image=1),
        state("a2", 10, image=1),
        state("a3", 10, image=1),
        state("b1", 5, image=2),
        state("b2", 5, image=2),
    ]
    plan = plan_prune(tags, Policy(keep_last=3), now=NOW)
    assert actions(plan) == {"a1": "delete", "a2": "delete", "a3": "keep", "b1": "keep", "b2": "keep"}
    versions = [state("v1.2.0", 1), state("v1.10.0", 1), state("v1.9.0", 1), state("nightly", 1)]
    plan = plan_prune(versions, Policy(keep_last=1, by="semver"), now=NOW)
    assert actions(plan) == {"v1.2.0": "delete", "v1.10.0": "keep", "v1.9.0": "delete", "nightly": "keep"}


def test_pc_prune_keep_last_by_age_published_or_created() -> None:
    """#17 --by: --keep-last orders by the tag's age by default (``time``: GitLab's published_at where it
    answers), by ``published`` or by ``created`` (the image's build time) when asked — each its own field, so
    an image built long ago but pushed yesterday is new by publication and old by build time. A tag without
    the time asked for is kept, and the reason says which time is missing."""

    def dated(tag: str, pushed: float | None, built: float | None, image: int) -> TagState:
        published = None if pushed is None else NOW - timedelta(days=pushed)
        created = None if built is None else NOW - timedelta(days=built)
        return TagState(tag, digest(image), published, None, published=published, created=created)

    tags = [dated("rebuilt", 1, 60, 1), dated("fresh", 5, 2, 2), dated("old", 30, 30, 3)]
    by_age = plan_prune(tags, Policy(keep_last=1), now=NOW)
    assert actions(by_age) == {"rebuilt": "keep", "fresh": "delete", "old": "delete"}
    assert "newest #1 by age" in {e.tag: e.reason for e in by_age.entries}["rebuilt"]
    by_published = plan_prune(tags, Policy(keep_last=1, by="published"), now=NOW)
    assert actions(by_published) == actions(by_age)
    by_created = plan_prune(tags, Policy(keep_last=1, by="created"), now=NOW)
    assert actions(by_created) == {"rebuilt": "delete", "fresh": "keep", "old": "delete"}

    unknown = [*tags, dated("unpublished", None, 1, 4), dated("unbuilt", 2, None, 5)]
    plan = plan_prune(unknown, Policy(keep_last=1, by="published"), now=NOW)
    entry = {e.tag: e for e in plan.entries}
    assert entry["unpublished"].action == "keep"
    assert entry["unpublished"].reason.startswith("publication time unknown")
    assert entry["unbuilt"].action == "delete"  # its publication time is known
    plan = plan_prune(unknown, Policy(keep_last=1, by="created"), now=NOW)
    entry = {e.tag: e for e in plan.entries}
    assert entry["unbuilt"].action == "keep" and entry["unbuilt"].reason.startswith("build time unknown")
    assert entry["unpublished"].action == "keep" and "newest #1 by created" in entry["unpublished"].reason


def test_pc_prune_unresolved_tag_is_kept() -> None:
    """#17 Age: a tag whose digest or age cannot be determined is kept and the reason says why."""
    gone = TagState("x", None, None, "gone: deleted since it was listed")
    plan = plan_prune([gone], Policy(match=("*",)), now=NOW)
    assert plan.entries[0].action == "keep"
    assert "gone" in plan.entries[0].reason


def test_pc_prune_max_delete_refuses() -> None:
    """#17 Safety: --max-delete N refuses a plan deleting more than N tags (Refused: exit 2)."""
    plan = plan_prune([state(f"t{i}", 30) for i in range(5)], Policy(match=("t*",)), now=NOW)
    check_max_delete(plan, 5)
    with pytest.raises(Refused, match="more than --max-delete 4"):
        check_max_delete(plan, 4)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-01-01T00:00:00Z", datetime(2024, 1, 1, tzinfo=timezone.utc)),
        ("2024-01-01T02:00:00.123456789+02:00", datetime(2024, 1, 1, 0, 0, 0, 123456, tzinfo=timezone.utc)),
        ("2024-01-01T00:00:00", datetime(2024, 1, 1, tzinfo=timezone.utc)),
        ("0001-01-01T00:00:00Z", None),  # Go's zero time (reproducible builds): unknown, not "very old"
        ("yesterday", None),
        ("2024-13-01T00:00:00Z", None),
        (12345, None),
    ],
)
def test_bi_prune_parse_time(text: object, expected: datetime | None) -> None:
    """#17 Age: RFC 3339 times from image configs; anything else is "unknown", never a guess."""
    assert parse_time(text) == expected


# ------------------------------------------------------------------------------------------ property tests

TAGS = st.lists(
    st.tuples(
        st.sampled_from(["mr-", "sha-", "v1.", "nightly-", "latest", "keep-"]),
        st.integers(0, 40),
        st.one_of(st.none(), st.floats(0, 60)),
        st.integers(1, 6),
        st.one_of(st.none(), st.floats(0, 60)),
    ),
    max_size=40,
).map(
    lambda rows: [
        TagState(
            prefix if prefix == "latest" else f"{prefix}{n}",
            digest(image),
            None if days is None else NOW - timedelta(days=days),
            None if days is not None else "unknown",
            published=None if pushed is None else NOW - timedelta(days=pushed),
            created=None if days is None else NOW - timedelta(days=days),
        )
        for prefix, n, days, image, pushed in rows
    ]
)
BY = st.sampled_from([None, "created", "published", "semver", "name"])
POLICY_ARGS = st.fixed_dictionaries(
    {
        "match": st.sampled_from([(), ("mr-*",), ("mr-*", "sha-*"), ("latest",), ("*",)]),
        "regex": st.sampled_from([None, "^v1\\.", "[0-9]$"]),
        "keep": st.sampled_from([(), ("keep-*",), ("*1",)]),
        "older_than": st.one_of(st.none(), st.floats(0, 50 * DAY)),
        "keep_last": st.one_of(st.none(), st.integers(0, 12)),
        "keep_tags": st.frozensets(st.sampled_from(["mr-1", "sha-2", "v1.3"]), max_size=2),
        "keep_digests": st.frozensets(st.integers(1, 6).map(digest), max_size=2),
        "by": BY,
    }
)


def _policy(args: dict[str, Any], *, keep_last: bool = True) -> Policy:
    args = dict(args)
    if not keep_last:
        args["keep_last"] = None
    if not (
        args["match"] or args["regex"] or args["older_than"] is not None or args["keep_last"] is not None
    ):
        args["match"] = ("*",)  # a policy without a selector is refused by construction
    return Policy(**args)


@settings(max_examples=150, deadline=None)
@given(tags=TAGS, data=st.data())
def test_pc_prune_property_kept_is_never_deleted(tags: list[TagState], data: st.DataObject) -> None:
    """#17 property: every tag excluded by --keep, latest, --keep-files or an unknown age is kept; every
    tag is decided exactly once; nothing outside the candidates is deleted."""
    policy = _policy(data.draw(POLICY_ARGS))
    plan = plan_prune(tags, policy, now=NOW)
    assert len(plan.entries) == len({t.tag for t in tags})
    for entry in plan.deletes:
        assert policy.chooses(entry.tag)
        assert not any(fnmatch.fnmatchcase(entry.tag, k) for k in policy.keep)
        assert entry.tag not in policy.keep_tags
        assert entry.digest not in policy.keep_digests
        assert entry.tag != "latest" or "latest" in policy.match
        if policy.older_than is not None:
            assert entry.time is not None
            assert (NOW - entry.time).total_seconds() >= policy.older_than


@settings(max_examples=150, deadline=None)
@given(tags=TAGS, n=st.integers(0, 15), by=BY)
def test_pc_prune_property_keep_last_keeps_min_n_candidates(tags: list[TagState], n: int, by: str) -> None:
    """#17 property: --keep-last N (alone) keeps exactly min(N, candidates); the kept are the newest."""
    policy = Policy(keep_last=n, by=by)  # type: ignore[arg-type]
    plan = plan_prune(tags, policy, now=NOW)
    by_keep_last = [e for e in plan.entries if e.reason.startswith("--keep-last")]
    candidates = [e for e in plan.entries if e.action == "delete" or e.reason.startswith("--keep-last")]
    assert len(by_keep_last) == min(n, len(candidates))
    assert len(plan.deletes) == len(candidates) - len(by_keep_last)


@settings(max_examples=100, deadline=None)
@given(tags=TAGS, data=st.data())
def test_pc_prune_property_idempotent(tags: list[TagState], data: st.DataObject) -> None:
    """#17 property: deleting is idempotent — planning again over what is left deletes nothing more (for a
    policy without --keep-last, whose window moves by design), and keeps the same decisions for the rest."""
    policy = _policy(data.draw(POLICY_ARGS), keep_last=False)
    first = plan_prune(tags, policy, now=NOW)
    deleted = {e.tag for e in first.deletes}
    left = [t for t in tags if t.tag not in deleted]
    second = plan_prune(left, policy, now=NOW)
    assert second.deletes == ()
    assert actions(second) == {t: a for t, a in actions(first).items() if t not in deleted}


@settings(max_examples=100, deadline=None)
@given(tags=TAGS, data=st.data())
def test_pc_prune_property_keep_last_converges(tags: list[TagState], data: st.DataObject) -> None:
    """#17 property: with --keep-last, a second run over what is left deletes nothing more either: the N
    newest survivors are the same N."""
    policy = _policy(data.draw(POLICY_ARGS))
    first = plan_prune(tags, policy, now=NOW)
    deleted = {e.tag for e in first.deletes}
    second = plan_prune([t for t in tags if t.tag not in deleted], policy, now=NOW)
    assert second.deletes == ()
