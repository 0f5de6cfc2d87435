"""Quay (``quay.io`` and Red Hat Quay).

Sources: quay/quay ``endpoints/v2/v2auth.py`` (the token service knows only ``pull``, ``push`` and ``*``; a scope
asking for ``delete`` is answered 400), ``endpoints/v2/manifest.py`` (``delete_manifest_by_tag`` needs
``push`` and removes that one tag), ``auth/credentials.py`` (robot ``org+name`` accounts, ``$token``,
``$oauthtoken``), ``endpoints/v2/__init__.py`` (tags pages of at most 100 with an absolute ``Link``), ``endpoints/v2/errors.py``
(``Unauthorized``: a token without the grant is answered 401 with the challenge, no ``error``: access denied),
``auth/registry_jwt_auth.py`` at 2307c0bd (``get_auth_headers``: ``realm="<app URL>/v2/auth"``,
``service="<SERVER_HOSTNAME>"``, the app URL being the scheme and ``SERVER_HOSTNAME``: a Quay under any name is
told by its challenge).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from ocireg.registries.base import Profile, Refusal

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

    from ocireg.registries.base import Verdict

__all__ = ["QUAY", "QuayProfile"]


class QuayProfile(Profile):
    name = "quay"
    title = "Quay"

    def matches_host(self, host: str) -> bool:
        return host == "quay.io"

    def matches_challenge(self, scheme: str, params: Mapping[str, str]) -> bool:
        # A self-managed Quay (Red Hat Quay, project Quay) under its own name: its realm is its own host's
        # /v2/auth and its service is that same host name (get_auth_headers). Distribution's token servers,
        # GitLab (/jwt/auth), Harbor (/service/token) and the clouds' do not answer so.
        if scheme != "bearer":
            return False
        try:
            realm = urlsplit(params.get("realm") or "")
        except ValueError:
            return False
        service = params.get("service") or ""
        return realm.path == "/v2/auth" and bool(service) and realm.netloc.lower() == service.lower()

    def token_actions(self, actions: tuple[str, ...]) -> tuple[str, ...]:
        # Quay's token service has no "delete" action: deleting a tag takes "push" (v2auth.py).
        mapped = tuple("push" if a == "delete" else a for a in actions)
        return tuple(dict.fromkeys(mapped))

    def judge(self, refusal: Refusal) -> Verdict | None:
        # Quay rejects bad credentials at its token service (401 InvalidLogin); a token it issued is downscoped,
        # never refused, so the registry's 401 to that token is "not authorized" (errors.py Unauthorized).
        if (
            refusal.sent
            and not refusal.at_token_service
            and refusal.status == 401
            and refusal.scheme == "bearer"
        ):
            return "denied"
        return None

    def credential_help(self, registry: str) -> str:
        return f"log in to {registry} as a user or a robot account (org+name with its token)"


QUAY = QuayProfile()
