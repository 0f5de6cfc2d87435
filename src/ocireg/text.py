"""Text safety: escape what a registry sends before it reaches a terminal or a log.

Registry-provided strings (tags, error messages, Warning headers) may carry escape sequences meant to rewrite a
terminal or forge log lines; they are shown escaped, never interpreted.
"""

from __future__ import annotations

import base64
import re
import sys
from _thread import allocate_lock  # threading.Lock itself; threading stays off a check's path (#16, start-up)
from collections.abc import Callable, Iterator
from urllib.parse import quote

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["KnownSecrets", "LazyPattern", "escape", "is_utf8"]


class LazyPattern:
    """``re.compile(pattern, flags)``, compiled at its first use rather than at import.

    A check uses a few of the ~30 module-level patterns, and compiling them all cost more start-up than
    anything else ocireg does at import (#16). Only the methods ocireg calls are offered, typed as ``re.Pattern``'s.
    """

    __slots__ = ("_compiled", "_flags", "pattern")

    def __init__(self, pattern: str, flags: int = 0) -> None:
        self.pattern = pattern
        self._flags = flags
        self._compiled: re.Pattern[str] | None = None

    def compiled(self) -> re.Pattern[str]:
        compiled = self._compiled
        if compiled is None:  # two threads may both compile it: the same pattern either way
            compiled = self._compiled = re.compile(self.pattern, self._flags)
        return compiled

    def fullmatch(self, string: str, pos: int = 0, endpos: int = sys.maxsize) -> re.Match[str] | None:
        return self.compiled().fullmatch(string, pos, endpos)

    def match(self, string: str, pos: int = 0, endpos: int = sys.maxsize) -> re.Match[str] | None:
        return self.compiled().match(string, pos, endpos)

    def search(self, string: str, pos: int = 0, endpos: int = sys.maxsize) -> re.Match[str] | None:
        return self.compiled().search(string, pos, endpos)

    def sub(self, repl: str | Callable[[re.Match[str]], str], string: str, count: int = 0) -> str:
        return self.compiled().sub(repl, string, count)

    def finditer(self, string: str, pos: int = 0, endpos: int = sys.maxsize) -> Iterator[re.Match[str]]:
        return self.compiled().finditer(string, pos, endpos)

    def findall(self, string: str, pos: int = 0, endpos: int = sys.maxsize) -> list[Any]:
        return self.compiled().findall(string, pos, endpos)


# Lone surrogates (a YAML or JSON "\ud800" escape) are not text: a UTF-8 stdout refuses to encode them.
# Zero-width characters, the LRM/RLM marks and a byte order mark are invisible: shown raw, a reference or a
# file name looks like another one (#14 item 20: a BOM at the start of a --from-file line).
_CONTROL = LazyPattern(
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
    # ASCII and printable: no character of _CONTROL (most text), answered without the regex (#16, start-up)
    if value.isascii() and value.isprintable():
        return value
    return _CONTROL.sub(_replace, value)


def is_utf8(text: str) -> bool:
    """Whether ``text`` encodes as UTF-8: bytes that are not UTF-8 arrive surrogate-escaped, and an unpaired
    surrogate from a ``"\\ud800"`` JSON escape does not encode either (a header built from it would fail)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


#: Shorter secrets are not redacted: replacing every "ab" in a message would destroy it and hide nothing.
MIN_SECRET_LENGTH = 4
REDACTED = "***"


class KnownSecrets:
    """Every secret this process has used — passwords, tokens, ``Authorization`` values — so that text a
    registry or token service sent can be shown without echoing one of them back (#14 item 6).

    Thread-safe; :meth:`redact` replaces longer secrets first, so a token that contains a password is hidden
    whole.
    """

    def __init__(self) -> None:
        self._lock = allocate_lock()
        self._values: set[str] = set()
        self._ordered: tuple[str, ...] = ()

    def add(self, *values: str | None) -> None:
        new = {v for v in values if v and len(v) >= MIN_SECRET_LENGTH}
        with self._lock:
            if new <= self._values:
                return
            self._values |= new
            self._ordered = tuple(sorted(self._values, key=len, reverse=True))

    def add_authorization(self, value: str) -> None:
        """Learn an ``Authorization`` header: the whole value, its credentials, and for Basic the password."""
        if value in self._values:  # every request of a batch sends the same value: learn it once
            return
        scheme, _, credentials = value.partition(" ")
        credentials = credentials.strip()
        self.add(value, credentials)
        if scheme.lower() == "basic":
            try:
                user_pass = base64.b64decode(credentials, validate=True).decode("utf-8")
            except (ValueError, UnicodeDecodeError):
                return
            self.add_password(user_pass.partition(":")[2], user_pass)

    def add_password(self, password: str | None, user_pass: str | None = None) -> None:
        """A password as sent (raw, percent-encoded) and, with ``user:password``, its base64 form."""
        if not password:
            return
        self.add(password, quote(password, safe=""))
        if user_pass:
            self.add(user_pass, base64.b64encode(user_pass.encode("utf-8", "surrogatepass")).decode("ascii"))

    def redact(self, text: str) -> str:
        """``text`` with every known secret replaced by ``***``."""
        for secret in self._ordered:
            if secret in text:
                text = text.replace(secret, REDACTED)
        return text

    def __bool__(self) -> bool:
        return bool(self._ordered)
