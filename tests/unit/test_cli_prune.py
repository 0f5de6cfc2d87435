"""Issue #17: `ocireg prune` usage — help that answers questions, and usage errors (exit 2) before any request."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from ocireg.cli import main
from ocireg.duration import parse_duration
from ocireg.errors import UsageError

# 127.0.0.1:9 (discard) would refuse a connection: every case here must fail before one is tried.
REPO = "127.0.0.1:9/group/app"


def run(argv: list[str], env: dict[str, str] | None = None) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(argv, env or {"HOME": "/nonexistent"}, stdin=io.StringIO(""), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def test_bi_prune_help_has_examples_order_and_exit_codes() -> None:
    """#17: --help shows the three examples, the order of the selection steps and the exit codes."""
    code, out, _ = run(["prune", "--help"])
    assert code == 0
    assert "--match 'mr-*' --older-than 14d --yes" in out
    assert "Selection, in this order" in out
    assert "exit codes:" in out
    assert "--max-delete N" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([REPO], "needs a selection"),
        ([REPO, "--keep", "v*"], "needs a selection"),
        ([REPO, "--regex", "("], "not a valid regular expression"),
        ([":", "--match", "mr-*"], "works only inside GitLab CI"),
        ([f"{REPO}:v1", "--match", "mr-*"], "has no tag"),
        ([REPO, "--older-than", "forever"], "invalid duration"),
        ([REPO, "--older-than", "3651d"], "at most 3650 days"),
        ([REPO, "--keep-last", "-1"], "--keep-last"),
        ([REPO, "--match", "x", "-o", "dotenv"], "invalid choice"),
        ([REPO, "--match", "x", "--by", "newest"], "invalid choice"),
    ],
)
def test_bi_prune_usage_errors_exit_2_before_any_request(argv: list[str], message: str) -> None:
    """#17 Selection: a policy that cannot be right is exit 2 with a clear message, no traceback."""
    code, _, err = run(["prune", *argv])
    assert code == 2, err
    assert message in err
    assert "Traceback" not in err


def test_bi_prune_keep_files_unreadable_is_exit_2(tmp_path: Path) -> None:
    """#17 --keep-files: a missing file could hold the deployed image: prune stops (exit 2), plans nothing."""
    code, out, err = run(["prune", REPO, "--match", "mr-*", "--keep-files", str(tmp_path / "missing.yml")])
    assert code == 2, err
    assert "no such file" in err and out == ""


def test_bi_older_than_accepts_retention_ages() -> None:
    """#17: --older-than takes retention ages (14d, 90d) through the shared duration parser, whose default
    limit for timeouts stays 7 days."""
    assert parse_duration("14d", maximum=3650 * 86400.0) == 14 * 86400
    with pytest.raises(UsageError, match="at most 7 days"):
        parse_duration("14d")
