"""Issue #12: the diagnosis of a token-service refusal (exit code, GitLab's message, hint by cause), the
dependency-proxy credentials of the GitLab CI adapter, and the rig's GitLab model as a table.

GitLab facts from gitlab-org/gitlab (commits in tests/rig/gitlab_model.py): JwtController's 401 text,
ContainerRegistryAuthenticationService's 403 bodies, DependencyProxyAuthenticationService's 403 body,
ContainerRegistry::Path's depth rule.
"""

from __future__ import annotations

import json

import pytest

from ocireg.auth import no_credentials_hint, server_message, token_refusal
from ocireg.credentials import Credential
from ocireg.errors import AuthenticationFailed, PermissionDenied
from ocireg.gitlab import GitLabCI
from ocireg.reference import parse_registry
from ocireg.registries import MAX_HINT_LINE, MAX_HINT_LINES
from ocireg.registries.gitlab import EMPTY_ACCESS, GITLAB

from rig import gitlab_model as gl

REG = "registry.example.com"
ANON = Credential(
    source=f"anonymous (no credential for {REG} in: OCIREG_USERNAME/OCIREG_PASSWORD, /h/.docker/config.json)"
)
ALICE = Credential(username="alice", password="s3cret-password", source="OCIREG_USERNAME/OCIREG_PASSWORD")


def body(payload: object) -> bytes:
    return json.dumps(payload).encode()


DENIED = body(gl.registry_error(403, "DENIED", gl.FORBIDDEN_MESSAGE))
PROTECTED = body(gl.registry_error(403, "DENIED", gl.PROTECTED_PATH_MESSAGE))
UNAUTHORIZED = body({"errors": [{"code": "UNAUTHORIZED", "message": gl.ACCESS_DENIED_MESSAGE}]})
PROXY_DENIED = body({"message": "access forbidden", "status": "error", "http_status": 403})


def refusal(
    status: int,
    raw: bytes,
    credential: Credential,
    service: str = "container_registry",
    registry: str = REG,
    scopes: tuple[str, ...] = (),
) -> AuthenticationFailed | PermissionDenied:
    return token_refusal(status, raw, registry, service, credential, scopes, profile=GITLAB)


def short(hint: str | None) -> str:
    """#22 item 7: a hint is at most three lines of at most 120 characters."""
    assert hint is not None
    lines = hint.split("\n")
    assert len(lines) <= MAX_HINT_LINES and all(len(line) <= MAX_HINT_LINE for line in lines), hint
    return hint


def test_pc_401_is_exit_3_with_gitlab_text_and_token_hint() -> None:
    """#12 item 2: 401 → AuthenticationFailed (exit 3), GitLab's text, the 2FA / token-instead-of-password hint
    in at most three short lines (#22 item 7)."""
    err = refusal(401, UNAUTHORIZED, ALICE)
    assert isinstance(err, AuthenticationFailed)
    assert "HTTP Basic: Access denied" in err.message
    hint = short(err.hint)
    assert "two-factor" in hint and "personal access token with read_registry" in hint
    assert "auth explain" in hint


def test_pc_401_anonymous_is_exit_4() -> None:
    """#22 item 5: nothing sent and refused is access denied (exit 4), also as a 401 from the token service."""
    err = refusal(401, UNAUTHORIZED, ANON, scopes=("repository:a/b:pull",))
    assert isinstance(err, PermissionDenied)
    assert "no credentials were found" in short(err.hint)


def test_pc_403_anonymous_names_sources_and_variable() -> None:
    """#12 item 2: anonymous 403 → PermissionDenied (exit 4), "no credentials were found … looked in"."""
    err = refusal(403, DENIED, ANON, scopes=("repository:a/b:pull",))
    assert isinstance(err, PermissionDenied)
    assert err.message == (
        f"the token service for {REG} refused anonymous access to repository:a/b:pull: DENIED: access forbidden"
    )
    hint = short(err.hint)
    assert hint.startswith(
        f"no credentials were found for {REG}; ocireg looked in: OCIREG_USERNAME/OCIREG_PASSWORD, /h/.dock"
    )
    assert "OCIREG_USERNAME and OCIREG_PASSWORD" in hint and "CI_REGISTRY_USER" in hint
    assert "two-factor" not in hint


