"""#22 item 7: a hint is read at a glance — at most three lines of at most 112 characters (120 columns with the
CLI's ``  hint: `` before each line); the long lists of causes belong to ``ocireg auth explain``. Checked over the
source: every literal hint (a ``hint=`` argument, and the hints the TLS helper returns), its placeholders left
empty. The profiles' hints, built at run time, are checked where they are made (test_registry_profiles.py,
test_gitlab_auth_hints.py). Catalogue: BI (what a person reads when something fails)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from ocireg.registries import MAX_HINT_LINE, MAX_HINT_LINES

SRC = Path(__file__).resolve().parents[2] / "src" / "ocireg"


def _literal(node: ast.AST) -> str:
    """The text of a string expression with every placeholder empty (the shortest it can print)."""
    return "".join(
        n.value for n in ast.walk(node) if isinstance(n, ast.Constant) and isinstance(n.value, str)
    )


def _hints() -> list[tuple[str, str]]:
    found = []
    for path in sorted(SRC.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.keyword) and node.arg == "hint" and node.value is not None:
                found.append((f"{path.relative_to(SRC)}:{node.lineno}", _literal(node.value)))
        if path.name == "tls.py":
            for node in ast.walk(tree):
                if (
                    isinstance(node, ast.Return)
                    and isinstance(node.value, ast.Tuple)
                    and len(node.value.elts) == 2
                ):
                    found.append((f"{path.relative_to(SRC)}:{node.lineno}", _literal(node.value.elts[1])))
    return found


@pytest.mark.parametrize(("where", "hint"), _hints(), ids=[w for w, _ in _hints()])
def test_bi_every_literal_hint_is_three_short_lines(where: str, hint: str) -> None:
    lines = hint.split("\n")
    assert len(lines) <= MAX_HINT_LINES, f"{where}: {len(lines)} lines"
    assert all(len(line) <= MAX_HINT_LINE for line in lines), (
        f"{where}: {max(len(x) for x in lines)} characters"
    )
