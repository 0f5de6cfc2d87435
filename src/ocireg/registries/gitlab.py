"""GitLab's container registry and its token service (``/jwt/auth``), and GitLab's dependency proxy.

What GitLab does differently, with its sources (gitlab-org/gitlab and gitlab-org/container-registry):

* ``/jwt/auth`` (``app/controllers/jwt_controller.rb``, ``app/services/auth/
  container_registry_authentication_service.rb``) answers 401 "HTTP Basic: Access denied" when nobody is found
  for the credentials (a wrong password or token, an expired or revoked token, a blocked user, a user with
  two-factor authentication who sent a password); 403 ``DENIED`` "access forbidden" to an anonymous caller whose
  every scope was dropped and to a token without any registry ability; 403 "Pushing to protected repository path
  forbidden"; and 200 with the actions dropped for a signed-in user without rights, so a missing project and a
  denied one look the same: an empty grant is access denied (exit 4), never "absent".
* The dependency proxy (``service="dependency_proxy"``, ``app/services/auth/
  dependency_proxy_authentication_service.rb``) answers 403 ``{"message": "access forbidden"}`` to anyone but
  a signed-in user or a group deploy token, and its tokens carry no ``access`` claim.
* The registry refuses what its tag rules forbid with 401 and *no* challenge (``PROTECTED_TAG``,
  ``IMMUTABLE_TAG``, ``PROTECTED_MANIFEST``, ``registry/api/v2/errors.go``): access denied, not a login failure.
* ``GET /v2/`` says ``Gitlab-Container-Registry-Version``, ``-Features`` (``tag_delete``) and
  ``-Database-Enabled`` (``registry/handlers/app.go``, ``distributionAPIBase``); with the database the registry
  serves ``/gitlab/v1`` (:mod:`ocireg.registries.gitlab_api`).
* A failed Basic login counts towards GitLab's abuse throttling: a 401 from ``/jwt/auth`` is never retried.
"""

from __future__ import annotations

from collections.abc import Mapping

from ocireg.errors import InvalidReference, ProtocolViolation
from ocireg.registries.base import Features, Profile, Refusal
from ocireg.text import escape

TYPE_CHECKING = False
if TYPE_CHECKING:
    import datetime as dt

    from ocireg.reference import Repository
    from ocireg.registries.base import Verdict
    from ocireg.registries.details import TagDetail, TagSort

__all__ = [
    "DEPENDENCY_PROXY_SERVICE",
    "GITLAB",
    "REGISTRY_SERVICE",
    "TAG_RULE_CODES",
    "GitLabProfile",
    "tag_rule_hint",
    "token_realm",
]

#: GitLab's text for a push onto a path guarded by a container repository protection rule.
PROTECTED_PATH_TEXT = "protected repository path"
#: The codes of GitLab's tag rules: a 401 without a challenge that is access denied (exit 4).
TAG_RULE_CODES = frozenset({"PROTECTED_TAG", "IMMUTABLE_TAG", "PROTECTED_MANIFEST"})
_RULES_WHERE = "Settings > Packages and registries > Container registry"
_TAG_RULE_HINTS = {
    "PROTECTED_TAG": (
        "the project protects this tag: only the roles its rules name may push or delete it; ask a Maintainer",
        f"{_RULES_WHERE} > Protected container tags",
    ),
    "IMMUTABLE_TAG": (
        "the project's immutability rules make this tag unchangeable once pushed; push a new tag instead",
        f"the rules are in {_RULES_WHERE}",
    ),
    "PROTECTED_MANIFEST": (
        "GitLab refuses deletes by digest while tag rules apply to you (it would take every tag with it)",
        "delete the tag itself (ocireg delete REPO:TAG), or ask a Maintainer",
        f"the rules are in {_RULES_WHERE}",
    ),
}
_EXPLAIN = "'ocireg auth explain REF' lists every cause"

