"""Unit tests of the Link header parser and the next-page policy (BI: Link variants, SEC: Link SSRF)."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ocireg.errors import ProtocolViolation
from ocireg.link import MAX_LINK_HEADER, LinkError, next_link, parse_link_header, resolve_next

BASE = "https://registry.example.com"
PAGE = "/v2/group/app/tags/list?n=100"


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ('</v2/g/a/tags/list?n=100&last=b>; rel="next"', "/v2/g/a/tags/list?n=100&last=b"),
        ("</v2/g/a/tags/list?last=b>; rel=next", "/v2/g/a/tags/list?last=b"),
        ('</v2/g/a/tags/list?last=b> ; REL = "Next"', "/v2/g/a/tags/list?last=b"),
        # a comma inside <...> and inside a quoted string is data (BI: Link variants)
        ('</v2/_catalog?last=a,b>; title="x, y"; rel="next"', "/v2/_catalog?last=a,b"),
        # several links, and several relation types in one rel
        ('</first>; rel="first", </v2/x?last=c>; rel="prefetch next"', "/v2/x?last=c"),
        # no next relation at all
        ('</v2/x?last=c>; rel="prev"', None),
        ("", None),
        # only the first rel parameter counts (RFC 8288 §3.3)
        ('</v2/x?last=c>; rel="prev"; rel="next"', None),
        # an escaped quote inside a quoted parameter
        (r'</v2/x?last=d>; title="a \"q\" b"; rel=next', "/v2/x?last=d"),
    ],
)
def test_bi_link_next_variants(header: str, expected: str | None) -> None:
    """BI: the Link forms registries send, and RFC 8288 corner cases."""
    assert next_link(header) == expected


def test_bi_link_several_header_lines_and_params() -> None:
    links = parse_link_header(['</a>; rel="prev"', '</b>; rel="next"; type="application/json"'])
    assert [link.target for link in links] == ["/a", "/b"]
    assert links[1].params["type"] == "application/json"
    assert next_link(['</a>; rel="prev"', '</b>; rel="next"']) == "/b"
    assert next_link([]) is None
    assert next_link(None) is None


@pytest.mark.parametrize(
    "header",
    [
        "</v2/x; rel=next",  # no closing '>'
        '</v2/x>; rel="next',  # unterminated quote
        "v2/x; rel=next",  # no '<'
        "</v2/x> rel=next",  # no ';'
        "</v2/x>; =next",  # no parameter name
        "</v2/x>;\x1b[31m rel=next",  # control character
        '</a>; rel="next", </b>; rel="next"',  # two different next targets
        "<" + "a" * MAX_LINK_HEADER + ">; rel=next",  # too long
    ],
)
def test_bi_link_malformed_raise_link_error(header: str) -> None:
    with pytest.raises(LinkError):
        next_link(header)


def test_link_error_is_a_protocol_violation() -> None:
    """A bad Link is the registry's fault: exit 6 through ProtocolViolation."""
    assert issubclass(LinkError, ProtocolViolation)


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/v2/group/app/tags/list?n=100&last=b", "/v2/group/app/tags/list?n=100&last=b"),
        ("list?last=b", "/v2/group/app/tags/list?last=b"),  # relative to the page URL
        ("?last=b", "/v2/group/app/tags/list?last=b"),
        (f"{BASE}/v2/group/app/tags/list?last=b", "/v2/group/app/tags/list?last=b"),
        ("https://REGISTRY.example.com:443/v2/group/app/tags/list?last=b", "/v2/group/app/tags/list?last=b"),
        ("/v2/group/app/tags/list?last=b#frag", "/v2/group/app/tags/list?last=b"),
    ],
)
def test_link_resolve_next_same_origin(target: str, expected: str) -> None:
    assert resolve_next(BASE, PAGE, target) == expected


@pytest.mark.parametrize(
    ("target", "fragment"),
    [
        ("https://evil.example.com/v2/group/app/tags/list?last=b", "another host"),
        ("//evil.example.com/v2/group/app/tags/list", "another host"),
        ("https://registry.example.com:8443/v2/group/app/tags/list", "another host"),
        ("http://registry.example.com/v2/group/app/tags/list", "scheme"),
        ("ftp://registry.example.com/v2/group/app/tags/list", "scheme"),
        ("https://user:pw@registry.example.com/v2/group/app/tags/list", "user information"),
        ("/v2/other/app/tags/list?last=b", "another endpoint"),
        ("/v2/group/app/manifests/latest", "another endpoint"),
        ("/v2/group/app/tags/list?last=a b", "whitespace"),
        ("https://[::1/v2/", "not a valid URL"),
    ],
)
def test_sec_link_resolve_next_refuses_foreign_targets(target: str, fragment: str) -> None:
    """SEC (Link SSRF): another host, scheme, port or endpoint is refused: the next request carries a token."""
    with pytest.raises(LinkError, match=fragment):
        resolve_next(BASE, PAGE, target)


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=300))
def test_bi_link_parser_raises_only_link_error(header: str) -> None:
    """BI (property): whatever the header, the parser returns links or raises LinkError, nothing else."""
    try:
        links = parse_link_header(header)
        next_link(header)
    except LinkError:
        return
    for link in links:
        assert isinstance(link.target, str)
        assert all(isinstance(v, str) for v in link.params.values())


_LINKISH = st.lists(
    st.sampled_from(["<", ">", ";", ",", "=", '"', "\\", " ", "rel", "next", "/v2/", "?", "last", "a", "\t"]),
    max_size=40,
).map("".join)


@settings(max_examples=500, deadline=None)
@given(_LINKISH)
def test_bi_link_parser_structured_fuzz(header: str) -> None:
    """BI (property): Link-shaped noise (brackets, quotes, escapes) also raises only LinkError."""
    with contextlib.suppress(LinkError):
        next_link(header)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_sec_resolve_next_raises_only_link_error_and_stays_on_origin(target: str) -> None:
    """SEC (property): any target resolves to a path on the same endpoint, or raises LinkError."""
    try:
        path = resolve_next(BASE, PAGE, target)
    except LinkError:
        return
    assert path.startswith("/v2/group/app/tags/list")
