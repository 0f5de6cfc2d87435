"""Semantic versions in image tags: parse ``[v]MAJOR.MINOR.PATCH[-PRE][+BUILD]`` and order by precedence.

Precedence follows Semantic Versioning 2.0.0 §11 (https://semver.org/#spec-item-11): numbers compare
numerically; a pre-release sorts before its release; pre-release identifiers compare one by one, numeric ones
numerically and below alphanumeric ones, which compare in ASCII order; more identifiers win when all before
are equal; build metadata is ignored. Tags commonly carry a leading ``v`` (``v1.2.3``), which is accepted.

Only complete versions are versions here: ``1.2``, ``latest`` or ``20240101`` are not (``--latest`` must not
mistake a date tag for version 20 million). Pure: no I/O, no ocireg imports.
"""

from __future__ import annotations

from ocireg.record import record
from ocireg.text import LazyPattern

__all__ = ["Precedence", "Version", "parse_version", "version_sort_key"]

# semver.org's regular expression with ASCII digits only, plus an optional leading v/V.
_NUM = r"0|[1-9][0-9]*"
_PRE_ID = r"(?:0|[1-9][0-9]*|[0-9]*[A-Za-z-][0-9A-Za-z-]*)"
_SEMVER = LazyPattern(
    rf"[vV]?(?P<major>{_NUM})\.(?P<minor>{_NUM})\.(?P<patch>{_NUM})"
    rf"(?:-(?P<pre>{_PRE_ID}(?:\.{_PRE_ID})*))?"
    r"(?:\+(?P<build>[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?"
)
# Tags are at most 128 characters; anything much longer is not a tag and is not parsed at all.
_MAX_LENGTH = 256

PreKey = tuple[tuple[int, int, str], ...]
#: What :meth:`Version.precedence` returns.
Precedence = tuple[int, int, int, int, PreKey]


@record(frozen=True)
class Version:
    """A parsed semantic version; ``tag`` is the text it came from (``v1.2.3``)."""

    major: int
    minor: int
    patch: int
    prerelease: tuple[str, ...] = ()
    build: tuple[str, ...] = ()
    tag: str = ""

    @property
    def is_prerelease(self) -> bool:
        return bool(self.prerelease)

    def precedence(self) -> Precedence:
        """A key whose natural order is semver precedence (equal keys: equal precedence)."""
        if not self.prerelease:
            return (self.major, self.minor, self.patch, 1, ())
        identifiers = tuple(
            (0, int(part), "") if part.isdigit() else (1, 0, part) for part in self.prerelease
        )
        return (self.major, self.minor, self.patch, 0, identifiers)

    def __str__(self) -> str:
        text = f"{self.major}.{self.minor}.{self.patch}"
        if self.prerelease:
            text += "-" + ".".join(self.prerelease)
        if self.build:
            text += "+" + ".".join(self.build)
        return text


def parse_version(tag: str) -> Version | None:
    """The semantic version in ``tag`` (a leading ``v`` allowed), or ``None`` if it is not one."""
    if not isinstance(tag, str) or len(tag) > _MAX_LENGTH:
        return None
    match = _SEMVER.fullmatch(tag)
    if match is None:
        return None
    pre = match.group("pre")
    build = match.group("build")
    return Version(
        major=int(match.group("major")),
        minor=int(match.group("minor")),
        patch=int(match.group("patch")),
        prerelease=tuple(pre.split(".")) if pre else (),
        build=tuple(build.split(".")) if build else (),
        tag=tag,
    )


def version_sort_key(tag: str) -> tuple[int, Precedence, str]:
    """Sort key: versions first in precedence order (ties by name), then every other tag by name."""
    version = parse_version(tag)
    if version is None:
        return (1, (0, 0, 0, 0, ()), tag)
    return (0, version.precedence(), tag)
