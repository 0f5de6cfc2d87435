"""The argument parser: global options, and one subparser per command registered by the command modules."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any, cast

from ocireg import __version__
from ocireg.cli.exitcodes import EXIT_CODE_HELP
from ocireg.cli.options import GLOBAL_OPTIONS_HELP, add_common_options

__all__ = ["UsageExit", "add_command", "build_parser", "hoist_global_options"]


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser that raises instead of exiting, so main() owns the exit code."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageExit(self, message)

    def _get_formatter(self) -> argparse.HelpFormatter:
        # argparse builds a formatter for every add_argument() and asks shutil for the width; importing shutil
        # (bz2, lzma, fnmatch) costs more than the parser of one command (#16, start-up). Same width rule.
        make = cast("Callable[..., argparse.HelpFormatter]", self.formatter_class)
        return make(prog=self.prog, width=_columns() - 2)


def _columns() -> int:
    """The terminal width as ``shutil.get_terminal_size()`` reports it: ``COLUMNS``, the terminal, else 80."""
    try:
        columns = int(os.environ.get("COLUMNS", "0"))
    except ValueError:
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
        except (AttributeError, ValueError, OSError):
            columns = 0
    return columns or 80


# argparse passes each of its own messages through gettext, which searches the locale directories for an
# "argparse" catalogue on every call (dozens per run, one parser per command listed). Python ships no such
# catalogue and ocireg's own messages are English: the lookup is skipped (#16, start-up).
argparse._ = str  # type: ignore[attr-defined]


class UsageExit(Exception):
    def __init__(self, parser: argparse.ArgumentParser, message: str) -> None:
        super().__init__(message)
        self.parser = parser


def build_parser(
    command_modules: Sequence[str],
    *,
    index: Mapping[str, str] | None = None,
    summaries: Mapping[str, str] | None = None,
) -> argparse.ArgumentParser:
    """The parser with the full subparsers of ``command_modules``.

    With ``index`` (command → module) and ``summaries`` (command → one-line help), every command of another
    module gets a bare entry instead, in index order: top-level help and "invalid choice" errors still list
    all commands, without importing their modules or building their options.
    """
    parser = _Parser(
        prog="ocireg",
        description="Check, inspect and manage images and tags in private container registries "
        "(GitLab first, any OCI / Docker Registry v2 registry) without a Docker daemon.",
        epilog=f"Run 'ocireg COMMAND --help' (or 'ocireg help COMMAND') for a command's options and examples.\n\n"
        f"{GLOBAL_OPTIONS_HELP}\n\n{EXIT_CODE_HELP}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--version",
        action="version",
        version=f"ocireg {__version__}",
        help="print the version and exit (with -v: Python, platform and dependency versions, for bug reports)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    if index is None or summaries is None:
        for name in command_modules:
            importlib.import_module(name).register(sub)
        return parser
    registered: set[str] = set()
    for command, module in index.items():
        if module not in command_modules:
            sub.add_parser(command, help=summaries[command], add_help=False)
        elif module not in registered:  # a module's commands are adjacent in the index: order is kept
            importlib.import_module(module).register(sub)
            registered.add(module)
    return parser


def add_command(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    name: str,
    description: str,
    epilog: str | None = None,
    **kwargs: Any,
) -> argparse.ArgumentParser:
    """The subparser of the command table's row ``name``: its summary as help, its handler as the default.

    ``kwargs`` go to ``add_parser``; the epilog keeps its layout.
    """
    from ocireg.cli import COMMANDS

    row = next(c for c in COMMANDS if c.name == name)
    kwargs.setdefault("formatter_class", argparse.RawDescriptionHelpFormatter)
    parser = sub.add_parser(name, help=row.summary, description=description, epilog=epilog, **kwargs)
    parser.set_defaults(handler=f"{row.module}:{row.handler}")
    return parser


# Commands whose first positional argument names a subcommand: global options go after both words.
_NESTED = {"auth": frozenset({"explain"})}


def _global_option_arity() -> dict[str, bool]:
    """Every option of :func:`add_common_options` → whether it takes a value (one source for both places)."""
    probe = _Parser(add_help=False)
    add_common_options(probe, batch=True)
    return {flag: action.nargs != 0 for action in probe._actions for flag in action.option_strings}


def hoist_global_options(argv: Sequence[str]) -> list[str]:
    """Move the common options written before the command to just after it.

    ``ocireg --debug -o json exists REF`` becomes ``ocireg exists --debug -o json REF``, as docker, skopeo,
    crane and regctl users type it. Put right after the command (and before the command's own arguments), an
    option repeated later on the line wins, because argparse keeps the last value. Anything that is not a
    common option stops the scan and is left where it is, for argparse to report.
    """
    arity = _global_option_arity()
    hoisted: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        name = arg.split("=", 1)[0] if arg.startswith("--") else arg[:2]
        if not arg.startswith("-") or arg == "--" or name not in arity:
            break
        attached = "=" in arg if arg.startswith("--") else len(arg) > 2
        if arity[name] and not attached:
            if i + 1 >= len(argv):
                break  # "ocireg --timeout": left for argparse to say what is missing
            hoisted += argv[i : i + 2]
            i += 2
            continue
        if not arity[name] and attached:
            break  # "-qx": an unknown flag cluster, left for argparse
        hoisted.append(arg)
        i += 1
    if not hoisted or i >= len(argv):
        return list(argv)
    command = [argv[i]]
    rest = list(argv[i + 1 :])
    if rest and rest[0] in _NESTED.get(argv[i], ()):
        command.append(rest.pop(0))
    return command + hoisted + rest
