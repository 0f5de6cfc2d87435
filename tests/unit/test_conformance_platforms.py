"""#13 item 1: platform matching agrees with containerd's strict matcher (the wrong-image bug).

Cases transcribed from github.com/containerd/platforms at commit 09756f59cb1d6b3fb368f371043d36e634789537:

* ``compare_test.go`` ``TestOnlyStrict``: every (platform, should-match, candidates) row, in the specifier
  syntax of that file (``os[(osversion)]/arch[/variant]``);
* ``platforms_test.go`` ``TestParseSelector``: the rows with an ``os/arch[/variant]`` input, as "normalises to
  the same platform as ``expected`` and matches every entry of ``matches``".

Not transcribed, on purpose: the one-component inputs of ``TestParseSelector`` (``arm``, ``linux``,
``macOS``...), which containerd completes from the machine it runs on (``runtime.GOOS``/``GOARCH``):
``ocireg --platform`` always names OS and architecture, because the image to check is for a deployment
target, not for the machine running the check; and the OS-feature rows (``linux(+gpu)``), which OCI indexes
in registries do not carry and ``--platform`` cannot express.
"""

from __future__ import annotations

import hashlib
import json
import re

import pytest

from ocireg.errors import NotFound
from ocireg.manifest import (
    Index,
    Platform,
    normalize_platform,
    parse_manifest,
    parse_platform,
    platform_matches,
    select_platform,
)

_SPECIFIER = re.compile(r"(?P<os>[^(/]+)(?:\((?P<osv>[^)]*)\))?/(?P<arch>[^/]+)(?:/(?P<variant>.+))?")


def spec(text: str) -> Platform:
    """containerd's ``os[(osversion)]/arch[/variant]`` specifier as a :class:`Platform` (no normalisation)."""
    m = _SPECIFIER.fullmatch(text)
    assert m is not None, text
    return Platform(m["os"], m["arch"], m["variant"] or None, m["osv"] or None)


# compare_test.go TestOnlyStrict: (want, {True: [...], False: [...]})
ONLY_STRICT: list[tuple[str, dict[bool, list[str]]]] = [
    (
        "linux/amd64",
        {
            True: ["linux/amd64"],
            False: ["linux/386", "linux/arm/v7", "linux/arm64", "windows/amd64", "windows/arm"],
        },
    ),
    (
        "linux/386",
        {
            True: ["linux/386"],
            False: ["linux/amd64", "linux/arm/v7", "linux/arm64", "windows/amd64", "windows/arm"],
        },
    ),
    (
        "windows/amd64",
        {
            True: ["windows/amd64", "windows(10.0.17763)/amd64"],
            False: ["linux/amd64", "linux/arm/v7", "linux/arm64", "windows/arm"],
        },
    ),
    (
        "windows(10.0.17763)/amd64",
        {
            True: ["windows/amd64", "windows(10.0.17763)/amd64"],
            False: ["linux/amd64", "linux/arm/v7", "linux/arm64", "windows/arm"],
        },
    ),
    (
        "linux/arm/v8",
        {
            True: ["linux/arm/v8"],
            False: [
                "linux/arm",
                "linux/arm/v5",
                "linux/arm/v6",
                "linux/arm/v7",
                "linux/amd64",
                "linux/arm/v4",
                "linux/arm64",
                "windows/amd64",
                "windows/arm",
            ],
        },
    ),
    (
        "linux/arm/v7",
        {
            True: ["linux/arm", "linux/arm/v7"],
            False: [
                "linux/arm/v5",
                "linux/arm/v6",
                "linux/amd64",
                "linux/arm/v4",
                "linux/arm/v8",
                "linux/arm64",
                "windows/amd64",
                "windows/arm",
            ],
        },
    ),
    (
        "linux/arm/v6",
        {
            True: ["linux/arm/v6"],
            False: [
                "linux/arm/v5",
                "linux/amd64",
                "linux/arm",
                "linux/arm/v4",
                "linux/arm/v7",
                "linux/arm/v8",
                "linux/arm64",
                "windows/amd64",
                "windows/arm",
            ],
        },
    ),
    (
        "linux/arm/v5",
        {
            True: ["linux/arm/v5"],
            False: [
                "linux/amd64",
                "linux/arm",
                "linux/arm/v4",
                "linux/arm/v6",
                "linux/arm/v7",
                "linux/arm/v8",
                "linux/arm64",
                "windows/amd64",
                "windows/arm",
            ],
        },
    ),
    (
        "linux/arm/v4",
        {
            True: ["linux/arm/v4"],
            False: [
                "linux/amd64",
                "linux/arm",
                "linux/arm/v5",
                "linux/arm/v6",
                "linux/arm/v7",
                "linux/arm/v8",
                "linux/arm64",
                "windows/amd64",
                "windows/arm",
            ],
        },
    ),
    (
        "linux/arm64/v9.5",
        {
            True: ["linux/arm64/v9.5"],
            False: [
                "linux/arm",
                "linux/arm/v5",
                "linux/arm/v6",
                "linux/arm/v7",
                "linux/arm/v8",
                "linux/amd64",
                "linux/arm/v4",
                "linux/arm64/v8",
                "linux/arm64/v8.1",
                "linux/arm64/v9",
                "linux/arm64/v9.1",
                "linux/arm64/v9.4",
                "windows/amd64",
                "windows/arm",
            ],
        },
    ),
    (
        "linux/arm64/v9",
        {
            True: ["linux/arm64/v9", "linux/arm64/v9.0"],
            False: [
                "linux/arm",
                "linux/arm/v5",
                "linux/arm/v6",
                "linux/arm/v7",
                "linux/arm/v8",
                "linux/amd64",
                "linux/arm/v4",
                "linux/arm/v9",
                "linux/arm64/v8",
                "linux/arm64/v8.1",
                "windows/amd64",
                "windows/arm",
            ],
        },
    ),
    (
        "linux/arm64/v8.1",
        {
            True: ["linux/arm64/v8.1"],
            False: [
                "linux/arm",
                "linux/arm/v5",
                "linux/arm/v6",
                "linux/arm/v7",
                "linux/arm/v8",
                "linux/amd64",
                "linux/arm/v4",
                "linux/arm/v9",
                "linux/arm64/v8",
                "linux/arm64/v9",
                "windows/amd64",
                "windows/arm",
            ],
        },
    ),
    (
        "linux/arm64",
        {
            True: ["linux/arm64", "linux/arm64/v8"],
            False: [
                "linux/arm",
                "linux/arm/v5",
                "linux/arm/v6",
                "linux/arm/v7",
                "linux/arm/v8",
                "linux/amd64",
                "linux/arm/v4",
                "linux/arm/v9",
                "linux/arm64/v9",
                "windows/amd64",
                "windows/arm",
            ],
        },
    ),
]

