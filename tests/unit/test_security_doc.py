"""SECURITY.md stays true: every test it cites exists, and every ``ocireg.*`` name it cites can be imported."""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SECURITY = ROOT / "SECURITY.md"
TEXT = SECURITY.read_text(encoding="utf-8")

TEST_REFS = sorted(set(re.findall(r"`((?:unit|integration)/test_\w+\.py)::(test_\w+)`", TEXT)))
CODE_REFS = sorted(set(re.findall(r"`(ocireg(?:\.\w+)+)`", TEXT)))


def test_security_md_cites_tests_and_code() -> None:
    assert len(TEST_REFS) > 40
    assert len(CODE_REFS) > 20
    for advisory in ("CVE-2020-15157", "CVE-2021-41092", "CVE-2024-3727", "CVE-2021-41190", "CVE-2014-8179"):
        assert advisory in TEXT
    assert "realm SSRF" in TEXT
    assert "Reporting a vulnerability" in TEXT


@pytest.mark.parametrize(("path", "name"), TEST_REFS, ids=[f"{p}::{n}" for p, n in TEST_REFS])
def test_cited_test_exists(path: str, name: str) -> None:
    source = ROOT / "tests" / path
    assert source.exists(), path
    tree = ast.parse(source.read_text(encoding="utf-8"))
    names = {node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)}
    assert name in names, f"SECURITY.md cites {path}::{name}, which does not exist"


@pytest.mark.parametrize("dotted", CODE_REFS)
def test_cited_code_exists(dotted: str) -> None:
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            target: object = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attribute in parts[cut:]:
            assert hasattr(target, attribute), f"SECURITY.md cites {dotted}: no {attribute}"
            target = getattr(target, attribute)
        return
    pytest.fail(f"SECURITY.md cites {dotted}, which cannot be imported")
