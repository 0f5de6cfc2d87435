"""CLI usage of inspect / tags / catalog / auth explain: help with examples, usage errors without I/O (BI)."""

from __future__ import annotations

import io

import pytest

from ocireg.cli import main
from ocireg.connection import Connections


def run(argv: list[str], env: dict[str, str] | None = None) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(argv, env or {"HOME": "/nonexistent"}, stdin=io.StringIO(""), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("network I/O attempted")

    monkeypatch.setattr(Connections, "send", refuse)


@pytest.mark.parametrize(
    "argv", [["inspect", "--help"], ["tags", "--help"], ["catalog", "--help"], ["auth", "explain", "--help"]]
)
def test_help_has_examples_and_exit_codes(argv: list[str]) -> None:
    code, out, _ = run(argv)
    assert code == 0
    assert "examples:" in out
    assert "exit codes:" in out


@pytest.mark.parametrize(
    "argv",
    [
        ["inspect"],
        ["inspect", "--raw", "--config", "localhost:1/a:b"],
        ["inspect", "--platform", "linux", "localhost:1/a:b"],
        ["inspect", "Bad//Ref"],
        ["tags"],
        ["tags", "--limit", "-1", "localhost:1/a"],
        ["tags", "--jobs", "99", "localhost:1/a"],
        ["tags", "--regex", "(", "localhost:1/a"],
        ["tags", "--pre", "localhost:1/a"],
        ["tags", "localhost:1/a:tag"],
        ["catalog"],
        ["catalog", "localhost:1/path"],
        ["catalog", "--limit", "0", "localhost:1"],
        ["auth"],
        ["auth", "explain"],
        ["auth", "explain", "a\nb"],
    ],
)
def test_bi_usage_errors_exit_2_without_io(argv: list[str]) -> None:
    """BI: bad arguments are exit 2 with a message, before any network I/O, never a traceback."""
    code, _, err = run(argv)
    assert code == 2, err
    assert "error" in err
    assert "Traceback" not in err


def test_gitlab_ci_defaults_for_tags_and_catalog_need_ci() -> None:
    """Without a repository/registry argument, tags and catalog use CI_REGISTRY_IMAGE / CI_REGISTRY (only in CI)."""
    code, _, err = run(["tags"])
    assert code == 2
    assert "GitLab CI" in err
    code, _, err = run(["catalog"])
    assert code == 2
    assert "GitLab CI" in err
