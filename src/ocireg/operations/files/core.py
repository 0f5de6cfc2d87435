"""The shared core of the deploy-file readers: positions, the YAML node helpers and the per-document walk.

YAML is read with ruamel.yaml's composer, which keeps the exact character offsets of every scalar; each
finding carries the span of the text to rewrite (:class:`Target`), so ``pin`` can edit values in place and
leave every other byte — comments, quoting, key order, indentation — as it was. A target is offered only when
the text at the span is exactly the parsed value (no escapes, no block scalar, no alias), so an edit can never
land anywhere else.
"""

from __future__ import annotations

import re
from typing import Any

from ocireg.operations.files.model import MAX_DEPTH, Finding, Lookup, Target, VariablePolicy
from ocireg.operations.files.variables import resolve

__all__ = [
    "Document",
    "Lines",
    "ParseProblem",
    "compose_documents",
    "get",
    "is_map",
    "is_null",
    "is_scalar",
    "is_seq",
    "items",
    "scalar_text",
    "value_span",
]


def compose_documents(text: str) -> list[Any]:
    """Every document of a YAML stream, composed (nodes with their marks); :class:`ParseProblem` if it does not parse."""
    from ruamel.yaml import YAML
    from ruamel.yaml.error import MarkedYAMLError, YAMLError

    yaml = YAML(typ="rt", pure=True)
    try:
        return list(yaml.compose_all(text))
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = exc.problem or exc.context or "invalid YAML"
        raise ParseProblem(f"not valid YAML: {problem}", line) from None
    except (YAMLError, RecursionError, ValueError) as exc:
        raise ParseProblem(f"not valid YAML: {type(exc).__name__}") from None


class ParseProblem(Exception):
    """A file that does not parse (internal: the scan turns it into a ``FileProblem``)."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


class Lines:
    """Offset → (line, column), 1-based, with YAML's line breaks (ruamel counts \\x85, \\u2028, \\u2029 too)."""

    def __init__(self, text: str) -> None:
        self.starts = [0]
        for match in re.finditer(r"\r\n|\r|\n|\x85|\u2028|\u2029", text):
            self.starts.append(match.end())

    def position(self, offset: int) -> tuple[int, int]:
        import bisect

        index = bisect.bisect_right(self.starts, offset) - 1
        return index + 1, offset - self.starts[index] + 1


STR = "tag:yaml.org,2002:str"
NULL = "tag:yaml.org,2002:null"


def node_type(node: Any) -> str:
    return type(node).__name__


def is_map(node: Any) -> bool:
    return node_type(node) == "MappingNode"


def is_seq(node: Any) -> bool:
    return node_type(node) == "SequenceNode"


def is_scalar(node: Any) -> bool:
    return node_type(node) == "ScalarNode"


def tag_of(node: Any) -> str:
    tag = getattr(node, "tag", None)
    return str(getattr(tag, "value", tag) or "")


def is_null(node: Any) -> bool:
    return is_scalar(node) and (tag_of(node) == NULL or node.value == "")


def items(node: Any, depth: int = 0, merged_from: set[int] | None = None) -> list[tuple[str, Any]]:
    """Key/value pairs of a mapping node with YAML merge keys (``<<``) applied; explicit keys win.

    Each merged mapping is read once per call (``merged_from``), so an alias bomb of merge keys stays linear.
    """
    if not is_map(node) or depth > MAX_DEPTH:
        return []
    merged_from = set() if merged_from is None else merged_from
    explicit: list[tuple[str, Any]] = []
    merged: list[tuple[str, Any]] = []
    for key, value in node.value:
        if not is_scalar(key):
            continue
        if key.value == "<<" and tag_of(key) in ("tag:yaml.org,2002:merge", STR, ""):
            sources = value.value if is_seq(value) else [value]
            for source in sources:
                if id(source) not in merged_from:
                    merged_from.add(id(source))
                    merged.extend(items(source, depth + 1, merged_from))
            continue
        explicit.append((str(key.value), value))
    names = {k for k, _ in explicit}
    out = list(explicit)
    for key, value in merged:
        if key not in names:
            names.add(key)
            out.append((key, value))
    return out


def get(node: Any, key: str) -> Any | None:
    for name, value in items(node):
        if name == key:
            return value
    return None


