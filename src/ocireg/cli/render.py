"""Output: text for people, versioned JSON/JSONL for programs, dotenv for GitLab's dotenv reports.

Data goes to stdout, diagnostics to stderr (docs/architecture.md §6). Everything a registry sent is escaped in text output.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence

from ocireg.cli.exitcodes import exit_code_for
from ocireg.errors import OciregError
from ocireg.text import LazyPattern, escape

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ocireg.cli.context import Context
    from ocireg.operations import CheckResult

SCHEMA = 1

__all__ = [
    "SCHEMA",
    "dotenv_key",
    "dotenv_keys",
    "error_json",
    "human_size",
    "json_text",
    "print_error",
    "result_json",
    "write_json",
]


def error_json(error: BaseException) -> dict[str, object]:
    doc: dict[str, object] = {
        "type": type(error).__name__,
        "message": str(error),
        "exit_code": int(exit_code_for(error)),
    }
    if isinstance(error, OciregError) and error.hint:
        doc["hint"] = error.hint
    return doc


def print_error(ctx: Context, error: BaseException, prefix: str = "") -> None:
    """``ocireg: error: …`` and the hint on stderr (messages are built escaped; escape again defensively)."""
    ctx.err(f"ocireg: error: {prefix}{escape(str(error))}")
    if isinstance(error, OciregError) and error.hint:
        for number, line in enumerate(error.hint.split("\n")):
            ctx.err(f"  {'hint:' if number == 0 else '     '} {escape(line)}")


def result_json(result: CheckResult) -> dict[str, object]:
    doc: dict[str, object] = {
        "input": result.text,
        "reference": str(result.reference) if result.reference is not None else None,
        "status": result.status,
        "digest": str(result.digest) if result.digest else None,
    }
    if result.media_type:
        doc["media_type"] = result.media_type
    if result.error is not None:
        doc["error"] = error_json(result.error)
    doc["exit_code"] = int(exit_code_for(result.error))
    return doc


# json.dumps escapes C0 controls itself, but with ensure_ascii=False it writes DEL, C1 controls (U+009B is a
# CSI in some terminals), line separators and bidi overrides raw. Inside JSON strings (the only place they can
# occur in json.dumps output) \uXXXX is the same value, so the document stays identical for a parser while
# `cat`-ing it to a terminal stays harmless (SEC: output injection). Lone surrogates (from a "\ud800" escape in
# an input file) are written the same way: raw, they cannot be encoded to a UTF-8 stdout at all (BI).
_JSON_UNSAFE = LazyPattern(r"[\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def json_text(doc: object) -> str:
    """``json.dumps`` for output: UTF-8 kept readable, terminal-active characters written as ``\\uXXXX``."""
    text = json.dumps(doc, ensure_ascii=False, sort_keys=False)
    if text.isascii() and "\x7f" not in text:  # nothing _JSON_UNSAFE matches (json.dumps escapes < 0x20)
        return text
    return _JSON_UNSAFE.sub(lambda m: f"\\u{ord(m.group(0)):04x}", text)


def write_json(ctx: Context, command: str, payload: Mapping[str, object]) -> None:
    ctx.out(json_text({"schema": SCHEMA, "command": command, **payload}))


DOTENV_KEY_LENGTH = 120
_HASH_LENGTH = 8


def _short_hash(text: str) -> str:
    import hashlib

    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:_HASH_LENGTH].upper()


def dotenv_key(text: str) -> str:
    """A stable upper-case dotenv key for a reference: ``group/app:v1`` → ``GROUP_APP_V1``.

    A name longer than 120 characters is cut to 111 and gets ``_`` and the first 8 hex digits of the
    sha256 of ``text``, so two long references never share a key by their common prefix.
    """
    key = re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_").upper()
    if not key or key[0].isdigit():
        key = "REF_" + key
    if len(key) > DOTENV_KEY_LENGTH:
        key = key[: DOTENV_KEY_LENGTH - _HASH_LENGTH - 1].rstrip("_") + "_" + _short_hash(text)
    return key


def dotenv_keys(texts: Sequence[str]) -> list[str]:
    """One key per reference, unique within the batch (#14 item 10).

    :func:`dotenv_key` maps different references to one name (``app:p1.0`` and ``app:p1-0`` are both
    ``APP_P1_0``); every reference whose key another, different reference shares gets ``_`` and the first
    8 hex digits of the sha256 of the reference as written, so no line silently replaces another. The
    same reference given twice keeps one key.
    """
    plain = [dotenv_key(text) for text in texts]
    owners: dict[str, set[str]] = {}
    for text, key in zip(texts, plain, strict=True):
        owners.setdefault(key, set()).add(text)
    keys = [
        key if len(owners[key]) == 1 else f"{key[: DOTENV_KEY_LENGTH - _HASH_LENGTH - 1]}_{_short_hash(text)}"
        for text, key in zip(texts, plain, strict=True)
    ]
    return keys


def text_table(rows: Sequence[Sequence[str]]) -> list[str]:
    """Left-aligned columns separated by two spaces; the last column is not padded."""
    if not rows:
        return []
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    lines = []
    for row in rows:
        cells = [cell.ljust(widths[i]) for i, cell in enumerate(row[:-1])] + [row[-1]]
        lines.append("  ".join(cells).rstrip())
    return lines


def human_size(size: int, *, exact: bool = True) -> str:
    """``482 B``, ``1.5 KiB (1536 B)``: a readable unit above 1 KiB, with the exact bytes unless ``exact`` is
    False (progress and summary lines: ``1.5 KiB``). The one size formatter of the CLI."""
    if size < 1024:
        return f"{size} B"
    value, unit = float(size) / 1024, "KiB"
    for bigger in ("MiB", "GiB", "TiB"):
        if value < 1024:
            break
        value, unit = value / 1024, bigger
    return f"{value:.1f} {unit}" + (f" ({size} B)" if exact else "")


def result_row(result: CheckResult) -> list[str]:
    """The one text line of a reference's result (exists, digest, wait): status, reference, digest or exit code."""
    shown = escape(str(result.reference) if result.reference is not None else result.text)
    if result.status == "present":
        return ["present", shown, str(result.digest or "")]
    if result.status == "absent":
        return ["absent", shown, ""]
    return ["error", shown, f"exit {int(exit_code_for(result.error))}"]
