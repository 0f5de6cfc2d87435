"""Unit tests of semantic-version parsing and the tag query (filter, latest, sort, limit) — pure, no registry."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ocireg.errors import UsageError
from ocireg.operations.tags import TagQuery, latest_tag, select_tags, sort_tags
from ocireg.semver import parse_version, version_sort_key

# semver.org §11's example, in ascending precedence.
SPEC_ORDER = [
    "1.0.0-alpha",
    "1.0.0-alpha.1",
    "1.0.0-alpha.beta",
    "1.0.0-beta",
    "1.0.0-beta.2",
    "1.0.0-beta.11",
    "1.0.0-rc.1",
    "1.0.0",
    "2.0.0",
    "2.1.0",
    "2.1.1",
]


def test_semver_spec_precedence_order() -> None:
    shuffled = SPEC_ORDER[:]
    random.Random(3).shuffle(shuffled)
    assert sort_tags(shuffled, "semver") == SPEC_ORDER


@pytest.mark.parametrize(
    ("tag", "parts"),
    [
        ("v1.2.3", (1, 2, 3, ())),
        ("V1.2.3", (1, 2, 3, ())),
        ("1.10.0-rc1", (1, 10, 0, ("rc1",))),
        ("0.0.0", (0, 0, 0, ())),
        ("1.2.3-alpha.1", (1, 2, 3, ("alpha", "1"))),
        ("1.2.3-0a", (1, 2, 3, ("0a",))),
    ],
)
def test_semver_parse(tag: str, parts: tuple[object, ...]) -> None:
    version = parse_version(tag)
    assert version is not None
    assert (version.major, version.minor, version.patch, version.prerelease) == parts
    assert version.tag == tag


@pytest.mark.parametrize(
    "tag",
    [
        "latest",
        "1.2",
        "1",
        "20240101",
        "v1.2.3.4",
        "01.2.3",
        "1.02.3",
        "1.2.3-01",
        "1.2.3-",
        "vv1.2.3",
        "1.2.3_1",
        "",
    ],
)
def test_semver_rejects_non_versions(tag: str) -> None:
    """Only complete versions count: a date tag must never beat v1.10.0 in --latest."""
    assert parse_version(tag) is None


def test_semver_build_metadata_ignored_for_precedence() -> None:
    a, b = parse_version("1.0.0+build.1"), parse_version("1.0.0+build.2")
    assert a is not None and b is not None
    assert a.precedence() == b.precedence()


def test_latest_acceptance_set() -> None:
    """PC: --latest on v1.2.0 v1.10.0 v1.9.9 latest 1.10.0-rc1 gives v1.10.0 (not lexical v1.9.9)."""
    tags = ["v1.2.0", "v1.10.0", "v1.9.9", "latest", "1.10.0-rc1"]
    assert latest_tag(tags) == "v1.10.0"
    assert latest_tag(tags, pre=True) == "v1.10.0"
    assert latest_tag(["v1.0.0", "v2.0.0-rc.1"]) == "v1.0.0"
    assert latest_tag(["v1.0.0", "v2.0.0-rc.1"], pre=True) == "v2.0.0-rc.1"
    assert latest_tag(["latest", "main", "2024.01"]) is None
    assert latest_tag(["1.10.0", "v1.10.0"]) == "v1.10.0"  # equal precedence: the larger name, deterministic


def test_select_steps_in_documented_order() -> None:
    tags = ["v1.2.0", "v1.10.0", "v1.9.9", "latest", "1.10.0-rc1", "v2.0.0"]
    assert select_tags(tags, TagQuery(sort="semver")) == [
        "v1.2.0",
        "v1.9.9",
        "1.10.0-rc1",
        "v1.10.0",
        "v2.0.0",
        "latest",
    ]
    assert select_tags(tags, TagQuery(sort="semver", reverse=True, limit=2)) == ["latest", "v2.0.0"]
    # filter before latest: the latest v1 release
    assert select_tags(tags, TagQuery(match="v1.*", latest=True)) == ["v1.10.0"]
    assert select_tags(tags, TagQuery(regex=r"^v1\.(9|10)\.", sort="none")) == ["v1.10.0", "v1.9.9"]
    assert select_tags(tags, TagQuery(sort="none")) == tags
    assert select_tags(tags, TagQuery()) == sorted(tags)
    assert select_tags([], TagQuery(latest=True)) == []


@pytest.mark.parametrize(
    "kwargs",
    [{"regex": "(unclosed"}, {"limit": 0}, {"sort": "random"}, {"regex": "a" * 2000}, {"match": "*" * 2000}],
)
def test_bi_query_rejects_bad_input(kwargs: dict[str, object]) -> None:
    with pytest.raises(UsageError):
        TagQuery(**kwargs)  # type: ignore[arg-type]


_TAGS = st.lists(
    st.one_of(
        st.from_regex(
            r"v?[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}(-[a-z0-9]{1,5}(\.[a-z0-9]{1,3})?)?", fullmatch=True
        ),
        st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}", fullmatch=True),
    ),
    max_size=40,
    unique=True,
)


@settings(max_examples=300, deadline=None)
@given(_TAGS)
def test_semver_sort_is_a_permutation_and_latest_is_its_maximum(tags: list[str]) -> None:
    """Property: sorting loses and adds nothing; versions come first; --latest is the last release in order."""
    ordered = sort_tags(tags, "semver")
    assert sorted(ordered) == sorted(tags)
    kinds = [parse_version(t) is None for t in ordered]
    assert kinds == sorted(kinds)  # all versions before all other tags
    assert [version_sort_key(t) for t in ordered] == sorted(version_sort_key(t) for t in tags)
    releases = [t for t in ordered if (v := parse_version(t)) is not None and not v.is_prerelease]
    assert latest_tag(tags) == (releases[-1] if releases else None)


def test_sort_mode_literals_list_the_same_values_as_their_tuples() -> None:
    """#16: SortMode/LatestBy are built at first use (no typing for a run) from SORT_MODES/LATEST_BY."""
    from typing import get_args

    from ocireg.operations import tags

    assert get_args(tags.SortMode) == tags.SORT_MODES
    assert get_args(tags.LatestBy) == tags.LATEST_BY
    with pytest.raises(AttributeError):
        _ = tags.NoSuchName  # type: ignore[attr-defined]
