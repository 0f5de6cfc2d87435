"""Issue #8: the docs stay true — Python examples compile and import what exists, every command is documented,
and the GitLab CI template calls only commands that exist."""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import pytest

from ocireg.cli import COMMAND_MODULES
from ocireg.cli.completion import command_tree
from ocireg.cli.parser import build_parser

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", ROOT / "docs" / "api.md"]
TEMPLATE = ROOT / "templates" / "ocireg.gitlab-ci.yml"


def _python_blocks() -> list[tuple[str, int, str]]:
    blocks = []
    for path in DOCS:
        text = path.read_text()
        for match in re.finditer(r"```python\n(.*?)```", text, re.S):
            line = text.count("\n", 0, match.start()) + 2
            blocks.append((path.name, line, match.group(1)))
    return blocks


@pytest.mark.parametrize(("doc", "line", "code"), _python_blocks(), ids=lambda v: str(v)[:20])
def test_python_examples_compile_and_import_real_names(doc: str, line: int, code: str) -> None:
    tree = ast.parse(code, filename=f"{doc}:{line}")
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("ocireg"):
            module = importlib.import_module(node.module)
            for alias in node.names:
                assert hasattr(module, alias.name), f"{doc}:{line}: {node.module} has no {alias.name}"


def test_api_page_covers_the_client() -> None:
    text = (ROOT / "docs" / "api.md").read_text()
    for name in (
        "RegistryClient",
        "head_manifest",
        "get_manifest",
        "digest",
        "tags",
        "check_exists",
        "wait_for",
    ):
        assert name in text


def _commands() -> list[str]:
    tree = command_tree(build_parser(COMMAND_MODULES))
    return [command.key for command in tree.walk() if command.path]


def test_readme_mentions_every_command() -> None:
    readme = (ROOT / "README.md").read_text()
    missing = [key for key in _commands() if f"ocireg {key}" not in readme]
    assert missing == [], f"README.md never shows: {', '.join('ocireg ' + m for m in missing)}"


def test_every_command_help_has_an_example() -> None:
    parser = build_parser(COMMAND_MODULES)
    for key in _commands():
        sub = parser
        for word in key.split():
            action = next(a for a in sub._actions if a.__class__.__name__ == "_SubParsersAction")
            sub = action.choices[word]  # type: ignore[index]
        assert f"ocireg {key}" in (sub.epilog or ""), f"'ocireg {key} --help' shows no example"


def test_template_calls_only_existing_commands() -> None:
    used = set(re.findall(r"^\s*(?:- )?ocireg ([a-z]+)\b", TEMPLATE.read_text(), re.M))
    known = set(command_tree(build_parser(COMMAND_MODULES)).subcommands)
    assert {"exists", "digest", "wait", "pin"} <= used
    assert used <= known, f"unknown commands in the template: {sorted(used - known)}"


# A test named in a document: tests/unit/test_x.py, or with ::test_name (``*`` and ``{a,b}`` as a shell reads them).
_TEST_CITATION = re.compile(r"((?:tests/)?(?:unit|integration)/test_\w+\.py)(?:::(\w[\w*{},]*))?")
_CITING_DOCS = [*sorted((ROOT / "docs").glob("*.md")), ROOT / "README.md", ROOT / "SECURITY.md"]


def _expand(name: str) -> list[str]:
    match = re.search(r"\{([^{}]*)\}", name)
    if not match:
        return [name]
    head, tail = name[: match.start()], name[match.end() :]
    return [n for part in match.group(1).split(",") for n in _expand(head + part + tail)]


def _cited_tests() -> list[tuple[str, str, str]]:
    cited = []
    for doc in _CITING_DOCS:
        for match in _TEST_CITATION.finditer(doc.read_text()):
            path = match.group(1) if match.group(1).startswith("tests/") else f"tests/{match.group(1)}"
            cited.append((doc.name, path, match.group(2) or ""))
    return sorted(set(cited))


@pytest.mark.parametrize(("doc", "path", "name"), _cited_tests())
def test_every_test_a_document_names_exists(doc: str, path: str, name: str) -> None:
    """#15: docs/testing.md, README and SECURITY.md name test modules and tests; a rename must follow there."""
    source = ROOT / path
    assert source.is_file(), f"{doc} names {path}, which does not exist"
    text = source.read_text()
    for each in _expand(name) if name else []:
        pattern = re.escape(each).replace(r"\*", r"\w*")
        assert re.search(rf"def {pattern}\(", text), f"{doc} names {path}::{each}, which does not exist"
