"""The GitLab CI adapter: zero configuration inside a GitLab job.

Inside a job (``GITLAB_CI=true``) GitLab's runner provides the variables used here
(https://docs.gitlab.com/ci/variables/predefined_variables/):

* credentials for the project's own registry (``CI_REGISTRY``), in this order: ``CI_REGISTRY_USER`` /
  ``CI_REGISTRY_PASSWORD``, else ``gitlab-ci-token`` / ``CI_JOB_TOKEN``, else ``CI_DEPLOY_USER`` /
  ``CI_DEPLOY_PASSWORD`` (docs/architecture.md §3, item 2) — never sent to any other registry;
* the ``:TAG`` and ``@sha256:…`` shorthands for ``$CI_REGISTRY_IMAGE:TAG`` / ``$CI_REGISTRY_IMAGE@sha256:…``;
* credentials for the group dependency proxy's host (``CI_DEPENDENCY_PROXY_SERVER``, e.g. ``gitlab.com:443``;
  an image written ``${CI_DEPENDENCY_PROXY_GROUP_IMAGE_PREFIX}/alpine:3`` with or without the ``:443``):
  ``CI_DEPENDENCY_PROXY_USER`` / ``CI_DEPENDENCY_PROXY_PASSWORD`` (in a job: ``gitlab-ci-token`` and the job
  token) — never sent to any other host. GitLab's dependency proxy answers with ``service="dependency_proxy"``
  and tokens without an ``access`` claim (gitlab-org/gitlab
  ``app/services/auth/dependency_proxy_authentication_service.rb``); anonymous requests are refused (403);
* ``CI_SERVER_TLS_CA_FILE``, trusted for ``CI_REGISTRY`` and ``CI_SERVER_HOST`` (self-managed instances with a
  private CA).

``CI_REGISTRY`` and ``CI_REGISTRY_IMAGE`` are only set where the container registry is enabled; the dependency
proxy's variables are set independently of them, so a job without a container registry still gets the proxy's
credentials (``registry`` is then ``None`` and there is no ``:TAG`` shorthand).

The core never imports this module; the CLI plugs it in.
"""

from __future__ import annotations

from collections.abc import Mapping

from ocireg.credentials import Credential
from ocireg.errors import InvalidReference
from ocireg.record import record
from ocireg.reference import Registry, parse_registry

__all__ = ["GitLabCI", "GitLabCISource"]


