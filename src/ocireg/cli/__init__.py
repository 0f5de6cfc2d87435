"""The ``ocireg`` command line: parse → settings → one operation → render; the only ``sys.exit``.

``main(argv, env)`` takes the environment as an argument, so tests (and embedders) run it in-process with an
environment of their own; :func:`run` is the console-script entry point.
"""

from __future__ import annotations

import sys

from ocireg import __version__

# ``typing`` (with ``re``, ``enum``, ``contextlib``) costs more than the rest of ``ocireg --version``: annotations
# only, so it is never imported here at run time (#16, start-up). mypy treats ``TYPE_CHECKING`` by name.
TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable, Mapping, Sequence
    from typing import TextIO

    from ocireg.headstart import HeadStart

    Command = Callable[..., int]

__all__ = [
    "COMMANDS",
    "COMMAND_INDEX",
    "COMMAND_MODULES",
    "COMMAND_SUMMARY",
    "CommandSpec",
    "console",
    "main",
    "run",
]


class CommandSpec:
    """One row of the command table: what ``ocireg NAME`` is, where it lives and what runs it.

    ``module``: the module whose ``register(subparsers)`` builds the parser (with
    :func:`ocireg.cli.parser.add_command`); ``summary``: the one-line help (top-level help, the command's own
    help, the completion scripts); ``handler``: the function in ``module`` that runs the command, imported only
    when it runs. A plain class, not a NamedTuple: ``typing`` stays out of start-up (#16).
    """

    __slots__ = ("handler", "module", "name", "summary")

    def __init__(self, name: str, module: str, summary: str, handler: str) -> None:
        self.name = name
        self.module = module
        self.summary = summary
        self.handler = handler


# The one command table. It drives top-level help (listed without importing any command module: building every
# parser costs ~60 ms of CPU per invocation), the parsers (a run builds only its command's module) and shell
# completion. Adding a command: one row here, plus its module's register() and handler.
COMMANDS: tuple[CommandSpec, ...] = (
    CommandSpec(
        "exists",
        "ocireg.cli.core",
        "does IMAGE:TAG exist? (exit 0 present, 1 absent, 3-7 errors)",
        "cmd_exists",
    ),
    CommandSpec("digest", "ocireg.cli.core", "print the manifest digest of a reference", "cmd_digest"),
    CommandSpec(
        "wait", "ocireg.cli.gates", "wait until IMAGE:TAG exists (exit 0), or 1 at the deadline", "cmd_wait"
    ),
    CommandSpec(
        "check",
        "ocireg.cli.gates",
        "check that every image referenced in compose/k8s/CI/Dockerfile/Helm files exists",
        "cmd_check",
    ),
    CommandSpec(
        "pin",
        "ocireg.cli.gates",
        "rewrite image references in files to repo:tag@sha256:… (diff, or --write)",
        "cmd_pin",
    ),
    CommandSpec(
        "verify",
        "ocireg.cli.verify",
        "verify that each image is signed by a trusted key (exit 8 when not)",
        "cmd_verify",
    ),
    CommandSpec(
        "inspect",
        "ocireg.cli.read",
        "show a manifest or index: digest, sizes, layers, platforms, labels",
        "cmd_inspect",
    ),
    CommandSpec(
        "tags",
        "ocireg.cli.read",
        "list a repository's tags (filter, sort, latest release, digests)",
        "cmd_tags",
    ),
    CommandSpec(
        "catalog",
        "ocireg.cli.read",
        "list the repositories of a registry (usually admins only)",
        "cmd_catalog",
    ),
    CommandSpec(
        "referrers",
        "ocireg.cli.read",
        "list the signatures, SBOMs and attestations attached to an image",
        "cmd_referrers",
    ),
    CommandSpec(
        "auth", "ocireg.cli.authcmd", "authentication diagnostics ('ocireg auth explain REF')", "cmd_auth"
    ),
    CommandSpec(
        "tag", "ocireg.cli.write", "add tags to an image without pulling it (digest unchanged)", "cmd_tag"
    ),
    CommandSpec("copy", "ocireg.cli.write", "copy an image to another repository or registry", "cmd_copy"),
    CommandSpec("delete", "ocireg.cli.write", "delete a tag (never other tags silently)", "cmd_delete"),
    CommandSpec(
        "login", "ocireg.cli.write", "check credentials and store them where Docker does", "cmd_login"
    ),
    CommandSpec("logout", "ocireg.cli.write", "erase stored credentials for a registry", "cmd_logout"),
    CommandSpec(
        "prune",
        "ocireg.cli.prune",
        "delete the tags a retention policy selects (plan only without --yes)",
        "cmd_prune",
    ),
    CommandSpec(
        "completion",
        "ocireg.cli.completion",
        "print a shell completion script (bash, zsh or fish)",
        "cmd_completion",
    ),
)