_HOSTS = frozenset({"gitlab.com", "registry.gitlab.com"})
#: Tags per page of ``/gitlab/v1``'s tags list: its maximum ``n`` (gitlab-org/container-registry
#: ``registry/handlers/repositories.go``, ``nQueryParamValueMax``).
TAGS_PAGE = 1000
#: The first registry with the OCI tag delete (gitlab-org/container-registry CHANGELOG, 3.80.0); older ones that
#: advertise ``tag_delete`` have only ``DELETE /v2/<name>/tags/reference/<tag>``.
OCI_TAG_DELETE_SINCE = (3, 80)


#: The token services GitLab's realm answers for: its container registry (the registry's ``auth.token.service``, as
#: GitLab configures it) and its dependency proxy (gitlab-org/gitlab ``spec/models/dependency_proxy/
#: registry_spec.rb``: ``Bearer realm="<GitLab URL>/jwt/auth",service="dependency_proxy"``).
REGISTRY_SERVICE = "container_registry"
DEPENDENCY_PROXY_SERVICE = "dependency_proxy"


def token_realm(server_url: str) -> str:
    """GitLab's token realm for the GitLab at ``server_url``: ``<GitLab URL>/jwt/auth``, for both services (the
    registry's ``auth.token.realm`` as GitLab configures it, and the dependency proxy's challenge)."""
    return server_url.rstrip("/") + "/jwt/auth"


def tag_rule_hint(code: str) -> str:
    """The two lines naming one of GitLab's tag rules."""
    return "\n".join(_TAG_RULE_HINTS[code])


