"""Issue #18: global options before the command, one duration type, one --jobs validator (unit: no registry).

The integration half (the same lines against the real registry) is in tests/integration/test_cli_globals.py.
"""

from __future__ import annotations

import argparse

import pytest

from ocireg.cli import COMMAND_INDEX, COMMAND_SUMMARY
from ocireg.cli.options import GLOBAL_OPTIONS_HELP, add_common_options, jobs, positive_duration
from ocireg.cli.parser import build_parser, hoist_global_options

from clirunner import run_cli


def _parse(argv: list[str]) -> argparse.Namespace:
    argv = hoist_global_options(argv)
    command = COMMAND_INDEX[argv[0]]
    return build_parser((command,), index=COMMAND_INDEX, summaries=COMMAND_SUMMARY).parse_args(argv)


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--debug", "exists", "r/a:1"], ["exists", "--debug", "r/a:1"]),
        (["-o", "json", "tags", "r/a"], ["tags", "-o", "json", "r/a"]),
        (["--timeout", "30", "exists", "r/a:1"], ["exists", "--timeout", "30", "r/a:1"]),
        (["--timeout=30s", "-q", "digest", "r/a:1"], ["digest", "--timeout=30s", "-q", "r/a:1"]),
        (["-ojson", "-j4", "exists", "r/a:1"], ["exists", "-ojson", "-j4", "r/a:1"]),
        (["--debug", "auth", "explain", "r/a:1"], ["auth", "explain", "--debug", "r/a:1"]),
        # Not a common option: left alone for argparse to report.
        (["--bogus", "exists", "r/a:1"], ["--bogus", "exists", "r/a:1"]),
        (["exists", "--debug", "r/a:1"], ["exists", "--debug", "r/a:1"]),
    ],
)
def test_bi_global_options_move_after_the_command(argv: list[str], expected: list[str]) -> None:
    """#18: docker/skopeo/crane/regctl users type common options before the command."""
    assert hoist_global_options(argv) == expected


def test_bi_global_options_before_the_command_parse() -> None:
    """#18: `ocireg --debug -o json --timeout 1m30s exists REF` sets what the same options after it set."""
    args = _parse(["--debug", "-o", "json", "--timeout", "1m30s", "exists", "r/a:1"])
    assert (args.debug, args.output, args.timeout, args.references) == (True, "json", 90.0, ["r/a:1"])


def test_bi_global_option_after_the_command_wins() -> None:
    """#18: given both before and after the command, the one after it wins."""
    args = _parse(["-o", "json", "--timeout", "5", "exists", "r/a:1", "-o", "jsonl", "--timeout", "7s"])
    assert (args.output, args.timeout) == ("jsonl", 7.0)
    args = _parse(["--plain-http", "a:1", "exists", "--plain-http", "b:2", "r/a:1"])
    assert args.plain_http == ["a:1", "b:2"]  # repeatable options add up


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90", 90.0), ("90s", 90.0), ("1m30s", 90.0), ("2h", 7200.0), ("1.5s", 1.5), ("500ms", 0.5)],
)
def test_bi_one_duration_type_for_every_timeout(text: str, seconds: float) -> None:
    """#18: `--timeout` takes the same durations as `wait --timeout` and `--interval`."""
    assert positive_duration(text) == seconds
    assert _parse(["exists", "--timeout", text, "r/a:1"]).timeout == seconds
    assert _parse(["wait", "--interval", text, "r/a:1"]).interval == seconds


@pytest.mark.parametrize("text", ["", "abc", "-5", "5x", "1m1m", "nan", "0", "8d", "1,5s", "\u0665s"])
def test_bi_bad_duration_is_a_usage_error(text: str) -> None:
    """#18: anything else is a usage error (exit 2) whose first line names the option."""
    result = run_cli(["exists", "--timeout", text, "r/a:1"])
    assert result.code == 2
    first = result.err.splitlines()[0]
    assert first.startswith("ocireg: error: argument --timeout"), result.err


def test_bi_usage_error_line_comes_first() -> None:
    """#18: the one line that matters is printed before the usage block, not after it."""
    result = run_cli(["--debug", "exists", "r/a:1", "--bogus"])
    lines = result.err.splitlines()
    assert result.code == 2
    assert lines[0] == "ocireg: error: unrecognized arguments: --bogus", result.err
    assert any(line.startswith("usage: ocireg") for line in lines[1:])


@pytest.mark.parametrize("command", ["exists", "digest", "wait", "check", "pin", "tags", "copy", "delete"])
def test_bi_jobs_has_one_range_everywhere(command: str) -> None:
    """#18/#15: one --jobs validator: 1..32 for every command that takes it."""
    argv = {"check": ["check", "f.yml"], "pin": ["pin", "f.yml"], "copy": ["copy", "r/a:1", "r/b:1"]}.get(
        command, [command, "r/a:1"]
    )
    assert _parse([*argv, "--jobs", "32"]).jobs == 32
    for bad in ("0", "33", "x"):
        result = run_cli([*argv, "--jobs", bad])
        assert result.code == 2 and "from 1 to 32" in result.err, (command, bad, result.err)
    with pytest.raises(argparse.ArgumentTypeError):
        jobs("33")


def test_bi_global_help_lists_every_common_option() -> None:
    """#18: `ocireg --help` shows the global options, and the list is complete."""
    probe = argparse.ArgumentParser(add_help=False)
    add_common_options(probe, batch=True)
    flags = {flag for action in probe._actions for flag in action.option_strings}
    for flag in flags:
        assert flag in GLOBAL_OPTIONS_HELP, flag
    result = run_cli(["--help"])
    assert result.code == 0 and "global options (before or after the command" in result.out


@pytest.mark.parametrize("argv", [["--version", "-v"], ["-v", "--version"], ["--version", "--verbose"]])
def test_bi_version_verbose_lists_python_and_dependencies(argv: list[str]) -> None:
    """#18: `ocireg --version -v` prints what a bug report needs: Python, platform, each run-time dependency."""
    from importlib import metadata

    result = run_cli(argv)
    assert result.code == 0
    lines = result.out.splitlines()
    assert lines[0].startswith("ocireg ") and lines[1].startswith("Python ")
    runtime = [r for r in metadata.requires("ocireg") or [] if "extra ==" not in r]
    unconditional = [r for r in runtime if ";" not in r]
    assert unconditional and 2 + len(unconditional) <= len(lines) <= 2 + len(runtime)
    for line in lines[2:]:
        name, version = line.split(" ", 1)
        assert version == metadata.version(name)
    assert run_cli(["--version"]).out.count("\n") == 1  # the fast path stays one line
