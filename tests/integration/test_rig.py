"""Sanity tests of the rig itself, with the rig's own HTTP client only (never ocireg).

Why: every integration test trusts the rig to behave like GitLab + distribution 2.8. These tests pin the
behaviours the client code relies on (challenge format, silent scope dropping, the four manifest types, one-page
tags/list, delete scope, TLS) so a rig regression shows up here, not as a confusing failure elsewhere.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from rig import (
    ACCEPT_ALL,
    BASIC_PASSWORD,
    BASIC_USER,
    ISSUER,
    MANY_TAGS_COUNT,
    NESTED_REPO,
    PUBLIC_REPO,
    REPO,
    SERVICE,
    ManyTags,
    Rig,
    decode_jwt,
    httpclient,
)
from rig.seed import DOCKER_MANIFEST, OCI_MANIFEST
from rig.tokenserver import (
    ALICE,
    ALICE_PASSWORD,
    ALICE_PAT,
    ALICE_REFRESH_TOKEN,
    BOB,
    BOB_PASSWORD,
    DEPLOY_TOKEN,
    DEPLOY_USER,
    JOB_TOKEN,
    JOB_USER,
    ROOT,
    ROOT_PASSWORD,
)


def fetch_token(
    rig: Rig, scopes: Sequence[str], auth: tuple[str, str] | None = None, **params: str
) -> httpclient.Response:
    """GET the realm like a Docker client would."""
    assert rig.realm is not None
    query = [("service", SERVICE), *(("scope", s) for s in scopes), *params.items()]
    with rig.raw_client(base_url="") as client:
        resp: httpclient.Response = client.get(rig.realm, params=query, auth=auth)
    return resp


def token_for(rig: Rig, scopes: Sequence[str], auth: tuple[str, str] | None = None) -> str:
    """A token for ``scopes`` (asserting the token server said 200)."""
    resp = fetch_token(rig, scopes, auth)
    assert resp.status_code == 200, resp.text
    token: str = resp.json()["token"]
    return token


def get_manifest(
    rig: Rig, repo: str, ref: str, authorization: str | None, accept: str = ACCEPT_ALL
) -> httpclient.Response:
    """GET a manifest with the given Accept and Authorization."""
    headers = {"Accept": accept}
    if authorization:
        headers["Authorization"] = authorization
    with rig.raw_client() as client:
        resp: httpclient.Response = client.get(f"/v2/{repo}/manifests/{ref}", headers=headers)
    return resp


def pull(repo: str) -> str:
    """The pull scope string for ``repo``."""
    return f"repository:{repo}:pull"


# --------------------------------------------------------------------------------------------------------------
# Token variant: challenges and GitLab semantics
# --------------------------------------------------------------------------------------------------------------


def test_anonymous_private_manifest_gets_bearer_challenge(token_rig: Rig) -> None:
    """PC: anonymous GET of a private manifest -> 401 with the exact Bearer challenge GitLab's registry sends."""
    resp = get_manifest(token_rig, REPO, "oci", None)
    assert resp.status_code == 401
    assert resp.headers["WWW-Authenticate"] == (
        f'Bearer realm="{token_rig.realm}",service="container_registry",scope="repository:group/project:pull"'
    )
    assert resp.json()["errors"][0]["code"] == "UNAUTHORIZED"
    assert token_rig.realm is not None
    assert token_rig.realm.startswith("http://127.0.0.2:")
    assert token_rig.realm.endswith("/jwt/auth")


@pytest.mark.parametrize("tag", ["oci", "index", "docker", "list", "v1.2.3", "stable"])
def test_alice_gets_every_manifest_type_with_exact_digest(token_rig: Rig, tag: str) -> None:
    """PC: alice's token + all four Accept types -> 200; sha256(body) == seeded digest == Docker-Content-Digest."""
    seeded = token_rig.seeded.get(REPO, tag)
    token = token_for(token_rig, [pull(REPO)], (ALICE, ALICE_PASSWORD))
    resp = get_manifest(token_rig, REPO, tag, f"Bearer {token}")
    assert resp.status_code == 200, resp.text
    assert resp.headers["Content-Type"] == seeded.media_type
    assert "sha256:" + hashlib.sha256(resp.content).hexdigest() == seeded.digest
    assert resp.headers["Docker-Content-Digest"] == seeded.digest
    assert resp.content == seeded.body


