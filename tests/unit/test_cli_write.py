"""Issue #5: usage of `tag`, `copy`, `delete`, `login`, `logout` — help with examples, usage errors without I/O (BI)."""

from __future__ import annotations

import pytest

from clirunner import run_cli


@pytest.mark.parametrize("command", ["tag", "copy", "delete", "login", "logout"])
def test_help_has_examples(command: str) -> None:
    result = run_cli([command, "--help"])
    assert result.code == 0
    assert "examples:" in result.out
    assert f"ocireg {command} " in result.out


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["delete", "--untag", "--manifest", "localhost:1/a/b:t"], "not allowed with"),
        (["delete", "--yes", "localhost:1/a/b:t"], "--yes goes with --manifest"),
        (["delete", "localhost:1/a/b"], "name the tag"),
        (["delete", "localhost:1/A/b:t"], "lowercase"),
        (["copy", "localhost:1/a/b:t", "localhost:1/c:Bad Tag"], "whitespace"),
        (["copy", "--jobs", "0", "localhost:1/a:t", "localhost:1/b"], "from 1 to 32"),
        (["tag", "localhost:1/a/b:t", "other.example/c:d"], "ocireg copy"),
        (["login", "-u", "me", "--password-stdin"], "name the registry"),
        (["login", "localhost:1"], "--username"),
        (["logout", "https://user@host/path/x"], "not a registry"),
    ],
)
def test_usage_errors_exit_2_before_any_request(argv: list[str], fragment: str) -> None:
    """BI: bad input → exit 2 with a clear message; the port-1 registry is never contacted."""
    result = run_cli(argv, stdin="pw\n")
    assert result.code == 2, result.both
    assert fragment in result.err
    assert "Traceback" not in result.err