# Views of the table: command → module, command → summary, and the modules in table order (a module's commands
# are adjacent). tests/unit/test_cli_usage.py checks the table against the modules' registrations.
COMMAND_INDEX: dict[str, str] = {c.name: c.module for c in COMMANDS}
COMMAND_SUMMARY: dict[str, str] = {c.name: c.summary for c in COMMANDS}
COMMAND_MODULES: tuple[str, ...] = tuple(dict.fromkeys(c.module for c in COMMANDS))


def _command_for(argv: Sequence[str]) -> str | None:
    """The command argv names (its first word that is not an option), if it is one; none for top-level help."""
    first = next((a for a in argv if not a.startswith("-")), None)
    return first if first in COMMAND_INDEX else None


def _version_report() -> str:
    """``ocireg --version -v``: what a bug report needs — Python, the platform, each dependency in use."""
    import platform
    import re
    from importlib import metadata

    lines = [
        f"ocireg {__version__}",
        f"Python {platform.python_version()} ({platform.python_implementation()}) on {platform.platform()}",
    ]
    try:
        requirements = metadata.requires("ocireg") or []
    except metadata.PackageNotFoundError:  # run from a source tree or a zipapp without metadata
        requirements = []
    for requirement in requirements:
        if "extra ==" in requirement:
            continue  # test and development extras are not in use at run time
        name = re.split(r"[\s<>=!~;\[]", requirement, maxsplit=1)[0]
        try:
            version = metadata.version(name)
        except metadata.PackageNotFoundError:
            if ";" in requirement:
                continue  # a platform-conditional dependency (truststore off Linux) is not in use here
            version = "not installed"
        lines.append(f"{name} {version}")
    return "\n".join(lines) + "\n"


def _load(handler: str) -> Command:
    import importlib

    module_name, _, func = handler.partition(":")
    module = importlib.import_module(module_name)
    command: Command = getattr(module, func)
    return command


def _parse(argv: list[str], stdout: TextIO, stderr: TextIO) -> argparse.Namespace | int:
    """The parsed arguments of a command to run, or the exit code when there is none (usage error, help)."""
    from ocireg.cli.exitcodes import ExitCode
    from ocireg.cli.parser import UsageExit, build_parser, hoist_global_options, undecodable_option

    if argv and argv[0].startswith("-") and argv[0] not in ("-h", "--help"):
        argv = hoist_global_options(argv)
    command = _command_for(argv)
    modules = (COMMAND_INDEX[command],) if command else ()
    parser = build_parser(modules, index=COMMAND_INDEX, summaries=COMMAND_SUMMARY, command=command)
    try:
        args = _parse_args(parser, argv, stdout)
    except UsageExit as exc:
        # The line that matters first; the usage block after it, for reference.
        stderr.write(f"ocireg: error: {exc}\n")
        exc.parser.print_usage(stderr)
        return ExitCode.USAGE
    except SystemExit as exc:  # --help / --version
        return int(exc.code or 0) if isinstance(exc.code, int) else ExitCode.USAGE
    bad = undecodable_option(parser, args)
    if bad is not None:
        stderr.write(f"ocireg: error: {bad}: the value is not valid UTF-8 text\n")
        return ExitCode.USAGE
    if not getattr(args, "handler", None):
        parser.print_help(stdout)
        return ExitCode.USAGE
    return args


def _parse_args(parser: argparse.ArgumentParser, argv: list[str], stdout: TextIO) -> argparse.Namespace:
    # --help / --version print to the caller's stdout: sys.stdout swapped as contextlib.redirect_stdout does it,
    # without contextlib, which nothing else on a check's path imports (#16, start-up).
    saved, sys.stdout = sys.stdout, stdout
    try:
        return parser.parse_args(argv)
    finally:
        sys.stdout = saved


