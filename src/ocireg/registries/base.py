"""The :class:`Profile` type: what one registry family does differently from the spec (docs/architecture.md §11).

A profile is recognised from the registry's host name and, where the name cannot tell, from its challenge or
its ``GET /v2/`` headers. It may only *refine* the generic behaviour, through the hooks below: the token scope
actions of an operation, how a refusal is judged, whether an operation exists at all, whether a ``HEAD``
refusal needs a ``GET`` to read its body, the words of a hint and where credentials come from. Everything a
hook does not say falls back to the spec (:mod:`ocireg.registries.generic`).

One situation, one code, on every registry (docs/architecture.md §2): nothing sent and refused is *denied*
(exit 4); credentials sent and rejected, expired or revoked is *rejected* (exit 3); accepted but not allowed is
*denied*. A refusal whose wire answer cannot tell is judged by what was sent (:func:`spec_verdict`).
"""

from __future__ import annotations

from collections.abc import Mapping

from ocireg.record import record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Literal

    from ocireg.credentials import Credential
    from ocireg.reference import Repository
    from ocireg.registries.details import TagDetail, TagSort

    Verdict = Literal["rejected", "denied"]

__all__ = ["MAX_HINT_LINE", "MAX_HINT_LINES", "Features", "Profile", "Refusal", "hint_lines", "spec_verdict"]

#: A hint is read at a glance: at most this many lines of at most this many characters (the full list of
#: causes is ``ocireg auth explain``'s); 112 leaves room for the ``  hint: `` the CLI puts before each line
#: within 120 columns.
MAX_HINT_LINES = 3
MAX_HINT_LINE = 112


@record(frozen=True)
class Refusal:
    """A refusal as the wire told it, and what was sent: what a profile judges and words a hint from.

    ``at_token_service``: the realm answered (else the registry); ``sent``: a credential went with the request
    (a token from an anonymous token request is not one); ``scheme``/``error``: the challenge that came with a
    401 (``None`` without one); ``codes``/``message``: the registry's own error codes and words (escaped).
    """

    registry: str
    status: int
    credential: Credential
    at_token_service: bool = False
    sent: bool = False
    scopes: tuple[str, ...] = ()
    codes: frozenset[str] = frozenset()
    message: str | None = None
    scheme: str | None = None
    error: str | None = None
    service: str | None = None
    granted_nothing: bool = False
    """The token service answered 200 with an empty ``access`` list (a grant of nothing)."""

    @property
    def wanted(self) -> str:
        """The scopes, escaped: an ``insufficient_scope`` challenge may have added the registry's own action words
        (docs/architecture.md §4, registry-provided text)."""
        from ocireg.text import escape

        return escape(" ".join(self.scopes))


@record(frozen=True)
class Features:
    """What a registry's ``GET /v2/`` answer says about it, as its profile reads the headers: ``version`` and
    ``names`` (extensions such as a single-tag delete), ``database`` (``None`` when not said)."""

    version: str | None = None
    names: frozenset[str] = frozenset()
    database: bool | None = None
    profile: str = "generic"

    @property
    def extended(self) -> bool:
        """The answer carried the profile's own extension headers."""
        return self.version is not None or bool(self.names)

    @property
    def tag_delete(self) -> bool:
        """The registry deletes a single tag through its own extension."""
        return "tag_delete" in self.names


def spec_verdict(refusal: Refusal) -> Verdict:
    """The generic judgement of a refusal (docs/architecture.md §2), by what the wire and the sender tell."""
    if not refusal.sent:
        return "denied"  # nothing was presented: nothing can have been rejected
    if refusal.at_token_service:
        return "rejected" if refusal.status == 401 else "denied"
    if refusal.status == 401:
        if refusal.error == "insufficient_scope" or "DENIED" in refusal.codes or refusal.granted_nothing:
            return "denied"
        return "rejected"
    return "denied"


def hint_lines(*lines: str | None) -> str | None:
    """Join hint lines: empty ones dropped, at most :data:`MAX_HINT_LINES`, each cut at :data:`MAX_HINT_LINE`."""
    kept = [line.strip() for line in lines if line and line.strip()][:MAX_HINT_LINES]
    cut = [line if len(line) <= MAX_HINT_LINE else line[: MAX_HINT_LINE - 1] + "…" for line in kept]
    return "\n".join(cut) or None


