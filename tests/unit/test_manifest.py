"""Unit tests for ocireg.manifest: strict JSON, the four manifest types, ambiguity, platforms (BI-manifest-*, BI-json-*)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ocireg import mediatypes as mt
from ocireg.errors import InvalidManifest, InvalidReference, NotFound, ProtocolViolation, RegistryError
from ocireg.manifest import (
    JSON_MAX_DEPTH,
    Descriptor,
    Index,
    Manifest,
    Platform,
    loads_strict,
    parse_manifest,
    parse_platform,
    platform_matches,
    select_platform,
)
from ocireg.reference import Digest

FAST = settings(max_examples=250, deadline=None)


def _d(n: int) -> str:
    return "sha256:" + hashlib.sha256(str(n).encode()).hexdigest()


# Documents shaped like what registries really serve (alpine / busybox / buildx output).
OCI_MANIFEST_DOC: dict[str, Any] = {
    "schemaVersion": 2,
    "mediaType": mt.OCI_MANIFEST,
    "config": {"mediaType": mt.OCI_CONFIG, "digest": _d(1), "size": 1472},
    "layers": [
        {"mediaType": mt.OCI_LAYER_GZIP, "digest": _d(2), "size": 3623807},
        {"mediaType": mt.OCI_LAYER_ZSTD, "digest": _d(3), "size": 120},
    ],
    "annotations": {"org.opencontainers.image.created": "2024-06-20T17:50:23Z"},
}
DOCKER_V2_DOC: dict[str, Any] = {
    "schemaVersion": 2,
    "mediaType": mt.DOCKER_MANIFEST_V2,
    "config": {"mediaType": mt.DOCKER_CONFIG, "size": 1457, "digest": _d(4)},
    "layers": [{"mediaType": mt.DOCKER_LAYER_GZIP, "size": 2152262, "digest": _d(5)}],
}
OCI_INDEX_DOC: dict[str, Any] = {
    "schemaVersion": 2,
    "mediaType": mt.OCI_INDEX,
    "manifests": [
        {
            "mediaType": mt.OCI_MANIFEST,
            "digest": _d(6),
            "size": 1025,
            "platform": {"architecture": "amd64", "os": "linux"},
        },
        {
            "mediaType": mt.OCI_MANIFEST,
            "digest": _d(7),
            "size": 1025,
            "platform": {"architecture": "arm64", "os": "linux", "variant": "v8"},
        },
        {
            "mediaType": mt.OCI_MANIFEST,
            "digest": _d(8),
            "size": 566,
            "annotations": {
                "vnd.docker.reference.digest": _d(6),
                "vnd.docker.reference.type": "attestation-manifest",
            },
            "platform": {"architecture": "unknown", "os": "unknown"},
        },
    ],
}
DOCKER_LIST_DOC: dict[str, Any] = {
    "manifests": [
        {
            "digest": _d(9),
            "mediaType": mt.DOCKER_MANIFEST_V2,
            "platform": {"architecture": "amd64", "os": "linux"},
            "size": 528,
        },
        {
            "digest": _d(10),
            "mediaType": mt.DOCKER_MANIFEST_V2,
            "platform": {"architecture": "arm", "os": "linux", "variant": "v6"},
            "size": 528,
        },
        {
            "digest": _d(11),
            "mediaType": mt.DOCKER_MANIFEST_V2,
            "platform": {"architecture": "arm", "os": "linux", "variant": "v7"},
            "size": 528,
        },
        {
            "digest": _d(12),
            "mediaType": mt.DOCKER_MANIFEST_V2,
            "platform": {"architecture": "s390x", "os": "linux"},
            "size": 528,
        },
        {
            "digest": _d(13),
            "mediaType": mt.DOCKER_MANIFEST_V2,
            "platform": {"architecture": "amd64", "os": "windows", "os.version": "6.3.9600.20778"},
            "size": 528,
        },
    ],
    "mediaType": mt.DOCKER_MANIFEST_LIST,
    "schemaVersion": 2,
}


def _raw(doc: object, *, indent: int | None = 3) -> bytes:
    return json.dumps(doc, indent=indent).encode()


def _parse(doc: object, content_type: str | None = None) -> Manifest | Index:
    return parse_manifest(_raw(doc), content_type)


# ----------------------------------------------------------------------------------------------------------
# The four types (PC-exists-four-types)


@pytest.mark.parametrize("content_type", [None, mt.OCI_MANIFEST, "application/json"])
def test_oci_manifest(content_type: str | None) -> None:
    raw = _raw(OCI_MANIFEST_DOC)
    manifest = parse_manifest(raw, content_type)
    assert isinstance(manifest, Manifest)
    assert manifest.media_type == mt.OCI_MANIFEST
    assert manifest.raw == raw
    assert str(manifest.digest) == "sha256:" + hashlib.sha256(raw).hexdigest()
    assert manifest.config == Descriptor(mt.OCI_CONFIG, Digest.parse(_d(1)), 1472)
    assert [layer.size for layer in manifest.layers] == [3623807, 120]
    assert manifest.total_size == 1472 + 3623807 + 120
    assert manifest.blobs == (manifest.config, *manifest.layers)
    assert manifest.annotations == {"org.opencontainers.image.created": "2024-06-20T17:50:23Z"}
    assert manifest.subject is None


def test_docker_v2_manifest() -> None:
    manifest = _parse(DOCKER_V2_DOC, mt.DOCKER_MANIFEST_V2 + "; charset=utf-8")
    assert isinstance(manifest, Manifest)
    assert manifest.media_type == mt.DOCKER_MANIFEST_V2
    assert manifest.config.media_type == mt.DOCKER_CONFIG
    assert manifest.total_size == 1457 + 2152262
    assert manifest.annotations == {}


def test_oci_index() -> None:
    index = _parse(OCI_INDEX_DOC, mt.OCI_INDEX)
    assert isinstance(index, Index)
    assert index.media_type == mt.OCI_INDEX
    assert len(index.manifests) == 3
    assert index.manifests[1].platform == Platform("linux", "arm64", "v8")
    assert index.manifests[2].annotations["vnd.docker.reference.type"] == "attestation-manifest"
    assert [str(p) for p in index.platforms] == ["linux/amd64", "linux/arm64/v8"]


def test_docker_manifest_list() -> None:
    index = _parse(DOCKER_LIST_DOC, mt.DOCKER_MANIFEST_LIST)
    assert isinstance(index, Index)
    assert index.media_type == mt.DOCKER_MANIFEST_LIST
    assert index.manifests[4].platform == Platform("windows", "amd64", None, "6.3.9600.20778")


def test_digest_is_of_the_exact_bytes() -> None:
    """PC-digest: the same document with different whitespace has a different digest; sha512 on request."""
    compact = parse_manifest(_raw(OCI_MANIFEST_DOC, indent=None), None)
    pretty = parse_manifest(_raw(OCI_MANIFEST_DOC, indent=2), None)
    assert compact.digest != pretty.digest
    assert compact.digest.matches(compact.raw)
    sha512 = parse_manifest(_raw(OCI_MANIFEST_DOC), None, algorithm="sha512")
    assert sha512.digest.algorithm == "sha512"
    assert sha512.digest.matches(_raw(OCI_MANIFEST_DOC))


def test_missing_media_type_inferred_from_content_type_or_structure() -> None:
    doc = {k: v for k, v in DOCKER_V2_DOC.items() if k != "mediaType"}
    assert _parse(doc, mt.DOCKER_MANIFEST_V2).media_type == mt.DOCKER_MANIFEST_V2
    assert _parse(doc, None).media_type == mt.OCI_MANIFEST
    index_doc = {k: v for k, v in OCI_INDEX_DOC.items() if k != "mediaType"}
    assert _parse(index_doc, "application/octet-stream").media_type == mt.OCI_INDEX


def test_subject_artifact_type_and_urls() -> None:
    doc = dict(OCI_MANIFEST_DOC)
    doc["artifactType"] = "application/vnd.example.sbom"
    doc["subject"] = {"mediaType": mt.OCI_MANIFEST, "digest": _d(20), "size": 7}
    doc["layers"] = [
        {
            "mediaType": mt.DOCKER_LAYER_FOREIGN,
            "digest": _d(21),
            "size": 5,
            "urls": ["https://mcr.microsoft.com/v2/x/blobs/" + _d(21)],
        }
    ]
    manifest = _parse(doc)
    assert isinstance(manifest, Manifest)
    assert manifest.artifact_type == "application/vnd.example.sbom"
    assert manifest.subject == Descriptor(mt.OCI_MANIFEST, Digest.parse(_d(20)), 7)
    assert manifest.layers[0].urls == ("https://mcr.microsoft.com/v2/x/blobs/" + _d(21),)


def test_descriptor_to_json_round_trip() -> None:
    index = _parse(DOCKER_LIST_DOC)
    assert isinstance(index, Index)
    assert [d.to_json() for d in index.manifests] == DOCKER_LIST_DOC["manifests"]


def test_parsed_objects_are_immutable_and_hashable() -> None:
    manifest = _parse(OCI_MANIFEST_DOC)
    assert isinstance(manifest, Manifest)
    with pytest.raises(TypeError):
        manifest.annotations["x"] = "y"  # type: ignore[index]
    assert hash(manifest.config) == hash(manifest.config)
    assert len({manifest, manifest}) == 1


# ----------------------------------------------------------------------------------------------------------
# Malformed and ambiguous manifests (BI-manifest-*)


def _with(base: dict[str, Any], **changes: Any) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(json.dumps(base))
    for key, value in changes.items():
        if value is _DROP:
            doc.pop(key, None)
        else:
            doc[key] = value
    return doc


_DROP = object()
_GOOD_DESC = {"mediaType": mt.OCI_CONFIG, "digest": _d(1), "size": 1}

BAD_MANIFESTS: list[tuple[str, dict[str, Any], str | None, str]] = [
    ("BI-manifest-index-plus-layers", _with(OCI_INDEX_DOC, layers=[]), None, "CVE-2021-41190"),
    (
        "BI-manifest-index-plus-config",
        _with(OCI_INDEX_DOC, config=_GOOD_DESC),
        mt.OCI_INDEX,
        "CVE-2021-41190",
    ),
    (
        "BI-manifest-manifest-plus-manifests",
        _with(OCI_MANIFEST_DOC, manifests=[]),
        mt.OCI_MANIFEST,
        "CVE-2021-41190",
    ),
    ("BI-manifest-mediatype-ne-content-type", OCI_INDEX_DOC, mt.OCI_MANIFEST, "does not match Content-Type"),
    ("BI-manifest-mediatype-ne-content-type-docker", DOCKER_V2_DOC, mt.OCI_MANIFEST, "does not match"),
    ("BI-manifest-mediatype-ne-content-type-list", DOCKER_LIST_DOC, mt.OCI_INDEX, "does not match"),
    ("BI-manifest-html-content-type", OCI_MANIFEST_DOC, "text/html", "does not match"),
    (
        "BI-manifest-index-type-with-layers-shape",
        _with(OCI_MANIFEST_DOC, mediaType=mt.OCI_INDEX),
        None,
        "must not have 'layers'",
    ),
    (
        "BI-manifest-manifest-type-with-index-shape",
        _with(OCI_INDEX_DOC, mediaType=mt.OCI_MANIFEST),
        None,
        "must not have 'manifests'",
    ),
    (
        "BI-manifest-schema1",
        {"schemaVersion": 1, "name": "x", "tag": "latest", "fsLayers": []},
        None,
        "Docker schema 1 manifests are not supported",
    ),
    (
        "BI-manifest-schema1-signed-ct",
        {"schemaVersion": 1, "name": "x"},
        mt.DOCKER_MANIFEST_V1_SIGNED,
        "Docker schema 1 manifests are not supported",
    ),
    (
        "BI-manifest-schema1-mediatype",
        {"schemaVersion": 2, "mediaType": mt.DOCKER_MANIFEST_V1},
        None,
        "Docker schema 1 manifests are not supported",
    ),
    (
        "BI-manifest-artifact-manifest",
        {"schemaVersion": 2, "mediaType": mt.OCI_ARTIFACT_MANIFEST, "blobs": []},
        None,
        "artifact manifests",
    ),
    (
        "BI-manifest-unknown-type",
        _with(OCI_MANIFEST_DOC, mediaType="application/vnd.example+json"),
        None,
        "unsupported manifest media type",
    ),
    ("BI-manifest-unknown-shape", {"schemaVersion": 2}, None, "neither mediaType nor Content-Type"),
    (
        "BI-manifest-schema-missing",
        _with(OCI_MANIFEST_DOC, schemaVersion=_DROP),
        None,
        "schemaVersion: missing",
    ),
    ("BI-manifest-schema-3", _with(OCI_MANIFEST_DOC, schemaVersion=3), None, "schemaVersion: must be 2"),
    ("BI-manifest-schema-string", _with(OCI_MANIFEST_DOC, schemaVersion="2"), None, "must be 2"),
    ("BI-manifest-schema-bool", _with(OCI_MANIFEST_DOC, schemaVersion=True), None, "must be 2"),
    ("BI-manifest-schema-float", _with(OCI_MANIFEST_DOC, schemaVersion=2.5), None, "must be 2"),
    (
        "BI-manifest-mediatype-not-string",
        _with(OCI_MANIFEST_DOC, mediaType=7),
        None,
        "mediaType: expected a string",
    ),
    ("BI-manifest-no-config", _with(OCI_MANIFEST_DOC, config=_DROP), None, "config: missing"),
    ("BI-manifest-no-layers", _with(OCI_MANIFEST_DOC, layers=_DROP), None, "layers: missing"),
    (
        "BI-manifest-layers-not-list",
        _with(OCI_MANIFEST_DOC, layers={"a": 1}),
        None,
        "layers: expected an array",
    ),
    ("BI-manifest-layers-null", _with(OCI_MANIFEST_DOC, layers=None), None, "layers: expected an array"),
    (
        "BI-manifest-manifests-not-list",
        _with(OCI_INDEX_DOC, manifests="x"),
        None,
        "manifests: expected an array",
    ),
    (
        "BI-manifest-config-not-object",
        _with(OCI_MANIFEST_DOC, config=[]),
        None,
        "config: expected a descriptor",
    ),
    (
        "BI-manifest-desc-no-mediatype",
        _with(OCI_MANIFEST_DOC, config={"digest": _d(1), "size": 1}),
        None,
        "config.mediaType: expected a string",
    ),
    (
        "BI-manifest-desc-empty-mediatype",
        _with(OCI_MANIFEST_DOC, config={**_GOOD_DESC, "mediaType": ""}),
        None,
        "config.mediaType: empty",
    ),
    (
        "BI-manifest-desc-no-digest",
        _with(OCI_MANIFEST_DOC, config={"mediaType": mt.OCI_CONFIG, "size": 1}),
        None,
        "config.digest: expected a string",
    ),
    (
        "BI-digest-server-traversal",
        _with(OCI_MANIFEST_DOC, config={**_GOOD_DESC, "digest": "sha256:../../x"}),
        None,
        "config.digest: invalid digest",
    ),
    (
        "BI-digest-server-upper",
        _with(OCI_MANIFEST_DOC, layers=[{**_GOOD_DESC, "digest": _d(1).upper()}]),
        None,
        "layers[0].digest",
    ),
    (
        "BI-digest-server-short",
        _with(OCI_INDEX_DOC, manifests=[{**_GOOD_DESC, "digest": _d(1)[:-1]}]),
        None,
        "manifests[0].digest",
    ),
    (
        "BI-digest-server-unknown-algorithm",
        _with(OCI_MANIFEST_DOC, subject={**_GOOD_DESC, "digest": "md5:" + "a" * 32}),
        None,
        "subject.digest",
    ),
    (
        "BI-manifest-size-negative",
        _with(OCI_MANIFEST_DOC, config={**_GOOD_DESC, "size": -1}),
        None,
        "negative size",
    ),
    (
        "BI-manifest-size-bool",
        _with(OCI_MANIFEST_DOC, config={**_GOOD_DESC, "size": True}),
        None,
        "config.size: expected an integer, got a boolean",
    ),
    (
        "BI-manifest-size-float",
        _with(OCI_MANIFEST_DOC, config={**_GOOD_DESC, "size": 1.5}),
        None,
        "config.size: expected an integer",
    ),
    (
        "BI-manifest-size-string",
        _with(OCI_MANIFEST_DOC, config={**_GOOD_DESC, "size": "1"}),
        None,
        "config.size: expected an integer",
    ),
    (
        "BI-manifest-size-missing",
        _with(OCI_MANIFEST_DOC, config={"mediaType": mt.OCI_CONFIG, "digest": _d(1)}),
        None,
        "config.size",
    ),
    (
        "BI-manifest-annotation-not-string",
        _with(OCI_MANIFEST_DOC, annotations={"a": 1}),
        None,
        'annotation "a" must be a string',
    ),
    (
        "BI-manifest-annotations-not-object",
        _with(OCI_MANIFEST_DOC, annotations=["a"]),
        None,
        "annotations: expected an object",
    ),
    (
        "BI-manifest-platform-not-object",
        _with(OCI_INDEX_DOC, manifests=[{**_GOOD_DESC, "platform": "linux"}]),
        None,
        "manifests[0].platform: expected an object",
    ),
    (
        "BI-manifest-platform-no-os",
        _with(OCI_INDEX_DOC, manifests=[{**_GOOD_DESC, "platform": {"architecture": "amd64"}}]),
        None,
        "manifests[0].platform.os",
    ),
    (
        "BI-manifest-urls-not-strings",
        _with(OCI_MANIFEST_DOC, layers=[{**_GOOD_DESC, "urls": [1]}]),
        None,
        "layers[0].urls[0]",
    ),
    ("BI-manifest-subject-bad", _with(OCI_MANIFEST_DOC, subject="x"), None, "subject: expected a descriptor"),
]


@pytest.mark.parametrize(
    ("doc", "content_type", "fragment"), [c[1:] for c in BAD_MANIFESTS], ids=[c[0] for c in BAD_MANIFESTS]
)
def test_bad_manifests(doc: dict[str, Any], content_type: str | None, fragment: str) -> None:
    raw = _raw(doc)
    with pytest.raises(InvalidManifest) as info:
        parse_manifest(raw, content_type)
    message = str(info.value)
    assert fragment in message
    assert message.startswith(f"manifest sha256:{hashlib.sha256(raw).hexdigest()}")


def test_bad_digest_is_invalid_manifest_not_invalid_reference() -> None:
    """BI-digest-server: a server's bad digest is a registry error (exit 6), never a usage error (exit 2)."""
    doc = _with(OCI_MANIFEST_DOC, config={**_GOOD_DESC, "digest": "sha256:../../x"})
    with pytest.raises(RegistryError) as info:
        parse_manifest(_raw(doc), None)
    assert not isinstance(info.value, InvalidReference)


