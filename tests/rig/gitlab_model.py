"""GitLab's token decisions, as pure functions: who is who, and what ``/jwt/auth`` answers for them.

The token server (:mod:`rig.tokenserver`) asks this module; tests may ask it too, to compute an expectation
without a server. Each rule below is read from gitlab-org/gitlab (read through its public mirrors; the
commit named is the one read):

* ``app/controllers/jwt_controller.rb`` (gitlabhq/gitlabhq mirror skratsch-solutions/gitlabhq @
  47e1c312f84bfe1d348747456ec8ad0c09b10e6d): without Basic credentials the caller is anonymous with the
  *read-only* abilities; with Basic credentials ``Gitlab::Auth.find_for_git_client`` decides, and a failure
  (or ``MissingPersonalAccessTokenError``) is **401** ``UNAUTHORIZED`` with the "HTTP Basic: Access denied…"
  text (:data:`ACCESS_DENIED_MESSAGE`); an unknown ``service`` is ``head :not_found``; the result of the
  service is rendered as JSON with its ``http_status``.
* ``lib/gitlab/auth.rb`` (pavankalisetti009/gitlab @ d4d72811d27c8388bc8c7a276a1eb18535dec57f),
  ``find_for_git_client``: ``gitlab-ci-token`` + job token first, then a personal access token (the login is
  ignored), then a deploy token (the login must be its username), then the user's password. A blocked user
  fails every path; a user with two-factor authentication who sends a password gets
  ``MissingPersonalAccessTokenError`` (401). ``abilities_for_scopes``: ``api`` = full, ``read_api`` =
  read-only, ``read_registry`` = ``read_container_image``, ``write_registry`` = ``create_container_image``
  (only that), ``read_repository``/``write_repository`` = code only. Job tokens get the ``build_*`` abilities
  including ``build_destroy_container_image``.
* ``app/services/auth/container_registry_authentication_service.rb`` (pavankalisetti009/gitlab @
  f146d9f2eab1f1d2c67f618d4fb21888ad390948): **403** ``DENIED`` "access forbidden" when the caller has no
  registry ability at all (a PAT or deploy token without a registry scope), or when no scope survived and the
  caller is anonymous; **403** ``DENIED`` "Pushing to protected repository path forbidden" when a granted
  push scope hits a protection rule whose ``minimum_access_level_for_push`` is above the user's access level
  (``ContainerRegistry::Protection::Rule.for_push_exists?`` returns false for a caller without an access
  level: deploy tokens, admins who are not members); otherwise 200 with the actions the caller may have
  (the others dropped silently). ``delete``: a job token in its own project, or ``admin_container_image``
  (password or ``api`` PAT) with the Maintainer role; never Developers, deploy tokens or registry-scoped PATs.
  ``registry:catalog:*``: admins only.
* ``lib/container_registry/path.rb`` (gitlabhq/gitlabhq @ 003a51d17aea6af92953f7207e2b39a5cb6db8de): the
  project is looked up among the path itself and its first two parents only (``components.first(3)``), so an
  image may sit at most two levels below its project; deeper paths find no project and their scope is dropped.
* ``app/services/auth/dependency_proxy_authentication_service.rb`` (pavankalisetti009/gitlab @
  d45fac326aebf4d10c478ec51e15db1ac1de7e07): ``service=dependency_proxy`` answers an HS256 token with no
  ``access`` claim to a signed-in user (password, PAT, or a job token's user) or a group deploy token with
  both registry scopes; anyone else gets **403** ``{"message": "access forbidden", "status": "error",
  "http_status": 403}`` (``BaseService#error``'s shape, not the registry's ``errors`` list).

Not modelled (written down, not faked): LDAP/OAuth/SAML logins, password expiry, the IP ban after repeated
failures (``Gitlab::Auth::IpRateLimiter``), project bots and group access tokens, the job-token allowlist
beyond "empty" (a job token reaches other projects only through :data:`JOB_TOKEN_ALLOWLIST`), external
authorization, ``container_registry_enabled: false`` projects, the storage-limit refusal, and the ``meta``
and ``user`` claims GitLab adds to registry tokens.
"""

from __future__ import annotations

import fnmatch
import hmac
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

SERVICE = "container_registry"
DEPENDENCY_PROXY_SERVICE = "dependency_proxy"

# GitLab access levels (``Gitlab::Access``).
GUEST, REPORTER, DEVELOPER, MAINTAINER, OWNER = 10, 20, 30, 40, 50

# --------------------------------------------------------------------------------------------- identities

