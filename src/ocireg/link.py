"""``Link`` headers (RFC 8288, the subset registries use) and the policy for following ``rel="next"``.

The distribution spec paginates ``/v2/<name>/tags/list`` and ``/v2/_catalog`` with
``Link: </v2/<name>/tags/list?n=100&last=b>; rel="next"``
(https://github.com/opencontainers/distribution-spec/blob/main/spec.md#listing-tags). A registry, or anything
between us and it, chooses that URL, so following it is a trust decision: :func:`resolve_next` allows only the
same scheme, host and endpoint path (a ``Link`` to another host would carry our token there: docs/architecture.md §4,
"never forward Authorization across hosts ... Link").

Pure: no I/O. Every failure raises :class:`LinkError` (a :class:`~ocireg.errors.ProtocolViolation`), and
nothing else, whatever the input (property-tested).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType
from urllib.parse import urljoin, urlsplit, urlunsplit

from ocireg.errors import ProtocolViolation
from ocireg.record import field, record
from ocireg.text import escape

__all__ = [
    "MAX_LINK_HEADER",
    "Link",
    "LinkError",
    "next_link",
    "parse_link_header",
    "quoted_string",
    "resolve_next",
]

#: Longest ``Link`` header value accepted (all values of the header together). Registries send ~100 bytes.
MAX_LINK_HEADER = 16 * 1024

# RFC 9110 §5.6.2 token characters.
_TCHAR = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_OWS = " \t"


class LinkError(ProtocolViolation):
    """A ``Link`` header that cannot be parsed, or a next-page link that must not be followed."""


@record(frozen=True)
class Link:
    """One link-value: the target as written (maybe relative) and its parameters (names lower case)."""

    target: str
    params: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def rels(self) -> frozenset[str]:
        """The relation types of ``rel`` (space-separated, compared case-insensitively: RFC 8288 §2.1.1)."""
        return frozenset(part.lower() for part in self.params.get("rel", "").split() if part)


def _join(values: str | Sequence[str]) -> str:
    # Several header lines are one comma-separated list (RFC 9110 §5.3).
    text = values if isinstance(values, str) else ", ".join(v for v in values if isinstance(v, str))
    if len(text) > MAX_LINK_HEADER:
        raise LinkError(f"Link header longer than {MAX_LINK_HEADER} characters")
    for char in text:
        code = ord(char)
        if (code < 0x20 and char != "\t") or code == 0x7F:
            raise LinkError("Link header contains control characters")
    return text


def _skip_ows(text: str, i: int) -> int:
    while i < len(text) and text[i] in _OWS:
        i += 1
    return i


def _token(text: str, i: int) -> tuple[str, int]:
    start = i
    while i < len(text) and text[i] in _TCHAR:
        i += 1
    return text[start:i], i


def quoted_string(text: str, i: int) -> tuple[str, int] | None:
    """An RFC 9110 §5.6.4 quoted-string starting at ``text[i] == '"'``: (the value with its quoted-pairs undone,
    the index after the closing quote), or ``None`` when it is not closed. ``Link`` and ``WWW-Authenticate``
    parameters both use it."""
    out: list[str] = []
    i += 1
    while i < len(text):
        char = text[i]
        if char == "\\":
            if i + 1 >= len(text):
                break
            out.append(text[i + 1])
            i += 2
            continue
        if char == '"':
            return "".join(out), i + 1
        out.append(char)
        i += 1
    return None


def _link_value(text: str, i: int) -> tuple[Link, int]:
    """``"<" URI-Reference ">" *( OWS ";" OWS link-param )`` from ``text[i] == '<'``."""
    end = text.find(">", i + 1)
    if end < 0:
        raise LinkError("Link header: '<' without a closing '>'")
    target = text[i + 1 : end].strip()
    i = end + 1
    params: dict[str, str] = {}
    while True:
        i = _skip_ows(text, i)
        if i >= len(text) or text[i] == ",":
            return Link(target, MappingProxyType(params)), i
        if text[i] != ";":
            raise LinkError(f"Link header: unexpected {escape(text[i])!r} after a link target")
        i = _skip_ows(text, i + 1)
        if i < len(text) and text[i] in ",;":
            continue  # an empty parameter (``<a>;;rel=next``): tolerated, as browsers do
        name, i = _token(text, i)
        if not name:
            if i >= len(text):
                return Link(target, MappingProxyType(params)), i
            raise LinkError(f"Link header: bad parameter name at {escape(text[i])!r}")
        name = name.lower().rstrip("*")
        i = _skip_ows(text, i)
        value = ""
        if i < len(text) and text[i] == "=":
            i = _skip_ows(text, i + 1)
            if i < len(text) and text[i] == '"':
                quoted = quoted_string(text, i)
                if quoted is None:
                    raise LinkError("unterminated quoted string in Link header")
                value, i = quoted
            else:
                value, i = _token(text, i)
        # RFC 8288 §3.3: only the first occurrence of "rel" counts; the same rule for every parameter.
        params.setdefault(name, value)


def _skip_value(text: str, i: int) -> int:
    """The index of the comma that ends the (malformed) link-value starting at ``text[i]``, or ``len(text)``.

    Commas inside ``<...>`` and quoted strings are data; an unclosed one runs to the end of the header value.
    """
    n = len(text)
    while i < n:
        char = text[i]
        if char == ",":
            return i
        if char == "<":
            end = text.find(">", i + 1)
            i = n if end < 0 else end + 1
        elif char == '"':
            i += 1
            while i < n and text[i] != '"':
                i += 2 if text[i] == "\\" else 1
            i += 1
        else:
            i += 1
    return n


def _parse_values(values: str | Sequence[str]) -> tuple[list[Link], LinkError | None]:
    """Every link-value that parses, in order, and the first fault met (``None`` if there was none).

    Each header line is parsed on its own (as regclient's ``httplink.Parse`` does), and within a line a
    malformed link-value is skipped up to the comma that ends it: one broken link-value does not take the
    valid ``rel="next"`` beside it down. Length and control characters are checked over all lines first and
    refuse the whole header.
    """
    text = _join(values)
    lines = [text] if isinstance(values, str) else [v for v in values if isinstance(v, str)]
    links: list[Link] = []
    first_error: LinkError | None = None
    for line in lines:
        i = 0
        while True:
            i = _skip_ows(line, i)
            while i < len(line) and line[i] == ",":
                i = _skip_ows(line, i + 1)
            if i >= len(line):
                break
            try:
                if line[i] != "<":
                    raise LinkError(f"Link header: expected '<' at {escape(line[i])!r}")
                link, i = _link_value(line, i)
            except LinkError as exc:
                first_error = first_error or exc
                i = _skip_value(line, i)
                continue
            links.append(link)
    return links, first_error


def parse_link_header(values: str | Sequence[str]) -> list[Link]:
    """Parse one or more ``Link`` header values into links, in order.

    Accepts ``<uri>; rel="next"``, ``<uri>; rel=next``, several links separated by commas (commas inside
    ``<...>`` and quoted strings are data), several header lines, and extra parameters. A malformed link-value
    is skipped and the others are kept (#13 item 7). Raises only :class:`LinkError`: for an overlong header or
    control characters, and when link-values were there but none of them parsed.
    """
    links, error = _parse_values(values)
    if error is not None and not links:
        raise error
    return links


def next_link(values: str | Sequence[str] | None) -> str | None:
    """The target of the ``rel="next"`` link, or ``None`` when there is none.

    A malformed link-value beside a valid ``rel="next"`` is ignored. Without a valid ``next``, a malformed
    link-value raises :class:`LinkError` instead of answering "no next page": it may have been the next link,
    and a listing silently cut after its first page would be a wrong answer. Two different ``next`` targets
    are ambiguous and raise :class:`LinkError` too (regclient takes the first; ocireg cannot know which page
    is the real one).
    """
    if values is None or (not isinstance(values, str) and not values):
        return None
    links, error = _parse_values(values)
    targets = {link.target for link in links if "next" in link.rels}
    if len(targets) > 1:
        raise LinkError('Link header has more than one different rel="next" target')
    if targets:
        return targets.pop()
    if error is not None:
        raise error
    return None


def _port(scheme: str, port: int | None) -> int | None:
    if port is not None:
        return port
    return {"http": 80, "https": 443}.get(scheme.lower())


def resolve_next(base_url: str, current_path: str, target: str) -> str:
    """Check a next-page ``target`` and return it as a ``/path?query`` under ``base_url``.

    ``base_url`` is the registry's ``scheme://host[:port]``; ``current_path`` the path (and query) of the page
    that carried the link, against which a relative ``target`` is resolved. The result must stay on the
    same scheme and host and the same endpoint path (only the query may change): a next link to another
    host, another scheme or another API path is refused, because the next request carries our token.
    """
    if any(ord(c) < 0x21 or ord(c) == 0x7F for c in target):
        raise LinkError("next-page link contains whitespace or control characters")
    try:
        base = urlsplit(base_url)
        current = urlsplit(urljoin(base_url + "/", current_path))
        absolute = urljoin(urlunsplit(current), target)
        parts = urlsplit(absolute)
        same_port = _port(parts.scheme, parts.port) == _port(base.scheme, base.port)
    except ValueError as exc:
        raise LinkError(f"next-page link is not a valid URL: {escape(target[:200])}") from exc
    if parts.scheme.lower() != base.scheme.lower():
        raise LinkError(
            f"next-page link changes the scheme to {escape(parts.scheme or '(none)')}; refusing it"
        )
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise LinkError("next-page link contains user information; refusing it")
    if (parts.hostname or "").lower() != (base.hostname or "").lower() or not same_port:
        raise LinkError(
            f"next-page link points to another host ({escape(parts.netloc[:200])}); refusing it, "
            "the request would carry the registry token there"
        )
    if parts.path != current.path:
        raise LinkError(
            f"next-page link points to another endpoint ({escape(parts.path[:200])}, "
            f"expected {escape(current.path[:200])}); refusing it"
        )
    return parts.path + (f"?{parts.query}" if parts.query else "")