STRICT_CASES = [
    (want, have, expected)
    for want, table in ONLY_STRICT
    for expected, haves in table.items()
    for have in haves
]


@pytest.mark.parametrize(
    ("want", "have", "expected"), STRICT_CASES, ids=[f"{w}~{h}" for w, h, _ in STRICT_CASES]
)
def test_pc_platform_only_strict_containerd(want: str, have: str, expected: bool) -> None:
    """#13 item 1: containerd TestOnlyStrict, row by row."""
    assert platform_matches(spec(want), spec(have)) is expected


# platforms_test.go TestParseSelector, rows with an os/arch[/variant] input: (input, expected, matches)
PARSE_SELECTOR: list[tuple[str, Platform, list[Platform]]] = [
    (
        "linux/arm64",
        Platform("linux", "arm64"),
        [Platform("linux", "aarch64"), Platform("linux", "aarch64", "v8"), Platform("linux", "arm64", "v8")],
    ),
    (
        "linux/arm64/v8",
        Platform("linux", "arm64", "v8"),
        [Platform("linux", "aarch64"), Platform("linux", "aarch64", "v8"), Platform("linux", "arm64")],
    ),
    (
        "linux/arm",
        Platform("linux", "arm"),
        [Platform("linux", "arm", "v7"), Platform("linux", "armhf"), Platform("linux", "arm", "7")],
    ),
    ("linux/arm/v6", Platform("linux", "arm", "v6"), [Platform("linux", "armel")]),
    ("linux/arm/v7", Platform("linux", "arm", "v7"), [Platform("linux", "arm"), Platform("linux", "armhf")]),
    ("Linux/x86_64", Platform("linux", "amd64"), []),
    ("linux/s390x", Platform("linux", "s390x"), []),
]


