"""Manifests, indexes, descriptors and platforms, parsed strictly from the exact bytes a registry sent.

Pure: the caller fetches the bytes (capped) and passes them with the ``Content-Type``;
:func:`parse_manifest` hashes those same bytes and parses them with :func:`loads_strict`. A document that
could be read two ways is refused (CVE-2021-41190: both ``manifests`` and ``layers``/``config``, or a
``mediaType`` that disagrees with the ``Content-Type``), and so is anything that is not plain, unambiguous
JSON.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Mapping
from types import MappingProxyType

from ocireg import mediatypes
from ocireg.errors import InvalidManifest, InvalidReference, OciregError, PlatformNotFound
from ocireg.record import field, record
from ocireg.reference import Digest
from ocireg.text import LazyPattern, escape

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import NoReturn

__all__ = [
    "JSON_MAX_DEPTH",
    "JSON_MAX_INT_DIGITS",
    "MANIFEST_SIZE_LIMIT",
    "Descriptor",
    "Index",
    "Manifest",
    "Platform",
    "loads_strict",
    "normalize_platform",
    "parse_manifest",
    "parse_platform",
    "platform_matches",
    "select_platform",
]

#: Manifests larger than this are refused (docs/architecture.md §4: manifest bodies are capped at 8 MiB).
MANIFEST_SIZE_LIMIT = 8 * 1024 * 1024
#: Deepest nesting of arrays and objects :func:`loads_strict` accepts (a manifest needs about 4).
JSON_MAX_DEPTH = 64
#: Longest integer literal :func:`loads_strict` accepts (sizes fit in 19 digits).
JSON_MAX_INT_DIGITS = 20

_QUOTE_MAX = 120


def _quote(value: object) -> str:
    text = value if isinstance(value, str) else repr(value)
    if len(text) > _QUOTE_MAX:
        text = text[:_QUOTE_MAX] + "..."
    return f'"{escape(text)}"'


# ----------------------------------------------------------------------------------------------------
# Strict JSON

# A JSON string once escapes are gone (or an unterminated one up to the end of the text): always matches once
# started, no backtracking, so linear time on any input, hostile or not.
_JSON_STRING = LazyPattern(r'"[^"]*(?:"|\Z)')
_NOT_BRACKETS = LazyPattern(r"[^\[\]{}]+")
_DEPTH_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}
# Only a \uD800-\uDFFF escape can produce an unpaired surrogate; without one the walk is skipped.
_SURROGATE_ESCAPE = LazyPattern(r"\\u[dD][89abcdefABCDEF]")


class _StrictError(Exception):
    """Internal: raised by the json hooks, turned into the caller's error type."""


def _max_depth(text: str) -> int:
    """The deepest bracket nesting outside strings (exact for valid JSON, linear time)."""
    if text.count("[") + text.count("{") <= JSON_MAX_DEPTH:
        return 0  # cannot be too deep; the exact value does not matter
    # Drop escaped backslashes first, then escaped quotes: what is left has no escape that hides a quote.
    # (Outside strings a backslash is invalid JSON anyway, and json.loads rejects it.)
    unescaped = text.replace("\\\\", "").replace('\\"', "")
    brackets = _NOT_BRACKETS.sub("", _JSON_STRING.sub("", unescaped))
    return max(itertools.accumulate(map(_DEPTH_STEP.__getitem__, brackets)), default=0)


def _pairs_hook(pairs: list[tuple[str, object]]) -> dict[str, object]:
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _StrictError(f"duplicate key {_quote(key)}")
            seen.add(key)
    return result


def _parse_constant(name: str) -> NoReturn:
    raise _StrictError(f"{name} is not valid JSON")


def _parse_int(text: str) -> int:
    if len(text.lstrip("-")) > JSON_MAX_INT_DIGITS:
        raise _StrictError(f"integer with more than {JSON_MAX_INT_DIGITS} digits")
    return int(text)


def _parse_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _StrictError(f"number {_quote(text)} is out of range")
    return value