class GitLabProfile(Profile):
    name = "gitlab"
    title = "GitLab"
    self_managed = True
    tag_details_title = "GitLab's registry with its metadata database (/gitlab/v1)"

    def matches_host(self, host: str) -> bool:
        return host in _HOSTS

    def matches_challenge(self, scheme: str, params: Mapping[str, str]) -> bool:
        service = params.get("service")
        realm = params.get("realm") or ""
        if service == "dependency_proxy":
            return True
        return service == "container_registry" and realm.rstrip("/").endswith("/jwt/auth")

    def features(self, headers: Mapping[str, str]) -> Features | None:
        version = (headers.get("gitlab-container-registry-version") or "").strip()[:100] or None
        raw = headers.get("gitlab-container-registry-features") or ""
        names = frozenset(f.strip().lower()[:100] for f in raw.split(",")[:50] if f.strip())
        database_text = (headers.get("gitlab-container-registry-database-enabled") or "").strip().lower()
        database = {"true": True, "false": False}.get(database_text)
        if version is None and not names and database is None:
            return None
        return Features(version=version, names=names, database=database, profile=self.name)

    def judge(self, refusal: Refusal) -> Verdict | None:
        if refusal.status == 401 and refusal.scheme is None and refusal.codes & TAG_RULE_CODES:
            return "denied"
        return None

    def reads_refusal_body(self, status: int) -> bool:
        return status in (401, 403)

    def credential_help(self, registry: str) -> str:
        return super().credential_help(registry)

    def hint_parts(self, refusal: Refusal, verdict: Verdict) -> list[str | None]:
        rule = next((code for code in sorted(refusal.codes) if code in TAG_RULE_CODES), None)
        if rule is not None and not refusal.at_token_service:
            return list(_TAG_RULE_HINTS[rule])
        proxy = refusal.service == "dependency_proxy"
        message = (refusal.message or "").lower()
        if refusal.credential.is_anonymous:
            parts = super().hint_parts(refusal, verdict)[:2]
            if proxy:
                parts.append(
                    "in GitLab CI the dependency proxy takes CI_DEPENDENCY_PROXY_USER/CI_DEPENDENCY_PROXY_PASSWORD"
                )
            else:
                parts.append("in GitLab CI, CI_REGISTRY_USER/CI_REGISTRY_PASSWORD apply to CI_REGISTRY only")
            return parts
        if verdict == "rejected":
            return [
                "GitLab rejected the password or token: expired, revoked, a blocked user, or two-factor auth (2FA)",
                "use a personal access token with read_registry (write_registry to push); no retry is made",
                _EXPLAIN,
            ]
        if PROTECTED_PATH_TEXT in message:
            return [
                "the project protects this repository path (Protected container repositories)",
                "pushing there needs the role its rule names (Maintainer or Owner)",
            ]
        if proxy:
            return [
                "GitLab's dependency proxy serves signed-in users and group deploy tokens only",
                _EXPLAIN,
            ]
        if refusal.at_token_service:
            return [
                "the credentials carry no container-registry scope: read_registry to pull, write_registry to push",
                _EXPLAIN,
            ]
        if refusal.granted_nothing:
            deep = any(
                len(scope.split(":")[1].split("/")) > 4 for scope in refusal.scopes if scope.count(":") == 2
            )
            return [
                # The error line already names the credential and its source: the hint keeps its width for the cause.
                f"GitLab granted no access for {refusal.wanted}, as it answers for a missing project too",
                "an image path more than two levels below the project is never found by GitLab"
                if deep
                else "the project path is misspelt or does not exist, or a role, token scope or job token allowlist entry is missing",
                _EXPLAIN,
            ]
        return [f"{refusal.credential.describe()} is not allowed {refusal.wanted or 'this'}", _EXPLAIN]

    def catalog_help(self) -> str | None:
        # Only instance administrators get registry:catalog:* (others get a token with an empty access list).
        return "or GitLab's API: GET /api/v4/projects/:id/registry/repositories"

    # -- /gitlab/v1 (gitlab-org/container-registry docs/spec/gitlab/api.md, "List Repository Tags") and the
    # -- single-tag delete of registries 2.8-gitlab to 3.x (advertised as tag_delete, removed in 4.0)

    def tag_details_path(self, repository: Repository) -> str | None:
        return f"/gitlab/v1/repositories/{repository.path}/tags/list/"

    def tag_details_query(
        self, name: str | None, name_exact: str | None, sort: TagSort, limit: int | None
    ) -> str:
        return tag_details_query(name, name_exact, sort, limit)

    def tag_details_page(self, body: bytes, repository: Repository, what: str) -> list[TagDetail]:
        return tag_details(body, repository, what)

    def tag_delete_path(self, repository: Repository, tag: str) -> str | None:
        return f"/v2/{repository.path}/tags/reference/{tag}"

    def own_tag_delete_first(self, features: Features | None) -> bool:
        return (
            features is not None and features.tag_delete and _version(features.version) < OCI_TAG_DELETE_SINCE
        )

    def explain_notes(self, refusal: Refusal, verdict: Verdict) -> list[str]:
        if refusal.granted_nothing or (
            verdict == "denied" and refusal.scopes and not refusal.at_token_service
        ):
            return [EMPTY_ACCESS]
        if verdict == "rejected":
            return [REJECTED_CAUSES]
        return []


def _version(text: str | None) -> tuple[int, int]:
    """``3.79.1-gitlab`` -> (3, 79); unknown -> a version after every known one (try the OCI delete)."""
    parts = (text or "").lstrip("v").split(".")
    try:
        return int(parts[0]), int(parts[1])
    except (IndexError, ValueError):
        return (10**6, 0)


def tag_details_query(name: str | None, name_exact: str | None, sort: TagSort, limit: int | None) -> str:
    """The query of the first ``/gitlab/v1`` tags page; ``ValueError`` for arguments that cannot go together."""
    from urllib.parse import urlencode

    from ocireg.registries.details import TAG_SORTS

    if sort not in TAG_SORTS:
        raise ValueError(f"sort must be one of {TAG_SORTS}")
    if name is not None and name_exact is not None:
        raise ValueError("name and name_exact are mutually exclusive")
    if limit is not None and limit < 1:
        raise ValueError("limit must be at least 1")
    params = [("n", str(TAGS_PAGE if limit is None else min(limit, TAGS_PAGE)))]
    if name is not None:
        params.append(("name", name))
    if name_exact is not None:
        params.append(("name_exact", name_exact))
    if sort != "name":
        params.append(("sort", sort))
    return urlencode(params)


