"""``ocireg.client.listing`` (#15 item 2): tags and catalog pagination edges the real registry cannot produce, and
the registry signals (Warning, RateLimit) a listing carries (BI, SEC).

A test double of the wire (tests/wiredouble.py) stands in for the registry only here: page caps, PAGINATION_NUMBER_INVALID and
ambiguous next links are protocol edges distribution 2.8 never sends. Nothing is contacted.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

import ocireg.client as client_module
import ocireg.client.listing as listing_module
from ocireg.client import RegistryClient
from ocireg.errors import BodyTooLarge, NotFound, ProtocolViolation
from ocireg.reference import parse_registry, parse_repository
from ocireg.response import Request, Response
from ocireg.signals import RateLimit
from ocireg.transport import Transport, TransportConfig

from wiredouble import Scripted, params, path, respond

HOST = "127.0.0.1:1"  # never contacted: every request is answered by the MockTransport


# -------------------------------------------------------------------------------------- a mocked registry


def _client(handler: Callable[[Request], Response], **config: object) -> RegistryClient:
    settings = TransportConfig(plain_http_hosts=frozenset({HOST}), retries=0, **config)  # type: ignore[arg-type]
    return RegistryClient(config=settings, transport=Transport(settings, wire=Scripted(handler)))


def _page(tags: object, link: str | None = None, **headers: str) -> Response:
    extra = {"Link": link} if link else {}
    return respond(
        200,
        headers={"Content-Type": "application/json", **extra, **headers},
        content=json.dumps({"tags": tags}),
    )


def test_bi_warning_shown_once_per_run_and_rate_limit_kept() -> None:
    """BI: the same Warning on every response reaches the warn callback once; the last quota is kept."""
    seen: list[str] = []

    def handler(request: Request) -> Response:
        last = params(request).get("last")
        link = None if last == "c" else f'</v2/g/a/tags/list?last={"b" if last is None else "c"}>; rel="next"'
        return _page(
            [last or "a"],
            link,
            Warning='299 - "this registry is deprecated"',
            **{"RateLimit-Limit": "100;w=60", "RateLimit-Remaining": "9;w=60"},
        )

    with _client(handler, warn=seen.append) as client:
        assert client.tags(parse_repository(f"{HOST}/g/a")) == ["a", "b", "c"]
        assert client.transport.rate_limit(HOST) == RateLimit(100, 9, 60)
    assert seen == [f"registry {HOST}: this registry is deprecated"]


def test_bi_tags_pagination_number_invalid_retried_without_n() -> None:
    """BI: distribution answers 400 PAGINATION_NUMBER_INVALID when n is above its maximum: ask without n."""
    asked: list[str] = []

    def handler(request: Request) -> Response:
        asked.append(request.url)
        if "n=" in request.url:
            body = {"errors": [{"code": "PAGINATION_NUMBER_INVALID", "message": "invalid number of results"}]}
            return respond(400, json=body)
        return _page(["v1", "v2"])

    with _client(handler) as client:
        assert client.tags(parse_repository(f"{HOST}/g/a")) == ["v1", "v2"]
    assert len(asked) == 2


def test_bi_tags_page_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    """BI: a registry that never stops paginating (new content, new links) is cut off at MAX_LIST_PAGES."""
    monkeypatch.setattr(listing_module, "MAX_LIST_PAGES", 5)
    count = 0

    def handler(request: Request) -> Response:
        nonlocal count
        count += 1
        return _page([f"t{count}"], f'</v2/g/a/tags/list?last=t{count}>; rel="next"')

    with _client(handler) as client, pytest.raises(ProtocolViolation, match="more than 5 pages"):
        client.tags(parse_repository(f"{HOST}/g/a"))
    assert count == 5


def test_bi_tags_ambiguous_and_empty_pages() -> None:
    """BI: two different next links, or a page that brings nothing new but says 'next', are refused."""

    def two_links(request: Request) -> Response:
        return _page(["a"], '</v2/g/a/tags/list?last=a>; rel="next", </v2/g/a/tags/list?last=z>; rel="next"')

    with _client(two_links) as client, pytest.raises(ProtocolViolation, match="more than one"):
        client.tags(parse_repository(f"{HOST}/g/a"))

    def empty_with_next(request: Request) -> Response:
        last = params(request).get("last", "")
        return _page([] if last else ["a"], f'</v2/g/a/tags/list?last=a{last}>; rel="next"')

    with _client(empty_with_next) as client, pytest.raises(ProtocolViolation, match="nothing new"):
        client.tags(parse_repository(f"{HOST}/g/a"))


def test_bi_tags_duplicates_across_pages_kept_once_and_404() -> None:
    """BI: a tag repeated on the next page (concurrent push) is listed once; NAME_UNKNOWN is NotFound."""

    def handler(request: Request) -> Response:
        if "/g/missing/" in path(request):
            return respond(404, json={"errors": [{"code": "NAME_UNKNOWN", "message": "repository"}]})
        if params(request).get("last"):
            return _page(["b", "c"])
        return _page(["a", "b"], '</v2/g/a/tags/list?last=b>; rel="next"')

    with _client(handler) as client:
        assert client.tags(parse_repository(f"{HOST}/g/a")) == ["a", "b", "c"]
        with pytest.raises(NotFound):
            client.tags(parse_repository(f"{HOST}/g/missing"))


def test_bi_tags_page_body_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    """BI: a page above LIST_PAGE_LIMIT fails (BodyTooLarge, exit 6) instead of being truncated."""
    monkeypatch.setattr(listing_module, "LIST_PAGE_LIMIT", 1000)

    def handler(request: Request) -> Response:
        return _page([f"tag{i}" for i in range(500)])

    with _client(handler) as client, pytest.raises(BodyTooLarge, match="limit"):
        client.tags(parse_repository(f"{HOST}/g/a"))


def test_catalog_limit_and_scope() -> None:
    """The catalog asks for n=min(limit, page size) with scope registry:catalog:*, and stops at the limit."""
    asked: list[str] = []

    def handler(request: Request) -> Response:
        asked.append(request.url)
        body = {"repositories": ["a/b", "c/d", "e/f"]}
        return respond(200, json=body, headers={"Link": '</v2/_catalog?last=e/f&n=3>; rel="next"'})

    with _client(handler) as client:
        assert client.catalog(parse_registry(HOST), limit=2) == ["a/b", "c/d"]
        with pytest.raises(ValueError, match="limit"):
            client.catalog(parse_registry(HOST), limit=0)
    assert asked == [f"http://{HOST}/v2/_catalog?n=2"]
    assert client_module.CATALOG_SCOPE == "registry:catalog:*"


def test_tag_sort_literal_lists_the_same_values_as_its_tuple() -> None:
    """#16: TagSort is built at first use (no typing for a check) from TAG_SORTS (#22: registries.details)."""
    from typing import get_args

    import ocireg.client
    from ocireg.registries import details

    assert get_args(details.TagSort) == details.TAG_SORTS
    assert ocireg.client.TagSort == details.TagSort
