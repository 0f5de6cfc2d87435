"""Variable expansion in deploy files (``$VAR``, ``${VAR:-default}`` ...), guarded by the :class:`VariablePolicy`.

A variable whose name marks a secret, or whose value is a credential ocireg holds, is never expanded (SECURITY.md,
section 14): the reference is skipped with the reason, and nothing is sent.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from ocireg.operations.files.model import Lookup, VariablePolicy
from ocireg.record import record

__all__ = [
    "NAME",
    "Expansion",
    "Refused",
    "chain",
    "expand_variables",
    "from_mapping",
    "guarded",
    "resolve",
    "unquote",
]

NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_PLAIN = re.compile(NAME, re.ASCII)
_BRACED = re.compile(r"(" + NAME + r")(?:(:?[-+?])(.*))?", re.ASCII | re.DOTALL)
MAX_EXPANSION_DEPTH = 4


@record(frozen=True)
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


class Refused(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def guarded(lookup: Lookup, policy: VariablePolicy) -> Lookup:
    def guarded(name: str) -> str | None:
        value = lookup(name)
        reason = policy.refusal(name, value)
        if reason is not None:
            raise Refused(reason)
        return value

    return guarded


def chain(*lookups: Lookup) -> Lookup:
    def lookup(name: str) -> str | None:
        for one in lookups:
            found = one(name)
            if found is not None:
                return found
        return None

    return lookup


def from_mapping(values: Mapping[str, str]) -> Lookup:
    return values.get


def resolve(
    raw: str, lookup: Lookup, policy: VariablePolicy, *, dollar_escape: bool = True
) -> tuple[str | None, str | None, bool]:
    """(expanded text or None, skip reason, had variables)."""
    if "{{" in raw or "}}" in raw:
        return None, "template expression ({{ ... }}) is not resolved by ocireg", True
    try:
        expansion = expand_variables(raw, guarded(lookup, policy), dollar_escape=dollar_escape)
    except Refused as refused:
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


def unquote(text: str) -> str:
    """A value without the one pair of matching quotes around it (``'v'`` or ``"v"``), as ``.env`` files and
    Dockerfile ``ARG`` defaults write them."""
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    return text
