"""Issue #12 (authentication half): GitLab's token endpoint as GitLab answers, and ocireg's answer to each row.

The rig's token server follows gitlab-org/gitlab's JwtController, ContainerRegistryAuthenticationService,
DependencyProxyAuthenticationService, Gitlab::Auth#find_for_git_client and ContainerRegistry::Path (the sources
and commits are named in tests/rig/gitlab_model.py). Every test runs the CLI against the real registry.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import pytest

from clirunner import Result, creds, run_cli
from rig import Rig, httpclient
from rig.tokenserver import (
    ACCESS_DENIED_MESSAGE,
    ALICE,
    ALICE_PASSWORD,
    ALICE_PAT,
    ALICE_PAT_READ,
    ALICE_PAT_READ_API,
    ALICE_PAT_REPO,
    ALICE_PAT_WRITE,
    ALICE_PAT_WRITE_ONLY,
    BOB_PASSWORD,
    CAROL,
    CAROL_PASSWORD,
    CAROL_PAT,
    DAVE,
    DAVE_PASSWORD,
    DEPLOY_TOKEN,
    DEPLOY_TOKEN_REPO,
    DEPLOY_TOKEN_RW,
    DEPLOY_USER_REPO,
    DEPLOY_USER_RW,
    EVE,
    EVE_PASSWORD,
    EVE_PAT,
    FORBIDDEN_MESSAGE,
    JOB_TOKEN,
    JOB_TOKEN_DEV,
    JOB_USER,
    PROTECTED_PATH_MESSAGE,
    PROTECTED_REPO,
    SERVICE,
)

SECRETS = (
    ALICE_PASSWORD,
    ALICE_PAT,
    ALICE_PAT_READ,
    ALICE_PAT_REPO,
    ALICE_PAT_WRITE,
    ALICE_PAT_WRITE_ONLY,
    BOB_PASSWORD,
    CAROL_PASSWORD,
    CAROL_PAT,
    DAVE_PASSWORD,
    DEPLOY_TOKEN,
    DEPLOY_TOKEN_REPO,
    DEPLOY_TOKEN_RW,
    EVE_PASSWORD,
    EVE_PAT,
    JOB_TOKEN,
    JOB_TOKEN_DEV,
)


def cli(argv: list[str], env: dict[str, str] | None = None) -> Result:
    result = run_cli(argv, {**(env or {}), "OCIREG_TOKEN_CACHE": "0"})
    assert "Traceback" not in result.both
    for secret in SECRETS:
        assert secret not in result.both  # SEC: GitLab's message is shown, never a credential
    return result


def token_answer(
    rig: Rig, scopes: list[str], auth: tuple[str, str] | None, service: str = SERVICE
) -> httpclient.Response:
    assert rig.realm is not None
    query = [("service", service), *(("scope", s) for s in scopes)]
    with rig.raw_client(base_url="") as client:
        response: httpclient.Response = client.get(rig.realm, params=query, auth=auth)
    return response


def job_env(rig: Rig, token: str = JOB_TOKEN) -> dict[str, str]:
    return {
        "GITLAB_CI": "true",
        "CI_REGISTRY": rig.host,
        "CI_REGISTRY_IMAGE": f"{rig.host}/group/project",
        "CI_JOB_TOKEN": token,
    }


# ------------------------------------------------------------------------------------- the rig answers


@pytest.mark.parametrize(
    ("scope", "auth"),
    [
        ("repository:group/project:pull", None),  # private
        ("repository:group/internal:pull", None),  # internal
        ("repository:no/such-project:pull", None),  # missing
        ("repository:public/app:push", None),  # anonymous push
        ("registry:catalog:*", None),  # anonymous catalog
        ("repository:group/project:pull", (ALICE, ALICE_PAT_REPO)),  # PAT without a registry scope
        ("repository:group/project:pull", (DEPLOY_USER_REPO, DEPLOY_TOKEN_REPO)),  # deploy token, same
    ],
)
def test_pc_rig_token_endpoint_403_denied(token_rig: Rig, scope: str, auth: tuple[str, str] | None) -> None:
    """#12 item 1: the rig answers 403 DENIED "access forbidden" with GitLab's body where GitLab does."""
    response = token_answer(token_rig, [scope], auth)
    assert response.status_code == 403
    assert response.json() == {
        "errors": [{"code": "DENIED", "message": FORBIDDEN_MESSAGE}],
        "http_status": 403,
    }


