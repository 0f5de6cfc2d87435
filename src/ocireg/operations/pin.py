"""``ocireg pin``: rewrite image references in files to ``repo:tag@sha256:…``, touching nothing else.

Why exact text edits instead of re-serialising YAML: a round-trip dump re-flows long lines, normalises quotes
and indentation and can drop comments in odd places, so the diff would touch more than the image values.
:mod:`ocireg.operations.files` records the exact character span of every value; here each span is replaced
and the result is scanned again to prove that every edit landed on the reference it was meant for before
anything is written (never lose data: on any doubt or error the file stays untouched).

Rules:

* an unpinned reference gets the digest its tag resolves to now (the index digest, or one platform's with
  ``platform``); one without a tag gets ``:latest`` written out, so a later ``--update`` knows what to follow;
* an already pinned reference is verified: kept when its tag still resolves to the pinned digest; when the tag
  moved it is refreshed with ``update``, else kept (the pinned digest must still exist) and reported
  ``outdated``; a digest-only reference is verified and kept;
* pinning twice changes nothing (idempotent); writes are atomic (temporary file in the same directory,
  ``fsync``, ``os.replace``), keep the file mode, and are refused if the file changed since it was read.
"""

from __future__ import annotations

import difflib
import itertools
import os
import re
import stat
from collections.abc import Callable, Iterable, Mapping, Sequence

from ocireg.atomicfile import replace_file
from ocireg.client import RegistryClient
from ocireg.errors import InvalidReference, NotFound, OciregError, PlatformNotFound, RegistryError, UsageError
from ocireg.manifest import Platform
from ocireg.operations.batch import CheckResult, check_digests, check_exists
from ocireg.operations.files import Finding, Scan, Target, VariablePolicy, find_in_text
from ocireg.record import field, record, replace
from ocireg.reference import Digest, Reference, parse_reference
from ocireg.text import escape

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ocireg.signatures.policy import TrustPolicy

__all__ = [
    "FilePlan",
    "PinChange",
    "PinStatus",
    "apply_edits",
    "check_pins",
    "new_value",
    "plan_pins",
    "quote_path",
    "symlink_escape",
    "unified_diff",
    "write_atomic",
    "write_refusal",
]


@record(frozen=True)
class PinChange:
    """What ``pin`` does with one finding.

    ``action``: ``pinned`` (digest added), ``updated`` (tag moved, digest replaced), ``kept`` (already pinned
    and current), ``outdated`` (pinned, the tag moved, kept without ``--update``), ``skipped`` (not a literal
    reference, see ``note``) or ``error`` (see ``error``).
    """

    finding: Finding
    action: str
    digest: Digest | None = None
    new: str | None = None
    error: OciregError | None = None
    note: str | None = None


@record
class FilePlan:
    """The edits for one file: old and new text and the change per reference."""

    path: str
    old_text: str
    new_text: str
    changes: list[PinChange] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return self.old_text != self.new_text

    def diff(self) -> str:
        return unified_diff(self.path, self.old_text, self.new_text)