def test_pc_403_scopes_protected_path_and_dependency_proxy_hints() -> None:
    """#12 item 2: 403 hints by cause: registry scopes, protected path, dependency proxy."""
    scopes = refusal(403, DENIED, ALICE)
    assert isinstance(scopes, PermissionDenied)
    assert "read_registry" in short(scopes.hint) and "write_registry" in short(scopes.hint)
    protected = refusal(403, PROTECTED, ALICE)
    assert gl.PROTECTED_PATH_MESSAGE in protected.message
    assert "Protected container repositories" in short(protected.hint)
    proxy = refusal(403, PROXY_DENIED, ANON, "dependency_proxy", "gitlab.example.com:443")
    assert "access forbidden" in proxy.message
    assert "CI_DEPENDENCY_PROXY_USER/CI_DEPENDENCY_PROXY_PASSWORD" in short(proxy.hint)
    deploy = refusal(403, PROXY_DENIED, ALICE, "dependency_proxy", "gitlab.example.com:443")
    assert "group deploy tokens" in short(deploy.hint)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (DENIED, "DENIED: access forbidden"),
        (PROXY_DENIED, "access forbidden"),
        (body({"error": "invalid_grant", "error_description": "bad\x1b[31m"}), "bad\\x1b[31m"),
        (b"<html>", None),
        (body({"message": "x" * 5000}), "x" * 299 + "…"),
        (body({"message": "echo s3cret-password"}), "echo ***"),
    ],
)
def test_bi_server_message_escaped_capped_redacted(raw: bytes, expected: str | None) -> None:
    """#12 item 2: GitLab's own words are shown escaped, capped, and never with the caller's secret."""
    assert server_message(raw, ALICE) == expected


def test_pc_empty_access_causes_name_path_role_allowlist_depth() -> None:
    """#12 item 2: empty access → path, role, allowlist and the two-levels depth limit (auth explain's text)."""
    for needle in ("misspelt", "Reporter", "allowlist", "more than two levels below the project"):
        assert needle in EMPTY_ACCESS


def test_pc_no_credentials_hint_without_sources_still_says_what_to_set() -> None:
    hint = short(no_credentials_hint(REG, Credential(), profile=GITLAB))
    assert hint.startswith(f"no credentials were found for {REG}")
    assert "looked in" not in hint and "OCIREG_USERNAME and OCIREG_PASSWORD" in hint


# ------------------------------------------------------------------------------- dependency proxy (CI)

PROXY_ENV = {
    "GITLAB_CI": "true",
    "CI_REGISTRY": "registry.gitlab.example.com",
    "CI_JOB_TOKEN": "job-token",
    "CI_DEPENDENCY_PROXY_SERVER": "gitlab.example.com:443",
    "CI_DEPENDENCY_PROXY_USER": "gitlab-ci-token",
    "CI_DEPENDENCY_PROXY_PASSWORD": "proxy-token",
}


@pytest.mark.parametrize("server", ["gitlab.example.com:443", "gitlab.example.com"])
@pytest.mark.parametrize("host", ["gitlab.example.com:443", "gitlab.example.com"])
def test_sec_dependency_proxy_host_gets_proxy_credentials_with_or_without_443(server: str, host: str) -> None:
    """#12 item 3: CI_DEPENDENCY_PROXY_SERVER with or without :443 matches the image's host either way."""
    ci = GitLabCI.from_env({**PROXY_ENV, "CI_DEPENDENCY_PROXY_SERVER": server})
    assert ci is not None
    cred = ci.source().lookup(parse_registry(host))
    assert cred is not None
    assert (cred.username, cred.password) == ("gitlab-ci-token", "proxy-token")
    assert "CI_DEPENDENCY_PROXY_USER" in cred.source


@pytest.mark.parametrize(
    "host", ["gitlab.example.com:8443", "gitlab.example.com.evil", "evil.example.com:443"]
)
def test_sec_dependency_proxy_credentials_go_to_that_host_only(host: str) -> None:
    """#12 item 3: exact host (and only the default port) — no prefix, suffix or other-port matching."""
    ci = GitLabCI.from_env(PROXY_ENV)
    assert ci is not None
    assert ci.source().lookup(parse_registry(host)) is None


def test_sec_dependency_proxy_credentials_without_container_registry() -> None:
    """#12 item 3: where the container registry is disabled a job has no CI_REGISTRY / CI_REGISTRY_IMAGE (GitLab's
    predefined-variables reference: "only available if the container registry is enabled"), but the group's
    dependency proxy variables are set all the same: the proxy's host gets its credentials, no other host gets
    anything, and the ':TAG' shorthand stays unavailable."""
    env = {k: v for k, v in PROXY_ENV.items() if k not in ("CI_REGISTRY", "CI_REGISTRY_IMAGE")}
    ci = GitLabCI.from_env(env)
    assert ci is not None
    cred = ci.source().lookup(parse_registry("gitlab.example.com:443"))
    assert cred is not None and (cred.username, cred.password) == ("gitlab-ci-token", "proxy-token")
    for host in ("registry.gitlab.example.com", "gitlab.example.com:8443", "docker.io"):
        assert ci.source().lookup(parse_registry(host)) is None, host
    assert ci.expand(":v1") == ":v1"
    assert GitLabCI.from_env({"GITLAB_CI": "true", "CI_JOB_TOKEN": "job-token"}) is None


def test_pc_registry_credentials_unchanged_and_proxy_needs_both_variables() -> None:
    ci = GitLabCI.from_env(PROXY_ENV)
    assert ci is not None
    cred = ci.source().lookup(parse_registry("registry.gitlab.example.com"))
    assert cred is not None and cred.password == "job-token"
    partial = GitLabCI.from_env({k: v for k, v in PROXY_ENV.items() if k != "CI_DEPENDENCY_PROXY_PASSWORD"})
    assert partial is not None
    assert partial.source().lookup(parse_registry("gitlab.example.com:443")) is None
    assert GitLabCI.from_env({**PROXY_ENV, "CI_DEPENDENCY_PROXY_SERVER": "not a host"}) is not None