def test_generic_content_types_are_ignored() -> None:
    for content_type in (
        "application/json",
        "application/octet-stream",
        "text/plain; charset=utf-8",
        "",
        None,
        "Application/JSON",
    ):
        assert _parse(OCI_INDEX_DOC, content_type).media_type == mt.OCI_INDEX


def test_content_type_parameters_and_case_ignored() -> None:
    assert _parse(OCI_INDEX_DOC, "Application/VND.oci.image.index.v1+json ; charset=utf-8").media_type == (
        mt.OCI_INDEX
    )


def test_manifest_size_limit() -> None:
    raw = b'{"schemaVersion": 2' + b" " * (8 * 1024 * 1024) + b"}"
    with pytest.raises(InvalidManifest, match="larger than"):
        parse_manifest(raw, None)


def test_server_text_in_messages_is_escaped() -> None:
    """BI-injection: a hostile media type cannot put raw control characters into a message."""
    doc = _with(OCI_MANIFEST_DOC, mediaType="application/x\x1b[2J\r\nforged: line")
    with pytest.raises(InvalidManifest) as info:
        _parse(doc)
    assert "\x1b" not in str(info.value)
    assert "\n" not in str(info.value)
    assert "\\x1b" in str(info.value)


# ----------------------------------------------------------------------------------------------------------
# Strict JSON (BI-json-*)