def test_seeded_content_shapes(token_rig: Rig) -> None:
    """The seed has what TESTING.md promises: 2-platform index and list, two tags on one distinct digest."""
    s = token_rig.seeded
    assert s.release.digest == s.stable.digest != s.oci.digest
    assert [c.platform for c in s.index.children] == [("linux", "amd64", None), ("linux", "arm64", "v8")]
    assert all(c.media_type == OCI_MANIFEST for c in s.index.children)
    assert all(c.media_type == DOCKER_MANIFEST for c in s.docker_list.children)
    assert s.docker.config is not None
    assert s.docker.config.media_type == "application/vnd.docker.container.image.v1+json"
    assert s.tags(REPO) == ("docker", "index", "list", "oci", "stable", "v1.2.3")


def test_index_child_by_digest(token_rig: Rig) -> None:
    """PC: children of the index were pushed by digest and are fetchable by digest."""
    child = token_rig.seeded.index.children[1]
    resp = get_manifest(token_rig, REPO, child.digest, token_rig.bearer(REPO))
    assert resp.status_code == 200
    assert resp.content == child.body


def test_index_without_full_accept_is_a_false_404(token_rig: Rig) -> None:
    """docs/architecture.md §5: distribution 2.8 answers 404 MANIFEST_UNKNOWN for an OCI index if Accept lacks its type."""
    resp = get_manifest(
        token_rig, REPO, "index", token_rig.bearer(REPO), accept=f"{OCI_MANIFEST}, {DOCKER_MANIFEST}"
    )
    assert resp.status_code == 404
    assert resp.json()["errors"][0]["code"] == "MANIFEST_UNKNOWN"


def test_personal_access_token_works_as_password(token_rig: Rig) -> None:
    """alice's PAT is accepted as the Basic password."""
    token = token_for(token_rig, [pull(REPO)], (ALICE, ALICE_PAT))
    assert get_manifest(token_rig, REPO, "oci", f"Bearer {token}").status_code == 200


def test_bob_gets_empty_access_and_registry_says_insufficient_scope(token_rig: Rig) -> None:
    """PC: bob is a member of nothing. The token server still answers 200 (empty ``access``, like GitLab);
    the registry then answers 401 with ``error="insufficient_scope"`` and code UNAUTHORIZED (not 403)."""
    resp = fetch_token(token_rig, [pull(REPO)], (BOB, BOB_PASSWORD))
    assert resp.status_code == 200
    _, claims = decode_jwt(resp.json()["token"])
    assert claims["access"] == []
    assert claims["sub"] == BOB
    reg = get_manifest(token_rig, REPO, "oci", f"Bearer {resp.json()['token']}")
    assert reg.status_code == 401
    assert reg.headers["WWW-Authenticate"] == (
        f'Bearer realm="{token_rig.realm}",service="container_registry",'
        'scope="repository:group/project:pull",error="insufficient_scope"'
    )
    assert reg.json()["errors"][0]["code"] == "UNAUTHORIZED"


def test_unknown_project_looks_exactly_like_denied(token_rig: Rig) -> None:
    """docs/architecture.md §5: even root gets an empty access list for a project that does not exist (never a 404)."""
    resp = fetch_token(token_rig, [pull("nope/missing")], (ROOT, ROOT_PASSWORD))
    assert resp.status_code == 200
    assert decode_jwt(resp.json()["token"])[1]["access"] == []


def test_anonymous_pull_of_public_project(token_rig: Rig) -> None:
    """PC: anonymous flow: token without credentials grants pull on public/app only."""
    resp = fetch_token(token_rig, [pull(PUBLIC_REPO), pull(REPO)])
    assert resp.status_code == 200
    claims = decode_jwt(resp.json()["token"])[1]
    assert claims["access"] == [{"type": "repository", "name": PUBLIC_REPO, "actions": ["pull"]}]
    assert claims["sub"] == ""
    reg = get_manifest(token_rig, PUBLIC_REPO, "latest", f"Bearer {resp.json()['token']}")
    assert reg.status_code == 200
    assert reg.headers["Docker-Content-Digest"] == token_rig.seeded.public.digest
    assert token_rig.token_server is not None
    (record,) = token_rig.token_server.requests
    assert record.authorization is False
    assert record.username is None


def test_nested_gitlab_repository(token_rig: Rig) -> None:
    """PC: group/sub/project/image belongs to project group/sub/project (longest prefix), alice is maintainer."""
    token = token_for(token_rig, [f"repository:{NESTED_REPO}:pull,push"], (ALICE, ALICE_PASSWORD))
    assert decode_jwt(token)[1]["access"] == [
        {"type": "repository", "name": NESTED_REPO, "actions": ["pull", "push"]}
    ]
    resp = get_manifest(token_rig, NESTED_REPO, "latest", f"Bearer {token}")
    assert resp.status_code == 200
    assert resp.headers["Docker-Content-Digest"] == token_rig.seeded.nested.digest


