"""``.gitlab-ci.yml`` (and included files): ``image`` and ``services`` at the top level, in ``default`` and in
every job, in the string and the ``name:`` form; variables from the file's global and job ``variables:``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ocireg.operations.files.core import Document, get, is_map, is_seq, items, scalar_text
from ocireg.operations.files.model import Finding, Lookup
from ocireg.operations.files.variables import chain, from_mapping

__all__ = ["claims", "find"]

_RESERVED = frozenset(
    {
        "stages",
        "variables",
        "include",
        "workflow",
        "cache",
        "before_script",
        "after_script",
        "types",
        "spec",
    }
)


def claims(doc: Document) -> bool:
    """A YAML file not named ``.gitlab-ci.yml`` that reads like one (stages, include, workflow, or jobs)."""
    names = {name for name, _ in items(doc.root)}
    if names & {"stages", "include", "workflow"}:
        return True
    for _, value in items(doc.root):
        if is_map(value) and {n for n, _ in items(value)} & {"script", "trigger", "extends", "stage"}:
            return True
    return False


def find(doc: Document) -> Iterator[Finding]:
    root = doc.root
    global_vars = _variables(get(root, "variables"))
    yield from _job(doc, root, "", chain(doc.lookup, from_mapping(global_vars)))
    for name, job in items(root):
        if name in _RESERVED or name in ("image", "services") or not is_map(job):
            continue
        job_vars = _variables(get(job, "variables"))
        lookup = chain(doc.lookup, from_mapping(job_vars), from_mapping(global_vars))
        yield from _job(doc, job, f"{name}.", lookup)


def _job(doc: Document, job: Any, prefix: str, lookup: Lookup) -> Iterator[Finding]:
    image = get(job, "image")
    if image is not None:
        node = get(image, "name") if is_map(image) else image
        label = f"{prefix}image.name" if is_map(image) else f"{prefix}image"
        if node is not None:
            found = doc.finding(node, "gitlab-ci", label, lookup)
            if found is not None:
                yield found
    services = get(job, "services")
    if services is not None and is_seq(services):
        for i, service in enumerate(services.value):
            node = get(service, "name") if is_map(service) else service
            label = f"{prefix}services[{i}]" + (".name" if is_map(service) else "")
            if node is not None:
                found = doc.finding(node, "gitlab-ci", label, lookup)
                if found is not None:
                    yield found


def _variables(node: Any) -> dict[str, str]:
    values: dict[str, str] = {}
    for name, node_value in items(node):
        value = get(node_value, "value") if is_map(node_value) else node_value
        text = scalar_text(value) if value is not None else None
        if text is not None:
            values[name] = text
    return values