BAD_JSON = [
    ("BI-json-duplicate-key", b'{"a": 1, "a": 2}', "duplicate key"),
    ("BI-json-duplicate-key-nested", b'{"x": {"mediaType": "a", "mediaType": "b"}}', "duplicate key"),
    ("BI-json-nan", b'{"size": NaN}', "NaN is not valid JSON"),
    ("BI-json-infinity", b'{"size": Infinity}', "Infinity"),
    ("BI-json-neg-infinity", b'{"size": -Infinity}', "-Infinity"),
    ("BI-json-float-overflow", b'{"size": 1e999}', "out of range"),
    ("BI-json-huge-int", b'{"size": 123456789012345678901}', "more than 20 digits"),
    ("BI-json-huge-int-negative", b'{"size": -123456789012345678901}', "more than 20 digits"),
    ("BI-json-giant-int", b'{"size": ' + b"9" * 5000 + b"}", "more than 20 digits"),
    ("BI-json-deep-nesting", b'{"a":' + b"[" * 100 + b"]" * 100 + b"}", "nested deeper than 64"),
    ("BI-json-very-deep-nesting", b"[" * 100_000 + b"]" * 100_000, "nested deeper than 64"),
    ("BI-json-very-deep-unclosed", b'{"a":' + b"{" * 200_000, "nested deeper than 64"),
    ("BI-json-invalid-utf8", b'{"a": "\xff\xfe"}', "not valid UTF-8"),
    ("BI-json-overlong-utf8", b'{"a": "\xc0\xaf"}', "not valid UTF-8"),
    ("BI-json-utf16", '{"a": 1}'.encode("utf-16"), "not valid UTF-8"),
    ("BI-json-bom", b'\xef\xbb\xbf{"a": 1}', "byte order mark"),
    ("BI-json-lone-surrogate", b'{"a": "\\ud800"}', "unpaired surrogate"),
    ("BI-json-lone-surrogate-key", b'{"\\udfff": 1}', "unpaired surrogate"),
    ("BI-json-array-top", b"[1, 2]", "got an array"),
    ("BI-json-string-top", b'"x"', "got a string"),
    ("BI-json-null-top", b"null", "got null"),
    ("BI-json-number-top", b"2", "got a number"),
    ("BI-json-empty", b"", "not valid JSON"),
    ("BI-json-html", b"<html><body>Proxy login</body></html>", "not valid JSON"),
    ("BI-json-trailing-data", b'{"a": 1} {"b": 2}', "not valid JSON"),
    ("BI-json-trailing-comma", b'{"a": 1,}', "not valid JSON"),
    ("BI-json-single-quotes", b"{'a': 1}", "not valid JSON"),
    ("BI-json-unterminated", b'{"a": "' + b'\\"' * 50_000, "not valid JSON"),
]