@record(frozen=True)
class GitLabCI:
    """What ocireg takes from a GitLab CI job's environment."""

    registry: Registry | None
    registry_image: str | None
    server_host: str | None
    ca_file: str | None
    env: Mapping[str, str]
    dependency_proxy: Registry | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> GitLabCI | None:
        """The job's settings, or ``None`` outside GitLab CI (or when the job has neither a container registry
        nor a dependency proxy)."""
        if env.get("GITLAB_CI", "").lower() != "true" and env.get("CI_SERVER", "").lower() != "yes":
            return None
        registry = _registry_or_none(env.get("CI_REGISTRY", ""))
        dependency_proxy = _registry_or_none(env.get("CI_DEPENDENCY_PROXY_SERVER", ""))
        if registry is None and dependency_proxy is None:
            return None
        server = env.get("CI_SERVER_HOST", "").strip() or None
        server_port = env.get("CI_SERVER_PORT", "").strip()
        if server and server_port and server_port not in ("443", "80"):
            server = f"{server}:{server_port}"
        return cls(
            registry=registry,
            registry_image=(env.get("CI_REGISTRY_IMAGE", "").strip() or None)
            if registry is not None
            else None,
            server_host=server,
            ca_file=env.get("CI_SERVER_TLS_CA_FILE", "").strip() or None,
            env=env,
            dependency_proxy=dependency_proxy,
        )

    def is_dependency_proxy(self, registry: Registry) -> bool:
        """Whether ``registry`` is the dependency proxy's host, with or without the default port ``:443``."""
        proxy = self.dependency_proxy
        if proxy is None:
            return False
        return _without_default_port(registry) == _without_default_port(proxy)

    def expand(self, text: str) -> str:
        """Expand ``:TAG`` and ``@sha256:…`` to the project's image (``$CI_REGISTRY_IMAGE``)."""
        if self.registry_image and text[:1] in (":", "@") and len(text) > 1:
            return self.registry_image + text
        return text

    def ca_hosts(self) -> dict[str, str]:
        """Hosts that trust ``CI_SERVER_TLS_CA_FILE``: the registry, the GitLab server (the token realm) and the
        dependency proxy's host."""
        if not self.ca_file:
            return {}
        hosts = {self.registry.api_host: self.ca_file} if self.registry is not None else {}
        if self.server_host:
            hosts[self.server_host.lower()] = self.ca_file
        if self.dependency_proxy is not None:  # the GitLab host itself, often written host:443
            hosts[self.dependency_proxy.api_host] = self.ca_file
        return hosts

    def predicted_realms(self) -> list[tuple[Registry, str, str]]:
        """(registry, realm, service) GitLab's token service answers for, known before any request (#25):
        ``CI_SERVER_URL/jwt/auth`` for ``CI_REGISTRY`` (service ``container_registry``) and for the dependency
        proxy (``dependency_proxy``). Empty without ``CI_SERVER_URL``. The job's credentials for these hosts
        belong to that GitLab; the realm is validated like any before it is contacted."""
        from ocireg.registries.gitlab import DEPENDENCY_PROXY_SERVICE, REGISTRY_SERVICE, token_realm

        server = self.env.get("CI_SERVER_URL", "").strip()
        if not server.startswith(("https://", "http://")):
            return []
        realm = token_realm(server)
        out = [(self.registry, realm, REGISTRY_SERVICE)] if self.registry is not None else []
        if self.dependency_proxy is not None:
            out.append((self.dependency_proxy, realm, DEPENDENCY_PROXY_SERVICE))
        return out

    def source(self) -> GitLabCISource:
        return GitLabCISource(self)


class GitLabCISource:
    """Credential source for the job's own registry and the group dependency proxy's host only."""

    name = "GitLab CI variables"

    def __init__(self, ci: GitLabCI) -> None:
        self._ci = ci

    def lookup(self, registry: Registry) -> Credential | None:
        env = self._ci.env
        if self._ci.registry is None or registry.name != self._ci.registry.name:
            if not self._ci.is_dependency_proxy(registry):
                return None
            user = env.get("CI_DEPENDENCY_PROXY_USER", "")
            secret = env.get("CI_DEPENDENCY_PROXY_PASSWORD", "")
            if user and secret:
                label = "GitLab CI (CI_DEPENDENCY_PROXY_USER/CI_DEPENDENCY_PROXY_PASSWORD)"
                return Credential(username=user, password=secret, source=label)
            return None
        pairs = (
            ("CI_REGISTRY_USER", "CI_REGISTRY_PASSWORD"),
            (None, "CI_JOB_TOKEN"),
            ("CI_DEPLOY_USER", "CI_DEPLOY_PASSWORD"),
        )
        for user_var, secret_var in pairs:
            user = env.get(user_var, "") if user_var else "gitlab-ci-token"
            secret = env.get(secret_var, "")
            if user and secret:
                label = f"GitLab CI ({user_var}/{secret_var})" if user_var else "GitLab CI (CI_JOB_TOKEN)"
                return Credential(username=user, password=secret, source=label)
        return None


def _registry_or_none(text: str) -> Registry | None:
    text = text.strip()
    if not text:
        return None
    try:
        return parse_registry(text)
    except InvalidReference:
        return None


def _without_default_port(registry: Registry) -> str:
    """``host:443`` and ``host`` name one HTTPS endpoint (GitLab writes the dependency proxy as ``host:443``)."""
    name = registry.name
    return name[: -len(":443")] if registry.port == 443 else name