@pytest.mark.parametrize(
    ("auth", "scope", "expected"),
    [
        # GitLab: a job token may delete in its own project (build_destroy_container_image).
        ((JOB_USER, JOB_TOKEN), "repository:group/project:pull,push,delete", ["pull", "push", "delete"]),
        ((JOB_USER, JOB_TOKEN), "repository:group/sub/project:pull", None),
        ((JOB_USER, JOB_TOKEN), "repository:public/app:pull", None),
        ((DEPLOY_USER, DEPLOY_TOKEN), "repository:group/project/x:pull,push", ["pull"]),
        ((DEPLOY_USER, DEPLOY_TOKEN), "repository:group/sub/project:pull", None),
        ((ALICE, ALICE_PASSWORD), "repository:group/project:delete,pull", ["delete", "pull"]),
        ((BOB, BOB_PASSWORD), "repository:public/app:pull,push", ["pull"]),
        # GitLab: "*" needs admin_container_image, which an instance administrator has everywhere.
        ((ROOT, ROOT_PASSWORD), "repository:group/sub/project/image:*", ["*"]),
    ],
)
def test_identity_model(
    token_rig: Rig, auth: tuple[str, str], scope: str, expected: list[str] | None
) -> None:
    """The GitLab identity model: job token, deploy token, member, public project; the rest dropped."""
    claims = decode_jwt(token_for(token_rig, [scope], auth))[1]
    if expected is None:
        assert claims["access"] == []
    else:
        assert claims["access"] == [{"type": "repository", "name": scope.split(":")[1], "actions": expected}]


def test_catalog_only_for_root(token_rig: Rig) -> None:
    """``registry:catalog:*`` is granted to the admin only, silently dropped for alice."""
    alice = decode_jwt(token_for(token_rig, ["registry:catalog:*"], (ALICE, ALICE_PASSWORD)))[1]
    assert alice["access"] == []
    root = token_for(token_rig, ["registry:catalog:*"], (ROOT, ROOT_PASSWORD))
    assert decode_jwt(root)[1]["access"] == [{"type": "registry", "name": "catalog", "actions": ["*"]}]
    with token_rig.raw_client() as client:
        resp = client.get("/v2/_catalog", headers={"Authorization": f"Bearer {root}"})
    assert resp.status_code == 200
    assert {REPO, NESTED_REPO, PUBLIC_REPO} <= set(resp.json()["repositories"])


def test_wrong_password_is_401_gitlab_style_and_not_logged(token_rig: Rig) -> None:
    """Wrong credentials: 401 + GitLab's JSON body; the recording has the username but never the password."""
    resp = fetch_token(token_rig, [pull(REPO)], (ALICE, "wrong-password-canary"))
    assert resp.status_code == 401
    error = resp.json()["errors"][0]
    assert error["code"] == "UNAUTHORIZED"
    assert error["message"].startswith("HTTP Basic: Access denied")
    assert token_rig.token_server is not None
    (record,) = token_rig.token_server.requests
    assert (record.status, record.username, record.authorization, record.auth_scheme) == (
        401,
        ALICE,
        True,
        "Basic",
    )
    assert "wrong-password-canary" not in repr(token_rig.token_server.requests)


def test_wrong_service_and_post_answer_404(token_rig: Rig) -> None:
    """Unknown service -> 404 empty body (GitLab's ``head :not_found``); POST -> 404 unless oauth_post is on."""
    assert token_rig.realm is not None
    with token_rig.raw_client(base_url="") as client:
        wrong = client.get(token_rig.realm, params={"service": "other", "scope": pull(REPO)})
        post = client.post(token_rig.realm, data={"grant_type": "password", "service": SERVICE})
    assert (wrong.status_code, wrong.content) == (404, b"")
    assert post.status_code == 404