@pytest.mark.parametrize(("raw", "fragment"), [c[1:] for c in BAD_JSON], ids=[c[0] for c in BAD_JSON])
def test_loads_strict_rejects(raw: bytes, fragment: str) -> None:
    with pytest.raises(InvalidManifest) as info:
        loads_strict(raw)
    assert fragment in str(info.value)


@pytest.mark.parametrize(("raw", "fragment"), [c[1:] for c in BAD_JSON], ids=[c[0] for c in BAD_JSON])
def test_parse_manifest_rejects_bad_json(raw: bytes, fragment: str) -> None:
    with pytest.raises(InvalidManifest, match=r"^manifest sha256:"):
        parse_manifest(raw, mt.OCI_MANIFEST)


def test_loads_strict_accepts() -> None:
    nested: object = {}
    for _ in range(JSON_MAX_DEPTH - 1):
        nested = {"a": nested}
    assert loads_strict(json.dumps(nested).encode()) == nested
    assert loads_strict(b'{"n": 12345678901234567890, "f": -1.5e10, "s": "\\u00e9\\ud83d\\ude00"}') == {
        "n": 12345678901234567890,
        "f": -1.5e10,
        "s": "é😀",
    }
    # Brackets inside strings do not count as nesting.
    assert loads_strict(b'{"s": "' + b"[" * 500 + b'\\"{{{"}') == {"s": "[" * 500 + '"{{{'}
    assert loads_strict(b'{"tags": null}') == {"tags": None}