def _timestamp(value: object, field: str, what: str) -> dt.datetime | None:
    """An ISO 8601 timestamp of the GitLab API (``2023-05-01T00:00:01.000Z``), timezone-aware UTC."""
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > 64:
        raise ProtocolViolation(f"{what}: {field} is not a timestamp")
    try:
        import datetime

        parsed = datetime.datetime.fromisoformat(
            value.replace("Z", "+00:00") if value.endswith("Z") else value
        )
    except ValueError:
        raise ProtocolViolation(f"{what}: {field} {escape(value)!r} is not an ISO 8601 timestamp") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=_utc())
    return parsed.astimezone(_utc())


def tag_details(body: bytes, repository: Repository, what: str) -> list[TagDetail]:
    """One page of ``/gitlab/v1`` tags: a JSON array of objects; names and digests validated before use."""
    from ocireg.manifest import loads_strict
    from ocireg.reference import Digest, Reference
    from ocireg.registries.details import TagDetail

    # loads_strict parses objects only: wrap the array so the same strict rules apply to it.
    doc = loads_strict(b'{"tags":' + bytes(body) + b"}", what=what, error=ProtocolViolation)["tags"]
    if not isinstance(doc, list):
        raise ProtocolViolation(f"{what}: the answer is not a JSON array")
    out = []
    for item in doc:
        if not isinstance(item, dict):
            raise ProtocolViolation(f"{what}: an entry is not an object")
        name, digest, config = item.get("name"), item.get("digest"), item.get("config_digest")
        try:
            if not isinstance(name, str) or not isinstance(digest, str):
                raise InvalidReference("missing name or digest")
            Reference(repository, name)
            parsed = Digest.parse(digest)
            config_digest = Digest.parse(config) if isinstance(config, str) and config else None
        except InvalidReference:
            shown = escape(str(name))[:200]
            raise ProtocolViolation(f"{what}: entry {shown!r} has an invalid tag name or digest") from None
        media_type = item.get("media_type")
        size = item.get("size_bytes")
        out.append(
            TagDetail(
                name=name,
                digest=parsed,
                media_type=media_type[:255] if isinstance(media_type, str) and media_type else None,
                size=size if isinstance(size, int) and not isinstance(size, bool) and size >= 0 else None,
                config_digest=config_digest,
                created_at=_timestamp(item.get("created_at"), "created_at", what),
                updated_at=_timestamp(item.get("updated_at"), "updated_at", what),
                published_at=_timestamp(item.get("published_at"), "published_at", what),
            )
        )
    return out


def _utc() -> dt.tzinfo:
    import datetime

    return datetime.timezone.utc


#: What an empty ``access`` list means on GitLab (ContainerRegistryAuthenticationService drops silently).
EMPTY_ACCESS = (
    "On GitLab an empty grant means: the project path is misspelt or does not exist; the image "
    "path is more than two levels below the project (GitLab finds the project only for group/project, "
    "group/project/a and group/project/a/b, not group/project/a/b/c); the user lacks the role (Reporter to "
    "pull, Developer to push, Maintainer to delete) or the token lacks read_registry/write_registry; or, "
    "for CI_JOB_TOKEN, the project running the job is missing from the target project's job token "
    "allowlist (Settings > CI/CD > Job token permissions)"
)
#: Every cause of a 401 from ``/jwt/auth``.
REJECTED_CAUSES = (
    "the password or token was rejected. On GitLab this also means: the account has two-factor "
    "authentication (or the instance allows no password for Git), so use a personal access token with "
    "read_registry (write_registry to push) instead of the password; the token is expired or revoked; "
    "or the account is blocked. ocireg does not retry a rejected login (GitLab counts failures "
    "toward an IP ban)"
)
#: What the token grants some but not all of the actions means on GitLab.
PARTIAL_GRANT = (
    "On GitLab, push needs the Developer role (and write_registry for tokens), delete needs Maintainer with a "
    "password or an api token (a registry-scoped token never deletes); CI_JOB_TOKEN can push and delete only "
    "in its own project, deploy tokens never delete"
)

GITLAB = GitLabProfile()