def test_jwt_header_and_claims(token_rig: Rig) -> None:
    """RS256, x5c = the signing cert (the registry's rootcertbundle), claims as GitLab issues them."""
    assert token_rig.token_server is not None
    before = int(time.time())
    token = token_for(token_rig, [pull(REPO), pull(PUBLIC_REPO)], (ALICE, ALICE_PASSWORD))
    header, claims = decode_jwt(token, verify_with=token_rig.token_server.signing_cert)
    assert header["typ"] == "JWT"
    assert header["alg"] == "RS256"
    assert len(header["x5c"]) == 1
    assert claims["iss"] == ISSUER
    assert claims["sub"] == ALICE
    assert claims["aud"] == SERVICE
    assert before - 1 <= claims["iat"] <= time.time() + 1
    assert claims["nbf"] <= claims["iat"]
    assert claims["exp"] - claims["iat"] == 300
    assert len(claims["jti"]) >= 16
    assert claims["access"] == [
        {"type": "repository", "name": REPO, "actions": ["pull"]},
        {"type": "repository", "name": PUBLIC_REPO, "actions": ["pull"]},
    ]
    # GitLab sends only "token".
    assert set(fetch_token(token_rig, [pull(PUBLIC_REPO)]).json()) == {"token"}


def test_token_server_knobs(token_rig: Rig) -> None:
    """Knobs tests will use: ttl, response_style, fail_status, oauth_post (the guard resets them afterwards)."""
    ts = token_rig.token_server
    assert ts is not None
    ts.ttl = 5
    ts.response_style = "access_token"
    body = fetch_token(token_rig, [pull(REPO)], (ALICE, ALICE_PASSWORD)).json()
    assert set(body) == {"access_token", "expires_in", "issued_at"}
    assert body["expires_in"] == 5
    claims = decode_jwt(body["access_token"])[1]
    assert claims["exp"] - claims["iat"] == 5
    ts.fail_status = 503
    assert fetch_token(token_rig, [pull(REPO)]).status_code == 503
    ts.fail_status = None
    ts.oauth_post = True
    assert token_rig.realm is not None
    with token_rig.raw_client(base_url="") as client:
        resp = client.post(
            token_rig.realm,
            data={
                "grant_type": "refresh_token",
                "refresh_token": ALICE_REFRESH_TOKEN,
                "service": SERVICE,
                "scope": f"repository:{REPO}:pull,push",
                "client_id": "ocireg",
            },
        )
    assert resp.status_code == 200
    assert decode_jwt(resp.json()["access_token"])[1]["sub"] == ALICE
    assert ts.count == 3
    assert [(r.method, r.status) for r in ts.requests] == [("GET", 200), ("GET", 503), ("POST", 200)]
    assert ts.requests[-1].form["refresh_token"] == "<redacted>"


def test_expired_token_rejected_by_registry(token_rig: Rig) -> None:
    """``ttl=5, exp_skew=-70``: exp is in the past beyond the registry's 60 s leeway -> ``invalid_token``."""
    assert token_rig.token_server is not None
    token_rig.token_server.ttl = 5
    token_rig.token_server.exp_skew = -70
    token = token_for(token_rig, [pull(REPO)], (ALICE, ALICE_PASSWORD))
    resp = get_manifest(token_rig, REPO, "oci", f"Bearer {token}")
    assert resp.status_code == 401
    assert 'error="invalid_token"' in resp.headers["WWW-Authenticate"]


def test_delete_is_its_own_action(token_rig: Rig) -> None:
    """docs/architecture.md §5: a pull,push token gets 401 insufficient_scope on DELETE; a delete token gets 202."""
    repo = f"{REPO}/delete-check"
    with token_rig.pusher() as pusher:
        image = pusher.push_image(repo, "doomed", label=f"doomed-{os.getpid()}-{time.time_ns()}")
    with token_rig.raw_client() as client:
        url = f"/v2/{repo}/manifests/{image.digest}"
        denied = client.delete(url, headers={"Authorization": token_rig.bearer(repo, ["pull", "push"])})
        assert denied.status_code == 401
        assert 'error="insufficient_scope"' in denied.headers["WWW-Authenticate"]
        assert 'scope="repository:group/project/delete-check:delete"' in denied.headers["WWW-Authenticate"]
        allowed = client.delete(url, headers={"Authorization": token_rig.bearer(repo, ["delete"])})
        assert allowed.status_code == 202


def test_many_tags_in_one_page(token_rig: Rig, many_tags_repo: ManyTags) -> None:
    """PC/docs/architecture.md §5: distribution 2.8 ignores ``n`` and returns all 1,500 tags in one page, no Link."""
    assert len(many_tags_repo.tags) == MANY_TAGS_COUNT
    with token_rig.raw_client() as client:
        resp = client.get(
            f"/v2/{many_tags_repo.repo}/tags/list",
            params={"n": "100"},
            headers={"Authorization": token_rig.bearer(many_tags_repo.repo)},
        )
    assert resp.status_code == 200
    assert "Link" not in resp.headers
    tags = resp.json()["tags"]
    assert len(tags) == MANY_TAGS_COUNT
    assert sorted(tags) == list(many_tags_repo.tags)


