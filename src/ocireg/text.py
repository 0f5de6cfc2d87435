"""Text safety: escape what a registry sends before it reaches a terminal or a log.

Registry-provided strings (tags, error messages, Warning headers) may carry escape sequences meant to rewrite a
terminal or forge log lines; they are shown escaped, never interpreted.
"""

from __future__ import annotations

import re

__all__ = ["escape"]

# Lone surrogates (a YAML or JSON "\ud800" escape) are not text: a UTF-8 stdout refuses to encode them.
# Zero-width characters, the LRM/RLM marks and a byte order mark are invisible: shown raw, a reference or a
# file name looks like another one (#14 item 20: a BOM at the start of a --from-file line).
_CONTROL = re.compile(
    r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028\u2029\u202a-\u202e\u2060\u2066-\u2069\ufeff\ud800-\udfff]"
)


def _replace(match: re.Match[str]) -> str:
    char = match.group(0)
    code = ord(char)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}"


def escape(value: str) -> str:
    """Return ``value`` with control and bidi-override characters written as ``\\xNN`` / ``\\uNNNN``."""
    return _CONTROL.sub(_replace, value)
