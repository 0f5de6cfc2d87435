"""``ocireg.signals``: the Warning and RateLimit headers a registry sends, parsed (BI)."""

from __future__ import annotations

import pytest

from ocireg.signals import RateLimit, parse_rate_limit, parse_warnings

# ------------------------------------------------------------------------------------------------- signals


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (['299 - "Deprecated: schema 1"'], ["Deprecated: schema 1"]),
        (['299 registry.example.com "a, b" "Sat, 25 Aug 2012 23:34:45 GMT"'], ["a, b"]),
        (['299 - "one", 299 - "two"'], ["one", "two"]),
        (['199 - "not persistent"', '299 - "kept"'], ["kept"]),
        (['299 - "say \\"hi\\""'], ['say "hi"']),
        (['299 - "\x1b[31mred\u009b"'], ["\\x1b[31mred\\x9b"]),
        (['299 - "' + "x" * 500 + '"'], ["x" * 300 + "…"]),
        (["garbage", '299 - "unterminated', "299 -", ""], []),
    ],
)
def test_bi_warning_header_variants(values: list[str], expected: list[str]) -> None:
    """BI (Warning headers): 299 texts, escaped and cut short; other codes and garbage ignored."""
    assert parse_warnings(values) == expected


@pytest.mark.parametrize(
    ("limit", "remaining", "expected"),
    [
        ("100;w=21600", "76;w=21600", RateLimit(100, 76, 21600)),
        ("100", "0", RateLimit(100, 0, None)),
        ("100, 100;w=21600", None, RateLimit(100, None, None)),
        (None, "5;w=60", RateLimit(None, 5, 60)),
        ("lots", "some", None),
        (None, None, None),
    ],
)
def test_bi_rate_limit_variants(limit: str | None, remaining: str | None, expected: RateLimit | None) -> None:
    assert parse_rate_limit(limit, remaining) == expected


def test_rate_limit_text() -> None:
    assert str(RateLimit(100, 76, 21600)) == "76 of 100 requests left per 21600s"
