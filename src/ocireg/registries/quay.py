"""Quay (``quay.io`` and Red Hat Quay).

Sources: quay/quay ``endpoints/v2/v2auth.py`` (the token service knows only ``pull``, ``push`` and ``*``; a scope
asking for ``delete`` is answered 400), ``endpoints/v2/manifest.py`` (``delete_manifest_by_tag`` needs
``push`` and removes that one tag), ``auth/credentials.py`` (robot ``org+name`` accounts, ``$token``,
``$oauthtoken``), ``endpoints/v2/__init__.py`` (tags pages of at most 100 with an absolute ``Link``), ``endpoints/v2/errors.py``
(``Unauthorized``: a token without the grant is answered 401 with the challenge, no ``error``: access denied).
"""

from __future__ import annotations

from ocireg.registries.base import Profile, Refusal

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ocireg.registries.base import Verdict

__all__ = ["QUAY", "QuayProfile"]


class QuayProfile(Profile):
    name = "quay"
    title = "Quay"

    def matches_host(self, host: str) -> bool:
        return host == "quay.io"

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