class Profile:
    """The spec's answers; a registry family subclasses this and overrides only what it does differently."""

    #: Short name (``generic``, ``gitlab``, ...), shown by ``auth explain``.
    name = "generic"
    #: The family as a sentence names it ("this registry", "Quay", ...).
    title = "this registry"
    #: Whether the family is also run on hosts of any name (self-managed), so that a registry the name does not
    #: tell may be one of it: its extension API is then tried where the generic profile has none.
    self_managed = False
    #: Where this family's tag-details API lists publication dates, for messages ("" when it has none).
    tag_details_title = ""

    # -- recognition ---------------------------------------------------------------------------------------

    def matches_host(self, host: str) -> bool:
        """Whether ``host`` (lower case, without port) is one of this family's host names."""
        return False

    def matches_challenge(self, scheme: str, params: Mapping[str, str]) -> bool:
        """Whether a challenge (scheme lower case, parameter names lower case) is this family's."""
        return False

    def features(self, headers: Mapping[str, str]) -> Features | None:
        """This family's reading of ``GET /v2/`` headers, or ``None`` when they are not its own."""
        return None

    # -- refinements ---------------------------------------------------------------------------------------

    def token_actions(self, actions: tuple[str, ...]) -> tuple[str, ...]:
        """The actions to ask the token service for, for an operation needing ``actions`` (spec: the same)."""
        return actions

    def judge(self, refusal: Refusal) -> Verdict | None:
        """This family's judgement of a refusal where the wire means something else than the spec; ``None``:
        :func:`spec_verdict` decides."""
        return None

    def verdict(self, refusal: Refusal) -> Verdict:
        return self.judge(refusal) or spec_verdict(refusal)

    def unsupported(self, operation: str, status: int) -> str | None:
        """Why ``operation`` (``"delete-tag"``, ``"delete-manifest"``) answered ``status`` (405/501/``UNSUPPORTED``)
        here, when this family never supports it through the registry API; ``None``: the generic message."""
        return None

    def reads_refusal_body(self, status: int) -> bool:
        """Whether a ``HEAD`` refused with ``status`` is worth a ``GET`` to read the registry's words."""
        return False

    def credential_help(self, registry: str) -> str:
        """One line: how credentials for ``registry`` are given."""
        return (
            f"Set OCIREG_USERNAME and OCIREG_PASSWORD (or --password-stdin), or run 'docker login {registry}'"
        )

    def hint(self, refusal: Refusal, verdict: Verdict) -> str | None:
        """At most three short lines for a refusal (:func:`hint_lines`); the registry's words are in the
        message, the full list of causes is ``ocireg auth explain``'s."""
        return hint_lines(*self.hint_parts(refusal, verdict))

    def hint_parts(self, refusal: Refusal, verdict: Verdict) -> list[str | None]:
        credential = refusal.credential
        if credential.is_anonymous:
            first = f"no credentials were found for {refusal.registry}"
            where = _looked_in(credential)
            if where:
                first += "; ocireg looked in: "
                room = MAX_HINT_LINE - len(first)
                first += where if len(where) <= room else where[: max(0, room - 1)] + "…"
            return [first, self.credential_help(refusal.registry)]
        if refusal.granted_nothing:
            return [
                f"the token service granted no access for {refusal.wanted} (the error names the credential)",
                "the repository may not exist, or the account lacks the role or token scope for it",
                "'ocireg auth explain REF' shows what was granted",
            ]
        if verdict == "rejected":
            return [
                f"check the password or token of {credential.describe()}; it may be expired or revoked",
                "'ocireg auth explain REF' walks the login step by step",
            ]
        return [
            f"{credential.describe()} is not allowed {refusal.wanted or 'this'}",
            "'ocireg auth explain REF' shows what was granted",
        ]

    def rate_limit_hint(self, credential: Credential) -> str | None:
        """At most three short lines on what limits requests here (a 429 after retries), ``None``: the message
        says all the spec lets one say."""
        return None

    def catalog_help(self) -> str | None:
        """One line: where this family lists its repositories to those the catalog is refused to."""
        return None

    # -- extensions -----------------------------------------------------------------------------------------

    def tag_details_path(self, repository: Repository) -> str | None:
        """The path of the family's tag-details listing (digests and dates of every tag), ``None``: none."""
        return None

    def tag_details_query(
        self, name: str | None, name_exact: str | None, sort: TagSort, limit: int | None
    ) -> str:
        """The query of the first tag-details page; ``ValueError`` for arguments that cannot go together."""
        raise ValueError("this registry has no tag-details listing")

    def tag_details_page(self, body: bytes, repository: Repository, what: str) -> list[TagDetail]:
        """The tags of one tag-details page, validated."""
        raise ValueError("this registry has no tag-details listing")

    def tag_delete_path(self, repository: Repository, tag: str) -> str | None:
        """The path of the family's own single-tag delete, ``None``: only the OCI tag delete."""
        return None

    def own_tag_delete_first(self, features: Features | None) -> bool:
        """Whether the family's own tag delete is used without trying the OCI one first (the OCI one is known
        to be missing there)."""
        return False

    def explain_notes(self, refusal: Refusal, verdict: Verdict) -> list[str]:
        """The long list of causes, for ``ocireg auth explain`` (one cause per item)."""
        return []

    def __repr__(self) -> str:
        return f"<profile {self.name}>"


def _looked_in(credential: Credential) -> str | None:
    """The credential sources an anonymous credential was chosen after (from its ``source`` text)."""
    from ocireg.text import escape

    marker = " in: "
    source = credential.source
    if not credential.is_anonymous or marker not in source:
        return None
    names = source.split(marker, 1)[1].rstrip(")").strip()
    return escape(names) or None


def looked_in(credential: Credential) -> str | None:
    return _looked_in(credential)