@pytest.mark.parametrize(("text", "expected", "matches"), PARSE_SELECTOR, ids=[r[0] for r in PARSE_SELECTOR])
def test_pc_platform_parse_selector_containerd(
    text: str, expected: Platform, matches: list[Platform]
) -> None:
    """#13 item 1: containerd TestParseSelector: same normal form as ``expected``; matches every listed entry."""
    parsed = parse_platform(text)
    assert normalize_platform(parsed) == normalize_platform(expected)
    for have in [expected, *matches]:
        assert platform_matches(parsed, have), have


@pytest.mark.parametrize(
    ("raw", "normal"),
    [
        # database.go normalizeArch, branch by branch
        (Platform("linux", "i386", "x"), Platform("linux", "386")),
        (Platform("linux", "x86-64", "v1"), Platform("linux", "amd64")),
        (Platform("linux", "x86_64", "v3"), Platform("linux", "amd64", "v3")),
        (Platform("linux", "AArch64", "8"), Platform("linux", "arm64")),
        (Platform("linux", "arm64", "v8.0"), Platform("linux", "arm64")),
        (Platform("linux", "arm64", "9"), Platform("linux", "arm64", "v9")),
        (Platform("linux", "arm64", "9.0"), Platform("linux", "arm64", "v9")),
        (Platform("linux", "arm64", "v9.0"), Platform("linux", "arm64", "v9")),
        (Platform("linux", "arm64", "v9.1"), Platform("linux", "arm64", "v9.1")),
        (Platform("linux", "armhf", "v5"), Platform("linux", "arm", "v7")),
        (Platform("linux", "armel"), Platform("linux", "arm", "v6")),
        (Platform("linux", "arm", "7"), Platform("linux", "arm", "v7")),
        (Platform("linux", "arm", "5"), Platform("linux", "arm", "v5")),
        (Platform("MacOS", "arm64"), Platform("darwin", "arm64")),
    ],
)
def test_pc_platform_normalize_containerd(raw: Platform, normal: Platform) -> None:
    """#13 item 1: ``normalize_platform`` is containerd's ``Normalize``."""
    assert normalize_platform(raw) == normal


def _index(platforms: list[tuple[str, str, str | None]]) -> Index:
    manifests = []
    for n, (os_, arch, variant) in enumerate(platforms):
        platform = {"os": os_, "architecture": arch, **({"variant": variant} if variant else {})}
        digest = "sha256:" + hashlib.sha256(str(n).encode()).hexdigest()
        manifests.append(
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": digest,
                "size": 100,
                "platform": platform,
            }
        )
    raw = json.dumps(
        {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": manifests}
    ).encode()
    index = parse_manifest(raw, "application/vnd.oci.image.index.v1+json")
    assert isinstance(index, Index)
    return index


VARIANTS = [("linux", "amd64", "v3"), ("linux", "amd64", None), ("linux", "arm64", "v9")]


@pytest.mark.parametrize(
    ("asked", "position"),
    [
        ("linux/amd64", 1),  # the case: not the first entry (amd64/v3)
        ("linux/amd64/v1", 1),
        ("linux/amd64/v3", 0),
        ("linux/arm64/v9", 2),
        ("linux/arm64/v9.0", 2),
        ("linux/aarch64/v9", 2),
    ],
)
def test_pc_platform_select_takes_the_exact_child(asked: str, position: int) -> None:
    """#13 item 1: the exact (normalised) match wins over index order."""
    index = _index(VARIANTS)
    assert select_platform(index, parse_platform(asked)) == index.manifests[position]


@pytest.mark.parametrize("asked", ["linux/arm64", "linux/arm64/v8", "linux/amd64/v2", "linux/arm/v7"])
def test_pc_platform_select_never_takes_another_variant(asked: str) -> None:
    """#13 item 1: nothing matches → NotFound (exit 1) listing what the index has, and how to ask for it."""
    index = _index(VARIANTS)
    with pytest.raises(NotFound) as info:
        select_platform(index, parse_platform(asked))
    assert "available: linux/amd64/v3, linux/amd64, linux/arm64/v9" in str(info.value)
    if asked.startswith("linux/arm64"):
        assert info.value.hint is not None and "--platform linux/arm64/v9" in info.value.hint


def test_pc_platform_select_prefers_the_spelling_asked_for() -> None:
    """#13 item 1: two entries that normalise alike (arm64 and arm64/v8): the one spelled as asked wins."""
    index = _index([("linux", "arm64", None), ("linux", "arm64", "v8")])
    assert select_platform(index, parse_platform("linux/arm64/v8")) == index.manifests[1]
    assert select_platform(index, parse_platform("linux/arm64")) == index.manifests[0]
