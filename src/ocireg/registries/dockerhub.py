"""Docker Hub (``registry-1.docker.io``; token service ``auth.docker.io``).

Sources: docs.docker.com (registry auth, pull usage and limits); docker/hub-feedback#2360 and
genuinetools/reg#143 (a registry ``DELETE`` is ``405 UNSUPPORTED``: tags are deleted through hub.docker.com's own
API); google/go-containerregistry ``pkg/v1/remote/transport/error_test.go`` (a bad password is 401 at the token
service, ``{"details": "incorrect username or password"}``). A private or missing repository is a token without
the grant and a registry 401 ``insufficient_scope``: the spec's answer already (exit 4).
"""

from __future__ import annotations

from ocireg.registries.base import Profile

__all__ = ["DOCKERHUB", "DockerHubProfile"]

_HOSTS = frozenset({"registry-1.docker.io", "index.docker.io", "docker.io", "registry.hub.docker.com"})


class DockerHubProfile(Profile):
    name = "dockerhub"
    title = "Docker Hub"

    def matches_host(self, host: str) -> bool:
        return host in _HOSTS

    def unsupported(self, operation: str, status: int) -> str | None:
        if operation.startswith("delete"):
            return (
                "Docker Hub deletes tags only through its own web API (hub.docker.com), not the registry API"
            )
        return None

    def credential_help(self, registry: str) -> str:
        return (
            "run 'docker login' (user name and password or a personal access token), or set OCIREG_USERNAME"
        )


DOCKERHUB = DockerHubProfile()
