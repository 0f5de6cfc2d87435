"""``ocireg exists`` and ``ocireg digest``: the founding commands."""

from __future__ import annotations

import argparse
from _thread import allocate_lock  # threading.Lock itself; threading stays off a check's path (#16, start-up)
from collections.abc import Callable, Iterator, Sequence

from ocireg.cli.exitcodes import EXIT_CODE_HELP, ExitCode, exit_code_for, worst
from ocireg.cli.options import (
    CREDENTIALS_HELP,
    add_common_options,
    add_platform_option,
    add_verify_key_option,
)
from ocireg.cli.parser import add_command
from ocireg.cli.render import (
    SCHEMA,
    dotenv_keys,
    json_text,
    print_error,
    result_json,
    result_row,
    text_table,
    write_json,
)
from ocireg.errors import UsageError
from ocireg.text import escape

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import TextIO

    from ocireg.cli.context import Context
    from ocireg.operations import CheckResult
    from ocireg.reference import Reference

__all__ = ["cmd_digest", "cmd_exists", "parse_reference_args", "read_reference_args", "register"]

EXISTS_EPILOG = f"""\
examples:
  ocireg exists registry.example.com/group/project:v1.2.3
  ocireg exists :v1.2.3                       # inside GitLab CI: $CI_REGISTRY_IMAGE:v1.2.3
  ocireg exists -o json app:1 app:2 app:3     # one result per reference
  ocireg exists --from-file images.txt --jobs 16

"absent" (exit 1) is reported only when the registry said so; a refused login (3),
denied access (4), network trouble (5), registry faults (6) and rate limits (7) are
never mistaken for it.

{EXIT_CODE_HELP}

{CREDENTIALS_HELP}"""

DIGEST_EPILOG = f"""\
examples:
  ocireg digest registry.example.com/group/project:v1.2.3
  ocireg digest --platform linux/arm64 alpine:3.20   # the arm64 image inside the index
  ocireg digest -o dotenv :v1.2.3 > deploy.env        # OCIREG_DIGEST=sha256:... for a dotenv report

For a multi-platform image the index digest is printed (what 'docker pull' resolves the
tag to); --platform selects one child.

{EXIT_CODE_HELP}"""


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    _exists_parser(sub)
    _digest_parser(sub)


def _exists_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = add_command(sub, "exists", "Check that each reference exists (HEAD of its manifest).", EXISTS_EPILOG)
    p.add_argument(
        "references", nargs="*", metavar="REF", help="image reference, e.g. registry/group/app:tag"
    )
    add_verify_key_option(p)
    add_common_options(p, batch=True)


def _digest_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = add_command(sub, "digest", "Resolve each reference to its manifest digest.", DIGEST_EPILOG)
    p.add_argument("references", nargs="*", metavar="REF", help="image reference")
    add_platform_option(p, "digest of this platform's image in an index")
    add_common_options(p, batch=True)


def read_reference_args(ctx: Context) -> list[str]:
    """References from the arguments and ``--from-file`` (``-`` = stdin; one per line, ``#`` comments)."""
    texts = list(getattr(ctx.args, "references", None) or [])
    source = getattr(ctx.args, "from_file", None)
    if source:
        if source == "-":
            texts.extend(_reference_lines(ctx.stdin, "-"))
        else:
            try:
                # utf-8-sig: a byte order mark (Windows editors write one) is not part of the first line.
                with open(source, encoding="utf-8-sig", newline=None) as handle:
                    texts.extend(_reference_lines(handle, source))
            except OSError as exc:
                raise UsageError(f"--from-file {escape(source)}: {escape(exc.strerror or str(exc))}") from exc
            except UnicodeDecodeError as exc:
                raise UsageError(f"--from-file {escape(source)}: not UTF-8 text (byte {exc.start})") from exc
    if not texts:
        raise UsageError("no image reference given (pass REF arguments or --from-file FILE)")
    return texts


MAX_LINE = 64 * 1024


def _reference_lines(handle: TextIO, source: str) -> Iterator[str]:
    """The references in a ``--from-file`` stream: the whole stream, line by line (never cut at a size), ``#``
    comments and blank lines dropped, CRLF and a leading byte order mark accepted. A line longer than
    :data:`MAX_LINE` characters is refused (exit 2) rather than read whole or cut (#14 items 9 and 20)."""
    number = 0
    while True:
        raw_line = handle.readline(MAX_LINE + 1)
        if not raw_line:
            return
        number += 1
        if len(raw_line) > MAX_LINE and not raw_line.endswith("\n"):
            raise UsageError(
                f"--from-file {escape(source)}: line {number} is longer than {MAX_LINE // 1024} KiB; "
                "nothing was checked"
            )
        if number == 1:
            raw_line = raw_line.removeprefix("\ufeff")  # stdin is decoded as plain UTF-8
        line = raw_line.split("#", 1)[0].strip()
        if line:
            yield line


def parse_reference_args(ctx: Context, texts: Sequence[str]) -> list[tuple[str, Reference]] | None:
    """Parse every reference before any network I/O; report all bad ones and return None if any."""
    from ocireg.errors import InvalidReference

    parsed: list[tuple[str, Reference]] = []
    bad = False
    for text in texts:
        try:
            parsed.append((text, ctx.parse_reference(text)))
        except (InvalidReference, UsageError) as exc:
            bad = True
            print_error(ctx, exc)
    return None if bad else parsed


