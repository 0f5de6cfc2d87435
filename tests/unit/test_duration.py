"""ocireg/duration.py: the one duration syntax of --timeout, --interval and the prune ages (BI: bad input is a
clear usage error); #15 item 6: unit test modules named after the module they test."""

from __future__ import annotations

import pytest

from ocireg.duration import format_duration, parse_duration
from ocireg.errors import UsageError


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90s", 90.0),
        ("10m", 600.0),
        ("1h", 3600.0),
        ("1h30m", 5400.0),
        ("2m30s", 150.0),
        ("500ms", 0.5),
        ("1.5s", 1.5),
        ("45", 45.0),
        ("0.25", 0.25),
        ("2d", 172800.0),
        (" 10M ", 600.0),
        ("7d", 604800.0),
    ],
)
def test_parse_duration_accepts(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    "text",
    ["", "  ", "-5s", "10x", "m10", "1h1h", "10 m", "1.2.3s", "nan", "inf", "8d", "1e3", "s", "10m-", "١٠s"],
)
def test_parse_duration_rejects_bad_input(text: str) -> None:
    """BI: every malformed duration is a UsageError (exit 2), never a ValueError traceback."""
    with pytest.raises(UsageError):
        parse_duration(text)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0s"), (0.5, "0.5s"), (75, "1m15s"), (3600, "1h"), (5400, "1h30m"), (90061, "25h1m1s")],
)
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text
