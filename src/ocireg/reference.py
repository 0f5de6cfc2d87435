"""Image references: registries, repositories, tags and digests, parsed by the distribution grammar.

Pure: no network, no environment. Everything a user types (or a file lists) goes through
:func:`parse_reference` before it reaches a URL, a credential lookup or a log line, so the parser is strict
and its messages say exactly what is wrong::

    >>> str(parse_reference("alpine"))
    'docker.io/library/alpine:latest'
    >>> parse_reference("registry.example.com/group/sub/project/image:v1").repository.scope("pull")
    'repository:group/sub/project/image:pull'

Grammar (github.com/distribution/reference, ``reference.go``)::

    reference       := name [ ":" tag ] [ "@" digest ]
    name            := [domain '/'] path-component ['/' path-component]*
    domain          := host [':' port-number]
    host            := domain-name | IPv4address | '[' IPv6address ']'
    path-component  := [a-z0-9]+ ((?:[._]|__|[-]+) [a-z0-9]+)*
    tag             := [\\w][\\w.-]{0,127}
    digest          := ("sha256" ":" 64 lowercase hex) | ("sha512" ":" 128 lowercase hex)

The first ``/``-separated component is a domain only if it contains ``.`` or ``:`` or is ``localhost``;
otherwise the name lives on Docker Hub (``docker.io``), where one-component names get the ``library/``
prefix. The repository path (without the domain, with Docker Hub's ``library/``) may have at most 255
characters, as in current distribution/reference (``RepositoryNameTotalLengthMax``, checked on the path since
v0.6.0): ``example.com/`` + 255 characters is valid.

Where ocireg differs from distribution/reference: a first component with upper-case letters (``Docker/app``)
is a registry host to Docker (``splitDockerDomain``: "uppercase namespaces are not allowed"); ocireg refuses
the reference instead (exit 2), because such a name is almost always a mistyped Docker Hub namespace and
credentials must not go to a host nobody meant.
"""

from __future__ import annotations

import functools
import ipaddress

from ocireg.errors import InvalidReference
from ocireg.record import record
from ocireg.text import LazyPattern, escape

TYPE_CHECKING = False
if TYPE_CHECKING:
    import hashlib

__all__ = [
    "DIGEST_ALGORITHMS",
    "DOCKER_HUB",
    "DOCKER_HUB_ALIASES",
    "DOCKER_HUB_API",
    "NAME_TOTAL_LENGTH_MAX",
    "TAG_LENGTH_MAX",
    "Digest",
    "Reference",
    "Registry",
    "Repository",
    "parse_digest",
    "parse_reference",
    "parse_registry",
    "parse_repository",
    "parse_tag",
]

DOCKER_HUB = "docker.io"
DOCKER_HUB_API = "registry-1.docker.io"
#: Host names that all mean Docker Hub; they normalise to :data:`DOCKER_HUB`.
DOCKER_HUB_ALIASES = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io"})

#: Longest repository path (the name without its domain), distribution/reference ``RepositoryNameTotalLengthMax``.
NAME_TOTAL_LENGTH_MAX = 255
TAG_LENGTH_MAX = 128
#: Supported digest algorithms and the exact number of hex digits each one has.
DIGEST_ALGORITHMS: dict[str, int] = {"sha256": 64, "sha512": 128}

# Messages quote user text; very long input is cut so a message stays readable.
_QUOTE_MAX = 200
# Input longer than this is refused before any further work (a reference is at most ~400 characters).
_INPUT_MAX = 4096