def scalar_text(node: Any) -> str | None:
    """The scalar's value, or None for null / non-scalars."""
    if not is_scalar(node) or is_null(node):
        return None
    return str(node.value)


def value_span(text: str, node: Any) -> tuple[int, int, str | None]:
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


class Document:
    """One document of a deploy file, as the kind readers walk it: its source, positions and variable lookup.

    ``root`` is the composed YAML node (``None`` for a Dockerfile); ``seen`` and ``walked`` make shared (aliased)
    nodes count and be walked once.
    """

    def __init__(
        self, path: str, text: str, lines: Lines, lookup: Lookup, policy: VariablePolicy, root: Any = None
    ) -> None:
        self.path = path
        self.policy = policy
        self.text = text
        self.lines = lines
        self.lookup = lookup
        self.root = root
        self.seen: set[int] = set()
        self.walked: set[int] = set()  # nodes already walked: shared (aliased) nodes are walked once

    def finding(
        self,
        node: Any,
        kind: str,
        field_name: str,
        lookup: Lookup | None = None,
    ) -> Finding | None:
        raw = scalar_text(node)
        if raw is None or id(node) in self.seen:
            return None
        self.seen.add(id(node))
        start, end, why_not = value_span(self.text, node)
        line, column = self.lines.position(start)
        resolved, skipped, had_vars = resolve(
            raw, lookup or self.lookup, self.policy, dollar_escape=kind != "kubernetes"
        )
        target = None
        not_pinnable = why_not
        if why_not is None:
            target = Target(start, end, raw, "reference")
        if had_vars and not_pinnable is None:
            not_pinnable = "contains variables; only literal references are pinned"
        if tag_of(node) not in (STR, ""):
            not_pinnable = not_pinnable or "not a plain string value"
        return Finding(
            self.path, line, column, kind, field_name, raw, resolved, skipped, target, not_pinnable
        )

    def value_target(self, image: Any, node: Any, mode: str) -> tuple[Target | None, str | None]:
        if is_null(node) and node.start_mark.index == node.end_mark.index:
            # An empty value ("digest:" and nothing): its mark sits wherever the parser went next (often the
            # next line), so the insertion point is taken right after the key's colon instead.
            key = next((k for k, v in image.value if v is node and is_scalar(k)), None)
            if mode != "digest" or key is None:
                return None, f"image.{mode} has no value"
            colon = key.end_mark.index
            while colon < len(self.text) and self.text[colon] in " \t":
                colon += 1
            if colon >= len(self.text) or self.text[colon] != ":":
                return None, "the digest field has no value and no plain 'digest:' key to write after"
            return Target(colon + 1, colon + 1, "", mode, insert_space=True), None
        start, end, why_not = value_span(self.text, node)
        if why_not is not None:
            return None, why_not
        return Target(start, end, self.text[start:end], mode), None

    def assembled(
        self, anchor: Any, kind: str, field_name: str, raw: str, pin: tuple[Target | None, str | None]
    ) -> Finding:
        """A finding assembled from several fields (Helm, kustomize), at ``anchor``; ``pin``: (target, why not)."""
        line, column = self.position(anchor)
        resolved, skipped, had_vars = resolve(raw, self.lookup, self.policy)
        target, why_not = pin
        if had_vars and why_not is None:
            why_not = "contains variables; only literal references are pinned"
        return Finding(self.path, line, column, kind, field_name, raw, resolved, skipped, target, why_not)

    def unresolved(self, anchor: Any, kind: str, field_name: str, raw: str, reason: str) -> Finding:
        """A finding skipped for ``reason`` before any variable is looked at (an empty name, no tag...)."""
        line, column = self.position(anchor)
        return Finding(self.path, line, column, kind, field_name, raw, None, reason)

    def position(self, node: Any) -> tuple[int, int]:
        """(line, column) where the scalar's value starts."""
        start, _, _ = value_span(self.text, node)
        return self.lines.position(start)

    def enter(self, node: Any, depth: int) -> bool:
        """Whether a recursive walk goes into ``node``: not too deep, and not walked before (an alias)."""
        if depth > MAX_DEPTH or id(node) in self.walked:
            return False
        self.walked.add(id(node))
        return True