def preconnect(ctx: Context, parsed: Sequence[tuple[str, Reference]]) -> None:
    """Start opening the connection to the first registries named while the check gets ready (#25)."""
    repositories = {ref.registry.name: ref.repository for _, ref in parsed}
    ctx.client().preconnect(list(repositories.values())[:4])


def _render(ctx: Context, command: str, results: Sequence[CheckResult], *, digest_only: bool) -> None:
    if ctx.quiet:
        for result in results:
            if result.error is not None and result.status == "error":
                print_error(ctx, result.error)
        return
    output = ctx.output
    if output == "json":
        code = worst(exit_code_for(r.error) for r in results)
        write_json(ctx, command, {"results": [result_json(r) for r in results], "exit_code": int(code)})
        return
    if output == "jsonl":
        return  # streamed while the batch ran (_JsonlStream)
    if output == "dotenv":
        render_dotenv(ctx, results)
        # The dotenv lines only say OCIREG_STATUS=error/absent: the reason goes to stderr (#14 item 12).
        for result in results:
            if result.error is not None and result.status != "present":
                print_error(ctx, result.error)
        return
    _render_text(ctx, results, digest_only=digest_only)


def _render_text(ctx: Context, results: Sequence[CheckResult], *, digest_only: bool) -> None:
    """One line per reference (``digest`` of one reference: the digest alone), then the errors on stderr."""
    rows = []
    for result in results:
        if digest_only and len(results) == 1 and result.digest is not None:
            ctx.out(str(result.digest))
        else:
            row = result_row(result)
            rows.append(row[1:] if digest_only and result.status == "present" else row)
    for line in text_table(rows):
        ctx.out(line)
    for result in results:
        if result.error is not None and result.status != "present":
            if result.status == "absent" and not digest_only:
                continue
            print_error(ctx, result.error)


class _JsonlStream:
    """``-o jsonl``: print each result as soon as it and every earlier one are done (input order, streaming)."""

    def __init__(self, ctx: Context, command: str) -> None:
        self._ctx = ctx
        self._command = command
        self._pending: dict[int, CheckResult] = {}
        self._next = 0
        self._lock = allocate_lock()

    def __call__(self, index: int, result: CheckResult) -> None:
        with self._lock:
            self._pending[index] = result
            while self._next in self._pending:
                ready = self._pending.pop(self._next)
                doc = {"schema": SCHEMA, "command": self._command, **result_json(ready)}
                self._ctx.out(json_text(doc))
                self._ctx.stdout.flush()
                self._next += 1


def _on_result(ctx: Context, command: str) -> Callable[[int, CheckResult], None] | None:
    if ctx.output == "jsonl" and not ctx.quiet:
        return _JsonlStream(ctx, command)
    return None


def render_dotenv(ctx: Context, results: Sequence[CheckResult]) -> None:
    """Lines for GitLab ``artifacts:reports:dotenv``: ``OCIREG_DIGEST`` for one reference, keyed names for more."""
    keys = dotenv_keys([result.text for result in results])
    done: set[str] = set()
    for result, key in zip(results, keys, strict=True):
        prefix = "OCIREG" if len(results) == 1 else f"OCIREG_{key}"
        if prefix in done:
            continue  # the same reference given twice: one set of lines
        done.add(prefix)
        ctx.out(f"{prefix}_STATUS={result.status}")
        if result.digest is not None and result.reference is not None:
            ctx.out(f"{prefix}_DIGEST={result.digest}")
            ctx.out(f"{prefix}_REFERENCE={result.reference.repository}@{result.digest}")


def cmd_exists(ctx: Context) -> int:
    if getattr(ctx.args, "verify_key", None):
        from ocireg.cli.verify import run_verify  # #24: exists and signed by a trusted key, as 'verify'

        return run_verify(ctx, "exists")
    texts = read_reference_args(ctx)
    parsed = parse_reference_args(ctx, texts)
    if parsed is None:
        return ExitCode.USAGE
    preconnect(ctx, parsed)
    from ocireg.cli.progress import progress
    from ocireg.operations import check_exists

    stream = _on_result(ctx, "exists")
    # Results streaming to the terminal (-o jsonl) are their own progress; a bar would tear them.
    with progress(ctx, total=len(parsed), description="checking", enabled=stream is None) as bar:
        results = check_exists(
            ctx.client(),
            parsed,
            jobs=ctx.args.jobs,
            fail_fast=bool(getattr(ctx.args, "fail_fast", False)),
            on_result=stream or bar.on_result,
        )
    _render(ctx, "exists", results, digest_only=False)
    return worst(exit_code_for(r.error) for r in results)


def cmd_digest(ctx: Context) -> int:
    texts = read_reference_args(ctx)
    parsed = parse_reference_args(ctx, texts)
    if parsed is None:
        return ExitCode.USAGE
    preconnect(ctx, parsed)
    platform = None
    if getattr(ctx.args, "platform", None):
        from ocireg.manifest import parse_platform

        platform = parse_platform(ctx.args.platform)
    from ocireg.cli.progress import progress
    from ocireg.operations import check_digests

    stream = _on_result(ctx, "digest")
    # Results streaming to the terminal (-o jsonl) are their own progress; a bar would tear them.
    with progress(ctx, total=len(parsed), description="resolving", enabled=stream is None) as bar:
        results = check_digests(
            ctx.client(),
            parsed,
            platform=platform,
            jobs=ctx.args.jobs,
            fail_fast=bool(getattr(ctx.args, "fail_fast", False)),
            on_result=stream or bar.on_result,
        )
    _render(ctx, "digest", results, digest_only=True)
    return worst(exit_code_for(r.error) for r in results)
