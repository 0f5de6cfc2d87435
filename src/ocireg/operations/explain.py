"""``ocireg auth explain``: why access to an image works or not, step by step, without showing a secret.

The steps are the ones every pull takes (Docker token spec,
https://distribution.github.io/distribution/spec/auth/token/), made visible:

1. which credential source was chosen and why (:meth:`ocireg.credentials.Chain.explain`);
2. the registry's challenge to an anonymous ``HEAD`` of the manifest (realm, service, scope);
3. the realm policy (:func:`ocireg.auth.validate_realm`);
4. a fresh token request for the wanted scope, and its outcome;
5. what the token grants: its JWT claims ``access``, ``sub``, ``exp`` (and ``iss``/``aud``), decoded WITHOUT
   verifying the signature, for display only;
6. the registry's answer to the manifest ``HEAD`` with that token.

GitLab's token service silently drops scopes the caller may not have and still answers 200 (docs/architecture.md §5), so an
empty ``access`` list is the one place the real reason shows: a misspelt project path, a missing role, or a
missing job-token allowlist entry. :func:`explain` never raises for what it diagnoses: the failure is kept in
:attr:`Explanation.error`, whose class gives the exit code the same way it does for ``ocireg exists``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from ocireg.auth import (
    Challenge,
    Token,
    basic_header,
    bearer_header,
    empty_access_hint,
    no_credentials_hint,
    parse_challenges,
    read_capped_quiet,
    usable_bearer,
    validate_realm,
)
from ocireg.errors import (
    AuthenticationFailed,
    ChallengeError,
    InvalidReference,
    NotFound,
    OciregError,
    PermissionDenied,
    ProtocolViolation,
    from_response,
)
from ocireg.mediatypes import ACCEPT_HEADER
from ocireg.record import field, record
from ocireg.reference import Digest, Reference
from ocireg.text import escape

if TYPE_CHECKING:
    from ocireg.client import RegistryClient
    from ocireg.credentials import Chain, Credential
    from ocireg.response import Response
    from ocireg.transport import Deadline

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
    base = client.base_url(registry, deadline)
    report.base_url = base
    url = f"{base}/v2/{ref.repository.path}/manifests/{ref.identifier}"
    what = f"manifest {escape(str(ref))}"

    probe = _head(client, url, None, deadline, what)
    if probe.status != 401:
        report.challenge = ChallengeInfo(scheme="none")
        report.realm_check = "not needed: the registry asked for no authentication"
        _conclude(report, probe, what, anonymous_access=True)
        return
    challenges = parse_challenges(probe.headers.get_list("www-authenticate"))
    bearer = usable_bearer(challenges)
    basic = next((c for c in challenges if c.scheme == "basic"), None)
    if bearer is None and basic is None:
        # a Bearer challenge without a realm, and nothing else usable: say so below
        bearer = next((c for c in challenges if c.scheme == "bearer"), None)
    if bearer is None:
        if basic is None:
            schemes = ", ".join(sorted({c.scheme for c in challenges})) or "none"
            raise ChallengeError(
                f"{what}: HTTP 401 with no Bearer or Basic challenge (schemes: {escape(schemes)})"
            )
        report.challenge = ChallengeInfo(scheme="basic", realm=basic.realm)
        report.realm_check = "not needed: Basic authentication goes to the registry itself"
        _basic(client, report, credential, url, what, deadline)
        return
    _bearer(client, report, ref, bearer, credential, url, deadline)


def _bearer(
    client: RegistryClient,
    report: Explanation,
    ref: Reference,
    bearer: Challenge,
    credential: Credential,
    url: str,
    deadline: Deadline,
) -> None:
    """The Bearer flow: realm check, token request, what the token grants, and the registry's answer with it."""
    base = report.base_url or ""
    what = f"manifest {escape(str(ref))}"
    report.challenge = ChallengeInfo(
        scheme="bearer", realm=bearer.realm, service=bearer.service, scope=bearer.scope, error=bearer.error
    )
    if not bearer.realm:
        raise ChallengeError(f"{what}: the Bearer challenge has no realm")
    report.realm = validate_realm(bearer.realm, base)  # RealmRejected: nothing is sent to it
    report.realm_check = "ok: " + _realm_reason(report.realm, base)
    token = _token(client, report, bearer, credential, base, deadline)
    granted = token.granted()
    report.token = TokenInfo.from_token(token)
    if granted is not None:
        report.missing = tuple(
            action for action in report.actions if not token.grants(ref.repository.scope(action))
        )
    check = _head(client, url, bearer_header(token), deadline, what)
    if check.status == 200 and "pull" in report.missing:
        # The registry's answer outranks our reading of the (unverified) claims: it served the manifest to this
        # token, so pull is granted whatever the claims seemed to say (#14 item 11).
        report.missing = tuple(a for a in report.missing if a != "pull")
    _hints(report, granted, credential)
    if report.missing and granted is not None:
        have = ", ".join(a for a in report.actions if a not in report.missing) or "nothing"
        _conclude(report, check, what)
        report.error = PermissionDenied(
            f"{what}: the token grants {have}; not {', '.join(report.missing)} (for {credential.describe()})"
        )
        return
    _conclude(report, check, what)


