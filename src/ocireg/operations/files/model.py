"""What a scan of deploy files returns: findings, the spans ``pin`` may rewrite, problems, the variable policy."""

from __future__ import annotations

import re
from collections.abc import Callable

from ocireg.record import field, record

__all__ = [
    "KINDS",
    "MAX_DEPTH",
    "MAX_FILE_SIZE",
    "FileProblem",
    "Finding",
    "Lookup",
    "Scan",
    "Target",
    "VariablePolicy",
    "names_secret",
]

KINDS = ("compose", "kubernetes", "gitlab-ci", "dockerfile", "helm", "kustomize")
MAX_FILE_SIZE = 8 * 1024 * 1024
MAX_DEPTH = 64

Lookup = Callable[[str], "str | None"]


@record(frozen=True)
class Target:
    """Where ``pin`` may write: ``text[start:end]`` is ``value``, of the given ``mode``.

    ``reference``: a whole image reference; ``tag``: a Helm ``image.tag`` (the digest is appended as
    ``tag@sha256:…``); ``digest``: a Helm ``image.digest`` (replaced by the digest; ``insert`` when it is empty
    and unquoted, so the digest is written after the key with a space).
    """

    start: int
    end: int
    value: str
    mode: str = "reference"
    insert_space: bool = False


@record(frozen=True)
class Finding:
    """One image reference in one file."""

    path: str
    line: int
    column: int
    kind: str
    field: str
    raw: str
    """The reference as written (for Helm: assembled from registry/repository/tag/digest)."""
    text: str | None
    """After variable expansion; ``None`` when skipped."""
    skipped: str | None = None
    target: Target | None = None
    not_pinnable: str | None = None
    """Why ``pin`` cannot rewrite this one (variables, alias, block scalar...); ``None`` if it can."""

    @property
    def location(self) -> str:
        return f"{self.path}:{self.line}"


@record(frozen=True)
class FileProblem:
    """A file that could not be read or parsed."""

    path: str
    line: int | None
    message: str


# Names that mark a secret (case-insensitive, anywhere in the name): what GitLab and most CI systems call their
# credentials — CI_JOB_TOKEN, CI_REGISTRY_PASSWORD, CI_JOB_JWT_V2, DOCKER_AUTH_CONFIG, *_API_KEY, ... .
_SECRET_NAME = re.compile(
    r"PASSWORD|PASSWD|TOKEN|SECRET|_AUTH|^AUTH_|KEY|CREDENTIAL|JWT|^DOCKER_AUTH_CONFIG$", re.IGNORECASE
)
# A held credential at least this long is also refused when a value merely contains it ("v1-<token>").
MIN_CONTAINED_SECRET = 8


def names_secret(name: str) -> bool:
    """Whether a variable name marks a secret (``*PASSWORD*``, ``*TOKEN*``, ``*SECRET*``, ``*_AUTH*``,
    ``*KEY*``, ``*CREDENTIAL*``, ``*JWT*`` ...), so that a deploy file may not expand it without permission."""
    return _SECRET_NAME.search(name) is not None


@record(frozen=True)
class VariablePolicy:
    """Which variables a deploy file may expand.

    ``allow``: names the user allowed explicitly (they are expanded whatever their name or value);
    ``secrets``: credential values ocireg holds — a variable whose value equals one (or contains one of at
    least :data:`MIN_CONTAINED_SECRET` characters) is not expanded. The default policy refuses secret names
    and knows no values.
    """

    allow: frozenset[str] = frozenset()
    secrets: frozenset[str] = frozenset()

    def refusal(self, name: str, value: str | None) -> str | None:
        """Why ``name`` (with ``value``) must not be expanded, or ``None``. Never shows the value."""
        if name in self.allow:
            return None
        if names_secret(name):
            return (
                f"${name} names a secret and is not expanded in deploy files "
                f"(allow it with --allow-env {name} if it is not one)"
            )
        if value and any(
            value == secret or (len(secret) >= MIN_CONTAINED_SECRET and secret in value)
            for secret in self.secrets
        ):
            return (
                f"the value of ${name} is a credential ocireg holds and is not expanded in deploy files "
                f"(allow it with --allow-env {name})"
            )
        return None


@record
class Scan:
    """Everything found under some paths."""

    findings: list[Finding] = field(default_factory=list)
    problems: list[FileProblem] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    texts: dict[str, str] = field(default_factory=dict)
    policy: VariablePolicy = field(default_factory=VariablePolicy)
    """The variable policy the files were read with (``pin`` reads its rewritten text with the same one)."""
