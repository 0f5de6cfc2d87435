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

from ocireg.registries.base import Features, Profile, Refusal

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ocireg.registries.base import Verdict

__all__ = ["GITLAB", "TAG_RULE_CODES", "GitLabProfile", "tag_rule_hint"]

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


def tag_rule_hint(code: str) -> str:
    """The two lines naming one of GitLab's tag rules."""
    return "\n".join(_TAG_RULE_HINTS[code])


class GitLabProfile(Profile):
    name = "gitlab"
    title = "GitLab"

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
                f"GitLab granted no access for {refusal.wanted} to {refusal.credential.describe()}",
                "an image path more than two levels below the project is never found by GitLab"
                if deep
                else "the project path is misspelt or does not exist, or a role, token scope or job token allowlist entry is missing",
                _EXPLAIN,
            ]
        return [f"{refusal.credential.describe()} is not allowed {refusal.wanted or 'this'}", _EXPLAIN]

    def explain_notes(self, refusal: Refusal, verdict: Verdict) -> list[str]:
        if refusal.granted_nothing or (
            verdict == "denied" and refusal.scopes and not refusal.at_token_service
        ):
            return [EMPTY_ACCESS]
        if verdict == "rejected":
            return [REJECTED_CAUSES]
        return []


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
