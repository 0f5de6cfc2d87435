"""Scanning: which files to read (by name, in directories), reading them safely, and each document to its kind."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from ocireg.errors import UsageError
from ocireg.operations.files import compose, dockerfile, gitlab_ci, helm, kubernetes, kustomize
from ocireg.operations.files.core import Document, Lines, ParseProblem, compose_documents, is_map
from ocireg.operations.files.model import MAX_FILE_SIZE, FileProblem, Finding, Lookup, Scan, VariablePolicy
from ocireg.operations.files.variables import from_mapping
from ocireg.text import escape

__all__ = ["discover", "file_kind", "find_in_text", "read_text", "scan_paths"]

_SKIP_DIRS = frozenset(
    {
        ".git",
        ".hg",
        ".svn",
        "node_modules",
        ".venv",
        "venv",
        "__pycache__",
        ".tox",
        ".mypy_cache",
        ".terraform",
    }
)


def file_kind(path: str | Path) -> str | None:
    """``dockerfile``, ``gitlab-ci``, ``yaml`` or ``None`` (not a file ocireg looks into) by name alone."""
    name = Path(path).name
    lower = name.lower()
    if (
        lower in ("dockerfile", "containerfile")
        or lower.startswith(("dockerfile.", "containerfile."))
        or lower.endswith((".dockerfile", ".containerfile"))
    ):
        return "dockerfile"
    if lower.endswith(("gitlab-ci.yml", "gitlab-ci.yaml")):
        return "gitlab-ci"
    if lower.endswith((".yml", ".yaml")) or name == "Kustomization":  # kustomize's extension-less file name
        return "yaml"
    return None


def discover(paths: Sequence[str]) -> tuple[list[str], list[FileProblem]]:
    """Expand directories (recursively, no symlinked directories, no VCS/tool directories) into files.

    A file named explicitly is always taken (as YAML unless its name says Dockerfile); in directories only
    files whose name :func:`file_kind` knows. Order: as given, directory contents sorted.
    """
    files: list[str] = []
    problems: list[FileProblem] = []
    seen: set[str] = set()

    def add(path: str) -> None:
        key = os.path.realpath(path)
        if key not in seen:
            seen.add(key)
            files.append(path)

    for given in paths:
        if os.path.isdir(given):
            for root, dirs, names in os.walk(given, followlinks=False):
                dirs[:] = sorted(d for d in dirs if d not in _SKIP_DIRS)
                for name in sorted(names):
                    full = os.path.join(root, name)
                    if file_kind(full) is not None and os.path.isfile(full):
                        add(full)
        elif os.path.isfile(given):
            add(given)
        elif os.path.exists(given):
            problems.append(FileProblem(given, None, "not a regular file or directory"))
        else:
            problems.append(FileProblem(given, None, "no such file or directory"))
    return files, problems


def read_text(path: str) -> str:
    """Read a file as UTF-8 exactly (no newline translation), refusing huge or non-UTF-8 files."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_FILE_SIZE + 1)
    except OSError as exc:
        raise UsageError(f"{escape(path)}: cannot read ({exc.strerror})") from exc
    if len(data) > MAX_FILE_SIZE:
        raise UsageError(f"{escape(path)}: larger than {MAX_FILE_SIZE // (1024 * 1024)} MiB; not scanned")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UsageError(f"{escape(path)}: not UTF-8 text (byte {exc.start})") from exc


def scan_paths(
    paths: Sequence[str],
    env: Mapping[str, str],
    *,
    strict_files: bool = True,
    policy: VariablePolicy | None = None,
) -> Scan:
    """Find every image reference under ``paths``.

    Files that cannot be read or parsed become :class:`FileProblem`; with ``strict_files`` False, problems in
    files found by walking a directory are kept apart by the caller as warnings (see ``Scan.problems``).
    ``policy`` guards variable expansion (default: secret names refused, see :class:`VariablePolicy`).
    """
    policy = policy if policy is not None else VariablePolicy()
    scan = Scan(policy=policy)
    files, problems = discover(paths)
    scan.problems.extend(problems)
    for path in files:
        try:
            text = read_text(path)
        except UsageError as exc:
            scan.problems.append(FileProblem(path, None, str(exc)))
            continue
        scan.files.append(path)
        scan.texts[path] = text
        try:
            scan.findings.extend(find_in_text(path, text, env, policy=policy))
        except ParseProblem as exc:
            scan.problems.append(FileProblem(path, exc.line, exc.message))
    return scan


def find_in_text(
    path: str,
    text: str,
    env: Mapping[str, str],
    *,
    kind: str | None = None,
    policy: VariablePolicy | None = None,
) -> list[Finding]:
    """All image references in ``text`` (the content of ``path``), in file order.

    ``kind`` forces ``dockerfile``, ``gitlab-ci`` or ``yaml``; by default it comes from the file name.
    ``policy`` guards variable expansion (default: secret names refused, see :class:`VariablePolicy`).
    Raises ``ParseProblem`` (internal) for YAML that does not parse.
    """
    kind = kind or file_kind(path) or "yaml"
    lookup = from_mapping(env)
    policy = policy if policy is not None else VariablePolicy()
    if kind == "dockerfile":
        findings = list(dockerfile.find(Document(path, text, Lines(text), lookup, policy)))
    else:
        findings = list(_yaml(path, text, lookup, policy, gitlab=kind == "gitlab-ci"))
    findings.sort(key=lambda f: (f.line, f.column))
    return findings


# The YAML kinds in the order they are tried; each claims a document or passes it on. Helm values (any
# image: mapping) is the fallback. A file named .gitlab-ci.yml is always read as GitLab CI.
_YAML_KINDS = (kustomize, kubernetes, compose, gitlab_ci, helm)


def _yaml(path: str, text: str, lookup: Lookup, policy: VariablePolicy, *, gitlab: bool) -> Iterator[Finding]:
    lines = Lines(text)
    for root in compose_documents(text):
        if root is None or not is_map(root):
            continue
        doc = Document(path, text, lines, lookup, policy, root)
        reader = gitlab_ci if gitlab else next(kind for kind in _YAML_KINDS if kind.claims(doc))
        yield from reader.find(doc)