_PATH_COMPONENT = LazyPattern(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*")
# The grammar's character classes, checked with str.strip (a string made only of these strips to ""): compiling
# their patterns cost a check more than the rest of parsing a reference (#16, start-up). Each check below says
# the distribution pattern it is equal to.
_HEX_DIGITS = "0123456789abcdef"
_LOWER_DIGITS = "abcdefghijklmnopqrstuvwxyz0123456789"
_LOWER_DIGITS_HYPHEN = _LOWER_DIGITS + "-"
_TAG_CHARS = _LOWER_DIGITS + "ABCDEFGHIJKLMNOPQRSTUVWXYZ_.-"
_ACTION_CHARS = _LOWER_DIGITS + "_*-"
# Control characters (C0, DEL, C1), line/paragraph separators, bidi overrides and Unicode whitespace.
_CONTROL = LazyPattern(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_SPACE = LazyPattern(r"\s")


def _quote(text: str) -> str:
    """``text`` escaped and in double quotes, cut at :data:`_QUOTE_MAX` characters."""
    if len(text) > _QUOTE_MAX:
        text = text[:_QUOTE_MAX] + "..."
    return f'"{escape(text)}"'


def _is_label(label: str) -> bool:
    """[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?: a host name label."""
    return (
        0 < len(label) <= 63
        and not label.strip(_LOWER_DIGITS_HYPHEN)
        and label[0] != "-"
        and label[-1] != "-"
    )


def _is_path_component(component: str) -> bool:
    """[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*: letters and digits with '-' runs between them (nearly every
    component) answered without the pattern; a component with '.' or '_' goes through it."""
    if (
        component
        and not component.strip(_LOWER_DIGITS_HYPHEN)
        and component[0] != "-"
        and component[-1] != "-"
    ):
        return True
    return _PATH_COMPONENT.fullmatch(component) is not None


class _Problem(Exception):
    """Internal: one precise reason; the public functions turn it into :class:`InvalidReference`."""


def _raise(kind: str, text: str, reason: str) -> InvalidReference:
    return InvalidReference(f"invalid {kind} {_quote(text)}: {reason}")


def _check_characters(text: str) -> None:
    if not text:
        raise _Problem("empty")
    if len(text) > _INPUT_MAX:
        raise _Problem(f"longer than {_INPUT_MAX} characters")
    # ASCII text (nearly every reference) is checked without the two patterns (#16, start-up): its only
    # characters outside isprintable() are the controls \x00-\x1f and \x7f, and its only printable whitespace
    # is the space.
    ascii_text = text.isascii()
    if not text.isprintable() if ascii_text else _CONTROL.search(text):
        raise _Problem("contains a control character")
    if " " in text if ascii_text else _SPACE.search(text):
        raise _Problem("contains whitespace")
    if text.startswith("-"):
        raise _Problem("must not start with '-'")


# ----------------------------------------------------------------------------------------------------
# Registry


def _split_host_port(text: str) -> tuple[str, int | None, bool]:
    """Validate ``host[:port]``; return (normalised host, port, is_ipv6). Raise :class:`_Problem`."""
    if not text:
        raise _Problem("empty registry host")
    if "://" in text:
        raise _Problem("a registry is host[:port] without a scheme")
    if "@" in text:
        raise _Problem("a registry must not contain user information ('@')")
    if "/" in text:
        raise _Problem("a registry is host[:port] without a path")
    port_text: str | None = None
    if text.startswith("["):
        close = text.find("]")
        if close == -1:
            raise _Problem("unclosed '[' in IPv6 registry address")
        host_text, rest = text[1:close], text[close + 1 :]
        if rest:
            if not rest.startswith(":"):
                raise _Problem("unexpected characters after the IPv6 address")
            port_text = rest[1:]
        try:
            address = ipaddress.IPv6Address(host_text)
        except ValueError:
            raise _Problem(f"{_quote(host_text)} is not a valid IPv6 address") from None
        if address.scope_id:
            raise _Problem("IPv6 zone identifiers are not supported")
        host, is_ipv6 = address.compressed, True
    else:
        host_text, sep, after = text.partition(":")
        if sep:
            port_text = after
        if ":" in after:
            raise _Problem("an IPv6 registry address must be written in brackets, e.g. [::1]:5000")
        host = _check_hostname(host_text)
        is_ipv6 = False
    port = _check_port(port_text) if port_text is not None else None
    return host, port, is_ipv6


def _check_hostname(text: str) -> str:
    if not text:
        raise _Problem("empty registry host")
    host = text.lower()
    if not host.isascii():
        raise _Problem(f"registry host {_quote(text)} must be ASCII (use the punycode form)")
    if len(host) > 253:
        raise _Problem("registry host longer than 253 characters")
    labels = host.split(".")
    for label in labels:
        if not label:
            raise _Problem(f"registry host {_quote(text)} has an empty label")
        if not _is_label(label):
            raise _Problem(
                f"registry host {_quote(text)} is not a valid host name "
                "(letters, digits and '-' in dot-separated labels of at most 63 characters)"
            )
    if labels[-1].isdigit():
        # All-numeric last label: only an IPv4 address is acceptable.
        try:
            host = str(ipaddress.IPv4Address(host))
        except ValueError:
            raise _Problem(f"registry host {_quote(text)} is not a valid IPv4 address") from None
    return host


def _check_port(text: str) -> int:
    if not text:
        raise _Problem("empty port after ':'")
    if not text.isascii() or not text.isdigit():
        raise _Problem(f"port {_quote(text)} is not a number")
    if (len(text) > 1 and text.startswith("0")) or len(text) > 5:
        raise _Problem(f"port {_quote(text)} is not a valid port number")
    port = int(text)
    if not 1 <= port <= 65535:
        raise _Problem(f"port {port} is outside 1-65535")
    return port


@functools.lru_cache(maxsize=64)
def _normalise_registry(text: str) -> str:
    # Memoised: a batch names the same few registries hundreds of times, and IP-address parsing is a
    # measurable share of a reference's CPU (a raised _Problem is not cached, so errors still name each input).
    host, port, is_ipv6 = _split_host_port(text)
    if port is None and host in DOCKER_HUB_ALIASES:
        return DOCKER_HUB
    shown = f"[{host}]" if is_ipv6 else host
    return shown if port is None else f"{shown}:{port}"


@record(frozen=True)
class Registry:
    """A registry address, normalised: ``host[:port]``, host lower case, Docker Hub aliases → ``docker.io``.

    Constructing one validates and normalises ``name`` (``Registry("Index.Docker.IO").name == "docker.io"``);
    :func:`parse_registry` is the same with a message naming the input.
    """

    name: str

    def __post_init__(self) -> None:
        if not isinstance(self.name, str):
            raise InvalidReference(f"invalid registry: expected a string, got {type(self.name).__name__}")
        try:
            _check_characters(self.name)
            normalised = _normalise_registry(self.name)
        except _Problem as problem:
            raise _raise("registry", self.name, str(problem)) from None
        object.__setattr__(self, "name", normalised)

    @property
    def is_docker_hub(self) -> bool:
        return self.name == DOCKER_HUB

    @property
    def api_host(self) -> str:
        """The ``host[:port]`` to connect to (``registry-1.docker.io`` for Docker Hub)."""
        return DOCKER_HUB_API if self.name == DOCKER_HUB else self.name

    @property
    def hostname(self) -> str:
        """The host without port; an IPv6 address without brackets."""
        if self.name.startswith("["):
            return self.name[1 : self.name.index("]")]
        return self.name.partition(":")[0]

    @property
    def port(self) -> int | None:
        if self.name.startswith("["):
            rest = self.name[self.name.index("]") + 1 :]
            return int(rest[1:]) if rest else None
        _, sep, port = self.name.partition(":")
        return int(port) if sep else None

    @property
    def is_loopback(self) -> bool:
        """``localhost`` and ``*.localhost``, 127.0.0.0/8 or ``::1`` (or ``::ffff:127.x.y.z``): the hosts that may
        use HTTP.

        ``*.localhost`` names are loopback by RFC 6761 §6.3 (resolvers should answer them with the loopback
        address), as the realm policy already treats them; the transport still checks that the address it
        connected to is a loopback one before it falls back to plain HTTP.
        """
        host = self.hostname
        if host == "localhost" or host.endswith(".localhost"):
            return True
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            return address.ipv4_mapped.is_loopback
        return address.is_loopback

    def __str__(self) -> str:
        return self.name


def parse_registry(text: str) -> Registry:
    """Parse ``host``, ``host:port``, ``[v6]:port`` or a Docker Hub alias into a normalised :class:`Registry`.

    Raises :class:`InvalidReference` for a scheme, a path, user information, an empty string, a bad port or a
    host that is neither a valid host name nor an IP address.
    """
    return Registry(text)


# ----------------------------------------------------------------------------------------------------
# Digest


def _digest_problem(text: str) -> str | None:
    """The reason ``text`` is not a valid digest, or None."""
    algorithm, sep, hex_ = text.partition(":")
    if not sep:
        return "a digest is ALGORITHM:HEX, e.g. sha256:<64 hex digits>"
    if algorithm not in DIGEST_ALGORITHMS:
        if algorithm.lower() in DIGEST_ALGORITHMS:
            return "the digest algorithm must be lower case"
        return f"unsupported digest algorithm {_quote(algorithm)} (supported: sha256, sha512)"
    if hex_.strip(_HEX_DIGITS):  # [0-9a-f]*
        if not hex_.lower().strip(_HEX_DIGITS):
            return "digest hex must be lower case"
        return "the digest must contain only hex digits after the algorithm"
    expected = DIGEST_ALGORITHMS[algorithm]
    if len(hex_) != expected:
        return f"a {algorithm} digest has {expected} hex digits, not {len(hex_)}"
    return None


@record(frozen=True)
class Digest:
    """A content digest: ``sha256`` or ``sha512`` and the exact lower-case hex of the right length."""

    algorithm: str
    hex: str

    def __post_init__(self) -> None:
        if not isinstance(self.algorithm, str) or not isinstance(self.hex, str):
            raise InvalidReference("invalid digest: algorithm and hex must be strings")
        text = f"{self.algorithm}:{self.hex}"
        problem = _digest_problem(text)
        if problem is not None:
            raise _raise("digest", text, problem)

    @classmethod
    def parse(cls, text: str) -> Digest:
        """Parse ``sha256:<64 hex>`` / ``sha512:<128 hex>``; anything else raises InvalidReference."""
        if not isinstance(text, str):
            raise InvalidReference(f"invalid digest: expected a string, got {type(text).__name__}")
        problem = _digest_problem(text)
        if problem is not None:
            raise _raise("digest", text, problem)
        algorithm, _, hex_ = text.partition(":")
        return cls(algorithm, hex_)

    @classmethod
    def from_bytes(cls, data: bytes, algorithm: str = "sha256") -> Digest:
        """The digest of exactly ``data``."""
        if algorithm not in DIGEST_ALGORITHMS:
            raise InvalidReference(f"unsupported digest algorithm {_quote(str(algorithm))}")
        return cls(algorithm, _new_hash(algorithm, data).hexdigest())

    def hasher(self) -> hashlib._Hash:
        """A fresh hash object of this digest's algorithm, for verifying a stream chunk by chunk."""
        return _new_hash(self.algorithm)

    def matches(self, data: bytes) -> bool:
        """True when ``data`` hashes to this digest."""
        return _new_hash(self.algorithm, data).hexdigest() == self.hex

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.hex}"


def _new_hash(algorithm: str, data: bytes = b"") -> hashlib._Hash:
    # hashlib only when something is hashed: imported before ssl, OpenSSL's digest tables cost a check twice
    # as much as after it (#16, start-up).
    import hashlib

    return hashlib.new(algorithm, data)


def parse_digest(text: str) -> Digest:
    """Same as :meth:`Digest.parse`."""
    return Digest.parse(text)


# ----------------------------------------------------------------------------------------------------
# Tags and repository paths


def _tag_problem(tag: str) -> str | None:
    if not tag:
        return "empty tag"
    if len(tag) > TAG_LENGTH_MAX:
        return f"tag longer than {TAG_LENGTH_MAX} characters ({len(tag)})"
    if tag.strip(_TAG_CHARS):  # [A-Za-z0-9_.-]*
        return f"tag {_quote(tag)} may contain only letters, digits, '_', '.' and '-'"
    if tag[0] in ".-":  # with the two checks above: [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}
        return f"tag {_quote(tag)} must start with a letter, a digit or '_'"
    return None


def parse_tag(text: str) -> str:
    """Validate a bare tag (``v1.2``); return it unchanged or raise :class:`InvalidReference`."""
    if not isinstance(text, str):
        raise InvalidReference(f"invalid tag: expected a string, got {type(text).__name__}")
    try:
        _check_characters(text)
    except _Problem as problem:
        raise _raise("tag", text, str(problem)) from None
    problem_text = _tag_problem(text)
    if problem_text is not None:
        raise _raise("tag", text, problem_text)
    return text


def _path_problem(path: str) -> str | None:
    if not path:
        return "empty repository path"
    components = path.split("/")
    for component in components:
        if not component:
            return "empty path component ('//' or a leading or trailing '/')"
    for component in components:
        if component in (".", ".."):
            return f"path component {_quote(component)} is not allowed"
        if _is_path_component(component):
            continue
        if component != component.lower() and _PATH_COMPONENT.fullmatch(component.lower()):
            return "repository names must be lowercase"
        return (
            f"invalid path component {_quote(component)}: use lower-case letters and digits, "
            "separated by '.', '_', '__' or '-'"
        )
    return None


@record(frozen=True)
class Repository:
    """A repository on a registry: ``registry/path``.

    On Docker Hub a one-component path gets the ``library/`` prefix (``alpine`` → ``library/alpine``).
    """

    registry: Registry
    path: str

    def __post_init__(self) -> None:
        if not isinstance(self.registry, Registry):
            raise InvalidReference("invalid repository: registry must be a Registry")
        if not isinstance(self.path, str):
            raise InvalidReference(
                f"invalid repository: expected a string path, got {type(self.path).__name__}"
            )
        path = self.path
        if self.registry.is_docker_hub and path and "/" not in path:
            path = f"library/{path}"
            object.__setattr__(self, "path", path)
        problem = _path_problem(path)
        if problem is None and len(path) > NAME_TOTAL_LENGTH_MAX:
            problem = f"repository path longer than {NAME_TOTAL_LENGTH_MAX} characters ({len(path)})"
        if problem is not None:
            raise _raise("repository", f"{self.registry.name}/{path}", problem)

    @property
    def name(self) -> str:
        """``registry/path`` (same as ``str(repository)``)."""
        return f"{self.registry.name}/{self.path}"

    def scope(self, *actions: str) -> str:
        """The token scope ``repository:PATH:ACTION[,ACTION...]`` (actions in given order, deduplicated)."""
        if not actions:
            raise ValueError("scope() needs at least one action (pull, push, delete, ...)")
        unique: list[str] = []
        for action in actions:
            if not action or action.strip(_ACTION_CHARS):  # [a-z0-9_*-]+
                raise ValueError(f"invalid scope action {_quote(action)}")
            if action not in unique:
                unique.append(action)
        return f"repository:{self.path}:{','.join(unique)}"

    def __str__(self) -> str:
        return self.name


# ----------------------------------------------------------------------------------------------------
# References


@record(frozen=True)
class Reference:
    """An image reference: a repository plus a tag, a digest, or both (``name:tag@digest``)."""

    repository: Repository
    tag: str | None = None
    digest: Digest | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.repository, Repository):
            raise InvalidReference("invalid reference: repository must be a Repository")
        if self.tag is not None:
            problem = _tag_problem(self.tag) if isinstance(self.tag, str) else "the tag must be a string"
            if problem is not None:
                raise _raise("reference", f"{self.repository}:{self.tag}", problem)
        if self.digest is not None and not isinstance(self.digest, Digest):
            raise InvalidReference("invalid reference: digest must be a Digest")

    @property
    def registry(self) -> Registry:
        return self.repository.registry

    @property
    def identifier(self) -> str:
        """What goes after ``/manifests/``: the digest if any, else the tag (``latest`` if neither)."""
        if self.digest is not None:
            return str(self.digest)
        return self.tag if self.tag is not None else "latest"

    def with_tag(self, tag: str) -> Reference:
        """The same repository with ``tag`` (validated) and no digest."""
        return Reference(self.repository, parse_tag(tag), None)

    def with_digest(self, digest: Digest | None) -> Reference:
        """The same repository and tag with ``digest`` (None removes it)."""
        return Reference(self.repository, self.tag, digest)

    def __str__(self) -> str:
        text = str(self.repository)
        if self.tag is not None:
            text += f":{self.tag}"
        if self.digest is not None:
            text += f"@{self.digest}"
        return text


