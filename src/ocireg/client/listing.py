"""Listing (#15 item 2): tags and the catalog (``/v2/``, paged), GitLab's ``/gitlab/v1`` tag details, and
GitLab's single-tag delete.

Tags and catalog paginate with ``n``/``last`` and ``Link: <...>; rel="next"`` (distribution spec, "Listing
Tags"; registry API "Catalog", issue #3). The next link is followed only on the same host, scheme and endpoint
(:func:`ocireg.link.resolve_next`): the request carries our token.

GitLab's registry extensions (issue #12), gitlab-org/container-registry: ``/gitlab/v1`` (docs/spec/gitlab/api.md)
needs the registry's metadata database and answers 404 without it; ``GET /v2/`` advertises the extensions in
headers (registry/handlers/app.go). What a registry has is remembered per registry for the client's life: a
plain OCI registry pays one 404 per process, never one per repository or per tag.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from urllib.parse import urlencode

from ocireg.auth import read_capped_quiet
from ocireg.client.core import LIST_PAGE_LIMIT, MAX_LIST_ITEMS, MAX_LIST_PAGES
from ocireg.client.manifests import ManifestApi
from ocireg.errors import (
    InvalidReference,
    PermissionDenied,
    ProtocolViolation,
    RegistryError,
    from_response,
    parse_error_body,
)
from ocireg.record import record
from ocireg.reference import Digest, Reference, Registry, Repository
from ocireg.response import Response
from ocireg.text import escape
from ocireg.transport import Deadline, read_capped

#: The token scope for ``/v2/_catalog`` (Docker token spec; GitLab grants it to admins only).
CATALOG_SCOPE = "registry:catalog:*"
#: Tags per page of GitLab's ``/gitlab/v1`` tags list: its maximum ``n`` (gitlab-org/container-registry
#: ``registry/handlers/repositories.go``, ``nQueryParamValueMax``).
GITLAB_TAGS_PAGE = 1000
GITLAB_TAG_SORTS: tuple[GitLabTagSort, ...] = ("name", "-name", "published_at", "-published_at")

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Literal

    GitLabTagSort = Literal["name", "-name", "published_at", "-published_at"]
else:

    def __getattr__(name: str) -> object:
        # ``typing`` costs a check more than this module (#16, start-up): the Literal type is built only when
        # asked for, from GITLAB_TAG_SORTS (tests/unit/test_client_listing.py checks they agree).
        if name == "GitLabTagSort":
            from typing import Literal

            return Literal[GITLAB_TAG_SORTS]
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@record(frozen=True)
class TagDetail:
    """One tag as GitLab's registry describes it (``GET /gitlab/v1/repositories/<path>/tags/list/``).

    Field by field from gitlab-org/container-registry ``docs/spec/gitlab/api.md`` ("List Repository Tags"):
    ``digest`` of the tagged manifest (an index's own digest for multi-platform images), its ``media_type``,
    ``size`` (``size_bytes``: the image's size as the registry's database counts it), ``config_digest`` (None
    for an index), ``created_at``, ``updated_at`` (None until the tag was moved to another manifest) and
    ``published_at`` (the later of the two; None from registries older than 3.85), all timezone-aware UTC.
    """

    name: str
    digest: Digest
    media_type: str | None
    size: int | None
    config_digest: Digest | None
    created_at: dt.datetime | None
    updated_at: dt.datetime | None
    published_at: dt.datetime | None

    @property
    def published(self) -> dt.datetime | None:
        """``published_at``, else the later of ``created_at`` and ``updated_at`` (older registries)."""
        if self.published_at is not None:
            return self.published_at
        known = [t for t in (self.created_at, self.updated_at) if t is not None]
        return max(known) if known else None


def tags(
    client: ManifestApi, repository: Repository, *, page_size: int = 1000, deadline: Deadline | None = None
) -> list[str]:
    """Every tag of ``repository`` once, in the registry's order, following ``rel="next"`` pages.

    Asks for ``page_size`` tags a page (``n``); registries that ignore it (distribution 2.8) answer in one
    page. ``"tags": null`` is an empty list. Tags are returned as the registry sent them (escape them
    before printing). Raises :class:`~ocireg.errors.NotFound` for an unknown repository
    (``NAME_UNKNOWN``), :class:`~ocireg.errors.ProtocolViolation` for a malformed page, a foreign or
    looping ``Link``, or more than :data:`MAX_LIST_PAGES` pages.
    """
    return _list_pages(
        client,
        repository.registry,
        f"/v2/{repository.path}/tags/list",
        key="tags",
        scopes=(repository.scope("pull"),),
        what=f"tags of {escape(str(repository))}",
        page_size=page_size,
        limit=None,
        deadline=deadline or client.deadline(),
    )


def catalog(
    client: ManifestApi,
    registry: Registry,
    *,
    limit: int | None = None,
    page_size: int = 1000,
    deadline: Deadline | None = None,
) -> list[str]:
    """Repository names on ``registry`` (``/v2/_catalog``, scope ``registry:catalog:*``), at most ``limit``.

    Most registries allow the catalog to administrators only (GitLab grants ``registry:catalog:*`` to
    admins); everyone else gets :class:`~ocireg.errors.PermissionDenied` with a hint saying so.
    """
    if limit is not None and limit < 1:
        raise ValueError("limit must be at least 1")
    try:
        return _list_pages(
            client,
            registry,
            "/v2/_catalog",
            key="repositories",
            scopes=(CATALOG_SCOPE,),
            what=f"catalog of {escape(str(registry))}",
            page_size=page_size,
            limit=limit,
            deadline=deadline or client.deadline(),
        )
    except PermissionDenied as exc:
        if client.credential_for(registry).is_anonymous and exc.hint:
            raise  # the no-credentials hint comes first: GitLab refuses an anonymous catalog (403)
        exc.hint = (
            f"the registry lists its repositories only to administrators: the token must grant "
            f"{CATALOG_SCOPE} (on GitLab only instance admins get it; others receive a token with an empty "
            "access list). List one repository's tags with 'ocireg tags REPO' instead, or use GitLab's "
            "API (GET /api/v4/projects/:id/registry/repositories)"
        )
        raise


def _list_pages(
    client: ManifestApi,
    registry: Registry,
    path: str,
    *,
    key: str,
    scopes: tuple[str, ...],
    what: str,
    page_size: int,
    limit: int | None,
    deadline: Deadline,
) -> list[str]:

    if page_size < 1:
        raise ValueError("page_size must be at least 1")
    size = page_size if limit is None else min(page_size, limit)
    current = f"{path}?n={size}"
    visited = {current}
    items: list[str] = []
    known: set[str] = set()
    without_n = False
    for _page in range(MAX_LIST_PAGES):
        try:
            response = client.request(
                "GET",
                registry,
                current,
                scopes=scopes,
                headers={"Accept": "application/json"},
                deadline=deadline,
                what=what,
            )
        except RegistryError as exc:
            # distribution answers 400 PAGINATION_NUMBER_INVALID when n exceeds its configured maximum:
            # ask once more without n and let the registry pick the page size.
            if not items and not without_n and _pagination_refused(exc):
                without_n, current = True, path
                continue
            raise
        links = response.headers.get_list("link")
        body = read_capped(response, LIST_PAGE_LIMIT, deadline=deadline, what=what)
        fresh = [item for item in _page_items(body, key, what) if item not in known]
        known.update(fresh)
        items.extend(fresh)
        if _enough(items, limit, what):
            return items
        following = client._next_page(registry, links, current, visited, bool(fresh), deadline, what)
        if following is None:
            return items
        current = following
    raise ProtocolViolation(f"{what}: more than {MAX_LIST_PAGES} pages; giving up")


def gitlab_tags(
    client: ManifestApi,
    repository: Repository,
    *,
    name: str | None = None,
    name_exact: str | None = None,
    sort: GitLabTagSort = "name",
    limit: int | None = None,
    deadline: Deadline | None = None,
) -> list[TagDetail] | None:
    """Every tag of ``repository`` with its digest and dates from GitLab's registry, or ``None`` elsewhere.

    ``GET /gitlab/v1/repositories/<path>/tags/list/`` (gitlab-org/container-registry
    ``docs/spec/gitlab/api.md``, "List Repository Tags"): 1,000 tags per request, pages followed through the
    relative ``Link: <...>; rel="next"``. ``name`` keeps tags containing it (the server's partial match),
    ``name_exact`` the one tag of that name; ``sort`` is ``name`` or ``published_at``, ``-`` for descending
    (``published_at`` needs registry 3.85); ``limit`` stops after that many tags.

    Returns ``None`` when the registry does not serve this API: any registry but GitLab's, or GitLab's
    without its metadata database (404). That answer is remembered for the client's life, so the caller
    falls back to ``/v2/`` (:meth:`tags`, :meth:`head_manifest`) at the cost of one request per process.
    Raises :class:`~ocireg.errors.NotFound` for an unknown repository (``NAME_UNKNOWN``), the usual errors
    otherwise, :class:`~ocireg.errors.ProtocolViolation` for an entry that is not a valid tag with a valid
    digest (a tag name from the server goes into URLs and output).
    """
    pages = gitlab_tag_pages(
        client, repository, name=name, name_exact=name_exact, sort=sort, limit=limit, deadline=deadline
    )
    if pages is None:
        return None
    details: list[TagDetail] = []
    for page in pages:
        details.extend(page)
    return details


def gitlab_tag_pages(
    client: ManifestApi,
    repository: Repository,
    *,
    name: str | None = None,
    name_exact: str | None = None,
    sort: GitLabTagSort = "name",
    limit: int | None = None,
    deadline: Deadline | None = None,
) -> Iterator[list[TagDetail]] | None:
    """:func:`gitlab_tags` one page at a time, so a caller keeps only what it needs of each tag (``prune``
    over 100,000 tags, #23). The first page is asked for at once: ``None`` when there is no such API; the
    iterator then yields that page and fetches each next one when it is asked for."""
    query = _gitlab_tags_query(name, name_exact, sort, limit)
    if client.session(repository.registry).extended_api is False:
        return None
    deadline = deadline or client.deadline()
    what = f"tag details of {escape(str(repository))}"
    current = f"/gitlab/v1/repositories/{repository.path}/tags/list/?{query}"
    response = _gitlab_page(client, repository, current, first=True, deadline=deadline, what=what)
    if response is None:
        return None
    exact = name_exact is not None
    return _gitlab_pages(client, repository, response, current, limit, exact, deadline, what)


def _gitlab_pages(
    client: ManifestApi,
    repository: Repository,
    response: Response,
    current: str,
    limit: int | None,
    exact: bool,
    deadline: Deadline,
    what: str,
) -> Iterator[list[TagDetail]]:
    visited = {current}
    seen: set[str] = set()
    count = 0
    for _page in range(MAX_LIST_PAGES):
        links = response.headers.get_list("link")
        body = read_capped(response, LIST_PAGE_LIMIT, deadline=deadline, what=what)
        fresh = [d for d in _tag_details(body, repository, what) if d.name not in seen]
        del body
        seen.update(d.name for d in fresh)
        if limit is not None and count + len(fresh) >= limit:
            yield fresh[: limit - count]
            return
        count += len(fresh)
        if count > MAX_LIST_ITEMS:
            raise ProtocolViolation(f"{what}: more than {MAX_LIST_ITEMS} entries; giving up")
        yield fresh
        if exact:
            return  # the server ignores paging for an exact name, and sends no Link
        following = client._next_page(
            repository.registry, links, current, visited, bool(fresh), deadline, what
        )
        if following is None:
            return
        current = following
        next_response = _gitlab_page(client, repository, current, first=False, deadline=deadline, what=what)
        if next_response is None:  # pragma: no cover - only the first page may say "no such API"
            return
        response = next_response
    raise ProtocolViolation(f"{what}: more than {MAX_LIST_PAGES} pages; giving up")


def _gitlab_page(
    client: ManifestApi, repository: Repository, current: str, *, first: bool, deadline: Deadline, what: str
) -> Response | None:
    """One ``/gitlab/v1`` tags page; ``None`` when the first one says the registry has no such API."""
    registry = repository.registry
    response = client.request(
        "GET",
        registry,
        current,
        scopes=(repository.scope("pull"),),
        headers={"Accept": "application/json"},
        deadline=deadline,
        what=what,
        ok=(200, 404, 405, 501),
    )
    if response.status != 200:
        error_body = read_capped_quiet(response, deadline, what)
        if first and (response.status != 404 or not parse_error_body(error_body)):
            # A 404 without an OCI error body (or 405/501): no /gitlab/v1 here. Not GitLab's registry,
            # or GitLab's without its metadata database (registry/handlers/app.go, dbAssertionhandler).
            client.session(registry).extended_api = False
            return None
        raise from_response(response.status, response.headers, error_body, what=what)
    client.session(registry).extended_api = True
    return response


def delete_tag_reference(client: ManifestApi, ref: Reference, *, deadline: Deadline | None = None) -> None:
    """``DELETE /v2/<name>/tags/reference/<tag>``: GitLab's own single-tag delete (registry 2.8-gitlab to
    3.x, advertised as ``tag_delete``; removed in 4.0 in favour of the OCI tag delete of
    :meth:`delete_manifest`). It removes the tag only, never the manifest or other tags."""
    if ref.tag is None:
        raise ValueError("delete_tag_reference needs a tag")
    deadline = deadline or client.deadline()
    what = f"delete of {escape(str(ref))}"
    response = client.request(
        "DELETE",
        ref.registry,
        f"/v2/{ref.repository.path}/tags/reference/{ref.tag}",
        scopes=(ref.repository.scope("pull", "delete"),),
        deadline=deadline,
        what=what,
        ok=(200, 202, 204),
    )
    read_capped_quiet(response, deadline, what)


def _gitlab_tags_query(
    name: str | None, name_exact: str | None, sort: GitLabTagSort, limit: int | None
) -> str:
    """The query of the first ``/gitlab/v1`` tags page; ``ValueError`` for arguments that cannot go together."""
    if sort not in GITLAB_TAG_SORTS:
        raise ValueError(f"sort must be one of {GITLAB_TAG_SORTS}")
    if name is not None and name_exact is not None:
        raise ValueError("name and name_exact are mutually exclusive")
    if limit is not None and limit < 1:
        raise ValueError("limit must be at least 1")
    params = [("n", str(GITLAB_TAGS_PAGE if limit is None else min(limit, GITLAB_TAGS_PAGE)))]
    if name is not None:
        params.append(("name", name))
    if name_exact is not None:
        params.append(("name_exact", name_exact))
    if sort != "name":
        params.append(("sort", sort))
    return urlencode(params)


def _pagination_refused(error: RegistryError) -> bool:
    return error.status == 400 and any(d.code == "PAGINATION_NUMBER_INVALID" for d in error.details)


def _enough(items: list[str] | list[TagDetail], limit: int | None, what: str) -> bool:
    """After a page: whether ``limit`` items are in (the list is cut to it); a listing over the cap is refused."""
    if limit is not None and len(items) >= limit:
        del items[limit:]
        return True
    if len(items) > MAX_LIST_ITEMS:
        raise ProtocolViolation(f"{what}: more than {MAX_LIST_ITEMS} entries; giving up")
    return False


def _page_items(body: bytes, key: str, what: str) -> list[str]:
    """The ``key`` list of one tags/list or catalog page: strict JSON, ``null`` = empty, strings only."""
    from ocireg.manifest import loads_strict

    doc = loads_strict(body, what=what, error=ProtocolViolation)
    if key not in doc:
        raise ProtocolViolation(f"{what}: the answer has no {key!r} list")
    value = doc[key]
    if value is None:
        return []  # distribution 2.8 answers "tags": null for a repository without tags (docs/architecture.md §5)
    if not isinstance(value, list):
        raise ProtocolViolation(f"{what}: {key!r} is not a list")
    for item in value:
        if not isinstance(item, str) or not item:
            raise ProtocolViolation(f"{what}: {key!r} holds a non-string or empty entry")
    return value


def _timestamp(value: object, field: str, what: str) -> dt.datetime | None:
    """An ISO 8601 timestamp of the GitLab API (``2023-05-01T00:00:01.000Z``), timezone-aware UTC."""
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > 64:
        raise ProtocolViolation(f"{what}: {field} is not a timestamp")
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00") if value.endswith("Z") else value)
    except ValueError:
        raise ProtocolViolation(f"{what}: {field} {escape(value)!r} is not an ISO 8601 timestamp") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.timezone.utc)
    return parsed.astimezone(dt.timezone.utc)


def _tag_details(body: bytes, repository: Repository, what: str) -> list[TagDetail]:
    """One page of ``/gitlab/v1`` tags: a JSON array of objects; names and digests validated before use."""
    from ocireg.manifest import loads_strict

    # loads_strict parses objects only: wrap the array so the same strict rules apply to it.
    doc = loads_strict(b'{"tags":' + bytes(body) + b"}", what=what, error=ProtocolViolation)["tags"]
    if not isinstance(doc, list):
        raise ProtocolViolation(f"{what}: the answer is not a JSON array")
    out = []
    for item in doc:
        if not isinstance(item, dict):
            raise ProtocolViolation(f"{what}: an entry is not an object")
        name, digest, config = item.get("name"), item.get("digest"), item.get("config_digest")
        try:
            if not isinstance(name, str) or not isinstance(digest, str):
                raise InvalidReference("missing name or digest")
            Reference(repository, name)
            parsed = Digest.parse(digest)
            config_digest = Digest.parse(config) if isinstance(config, str) and config else None
        except InvalidReference:
            shown = escape(str(name))[:200]
            raise ProtocolViolation(f"{what}: entry {shown!r} has an invalid tag name or digest") from None
        media_type = item.get("media_type")
        size = item.get("size_bytes")
        out.append(
            TagDetail(
                name=name,
                digest=parsed,
                media_type=media_type[:255] if isinstance(media_type, str) and media_type else None,
                size=size if isinstance(size, int) and not isinstance(size, bool) and size >= 0 else None,
                config_digest=config_digest,
                created_at=_timestamp(item.get("created_at"), "created_at", what),
                updated_at=_timestamp(item.get("updated_at"), "updated_at", what),
                published_at=_timestamp(item.get("published_at"), "published_at", what),
            )
        )
    return out