ALICE = "alice"  # Maintainer of group/project and group/sub/project
ALICE_PASSWORD = "alice-password"
ALICE_PAT = "glpat-alice-token-0001"  # scope api
ALICE_PAT_READ = "glpat-alice-read-registry"  # read_registry
ALICE_PAT_WRITE = "glpat-alice-write-registry"  # read_registry, write_registry
ALICE_PAT_WRITE_ONLY = "glpat-alice-write-only"  # write_registry alone
ALICE_PAT_READ_API = "glpat-alice-read-api"  # read_api
ALICE_PAT_REPO = "glpat-alice-read-repository"  # read_repository: no registry scope
ALICE_REFRESH_TOKEN = "refresh-alice-0001"
BOB = "bob"  # member of nothing
BOB_PASSWORD = "bob-password"
DAVE = "dave"  # Developer of group/project
DAVE_PASSWORD = "dave-password"
CAROL = "carol"  # Developer of group/project with two-factor authentication
CAROL_PASSWORD = "carol-password"
CAROL_PAT = "glpat-carol-read-registry"  # read_registry
EVE = "eve"  # blocked; was Maintainer of group/project
EVE_PASSWORD = "eve-password"
EVE_PAT = "glpat-eve-api"
ROOT = "root"  # instance administrator
ROOT_PASSWORD = "root-password"
JOB_USER = "gitlab-ci-token"
JOB_TOKEN = "job-token-alice-0001"  # a job of group/project run by alice
JOB_TOKEN_DEV = "job-token-dave-0001"  # a job of group/project run by dave (Developer)
DEPLOY_USER = "gitlab+deploy-token-1"  # group/project, read_registry
DEPLOY_TOKEN = "deploy-token-secret-0001"
DEPLOY_USER_RW = "gitlab+deploy-token-2"  # group/project, read_registry + write_registry
DEPLOY_TOKEN_RW = "deploy-token-secret-0002"
DEPLOY_USER_REPO = "gitlab+deploy-token-3"  # group/project, read_repository only: no registry scope
DEPLOY_TOKEN_REPO = "deploy-token-secret-0003"

PRIVATE_PROJECT = "group/project"
PRIVATE_SUB_PROJECT = "group/sub/project"
INTERNAL_PROJECT = "group/internal"
PUBLIC_PROJECT = "public/app"

Visibility = Literal["private", "internal", "public"]

#: Project path -> visibility. (ContainerRegistry::Path finds a repository's project; see project_of.)
PROJECTS: Mapping[str, Visibility] = {
    PRIVATE_PROJECT: "private",
    PRIVATE_SUB_PROJECT: "private",
    INTERNAL_PROJECT: "internal",
    PUBLIC_PROJECT: "public",
}

#: Container repository protection rules: project -> ((path pattern, minimum_access_level_for_push), ...).
#: Patterns use GitLab's ``*`` wildcard and start with the project path (the model validates that).
PROTECTION_RULES: Mapping[str, tuple[tuple[str, int], ...]] = {
    PRIVATE_PROJECT: ((f"{PRIVATE_PROJECT}/protected*", MAINTAINER),),
}
PROTECTED_REPO = f"{PRIVATE_PROJECT}/protected"

#: Target project -> projects whose job tokens may reach it (Settings > CI/CD > Job token permissions).
JOB_TOKEN_ALLOWLIST: Mapping[str, tuple[str, ...]] = {}

ALL_REPOSITORY_ACTIONS: tuple[str, ...] = ("pull", "push", "delete")

ACCESS_DENIED_MESSAGE = (
    "HTTP Basic: Access denied. If a password was provided for Git authentication, the password was incorrect "
    "or you're required to use a token instead of a password. If a token was provided, it was either incorrect, "
    "expired, or improperly scoped. See http://127.0.0.2/help/user/profile/account/"
    "two_factor_authentication_troubleshooting.md#error-http-basic-access-denied-if-a-password-was-provided-"
    "for-git-authentication-"
)
FORBIDDEN_MESSAGE = "access forbidden"
PROTECTED_PATH_MESSAGE = "Pushing to protected repository path forbidden"


@dataclass(frozen=True)
class User:
    """A GitLab user. ``members``: project path -> access level."""

    username: str
    password: str
    user_id: int
    members: tuple[tuple[str, int], ...] = ()
    admin: bool = False
    two_factor: bool = False
    blocked: bool = False
    refresh_tokens: tuple[str, ...] = ()

    def level(self, project: str) -> int | None:
        """``max_member_access_for_project``: the access level on ``project``, ``None`` if not a member."""
        return next((lvl for path, lvl in self.members if path == project), None)


