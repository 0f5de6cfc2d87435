"""``ocireg tag``, ``copy``, ``delete``, ``login`` and ``logout``: the commands that change things."""

from __future__ import annotations

import argparse
import threading
import time
from typing import TYPE_CHECKING

from ocireg.cli.exitcodes import EXIT_CODE_HELP, ExitCode
from ocireg.cli.options import (
    CREDENTIALS_HELP,
    add_common_options,
    add_jobs_option,
    add_output_options,
    add_platform_option,
    add_registry_argument,
)
from ocireg.cli.parser import add_command
from ocireg.cli.render import human_size, text_table, write_json
from ocireg.errors import UsageError
from ocireg.text import escape

if TYPE_CHECKING:
    from ocireg.cli.context import Context
    from ocireg.cli.progress import NullProgress
    from ocireg.operations.delete import DeleteMode
    from ocireg.reference import Digest, Reference, Registry

__all__ = ["cmd_copy", "cmd_delete", "cmd_login", "cmd_logout", "cmd_tag", "register"]

TAG_EPILOG = f"""\
examples:
  ocireg tag registry.example.com/group/project:rc-42 v1.2.3 stable
  ocireg tag :$CI_COMMIT_SHORT_SHA latest        # inside GitLab CI: $CI_REGISTRY_IMAGE
  ocireg tag --no-clobber app:rc-42 v1.2.3       # refuse to move v1.2.3 if it exists

The manifest's exact bytes are PUT under each new tag with the same media type, so the
digest does not change; manifests and multi-platform indexes alike, nothing is pulled.
New tags are bare tags (or references in the same repository); to another repository
or registry use 'ocireg copy'. --no-clobber checks every tag first and changes nothing
(exit 2) if one already points to another image.

{EXIT_CODE_HELP}"""

COPY_EPILOG = f"""\
examples:
  ocireg copy registry.example.com/group/app:v1 registry.example.com/group/prod:v1
  ocireg copy :$CI_COMMIT_SHA registry.example.com/release/app:1.4.0
  ocireg copy --platform linux/amd64 docker.io/library/alpine:3.20 localhost:5000/alpine:3.20
  ocireg copy -o json app:v1 mirror.example.com/app      # DST without tag: the source's tag
  ocireg copy --referrers :v1.4.0 registry.example.com/release/app:1.4.0   # signatures, SBOMs too

Same registry: blobs are mounted across repositories (no data moves). Other registries:
blobs are streamed from source to destination (bounded memory), size and digest checked
on the way; a blob that does not match is never committed. Blobs already at the
destination are skipped. An index is copied with every platform (--platform copies one,
and DST then names that platform's manifest); children before the index, the tag last,
so a failed copy leaves the destination tag as it was. The destination digest equals the
source digest. --timeout applies to each blob transfer.

--referrers also copies the manifests that refer to the image (signatures, SBOMs,
attestations: see 'ocireg referrers'), and theirs. A destination without the referrers
API (distribution 2.8, GitLab) gets them listed under the sha256-<hex> tag, where oras,
cosign and notation look for them.

{EXIT_CODE_HELP}

{CREDENTIALS_HELP}"""

DELETE_EPILOG = f"""\
examples:
  ocireg delete registry.example.com/group/project:feature-x
  ocireg delete --untag registry.example.com/group/project:feature-x    # distribution 2.x
  ocireg delete --manifest --dry-run registry.example.com/group/project:old
  ocireg delete --ignore-missing :mr-$CI_MERGE_REQUEST_IID             # cleanup job

A tag is deleted without ever removing other tags silently:
  (default)   the OCI tag delete (DELETE .../manifests/TAG; GitLab >= 16.4, distribution 3).
              A registry without it (distribution 2.x answers 400 DIGEST_INVALID) gets a
              refusal naming the two options below; nothing is deleted (exit 6).
  --untag     swap a unique throw-away manifest onto the tag and delete that by digest:
              the tag goes, every other tag on the image stays.
  --manifest  delete the image by digest, with every tag on it; they are listed first,
              and --yes is required when there are tags other than the one named.

exit codes for delete: 0 deleted (or absent with --ignore-missing, or --dry-run),
1 absent, 2 refused (other tags would disappear without --yes; a digest without
--manifest), 6 the registry cannot delete that way or has deletes disabled.

{EXIT_CODE_HELP}"""