def main(
    argv: Sequence[str] | None = None,
    env: Mapping[str, str] | None = None,
    *,
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
    head_start: HeadStart | None = None,
) -> int:
    """Run one ocireg command and return its exit code (never raises, never exits).

    ``head_start``: TCP connections the process began for this command line before parsing it
    (:func:`ocireg.cli.headstart.begin`); only the process entry points pass one.
    """
    import os

    argv = list(sys.argv[1:] if argv is None else argv)
    stdout = stdout or sys.stdout
    if argv == ["--version"]:
        # Fast path: CI jobs call this to log the tool version; it must not pay for argparse or the HTTP layer.
        return _write_out(stdout, f"ocireg {__version__}\n")
    if sorted(argv) in (["--version", "-v"], ["--verbose", "--version"]):
        return _write_out(stdout, _version_report())
    if argv[:1] == ["help"]:
        argv = [*argv[1:], "--help"]  # `ocireg help [COMMAND]`, as crane, skopeo and regctl take it
    from ocireg.cli.exitcodes import ExitCode, exit_code_for

    env = dict(os.environ if env is None else env)
    stdin = stdin or sys.stdin
    stderr = stderr or sys.stderr
    args = _parse(argv, stdout, stderr)
    if isinstance(args, int):
        return args
    from ocireg.cli.context import Context
    from ocireg.cli.render import print_error

    ctx = Context(args=args, env=env, stdin=stdin, stdout=stdout, stderr=stderr, head_start=head_start)
    try:
        return int(_load(args.handler)(ctx))
    except KeyboardInterrupt as exc:
        stderr.write("ocireg: interrupted\n")
        hint = getattr(exc, "hint", None)  # a write stopped half-way says where it left things (#23)
        if hint:
            stderr.write(f"  {hint}\n")
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


def _write_out(stdout: TextIO, text: str) -> int:
    """Write a fast path's whole output; 141 when the reader has gone (unbuffered stdout fails right here)."""
    try:
        stdout.write(text)
    except BrokenPipeError:
        return 141  # 128 + SIGPIPE, as in main()
    return 0


def run() -> None:
    """Run one command from ``sys.argv`` and exit with its code, the normal way (``python -m ocireg``, the pyz, a
    caller that catches ``SystemExit``)."""
    sys.exit(_settle(main(head_start=_head_start())))


def console() -> None:
    """The installed ``ocireg`` command: as :func:`run`, but the process leaves without the interpreter's
    finalization when nothing depends on it (:func:`_leave`)."""
    _leave(_settle(main(head_start=_head_start())))


def _head_start() -> HeadStart | None:
    """Begin the connections this process's command line needs first (#25); one process, one command line."""
    import os

    from ocireg.cli.headstart import begin  # imports nothing itself: --version stays as fast

    try:
        return begin(sys.argv[1:], os.environ)
    except Exception:  # noqa: BLE001 -- only a head start: the command itself meets and reports any problem
        return None


def _settle(code: int) -> int:
    """Flush stdout and handle the exits that cannot wait (a reader gone, an interrupt); the code to exit with."""
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        code = 141
    if code == 141:
        # The reader went away (`ocireg ... | head -1`). Output still buffered would be flushed again at
        # interpreter exit, fail again, and Python would print "Exception ignored ... BrokenPipeError" and
        # exit 120. Point stdout at /dev/null first, as the Python docs advise ("Note on SIGPIPE", signal).
        _drop_stdout()
    if code == 130:
        # Interrupted (FT: SIGINT): worker threads may still be blocked on a registry that does not answer;
        # a normal exit would join them (up to --timeout). Nothing is left to write: leave now.
        import os

        try:  # noqa: SIM105 -- contextlib is not on a check's path (#16, start-up)
            sys.stderr.flush()
        except (OSError, ValueError):
            pass
        os._exit(130)
    return code


def _leave(code: int) -> None:
    """Exit with ``code`` without the interpreter's finalization when nothing depends on it.

    Tearing down the modules a check imported (ssl, socket, the HTTP layer) costs milliseconds of CPU after the
    answer is written, on every run's wall time (#25: a cold check in CI). Everything ocireg writes is closed by
    then (the token cache is replaced atomically, outputs are closed by their ``with``); what finalization would
    still run is an ``atexit`` callback (coverage, an embedder's) or a joinable thread: with either, exit the
    normal way.
    """
    import atexit
    import os

    if atexit._ncallbacks() == 0 and not _joinable_threads():
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except (OSError, ValueError):
            pass
        else:
            os._exit(code)
    sys.exit(code)


def _joinable_threads() -> bool:
    """A non-daemon thread still running, which a normal exit would wait for (``_thread``'s never are)."""
    threading = sys.modules.get("threading")
    if threading is None:
        return False
    main = threading.main_thread()
    return any(t is not main and t.is_alive() and not t.daemon for t in threading.enumerate())


def _drop_stdout() -> None:
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass
