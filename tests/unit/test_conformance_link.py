"""#13 item 7: a ``Link`` header with one malformed link-value keeps the valid ``rel="next"`` beside it.

Cases transcribed from github.com/regclient/regclient at commit 725072f65f14ab63d6b220246c3a889dcd5e2f5f,
``internal/httplink/httplink_test.go`` (``TestParseGet``, ``TestParseErr``). The RFC example of
``TestParseGet`` spans two source lines with a tab; an HTTP parser unfolds that to one line, so it is
transcribed with a space.

Deliberate differences, each asserted below: regclient reads link targets without ``<...>`` (``/link``);
RFC 8288 §3 requires the brackets, so ocireg skips such a link-value (and keeps the others). regclient takes
the first of two different ``rel="next"`` targets; ocireg refuses the header, because following the wrong one
skips or repeats pages of a listing. regclient refuses parameter names with ``&`` or ``*`` inside
(``r&d``, ``r*d``); both are RFC 9110 tokens, which RFC 8288 allows as parameter names, so ocireg reads them.
"""

from __future__ import annotations

import pytest

from ocireg.link import LinkError, next_link, parse_link_header

COMPLEX = [
    '</path1>; rel="next", </path2> ; rel="next", / ; rel=index ',
    "</print>; media=print",
    "/link, /reader; media=reader; type=x",
]


def test_bi_link_regclient_quoted_rel_next() -> None:
    """#13 item 7: regclient TestParseGet "quoted rel next"."""
    assert next_link(['</path>; rel="next"']) == "/path"


def test_bi_link_regclient_rfc_example() -> None:
    """#13 item 7: regclient TestParseGet "rfc example" (RFC 8288 §3.5, with extended ``title*``)."""
    header = (
        "</TheBook/chapter2>;\trel=\"previous\"; title*=UTF-8'de'letztes%20Kapitel, "
        "</TheBook/chapter4>; rel=\"next\"; title*=UTF-8'de'n%c3%a4chstes%20Kapitel"
    )
    assert next_link([header]) == "/TheBook/chapter4"


def test_bi_link_regclient_complex_header() -> None:
    """#13 item 7: regclient TestParseGet "complex": the bracketed links are read, the bare ones skipped
    (difference), and the two different next targets are refused (difference)."""
    links = parse_link_header(COMPLEX)
    assert [(link.target, dict(link.params)) for link in links] == [
        ("/path1", {"rel": "next"}),
        ("/path2", {"rel": "next"}),
        ("/print", {"media": "print"}),
    ]
    with pytest.raises(LinkError, match="more than one"):
        next_link(COMPLEX)


@pytest.mark.parametrize(
    "header",
    [
        "</path",  # open uri
        '</path>; rel="next',  # open quote
        "\\",  # backslash
        "/\\",  # backslash uri
        '</path>; rel="next" media="print"',  # missing separator
        "</path>; rel=\\",  # invalid val start
        "</path>; rel=a\\b",  # invalid val mid
    ],
)
def test_bi_link_regclient_parse_errors(header: str) -> None:
    """#13 item 7: regclient TestParseErr: alone, these are errors here too (exit 6), never "no next page"."""
    with pytest.raises(LinkError):
        next_link([header])


@pytest.mark.parametrize("header", ['</path>; r&d="nope"', '</path>; r*d="nope"'])
def test_bi_link_token_parameter_names_are_read(header: str) -> None:
    """#13, deliberate difference from regclient TestParseErr "invalid parm"/"invalid star": RFC tokens."""
    assert [link.target for link in parse_link_header([header])] == ["/path"]
    assert next_link([header]) is None


NEXT = '</v2/g/a/tags/list?n=100&last=b>; rel="next"'


@pytest.mark.parametrize(
    "values",
    [
        [f"{NEXT}, </x> rel=last"],  # missing ';' after the target
        [f"/bare; rel=first, {NEXT}"],  # no brackets
        [f"{NEXT}, </x>; =last"],  # no parameter name
        ['</first>; rel="first', NEXT],  # the broken value on its own header line
        [f'</a>; rel="prev" title="x, y", {NEXT}'],  # missing ';' before a quoted value holding a comma
    ],
)
def test_bi_link_malformed_value_keeps_the_valid_next(values: list[str]) -> None:
    """#13 item 7: one malformed link-value does not discard the valid ``rel="next"`` beside it."""
    assert next_link(values) == "/v2/g/a/tags/list?n=100&last=b"
