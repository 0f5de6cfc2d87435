"""Listing (#15 item 2): tags and the catalog (``/v2/``, paged), a registry's own tag-details listing and
single-tag delete (its profile's extensions, docs/architecture.md §11).

Tags and catalog paginate with ``n``/``last`` and ``Link: <...>; rel="next"`` (distribution spec, "Listing
Tags"; registry API "Catalog", issue #3). The next link is followed only on the same host, scheme and endpoint
(:func:`ocireg.link.resolve_next`): the request carries our token.

A profile's extension API may be missing where the profile is (an extension needing a database the registry runs
without: it answers 404). What a registry has is remembered in its session for the client's life: a plain OCI
registry pays one 404 per process, never one per repository or per tag.
"""

from __future__ import annotations

from collections.abc import Iterator

from ocireg.auth import read_capped_quiet
from ocireg.client.core import LIST_PAGE_LIMIT, MAX_LIST_ITEMS, MAX_LIST_PAGES
from ocireg.client.manifests import ManifestApi
from ocireg.errors import (
    PermissionDenied,
    ProtocolViolation,
    RegistryError,
    from_response,
    parse_error_body,
)
from ocireg.reference import Reference, Registry, Repository
from ocireg.response import Response
from ocireg.text import escape
from ocireg.transport import Deadline, read_capped

#: The token scope for ``/v2/_catalog`` (Docker token spec; most registries grant it to admins only).
CATALOG_SCOPE = "registry:catalog:*"

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ocireg.registries import Profile
    from ocireg.registries.details import TagDetail, TagSort


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

    Most registries allow the catalog to administrators only; everyone else gets
    :class:`~ocireg.errors.PermissionDenied` with a hint saying so (and the registry's own alternative, from its
    profile).
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
            raise  # the no-credentials hint comes first: a registry may refuse an anonymous catalog (403)
        from ocireg.registries import hint_lines

        exc.hint = hint_lines(
            f"the registry lists its repositories only to administrators (a token granting {CATALOG_SCOPE})",
            "list one repository's tags with 'ocireg tags REPO' instead",
            client.session(registry).profile.catalog_help(),
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


def tag_details(
    client: ManifestApi,
    repository: Repository,
    *,
    name: str | None = None,
    name_exact: str | None = None,
    sort: TagSort = "name",
    limit: int | None = None,
    deadline: Deadline | None = None,
) -> list[TagDetail] | None:
    """Every tag of ``repository`` with its digest and dates, from the registry's own tag-details listing (its
    profile's extension), or ``None`` where the registry has none.

    Pages are followed through the relative ``Link: <...>; rel="next"``. ``name`` keeps tags containing it (the
    server's partial match), ``name_exact`` the one tag of that name; ``sort`` is ``name`` or ``published_at``,
    ``-`` for descending; ``limit`` stops after that many tags.

    Returns ``None`` when the registry does not serve such a listing. That answer is remembered for the client's
    life, so the caller falls back to ``/v2/`` (``tags``, ``head_manifest``) at the cost of one request per
    process. Raises :class:`~ocireg.errors.NotFound` for an unknown repository (``NAME_UNKNOWN``), the usual
    errors otherwise, :class:`~ocireg.errors.ProtocolViolation` for an entry that is not a valid tag with a valid
    digest (a tag name from the server goes into URLs and output); ``ValueError`` for arguments that cannot go
    together.
    """
    pages = tag_detail_pages(
        client, repository, name=name, name_exact=name_exact, sort=sort, limit=limit, deadline=deadline
    )
    if pages is None:
        return None
    details: list[TagDetail] = []
    for page in pages:
        details.extend(page)
    return details


def tag_detail_pages(
    client: ManifestApi,
    repository: Repository,
    *,
    name: str | None = None,
    name_exact: str | None = None,
    sort: TagSort = "name",
    limit: int | None = None,
    deadline: Deadline | None = None,
) -> Iterator[list[TagDetail]] | None:
    """:func:`tag_details` one page at a time, so a caller keeps only what it needs of each tag (``prune`` over
    100,000 tags, #23). The first page is asked for at once: ``None`` when there is no such listing; the iterator
    then yields that page and fetches each next one when it is asked for."""
    from ocireg.registries import extension_profiles

    session = client.session(repository.registry)
    if session.extended_api is False:
        return None
    for profile in extension_profiles(session.profile):
        path = profile.tag_details_path(repository)
        if path is None:
            continue
        current = f"{path}?{profile.tag_details_query(name, name_exact, sort, limit)}"
        deadline = deadline or client.deadline()
        what = f"tag details of {escape(str(repository))}"
        response = _details_page(client, repository, current, first=True, deadline=deadline, what=what)
        if response is None:
            continue
        session.recognise(profile)  # its extension answered: the registry is one of that family
        exact = name_exact is not None
        return _detail_pages(client, profile, repository, response, current, limit, exact, deadline, what)
    session.extended_api = False
    return None


def _detail_pages(
    client: ManifestApi,
    profile: Profile,
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
        fresh = [d for d in profile.tag_details_page(body, repository, what) if d.name not in seen]
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
        next_response = _details_page(client, repository, current, first=False, deadline=deadline, what=what)
        if next_response is None:  # pragma: no cover - only the first page may say "no such listing"
            return
        response = next_response
    raise ProtocolViolation(f"{what}: more than {MAX_LIST_PAGES} pages; giving up")


def _details_page(
    client: ManifestApi, repository: Repository, current: str, *, first: bool, deadline: Deadline, what: str
) -> Response | None:
    """One tag-details page; ``None`` when the first one says the registry has no such listing."""
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
            # A 404 without an OCI error body (or 405/501): no such listing here (or the extension needs a
            # database the registry runs without).
            client.session(registry).extended_api = False
            return None
        raise from_response(response.status, response.headers, error_body, what=what)
    client.session(registry).extended_api = True
    return response


def delete_tag_reference(client: ManifestApi, ref: Reference, *, deadline: Deadline | None = None) -> None:
    """The registry's own single-tag delete (its profile's extension, e.g. ``DELETE /v2/<name>/tags/reference/
    <tag>``): it removes the tag only, never the manifest or other tags. :class:`~ocireg.errors.Unsupported`
    where the registry has none."""
    from ocireg.errors import Unsupported
    from ocireg.registries import extension_profiles

    if ref.tag is None:
        raise ValueError("delete_tag_reference needs a tag")
    profiles = extension_profiles(client.session(ref.registry).profile)
    path = next((p for p in (x.tag_delete_path(ref.repository, ref.tag) for x in profiles) if p), None)
    if path is None:
        raise Unsupported(f"delete of {escape(str(ref))}: this registry has no single-tag delete of its own")
    deadline = deadline or client.deadline()
    what = f"delete of {escape(str(ref))}"
    response = client.request(
        "DELETE",
        ref.registry,
        path,
        scopes=(ref.repository.scope("pull", "delete"),),
        deadline=deadline,
        what=what,
        ok=(200, 202, 204),
    )
    read_capped_quiet(response, deadline, what)


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