def _split_domain(name: str) -> tuple[str, str]:
    """Split ``name`` into (registry text, path) by the Docker rule (registry ``docker.io`` if none)."""
    first, sep, rest = name.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost" or first.startswith("[")):
        return first, rest
    return DOCKER_HUB, name


def _parse(text: str, default_tag: str | None, kind: str) -> Reference:
    if not isinstance(text, str):
        raise InvalidReference(f"invalid {kind}: expected a string, got {type(text).__name__}")
    try:
        _check_characters(text)
        if "://" in text:
            raise _Problem("a reference has no scheme; remove the 'https://' part")
        if len(text) == 64 and not text.strip(_HEX_DIGITS):  # [a-f0-9]{64}
            # distribution/reference ParseNormalizedNamed: "cannot specify 64-byte hexadecimal strings"
            raise _Problem("a 64-digit hex string is an image ID, not a repository name")
        rest, at, digest_text = text.partition("@")
        digest: Digest | None = None
        if at:
            if "@" in digest_text:
                raise _Problem("more than one '@'")
            algorithm_text = digest_text.partition(":")[0]
            if "/" in digest_text and ("/" in algorithm_text or "." in algorithm_text):
                raise _Problem("'@' must be followed by a digest (user information is not allowed)")
            problem = _digest_problem(digest_text)
            if problem is not None:
                raise _Problem(f"bad digest: {problem}")
            algorithm, _, hex_ = digest_text.partition(":")
            digest = Digest(algorithm, hex_)
        # A ':' after the last '/' starts the tag (a ':' before it belongs to the registry's port).
        name, tag = rest, None
        colon = rest.rfind(":")
        if colon > rest.rfind("/"):
            name, tag = rest[:colon], rest[colon + 1 :]
            problem = _tag_problem(tag)
            if problem is not None:
                raise _Problem(problem)
        if not name:
            raise _Problem("empty repository name")
        registry_text, path = _split_domain(name)
        registry = Registry(_normalise_registry(registry_text))
        if registry.is_docker_hub and path and "/" not in path:
            path = f"library/{path}"
        problem = _path_problem(path)
        if problem is not None:
            raise _Problem(problem)
        if len(path) > NAME_TOTAL_LENGTH_MAX:
            raise _Problem(f"repository path longer than {NAME_TOTAL_LENGTH_MAX} characters ({len(path)})")
        if tag is None and digest is None:
            tag = default_tag
        return Reference(Repository(registry, path), tag, digest)
    except _Problem as problem:
        raise _raise(kind, text, str(problem)) from None


def parse_reference(text: str, *, default_tag: str | None = "latest") -> Reference:
    """Parse ``[registry/]path[:tag][@digest]`` by the distribution grammar, with Docker Hub normalisation.

    Without tag and digest the reference gets ``default_tag`` (None leaves both empty). Raises
    :class:`InvalidReference` with a message that says exactly what is wrong::

        invalid reference "Group/App:v1": repository names must be lowercase
    """
    return _parse(text, default_tag, "reference")


def parse_repository(text: str) -> Repository:
    """Parse ``[registry/]path``; a tag or digest is an error here."""
    reference = _parse(text, None, "repository")
    if reference.digest is not None:
        raise _raise("repository", text, "a repository name has no digest ('@...')")
    if reference.tag is not None:
        raise _raise("repository", text, "a repository name has no tag (':...')")
    return reference.repository
