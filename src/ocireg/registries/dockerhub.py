"""Docker Hub (``registry-1.docker.io``; token service ``auth.docker.io``).

Sources: docs.docker.com (registry auth, pull usage and limits); docker/hub-feedback#2360 and
genuinetools/reg#143 (a registry ``DELETE`` is ``405 UNSUPPORTED``: tags are deleted through hub.docker.com's own
API); google/go-containerregistry ``pkg/v1/remote/transport/error_test.go`` (a bad password is 401 at the token
service, ``{"details": "incorrect username or password"}``). A private or missing repository is a token without
the grant and a registry 401 ``insufficient_scope``: the spec's answer already (exit 4).
"""

from __future__ import annotations

from ocireg.registries.base import Profile, hint_lines
from ocireg.text import escape

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ocireg.credentials import Credential

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

    def rate_limit_hint(self, credential: Credential) -> str | None:
        # Hub counts a manifest GET as a pull, per IP address for anonymous callers, and never a HEAD
        # (docs.docker.com, "Usage and limits"): exists/digest are HEADs and keep working.
        first = (
            "Docker Hub limits anonymous pulls per IP address; log in to pull under your account's limit"
            if credential.is_anonymous
            else f"Docker Hub's pull limit for the account '{escape(credential.username or '')}' is spent for now"
        )
        return hint_lines(
            first, "'ocireg exists' and 'ocireg digest' send HEAD requests, which Hub does not count"
        )

    def credential_help(self, registry: str) -> str:
        return (
            "run 'docker login' (user name and password or a personal access token), or set OCIREG_USERNAME"
        )


DOCKERHUB = DockerHubProfile()
