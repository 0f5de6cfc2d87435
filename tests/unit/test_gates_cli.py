"""CLI usage of ``wait``, ``check`` and ``pin`` without a registry: exit 2 with a clear message and no network
I/O on bad input (BI), help with examples, and file handling that needs no registry."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from ocireg.cli import main
from ocireg.connection import Connections


def run(argv: list[str], env: dict[str, str] | None = None, stdin: str = "") -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(argv, env or {"HOME": "/nonexistent"}, stdin=io.StringIO(stdin), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("network I/O attempted")

    monkeypatch.setattr(Connections, "send", refuse)


@pytest.mark.parametrize("command", ["wait", "check", "pin"])
def test_help_has_examples_and_exit_codes(command: str) -> None:
    code, out, _ = run([command, "--help"])
    assert code == 0
    assert "examples:" in out
    assert f"ocireg {command} " in out
    assert "exit codes:" in out


@pytest.mark.parametrize(
    "argv",
    [
        ["wait", "--timeout", "10x", "r.example/a:1"],
        ["wait", "--timeout", "-5s", "r.example/a:1"],
        ["wait", "--timeout", "8d", "r.example/a:1"],
        ["wait", "--interval", "0s", "r.example/a:1"],
        ["wait", "--jobs", "33", "r.example/a:1"],
        ["wait"],
        ["wait", "Bad//Ref"],
        ["wait", ":v1"],
        ["check"],
        ["pin"],
        ["pin", "--platform", "not a platform", "TMP"],
    ],
)
def test_bad_usage_is_exit_2_without_io(argv: list[str], tmp_path: Path) -> None:
    """BI: bad durations, references and arguments fail before any request, with a message, no traceback."""
    code, _, err = run([str(tmp_path) if a == "TMP" else a for a in argv])
    assert code == 2
    assert "error" in err
    assert "Traceback" not in err


def test_check_missing_path_is_exit_2(tmp_path: Path) -> None:
    code, _, err = run(["check", str(tmp_path / "missing.yml")])
    assert code == 2
    assert "no such file or directory" in err


def test_check_and_pin_with_only_skipped_references_need_no_registry(tmp_path: Path) -> None:
    """Unresolved variables are reported (with the reason) and nothing is sent; --strict makes it exit 2."""
    path = tmp_path / "compose.yaml"
    path.write_text("services:\n  a:\n    image: ${REGISTRY}/app:${TAG}\n")
    code, out, _ = run(["check", str(path)])
    assert code == 0
    assert f"{path}:3" in out
    assert "skipped" in out
    assert "$REGISTRY, $TAG" in out
    assert run(["check", "--strict", str(path)])[0] == 2
    code, out, _ = run(["pin", "--write", str(path)])
    assert code == 0
    assert out.split()[:2] == [f"{path}:3", "skipped"]
    assert path.read_text() == "services:\n  a:\n    image: ${REGISTRY}/app:${TAG}\n"


def test_check_invalid_reference_in_a_file_is_exit_2(tmp_path: Path) -> None:
    path = tmp_path / "Dockerfile"
    path.write_text("FROM Upper/Case:1\n")
    code, out, err = run(["check", "-o", "json", str(path)])
    assert code == 2
    assert '"status": "error"' in out
    assert f"{path}:1: " in err
    assert "lowercase" in err


def test_check_directory_skips_unparsable_files_with_a_warning(tmp_path: Path) -> None:
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "deployment.yaml").write_text("spec: {{ .Values.x }}\n  bad: [\n")
    code, _, err = run(["check", str(tmp_path)])
    assert code == 0
    assert "warning" in err
    assert "deployment.yaml" in err
    assert "no image references found" in err


@pytest.mark.parametrize("output", ["text", "json"])
def test_check_lone_surrogate_in_a_file_is_exit_2_not_an_internal_error(tmp_path: Path, output: str) -> None:
    """BI: invalid UTF-8 / JSON edge cases — a YAML "\\ud800" escape yields a lone surrogate, which a UTF-8
    stdout cannot encode; it is shown escaped (text and JSON) and the bad reference is exit 2, not exit 6."""
    path = tmp_path / "compose.yaml"
    path.write_text('services:\n  a:\n    image: "\\ud800"\n')
    code, out, err = run(["check", "-o", output, str(path)])
    assert code == 2, err
    assert "internal error" not in err
    (out + err).encode("utf-8")  # what a real stdout/stderr does: raised UnicodeEncodeError before the fix
    assert "\\ud800" in out


def test_check_escapes_control_characters_from_files(tmp_path: Path) -> None:
    """SEC: output injection — a reference with an escape sequence is shown escaped."""
    path = tmp_path / "compose.yaml"
    path.write_text('services:\n  a:\n    image: "r.example/a:1\\e[2J"\n')
    _, out, err = run(["check", str(path)])
    assert "\x1b" not in out + err