@dataclass(frozen=True)
class PersonalAccessToken:
    token: str
    owner: str
    scopes: tuple[str, ...]


@dataclass(frozen=True)
class JobToken:
    token: str
    project: str
    user: str


@dataclass(frozen=True)
class DeployToken:
    username: str
    token: str
    project: str
    scopes: tuple[str, ...]
    group: bool = False  # group deploy tokens only may use the dependency proxy

    @property
    def password(self) -> str:
        return self.token


USERS: Mapping[str, User] = {
    u.username: u
    for u in (
        User(
            ALICE,
            ALICE_PASSWORD,
            1,
            ((PRIVATE_PROJECT, MAINTAINER), (PRIVATE_SUB_PROJECT, MAINTAINER)),
            refresh_tokens=(ALICE_REFRESH_TOKEN,),
        ),
        User(BOB, BOB_PASSWORD, 2),
        User(DAVE, DAVE_PASSWORD, 3, ((PRIVATE_PROJECT, DEVELOPER),)),
        User(CAROL, CAROL_PASSWORD, 4, ((PRIVATE_PROJECT, DEVELOPER),), two_factor=True),
        User(EVE, EVE_PASSWORD, 5, ((PRIVATE_PROJECT, MAINTAINER),), blocked=True),
        User(ROOT, ROOT_PASSWORD, 6, admin=True),
    )
}

PERSONAL_ACCESS_TOKENS: Mapping[str, PersonalAccessToken] = {
    t.token: t
    for t in (
        PersonalAccessToken(ALICE_PAT, ALICE, ("api",)),
        PersonalAccessToken(ALICE_PAT_READ, ALICE, ("read_registry",)),
        PersonalAccessToken(ALICE_PAT_WRITE, ALICE, ("read_registry", "write_registry")),
        PersonalAccessToken(ALICE_PAT_WRITE_ONLY, ALICE, ("write_registry",)),
        PersonalAccessToken(ALICE_PAT_READ_API, ALICE, ("read_api",)),
        PersonalAccessToken(ALICE_PAT_REPO, ALICE, ("read_repository",)),
        PersonalAccessToken(CAROL_PAT, CAROL, ("read_registry",)),
        PersonalAccessToken(EVE_PAT, EVE, ("api",)),
    )
}

JOB_TOKENS: Mapping[str, JobToken] = {
    t.token: t
    for t in (JobToken(JOB_TOKEN, PRIVATE_PROJECT, ALICE), JobToken(JOB_TOKEN_DEV, PRIVATE_PROJECT, DAVE))
}

DEPLOY_TOKENS: Mapping[str, DeployToken] = {
    t.token: t
    for t in (
        DeployToken(DEPLOY_USER, DEPLOY_TOKEN, PRIVATE_PROJECT, ("read_registry",)),
        DeployToken(DEPLOY_USER_RW, DEPLOY_TOKEN_RW, PRIVATE_PROJECT, ("read_registry", "write_registry")),
        DeployToken(DEPLOY_USER_REPO, DEPLOY_TOKEN_REPO, PRIVATE_PROJECT, ("read_repository",)),
    )
}

REFRESH_TOKENS: Mapping[str, str] = {t: u.username for u in USERS.values() for t in u.refresh_tokens}

# ------------------------------------------------------------------------------------------------ abilities

REGISTRY_LOGIN_ABILITIES = frozenset(
    {
        "read_container_image",
        "create_container_image",
        "destroy_container_image",
        "update_container_image",
        "admin_container_image",
        "build_read_container_image",
        "build_create_container_image",
        "build_destroy_container_image",
    }
)
READ_ONLY_ABILITIES = frozenset({"read_project", "download_code", "read_container_image"})
FULL_ABILITIES = READ_ONLY_ABILITIES | {"push_code", "create_container_image", "admin_container_image"}
BUILD_ABILITIES = frozenset(
    {
        "read_project",
        "build_download_code",
        "build_push_code",
        "build_read_container_image",
        "build_create_container_image",
        "build_destroy_container_image",
    }
)
ABILITIES_BY_SCOPE: Mapping[str, frozenset[str]] = {
    "api": FULL_ABILITIES,
    "read_api": READ_ONLY_ABILITIES,
    "read_registry": frozenset({"read_container_image"}),
    "write_registry": frozenset({"create_container_image"}),
    "read_repository": frozenset({"download_code"}),
    "write_repository": frozenset({"download_code", "push_code"}),
}