def test_loads_strict_error_class_and_label() -> None:
    with pytest.raises(ProtocolViolation, match=r"^token response: invalid JSON: duplicate key"):
        loads_strict(b'{"token": "a", "token": "b"}', what="token response", error=ProtocolViolation)
    with pytest.raises(InvalidManifest, match="expected bytes"):
        loads_strict("{}")  # type: ignore[arg-type]


# ----------------------------------------------------------------------------------------------------------
# Platforms


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("linux/amd64", Platform("linux", "amd64")),
        ("linux/arm64/v8", Platform("linux", "arm64", "v8")),
        ("linux/arm/v7", Platform("linux", "arm", "v7")),
        ("Linux/AMD64", Platform("linux", "amd64")),
        ("windows/amd64", Platform("windows", "amd64")),
    ],
)
def test_parse_platform(text: str, expected: Platform) -> None:
    assert parse_platform(text) == expected
    assert str(parse_platform(text)) == text.lower()


@pytest.mark.parametrize(
    "text",
    ["", "linux", "linux/", "/amd64", "linux/arm/v7/x", "linux/amd 64", "linux/amd64\n", "li:nux/amd64", 7],
)
def test_parse_platform_rejects(text: str) -> None:
    with pytest.raises(InvalidReference):
        parse_platform(text)


