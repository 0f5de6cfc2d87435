"""GitHub Container Registry (``ghcr.io``).

Sources: docs.github.com "Working with the Container registry" (a personal access token with
``read:packages``/``write:packages``/``delete:packages``, or ``GITHUB_TOKEN``; passwords are not accepted);
containers/skopeo#1880 and fluxcd/pkg#328 (any registry ``DELETE`` is ``405 UNSUPPORTED``: packages are deleted
through the GitHub Packages REST API). A bad or expired token is answered 403 ``DENIED`` by ``/token``
(docker/login-action#26; inferred): the wire cannot tell it from a token without the scope, so it is judged
as access denied (exit 4) and the hint names both causes.
"""

from __future__ import annotations

from ocireg.registries.base import Profile, Refusal

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ocireg.registries.base import Verdict

__all__ = ["GHCR", "GhcrProfile"]


class GhcrProfile(Profile):
    name = "ghcr"
    title = "GitHub Container Registry"

    def matches_host(self, host: str) -> bool:
        return host == "ghcr.io"

    def unsupported(self, operation: str, status: int) -> str | None:
        if operation.startswith("delete"):
            return "ghcr.io deletes packages only through the GitHub Packages REST API, not the registry API"
        return None

    def credential_help(self, registry: str) -> str:
        return (
            "log in with a personal access token with read:packages (write:packages to push), or GITHUB_TOKEN"
        )

    def hint_parts(self, refusal: Refusal, verdict: Verdict) -> list[str | None]:
        if refusal.at_token_service and refusal.status == 403 and not refusal.credential.is_anonymous:
            return [
                "ghcr.io refused the token: it may be expired or revoked, or lack read:packages",
                self.credential_help(refusal.registry),
            ]
        return super().hint_parts(refusal, verdict)


GHCR = GhcrProfile()