def test_registry_restart_keeps_port_and_content(token_rig: Rig) -> None:
    """FT support: ``restart()`` comes back on the same port with the same storage."""
    port, pid = token_rig.registry.port, token_rig.registry.pid
    token_rig.registry.restart()
    assert token_rig.registry.port == port
    assert token_rig.registry.pid != pid
    resp = get_manifest(token_rig, REPO, "oci", token_rig.bearer(REPO))
    assert resp.status_code == 200


# --------------------------------------------------------------------------------------------------------------
# Other variants
# --------------------------------------------------------------------------------------------------------------


def test_tls_rig_with_ca_file(tls_rig: Rig) -> None:
    """TLS registry and HTTPS realm, both verified against the rig CA file; without it verification fails."""
    assert tls_rig.ca_file is not None
    assert Path(tls_rig.ca_file).is_file()
    assert tls_rig.url.startswith("https://127.0.0.1:")
    assert tls_rig.realm is not None
    assert tls_rig.realm.startswith("https://127.0.0.2:")
    challenge = get_manifest(tls_rig, REPO, "index", None)
    assert challenge.status_code == 401
    assert f'realm="{tls_rig.realm}"' in challenge.headers["WWW-Authenticate"]
    token = token_for(tls_rig, [pull(REPO)], (ALICE, ALICE_PASSWORD))
    resp = get_manifest(tls_rig, REPO, "index", f"Bearer {token}")
    assert resp.status_code == 200
    assert resp.headers["Docker-Content-Digest"] == tls_rig.seeded.index.digest
    with httpclient.Client(timeout=5) as untrusting, pytest.raises(httpclient.ConnectError):
        untrusting.get(f"{tls_rig.url}/v2/")


def test_basic_rig(basic_rig: Rig) -> None:
    """PC: Basic-only registry: challenge names the Basic realm, correct credentials give the exact bytes."""
    anonymous = get_manifest(basic_rig, REPO, "list", None)
    assert anonymous.status_code == 401
    assert anonymous.headers["WWW-Authenticate"] == 'Basic realm="basic-realm"'
    with basic_rig.raw_client(auth=(BASIC_USER, BASIC_PASSWORD)) as client:
        resp = client.get(f"/v2/{REPO}/manifests/list", headers={"Accept": ACCEPT_ALL})
        wrong = client.get(f"/v2/{REPO}/manifests/list", auth=(BASIC_USER, "nope"))
    assert resp.status_code == 200
    assert resp.content == basic_rig.seeded.docker_list.body
    assert wrong.status_code == 401


def test_open_rig(open_rig: Rig) -> None:
    """No auth at all: anonymous GET works, ``rig.authorization`` is None."""
    assert open_rig.authorization(REPO) is None
    resp = get_manifest(open_rig, REPO, "docker", None)
    assert resp.status_code == 200
    assert resp.headers["Docker-Content-Digest"] == open_rig.seeded.docker.digest


def test_nodelete_rig_answers_405(nodelete_rig: Rig) -> None:
    """PC: delete disabled -> 405 UNSUPPORTED (and the manifest survives)."""
    digest = nodelete_rig.seeded.oci.digest
    with nodelete_rig.raw_client() as client:
        resp = client.delete(f"/v2/{REPO}/manifests/{digest}")
    assert resp.status_code == 405
    assert resp.json()["errors"][0]["code"] == "UNSUPPORTED"
    assert get_manifest(nodelete_rig, REPO, "oci", None).status_code == 200


# --------------------------------------------------------------------------------------------------------------
# Isolation
# --------------------------------------------------------------------------------------------------------------


def test_isolated_env(isolated_env: Path) -> None:
    """The autouse fixture hides the developer's HOME, Docker config, CI and proxy variables."""
    assert os.environ["HOME"] == str(isolated_env)
    assert os.environ["DOCKER_CONFIG"] == str(isolated_env / ".docker")
    assert not list((isolated_env / ".docker").iterdir())
    leaked = [
        k
        for k in os.environ
        if k.startswith(("CI_", "GITLAB_"))
        or (k.startswith("DOCKER_") and k != "DOCKER_CONFIG")
        or (k.startswith("OCIREG_") and k != "OCIREG_REQUIRE_RIG")
        or k.lower() in ("http_proxy", "https_proxy", "all_proxy", "no_proxy", "ssl_cert_file", "netrc")
    ]
    assert leaked == []