P = Platform

MATCHES = [
    # want, have, matches
    (P("linux", "amd64"), P("linux", "amd64"), True),
    (P("linux", "amd64"), P("linux", "x86_64"), True),
    (P("linux", "x86_64"), P("linux", "amd64"), True),
    # #13 item 1: a request without a variant takes only the baseline (containerd's strict matcher)
    (P("linux", "amd64"), P("linux", "amd64", "v3"), False),
    (P("linux", "amd64", "v1"), P("linux", "amd64"), True),
    (P("linux", "amd64"), P("linux", "arm64"), False),
    (P("linux", "amd64"), P("windows", "amd64"), False),
    (P("linux", "arm64"), P("linux", "arm64", "v8"), True),
    (P("linux", "arm64", "v8"), P("linux", "arm64"), True),
    (P("linux", "arm64", "v8"), P("linux", "aarch64"), True),
    (P("linux", "aarch64"), P("linux", "arm64", "v8"), True),
    (P("linux", "arm64", "8"), P("linux", "arm64", "v8"), True),
    (P("linux", "arm64", "v8"), P("linux", "arm64", "v9"), False),
    (P("linux", "arm", "v7"), P("linux", "arm", "v7"), True),
    (P("linux", "arm", "v7"), P("linux", "arm", "v6"), False),
    (P("linux", "arm", "v7"), P("linux", "arm"), True),
    (P("linux", "arm", "v7"), P("linux", "armhf"), True),
    (P("linux", "arm", "v6"), P("linux", "armel"), True),
    (P("linux", "arm"), P("linux", "arm", "v6"), False),
    (P("linux", "arm"), P("linux", "arm", "v7"), True),
    (P("linux", "386"), P("linux", "i386"), True),
    (P("windows", "amd64"), P("windows", "amd64", None, "6.3.9600.20778"), True),
    (P("windows", "amd64", None, "6.2.9200.16384"), P("windows", "amd64", None, "6.3.9600.20778"), False),
    (P("darwin", "arm64"), P("macos", "arm64"), True),
]


