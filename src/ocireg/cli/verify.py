"""``ocireg verify`` and the ``--verify-key`` option of the deploy gates (#24, docs/architecture.md §10)."""

from __future__ import annotations

import argparse
from _thread import allocate_lock

from ocireg.cli.exitcodes import EXIT_CODE_HELP, ExitCode, exit_code_for, worst
from ocireg.cli.options import CREDENTIALS_HELP, add_common_options, add_platform_option
from ocireg.cli.parser import add_command
from ocireg.cli.render import SCHEMA, error_json, json_text, print_error, text_table, write_json
from ocireg.errors import UsageError
from ocireg.text import escape

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

    from ocireg.cli.context import Context
    from ocireg.operations.verify import VerifyResult
    from ocireg.signatures.keyless import KeylessPolicy
    from ocireg.signatures.policy import TrustPolicy

__all__ = [
    "cmd_verify",
    "register",
    "run_verify",
    "trust_policy",
    "verify_dotenv_lines",
    "verify_key_policy",
]

VERIFY_EPILOG = f"""\
examples:
  ocireg verify --key cosign.pub registry.example.com/group/app:v1.2.3
  ocireg verify --key cosign.pub --platform linux/amd64 app:1     # the image a deploy on amd64 runs
  ocireg verify --key old.pub --key new.pub -o json --from-file images.txt
  ocireg exists --verify-key cosign.pub :v1.2.3                    # the same, as a deploy gate
  ocireg verify --key cosign.pub -o dotenv :v1.2.3 > ok.env         # OCIREG_DIGEST: what to deploy
  ocireg check --verify-key cosign.pub compose.yaml k8s/           # every image in the files

A deploy gate in a shell script:
  ocireg verify --key cosign.pub "$IMAGE" && ./deploy.sh "$IMAGE"
Deploy the digest that verified rather than the tag again (a push in between moves
the tag): -o dotenv writes OCIREG_DIGEST and OCIREG_REFERENCE (repository@digest)
only when the image verified.

Signatures are looked for where cosign, skopeo and podman put them: the
sha256-<hex>.sig tag, OCI 1.1 referrers (cosign's signature artifact) and sigstore
bundles (cosign 3). Any one signature by a trusted key that names this digest and
this identity is enough. Exit 8 (not verified) comes with a reason: no-signature,
untrusted-signature (no signature verifies with a trusted key, or its bytes were
altered), digest-mismatch (a valid signature for another image), identity-mismatch.

--identity repository (default): the signed docker-reference names the same
  repository (what cosign writes); exact: a tag reference needs the signed repo:tag,
  a digest reference the same repository (containers-policy matchRepoDigestOrExact).
An index without --platform: the index itself must be signed (cosign's default);
with --platform P: the platform image (skopeo and podman check only that one).

Needs the 'cryptography' package: pip install 'ocireg[verify]' (exit 2 without it).

{EXIT_CODE_HELP}

{CREDENTIALS_HELP}"""


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = add_command(sub, "verify", "Verify that each image is signed by a trusted key.", VERIFY_EPILOG)
    p.add_argument(
        "references", nargs="*", metavar="REF", help="image reference, e.g. registry/group/app:tag"
    )
    trust = p.add_argument_group("trust")
    trust.add_argument(
        "--key",
        action="append",
        metavar="PUB.pem",
        help="trusted public key (PEM: ECDSA P-256/P-384, RSA, Ed25519; repeatable: any one may sign)",
    )
    trust.add_argument(
        "--identity",
        choices=["repository", "exact"],
        default="repository",
        help="which signed identities are accepted (default: repository)",
    )
    trust.add_argument("--certificate-identity", metavar="EMAIL|URI", help="keyless: the signer's identity")
    trust.add_argument("--certificate-oidc-issuer", metavar="URL", help="keyless: the signer's OIDC issuer")
    trust.add_argument("--trusted-root", metavar="JSON", help="keyless: sigstore trusted_root.json")
    trust.add_argument(
        "--fulcio-ca", metavar="PEM", help="keyless: Fulcio CA certificate(s), with --rekor-key"
    )
    trust.add_argument("--rekor-key", metavar="PEM", help="keyless: Rekor's public key, with --fulcio-ca")
    add_platform_option(p, "verify this platform's image of an index (what a deploy on it runs)")
    add_common_options(p, batch=True)


def verify_key_policy(ctx: Context) -> TrustPolicy | None:
    """The gates' ``--verify-key`` policy (every key loaded, exit 2 for a bad one), or None without it."""
    keys = getattr(ctx.args, "verify_key", None)
    return trust_policy(ctx, keys, option="--verify-key") if keys else None


def _keyless(ctx: Context) -> KeylessPolicy | None:
    args = ctx.args
    given = [
        args.certificate_identity,
        args.certificate_oidc_issuer,
        args.trusted_root,
        args.fulcio_ca,
        args.rekor_key,
    ]
    if not any(given):
        return None
    from ocireg.signatures.keyless import load_keyless_policy

    return load_keyless_policy(
        identity=args.certificate_identity,
        issuer=args.certificate_oidc_issuer,
        trusted_root=args.trusted_root,
        fulcio_ca=args.fulcio_ca,
        rekor_key=args.rekor_key,
    )


