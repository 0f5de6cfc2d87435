"""The GitLab CI adapter: credentials only for CI_REGISTRY, shorthand, CA hosts (docs/architecture.md §3)."""

from __future__ import annotations

from ocireg.gitlab import GitLabCI
from ocireg.reference import parse_registry

BASE = {
    "GITLAB_CI": "true",
    "CI_REGISTRY": "registry.example.com",
    "CI_REGISTRY_IMAGE": "registry.example.com/group/project",
    "CI_SERVER_HOST": "gitlab.example.com",
}


def test_outside_gitlab_ci() -> None:
    assert GitLabCI.from_env({"CI_REGISTRY": "x"}) is None
    assert GitLabCI.from_env({"GITLAB_CI": "true"}) is None


def test_credential_order_and_registry_scope() -> None:
    env = {
        **BASE,
        "CI_REGISTRY_USER": "gitlab-ci-token",
        "CI_REGISTRY_PASSWORD": "p1",
        "CI_JOB_TOKEN": "j1",
        "CI_DEPLOY_USER": "d",
        "CI_DEPLOY_PASSWORD": "dp",
    }
    ci = GitLabCI.from_env(env)
    assert ci is not None
    source = ci.source()
    cred = source.lookup(parse_registry("registry.example.com"))
    assert cred is not None and cred.password == "p1"
    # never for another registry (SEC: credential selection by exact host)
    assert source.lookup(parse_registry("registry.example.com.evil")) is None
    assert source.lookup(parse_registry("docker.io")) is None
    env.pop("CI_REGISTRY_PASSWORD")
    cred = GitLabCI.from_env(env).source().lookup(parse_registry("registry.example.com"))  # type: ignore[union-attr]
    assert cred is not None and (cred.username, cred.password) == ("gitlab-ci-token", "j1")
    env.pop("CI_JOB_TOKEN")
    cred = GitLabCI.from_env(env).source().lookup(parse_registry("registry.example.com"))  # type: ignore[union-attr]
    assert cred is not None and (cred.username, cred.password) == ("d", "dp")
    env.pop("CI_DEPLOY_PASSWORD")
    assert GitLabCI.from_env(env).source().lookup(parse_registry("registry.example.com")) is None  # type: ignore[union-attr]


def test_shorthand() -> None:
    ci = GitLabCI.from_env(BASE)
    assert ci is not None
    assert ci.expand(":v1.2.3") == "registry.example.com/group/project:v1.2.3"
    assert ci.expand("@sha256:" + "a" * 64) == "registry.example.com/group/project@sha256:" + "a" * 64
    assert ci.expand("other/image:1") == "other/image:1"


def test_ca_hosts() -> None:
    ci = GitLabCI.from_env({**BASE, "CI_SERVER_TLS_CA_FILE": "/tmp/ca.pem", "CI_SERVER_PORT": "8443"})
    assert ci is not None
    assert ci.ca_hosts() == {"registry.example.com": "/tmp/ca.pem", "gitlab.example.com:8443": "/tmp/ca.pem"}