@pytest.mark.parametrize(
    "auth",
    [(ALICE, "wrong"), (EVE, EVE_PASSWORD), ("anyone", EVE_PAT), (CAROL, CAROL_PASSWORD), ("nobody", "x")],
    ids=["wrong-password", "blocked-password", "blocked-pat", "2fa-password", "unknown-user"],
)
def test_pc_rig_token_endpoint_401(token_rig: Rig, auth: tuple[str, str]) -> None:
    """#12 item 1: wrong password, blocked user, 2FA user with a password: 401 with GitLab's exact text."""
    response = token_answer(token_rig, ["repository:group/project:pull"], auth)
    assert response.status_code == 401
    assert response.json() == {"errors": [{"code": "UNAUTHORIZED", "message": ACCESS_DENIED_MESSAGE}]}


def test_pc_rig_public_pull_stays_anonymous(token_rig: Rig) -> None:
    """#12 item 1: anonymous pull of a public project still gets a token (200)."""
    response = token_answer(token_rig, ["repository:public/app:pull"], None)
    assert response.status_code == 200
    assert set(response.json()) == {"token"}


def test_pc_rig_protected_path_whole_request_refused(token_rig: Rig) -> None:
    """#12 item 1: a Developer's push to a protected path: the whole token request is 403 with GitLab's text."""
    scopes = [f"repository:{PROTECTED_REPO}:pull,push", "repository:group/project:pull"]
    response = token_answer(token_rig, scopes, (DAVE, DAVE_PASSWORD))
    assert response.status_code == 403
    assert response.json()["errors"] == [{"code": "DENIED", "message": PROTECTED_PATH_MESSAGE}]
    assert token_answer(token_rig, scopes, (ALICE, ALICE_PASSWORD)).status_code == 200  # Maintainer


# ------------------------------------------------------------------------------- ocireg's answers: 403


def test_pc_anonymous_private_project_exit_4_names_the_sources(token_rig: Rig) -> None:
    """#12 item 2: anonymous → GitLab's 403: exit 4, GitLab's message, "no credentials were found … looked in"."""
    for repo in ("group/project", "group/internal", "no/such-project"):
        result = cli(["exists", token_rig.ref(repo, "oci")])
        assert result.code == 4, result.both
        assert "access forbidden" in result.err
        assert f"no credentials were found for {token_rig.host}; ocireg looked in: " in result.err
        assert "OCIREG_USERNAME/OCIREG_PASSWORD" in result.err  # a source that was looked in
        assert "Set OCIREG_USERNAME and OCIREG_PASSWORD" in result.err  # the variable to set
        assert "2FA" not in result.err and "two-factor" not in result.err


def test_pc_anonymous_public_pull_works(token_rig: Rig) -> None:
    """#12 item 2: public pull stays anonymous-OK."""
    assert cli(["exists", token_rig.ref("public/app", "latest")]).code == 0


def test_pc_anonymous_push_and_catalog_exit_4(token_rig: Rig) -> None:
    """#12 item 2: anonymous push onto a public project and anonymous catalog: access denied (exit 4)."""
    push = cli(["tag", token_rig.ref("public/app", "latest"), f"anon-{secrets.token_hex(3)}"])
    assert push.code == 4, push.both
    assert "no credentials were found" in push.err
    catalog = cli(["catalog", token_rig.host])
    assert catalog.code == 4, catalog.both
    assert "access forbidden" in catalog.err
    assert "no credentials were found" in catalog.err


