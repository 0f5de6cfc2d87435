"""Helm values files: any ``image:`` mapping with ``repository`` and ``tag`` and/or ``digest`` (and an optional
``registry``), as most charts lay them out; ``pin`` writes into ``digest:`` when there is one, else ``tag:``.

Helm is the fallback kind: a YAML document no other kind claims is read as values.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ocireg.operations.files.core import Document, get, is_map, is_scalar, is_seq, items, scalar_text
from ocireg.operations.files.model import Finding, Target

__all__ = ["claims", "find"]


def claims(doc: Document) -> bool:
    return True


def find(doc: Document) -> Iterator[Finding]:
    yield from _walk(doc, doc.root, "", 0)


def _walk(doc: Document, node: Any, path: str, depth: int) -> Iterator[Finding]:
    if not doc.enter(node, depth):
        return
    if is_map(node):
        for key, value in items(node):
            here = f"{path}.{key}" if path else key
            if key == "image" and is_map(value) and get(value, "repository") is not None:
                found = _image(doc, value, here)
                if found is not None:
                    yield found
            else:
                yield from _walk(doc, value, here, depth + 1)
    elif is_seq(node):
        for i, item in enumerate(node.value):
            yield from _walk(doc, item, f"{path}[{i}]", depth + 1)


def _text(image: Any, key: str) -> str | None:
    node = get(image, key)
    return scalar_text(node) if node is not None else None


def _image(doc: Document, image: Any, here: str) -> Finding | None:
    repo_node = get(image, "repository")
    if id(image) in doc.seen or repo_node is None:
        return None
    doc.seen.add(id(image))
    repository, registry = scalar_text(repo_node), _text(image, "registry")
    tag, digest = _text(image, "tag"), _text(image, "digest")
    raw = (f"{registry}/" if registry else "") + (repository or "")
    if tag:
        raw += f":{tag}"
    if digest:
        raw += f"@{digest}" if "@" not in (tag or "") else ""
    field_name = f"{here}.repository"
    if not repository:
        return doc.unresolved(repo_node, "helm", field_name, raw, "image.repository is empty")
    if not tag and not digest:
        reason = "image.tag is empty (the chart's appVersion is used); set it to check this image"
        return doc.unresolved(repo_node, "helm", field_name, raw, reason)
    return doc.assembled(repo_node, "helm", field_name, raw, _pin_target(doc, image))


def _pin_target(doc: Document, image: Any) -> tuple[Target | None, str | None]:
    digest_node, tag_node = get(image, "digest"), get(image, "tag")
    if digest_node is not None and is_scalar(digest_node):
        return doc.value_target(image, digest_node, "digest")
    if tag_node is not None and is_scalar(tag_node):
        return doc.value_target(image, tag_node, "tag")
    return None, "no image.tag or image.digest value to write the digest into"