LOGIN_EPILOG = f"""\
examples:
  echo "$CI_REGISTRY_PASSWORD" | ocireg login -u "$CI_REGISTRY_USER" --password-stdin "$CI_REGISTRY"
  ocireg login registry.example.com -u me --password-stdin < token.txt

The credentials are checked first (GET /v2/ with the registry's challenge answered: one
token request without a scope, as 'docker login' does), then stored where Docker keeps
them: the credential helper configured for the host (credHelpers, else credsStore) via
'docker-credential-NAME store', else "auths" in $DOCKER_CONFIG/config.json or
~/.docker/config.json (created 0600, replaced atomically, other settings kept).
The password is read from standard input only, never from the command line.

{EXIT_CODE_HELP}"""

LOGOUT_EPILOG = """\
examples:
  ocireg logout registry.example.com

Erases the stored login the way 'ocireg login' stored it (credential helper and
"auths" entry). Exits 0 also when there was nothing to erase."""


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    _tag_parser(sub)
    _copy_parser(sub)
    _delete_parser(sub)
    _login_parser(sub)
    _logout_parser(sub)


def _tag_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = add_command(sub, "tag", "Point new tags at the manifest SRC names, byte for byte.", TAG_EPILOG)
    p.add_argument("source", metavar="SRC", help="image reference to tag")
    p.add_argument("tags", nargs="+", metavar="NEWTAG", help="new tag (in SRC's repository)")
    p.add_argument("--no-clobber", action="store_true", help="refuse to move a tag that already exists")
    add_common_options(p)


def _copy_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = add_command(
        sub, "copy", "Copy SRC to DST: blobs mounted or streamed, manifests byte for byte.", COPY_EPILOG
    )
    p.add_argument("source", metavar="SRC", help="image reference to copy")
    p.add_argument("destination", metavar="DST", help="destination reference (tag defaults to SRC's)")
    add_platform_option(p, "copy only this platform of an index")
    p.add_argument(
        "--referrers", action="store_true", help="also copy signatures, SBOMs and attestations of the image"
    )
    add_jobs_option(p, "blobs transferred at once", default=4)
    add_common_options(p)


def _delete_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = add_command(
        sub,
        "delete",
        "Delete a tag; --untag or --manifest where the registry cannot delete a tag alone.",
        DELETE_EPILOG,
    )
    p.add_argument("reference", metavar="REF", help="REPO:TAG (or REPO@DIGEST with --manifest)")
    how = p.add_mutually_exclusive_group()
    how.add_argument(
        "--untag", action="store_true", help="swap a throw-away manifest onto the tag and delete that"
    )
    how.add_argument(
        "--manifest", action="store_true", help="delete the image by digest, with every tag on it"
    )
    p.add_argument("--yes", "-y", action="store_true", help="with --manifest: also when other tags go")
    p.add_argument("--dry-run", action="store_true", help="say what would be deleted; change nothing")
    p.add_argument(
        "--ignore-missing", action="store_true", help="exit 0 when the tag does not exist (cleanup jobs)"
    )
    add_jobs_option(p, "tags resolved at once by --manifest")
    add_common_options(p)


def _login_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = add_command(
        sub,
        "login",
        "Verify a user name and password (or token) with the registry, then store them.",
        LOGIN_EPILOG,
    )
    add_registry_argument(p)
    add_common_options(p)


def _logout_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = add_command(
        sub,
        "logout",
        "Erase the credentials 'ocireg login' (or 'docker login') stored for REGISTRY.",
        LOGOUT_EPILOG,
    )
    add_registry_argument(p)
    add_output_options(p, ["text", "json"], debug=False)  # logout sends nothing


# ------------------------------------------------------------------------------------------------------ tag


def _tag_target(ctx: Context, source: Reference, text: str) -> Reference:
    """A bare tag, or a reference that must be a tag in ``source``'s repository."""
    from ocireg.reference import parse_reference, parse_tag

    if not any(c in text for c in "/:@"):
        return source.with_tag(parse_tag(text))
    target = parse_reference(ctx.reference_text(text), default_tag=None)
    if target.repository != source.repository:
        raise UsageError(
            f"{escape(text)!r} is in another repository than the source; 'ocireg tag' adds tags in the same "
            "repository, use 'ocireg copy SRC DST' for another one"
        )
    if target.tag is None or target.digest is not None:
        raise UsageError(f"{escape(text)!r}: a new tag must be a tag (no digest)")
    return target


def cmd_tag(ctx: Context) -> int:
    from ocireg.operations.retag import retag

    source = ctx.parse_reference(ctx.args.source)
    targets = list(dict.fromkeys(_tag_target(ctx, source, t) for t in ctx.args.tags))
    result = retag(ctx.client(), source, targets, no_clobber=bool(ctx.args.no_clobber))
    if ctx.quiet:
        return ExitCode.OK
    if ctx.output == "json":
        write_json(
            ctx,
            "tag",
            {
                "source": str(result.source),
                "digest": str(result.digest),
                "media_type": result.media_type,
                "tags": [
                    {
                        "reference": str(t.reference),
                        "tag": t.reference.tag,
                        "status": t.status,
                        "previous": str(t.previous) if t.previous else None,
                    }
                    for t in result.tags
                ],
                "exit_code": 0,
            },
        )
        return ExitCode.OK
    rows = [
        [t.status, escape(str(t.reference)), str(result.digest) + _was(t.previous, result.digest)]
        for t in result.tags
    ]
    for line in text_table(rows):
        ctx.out(line)
    return ExitCode.OK


