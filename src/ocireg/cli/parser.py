"""The argument parser: global options, and one subparser per command registered by the command modules."""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Sequence

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


def build_parser(command_modules: Sequence[str]) -> argparse.ArgumentParser:
    parser = _Parser(
        prog="ocireg",
        description="Check, inspect and manage images and tags in private container registries "
        "(GitLab first, any OCI / Docker Registry v2 registry) without a Docker daemon.",
        epilog=f"Run 'ocireg COMMAND --help' for a command's options and examples.\n\n{EXIT_CODE_HELP}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"ocireg {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    for name in command_modules:
        importlib.import_module(name).register(sub)
    return parser