@pytest.mark.parametrize(
    ("user", "secret"),
    [(ALICE, ALICE_PAT_REPO), (DEPLOY_USER_REPO, DEPLOY_TOKEN_REPO)],
    ids=["pat", "deploy"],
)
def test_pc_token_without_registry_scope_exit_4_scope_hint(token_rig: Rig, user: str, secret: str) -> None:
    """#12 item 2: a PAT / deploy token without a registry scope: exit 4, GitLab's message, the scopes needed."""
    result = cli(["exists", token_rig.ref("group/project", "oci")], creds(user, secret))
    assert result.code == 4, result.both
    assert "DENIED: access forbidden" in result.err
    assert "read_registry" in result.err and "write_registry" in result.err
    assert "two-factor" not in result.err


def test_pc_protected_path_push_exit_4_shows_gitlab_message(token_rig: Rig) -> None:
    """#12 item 2: a Developer pushing to a protected repository path: exit 4 with GitLab's own message."""
    src = token_rig.ref("group/project", "oci")
    dest = token_rig.ref(PROTECTED_REPO, f"p-{secrets.token_hex(3)}")
    result = cli(["copy", src, dest], creds(DAVE, DAVE_PASSWORD))
    assert result.code == 4, result.both
    assert PROTECTED_PATH_MESSAGE in result.err
    assert "Protected container repositories" in result.err
    job = cli(["copy", src, dest], job_env(token_rig, JOB_TOKEN_DEV))  # a job run by the Developer: same rule
    assert job.code == 4, job.both
    assert PROTECTED_PATH_MESSAGE in job.err
    ok = cli(["copy", src, dest], creds(ALICE, ALICE_PASSWORD))  # Maintainer
    assert ok.code == 0, ok.both


# ------------------------------------------------------------------------------- ocireg's answers: 401


@pytest.mark.parametrize(
    ("user", "secret"),
    [(ALICE, "wrong-password"), (EVE, EVE_PASSWORD), (EVE, EVE_PAT), (CAROL, CAROL_PASSWORD)],
    ids=["wrong-password", "blocked-password", "blocked-pat", "2fa-password"],
)
def test_pc_rejected_login_exit_3_with_token_hint(token_rig: Rig, user: str, secret: str) -> None:
    """#12 item 2: 401 "HTTP Basic: Access denied": exit 3, GitLab's text, the token-instead-of-password hint."""
    assert token_rig.token_server is not None
    token_rig.token_server.clear_requests()
    result = cli(["exists", token_rig.ref("group/project", "oci")], creds(user, secret))
    assert result.code == 3, result.both
    assert "HTTP Basic: Access denied" in result.err
    assert "personal access token with read_registry" in result.err
    assert "two-factor" in result.err
    assert [r.status for r in token_rig.token_server.requests] == [401]  # never retried


def test_pc_2fa_user_with_personal_access_token_works(token_rig: Rig) -> None:
    """#12 item 2: the 2FA user's read_registry PAT is the fix the hint names: exit 0."""
    assert cli(["exists", token_rig.ref("group/project", "oci")], creds(CAROL, CAROL_PAT)).code == 0


@pytest.mark.parametrize(
    ("secret", "pull", "push"),
    [(ALICE_PAT_READ, 0, 4), (ALICE_PAT_WRITE, 0, 0), (ALICE_PAT_READ_API, 0, 4), (ALICE_PAT, 0, 0)],
    ids=["read_registry", "read+write_registry", "read_api", "api"],
)
def test_pc_pat_scopes_decide_pull_and_push(token_rig: Rig, secret: str, pull: int, push: int) -> None:
    """#12 item 1: PAT scopes per token: read_registry pulls, write_registry pushes, read_api reads, api all."""
    assert cli(["exists", token_rig.ref("group/project", "oci")], creds(ALICE, secret)).code == pull
    repo, _ = _throwaway(token_rig)  # never add tags to the shared seeded repository
    result = cli(["tag", token_rig.ref(repo, "a"), "scoped"], creds(ALICE, secret))
    assert result.code == push, result.both


