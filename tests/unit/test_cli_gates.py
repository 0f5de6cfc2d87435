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


# --------------------------------------------------------------------------------------------------------------
# pin --check --offline (#18): the pre-commit gate, no network at all (the autouse fixture refuses any send)
# --------------------------------------------------------------------------------------------------------------

UNPINNED_COMPOSE = """\
services:
  web:
    image: registry.example.com/group/app:v1.2.3
  db:
    image: registry.example.com/group/db@sha256:{d}
  cache:
    image: registry.example.com/group/cache:7@sha256:{d}
  worker:
    image: registry.example.com/group/worker
""".format(d="a" * 64)

PINNED_DOCKERFILE = f"""\
FROM registry.example.com/group/base:1@sha256:{"b" * 64} AS build
FROM registry.example.com/group/run@sha256:{"c" * 64}
"""


def test_pin_check_offline_lists_every_unpinned_reference_with_file_and_line(tmp_path: Path) -> None:
    """#18, SEC (digest pinning): `pin --check --offline` exits 1 and names FILE:LINE of each reference by tag
    without a digest (a bare name counts: it means :latest); pinned ones pass; nothing is sent or written."""
    compose = tmp_path / "compose.yaml"
    compose.write_text(UNPINNED_COMPOSE)
    before = compose.read_bytes()
    code, out, err = run(["pin", "--check", "--offline", str(compose)])
    assert code == 1, err
    assert f"{compose}:3: " in out
    assert "registry.example.com/group/app:v1.2.3" in out
    assert f"{compose}:9: " in out
    assert f"{compose}:5" not in out
    assert f"{compose}:7" not in out
    assert "pin --write" in err  # the next step
    assert "Traceback" not in err
    assert compose.read_bytes() == before


def test_pin_check_offline_passes_when_everything_is_pinned(tmp_path: Path) -> None:
    """#18: every reference carries a digest: exit 0, nothing on stdout."""
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text(PINNED_DOCKERFILE)
    code, out, err = run(["pin", "--check", "--offline", str(dockerfile)])
    assert code == 0, err
    assert out == ""


def test_pin_check_offline_json(tmp_path: Path) -> None:
    """#18: -o json lists each reference with pinned true/false and the exit code."""
    import json

    compose = tmp_path / "compose.yaml"
    compose.write_text(UNPINNED_COMPOSE)
    code, out, _ = run(["pin", "--check", "--offline", "-o", "json", str(compose)])
    assert code == 1
    doc = json.loads(out)
    assert doc["command"] == "pin"
    assert [(r["line"], r["status"]) for r in doc["references"]] == [
        (3, "unpinned"),
        (5, "pinned"),
        (7, "pinned"),
        (9, "unpinned"),
    ]
    assert doc["exit_code"] == 1


def test_pin_check_offline_skips_variables_and_fails_invalid_references(tmp_path: Path) -> None:
    """#18, BI: a reference built from unset variables cannot be judged offline (skipped, reported, not a
    failure); an invalid reference is exit 2 with FILE:LINE."""
    ci = tmp_path / "compose.yaml"
    ci.write_text("services:\n  a:\n    image: ${REG}/app:${TAG}\n")
    code, _, err = run(["pin", "--check", "--offline", str(ci)])
    assert code == 0, err
    assert "skipped" in err
    bad = tmp_path / "bad.yaml"
    bad.write_text("services:\n  a:\n    image: Bad//Ref:1\n")
    code, _, err = run(["pin", "--check", "--offline", str(bad)])
    assert code == 2
    assert f"{bad}:3" in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["pin", "--offline", "TMP"], "--offline"),
        (["pin", "--check", "--write", "TMP"], "--write"),
        (["pin", "--check", "--update", "TMP"], "--update"),
    ],
)
def test_pin_check_option_conflicts_are_usage_errors(argv: list[str], message: str, tmp_path: Path) -> None:
    """#18, BI: --offline needs --check; --check writes nothing, so --write/--update with it are exit 2."""
    (tmp_path / "Dockerfile").write_text("FROM registry.example.com/a:1\n")
    code, _, err = run([str(tmp_path) if a == "TMP" else a for a in argv])
    assert code == 2
    assert message in err.splitlines()[0]
