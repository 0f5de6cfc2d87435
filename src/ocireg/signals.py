"""Registry signals in response headers: ``Warning`` texts and ``RateLimit-*`` quotas.

* ``Warning: 299 - "text"`` (RFC 7234 §5.5, code 299 "miscellaneous persistent warning"): distribution 2.8+
  and public registries use it to announce deprecations (e.g. schema 1 manifests); ocireg shows each distinct text
  once per run. The text is the registry's, so it is escaped (:func:`ocireg.text.escape`) and cut short
  before it reaches a terminal.
* ``RateLimit-Limit: 100;w=21600`` / ``RateLimit-Remaining: 76;w=21600`` (public registries,
  https://docs.docker.com/docker-hub/usage/pulls/; the IETF RateLimit header draft): the quota, what is
  left and the window in seconds.

Pure: no I/O. The parsers never raise; what cannot be read is ignored.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from ocireg.record import record
from ocireg.text import LazyPattern, escape

__all__ = ["MAX_WARNING_LENGTH", "RateLimit", "parse_rate_limit", "parse_warnings"]

#: Longest warning text shown (characters, before escaping).
MAX_WARNING_LENGTH = 300
_MAX_HEADER = 8 * 1024
_WARNING = LazyPattern(
    r'\s*(?P<code>[0-9]{3})\s+(?P<agent>[^\s",]+)\s+"(?P<text>(?:[^"\\]|\\.)*)"(?:\s+"[^"]*")?\s*(?:,|$)',
    re.DOTALL,
)
_QUOTA = LazyPattern(r"\s*(?P<value>[0-9]{1,15})\s*(?P<params>(?:;[^,]*)?)")
_WINDOW = LazyPattern(r";\s*w\s*=\s*(?P<w>[0-9]{1,12})")


@record(frozen=True)
class RateLimit:
    """What a registry said about its pull quota: ``remaining`` of ``limit`` per ``window`` seconds."""

    limit: int | None
    remaining: int | None
    window: int | None = None

    def to_json(self) -> dict[str, int | None]:
        return {"limit": self.limit, "remaining": self.remaining, "window_seconds": self.window}

    def __str__(self) -> str:
        limit = "?" if self.limit is None else str(self.limit)
        remaining = "?" if self.remaining is None else str(self.remaining)
        per = f" per {self.window}s" if self.window else ""
        return f"{remaining} of {limit} requests left{per}"


def parse_warnings(values: Sequence[str], *, codes: frozenset[str] = frozenset({"299"})) -> list[str]:
    """The texts of the ``Warning`` header values whose code is in ``codes``, escaped and cut short.

    One header value may hold several comma-separated warnings. Unparseable values are skipped.
    """
    texts: list[str] = []
    for value in values:
        if not isinstance(value, str) or len(value) > _MAX_HEADER:
            continue
        position = 0
        while position < len(value):
            match = _WARNING.match(value, position)
            if match is None or match.end() == position:
                break
            position = match.end()
            if match.group("code") not in codes:
                continue
            text = re.sub(r"\\(.)", r"\1", match.group("text"), flags=re.DOTALL).strip()
            if not text:
                continue
            if len(text) > MAX_WARNING_LENGTH:
                text = text[:MAX_WARNING_LENGTH] + "…"
            texts.append(escape(text))
    return texts


def _quota(value: str | None) -> tuple[int | None, int | None]:
    """(number, window) from ``100;w=21600``; the first quota policy of a list wins."""
    if not value or len(value) > _MAX_HEADER:
        return None, None
    match = _QUOTA.match(value)
    if match is None:
        return None, None
    window = _WINDOW.search(match.group("params"))
    return int(match.group("value")), int(window.group("w")) if window else None


def parse_rate_limit(limit: str | None, remaining: str | None) -> RateLimit | None:
    """Parse ``RateLimit-Limit`` and ``RateLimit-Remaining`` values; ``None`` when neither says anything."""
    quota, window = _quota(limit)
    left, left_window = _quota(remaining)
    if quota is None and left is None:
        return None
    return RateLimit(limit=quota, remaining=left, window=window if window is not None else left_window)