# ----------------------------------------------------------------------------------------- delete rights


def _throwaway(rig: Rig) -> tuple[str, str]:
    repo = f"group/project/rights-{secrets.token_hex(4)}"
    with rig.pusher() as pusher:
        image = pusher.push_image(repo, "a", label=f"rights-{repo}")
    return repo, image.digest


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        (creds(ALICE, ALICE_PASSWORD), 0),  # Maintainer with a password
        (creds(ALICE, ALICE_PAT), 0),  # Maintainer with an api PAT
        (creds(ALICE, ALICE_PAT_WRITE), 4),  # registry-scoped PAT: never delete
        (creds(DAVE, DAVE_PASSWORD), 4),  # Developer
        (creds(DEPLOY_USER_RW, DEPLOY_TOKEN_RW), 4),  # deploy token: never delete
    ],
    ids=["maintainer-password", "maintainer-api-pat", "write-registry-pat", "developer", "deploy-token"],
)
def test_pc_delete_rights_follow_gitlab(token_rig: Rig, env: dict[str, str], expected: int) -> None:
    """#12 item 1: GitLab's delete rule (admin_container_image = Maintainer with password or api token)."""
    repo, digest = _throwaway(token_rig)
    result = cli(["delete", "--manifest", "--yes", token_rig.ref(repo, "@" + digest)], env)
    assert result.code == expected, result.both
    if expected == 4:
        assert "Maintainer" in result.err or "delete" in result.err


def test_pc_job_token_deletes_merge_request_tag_in_its_own_project(token_rig: Rig) -> None:
    """#12 item 1: the README's CI clean-up job: `ocireg delete --untag :mr-$CI_MERGE_REQUEST_IID` with the
    job token deletes the tag in the job's own project (GitLab's build_destroy_container_image)."""
    repo = (
        f"group/project/mr-{secrets.token_hex(4)}"  # in the job's project, not the shared seeded repository
    )
    with token_rig.pusher() as pusher:
        image = pusher.push_image(repo, "mr-42", label=f"mr-{repo}")
        pusher.tag(image, "mr-42-keep")
    env = {
        **job_env(token_rig),
        "CI_REGISTRY_IMAGE": f"{token_rig.host}/{repo}",
        "CI_MERGE_REQUEST_IID": "42",
    }
    result = cli(["delete", "--untag", ":mr-42"], env)
    assert result.code == 0, result.both
    assert cli(["exists", ":mr-42"], env).code == 1
    assert cli(["exists", ":mr-42-keep"], env).code == 0


# ---------------------------------------------------------------------------------------------- depth


def test_pc_image_deeper_than_two_levels_below_project_is_denied_with_depth_hint(token_rig: Rig) -> None:
    """#12 items 1-2: ContainerRegistry::Path: group/project/a/b has a project, group/project/a/b/c none."""
    ok = cli(["exists", token_rig.ref("group/project/a/b", "none")], creds(ALICE, ALICE_PASSWORD))
    assert ok.code == 1, ok.both  # authorized; the registry says absent
    deep = cli(["exists", token_rig.ref("group/project/a/b/c", "none")], creds(ALICE, ALICE_PASSWORD))
    assert deep.code == 4, deep.both
    assert "more than two levels below the project" in deep.err
    explained = cli(
        ["auth", "explain", token_rig.ref("group/project/a/b/c", "none")], creds(ALICE, ALICE_PASSWORD)
    )
    assert explained.code == 4
    assert "more than two levels below the project" in explained.out


# ------------------------------------------------------------------------------------------ auth explain


