"""Options shared by commands, and the help texts they repeat."""

from __future__ import annotations

import argparse

__all__ = [
    "CREDENTIALS_HELP",
    "GLOBAL_OPTIONS_HELP",
    "add_common_options",
    "add_from_file_option",
    "add_jobs_option",
    "add_output_options",
    "add_platform_option",
    "add_registry_argument",
    "add_verify_key_option",
    "duration",
    "jobs",
    "positive_duration",
]

CREDENTIALS_HELP = """\
credentials, first match wins (per registry host):
  1. --username USER --password-stdin, or OCIREG_USERNAME/OCIREG_PASSWORD
  2. inside GitLab CI, for CI_REGISTRY only: CI_REGISTRY_USER/CI_REGISTRY_PASSWORD,
     then gitlab-ci-token/CI_JOB_TOKEN, then CI_DEPLOY_USER/CI_DEPLOY_PASSWORD
  3. DOCKER_AUTH_CONFIG (JSON, as GitLab runners use)
  4. REGISTRY_AUTH_FILE, $XDG_RUNTIME_DIR/containers/auth.json,
     ${XDG_CONFIG_HOME:-~/.config}/containers/auth.json (podman; a key may name a
     namespace, host/group/project: the longest one wins, then the host), then
     $DOCKER_CONFIG/config.json or ~/.docker/config.json (by host, as Docker)
     (in each: credHelpers > credsStore > auths; 'ocireg auth explain' shows the pick)
  5. anonymous"""


def add_common_options(parser: argparse.ArgumentParser, *, batch: bool = False, dotenv: bool = False) -> None:
    """Output and connection options. ``batch``: every format; ``dotenv``: text, json and dotenv."""
    formats = ["text", "json", "jsonl", "dotenv"] if batch else ["text", "json"]
    if dotenv and not batch:
        formats.append("dotenv")
    add_output_options(parser, formats)
    conn = parser.add_argument_group("connection")
    _add_connection_options(conn)
    if batch:
        add_jobs_option(conn, "references checked concurrently")
        add_from_file_option(conn)
        conn.add_argument("--fail-fast", action="store_true", help="stop at the first error")


def add_output_options(parser: argparse.ArgumentParser, formats: list[str], *, debug: bool = True) -> None:
    """``-o`` (one of ``formats``), ``-q`` and, for commands that send requests, ``--debug``."""
    out = parser.add_argument_group("output")
    out.add_argument("-o", "--output", choices=formats, default="text", help="output format (default: text)")
    out.add_argument(
        "-q", "--quiet", action="store_true", help="print nothing on stdout; rely on the exit code"
    )
    if debug:
        out.add_argument(
            "--debug",
            action="store_true",
            help="log every HTTP request and response on stderr (secrets are redacted)",
        )


def add_from_file_option(parser: argparse._ActionsContainer) -> None:
    """``--from-file``/``-f``: the references of a batch from a file or stdin."""
    parser.add_argument(
        "--from-file",
        "-f",
        metavar="FILE",
        help="read references from FILE (- for stdin), one per line, # comments",
    )


def add_platform_option(parser: argparse._ActionsContainer, help: str) -> None:
    """``--platform OS/ARCH[/VARIANT]``: one image of an index."""
    parser.add_argument("--platform", metavar="OS/ARCH[/VARIANT]", help=help)


def add_verify_key_option(parser: argparse.ArgumentParser) -> None:
    """``--verify-key PUB.pem`` for the deploy gates (exists, check, pin): only signed images pass (exit 8)."""
    parser.add_argument(
        "--verify-key",
        action="append",
        metavar="PUB.pem",
        help="also require a signature by this public key (repeatable; exit 8 when not verified; "
        "needs pip install 'ocireg[verify]')",
    )


def add_registry_argument(
    parser: argparse.ArgumentParser, help: str = "host[:port] (inside GitLab CI: $CI_REGISTRY)"
) -> None:
    """The optional ``REGISTRY`` of the commands that act on a whole registry."""
    parser.add_argument("registry", nargs="?", metavar="REGISTRY", help=help)