def trust_policy(
    ctx: Context, keys: Sequence[str] | None, identity: str = "repository", *, option: str = "--key"
) -> TrustPolicy:
    """The trust policy of the command line: every key file loaded (exit 2 for a bad one) before any request."""
    from ocireg.signatures.keys import load_key, require_crypto
    from ocireg.signatures.policy import TrustPolicy

    require_crypto()
    keyless = _keyless(ctx) if hasattr(ctx.args, "certificate_identity") else None
    if keys and keyless is not None:
        raise UsageError("give --key or the keyless options (--certificate-identity ...), not both")
    if not keys and keyless is None:
        raise UsageError(
            "nothing to trust: pass --key PUB.pem (or --certificate-identity, --certificate-oidc-issuer and a "
            "trust root for keyless signatures)"
        )
    loaded = tuple(load_key(path, option) for path in keys or ())
    return TrustPolicy(keys=loaded, identity=identity, keyless=keyless)


def cmd_verify(ctx: Context) -> int:
    return run_verify(ctx, "verify")


def run_verify(ctx: Context, command: str) -> int:
    """``verify``, or a gate with ``--verify-key`` (``exists``): references in, one result each, worst code out."""
    from ocireg.cli.core import parse_reference_args, read_reference_args

    keys = ctx.args.key if command == "verify" else ctx.args.verify_key
    option = "--key" if command == "verify" else "--verify-key"
    policy = trust_policy(ctx, keys, getattr(ctx.args, "identity", "repository"), option=option)
    parsed = parse_reference_args(ctx, read_reference_args(ctx))
    if parsed is None:
        return ExitCode.USAGE
    if ctx.output == "dotenv" and len(parsed) > 1:
        raise UsageError(f"-o dotenv takes one reference with {command}; use -o json for several")
    platform = None
    if getattr(ctx.args, "platform", None):
        from ocireg.manifest import parse_platform

        platform = parse_platform(ctx.args.platform)
    from ocireg.cli.progress import progress
    from ocireg.operations.verify import verify_references

    stream = _JsonlStream(ctx, command) if ctx.output == "jsonl" and not ctx.quiet else None
    with progress(ctx, total=len(parsed), description="verifying", enabled=stream is None) as bar:
        results = verify_references(
            ctx.client(),
            parsed,
            policy,
            platform=platform,
            jobs=ctx.args.jobs,
            fail_fast=bool(getattr(ctx.args, "fail_fast", False)),
            on_result=stream or bar.on_result,
        )
    code = worst(exit_code_for(r.error) for r in results)
    _render(ctx, command, results, code)
    return code


def result_json(result: VerifyResult) -> dict[str, object]:
    """One reference's result as JSON (``verify -o json``/``jsonl``, ``exists --verify-key``)."""
    doc: dict[str, object] = {
        "input": result.text,
        "reference": str(result.reference) if result.reference is not None else None,
        "status": result.status,
        "digest": str(result.digest) if result.digest else None,
        "reason": result.reason,
        "signer": result.signer,
        "source": result.source,
        "signatures_checked": result.checked,
    }
    if result.error is not None:
        doc["error"] = error_json(result.error)
    doc["exit_code"] = int(exit_code_for(result.error))
    return doc


class _JsonlStream:
    """``-o jsonl``: each result as soon as it and every earlier one are done (input order)."""

    def __init__(self, ctx: Context, command: str) -> None:
        self._ctx, self._command = ctx, command
        self._pending: dict[int, VerifyResult] = {}
        self._next = 0
        self._lock = allocate_lock()

    def __call__(self, index: int, result: VerifyResult) -> None:
        with self._lock:
            self._pending[index] = result
            while self._next in self._pending:
                ready = self._pending.pop(self._next)
                self._ctx.out(json_text({"schema": SCHEMA, "command": self._command, **result_json(ready)}))
                self._ctx.stdout.flush()
                self._next += 1


def _row(result: VerifyResult) -> list[str]:
    shown = escape(str(result.reference) if result.reference is not None else result.text)
    digest = str(result.digest or "")
    if result.status == "verified":
        return ["verified", shown, digest, escape(f"by {result.signer} ({result.source})")]
    if result.status == "not-verified":
        return ["not-verified", shown, digest, result.reason or ""]
    return [result.status, shown, digest, f"exit {int(exit_code_for(result.error))}"]


def verify_dotenv_lines(result: VerifyResult) -> list[str]:
    """``-o dotenv`` of one reference, the keys of ``digest -o dotenv``: the digest and the digest reference only
    when verified, so that a deploy job runs the digest that was verified instead of resolving the tag again (a
    tag can move in between); an image that did not verify leaves no digest to deploy (docs/architecture.md §10).
    """
    lines = [f"OCIREG_STATUS={result.status}"]
    if result.status == "verified" and result.digest is not None and result.reference is not None:
        lines.append(f"OCIREG_DIGEST={result.digest}")
        lines.append(f"OCIREG_REFERENCE={result.reference.repository}@{result.digest}")
    return lines


def _render(ctx: Context, command: str, results: Sequence[VerifyResult], code: ExitCode) -> None:
    if not ctx.quiet:
        if ctx.output == "json":
            write_json(ctx, command, {"results": [result_json(r) for r in results], "exit_code": int(code)})
        elif ctx.output == "dotenv":
            for result in results:  # one reference (run_verify refuses more)
                for line in verify_dotenv_lines(result):
                    ctx.out(line)
        elif ctx.output == "text":
            for line in text_table([_row(r) for r in results]):
                ctx.out(line)
    for result in results:
        if result.error is not None and result.status != "absent":
            print_error(ctx, result.error)
