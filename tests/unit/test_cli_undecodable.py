"""#23: an option value that is not UTF-8 (argv bytes decoded with surrogateescape, PEP 383) is a usage error
(exit 2) naming the option, for every option of every command — never "internal error: UnicodeEncodeError".

The command table (``ocireg.cli.COMMANDS``) drives the sweep: each command's parser is built as a run builds
it, and each option that takes a value gets one that cannot be encoded.
"""

from __future__ import annotations

import argparse
import io
import os
import subprocess
import sys

import pytest

from ocireg.cli import COMMAND_INDEX, COMMAND_SUMMARY, COMMANDS, main
from ocireg.cli.parser import build_parser

BAD = "x\udcff\udcfey"  # b"x\xff\xfey" as Python decodes it from argv
FILLER = "127.0.0.1:9/group/project:v1"


def _subparser(parser: argparse.ArgumentParser, name: str) -> argparse.ArgumentParser:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction) and name in action.choices:
            return action.choices[name]
    raise AssertionError(f"no subparser {name}")


def _positionals(parser: argparse.ArgumentParser) -> list[tuple[list[str], argparse.ArgumentParser]]:
    """Every way to fill the positional arguments: (words, the parser that owns the options), nested
    subcommands (``auth explain``) expanded."""
    words: list[str] = []
    for action in parser._actions:
        if action.option_strings:
            continue
        if isinstance(action, argparse._SubParsersAction):
            out = []
            for name, sub in action.choices.items():
                out += [([*words, name, *rest], owner) for rest, owner in _positionals(sub)]
            return out
        if action.nargs in ("*", "?"):
            continue
        count = action.nargs if isinstance(action.nargs, int) else 1
        value = sorted(action.choices)[0] if action.choices else FILLER
        words += [str(value)] * count
    return [(words, parser)]


def _cases() -> list[tuple[str, list[str], str]]:
    cases = []
    for spec in COMMANDS:
        parser = build_parser(
            (COMMAND_INDEX[spec.name],), index=COMMAND_INDEX, summaries=COMMAND_SUMMARY, command=spec.name
        )
        for words, owner in _positionals(_subparser(parser, spec.name)):
            for action in owner._actions:
                if not action.option_strings or action.nargs == 0 or action.dest == "help":
                    continue
                option = max(action.option_strings, key=len)
                argv = [spec.name, *_lead(words, owner), option, BAD, *_rest(words, owner)]
                cases.append((f"{spec.name} {option}", argv, option))
    return cases


def _lead(words: list[str], owner: argparse.ArgumentParser) -> list[str]:
    """The subcommand words that must come before the option (``auth explain``)."""
    prog = owner.prog.split()
    return [w for w in words if w in prog[2:]]


def _rest(words: list[str], owner: argparse.ArgumentParser) -> list[str]:
    lead = _lead(words, owner)
    return [w for w in words if w not in lead]


CASES = _cases()


def test_the_sweep_covers_every_command() -> None:
    assert {c[0].split()[0] for c in CASES} >= {"exists", "copy", "delete", "login", "prune", "referrers"}
    assert len(CASES) > 50


@pytest.mark.parametrize(("argv", "option"), [(c[1], c[2]) for c in CASES], ids=[c[0] for c in CASES])
def test_an_undecodable_option_value_is_a_usage_error(argv: list[str], option: str) -> None:
    out, err = io.StringIO(), io.StringIO()
    code = main(argv, {"HOME": "/nonexistent"}, stdin=io.StringIO(""), stdout=out, stderr=err)
    assert code == 2, (code, err.getvalue())
    assert option in err.getvalue()
    assert "internal error" not in err.getvalue()
    assert "Traceback" not in err.getvalue()


def test_non_utf8_argv_bytes_from_a_real_process() -> None:
    """The row of #23 as a user meets it: bytes in argv, a strict UTF-8 stdout, exit 2 naming the option."""
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    proc = subprocess.run(
        [sys.executable, "-m", "ocireg", "referrers", b"--artifact-type", b"x\xff\xfey", FILLER],
        capture_output=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2, proc.stderr
    assert b"--artifact-type" in proc.stderr
    assert b"internal error" not in proc.stderr