def _check_strings(doc: object) -> None:
    """Refuse lone surrogates (``"\\ud800"``): they are not Unicode text and break every later encode."""
    stack: list[object] = [doc]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if not item.isascii():
                try:
                    item.encode("utf-8")
                except UnicodeEncodeError:
                    raise _StrictError("string with an unpaired surrogate escape") from None
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def loads_strict(
    raw: bytes,
    *,
    what: str = "document",
    error: type[OciregError] = InvalidManifest,
) -> dict[str, object]:
    """Parse ``raw`` as one strict JSON object; every failure raises ``error`` (:class:`InvalidManifest`).

    Strict means: UTF-8 only (no BOM), no duplicate keys, no ``NaN``/``Infinity`` or out-of-range numbers,
    no integers longer than :data:`JSON_MAX_INT_DIGITS` digits, nesting at most :data:`JSON_MAX_DEPTH` deep,
    no unpaired surrogate escapes, and the top level is an object. ``what`` starts the message
    (``"manifest"``, ``"token response"``); pass ``error=ProtocolViolation`` for non-manifest documents.
    """
    if not isinstance(raw, (bytes, bytearray, memoryview)):
        raise error(f"{what}: expected bytes, got {type(raw).__name__}")
    try:
        text = bytes(raw).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error(f"{what} is not valid UTF-8 (byte {exc.start})") from None
    if text.startswith("\ufeff"):
        raise error(f"{what}: JSON must not start with a byte order mark")
    depth = _max_depth(text)
    if depth > JSON_MAX_DEPTH:
        raise error(f"{what}: JSON nested deeper than {JSON_MAX_DEPTH} levels")
    try:
        doc = json.loads(
            text,
            object_pairs_hook=_pairs_hook,
            parse_constant=_parse_constant,
            parse_int=_parse_int,
            parse_float=_parse_float,
        )
        if _SURROGATE_ESCAPE.search(text):
            _check_strings(doc)
    except _StrictError as exc:
        raise error(f"{what}: invalid JSON: {exc}") from None
    except json.JSONDecodeError as exc:
        raise error(f"{what} is not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from None
    except (ValueError, RecursionError) as exc:  # int() limits, nesting the pre-scan missed
        raise error(f"{what} is not valid JSON ({type(exc).__name__})") from None
    if not isinstance(doc, dict):
        raise error(f"{what}: expected a JSON object at the top level, got {_json_type(doc)}")
    return doc


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


# ----------------------------------------------------------------------------------------------------
# Platforms

_PLATFORM_PART = LazyPattern(r"[a-z0-9][a-z0-9_.-]*")


@record(frozen=True)
class Platform:
    """An OS/architecture pair with optional CPU variant and OS version (``linux/arm64/v8``)."""

    os: str
    architecture: str
    variant: str | None = None
    os_version: str | None = None

    def __str__(self) -> str:
        text = f"{self.os}/{self.architecture}"
        if self.variant:
            text += f"/{self.variant}"
        return text


def parse_platform(text: str) -> Platform:
    """Parse ``OS/ARCH[/VARIANT]`` (``linux/amd64``, ``linux/arm64/v8``, ``linux/arm/v7``).

    Upper case is folded. Raises :class:`InvalidReference` (a usage error) on anything else.
    """
    if not isinstance(text, str):
        raise InvalidReference(f"invalid platform: expected a string, got {type(text).__name__}")
    parts = text.lower().split("/")
    if len(parts) not in (2, 3) or not all(_PLATFORM_PART.fullmatch(part) for part in parts):
        raise InvalidReference(
            f"invalid platform {_quote(text)}: expected OS/ARCH[/VARIANT], e.g. linux/amd64 or linux/arm64/v8"
        )
    return Platform(parts[0], parts[1], parts[2] if len(parts) == 3 else None)


# containerd/platforms' normalisation as tables (``database.go``): OS and architecture names, the architectures that
# fix their variant, and the variants written in another form or naming the architecture's baseline ("").
_OS_ALIASES = {"macos": "darwin"}
_ARCH_ALIASES = {
    "i386": "386",
    "x86_64": "amd64",
    "x86-64": "amd64",
    "aarch64": "arm64",
    "armhf": "arm",
    "armel": "arm",
}
_FORCED_VARIANTS = {"i386": "", "armhf": "v7", "armel": "v6"}
_VARIANT_ALIASES = {
    ("amd64", "v1"): "",
    ("arm64", "8"): "",
    ("arm64", "v8"): "",
    ("arm64", "v8.0"): "",
    ("arm64", "9"): "v9",
    ("arm64", "9.0"): "v9",
    ("arm64", "v9.0"): "v9",
    ("arm", ""): "v7",
    ("arm", "7"): "v7",
    ("arm", "5"): "v5",
    ("arm", "6"): "v6",
    ("arm", "8"): "v8",
}


def normalize_platform(platform: Platform) -> Platform:
    """containerd's ``Normalize``: the canonical form two platforms are compared in.

    Transcribed from github.com/containerd/platforms (``platforms.go`` ``Normalize``, ``database.go``
    ``normalizeOS``/``normalizeArch``): everything lower case; ``macos`` → ``darwin``; ``i386`` → ``386``
    (variant dropped); ``x86_64``/``x86-64`` → ``amd64``, whose ``v1`` is its baseline and is dropped;
    ``aarch64`` → ``arm64``, whose ``8``/``v8``/``v8.0`` is its baseline and is dropped, and ``9``/``9.0``/
    ``v9.0`` → ``v9``; ``armhf`` → ``arm/v7``, ``armel`` → ``arm/v6``; ``arm`` without a variant (or ``7``)
    is ``arm/v7``, ``5``/``6``/``8`` get their ``v``. The OS version is kept as it is.
    """
    os_ = platform.os.lower()
    os_ = _OS_ALIASES.get(os_, os_)
    written = platform.architecture.lower()
    arch = _ARCH_ALIASES.get(written, written)
    variant = (platform.variant or "").lower()
    forced = _FORCED_VARIANTS.get(written)
    variant = forced if forced is not None else _VARIANT_ALIASES.get((arch, variant), variant)
    return Platform(os_, arch, variant or None, platform.os_version)


def platform_matches(want: Platform, have: Platform) -> bool:
    """True when ``have`` (an index entry, or an image config) is the platform ``want`` asks for.

    containerd's strict matcher (``platforms.OnlyStrict``, github.com/containerd/platforms ``compare.go``):
    both sides normalised (:func:`normalize_platform`), then OS, architecture and variant must be equal. So a
    request without a variant takes only the architecture's baseline (``linux/amd64`` is ``amd64`` or
    ``amd64/v1``, never ``amd64/v3``, whose images die with "illegal instruction" on older CPUs;
    ``linux/arm64`` is ``arm64`` or ``arm64/v8``, never ``arm64/v9``; ``linux/arm`` is ``arm/v7``), and an
    explicit variant matches only itself (``arm64/v8`` ≡ ``arm64``, ``arm64/v9.0`` ≡ ``arm64/v9``).

    OS versions (Windows images) take part only when both sides have one, as in containerd; then they must be
    equal (containerd compares Windows build numbers; ocireg, whose ``--platform`` has no OS version, compares
    the whole string).
    """
    w, h = normalize_platform(want), normalize_platform(have)
    if (w.os, w.architecture, w.variant) != (h.os, h.architecture, h.variant):
        return False
    return want.os_version is None or have.os_version is None or want.os_version == have.os_version


# ----------------------------------------------------------------------------------------------------
# Descriptors, manifests, indexes

_EMPTY: Mapping[str, str] = MappingProxyType({})


@record(frozen=True)
class Descriptor:
    """A content descriptor: media type, digest and size of a blob or manifest (plus platform in an index)."""

    media_type: str
    digest: Digest
    size: int
    platform: Platform | None = None
    annotations: Mapping[str, str] = field(default_factory=lambda: _EMPTY, hash=False)
    urls: tuple[str, ...] = ()
    artifact_type: str | None = None

    def to_json(self) -> dict[str, object]:
        """The descriptor as an OCI JSON object (for writing manifests and ``-o json`` output)."""
        doc: dict[str, object] = {"mediaType": self.media_type, "digest": str(self.digest), "size": self.size}
        if self.artifact_type is not None:
            doc["artifactType"] = self.artifact_type
        if self.urls:
            doc["urls"] = list(self.urls)
        if self.annotations:
            doc["annotations"] = dict(self.annotations)
        if self.platform is not None:
            platform: dict[str, object] = {"architecture": self.platform.architecture, "os": self.platform.os}
            if self.platform.os_version is not None:
                platform["os.version"] = self.platform.os_version
            if self.platform.variant is not None:
                platform["variant"] = self.platform.variant
            doc["platform"] = platform
        return doc


@record(frozen=True)
class Manifest:
    """An image manifest (OCI or Docker v2): config and layers; ``raw`` is the exact bytes."""

    media_type: str
    config: Descriptor
    layers: tuple[Descriptor, ...]
    annotations: Mapping[str, str] = field(hash=False)
    subject: Descriptor | None
    raw: bytes = field(repr=False)
    digest: Digest
    artifact_type: str | None = None

    @property
    def total_size(self) -> int:
        """Config plus layer sizes, in bytes (the manifest itself not included)."""
        return self.config.size + sum(layer.size for layer in self.layers)

    @property
    def blobs(self) -> tuple[Descriptor, ...]:
        """The config followed by the layers: everything a copy must transfer."""
        return (self.config, *self.layers)


@record(frozen=True)
class Index:
    """An image index (OCI) or manifest list (Docker): child manifests, usually one per platform."""

    media_type: str
    manifests: tuple[Descriptor, ...]
    annotations: Mapping[str, str] = field(hash=False)
    subject: Descriptor | None
    raw: bytes = field(repr=False)
    digest: Digest
    artifact_type: str | None = None

    @property
    def platforms(self) -> tuple[Platform, ...]:
        """Platforms of the children that have one, in order, without ``unknown/unknown`` (attestations)."""
        return tuple(
            d.platform for d in self.manifests if d.platform is not None and not _is_unknown(d.platform)
        )


def _is_unknown(platform: Platform) -> bool:
    return platform.os == "unknown" and platform.architecture == "unknown"


class _Parser:
    """Walks one decoded document; every error names where in the document it is."""

    def __init__(self, label: str) -> None:
        self.label = label

    def fail(self, where: str, reason: str) -> NoReturn:
        prefix = f"{self.label}: {where}: " if where else f"{self.label}: "
        raise InvalidManifest(prefix + reason)

    def string(self, value: object, where: str) -> str:
        if not isinstance(value, str):
            self.fail(where, f"expected a string, got {_json_type(value)}")
        return value

    def optional_string(self, doc: Mapping[str, object], key: str, where: str) -> str | None:
        value = doc.get(key)
        return None if value is None else self.string(value, _join(where, key))

    def annotations(self, value: object, where: str) -> Mapping[str, str]:
        if value is None:
            return _EMPTY
        if not isinstance(value, dict):
            self.fail(where, f"expected an object of strings, got {_json_type(value)}")
        for key, item in value.items():
            if not isinstance(item, str):
                self.fail(where, f"annotation {_quote(key)} must be a string, got {_json_type(item)}")
        return MappingProxyType(dict(value))

    def platform(self, value: object, where: str) -> Platform | None:
        if value is None:
            return None
        if not isinstance(value, dict):
            self.fail(where, f"expected an object, got {_json_type(value)}")
        os_ = self.string(value.get("os"), _join(where, "os"))
        arch = self.string(value.get("architecture"), _join(where, "architecture"))
        variant = self.optional_string(value, "variant", where)
        os_version = self.optional_string(value, "os.version", where)
        return Platform(os_, arch, variant or None, os_version or None)

    def descriptor(self, value: object, where: str) -> Descriptor:
        if not isinstance(value, dict):
            self.fail(where, f"expected a descriptor object, got {_json_type(value)}")
        media_type = self.string(value.get("mediaType"), _join(where, "mediaType"))
        if not media_type:
            self.fail(_join(where, "mediaType"), "empty media type")
        digest_text = self.string(value.get("digest"), _join(where, "digest"))
        try:
            digest = Digest.parse(digest_text)
        except InvalidReference as exc:
            self.fail(_join(where, "digest"), str(exc))
        size = value.get("size")
        if not isinstance(size, int) or isinstance(size, bool):
            self.fail(_join(where, "size"), f"expected an integer, got {_json_type(size)}")
        if size < 0:
            self.fail(_join(where, "size"), f"negative size {size}")
        urls_value = value.get("urls")
        urls: tuple[str, ...] = ()
        if urls_value is not None:
            if not isinstance(urls_value, list):
                self.fail(_join(where, "urls"), f"expected an array, got {_json_type(urls_value)}")
            urls = tuple(self.string(u, f"{_join(where, 'urls')}[{i}]") for i, u in enumerate(urls_value))
        return Descriptor(
            media_type=media_type,
            digest=digest,
            size=size,
            platform=self.platform(value.get("platform"), _join(where, "platform")),
            annotations=self.annotations(value.get("annotations"), _join(where, "annotations")),
            urls=urls,
            artifact_type=self.optional_string(value, "artifactType", where),
        )

    def descriptors(self, value: object, where: str) -> tuple[Descriptor, ...]:
        if not isinstance(value, list):
            self.fail(where, f"expected an array, got {_json_type(value)}")
        return tuple(self.descriptor(item, f"{where}[{i}]") for i, item in enumerate(value))


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _kind(doc: Mapping[str, object], declared: str | None, content_type: str | None, p: _Parser) -> str:
    """The media type the document is read as; refuses schema 1, unknown types and ambiguity."""
    has_index = "manifests" in doc
    has_image = "layers" in doc or "config" in doc
    if has_index and has_image:
        p.fail(
            "",
            "has both 'manifests' and 'layers'/'config' and could be read as index or manifest "
            "(CVE-2021-41190); refusing it",
        )
    specific = content_type if content_type not in mediatypes.GENERIC_CONTENT_TYPES else None
    if declared is not None and specific is not None and declared.lower() != specific:
        p.fail("", f"mediaType {_quote(declared)} does not match Content-Type {_quote(specific)}")
    kind = declared.lower() if declared is not None else specific
    if kind is None:
        # Neither says: OCI allows a missing mediaType, so read by structure.
        if has_index:
            return mediatypes.OCI_INDEX
        if has_image:
            return mediatypes.OCI_MANIFEST
        p.fail("", "neither mediaType nor Content-Type says what this is, and it has no manifests or layers")
    if kind in mediatypes.SCHEMA1_TYPES:
        p.fail("", "Docker schema 1 manifests are not supported")
    if kind == mediatypes.OCI_ARTIFACT_MANIFEST:
        p.fail("", "OCI artifact manifests (withdrawn from image spec 1.1) are not supported")
    if kind not in mediatypes.MANIFEST_TYPES:
        p.fail("", f"unsupported manifest media type {_quote(declared if declared is not None else kind)}")
    if kind in mediatypes.INDEX_TYPES and has_image:
        p.fail("", f"an index ({kind}) must not have 'layers' or 'config'")
    if kind in mediatypes.IMAGE_MANIFEST_TYPES and has_index:
        p.fail("", f"an image manifest ({kind}) must not have 'manifests'")
    return kind


def _digest_of(raw: bytes, algorithm: str) -> tuple[bytes, Digest]:
    """The bytes (size-checked) and their digest."""
    if not isinstance(raw, (bytes, bytearray, memoryview)):
        raise InvalidManifest(f"manifest: expected bytes, got {type(raw).__name__}")
    raw = bytes(raw)
    if len(raw) > MANIFEST_SIZE_LIMIT:
        raise InvalidManifest(f"manifest larger than {MANIFEST_SIZE_LIMIT} bytes ({len(raw)})")
    try:
        return raw, Digest.from_bytes(raw, algorithm)
    except InvalidReference as exc:
        raise InvalidManifest(f"manifest: {exc}") from None


def _checked_kind(doc: Mapping[str, object], ct: str | None, p: _Parser) -> str:
    """The document's media type, after refusing schema 1 and any schemaVersion but 2."""
    declared_value = doc.get("mediaType")
    declared = None if declared_value is None else p.string(declared_value, "mediaType")
    schema = doc.get("schemaVersion")
    if (schema == 1 and not isinstance(schema, bool)) or ct in mediatypes.SCHEMA1_TYPES:
        p.fail("", "Docker schema 1 manifests are not supported")
    if declared is not None and declared.lower() in mediatypes.SCHEMA1_TYPES:
        p.fail("", "Docker schema 1 manifests are not supported")
    kind = _kind(doc, declared, ct, p)
    if schema is None:
        p.fail("schemaVersion", "missing (must be 2)")
    if isinstance(schema, bool) or schema != 2:
        p.fail("schemaVersion", f"must be 2, got {_quote(schema)}")
    return kind


def parse_manifest(raw: bytes, content_type: str | None, *, algorithm: str = "sha256") -> Manifest | Index:
    """Parse the exact bytes of a manifest or index; ``digest`` is the ``algorithm`` hash of ``raw``.

    ``content_type`` is the response's ``Content-Type`` (parameters ignored; generic types such as
    ``application/json`` and a missing header say nothing). Raises :class:`InvalidManifest` with a clear
    message.
    """
    raw, digest = _digest_of(raw, algorithm)
    p = _Parser(f"manifest {digest}")
    doc = loads_strict(raw, what=p.label)
    ct = mediatypes.base_type(content_type) if isinstance(content_type, str) else None

    kind = _checked_kind(doc, ct, p)

    annotations = p.annotations(doc.get("annotations"), "annotations")
    subject_value = doc.get("subject")
    subject = None if subject_value is None else p.descriptor(subject_value, "subject")
    artifact_type = p.optional_string(doc, "artifactType", "")
    if kind in mediatypes.INDEX_TYPES:
        if "manifests" not in doc:
            p.fail("manifests", "missing")
        return Index(
            media_type=kind,
            manifests=p.descriptors(doc["manifests"], "manifests"),
            annotations=annotations,
            subject=subject,
            raw=raw,
            digest=digest,
            artifact_type=artifact_type,
        )
    if "config" not in doc:
        p.fail("config", "missing")
    if "layers" not in doc:
        p.fail("layers", "missing")
    return Manifest(
        media_type=kind,
        config=p.descriptor(doc["config"], "config"),
        layers=p.descriptors(doc["layers"], "layers"),
        annotations=annotations,
        subject=subject,
        raw=raw,
        digest=digest,
        artifact_type=artifact_type,
    )


def select_platform(index: Index, platform: Platform) -> Descriptor:
    """The child of ``index`` for ``platform``, by :func:`platform_matches` (containerd's strict matcher).

    Every entry is compared, not only the first of its architecture: ``linux/amd64`` on an index listing
    ``[linux/amd64/v3, linux/amd64]`` is the second entry. When several entries match, one spelled exactly as
    asked wins, else the first in index order (containerd keeps index order among equal matches).

    Raises :class:`PlatformNotFound` naming the platforms the index does have (and, when only other variants of the
    architecture are there, how to ask for one of them).
    """
    matching = [
        d for d in index.manifests if d.platform is not None and platform_matches(platform, d.platform)
    ]
    if matching:
        spelled = (platform.os, platform.architecture, platform.variant)
        for descriptor in matching:
            have = descriptor.platform
            if have is not None and (have.os, have.architecture, have.variant) == spelled:
                return descriptor
        return matching[0]
    available = list(dict.fromkeys(str(p) for p in index.platforms))
    listed = ", ".join(escape(text) for text in available) if available else "none"
    raise PlatformNotFound(
        f"no {escape(str(platform))} entry in index {index.digest}; available: {listed}",
        hint=_variant_hint(index, platform),
    )


def require_config_platform(config: Mapping[str, object], platform: Platform, what: str) -> None:
    """A single-platform image answers ``--platform`` from its config: raise :class:`PlatformNotFound` unless the
    config's ``os``/``architecture``/``variant`` match (:func:`platform_matches`). ``what`` names the image."""
    variant = config.get("variant")
    have = Platform(
        os=str(config.get("os", "")),
        architecture=str(config.get("architecture", "")),
        variant=variant if isinstance(variant, str) else None,
    )
    if not platform_matches(platform, have):
        raise PlatformNotFound(
            f"{escape(what)} is a single-platform image for {escape(str(have))}, not {escape(str(platform))}"
        )


def _variant_hint(index: Index, platform: Platform) -> str | None:
    """When the index has the architecture only in other variants, say how to ask for one explicitly."""
    want = normalize_platform(platform)
    others = [
        str(p)
        for p in index.platforms
        if (normalize_platform(p).os, normalize_platform(p).architecture) == (want.os, want.architecture)
    ]
    if not others:
        return None
    asked = "the architecture's baseline" if platform.variant is None else f"variant {platform.variant}"
    return (
        f"{escape(str(platform))} means {asked} only (containerd's strict matching); to take another "
        f"variant ask for it: --platform {escape(others[0])}"
    )
