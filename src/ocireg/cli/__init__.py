"""The ``ocireg`` command line: parse → settings → one operation → render; the only ``sys.exit``.

``main(argv, env)`` takes the environment as an argument, so tests (and embedders) run it in-process with an
environment of their own; :func:`run` is the console-script entry point.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import TextIO

from ocireg import __version__
from ocireg.cli.exitcodes import EXIT_CODE_HELP, ExitCode, exit_code_for

__all__ = ["build_parser", "main", "run"]

Command = Callable[..., int]

# Each module registers its subcommands with ``register(subparsers)`` and names its handler as
# "module:function", imported only when that command runs (start-up stays cheap).
COMMAND_MODULES = ("ocireg.cli.core",)


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser that raises instead of exiting, so main() owns the exit code."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise _UsageExit(self, message)


class _UsageExit(Exception):
    def __init__(self, parser: argparse.ArgumentParser, message: str) -> None:
        super().__init__(message)
        self.parser = parser


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="ocireg",
        description="Check, inspect and manage images and tags in private container registries "
        "(GitLab first, any OCI / Docker Registry v2 registry) without a Docker daemon.",
        epilog=f"Run 'ocireg COMMAND --help' for a command's options and examples.\n\n{EXIT_CODE_HELP}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"ocireg {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    import importlib

    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def _load(handler: str) -> Command:
    import importlib

    module_name, _, func = handler.partition(":")
    module = importlib.import_module(module_name)
    command: Command = getattr(module, func)
    return command


def main(
    argv: Sequence[str] | None = None,
    env: Mapping[str, str] | None = None,
    *,
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """Run one ocireg command and return its exit code (never raises, never exits)."""
    import os

    argv = list(sys.argv[1:] if argv is None else argv)
    env = dict(os.environ if env is None else env)
    stdin = stdin or sys.stdin
    stdout = stdout or sys.stdout
    stderr = stderr or sys.stderr
    parser = build_parser()
    import contextlib

    try:
        with contextlib.redirect_stdout(stdout):  # --help / --version print to the caller's stdout
            args = parser.parse_args(argv)
    except _UsageExit as exc:
        exc.parser.print_usage(stderr)
        stderr.write(f"ocireg: error: {exc}\n")
        return ExitCode.USAGE
    except SystemExit as exc:  # --help / --version
        return int(exc.code or 0) if isinstance(exc.code, int) else ExitCode.USAGE
    if not getattr(args, "handler", None):
        parser.print_help(stdout)
        return ExitCode.USAGE
    from ocireg.cli.context import Context
    from ocireg.cli.render import print_error

    ctx = Context(args=args, env=env, stdin=stdin, stdout=stdout, stderr=stderr)
    try:
        return int(_load(args.handler)(ctx))
    except KeyboardInterrupt:
        stderr.write("ocireg: interrupted\n")
        return ExitCode.INTERRUPTED
    except BrokenPipeError:
        return 141  # 128 + SIGPIPE, as shells report a reader that went away
    except Exception as exc:  # noqa: BLE001 - the one place that turns every error into an exit code
        from ocireg.errors import OciregError

        if not isinstance(exc, OciregError):
            stderr.write(
                f"ocireg: internal error: {type(exc).__name__}: {exc}\n"
                "  please report this at the project's issue tracker\n"
            )
            return ExitCode.REGISTRY
        print_error(ctx, exc)
        return exit_code_for(exc)
    finally:
        ctx.close()


def run() -> None:
    """Console-script entry point."""
    code = main()
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        code = 141
    sys.exit(code)