def _was(previous: Digest | None, digest: Digest) -> str:
    """A moved tag says which image it named before (#23)."""
    return f"  (was {previous})" if previous is not None and previous != digest else ""


# ----------------------------------------------------------------------------------------------------- copy


class _CopyProgress:
    """Feeds :func:`ocireg.cli.progress.progress` (spinner + elapsed time) with bytes done, at most 10 times a second.

    Thread-safe: blob workers call :meth:`advanced` concurrently.
    """

    def __init__(self, display: NullProgress) -> None:
        self._display = display
        self._lock = threading.Lock()
        self._blobs = 0
        self._total = 0
        self._done = 0
        self._shown = 0.0

    def planned(self, blobs: int, size: int) -> None:
        with self._lock:
            self._blobs += blobs
            self._total += size
            self._show(force=True)

    def advanced(self, size: int) -> None:
        with self._lock:
            self._done += size
            self._show(force=False)

    def _show(self, *, force: bool) -> None:
        now = time.monotonic()
        if not force and now - self._shown < 0.1:
            return
        self._shown = now
        percent = 100 * self._done // self._total if self._total else 100
        self._display.describe(
            f"copying {self._blobs} blob(s): {human_size(self._done, exact=False)} of {human_size(self._total, exact=False)} ({percent}%)"
        )


def _copy_destination(ctx: Context, source: Reference, text: str) -> Reference:
    """DST as given; without tag or digest it takes the source's tag (or, for a digest source, its digest)."""
    from ocireg.reference import Reference, parse_reference

    destination = parse_reference(ctx.reference_text(text), default_tag=None)
    if destination.tag is None and destination.digest is None:
        if source.tag is not None:
            return Reference(destination.repository, source.tag)
        return Reference(destination.repository, None, source.digest)
    return destination


def cmd_copy(ctx: Context) -> int:
    from ocireg.operations.copy import copy_image

    source = ctx.parse_reference(ctx.args.source)
    destination = _copy_destination(ctx, source, ctx.args.destination)
    platform = None
    if ctx.args.platform:
        from ocireg.manifest import parse_platform

        platform = parse_platform(ctx.args.platform)
    from ocireg.cli.progress import progress

    with progress(ctx, total=None, description="copying", min_items=0) as display:
        result = copy_image(
            ctx.client(),
            source,
            destination,
            platform=platform,
            jobs=ctx.args.jobs,
            progress=_CopyProgress(display),
            referrers=bool(ctx.args.referrers),
        )
    if ctx.quiet:
        return ExitCode.OK
    if ctx.output == "json":
        write_json(
            ctx,
            "copy",
            {
                "source": str(result.source),
                "destination": str(result.destination),
                "digest": str(result.digest),
                "media_type": result.media_type,
                "platform": str(result.platform) if result.platform else None,
                "manifests": result.manifests,
                "blobs": {
                    "total": result.blobs,
                    "uploaded": result.uploaded,
                    "mounted": result.mounted,
                    "skipped": result.skipped,
                },
                "bytes_uploaded": result.bytes_uploaded,
                "referrers": result.referrers,
                "exit_code": 0,
            },
        )
        return ExitCode.OK
    ctx.out(f"copied  {escape(str(result.source))} -> {escape(str(result.destination))}")
    ctx.out(
        f"        {result.manifests} manifest(s), {result.blobs} blob(s): {result.uploaded} uploaded "
        f"({human_size(result.bytes_uploaded, exact=False)}), {result.mounted} mounted, {result.skipped} already there"
    )
    if ctx.args.referrers:
        ctx.out(f"        {result.referrers} referrer(s) (signatures, SBOMs, attestations)")
    return ExitCode.OK


# --------------------------------------------------------------------------------------------------- delete


