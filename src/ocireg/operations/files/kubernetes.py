"""Kubernetes manifests (documents with ``apiVersion`` and ``kind``): every ``containers``, ``initContainers`` and
``ephemeralContainers`` list anywhere in the document — Pod, Deployment, StatefulSet, DaemonSet, ReplicaSet, Job,
CronJob, ``List`` items and any custom resource that embeds a pod template."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ocireg.operations.files.core import Document, get, is_map, is_seq, items, scalar_text
from ocireg.operations.files.model import Finding

__all__ = ["claims", "find"]

_CONTAINER_LISTS = ("containers", "initContainers", "ephemeralContainers")


def claims(doc: Document) -> bool:
    names = {name for name, _ in items(doc.root)}
    return "apiVersion" in names and "kind" in names


def find(doc: Document) -> Iterator[Finding]:
    yield from _pod_specs(doc, doc.root, "", _label(doc.root), 0)


def _label(node: Any) -> str:
    """``Kind/name`` of a resource (``Kind`` without a name, ``?`` without a kind)."""
    kind = scalar_text(get(node, "kind"))
    meta = get(node, "metadata")
    name = scalar_text(get(meta, "name")) if meta is not None else None
    return f"{kind or '?'}/{name}" if name else kind or "?"


def _containers(doc: Document, value: Any, here: str, label: str) -> Iterator[Finding]:
    for i, container in enumerate(value.value):
        image = get(container, "image")
        if image is not None:
            cname = scalar_text(get(container, "name"))
            found = doc.finding(image, "kubernetes", f"{label} {here}[{cname if cname else i}].image")
            if found is not None:
                yield found


def _pod_specs(doc: Document, node: Any, path: str, label: str, depth: int) -> Iterator[Finding]:
    if not doc.enter(node, depth):
        return
    if is_map(node):
        for key, value in items(node):
            here = f"{path}.{key}" if path else key
            if key in _CONTAINER_LISTS and is_seq(value):
                yield from _containers(doc, value, here, label)
            else:
                yield from _pod_specs(doc, value, here, label, depth + 1)
    elif is_seq(node):
        for i, item in enumerate(node.value):
            sub_label = label
            if label.startswith("List") and is_map(item) and scalar_text(get(item, "kind")):
                sub_label = _label(item)
            yield from _pod_specs(doc, item, f"{path}[{i}]", sub_label, depth + 1)
