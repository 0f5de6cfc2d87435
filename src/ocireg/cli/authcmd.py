"""``ocireg auth explain``: show, step by step, why access to an image works or does not (never a secret)."""

from __future__ import annotations

import argparse
import datetime as dt
import time
from typing import TYPE_CHECKING

from ocireg.cli.exitcodes import EXIT_CODE_HELP, exit_code_for
from ocireg.cli.options import CREDENTIALS_HELP, add_common_options
from ocireg.cli.parser import add_command
from ocireg.cli.render import error_json, print_error, text_table, write_json
from ocireg.errors import UsageError
from ocireg.text import escape

if TYPE_CHECKING:
    from ocireg.cli.context import Context
    from ocireg.operations.explain import ChallengeInfo, Explanation, TokenInfo

__all__ = ["cmd_auth", "cmd_explain", "register"]

UNVERIFIED = "JWT claims decoded WITHOUT signature verification, for display only"

EXPLAIN_EPILOG = f"""\
examples:
  ocireg auth explain registry.example.com/group/project:v1.2.3
  ocireg auth explain --push :latest                 # inside GitLab CI: may this job push?
  echo "$TOKEN" | ocireg auth explain --username me --password-stdin --delete registry.example.com/g/p:old
  ocireg auth explain -o json registry.example.com/group/project | jq .token.granted

Shows: the credential source chosen and why, the registry's challenge (realm, service,
scope), the realm check, the token request, the access the token grants ({UNVERIFIED})
and the registry's answer. Secrets are never shown.

On GitLab an empty access list means: the project path is misspelt, the user lacks
the role or token scope, or (CI_JOB_TOKEN) the job's project is missing from the
target project's job token allowlist.

Exit codes are those of 'ocireg exists' (0 granted and present, 1 granted but absent,
3 credentials rejected, 4 not granted, ...); --push/--delete not granted is 4.

{EXIT_CODE_HELP}

{CREDENTIALS_HELP}"""


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    auth = add_command(
        sub,
        "auth",
        description="Authentication diagnostics.",
        epilog="examples:\n  ocireg auth explain registry.example.com/group/project:v1",
    )
    actions = auth.add_subparsers(dest="auth_command", metavar="SUBCOMMAND")
    p = actions.add_parser(
        "explain",
        help="why access to REF works or not: credential source, challenge, token, granted access",
        description="Explain, step by step, how ocireg authenticates for REF and what it is granted.",
        epilog=EXPLAIN_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("reference", metavar="REF", help="image reference, e.g. registry/group/app:tag")
    p.add_argument("--push", action="store_true", help="also ask for the push action")
    p.add_argument("--delete", action="store_true", help="also ask for the delete action")
    add_common_options(p)
    p.set_defaults(handler="ocireg.cli.authcmd:cmd_explain")


def cmd_auth(ctx: Context) -> int:
    raise UsageError("'ocireg auth' needs a subcommand: explain (see 'ocireg auth explain --help')")


def cmd_explain(ctx: Context) -> int:
    from ocireg.operations.explain import explain

    ref = ctx.parse_reference(ctx.args.reference)
    actions = ["pull"] + (["push"] if ctx.args.push else []) + (["delete"] if ctx.args.delete else [])
    chain = ctx.credential_chain()
    report = explain(ctx.client(), ref, actions=actions, chain=chain)
    code = exit_code_for(report.error)
    if ctx.quiet:
        pass
    elif ctx.output == "json":
        write_json(ctx, "auth explain", _json(report, int(code)))
    else:
        for line in _text(report):
            ctx.out(line)
    if report.error is not None:
        print_error(ctx, report.error)
    return code


def _when(timestamp: object) -> str:
    if isinstance(timestamp, bool) or not isinstance(timestamp, int | float):
        return escape(str(timestamp))
    try:
        when = dt.datetime.fromtimestamp(float(timestamp), tz=dt.timezone.utc)
    except (OverflowError, OSError, ValueError):
        return escape(str(timestamp))
    delta = round(float(timestamp) - time.time())
    relative = f"in {delta}s" if delta >= 0 else f"{-delta}s ago"
    return f"{when.strftime('%Y-%m-%dT%H:%M:%SZ')} ({relative})"


def _access_text(granted: tuple[tuple[str, str, tuple[str, ...]], ...] | None) -> str:
    if granted is None:
        return "(not a readable JWT)"
    if not granted:
        return "[] (nothing granted)"
    return "  ".join(escape(f"{kind}:{name}:{','.join(actions)}") for kind, name, actions in granted)


def _challenge_text(challenge: ChallengeInfo) -> str:
    if challenge.scheme == "none":
        return "none (the registry answered without asking for credentials)"
    params = [
        f'{name}="{escape(value)}"'
        for name, value in (
            ("realm", _redacted(challenge.realm)),
            ("service", challenge.service),
            ("scope", challenge.scope),
            ("error", challenge.error),
        )
        if value
    ]
    return f"{challenge.scheme.capitalize()} {' '.join(params)}"


def _claim_rows(token: TokenInfo) -> list[list[str]]:
    claims = token.claims
    rows = [[name, escape(str(claims[name]))] for name in ("sub", "iss", "aud") if name in claims]
    if "exp" in claims:
        rows.append(["exp", _when(claims["exp"])])
    rows.append(["access", _access_text(token.granted)])
    return rows


def _text(report: Explanation) -> list[str]:
    rows = [
        ["reference", escape(str(report.reference))],
        ["registry", escape(report.base_url or str(report.reference.registry))],
        *([["profile", escape(report.profile)]] if report.profile else []),
        ["wanted", escape(" ".join(report.wanted))],
    ]
    lines = text_table(rows)
    if report.sources:
        lines.append("credentials (first match wins)")
        lines += ["  " + line for line in text_table([[escape(s), escape(o)] for s, o in report.sources])]
    rows = []
    if report.credential is not None:
        rows.append(["chosen", escape(report.credential)])
    if report.challenge is not None:
        rows.append(["challenge", _challenge_text(report.challenge)])
    if report.realm_check is not None:
        rows.append(["realm check", escape(report.realm_check)])
    if report.token_outcome is not None:
        rows.append(["token request", escape(report.token_outcome)])
    lines += text_table(rows) if rows else []
    if report.token is not None:
        lines.append(f"granted ({UNVERIFIED})")
        lines += ["  " + line for line in text_table(_claim_rows(report.token))]
    rows = []
    if report.missing:
        rows.append(["not granted", ", ".join(report.missing)])
    if report.check is not None:
        rows.append(["registry", escape(report.check)])
    if report.error is None:
        rows.append(["result", f"OK: {', '.join(report.actions)} granted"])
    else:
        rows.append(["result", f"exit {int(exit_code_for(report.error))}: {type(report.error).__name__}"])
    lines += text_table(rows)
    error_hint = report.error.hint if report.error is not None else None
    lines += [
        f"{'hint:' if number == 0 else '     '} {escape(line)}"
        for hint in report.hints
        if hint != error_hint
        for number, line in enumerate(hint.split("\n"))
    ]
    return lines


def _redacted(url: str | None) -> str | None:
    # A realm's query may hold a secret (docs/architecture.md §4).
    from ocireg.transport import redact_url

    return redact_url(url) if url else None


def _json(report: Explanation, code: int) -> dict[str, object]:
    challenge = report.challenge
    token = report.token
    return {
        "reference": str(report.reference),
        "registry": str(report.reference.registry),
        "base_url": report.base_url,
        "profile": report.profile,
        "wanted": list(report.wanted),
        "credentials": {
            "sources": [{"source": s, "outcome": o} for s, o in report.sources],
            "chosen": report.credential,
            "username": report.username,
            "anonymous": report.anonymous,
        },
        "challenge": None
        if challenge is None
        else {
            "scheme": challenge.scheme,
            "realm": _redacted(challenge.realm),
            "service": challenge.service,
            "scope": challenge.scope,
            "error": challenge.error,
        },
        "realm_check": report.realm_check,
        "token": None
        if token is None
        else {
            "outcome": report.token_outcome,
            "expires_at": round(token.expires_at),
            "claims_unverified": dict(token.claims),
            "granted": None
            if token.granted is None
            else [{"type": k, "name": n, "actions": list(a)} for k, n, a in token.granted],
        },
        "token_outcome": report.token_outcome,
        "missing": list(report.missing),
        "registry_check": report.check,
        "digest": str(report.digest) if report.digest else None,
        "hints": list(report.hints),
        "error": error_json(report.error) if report.error is not None else None,
        "exit_code": code,
    }