def _realm_reason(realm: str, base: str) -> str:
    from urllib.parse import urlsplit

    scheme = urlsplit(realm).scheme
    return (
        f"{scheme} realm on {urlsplit(realm).netloc}, no user information, address allowed for a registry at "
        f"{urlsplit(base).netloc}"
    )


def _token(
    client: RegistryClient,
    report: Explanation,
    bearer: Challenge,
    credential: Credential,
    base: str,
    deadline: Deadline,
) -> Token:
    who = "anonymously" if credential.is_anonymous else f"as {credential.describe()}"
    try:
        token = client.auth.fetch_token(
            registry=report.reference.registry.name,
            registry_url=base,
            challenge=bearer,
            scopes=report.wanted,
            credential=credential,
            deadline=deadline,
        )
    except OciregError as exc:
        report.token_outcome = f"failed ({who}): {exc}"
        raise
    import time

    left = max(0, round(token.expires_at - time.time()))
    report.token_outcome = f"issued ({who}); usable for {left}s"
    return token


def _basic(
    client: RegistryClient,
    report: Explanation,
    credential: Credential,
    url: str,
    what: str,
    deadline: Deadline,
) -> None:
    if not (credential.username and credential.password):
        report.token_outcome = "none: Basic authentication needs a user name and password"  # noqa: S105
        raise AuthenticationFailed(
            f"{what}: the registry needs a user name and password (Basic) and none was found",
            hint="pass --username and --password-stdin, set OCIREG_USERNAME/OCIREG_PASSWORD, or run 'docker login'",
        )
    report.token_outcome = "none: Basic credentials go to the registry with each request"  # noqa: S105
    authorization = basic_header(credential.username, credential.password)
    _conclude(report, _head(client, url, authorization, deadline, what), what)


def _head(
    client: RegistryClient, url: str, authorization: str | None, deadline: Deadline, what: str
) -> Response:
    """A ``HEAD`` of the manifest, with ``authorization`` (built by :mod:`ocireg.auth`, as every request's) or
    without one; the body, if any, is read and dropped."""
    headers = {"Accept": ACCEPT_HEADER}
    if authorization is not None:
        headers["Authorization"] = authorization
    response = client.transport.send("HEAD", url, headers=headers, deadline=deadline, what=what)
    read_capped_quiet(response, deadline, what)
    return response


def _conclude(report: Explanation, response: Response, what: str, *, anonymous_access: bool = False) -> None:
    """The registry's answer to the (authenticated) HEAD, classified exactly as ``ocireg exists`` would."""
    status = response.status
    if status == 200:
        digest = _digest(response, what)
        report.digest = digest
        access = "anonymous access; " if anonymous_access else ""
        report.check = f"HTTP 200: {access}the manifest is present" + (f" ({digest})" if digest else "")
        return
    failure = from_response(status, response.headers, b"", what=what)
    if status == 401 and not isinstance(failure, PermissionDenied):
        # The registry refused the token it was just given: the two disagree (issuer, service, signing key,
        # clock), which no credential change fixes.
        failure = AuthenticationFailed(
            f"{what}: the registry rejected the token the token service issued",
            hint="the token service and the registry disagree about issuer, service, signing certificate or "
            "time; check the registry's auth.token settings and both clocks",
        )
    if isinstance(failure, NotFound):
        report.check = f"HTTP {status}: authorized, but the manifest does not exist"
    else:
        report.check = f"HTTP {status}: {failure}"
    report.error = failure


def _digest(response: Response, what: str) -> Digest | None:
    value = response.headers.get("docker-content-digest")
    if value is None:
        return None
    try:
        return Digest.parse(value.strip())
    except InvalidReference:
        raise ProtocolViolation(
            f"{what}: the registry sent an invalid Docker-Content-Digest header"
        ) from None


def _hints(
    report: Explanation,
    granted: list[tuple[str, str, tuple[str, ...]]] | None,
    credential: Credential,
) -> None:
    scope = " ".join(report.wanted)
    if granted is None:
        if report.token is not None and report.token.claims and "access" not in report.token.claims:
            service = report.challenge.service if report.challenge else None
            where = (
                "GitLab's dependency proxy issues" if service == "dependency_proxy" else "some services issue"
            )
            report.hints.append(
                f"the token has no 'access' claim ({where} such tokens and decide access per request), so "
                "what it grants is unknown; the registry's answer below is the evidence"
            )
            return
        report.hints.append(
            "the token is not a JWT ocireg can read, so what it grants is unknown; the registry's answer below "
            "is the only evidence"
        )
        return
    if credential.is_anonymous and report.missing:
        service = report.challenge.service if report.challenge else None
        report.hints.append(
            no_credentials_hint(str(report.reference.registry), credential, service, denied=scope)
        )
        return
    if not granted:
        report.hints.append(
            f"the token service granted NOTHING for {scope} (an empty access list), where GitLab would say "
            "'not found'. " + empty_access_hint()
        )
        return
    if report.missing:
        report.hints.append(
            f"the token grants some but not all of {scope}: missing {', '.join(report.missing)}. On GitLab, "
            "push needs the Developer role (and write_registry for tokens), delete needs Maintainer with a "
            "password or an api token (a registry-scoped token never deletes); CI_JOB_TOKEN can push and "
            "delete only in its own project, deploy tokens never delete"
        )
