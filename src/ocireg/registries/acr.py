"""Azure Container Registry (``NAME.azurecr.io``).

Sources: Azure/acr ``docs/AAD-OAuth.md`` (the ``/oauth2/token`` realm, GET with admin or service principal
Basic, POST with a refresh token, ``identitytoken`` logins as ``00000000-0000-0000-0000-000000000000``, the
``Link`` of tags pages); Azure docs (anonymous pull is off by default: an anonymous token request is 401);
fluxcd/pkg#328 (no tag delete through the registry API).
"""

from __future__ import annotations

from ocireg.registries.base import Profile

__all__ = ["ACR", "AcrProfile"]


class AcrProfile(Profile):
    name = "acr"
    title = "Azure Container Registry"

    def matches_host(self, host: str) -> bool:
        return host.endswith(".azurecr.io") or host.endswith(".azurecr.cn") or host.endswith(".azurecr.us")

    def unsupported(self, operation: str, status: int) -> str | None:
        if operation == "delete-tag":
            return "Azure Container Registry deletes a tag only through 'az acr repository untag' or its API"
        return None

    def credential_help(self, registry: str) -> str:
        return f"run 'az acr login --name {registry.split('.', 1)[0]}', or log in with a service principal"


ACR = AcrProfile()
