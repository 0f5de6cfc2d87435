"""docker-compose and swarm stack files: ``services.<name>.image``; variables also from the ``.env`` beside it."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator

from ocireg.operations.files.core import Document, get, is_map, is_null, items
from ocireg.operations.files.model import Finding
from ocireg.operations.files.variables import NAME, chain, from_mapping, unquote

__all__ = ["claims", "find"]


def claims(doc: Document) -> bool:
    """A top-level ``services:`` mapping whose entries are all mappings (or empty)."""
    services = get(doc.root, "services")
    return is_map(services) and all(is_map(service) or is_null(service) for _, service in items(services))


def find(doc: Document) -> Iterator[Finding]:
    lookup = chain(doc.lookup, from_mapping(dotenv(doc.path)))
    for name, service in items(get(doc.root, "services")):
        image = get(service, "image")
        if image is not None:
            found = doc.finding(image, "compose", f"services.{name}.image", lookup)
            if found is not None:
                yield found


def dotenv(path: str) -> dict[str, str]:
    """The ``.env`` next to a compose file (compose reads it for variable substitution)."""
    env_path = os.path.join(os.path.dirname(path) or ".", ".env")
    values: dict[str, str] = {}
    try:
        with open(env_path, encoding="utf-8") as handle:
            content = handle.read(1024 * 1024)
    except (OSError, UnicodeDecodeError):
        return values
    for raw_line in content.splitlines():
        line = raw_line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        name, _, value = line.partition("=")
        name = name.removeprefix("export ").strip()
        if re.fullmatch(NAME, name):
            values[name] = unquote(value.strip())
    return values
