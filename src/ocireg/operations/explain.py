"""``ocireg auth explain``: why access to an image works or not, step by step, without showing a secret.

The steps are the ones every pull takes (Docker token spec,
https://distribution.github.io/distribution/spec/auth/token/), made visible. :func:`explain` sends one
``HEAD`` of the manifest through the client's real request path, with an observer on its authentication flow
(:class:`ocireg.auth.FlowObserver`): it sends nothing of its own beside it, and asks for a fresh token (no
cached one) so the answer shows what the token service grants now. From the observed steps it reports:

1. which credential source was chosen and why (:meth:`ocireg.credentials.Chain.explain`);
2. the registry's challenge (realm, service, scope);
3. the realm policy (:func:`ocireg.auth.validate_realm`);
4. the token request and its outcome;
5. what the token grants: its JWT claims ``access``, ``sub``, ``exp`` (and ``iss``/``aud``), decoded WITHOUT
   verifying the signature, for display only;
6. the registry's answer to the manifest ``HEAD`` with that token.

A token service may drop scopes the caller may not have and still answer 200 (docs/architecture.md §5), so an
empty ``access`` list is where the real reason shows; the registry's profile lists the causes. :func:`explain`
never raises for what it diagnoses: the failure is kept in :attr:`Explanation.error`, whose class gives the exit
code the same way it does for ``ocireg exists``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from ocireg.auth import Challenge, FlowObserver, Token, usable_bearer
from ocireg.errors import (
    ChallengeError,
    InvalidReference,
    NotFound,
    OciregError,
    PermissionDenied,
    ProtocolViolation,
)
from ocireg.mediatypes import ACCEPT_HEADER
from ocireg.record import field, record, replace
from ocireg.reference import Digest, Reference
from ocireg.text import escape

if TYPE_CHECKING:
    from ocireg.client import RegistryClient
    from ocireg.credentials import Chain, Credential

__all__ = ["CLAIMS_SHOWN", "ChallengeInfo", "Explanation", "TokenInfo", "explain"]

#: JWT claims shown (an allowlist: anything else a token service puts in a token is not echoed).
CLAIMS_SHOWN = ("sub", "iss", "aud", "exp", "iat", "access")


@record(frozen=True)
class ChallengeInfo:
    """The registry's ``WWW-Authenticate`` challenge (the scheme ocireg answers)."""

    scheme: str
    realm: str | None = None
    service: str | None = None
    scope: str | None = None
    error: str | None = None


@record(frozen=True)
class TokenInfo:
    """What the token service answered. ``claims`` are decoded WITHOUT signature verification."""

    expires_at: float
    claims: Mapping[str, object]
    granted: tuple[tuple[str, str, tuple[str, ...]], ...] | None
    """``access`` as (type, name, actions); ``None`` when the token is not a readable JWT."""

    @classmethod
    def from_token(cls, token: Token) -> TokenInfo:
        granted = token.granted()
        return cls(
            expires_at=token.expires_at,
            claims={k: token.claims[k] for k in CLAIMS_SHOWN if k in token.claims},
            granted=tuple(granted) if granted is not None else None,
        )


@record
class Explanation:
    """The report of :func:`explain`, filled step by step; a step not reached stays ``None``."""

    reference: Reference
    wanted: tuple[str, ...]
    actions: tuple[str, ...]
    sources: list[tuple[str, str]] = field(default_factory=list)
    credential: str | None = None
    username: str | None = None
    anonymous: bool | None = None
    base_url: str | None = None
    profile: str | None = None
    """The registry profile the session recognised (``generic``: the spec), docs/architecture.md §11."""
    challenge: ChallengeInfo | None = None
    realm: str | None = None
    realm_check: str | None = None
    token_outcome: str | None = None
    token: TokenInfo | None = None
    missing: tuple[str, ...] = ()
    check: str | None = None
    digest: Digest | None = None
    hints: list[str] = field(default_factory=list)
    error: OciregError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def explain(
    client: RegistryClient,
    ref: Reference,
    *,
    actions: Sequence[str] = ("pull",),
    chain: Chain | None = None,
) -> Explanation:
    """Walk the authentication of ``ref`` for ``actions`` (``pull``, plus ``push``/``delete``) and report.

    ``chain``: the credential chain the client uses, to show which source was chosen and why; without it the
    client's credential is shown without the reasoning. Never raises :class:`~ocireg.errors.OciregError`: a
    failure ends the walk and is stored in :attr:`Explanation.error`.
    """
    wanted_actions = tuple(dict.fromkeys(["pull", *actions]))
    report = Explanation(
        reference=ref, wanted=(ref.repository.scope(*wanted_actions),), actions=wanted_actions
    )
    try:
        _walk(client, ref, report, chain)
    except OciregError as exc:
        report.error = exc
    if report.error is not None and report.error.hint and report.error.hint not in report.hints:
        report.hints.append(report.error.hint)
    return report


