"""The argument parser: global options, and one subparser per command registered by the command modules."""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Mapping, Sequence

from ocireg import __version__
from ocireg.cli.exitcodes import EXIT_CODE_HELP

__all__ = ["UsageExit", "build_parser"]


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser that raises instead of exiting, so main() owns the exit code."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageExit(self, message)


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
        epilog=f"Run 'ocireg COMMAND --help' for a command's options and examples.\n\n{EXIT_CODE_HELP}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"ocireg {__version__}")
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
