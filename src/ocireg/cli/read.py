"""``ocireg inspect``, ``ocireg tags`` and ``ocireg catalog``: read what a registry holds."""

from __future__ import annotations

import argparse
from collections.abc import Mapping

from ocireg.cli.exitcodes import EXIT_CODE_HELP, ExitCode, exit_code_for, worst
from ocireg.cli.options import add_common_options, add_jobs_option, add_platform_option, add_registry_argument
from ocireg.cli.parser import add_command
from ocireg.cli.render import error_json, human_size, print_error, text_table, write_json
from ocireg.errors import UsageError
from ocireg.text import escape

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ocireg.cli.context import Context
    from ocireg.manifest import Descriptor
    from ocireg.operations.inspect import Inspection
    from ocireg.operations.tags import TagListing
    from ocireg.reference import Registry, Repository

__all__ = ["cmd_catalog", "cmd_inspect", "cmd_referrers", "cmd_tags", "register", "write_bytes"]

INSPECT_EPILOG = f"""\
examples:
  ocireg inspect registry.example.com/group/project:v1.2.3
  ocireg inspect --platform linux/arm64 registry.example.com/group/project:v1.2.3
  ocireg inspect -o json :v1.2.3 | jq .labels          # inside GitLab CI
  ocireg inspect --raw app:1 | sha256sum               # the exact manifest bytes (hash = digest)
  ocireg inspect --config app:1 | jq .config.Env       # the image config, verified against its digest

For an index (multi-platform image) the platforms are listed; --platform inspects one.
-o json includes the registry's RateLimit-Limit/Remaining when it sends them.

{EXIT_CODE_HELP}"""

TAGS_EPILOG = f"""\
examples:
  ocireg tags registry.example.com/group/project
  ocireg tags --match 'v1.*' --sort semver registry.example.com/group/project
  ocireg tags --latest registry.example.com/group/project     # highest release, e.g. v1.10.0
  ocireg tags --latest --pre registry.example.com/group/project   # pre-releases count too
  ocireg tags --regex '^[0-9a-f]{{8}}$' --digests -o json registry.example.com/group/project
  ocireg tags                                   # inside GitLab CI: $CI_REGISTRY_IMAGE
  ocireg tags --sort published --reverse --limit 5 :    # GitLab: the 5 pushed last
  ocireg tags --latest --by published --match 'mr-*'    # GitLab: the tag pushed last

Steps, in this order: --match and --regex filter (both must pass; --regex searches,
anchor it with ^...$); --latest keeps the highest semantic version ([v]X.Y.Z, no
pre-releases unless --pre), or with --by published the tag pushed last; --sort (name:
code-point order; semver: versions by precedence, then other tags by name; published:
oldest push first; none: registry order), --reverse; --limit keeps the first N;
--digests resolves what is left, --jobs at a time.
Every page of a paginated registry is read (Link: rel="next", same host only).
On GitLab's registry (with its metadata database) --digests and the published modes
read /gitlab/v1 (one request per 1,000 tags, no HEAD per tag); elsewhere --digests
sends one HEAD per tag and the published modes exit 6 (no push dates recorded).
--latest exits 1 when no tag is a release.

{EXIT_CODE_HELP}"""

CATALOG_EPILOG = f"""\
examples:
  echo "$ADMIN_TOKEN" | ocireg catalog --username root --password-stdin registry.example.com
  ocireg catalog --limit 50 -o json localhost:5000

Most registries list their repositories to administrators only (GitLab: instance
admins, through the registry:catalog:* token scope); anyone else gets exit 4.

{EXIT_CODE_HELP}"""


REFERRERS_EPILOG = f"""\
examples:
  ocireg referrers registry.example.com/group/project:v1.2.3
  ocireg referrers --artifact-type application/spdx+json registry.example.com/group/project:v1.2.3
  ocireg referrers -o json :v1.2.3 | jq -r '.referrers[].digest'     # inside GitLab CI

Lists the manifests whose subject is the image: signatures, SBOMs and attestations pushed
by oras, cosign or notation. Uses the OCI 1.1 referrers API; on registries without it
(distribution 2.8, GitLab) it reads the sha256-<hex> index tag those tools maintain
instead (-o json says which: "source": "api" or "tag-schema").
The reference is resolved to its digest first: exit 1 if the image does not exist.
An image without referrers is exit 0 with an empty list.

{EXIT_CODE_HELP}"""


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    _inspect_parser(sub)
    _tags_parser(sub)
    _catalog_parser(sub)
    _referrers_parser(sub)