# What makes git quote a path in a patch header (git's quote.c, sq_must_quote / quote_c_style): control
# characters, '"' and '\\'. Bidi overrides, line and paragraph separators and C1 controls are added: raw in a
# header they rewrite what a terminal or a review tool shows (SEC: output injection).
_MUST_QUOTE = re.compile(
    r'["\\\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\u200b-\u200f\ufeff\ud800-\udfff]'
)
_C_ESCAPES = {"\a": "\\a", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\v": "\\v", "\f": "\\f", "\r": "\\r"}


def quote_path(path: str) -> str:
    """``path`` as git writes it in a patch header: as it is, or C-quoted in double quotes when it holds a
    character that must not reach a terminal or a patch raw (``"a/x\\033y"``); ``git apply`` reads both."""
    if _MUST_QUOTE.search(path) is None:
        return path
    out = ['"']
    for char in path:
        if char in ('"', "\\"):
            out.append("\\" + char)
        elif char in _C_ESCAPES:
            out.append(_C_ESCAPES[char])
        elif 0x20 <= ord(char) < 0x7F:
            out.append(char)
        else:  # every other byte of the UTF-8 (surrogate-escaped bytes included) in octal, as git does
            out.extend(f"\\{byte:03o}" for byte in char.encode("utf-8", "surrogateescape"))
    out.append('"')
    return "".join(out)


def _diff_name(prefix: str, path: str) -> str:
    quoted = quote_path(path)
    return f'"{prefix}{quoted[1:]}' if quoted.startswith('"') else f"{prefix}{quoted}"


def unified_diff(path: str, old: str, new: str) -> str:
    """A ``git diff``-style unified diff (``a/PATH`` → ``b/PATH``) with the "no newline" marker; a path with
    control or bidi characters is C-quoted the way git quotes it (#14 item 19)."""
    lines = difflib.unified_diff(
        old.splitlines(keepends=True),
        new.splitlines(keepends=True),
        _diff_name("a/", path),
        _diff_name("b/", path),
    )
    out: list[str] = []
    for line in lines:
        if line.endswith(("\n", "\r")):
            out.append(line)
        else:
            out.append(line + "\n\\ No newline at end of file\n")
    return "".join(out)


# --------------------------------------------------------------------------------------------------------------
# Values and edits
# --------------------------------------------------------------------------------------------------------------


def _has_tag(reference_text: str) -> bool:
    name = reference_text.split("@", 1)[0]
    return name.rfind(":") > name.rfind("/")


def new_value(target: Target, digest: Digest) -> str:
    """The text to put at ``target`` so that it pins ``digest``."""
    if target.mode == "digest":
        return (" " if target.insert_space else "") + str(digest)
    base = target.value.split("@", 1)[0]
    if target.mode == "reference" and not _has_tag(base):
        base += ":latest"
    return f"{base}@{digest}"


def apply_edits(text: str, edits: Sequence[tuple[Target, str]]) -> str:
    """Replace each target's span with its new text; spans must not overlap and must still hold their value."""
    ordered = sorted(edits, key=lambda e: e[0].start)
    for (first, _), (second, _) in itertools.pairwise(ordered):
        if second.start < first.end or second.start == first.start:
            raise RegistryError("internal error: overlapping edits; nothing was written")
    pieces: list[str] = []
    pos = 0
    for target, replacement in ordered:
        if text[target.start : target.end] != target.value:
            raise RegistryError("internal error: an edit does not match the file; nothing was written")
        pieces.append(text[pos : target.start])
        pieces.append(replacement)
        pos = target.end
    pieces.append(text[pos:])
    return "".join(pieces)


# --------------------------------------------------------------------------------------------------------------
# Planning
# --------------------------------------------------------------------------------------------------------------


def _key(ref: Reference) -> str:
    return str(ref)


def plan_pins(
    client: RegistryClient,
    scan: Scan,
    env: Mapping[str, str],
    *,
    platform: Platform | None = None,
    update: bool = False,
    jobs: int = 8,
    verify: TrustPolicy | None = None,
) -> list[FilePlan]:
    """Resolve every pinnable finding of ``scan`` (concurrently, each distinct reference once) and plan edits.

    Nothing is written here; see :func:`write_atomic`. Files without findings get no plan. ``verify`` (#24):
    a digest is pinned (or kept, or left in place as outdated) only if it is signed under that policy; otherwise
    the finding is an error (:class:`~ocireg.errors.NotVerified`, exit 8) and nothing is written.
    """
    parsed, early = _parse_findings(scan)
    # Phase 1: what each tag resolves to now.
    tag_refs: dict[str, Reference] = {}
    for ref in parsed.values():
        if ref.tag is not None:
            tag_refs.setdefault(_key(ref.with_digest(None)), ref.with_digest(None))
    resolved = _by_key(check_digests(client, list(tag_refs.items()), platform=platform, jobs=jobs))
    # Phase 2: verify the pinned digests we would keep without a matching tag.
    to_verify = _digests_to_verify(parsed.values(), resolved, update=update)
    verified = _by_key(check_exists(client, list(to_verify.items()), jobs=jobs))
    changes: dict[int, PinChange] = dict(early)
    for i, ref in parsed.items():
        changes[i] = _decide(scan.findings[i], ref, resolved, verified, update=update)
    if verify is not None:
        _require_signed(client, changes, parsed, verify, jobs)
    return _file_plans(scan, changes, env)


def _require_signed(
    client: RegistryClient,
    changes: dict[int, PinChange],
    parsed: Mapping[int, Reference],
    policy: TrustPolicy,
    jobs: int,
) -> None:
    """Turn every pin whose digest does not verify under ``policy`` into an error (#24: pin only the signed)."""
    from ocireg.operations.verify import verify_references

    # Every digest the file holds after the run: an "outdated" pin stays (without --update) and is what deploys.
    judged = ("pinned", "updated", "kept", "outdated")
    wanted: dict[str, Reference] = {}
    for i, change in changes.items():
        if change.action in judged and change.digest is not None and i in parsed:
            ref = parsed[i].with_digest(change.digest)
            wanted.setdefault(_key(ref), ref)
    outcomes = {r.text: r for r in verify_references(client, list(wanted.items()), policy, jobs=jobs)}
    for i, change in list(changes.items()):
        if change.action in judged and change.digest is not None and i in parsed:
            outcome = outcomes[_key(parsed[i].with_digest(change.digest))]
            if outcome.error is not None:
                changes[i] = PinChange(change.finding, "error", change.digest, error=outcome.error)


def _parse_findings(scan: Scan) -> tuple[dict[int, Reference], dict[int, PinChange]]:
    """The findings that can be pinned, parsed (by index); the others already decided (skipped, error)."""
    parsed: dict[int, Reference] = {}
    early: dict[int, PinChange] = {}
    for i, finding in enumerate(scan.findings):
        if finding.text is None:
            early[i] = PinChange(finding, "skipped", note=finding.skipped)
            continue
        if finding.target is None or finding.not_pinnable:
            early[i] = PinChange(finding, "skipped", note=finding.not_pinnable or "cannot be rewritten")
            continue
        try:
            parsed[i] = parse_reference(finding.text)
        except InvalidReference as exc:
            early[i] = PinChange(finding, "error", error=exc)
    return parsed, early


def _digests_to_verify(
    refs: Iterable[Reference], resolved: Mapping[str, CheckResult], *, update: bool
) -> dict[str, Reference]:
    """The pinned digests that stay without their tag vouching for them: each must exist on its own."""
    to_verify: dict[str, Reference] = {}
    for ref in refs:
        if ref.digest is None:
            continue
        current = resolved.get(_key(ref.with_digest(None))) if ref.tag is not None else None
        if current is not None and current.error is None and (current.digest == ref.digest or update):
            continue
        if current is not None and current.error is not None and not isinstance(current.error, NotFound):
            continue
        digest_ref = Reference(ref.repository, None, ref.digest)
        to_verify.setdefault(_key(digest_ref), digest_ref)
    return to_verify


def _file_plans(scan: Scan, changes: Mapping[int, PinChange], env: Mapping[str, str]) -> list[FilePlan]:
    """One plan per file with findings: its text before and after the edits (verified by a re-scan)."""
    plans: list[FilePlan] = []
    for path in scan.files:
        indices = [i for i, f in enumerate(scan.findings) if f.path == path]
        if not indices:
            continue
        old = scan.texts[path]
        file_changes = [changes[i] for i in indices]
        edits = [
            (c.finding.target, c.new)
            for c in file_changes
            if c.new is not None and c.finding.target is not None and c.action in ("pinned", "updated")
        ]
        new = apply_edits(old, edits) if edits else old
        if new != old:
            _verify_rewrite(path, old, new, file_changes, env, scan.policy)
        plans.append(FilePlan(path, old, new, file_changes))
    return plans


def _by_key(results: Sequence[CheckResult]) -> dict[str, CheckResult]:
    return {r.text: r for r in results}


def _decide(
    finding: Finding,
    ref: Reference,
    resolved: Mapping[str, CheckResult],
    verified: Mapping[str, CheckResult],
    *,
    update: bool,
) -> PinChange:
    target = finding.target
    assert target is not None  # noqa: S101 - filtered by the caller
    current = resolved.get(_key(ref.with_digest(None))) if ref.tag is not None else None
    if ref.digest is None:
        assert current is not None  # noqa: S101 - every tag reference was resolved
        if current.error is not None or current.digest is None:
            return PinChange(finding, "error", error=current.error or RegistryError("no digest"))
        return PinChange(finding, "pinned", current.digest, new_value(target, current.digest))
    check = verified.get(_key(Reference(ref.repository, None, ref.digest)))
    if current is not None and current.error is None and current.digest is not None:
        if current.digest == ref.digest:
            return PinChange(finding, "kept", ref.digest)
        if update:
            return PinChange(
                finding,
                "updated",
                current.digest,
                new_value(target, current.digest),
                note=f"the tag moved from {ref.digest}",
            )
        if check is not None and check.error is not None:
            return PinChange(finding, "error", ref.digest, error=check.error)
        return PinChange(
            finding,
            "outdated",
            ref.digest,
            note=f"the tag now points to {current.digest}; --update refreshes the pin",
        )
    if (
        current is not None
        and current.error is not None
        and (
            # a tag whose index lacks the platform asked for still exists: that is an error, not "the tag is gone"
            not isinstance(current.error, NotFound) or isinstance(current.error, PlatformNotFound)
        )
    ):
        return PinChange(finding, "error", ref.digest, error=current.error)
    if check is None or check.error is not None:
        return PinChange(
            finding, "error", ref.digest, error=check.error if check else RegistryError("not verified")
        )
    note = "the tag no longer exists; the pinned digest does" if current is not None else None
    return PinChange(finding, "kept", ref.digest, note=note)


def _verify_rewrite(
    path: str,
    old: str,
    new: str,
    changes: Sequence[PinChange],
    env: Mapping[str, str],
    policy: VariablePolicy,
) -> None:
    """Scan the rewritten text again: same references in the same places, the changed ones pinned as planned."""
    before = [c.finding for c in changes]
    try:
        after = find_in_text(path, new, env, policy=policy)
    except Exception as exc:  # any doubt means: do not write
        raise RegistryError(
            f"internal error: {escape(path)} would not parse after pinning ({type(exc).__name__}); "
            "nothing was written"
        ) from exc
    problem = len(after) != len(before)
    for change, again in zip(changes, after, strict=False):
        if problem:
            break
        if change.action not in ("pinned", "updated"):
            problem = again.raw != change.finding.raw
            continue
        try:
            ref = parse_reference(again.text or "")
            was = parse_reference(change.finding.text or "")
        except InvalidReference:
            problem = True
            continue
        problem = ref.digest != change.digest or ref.with_digest(None) != was.with_digest(None)
    if problem:
        raise RegistryError(
            f"internal error: the rewritten {escape(path)} does not hold the planned references; "
            "nothing was written",
            hint="please report this with the file (or a reduced copy)",
        )


# --------------------------------------------------------------------------------------------------------------
# Checking (pin --check)
# --------------------------------------------------------------------------------------------------------------


@record(frozen=True)
class PinStatus:
    """Whether one finding is pinned: ``pinned`` (has a digest; online also verified), ``unpinned`` (by tag or
    bare name, no digest), ``skipped`` (built from variables, see ``note``) or ``error`` (see ``error``)."""

    finding: Finding
    status: str
    note: str | None = None
    error: OciregError | None = None


def check_pins(
    scan: Scan,
    env: Mapping[str, str],
    client: Callable[[], RegistryClient] | None = None,
    *,
    platform: Platform | None = None,
    jobs: int = 8,
) -> list[PinStatus]:
    """The pin status of every finding of ``scan``, in order; nothing is written (#18).

    Without ``client`` only the text is read (no request at all: a pre-commit hook). With it, the pinned
    references are verified the way :func:`plan_pins` verifies them (the digest exists; a tag that moved is a
    note); the unpinned ones are not looked up.
    """
    statuses: list[PinStatus] = []
    pinned: list[int] = []
    for i, finding in enumerate(scan.findings):
        if finding.text is None or finding.not_pinnable:
            statuses.append(PinStatus(finding, "skipped", note=finding.skipped or finding.not_pinnable))
            continue
        try:
            ref = parse_reference(finding.text)
        except InvalidReference as exc:
            statuses.append(PinStatus(finding, "error", error=exc))
            continue
        statuses.append(PinStatus(finding, "unpinned" if ref.digest is None else "pinned"))
        if ref.digest is not None:
            pinned.append(i)
    if client is None or not pinned:
        return statuses
    subset = replace(scan, findings=[scan.findings[i] for i in pinned])
    plans = plan_pins(client(), subset, env, platform=platform, jobs=jobs)
    changes = {id(c.finding): c for plan in plans for c in plan.changes}
    for i in pinned:
        change = changes[id(scan.findings[i])]
        if change.action == "error":
            statuses[i] = PinStatus(change.finding, "error", error=change.error)
        else:
            statuses[i] = PinStatus(change.finding, "pinned", note=change.note)
    return statuses


# --------------------------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------------------------


def write_refusal(path: str, info: os.stat_result | None = None) -> str | None:
    """Why ``pin --write`` must not replace ``path`` (a real file, symlinks resolved), or ``None``.

    A replacement (new file + rename) needs only a writable directory, so it would "write" a read-only file
    and silently make a file owned by another user one's own (#14 item 18). Only a file the user could write
    in place is replaced, and only when its owner can be kept.
    """
    try:
        info = info if info is not None else os.stat(path)
    except OSError as exc:
        return f"cannot be read ({exc.strerror})"
    if not os.access(path, os.W_OK):
        return "you could not write this file in place (read-only, or owned by another user)"
    if hasattr(os, "geteuid") and info.st_uid != os.geteuid() and os.geteuid() != 0:
        return "owned by another user; replacing it would make it yours"
    return None


def symlink_escape(path: str, given: Sequence[str]) -> str | None:
    """Why writing ``path`` would leave the paths the user gave through a symbolic link, or ``None``.

    Directories are walked without following symlinked directories (:func:`~ocireg.operations.files.discover`),
    so only the file itself can be a link. A link whose target lies inside one of the ``given`` directories,
    or is one of the ``given`` (non-link) files, stays inside what the user named; any other target is
    outside (#14 item 17: a link in a merge request pointing at ``~/.bashrc``).
    """
    if not os.path.islink(path):
        return None
    real = os.path.realpath(path)
    for root in given:
        if os.path.isdir(root):
            top = os.path.realpath(root)
            if real == top or real.startswith(top.rstrip(os.sep) + os.sep):
                return None
        elif not os.path.islink(root) and os.path.realpath(root) == real:
            return None
    return "a symbolic link to a file outside the paths given"


def write_atomic(path: str, new_text: str, expected_old: str) -> None:
    """Replace the file's content atomically, keeping its mode; refuse if it changed since it was read, or
    if :func:`write_refusal` says so (read-only, or owned by another user).

    A symlink is followed and its target rewritten (the link stays a link); callers check
    :func:`symlink_escape` first. Raises :class:`UsageError`
    (exit 2) on I/O problems; the original file is then untouched.
    """
    real = os.path.realpath(path)
    data = new_text.encode("utf-8")
    try:
        with open(real, "rb") as handle:
            current = handle.read()
        info = os.stat(real)
    except OSError as exc:
        raise UsageError(f"{escape(path)}: cannot read it again ({exc.strerror}); not written") from exc
    if current != expected_old.encode("utf-8"):
        raise UsageError(f"{escape(path)} changed while ocireg was working; not written (run pin again)")
    refusal = write_refusal(real, info)
    if refusal is not None:
        raise UsageError(f"{escape(path)}: {refusal}; not written")
    try:
        replace_file(
            real,
            data,
            prefix=f".{os.path.basename(real)}.",
            suffix=".ocireg-tmp",
            mode=stat.S_IMODE(info.st_mode),
            owner=(info.st_uid, info.st_gid),
        )
    except OSError as exc:
        raise UsageError(f"{escape(path)}: cannot write ({exc.strerror}); the file is unchanged") from exc