def abilities_for_scopes(scopes: Iterable[str]) -> frozenset[str]:
    """``Gitlab::Auth.abilities_for_scopes``."""
    out: set[str] = set()
    for scope in scopes:
        out |= ABILITIES_BY_SCOPE.get(scope, frozenset())
    return frozenset(out)


AuthType = Literal["none", "gitlab_or_ldap", "personal_access_token", "build", "deploy_token"]


@dataclass(frozen=True)
class Identity:
    """``Gitlab::Auth::Result``: the actor, the job's project, the type and the abilities."""

    type: AuthType
    abilities: frozenset[str]
    user: User | None = None
    project: str | None = None  # the job's project (job tokens only)
    deploy_token: DeployToken | None = None

    @property
    def subject(self) -> str:
        """The token's ``sub``: the user's name; empty for anonymous and deploy tokens."""
        return self.user.username if self.user else ""

    @property
    def login(self) -> str | None:
        if self.deploy_token is not None:
            return self.deploy_token.username
        return self.user.username if self.user else None


ANONYMOUS = Identity("none", READ_ONLY_ABILITIES)


class Unauthorized(Exception):
    """``find_for_git_client`` failed (or raised MissingPersonalAccessTokenError): 401 with GitLab's text."""


def find_for_git_client(login: str, password: str) -> Identity:
    """``Gitlab::Auth.find_for_git_client`` for the identities above; raises :class:`Unauthorized`."""
    if not password:
        raise Unauthorized
    if login == JOB_USER:
        job = JOB_TOKENS.get(password)
        if job is not None:
            runner = USERS[job.user]
            if not runner.blocked:
                return Identity("build", BUILD_ABILITIES, user=runner, project=job.project)
    pat = PERSONAL_ACCESS_TOKENS.get(password)
    if pat is not None and not USERS[pat.owner].blocked:
        return Identity("personal_access_token", abilities_for_scopes(pat.scopes), user=USERS[pat.owner])
    deploy = DEPLOY_TOKENS.get(password)
    if deploy is not None and deploy.username == login:
        return Identity("deploy_token", abilities_for_scopes(deploy.scopes), deploy_token=deploy)
    user = USERS.get(login)
    if user is None or user.blocked or not hmac.compare_digest(user.password, password):
        raise Unauthorized
    if user.two_factor:
        raise Unauthorized  # MissingPersonalAccessTokenError: a 2FA user must use a token
    return Identity("gitlab_or_ldap", FULL_ABILITIES, user=user)


# -------------------------------------------------------------------------------------- paths and policies


def project_of(name: str) -> str | None:
    """``ContainerRegistry::Path#repository_project``: the project among the path and its first two parents.

    A valid path has 2..19 components (``Namespace::NUMBER_OF_ANCESTORS_ALLOWED`` = 20); an image deeper than
    two levels below its project finds no project (``components.first(3)``).
    """
    nodes = name.split("/")
    if not 1 < len(nodes) < 20:
        return None
    for length in range(len(nodes), max(1, len(nodes) - 3), -1):
        candidate = "/".join(nodes[:length])
        if candidate in PROJECTS:
            return candidate
    return None


def can_read(user: User | None, project: str) -> bool:
    """``can?(user, :read_container_image, project)``: public for all, internal for users, else Reporter."""
    visibility = PROJECTS[project]
    if visibility == "public" or (user is not None and (user.admin or visibility == "internal")):
        return True
    level = user.level(project) if user is not None else None
    return level is not None and level >= REPORTER


def _has_level(user: User | None, project: str, minimum: int) -> bool:
    if user is None:
        return False
    level = user.level(project)
    return user.admin or (level is not None and level >= minimum)


def can_access(identity: Identity, project: str, action: str) -> bool:
    """``ContainerRegistryAuthenticationService#can_access?``."""
    has = identity.abilities.__contains__
    user, deploy = identity.user, identity.deploy_token
    job_here = identity.project == project
    if action == "pull":
        build = has("build_read_container_image") and (
            job_here
            or (
                identity.project in JOB_TOKEN_ALLOWLIST.get(project, ())
                and can_read(user, project)
                and user is not None
            )
        )
        as_user = has("read_container_image") and can_read(user, project)  # deploy tokens too (public)
        as_deploy = has("read_container_image") and deploy is not None and deploy.project == project
        return build or as_user or as_deploy
    if action == "push":
        build = has("build_create_container_image") and job_here
        as_user = has("create_container_image") and _has_level(user, project, DEVELOPER)
        as_deploy = has("create_container_image") and deploy is not None and deploy.project == project
        return build or as_user or as_deploy
    if action == "delete":
        build = has("build_destroy_container_image") and job_here
        return build or (has("admin_container_image") and _has_level(user, project, MAINTAINER))
    if action == "*":
        return has("admin_container_image") and _has_level(user, project, MAINTAINER)
    return False