def _add_connection_options(conn: argparse._ActionsContainer) -> None:
    conn.add_argument(
        "--username", "-u", metavar="USER", help="user name for the registry (with --password-stdin)"
    )
    conn.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password or token from the first line of standard input",
    )
    conn.add_argument(
        "--ca-file", metavar="PEM", help="extra CA certificate(s) to trust (also OCIREG_CA_FILE)"
    )
    conn.add_argument(
        "--plain-http",
        metavar="HOST[:PORT]",
        action="append",
        help="allow plain HTTP to this registry (repeatable; also OCIREG_PLAIN_HTTP). "
        "Loopback registries fall back to HTTP automatically",
    )
    conn.add_argument(
        "--insecure-skip-tls-verify",
        metavar="HOST[:PORT]",
        action="append",
        help="do not verify the TLS certificate of this host (repeatable; warns each run)",
    )
    conn.add_argument(
        "--timeout",
        type=positive_duration,
        default=120.0,
        metavar="DURATION",
        help="give up on an operation after this long, retries included: 30, 30s, 1m30s, 2h (default 2m)",
    )
    conn.add_argument(
        "--no-token-cache",
        action="store_true",
        help="neither read nor write the token cache (also OCIREG_TOKEN_CACHE=0)",
    )


MAX_JOBS = 32


def add_jobs_option(parser: argparse._ActionsContainer, what: str, *, default: int = 8) -> None:
    """The one ``--jobs``/``-j`` (1 to :data:`MAX_JOBS`), for every command that works concurrently."""
    parser.add_argument(
        "--jobs",
        "-j",
        type=jobs,
        default=default,
        metavar="N",
        help=f"{what} (default {default}, at most {MAX_JOBS})",
    )


# Shown in `ocireg --help`; tests/unit/test_cli_globals.py checks it against add_common_options.
GLOBAL_OPTIONS_HELP = """\
global options (before or after the command; after wins when both are given):
  -o, --output FORMAT       text, json, jsonl or dotenv (which ones: see the command's --help)
  -q, --quiet               print nothing on stdout; rely on the exit code
  --debug                   log every HTTP request and response on stderr (secrets redacted)
  -u, --username USER       user name for the registry (with --password-stdin)
  --password-stdin          read the password or token from standard input
  --ca-file PEM             extra CA certificate(s) to trust (also OCIREG_CA_FILE)
  --plain-http HOST[:PORT]  allow plain HTTP to this registry (also OCIREG_PLAIN_HTTP)
  --insecure-skip-tls-verify HOST[:PORT]
                            do not verify this host's TLS certificate
  --timeout DURATION        per operation, retries included: 30, 30s, 1m30s, 2h
  --no-token-cache          neither read nor write the token cache
  -j, --jobs N              work done concurrently, for commands that batch
  -f, --from-file FILE      read references from FILE (- for stdin), for commands that batch
  --fail-fast               stop at the first error, for commands that batch"""


def duration(text: str) -> float:
    """One duration type for every duration option: ``90``, ``90s``, ``1m30s``, ``2h``, ``1.5s``, ``500ms``."""
    from ocireg.duration import parse_duration
    from ocireg.errors import UsageError

    try:
        return parse_duration(text)
    except UsageError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def positive_duration(text: str) -> float:
    """A :func:`duration` of at least 100 ms (a timeout or an interval of zero would never wait)."""
    seconds = duration(text)
    if seconds < 0.1:
        raise argparse.ArgumentTypeError(f"must be at least 100ms: {text!r}")
    return seconds


def jobs(text: str) -> int:
    """``--jobs``: a whole number from 1 to :data:`MAX_JOBS` (the one validator every command uses)."""
    if not text.isdigit() or not 1 <= int(text) <= MAX_JOBS:
        raise argparse.ArgumentTypeError(f"must be a whole number from 1 to {MAX_JOBS}: {text!r}")
    return int(text)
