"""Durations as CI users write them: ``90s``, ``10m``, ``1h30m``, ``500ms`` (pure; no heavy imports).

Kept out of :mod:`ocireg.operations` so that building the command-line parser (``--help``) stays cheap.
"""

from __future__ import annotations

import math
import re

from ocireg.errors import UsageError
from ocireg.text import LazyPattern

__all__ = ["MAX_DURATION", "format_days", "format_duration", "parse_duration"]

MAX_DURATION = 7 * 24 * 3600.0
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_PART = LazyPattern(r"([0-9]+(?:\.[0-9]+)?)(ms|s|m|h|d)")


def parse_duration(text: str, *, maximum: float = MAX_DURATION) -> float:
    """Parse ``90s``, ``10m``, ``1h30m``, ``500ms``, ``2d`` or a bare number of seconds into seconds.

    Raises :class:`UsageError` for anything else (negative, empty, unknown unit, more than ``maximum``
    seconds: 7 days unless the caller allows more, as ``prune --older-than`` does for retention ages).
    """
    value = text.strip().lower()
    if not value:
        raise UsageError("empty duration (use e.g. 90s, 10m, 1h)")
    seconds: float
    if re.fullmatch(r"[0-9]+(?:\.[0-9]+)?", value):  # ASCII digits only (\d matches any script)
        seconds = float(value)
    else:
        pos = 0
        seconds = 0.0
        units_seen: list[str] = []
        for match in _PART.finditer(value):
            if match.start() != pos:
                break
            unit = match.group(2)
            if unit in units_seen:
                raise UsageError(f"invalid duration {text!r}: unit {unit!r} given twice")
            units_seen.append(unit)
            seconds += float(match.group(1)) * _UNITS[unit]
            pos = match.end()
        if pos != len(value) or not units_seen:
            raise UsageError(f"invalid duration {text!r} (use e.g. 90s, 10m, 1h30m, 500ms)")
    if math.isnan(seconds) or seconds > maximum:
        raise UsageError(f"invalid duration {text!r}: at most {format_days(maximum)}")
    return seconds


def format_days(seconds: float) -> str:
    """``604800`` → ``7 days`` (limits in messages); shorter spans as :func:`format_duration`."""
    if seconds >= 86400 and float(seconds / 86400).is_integer():
        days = int(seconds // 86400)
        return f"{days} day{'s' if days != 1 else ''}"
    return format_duration(seconds)


def format_duration(seconds: float) -> str:
    """``75`` → ``1m15s``; sub-second values keep one decimal (``0.5s``)."""
    if seconds < 10 and not float(seconds).is_integer():
        return f"{seconds:.1f}s"
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{hours}h" if hours else "", f"{minutes}m" if minutes else "", f"{secs}s" if secs else ""]
    return "".join(parts) or "0s"
