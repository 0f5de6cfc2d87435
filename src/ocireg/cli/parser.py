"""The argument parser: global options, and one subparser per command registered by the command modules."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Callable, Mapping, Sequence

from ocireg import __version__
from ocireg.cli.exitcodes import EXIT_CODE_HELP
from ocireg.cli.options import GLOBAL_OPTIONS_HELP, add_common_options

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["UsageExit", "add_command", "build_parser", "hoist_global_options"]


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser that raises instead of exiting, so main() owns the exit code."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageExit(self, message)

    def _get_formatter(self) -> argparse.HelpFormatter:
        # argparse builds a formatter for every add_argument() and asks shutil for the width; importing shutil
        # (bz2, lzma, fnmatch) costs more than the parser of one command (#16, start-up). Same width rule.
        make: Callable[..., argparse.HelpFormatter] = self.formatter_class
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
    command: str | None = None,
) -> argparse.ArgumentParser:
    """The parser with the full subparsers of ``command_modules``.

    With ``index`` (command → module) and ``summaries`` (command → one-line help), every command of another
    module gets a bare entry instead, in index order: top-level help and "invalid choice" errors still list
    all commands, without importing their modules or building their options. With ``command`` as well, only
    that command's options are built; the other commands of its module get bare entries too. A bare entry is
    made into a parser only if argparse asks for it (#16: building parsers for commands that do not run was a
    measurable share of a check's start-up).
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
    entries = _BareEntries(sub, summaries)
    _SKIP[id(sub)] = (command, entries)
    registered: set[str] = set()
    try:
        for name, module in index.items():
            if module not in command_modules:
                entries.add(name)
            elif module not in registered:  # a module's commands are adjacent in the index: order is kept
                importlib.import_module(module).register(sub)
                registered.add(module)
    finally:
        del _SKIP[id(sub)]
    return parser


class _BareEntries(dict[str, argparse.ArgumentParser]):
    """The subparsers' name → parser map, where a bare entry's parser is made when argparse first looks it up.

    argparse keeps this map as the action's ``choices``: membership and the names listed in an "invalid choice"
    error need no parser. The one-line help of each entry is a pseudo-action, as ``add_parser`` makes it.
    """

    def __init__(self, sub: argparse._SubParsersAction[Any], summaries: Mapping[str, str]) -> None:
        super().__init__()
        self._sub = sub
        self._summaries = summaries
        self._bare: set[str] = set()
        sub._name_parser_map = sub.choices = self

    def add(self, name: str) -> None:
        help_action = self._sub._ChoicesPseudoAction(name, (), self._summaries[name])
        self._sub._choices_actions.append(help_action)
        self._bare.add(name)
        super().__setitem__(name, _PLACEHOLDER)

    def __getitem__(self, name: str) -> argparse.ArgumentParser:
        if name in self._bare:
            self._bare.discard(name)
            super().__setitem__(name, _Parser(prog=f"{self._sub._prog_prefix} {name}", add_help=False))
        return super().__getitem__(name)


_PLACEHOLDER = argparse.ArgumentParser.__new__(argparse.ArgumentParser)


class _Skipped(_Parser):
    """What :func:`add_command` returns for a command that is not run: the options added to it are dropped.

    Never parses anything, so it is not set up (``ArgumentParser.__init__`` and one ``add_argument`` per option
    cost more than the command that runs, #16).
    """

    def __init__(self) -> None:
        pass

    def add_argument(self, *args: Any, **kwargs: Any) -> Any:
        return None

    def add_argument_group(self, *args: Any, **kwargs: Any) -> Any:
        return self

    def add_mutually_exclusive_group(self, *args: Any, **kwargs: Any) -> Any:
        return self

    def set_defaults(self, **kwargs: Any) -> None:
        return None

    def add_subparsers(self, *args: Any, **kwargs: Any) -> Any:
        return self

    def add_parser(self, *args: Any, **kwargs: Any) -> Any:
        return self


# build_parser's subparsers action (by id) → the one command to build in full and the bare entries. Set only
# while build_parser runs register(): add_command has no other way to learn it (register(sub) is the modules'
# interface).
_SKIP: dict[int, tuple[str | None, _BareEntries]] = {}


def add_command(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    name: str,
    description: str,
    epilog: str | None = None,
    **kwargs: Any,
) -> argparse.ArgumentParser:
    """The subparser of the command table's row ``name``: its summary as help, its handler as the default.

    ``kwargs`` go to ``add_parser``; the epilog keeps its layout. While :func:`build_parser` builds one
    command only, another command of the same module gets a bare entry and a parser that drops its options.
    """
    from ocireg.cli import COMMANDS

    only, entries = _SKIP.get(id(sub), (None, None))
    if entries is not None and only is not None and name != only:
        entries.add(name)
        return _Skipped()
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


def undecodable_option(parser: argparse.ArgumentParser, args: argparse.Namespace) -> str | None:
    """The option (or argument) whose value is not valid text, or None.

    argv holds bytes: Python decodes what is not UTF-8 into lone surrogates (PEP 383), which cannot be encoded
    into a header, a URL, a file or the terminal; the value is refused here once (exit 2, the option named)
    instead of failing wherever it is used first (#23).
    """
    for action in _all_actions(parser):
        if action.dest in (argparse.SUPPRESS, "help") or not hasattr(args, action.dest):
            continue
        value = getattr(args, action.dest)
        values = value if isinstance(value, list | tuple) else [value]
        if any(isinstance(v, str) and not _encodable(v) for v in values):
            if action.option_strings:
                return max(action.option_strings, key=len)
            return str(action.metavar or action.dest).upper()
    return None


def _all_actions(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    found: list[argparse.Action] = []
    for action in getattr(parser, "_actions", ()):  # a bare entry (a command not built) has none
        if isinstance(action, argparse._SubParsersAction):
            for sub in dict.fromkeys(action.choices.values()):
                found += _all_actions(sub)
        else:
            found.append(action)
    return found


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