def _inspect_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = add_command(
        sub, "inspect", "Show what an image's manifest (or index) and config say.", INSPECT_EPILOG
    )
    p.add_argument("reference", metavar="REF", help="image reference, e.g. registry/group/app:tag")
    add_platform_option(p, "inspect this platform's image of an index")
    shown = p.add_mutually_exclusive_group()
    shown.add_argument("--raw", action="store_true", help="print the exact manifest bytes (nothing else)")
    shown.add_argument("--config", action="store_true", help="print the exact image config bytes (JSON)")
    add_common_options(p)


def _tags_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = add_command(sub, "tags", "List every tag of a repository, across all pages.", TAGS_EPILOG)
    p.add_argument("repository", nargs="?", metavar="REPO", help="repository, e.g. registry/group/app")
    query = p.add_argument_group("selection")
    query.add_argument("--match", metavar="GLOB", help="keep tags matching this shell pattern, e.g. 'v1.*'")
    query.add_argument("--regex", metavar="RE", help="keep tags in which this regular expression is found")
    query.add_argument(
        "--sort",
        choices=("name", "semver", "published", "none"),
        default="name",
        help="order (default: name; published: oldest push first, GitLab only)",
    )
    query.add_argument("--reverse", action="store_true", help="reverse the order")
    query.add_argument("--latest", action="store_true", help="only the highest release ([v]X.Y.Z)")
    query.add_argument("--pre", action="store_true", help="with --latest: pre-releases (X.Y.Z-rc1) count too")
    query.add_argument(
        "--by",
        choices=("semver", "published"),
        default="semver",
        help="with --latest: highest version (default) or the tag pushed last (published, GitLab only)",
    )
    query.add_argument("--limit", type=_count, metavar="N", help="at most N tags (after sorting)")
    query.add_argument("--digests", action="store_true", help="also resolve each tag's manifest digest")
    add_jobs_option(query, "digests resolved concurrently")
    add_common_options(p)


def _catalog_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = add_command(
        sub,
        "catalog",
        "List the repositories of a registry (/v2/_catalog), across all pages.",
        CATALOG_EPILOG,
    )
    add_registry_argument(p, "registry host[:port]")
    p.add_argument("--limit", type=_count, metavar="N", help="at most N repositories")
    add_common_options(p)


def _referrers_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = add_command(
        sub, "referrers", "List the manifests whose subject is an image (OCI referrers).", REFERRERS_EPILOG
    )
    p.add_argument("reference", metavar="REF", help="image reference, e.g. registry/group/app:tag")
    p.add_argument("--artifact-type", metavar="TYPE", help="only referrers of this artifact type")
    add_common_options(p)