def _walk(client: RegistryClient, ref: Reference, report: Explanation, chain: Chain | None) -> None:
    registry = ref.registry
    if chain is not None:
        report.sources = chain.explain(registry, ref.repository.path)
    # the credential the requests for this repository use; a broken source raises CredentialError (exit 3)
    credential = client.credential_for(registry, ref.repository.path)
    report.credential = credential.describe()
    report.username = credential.username
    report.anonymous = credential.is_anonymous
    deadline = client.deadline()
    report.base_url = client.base_url(registry, deadline)
    what = f"manifest {escape(str(ref))}"
    observer = FlowObserver(fresh=True)
    failure: OciregError | None = None
    try:
        response = client.request(
            "HEAD",
            registry,
            f"/v2/{ref.repository.path}/manifests/{ref.identifier}",
            scopes=report.wanted,
            headers={"Accept": ACCEPT_HEADER},
            deadline=deadline,
            what=what,
            observer=observer,
        )
        response.close()
    except OciregError as exc:
        failure = exc
    report.profile = client.session(registry).profile.name
    _report(client, ref, report, observer, credential, failure, what)


def _report(
    client: RegistryClient,
    ref: Reference,
    report: Explanation,
    observer: FlowObserver,
    credential: Credential,
    failure: OciregError | None,
    what: str,
) -> None:
    """The report of what the flow did, from its observed steps."""
    challenges = observer.last("challenge")
    answer = observer.last("answer")
    if answer is None:
        report.error = failure  # nothing answered (the registry is down): no step to report
        return
    if not isinstance(challenges, list):
        report.challenge = ChallengeInfo(scheme="none")
        report.realm_check = "not needed: the registry asked for no authentication"
        _conclude(report, answer, failure, what, anonymous_access=True)
        return
    bearer = usable_bearer(challenges) or next((c for c in challenges if c.scheme == "bearer"), None)
    basic = next((c for c in challenges if c.scheme == "basic"), None)
    if bearer is None and basic is not None:
        report.challenge = ChallengeInfo(scheme="basic", realm=basic.realm)
        report.realm_check = "not needed: Basic authentication goes to the registry itself"
        if credential.username and credential.password:
            report.token_outcome = "none: Basic credentials go to the registry with each request"  # noqa: S105
        else:
            report.token_outcome = "none: Basic authentication needs a user name and password"  # noqa: S105
        _conclude(report, answer, failure, what)
        return
    if bearer is None:
        schemes = ", ".join(sorted({c.scheme for c in challenges if isinstance(c, Challenge)})) or "none"
        report.error = failure or ChallengeError(
            f"{what}: HTTP 401 with no Bearer or Basic challenge (schemes: {escape(schemes)})"
        )
        return
    report.challenge = ChallengeInfo(
        scheme="bearer", realm=bearer.realm, service=bearer.service, scope=bearer.scope, error=bearer.error
    )
    realm = observer.last("realm")
    if isinstance(realm, str):
        report.realm = realm
        report.realm_check = "ok: " + _realm_reason(realm, report.base_url or "")
    token = observer.last("token")
    who = "anonymously" if credential.is_anonymous else f"as {credential.describe()}"
    if not isinstance(token, Token):
        if failure is not None and realm is not None:
            report.token_outcome = f"failed ({who}): {failure}"
        report.error = failure
        return
    import time

    left = max(0, round(token.expires_at - time.time()))
    report.token_outcome = f"issued ({who}); usable for {left}s"
    granted = token.granted()
    report.token = TokenInfo.from_token(token)
    if granted is not None:
        # Each action as the registry's token service grants it (a profile may ask another action for it, e.g. push for a delete: docs/architecture.md §11).
        profile = client.session(ref.registry).profile
        report.missing = tuple(
            action
            for action in report.actions
            if not token.grants(ref.repository.scope(*profile.token_actions((action,))))
        )
    status = getattr(answer, "status", None)
    if status == 200 and "pull" in report.missing:
        # The registry's answer outranks our reading of the (unverified) claims: it served the manifest to this
        # token, so pull is granted whatever the claims seemed to say (#14 item 11).
        report.missing = tuple(a for a in report.missing if a != "pull")
    _hints(client, report, granted, credential)
    _conclude(report, answer, failure, what)
    if report.missing and granted is not None and report.error is None:
        have = ", ".join(a for a in report.actions if a not in report.missing) or "nothing"
        report.error = PermissionDenied(
            f"{what}: the token grants {have}; not {', '.join(report.missing)} (for {credential.describe()})"
        )


