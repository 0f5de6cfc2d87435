"""Options shared by commands, and the help texts they repeat."""

from __future__ import annotations

import argparse
import math

__all__ = ["CREDENTIALS_HELP", "add_common_options"]

CREDENTIALS_HELP = """\
credentials, first match wins (per registry host):
  1. --username USER --password-stdin, or OCIREG_USERNAME/OCIREG_PASSWORD
  2. inside GitLab CI, for CI_REGISTRY only: CI_REGISTRY_USER/CI_REGISTRY_PASSWORD,
     then gitlab-ci-token/CI_JOB_TOKEN, then CI_DEPLOY_USER/CI_DEPLOY_PASSWORD
  3. DOCKER_AUTH_CONFIG (JSON, as GitLab runners use)
  4. REGISTRY_AUTH_FILE, $XDG_RUNTIME_DIR/containers/auth.json, $DOCKER_CONFIG/config.json
     or ~/.docker/config.json (credHelpers > credsStore > auths)
  5. anonymous"""


def add_common_options(parser: argparse.ArgumentParser, *, batch: bool = False, dotenv: bool = False) -> None:
    """Output and connection options. ``batch``: every format; ``dotenv``: text, json and dotenv."""
    out = parser.add_argument_group("output")
    formats = ["text", "json", "jsonl", "dotenv"] if batch else ["text", "json"]
    if dotenv and not batch:
        formats.append("dotenv")
    out.add_argument("-o", "--output", choices=formats, default="text", help="output format (default: text)")
    out.add_argument(
        "-q", "--quiet", action="store_true", help="print nothing on stdout; rely on the exit code"
    )
    out.add_argument(
        "--debug",
        action="store_true",
        help="log every HTTP request and response on stderr (secrets are redacted)",
    )
    conn = parser.add_argument_group("connection")
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
        type=_positive_float,
        default=120.0,
        metavar="SECONDS",
        help="give up on an operation after this many seconds, retries included (default 120)",
    )
    conn.add_argument(
        "--no-token-cache",
        action="store_true",
        help="neither read nor write the token cache (also OCIREG_TOKEN_CACHE=0)",
    )
    if batch:
        conn.add_argument(
            "--jobs",
            "-j",
            type=_jobs,
            default=8,
            metavar="N",
            help="references checked concurrently (default 8, at most 32)",
        )
        conn.add_argument(
            "--from-file",
            "-f",
            metavar="FILE",
            help="read references from FILE (- for stdin), one per line, # comments",
        )
        conn.add_argument("--fail-fast", action="store_true", help="stop at the first error")


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if math.isnan(value) or not 0 < value <= 86400 * 7:
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds: {text!r}")
    return value


def _jobs(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 32:
        raise argparse.ArgumentTypeError(f"must be a whole number from 1 to 32: {text!r}")
    return int(text)