@pytest.mark.parametrize(("want", "have", "expected"), MATCHES, ids=[f"{w}-vs-{h}" for w, h, _ in MATCHES])
def test_platform_matches(want: Platform, have: Platform, expected: bool) -> None:
    assert platform_matches(want, have) is expected


def test_select_platform() -> None:
    index = _parse(DOCKER_LIST_DOC)
    assert isinstance(index, Index)
    assert select_platform(index, parse_platform("linux/amd64")).digest == Digest.parse(_d(9))
    assert select_platform(index, parse_platform("linux/arm/v7")).digest == Digest.parse(_d(11))
    # #13 item 1: without a variant "arm" means arm/v7 (the third entry), not the first arm entry (v6).
    assert select_platform(index, parse_platform("linux/arm")).digest == Digest.parse(_d(11))
    assert select_platform(index, parse_platform("windows/amd64")).digest == Digest.parse(_d(13))
    oci = _parse(OCI_INDEX_DOC)
    assert isinstance(oci, Index)
    assert select_platform(oci, parse_platform("linux/arm64")).digest == Digest.parse(_d(7))
    assert select_platform(oci, Platform("linux", "aarch64")).digest == Digest.parse(_d(7))


def test_select_platform_not_found_lists_available() -> None:
    oci = _parse(OCI_INDEX_DOC)
    assert isinstance(oci, Index)
    with pytest.raises(NotFound) as info:
        select_platform(oci, parse_platform("linux/s390x"))
    assert str(info.value) == (
        f"no linux/s390x entry in index {oci.digest}; available: linux/amd64, linux/arm64/v8"
    )