def cmd_delete(ctx: Context) -> int:
    import threading

    from ocireg.cli.interrupts import deferred_interrupt
    from ocireg.operations.delete import delete
    from ocireg.reference import parse_reference

    args = ctx.args
    ref = parse_reference(ctx.reference_text(args.reference), default_tag=None)
    if ref.tag is None and ref.digest is None:
        raise UsageError(f"{escape(args.reference)!r}: name the tag to delete (REPO:TAG), or REPO@DIGEST")
    if args.yes and not args.manifest:
        raise UsageError("--yes goes with --manifest (it allows deleting other tags on the same image)")
    mode: DeleteMode = "untag" if args.untag else "manifest" if args.manifest else "tag"
    stop = threading.Event()
    # --untag is a swap then a delete: the first Ctrl-C lets it finish (a second one stops at once, and the
    # operation prints how to restore the tag).
    with deferred_interrupt(
        ctx.err, stop, "ocireg: interrupt: finishing the delete, then stopping (Ctrl-C again: at once)"
    ):
        result = delete(
            ctx.client(),
            ref,
            mode=mode,
            yes=bool(args.yes),
            dry_run=bool(args.dry_run),
            ignore_missing=bool(args.ignore_missing),
            jobs=args.jobs,
        )
    code = ExitCode.INTERRUPTED if stop.is_set() else ExitCode.OK
    if stop.is_set():
        ctx.err(f"ocireg: interrupted after the delete finished ({result.status})")
    if ctx.quiet:
        return code
    if ctx.output == "json":
        write_json(
            ctx,
            "delete",
            {
                "reference": str(result.reference),
                "mode": result.mode,
                "status": result.status,
                "dry_run": bool(args.dry_run),
                "digest": str(result.digest) if result.digest else None,
                "removed_tags": list(result.removed_tags),
                "deleted_manifest": str(result.deleted_manifest) if result.deleted_manifest else None,
                "exit_code": int(code),
            },
        )
        return code
    shown = escape(str(result.reference))
    if result.status == "absent":
        ctx.out(f"absent  {shown}  (nothing to delete)")
        return code
    verb = "deleted" if result.status == "deleted" else "would delete"
    if result.mode == "manifest":
        tags = ", ".join(escape(t) for t in result.removed_tags) or "none"
        ctx.out(f"{verb} manifest {result.deleted_manifest} of {escape(str(ref.repository))}; tags: {tags}")
    else:
        ctx.out(f"{verb} tag {shown}  (it pointed to {result.digest}; other tags untouched)")
    return code


# ------------------------------------------------------------------------------------------- login / logout


def _registry_arg(ctx: Context) -> Registry:
    from ocireg.credentials import registry_key
    from ocireg.reference import Registry

    text = ctx.args.registry
    if not text:
        ci = ctx.gitlab
        if ci is None or ci.registry is None:
            raise UsageError(
                "name the registry, e.g. 'ocireg login registry.example.com -u USER --password-stdin'"
            )
        return ci.registry
    name = registry_key(text)
    if name is None:
        raise UsageError(f"{escape(text)!r} is not a registry (host[:port], e.g. registry.example.com)")
    return Registry(name)


def cmd_login(ctx: Context) -> int:
    from ocireg.client import RegistryClient
    from ocireg.credentials import docker_config_path, store_credential
    from ocireg.operations.login import verify_login

    registry = _registry_arg(ctx)
    credential = ctx.explicit_credential()
    if credential is None or not credential.username or not credential.password:
        raise UsageError(
            'login needs --username USER --password-stdin: echo "$TOKEN" | ocireg login REGISTRY -u USER '
            "--password-stdin"
        )
    # No token cache: login must prove the credentials with a fresh exchange, not with an old token.
    with RegistryClient(credential, config=ctx.transport_config()) as client:
        check = verify_login(client, registry)
    if not check.challenged:
        ctx.warn(
            f"{registry} did not ask for credentials, so they could not be verified; storing them anyway"
        )
    where = store_credential(
        docker_config_path(ctx.env, ctx.home()),
        registry,
        credential.username,
        credential.password,
        env=ctx.env,
    )
    if ctx.quiet:
        return ExitCode.OK
    if ctx.output == "json":
        write_json(
            ctx,
            "login",
            {
                "registry": registry.name,
                "username": credential.username,
                "verified": check.challenged,
                "stored_in": where,
                "exit_code": 0,
            },
        )
    else:
        ctx.out(f"login succeeded: {escape(credential.username)} at {registry} (stored in {escape(where)})")
    return ExitCode.OK


def cmd_logout(ctx: Context) -> int:
    from ocireg.credentials import docker_config_path, erase_credential

    registry = _registry_arg(ctx)
    path = docker_config_path(ctx.env, ctx.home())
    erased = erase_credential(path, registry, env=ctx.env)
    if ctx.quiet:
        return ExitCode.OK
    if ctx.output == "json":
        write_json(ctx, "logout", {"registry": registry.name, "erased": erased, "exit_code": 0})
    elif erased:
        ctx.out(f"logged out of {registry}")
    else:
        ctx.out(f"not logged in to {registry}; nothing to erase")
    return ExitCode.OK