def test_pc_explain_shows_the_same_diagnosis(token_rig: Rig) -> None:
    """#12 item 2: `ocireg auth explain` gives the same exit code, GitLab message and hint as `exists`."""
    cases: list[tuple[dict[str, str] | None, int, str]] = [
        (None, 4, "ocireg looked in: "),
        (creds(ALICE, ALICE_PAT_REPO), 4, "read_registry"),
        (creds(CAROL, CAROL_PASSWORD), 3, "personal access token with read_registry"),
    ]
    for env, code, hint in cases:
        ref = token_rig.ref("group/project", "oci")
        exists = cli(["exists", ref], env)
        text = cli(["auth", "explain", ref], env)
        as_json = cli(["auth", "explain", "-o", "json", ref], env)
        assert exists.code == text.code == as_json.code == code, (exists.both, text.both)
        assert hint in exists.err
        assert hint in text.both
        doc = json.loads(as_json.out)
        assert any(hint in h for h in doc["hints"])


# ---------------------------------------------------------------------------------- dependency proxy


@pytest.fixture(scope="module")
def alpine(token_rig: Rig) -> str:
    """``library/alpine:3`` seeded in the real registry: the dependency proxy's upstream image."""
    with token_rig.pusher() as pusher:
        image = pusher.push_image("library/alpine", "3", label="dependency-proxy-alpine")
    return image.digest


def proxy_env(rig: Rig, server: str | None = None) -> dict[str, str]:
    """A GitLab CI job with the group dependency proxy on the GitLab host (the rig's realm host)."""
    assert rig.token_server is not None
    gitlab = f"{rig.token_server.host}:{rig.token_server.port}"
    return {
        **job_env(rig),
        "CI_SERVER_HOST": rig.token_server.host,
        "CI_SERVER_PORT": str(rig.token_server.port),
        "CI_DEPENDENCY_PROXY_SERVER": server or gitlab,
        "CI_DEPENDENCY_PROXY_GROUP_IMAGE_PREFIX": f"{gitlab}/group/dependency_proxy/containers",
        "CI_DEPENDENCY_PROXY_DIRECT_GROUP_IMAGE_PREFIX": f"{gitlab}/group/dependency_proxy/containers",
        "CI_DEPENDENCY_PROXY_USER": JOB_USER,
        "CI_DEPENDENCY_PROXY_PASSWORD": JOB_TOKEN,
    }


def test_pc_rig_dependency_proxy_challenge_and_token(token_rig: Rig, alpine: str) -> None:
    """#12 item 1: the GitLab host's /v2/ challenges with service="dependency_proxy"; the token is HS256 with
    no access claim; anonymous is 403 with the service's {"message": ...} body."""
    assert token_rig.token_server is not None
    with token_rig.raw_client(base_url=token_rig.token_server.url) as raw:
        challenge = raw.get("/v2/group/dependency_proxy/containers/alpine/manifests/3")
    assert challenge.status_code == 401
    assert challenge.headers["www-authenticate"] == (
        f'Bearer realm="{token_rig.realm}",service="dependency_proxy"'
    )
    anonymous = token_answer(token_rig, [], None, service="dependency_proxy")
    assert anonymous.status_code == 403
    assert anonymous.json() == {"message": "access forbidden", "status": "error", "http_status": 403}
    issued = token_answer(token_rig, [], (JOB_USER, JOB_TOKEN), service="dependency_proxy")
    assert issued.status_code == 200
    from rig.tokenserver import b64url_decode

    token = issued.json()["token"]
    header, claims = (json.loads(b64url_decode(part)) for part in token.split(".")[:2])
    assert header["alg"] == "HS256"
    assert "access" not in claims and claims["user_id"] == 1
    with token_rig.raw_client(base_url=token_rig.token_server.url) as raw:
        served = raw.get(
            "/v2/group/dependency_proxy/containers/alpine/manifests/3",
            headers={
                "Authorization": f"Bearer {token}",
                "Accept": "application/vnd.oci.image.manifest.v1+json",
            },
        )
    assert served.status_code == 200
    assert served.headers["docker-content-digest"] == alpine


