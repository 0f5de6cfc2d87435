"""Dockerfiles and Containerfiles: ``FROM`` (and ``COPY --from=IMAGE``) with global ``ARG`` defaults, skipping
``scratch`` and earlier stage names. Read with the Dockerfile reference's rules ("Parser directives", "Format")."""

from __future__ import annotations

import re
from collections.abc import Iterator

from ocireg.operations.files.core import Document
from ocireg.operations.files.model import Finding, Target
from ocireg.operations.files.variables import resolve, unquote
from ocireg.record import record

__all__ = ["find"]


@record(frozen=True)
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


def find(doc: Document) -> Iterator[Finding]:
    reader = _Reader(doc)
    for keyword, words, _ in _instructions(doc.text):
        if keyword == "ARG" and not reader.seen_from:
            reader.arg(words)
        elif keyword == "FROM":
            reader.seen_from = True
            yield from reader.from_(words)
        elif keyword == "COPY":
            yield from reader.copy(words)


class _Reader:
    """The state of one Dockerfile read: its global ARG defaults and the stage names seen so far."""

    def __init__(self, doc: Document) -> None:
        self.doc = doc
        self.global_args: dict[str, str | None] = {}
        self.stages: set[str] = set()
        self.seen_from = False

    def lookup(self, name: str) -> str | None:
        # A declared global ARG's default wins (what 'docker build' uses without --build-arg); an ARG without
        # a default takes the environment's value, as a CI job passing --build-arg NAME=$NAME would.
        if name in self.global_args:
            default = self.global_args[name]
            return default if default is not None else self.doc.lookup(name)
        return self.doc.lookup(name)

    def arg(self, words: list[_Word]) -> None:
        for word in words:
            name, eq, value = word.text.partition("=")
            self.global_args[name] = unquote(value) if eq else None

    def from_(self, words: list[_Word]) -> Iterator[Finding]:
        args = [w for w in words if not w.text.startswith("--")]
        if not args:
            return
        found = self.finding(args[0], "FROM")
        if len(args) >= 3 and args[1].text.lower() == "as":
            self.stages.add(args[2].text.lower())
        if found is not None:
            yield found

    def copy(self, words: list[_Word]) -> Iterator[Finding]:
        for word in words:
            if word.text.startswith("--from="):
                value = word.text[len("--from=") :]
                if not value or value.isdigit() or value.lower() in self.stages:
                    continue
                sub = _Word(value, word.start + len("--from="), word.end, word.contiguous)
                found = self.finding(sub, "COPY --from")
                if found is not None:
                    yield found

    def _stage_or_scratch(self, name: str) -> bool:
        return name.lower() == "scratch" or name.lower() in self.stages

    def finding(self, word: _Word, field_name: str) -> Finding | None:
        raw = word.text
        if self._stage_or_scratch(raw):
            return None
        line, column = self.doc.lines.position(word.start)
        resolved, skipped, had_vars = resolve(raw, self.lookup, self.doc.policy, dollar_escape=False)
        if resolved is not None and self._stage_or_scratch(resolved):
            return None
        target = Target(word.start, word.end, raw) if word.contiguous else None
        why_not: str | None = None if word.contiguous else "the reference is split across lines"
        if had_vars and why_not is None:
            why_not = "contains variables; only literal references are pinned"
        path = self.doc.path
        return Finding(path, line, column, "dockerfile", field_name, raw, resolved, skipped, target, why_not)