def _count(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 10_000_000:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 1: {text!r}")
    return int(text)


# ---------------------------------------------------------------------------------------------- output helpers


def write_bytes(ctx: Context, data: bytes) -> None:
    """Write ``data`` to stdout unchanged: through the binary buffer when there is one (a real stdout)."""
    buffer = getattr(ctx.stdout, "buffer", None)
    if buffer is not None:
        ctx.stdout.flush()
        buffer.write(data)
        buffer.flush()
    else:  # an in-memory text stream (tests, embedders): manifests and configs are UTF-8 JSON
        ctx.stdout.write(data.decode("utf-8", errors="replace"))


def _mapping_lines(title: str, values: Mapping[str, str]) -> list[str]:
    if not values:
        return [f"{title}  (none)"]
    return [title] + [f"  {escape(k)}={escape(v)}" for k, v in sorted(values.items())]


def _descriptor_row(d: Descriptor) -> list[str]:
    return [str(d.digest), human_size(d.size), escape(d.media_type)]


# --------------------------------------------------------------------------------------------------- inspect


def cmd_inspect(ctx: Context) -> int:
    ref = ctx.parse_reference(ctx.args.reference)
    platform = None
    if ctx.args.platform:
        from ocireg.manifest import parse_platform

        platform = parse_platform(ctx.args.platform)
    from ocireg.operations.inspect import inspect

    result = inspect(ctx.client(), ref, platform=platform, fetch_config=True if ctx.args.config else None)
    if ctx.args.raw:
        write_bytes(ctx, result.raw)
        return ExitCode.OK
    if ctx.args.config:
        if result.config_raw is None:
            raise UsageError(
                f"{escape(str(ref))} is an index and has no config: pick an image with --platform "
                "(available: " + ", ".join(escape(str(p)) for p in _index_platforms(result)) + ")"
            )
        write_bytes(ctx, result.config_raw)
        return ExitCode.OK
    if ctx.quiet:
        return ExitCode.OK
    if ctx.output == "json":
        write_json(ctx, "inspect", result.to_json())
        return ExitCode.OK
    for line in _inspect_text(result):
        ctx.out(line)
    return ExitCode.OK


def cmd_referrers(ctx: Context) -> int:
    ref = ctx.parse_reference(ctx.args.reference)
    client = ctx.client()
    subject = client.digest(ref)  # exit 1 here when the image does not exist
    found = client.referrers(ref.repository, subject, artifact_type=ctx.args.artifact_type)
    if ctx.quiet:
        return ExitCode.OK
    if ctx.output == "json":
        write_json(
            ctx,
            "referrers",
            {
                "reference": str(ref),
                "subject": str(subject),
                "source": found.source,
                "referrers": [d.to_json() for d in found.manifests],
            },
        )
        return ExitCode.OK
    rows = [
        [escape(d.artifact_type or d.media_type), str(d.digest), human_size(d.size)] for d in found.manifests
    ]
    for line in text_table(rows):
        ctx.out(line)
    if not rows:
        how = "referrers API" if found.source == "api" else f"tag {subject.algorithm}-{subject.hex[:12]}…"
        ctx.err(f"ocireg: no referrers of {escape(str(ref))} ({subject}; looked up through the {how})")
    return ExitCode.OK


def _index_platforms(result: Inspection) -> list[object]:
    from ocireg.manifest import Index

    return list(result.document.platforms) if isinstance(result.document, Index) else []


def _inspect_text(result: Inspection) -> list[str]:
    from ocireg.manifest import Index

    rows = [["reference", escape(str(result.reference))]]
    if result.parent is not None:
        rows.append(["index", f"{result.parent.digest}  {escape(result.parent.media_type)}"])
    rows += [
        ["digest", str(result.digest)],
        ["media type", escape(result.media_type)],
    ]
    document = result.document
    lines: list[str] = []
    if isinstance(document, Index):
        rows.append(["size", human_size(len(result.raw))])
        rows.append(["manifests", str(len(document.manifests))])
        lines += text_table(rows)
        table = [["PLATFORM", "DIGEST", "SIZE", "MEDIA TYPE"]]
        for child in document.manifests:
            shown = escape(str(child.platform)) if child.platform is not None else "-"
            table.append([shown, *_descriptor_row(child)])
        lines += ["  " + line for line in text_table(table)]
    else:
        layers = len(document.layers)
        rows.append(
            [
                "size",
                f"{human_size(document.total_size)} (config + {layers} layer{'s' if layers != 1 else ''}); "
                f"manifest {human_size(len(result.raw))}",
            ]
        )
        rows.append(["config", "  ".join(_descriptor_row(document.config))])
        platform = result.platform
        rows.append(["platform", escape(str(platform)) if platform is not None else "-"])
        rows.append(["created", escape(result.created) if result.created else "-"])
        rows.append(["layers", str(layers)])
        lines += text_table(rows)
        lines += ["  " + line for line in text_table([_descriptor_row(d) for d in document.layers])]
        lines += _mapping_lines("labels", result.labels)
    lines += _mapping_lines("annotations", result.annotations)
    if result.rate_limit is not None:
        lines.append(f"rate limit  {result.rate_limit}")
    return lines


# ------------------------------------------------------------------------------------------------------ tags


def _repository(ctx: Context) -> Repository:
    from ocireg.reference import parse_repository

    text = ctx.args.repository
    if not text:
        ci = ctx.gitlab
        if ci is None or not ci.registry_image:
            raise UsageError("no repository given (outside GitLab CI pass REPO, e.g. registry/group/app)")
        text = ci.registry_image
    return parse_repository(text)


def cmd_tags(ctx: Context) -> int:
    from ocireg.operations.tags import TagQuery, list_tags

    args = ctx.args
    if args.pre and not args.latest:
        raise UsageError("--pre works with --latest")
    if args.by != "semver" and not args.latest:
        raise UsageError("--by works with --latest")
    if args.pre and args.by == "published":
        raise UsageError("--pre works with --latest --by semver")
    query = TagQuery(
        match=args.match,
        regex=args.regex,
        sort=args.sort,
        reverse=args.reverse,
        latest=args.latest,
        pre=args.pre,
        limit=args.limit,
        by=args.by,
    )
    repository = _repository(ctx)
    ctx.client().preconnect(
        [repository]
    )  # the handshake (and a predicted token) while the listing gets ready
    listing = list_tags(ctx.client(), repository, query, digests=args.digests, jobs=args.jobs)
    code = worst(exit_code_for(entry.error) for entry in listing.entries)
    if args.latest and not listing.entries:
        kind = "[v]X.Y.Z" if args.pre else "[v]X.Y.Z, not a pre-release"
        if args.by == "published":
            kind = "with a push date"
        ctx.err(f"ocireg: no release tag ({kind}) among the selected tags of {escape(str(repository))}")
        code = worst([code, ExitCode.ABSENT])
    _render_tags(ctx, listing, code)
    return code


def _render_tags(ctx: Context, listing: TagListing, code: int) -> None:
    args = ctx.args
    if not ctx.quiet and ctx.output == "json":
        doc: dict[str, object] = {
            "repository": str(listing.repository),
            "total": listing.total,
            "count": len(listing.entries),
            "tags": listing.tags,
            "source": listing.source,
        }
        if args.digests or listing.source == "gitlab":
            entries = []
            for entry in listing.entries:
                item: dict[str, object] = {
                    "tag": entry.tag,
                    "digest": str(entry.digest) if entry.digest else None,
                }
                if entry.published is not None:
                    item["published_at"] = entry.published.isoformat().replace("+00:00", "Z")
                if entry.error is not None:
                    item["error"] = error_json(entry.error)
                entries.append(item)
            doc["entries"] = entries
        doc["exit_code"] = int(code)
        write_json(ctx, "tags", doc)
    elif not ctx.quiet:
        if args.digests:
            rows = [
                [escape(e.tag), str(e.digest) if e.digest else f"error (exit {int(exit_code_for(e.error))})"]
                for e in listing.entries
            ]
            for line in text_table(rows):
                ctx.out(line)
        else:
            for tag in listing.tags:
                ctx.out(escape(tag))
    for entry in listing.entries:
        if entry.error is not None:
            print_error(ctx, entry.error, prefix=f"tag {escape(entry.tag)}: ")


# --------------------------------------------------------------------------------------------------- catalog


def _registry(ctx: Context) -> Registry:
    from ocireg.reference import parse_registry

    text = ctx.args.registry
    if not text:
        ci = ctx.gitlab
        if ci is None or ci.registry is None:
            raise UsageError("no registry given (outside GitLab CI pass REGISTRY, e.g. registry.example.com)")
        return ci.registry
    return parse_registry(text)


def cmd_catalog(ctx: Context) -> int:
    registry = _registry(ctx)
    repositories = ctx.client().catalog(registry, limit=ctx.args.limit)
    if ctx.quiet:
        return ExitCode.OK
    if ctx.output == "json":
        write_json(
            ctx,
            "catalog",
            {"registry": str(registry), "count": len(repositories), "repositories": repositories},
        )
        return ExitCode.OK
    for name in repositories:
        ctx.out(escape(name))
    return ExitCode.OK