def test_pc_dependency_proxy_inside_gitlab_ci(token_rig: Rig, alpine: str) -> None:
    """#12 item 3: inside a GitLab CI job the dependency proxy host gets CI_DEPENDENCY_PROXY_USER/PASSWORD;
    `exists ${CI_DEPENDENCY_PROXY_GROUP_IMAGE_PREFIX}/alpine:3` works with a token that has no access claim."""
    env = proxy_env(token_rig)
    prefix = env["CI_DEPENDENCY_PROXY_GROUP_IMAGE_PREFIX"]
    present = cli(["exists", f"{prefix}/alpine:3"], env)
    assert present.code == 0, present.both
    digest = cli(["digest", f"{prefix}/alpine:3"], env)
    assert digest.code == 0 and digest.out.strip() == alpine, digest.both
    absent = cli(["exists", f"{prefix}/alpine:no-such-tag"], env)
    assert absent.code == 1, absent.both
    explained = cli(["auth", "explain", f"{prefix}/alpine:3"], env)
    assert explained.code == 0, explained.both
    assert "CI_DEPENDENCY_PROXY_USER/CI_DEPENDENCY_PROXY_PASSWORD" in explained.out
    assert "no 'access' claim" in explained.out


def test_pc_dependency_proxy_in_ci_without_container_registry(token_rig: Rig, alpine: str) -> None:
    """#12 item 3: a project whose container registry is disabled has no CI_REGISTRY/CI_REGISTRY_IMAGE, but its
    jobs still pull through the group's dependency proxy: the proxy's credentials are used all the same, and
    `:TAG` is still refused (exit 2: there is no project image)."""
    env = {k: v for k, v in proxy_env(token_rig).items() if k not in ("CI_REGISTRY", "CI_REGISTRY_IMAGE")}
    prefix = env["CI_DEPENDENCY_PROXY_GROUP_IMAGE_PREFIX"]
    present = cli(["exists", f"{prefix}/alpine:3"], env)
    assert present.code == 0, present.both
    shorthand = cli(["exists", ":v1"], env)
    assert shorthand.code == 2, shorthand.both
    assert "Traceback" not in shorthand.err


def test_pc_dependency_proxy_outside_ci_is_denied_with_proxy_hint(token_rig: Rig, alpine: str) -> None:
    """#12 item 2: without the CI variables the proxy is anonymous: exit 4 and the dependency-proxy hint."""
    env = proxy_env(token_rig)
    prefix = env["CI_DEPENDENCY_PROXY_GROUP_IMAGE_PREFIX"]
    result = cli(["exists", f"{prefix}/alpine:3"])
    assert result.code == 4, result.both
    assert "access forbidden" in result.err
    assert "CI_DEPENDENCY_PROXY_USER/CI_DEPENDENCY_PROXY_PASSWORD" in result.err
    # The proxy's credentials go to the proxy's host only: another GitLab host name gets none.
    other = {**env, "CI_DEPENDENCY_PROXY_SERVER": "gitlab.invalid:443"}
    assert cli(["exists", f"{prefix}/alpine:3"], other).code == 4


def test_pc_check_gitlab_ci_file_using_the_dependency_proxy(
    token_rig: Rig, alpine: str, tmp_path: Path
) -> None:
    """#12 item 3: `ocireg check .gitlab-ci.yml` with `image: ${CI_DEPENDENCY_PROXY_GROUP_IMAGE_PREFIX}/alpine:3`."""
    ci_file = tmp_path / ".gitlab-ci.yml"
    ci_file.write_text(
        'build:\n  image: ${CI_DEPENDENCY_PROXY_GROUP_IMAGE_PREFIX}/alpine:3\n  script: ["true"]\n'
        'missing:\n  image: ${CI_DEPENDENCY_PROXY_GROUP_IMAGE_PREFIX}/alpine:no-such-tag\n  script: ["true"]\n'
    )
    env = proxy_env(token_rig)
    result = cli(["check", "-o", "json", str(ci_file)], env)
    doc = json.loads(result.out)
    assert result.code == 1, result.both
    codes = sorted(r["exit_code"] for r in doc["results"])
    assert codes == [0, 1], doc