# ------------------------------------------------------------------------------ the rig's GitLab model


@pytest.mark.parametrize(
    ("name", "project"),
    [
        ("group/project", "group/project"),
        ("group/project/a", "group/project"),
        ("group/project/a/b", "group/project"),
        ("group/project/a/b/c", None),  # more than two levels below the project
        ("group/sub/project/image", "group/sub/project"),
        ("group", None),
        ("/".join(["g"] * 20), None),
    ],
)
def test_pc_model_container_registry_path_depth(name: str, project: str | None) -> None:
    """#12 item 1: ContainerRegistry::Path#repository_project looks at the path and its first two parents."""
    assert gl.project_of(name) == project


def _who(login: str, secret: str) -> gl.Identity:
    return gl.find_for_git_client(login, secret)


@pytest.mark.parametrize(
    ("identity", "scope", "status", "actions"),
    [
        (None, "repository:public/app:pull", 200, ["pull"]),
        (None, "repository:group/project:pull", 403, None),
        (None, "repository:public/app:push", 403, None),
        (None, "registry:catalog:*", 403, None),
        ((gl.ALICE, gl.ALICE_PAT_REPO), "repository:group/project:pull", 403, None),
        ((gl.ALICE, gl.ALICE_PAT_WRITE_ONLY), "repository:group/project:pull,push", 200, ["push"]),
        ((gl.ALICE, gl.ALICE_PAT_WRITE), "repository:group/project:pull,push,delete", 200, ["pull", "push"]),
        (
            (gl.ALICE, gl.ALICE_PAT),
            "repository:group/project:pull,push,delete",
            200,
            ["pull", "push", "delete"],
        ),
        ((gl.ALICE, gl.ALICE_PASSWORD), "repository:group/project:delete", 200, ["delete"]),
        ((gl.DAVE, gl.DAVE_PASSWORD), "repository:group/project:pull,push,delete", 200, ["pull", "push"]),
        ((gl.DAVE, gl.DAVE_PASSWORD), f"repository:{gl.PROTECTED_REPO}:pull,push", 403, None),
        ((gl.ALICE, gl.ALICE_PASSWORD), f"repository:{gl.PROTECTED_REPO}:pull,push", 200, ["pull", "push"]),
        ((gl.JOB_USER, gl.JOB_TOKEN), "repository:group/project:delete", 200, ["delete"]),
        ((gl.JOB_USER, gl.JOB_TOKEN), "repository:group/sub/project:pull", 200, []),
        (
            (gl.DEPLOY_USER_RW, gl.DEPLOY_TOKEN_RW),
            "repository:group/project:pull,push,delete",
            200,
            ["pull", "push"],
        ),
        ((gl.BOB, gl.BOB_PASSWORD), "repository:group/internal:pull,push", 200, ["pull"]),
        ((gl.ROOT, gl.ROOT_PASSWORD), "registry:catalog:*", 200, ["*"]),
        ((gl.ALICE, gl.ALICE_PASSWORD), "repository:group/project/a/b/c:pull", 200, []),
    ],
)
def test_pc_model_container_registry_decisions(
    identity: tuple[str, str] | None, scope: str, status: int, actions: list[str] | None
) -> None:
    """#12 item 1: ContainerRegistryAuthenticationService#execute for each identity kind."""
    who = _who(*identity) if identity else None
    decision = gl.container_registry_decision(who, [scope])
    assert decision.status == status
    if actions is not None:
        granted = [a for entry in decision.access for a in entry["actions"]]
        assert granted == actions


@pytest.mark.parametrize(
    ("login", "secret"),
    [
        (gl.ALICE, "wrong"),
        (gl.EVE, gl.EVE_PASSWORD),
        ("x", gl.EVE_PAT),
        (gl.CAROL, gl.CAROL_PASSWORD),
        (gl.DEPLOY_USER, gl.DEPLOY_TOKEN_RW),
    ],
)
def test_pc_model_find_for_git_client_401(login: str, secret: str) -> None:
    """#12 item 1: wrong password, blocked user (password or PAT), 2FA with a password, deploy token/login mismatch."""
    with pytest.raises(gl.Unauthorized):
        gl.find_for_git_client(login, secret)


def test_pc_model_pat_ignores_login_and_dependency_proxy_actors() -> None:
    """#12 item 1: a PAT authenticates whatever the login; the dependency proxy serves users, not project
    deploy tokens or anonymous callers."""
    assert _who("anything", gl.ALICE_PAT_READ).subject == gl.ALICE
    assert gl.dependency_proxy_decision(None).status == 403
    assert gl.dependency_proxy_decision(_who(gl.DEPLOY_USER_RW, gl.DEPLOY_TOKEN_RW)).status == 403
    assert gl.dependency_proxy_decision(_who(gl.JOB_USER, gl.JOB_TOKEN)).status == 200
    assert gl.dependency_proxy_decision(_who(gl.ALICE, gl.ALICE_PAT_REPO)).status == 200
