"""The ``ocireg`` command line: parse → settings → one operation → render; the only ``sys.exit``.

``main(argv, env)`` takes the environment as an argument, so tests (and embedders) run it in-process with an
environment of their own; :func:`run` is the console-script entry point.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping, Sequence
from typing import TextIO

from ocireg import __version__

__all__ = ["COMMAND_MODULES", "main", "run"]

Command = Callable[..., int]

# Each module registers its subcommands with ``register(subparsers)`` and names its handler as
# "module:function", imported only when that command runs (start-up stays cheap).
COMMAND_MODULES = ("ocireg.cli.core",)


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
    stdout = stdout or sys.stdout
    if argv == ["--version"]:
        # Fast path: CI jobs call this to log the tool version; it must not pay for argparse or httpx2.
        stdout.write(f"ocireg {__version__}\n")
        return 0
    from ocireg.cli.exitcodes import ExitCode, exit_code_for
    from ocireg.cli.parser import UsageExit, build_parser

    env = dict(os.environ if env is None else env)
    stdin = stdin or sys.stdin
    stderr = stderr or sys.stderr
    parser = build_parser(COMMAND_MODULES)
    import contextlib

    try:
        with contextlib.redirect_stdout(stdout):  # --help / --version print to the caller's stdout
            args = parser.parse_args(argv)
    except UsageExit as exc:
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