def _realm_reason(realm: str, base: str) -> str:
    from urllib.parse import urlsplit

    scheme = urlsplit(realm).scheme
    return (
        f"{scheme} realm on {urlsplit(realm).netloc}, no user information, address allowed for a registry at "
        f"{urlsplit(base).netloc}"
    )


def _conclude(
    report: Explanation,
    answer: object,
    failure: OciregError | None,
    what: str,
    *,
    anonymous_access: bool = False,
) -> None:
    """The registry's answer to the ``HEAD``, classified exactly as ``ocireg exists`` classifies it."""
    status = getattr(answer, "status", None)
    if failure is None and status == 200:
        headers = getattr(answer, "headers", None)
        digest = _digest(headers.get("docker-content-digest") if headers is not None else None, what)
        report.digest = digest
        access = "anonymous access; " if anonymous_access else ""
        report.check = f"HTTP 200: {access}the manifest is present" + (f" ({digest})" if digest else "")
        return
    if failure is None:
        return
    if isinstance(failure, NotFound):
        report.check = f"HTTP {status}: authorized, but the manifest does not exist"
    elif status is not None:
        report.check = f"HTTP {status}: {failure}"
    report.error = failure


def _digest(value: str | None, what: str) -> Digest | None:
    if value is None:
        return None
    try:
        return Digest.parse(value.strip())
    except InvalidReference:
        raise ProtocolViolation(
            f"{what}: the registry sent an invalid Docker-Content-Digest header"
        ) from None


def _hints(
    client: RegistryClient,
    report: Explanation,
    granted: list[tuple[str, str, tuple[str, ...]]] | None,
    credential: Credential,
) -> None:
    from ocireg.registries import Refusal

    scope = " ".join(report.wanted)
    session = client.session(report.reference.registry)
    profile = session.profile
    service = report.challenge.service if report.challenge else None
    refusal = Refusal(
        registry=str(report.reference.registry),
        status=401,
        credential=credential,
        sent=not credential.is_anonymous,
        scopes=report.wanted,
        service=service,
        granted_nothing=granted == [],
    )
    if granted is None:
        if report.token is not None and report.token.claims and "access" not in report.token.claims:
            report.hints.append(
                "the token has no 'access' claim (some services issue such tokens and decide access per "
                "request), so what it grants is unknown; the registry's answer below is the evidence"
            )
            return
        report.hints.append(
            "the token is not a JWT ocireg can read, so what it grants is unknown; the registry's answer below "
            "is the only evidence"
        )
        return
    if credential.is_anonymous and report.missing:
        report.hints.append(
            f"anonymous access to {scope} is not allowed\n" + (profile.hint(refusal, "denied") or "")
        )
        return
    if not granted:
        notes = profile.explain_notes(refusal, "denied")
        report.hints.append(
            f"the token service granted NOTHING for {scope} (an empty access list), where a registry that "
            "hides what it holds would say 'not found'. " + " ".join(notes)
        )
        return
    if report.missing:
        partial = replace(refusal, granted_nothing=False)
        notes = profile.explain_notes(partial, "denied")
        report.hints.append(
            f"the token grants some but not all of {scope}: missing {', '.join(report.missing)}. "
            + " ".join(notes)
        )
