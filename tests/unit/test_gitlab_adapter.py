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


def test_predicted_realms_for_the_registry_and_the_dependency_proxy() -> None:
    """#25: GitLab's realm is CI_SERVER_URL/jwt/auth, service container_registry for CI_REGISTRY and
    dependency_proxy for the dependency proxy's host; nothing without CI_SERVER_URL (or with a bad one)."""
    env = {
        "GITLAB_CI": "true",
        "CI_REGISTRY": "registry.example.com",
        "CI_DEPENDENCY_PROXY_SERVER": "gitlab.example.com:443",
        "CI_SERVER_URL": "https://gitlab.example.com/",
    }
    ci = GitLabCI.from_env(env)
    assert ci is not None
    assert ci.predicted_realms() == [
        (parse_registry("registry.example.com"), "https://gitlab.example.com/jwt/auth", "container_registry"),
        (parse_registry("gitlab.example.com:443"), "https://gitlab.example.com/jwt/auth", "dependency_proxy"),
    ]
    for server in ("", "gitlab.example.com", "ftp://gitlab.example.com"):
        other = GitLabCI.from_env({**env, "CI_SERVER_URL": server})
        assert other is not None and other.predicted_realms() == []
