"""kustomize's ``kustomization.yaml``: each ``images:`` entry's effective image.

kustomize's image transformer puts ``newName`` (else ``name``) with ``:newTag``, or with ``@digest`` when a
digest is given (the digest wins over the tag). ``newTag`` and ``digest`` together are checked as
``name:tag@digest``: the digest is what gets deployed, the tag says what it should still be. ``pin`` writes into
``digest:``, kustomize's own field for it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ocireg.operations.files.core import Document, get, is_map, is_scalar, is_seq, scalar_text
from ocireg.operations.files.model import Finding, Target

__all__ = ["claims", "find"]

_FILE_NAMES = ("kustomization.yaml", "kustomization.yml", "Kustomization")


def claims(doc: Document) -> bool:
    if Path(doc.path).name in _FILE_NAMES:
        return True
    kind, api = get(doc.root, "kind"), get(doc.root, "apiVersion")
    api_text = (scalar_text(api) or "") if api is not None else "kustomize.config.k8s.io/"
    # Only kustomize's own API group: Flux also has a "Kustomization" kind (no top-level images:), and an
    # operator's custom resource called "Component" may embed pod templates the kubernetes walker must see.
    return (
        kind is not None
        and scalar_text(kind) in ("Kustomization", "Component")
        and api_text.startswith("kustomize.config.k8s.io/")
    )


def find(doc: Document) -> Iterator[Finding]:
    images = get(doc.root, "images")
    if images is None or not is_seq(images):
        return
    for i, entry in enumerate(images.value):
        if is_map(entry) and id(entry) not in doc.seen:
            doc.seen.add(id(entry))
            found = _image(doc, entry, f"images[{i}]")
            if found is not None:
                yield found


def _image(doc: Document, entry: Any, here: str) -> Finding | None:
    fields = {key: get(entry, key) for key in ("name", "newName", "newTag", "digest")}
    texts = {key: scalar_text(node) if node is not None else None for key, node in fields.items()}
    anchor = fields["newName"] or fields["name"]
    if anchor is None:
        return None
    field_name = f"{here}.{'newName' if fields['newName'] is not None else 'name'}"
    name = texts["newName"] or texts["name"] or ""
    tag, digest = texts["newTag"], texts["digest"]
    raw = name + (f":{tag}" if tag else "") + (f"@{digest}" if digest else "")
    if not name:
        return doc.unresolved(anchor, "kustomize", field_name, raw, "the image name is empty")
    if not tag and not digest:
        reason = "no newTag or digest: the tag comes from the resources; check those files instead"
        return doc.unresolved(anchor, "kustomize", field_name, raw, reason)
    return doc.assembled(anchor, "kustomize", field_name, raw, _pin_target(doc, entry, fields["digest"]))


def _pin_target(doc: Document, entry: Any, digest_node: Any) -> tuple[Target | None, str | None]:
    if digest_node is not None and is_scalar(digest_node):
        return doc.value_target(entry, digest_node, "digest")
    return None, "no digest: field to write into (add 'digest:' with no value to this image entry)"