def parse_scope(scope: str) -> tuple[str, str, tuple[str, ...]] | None:
    """Split ``type:name:actions``; the name may itself contain ':' (e.g. a host:port prefix)."""
    first = scope.find(":")
    last = scope.rfind(":")
    if first <= 0 or last == first:
        return None
    kind, name, actions = scope[:first], scope[first + 1 : last], scope[last + 1 :]
    if not name:
        return None
    # "repository(plugin)" style type classes are accepted by Docker; GitLab ignores the class.
    kind = kind.split("(", 1)[0]
    acts = tuple(dict.fromkeys(a.strip() for a in actions.split(",") if a.strip()))
    return kind, name, acts


AccessEntry = dict[str, Any]


def grant(identity: Identity | None, scopes: Iterable[str]) -> list[AccessEntry]:
    """What GitLab would put in ``access`` for ``identity`` (None = anonymous) asking for ``scopes``.

    Requested actions keep their order; anything not allowed is dropped, and an entry left with no action
    disappears (``process_repository_access``).
    """
    who = identity if identity is not None else ANONYMOUS
    out: list[AccessEntry] = []
    for raw in scopes:
        parsed = parse_scope(raw)
        if parsed is None:
            continue
        kind, name, actions = parsed
        if kind == "registry":
            if name == "catalog" and who.user is not None and who.user.admin and actions == ("*",):
                out.append({"type": "registry", "name": "catalog", "actions": ["*"]})
            continue
        if kind != "repository":
            continue
        project = project_of(name)
        if project is None:
            continue
        granted = [a for a in actions if can_access(who, project, a)]
        if granted:
            out.append({"type": "repository", "name": name, "actions": granted})
    return out


def push_protected(identity: Identity | None, access: Iterable[AccessEntry]) -> bool:
    """``repository_path_push_protected?``: a granted push onto a path a protection rule guards."""
    user = identity.user if identity is not None else None
    for entry in access:
        if entry["type"] != "repository" or not ({"push", "*"} & set(entry["actions"])):
            continue
        project = project_of(entry["name"])
        level = user.level(project) if user is not None and project is not None else None
        if project is None or level is None:  # for_push_exists? is false without an access level
            continue
        for pattern, minimum in PROTECTION_RULES.get(project, ()):
            if level < minimum and fnmatch.fnmatchcase(entry["name"].lower(), pattern.lower()):
                return True
    return False


@dataclass(frozen=True)
class Decision:
    """What ``/jwt/auth`` answers: a token with ``access``, or an error status with GitLab's body."""

    status: int
    access: tuple[AccessEntry, ...] = ()
    body: Mapping[str, Any] | None = None


def registry_error(status: int, code: str, message: str) -> dict[str, Any]:
    """``ContainerRegistryAuthenticationService#error``'s body."""
    return {"errors": [{"code": code, "message": message}], "http_status": status}


def container_registry_decision(identity: Identity | None, scopes: Iterable[str]) -> Decision:
    """``ContainerRegistryAuthenticationService#execute``."""
    who = identity if identity is not None else ANONYMOUS
    if not who.abilities & REGISTRY_LOGIN_ABILITIES:
        return Decision(403, body=registry_error(403, "DENIED", FORBIDDEN_MESSAGE))
    access = grant(who, scopes)
    if not (access or who.user or who.deploy_token or who.project):
        return Decision(403, body=registry_error(403, "DENIED", FORBIDDEN_MESSAGE))
    if push_protected(who, access):
        return Decision(403, body=registry_error(403, "DENIED", PROTECTED_PATH_MESSAGE))
    return Decision(200, access=tuple(access))


def dependency_proxy_decision(identity: Identity | None) -> Decision:
    """``DependencyProxyAuthenticationService#execute`` (``dependency_proxy_containers_scope_check``)."""
    who = identity if identity is not None else ANONYMOUS
    ok = who.user is not None or (
        who.deploy_token is not None
        and who.deploy_token.group
        and {"read_registry", "write_registry"} <= set(who.deploy_token.scopes)
    )
    if not ok:
        return Decision(403, body={"message": FORBIDDEN_MESSAGE, "status": "error", "http_status": 403})
    return Decision(200)


def dependency_proxy_groups() -> frozenset[str]:
    """Groups that have a dependency proxy in the rig: the top-level groups of the projects."""
    return frozenset(path.split("/", 1)[0] for path in PROJECTS)