def test_select_platform_empty_index() -> None:
    index = _parse({"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": []})
    assert isinstance(index, Index)
    with pytest.raises(NotFound, match=r"available: none$"):
        select_platform(index, parse_platform("linux/amd64"))


# ----------------------------------------------------------------------------------------------------------
# Property tests: parse_manifest and loads_strict raise only InvalidManifest

_json_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False),
    st.text(max_size=20),
    st.sampled_from([_d(1), "sha256:../../x", mt.OCI_MANIFEST, mt.OCI_INDEX]),
)
_json_value = st.recursive(
    _json_leaf,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)
_KEYS = [
    "schemaVersion",
    "mediaType",
    "config",
    "layers",
    "manifests",
    "annotations",
    "subject",
    "size",
    "digest",
    "platform",
    "os",
    "architecture",
    "urls",
    "artifactType",
]
_doc_like = st.recursive(
    _json_leaf,
    lambda children: st.one_of(
        st.lists(children, max_size=3), st.dictionaries(st.sampled_from(_KEYS), children, max_size=6)
    ),
    max_leaves=25,
)
_content_types = st.one_of(
    st.none(),
    st.sampled_from(sorted(mt.MANIFEST_TYPES | mt.SCHEMA1_TYPES)),
    st.sampled_from(["application/json", "text/html", "", ";"]),
    st.text(max_size=30),
)


def _mutated_documents() -> st.SearchStrategy[bytes]:
    bases = [OCI_MANIFEST_DOC, DOCKER_V2_DOC, OCI_INDEX_DOC, DOCKER_LIST_DOC]
    return st.builds(
        lambda base, key, value: _raw({**base, key: value}),
        st.sampled_from(bases),
        st.sampled_from(_KEYS),
        _doc_like,
    )


_raw_inputs = st.one_of(
    st.binary(max_size=300),
    _json_value.map(lambda v: json.dumps(v).encode()),
    _doc_like.map(lambda v: json.dumps(v).encode()),
    _mutated_documents(),
    st.text(alphabet='{}[]":,0123456789.eE-+ \\uabnlrtf', max_size=200).map(str.encode),
)


@FAST
@given(_raw_inputs, _content_types)
def test_property_parse_manifest_only_raises_invalid_manifest(raw: bytes, content_type: str | None) -> None:
    try:
        result = parse_manifest(raw, content_type)
    except InvalidManifest as error:
        message = str(error)
        assert "\n" not in message
        assert "\x1b" not in message
        return
    assert result.raw == raw
    assert result.digest.matches(raw)
    assert isinstance(result, (Manifest, Index))


@FAST
@given(_raw_inputs)
def test_property_loads_strict_only_raises_invalid_manifest(raw: bytes) -> None:
    try:
        doc = loads_strict(raw)
    except InvalidManifest:
        return
    assert isinstance(doc, dict)
    assert doc == json.loads(raw)


_small_json = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(10**19), max_value=10**19),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(max_size=20),
    ),
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


@FAST
@given(_small_json)
def test_property_loads_strict_agrees_with_json(value: object) -> None:
    """Every document json.dumps writes within the limits comes back unchanged."""
    raw = json.dumps({"v": value}).encode()
    assert loads_strict(raw) == {"v": value}
