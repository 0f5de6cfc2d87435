"""Harbor (v2.x), recognised by its challenge: ``service="harbor-registry"``.

Sources: goharbor/harbor ``src/server/middleware/v2auth/auth.go`` (``getChallenge``: with an ``Authorization``
header the challenge becomes ``Basic realm="harbor"``; a project that does not exist is a 401 with an empty
challenge), ``src/server/middleware/security/basic_auth.go`` (failed Basic makes the caller anonymous),
``src/server/middleware/immutable/`` (immutable tags: 412 ``PRECONDITION``), ``src/server/registry/manifest.go``
(a tag delete is 400 ``UNSUPPORTED``); goharbor.io docs (``robot$`` accounts).

A Basic challenge after a Bearer token, or a 401 without a challenge, says the token lacks the grant (or the
project is missing): access denied (exit 4), never "bad credentials".
"""

from __future__ import annotations

from collections.abc import Mapping

from ocireg.registries.base import Profile, Refusal

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ocireg.registries.base import Verdict

__all__ = ["HARBOR", "HarborProfile"]


class HarborProfile(Profile):
    name = "harbor"
    title = "Harbor"

    def matches_challenge(self, scheme: str, params: Mapping[str, str]) -> bool:
        # Only the Bearer challenge Harbor opens with (getChallenge: no Authorization header sent). Its
        # ``Basic realm="harbor"`` comes only after a token, once the Bearer one has told the family; a registry
        # that opens with it merely claims the name, and its Basic refusals stay the spec's.
        return scheme == "bearer" and params.get("service") == "harbor-registry"

    def judge(self, refusal: Refusal) -> Verdict | None:
        if refusal.at_token_service:
            return None
        if refusal.status == 401 and refusal.scheme in ("basic", None):
            return "denied"  # Harbor's answer to a token without the grant, and to a missing project
        if refusal.status == 412:
            return "denied"
        return None

    def hint_parts(self, refusal: Refusal, verdict: Verdict) -> list[str | None]:
        if refusal.status == 412:  # the immutable-tag middleware: a project rule, not a permission
            return [
                "a tag immutability rule of the Harbor project protects a tag on this artifact",
                "a project administrator can change the project's tag immutability rules",
            ]
        return super().hint_parts(refusal, verdict)

    def unsupported(self, operation: str, status: int) -> str | None:
        if operation == "delete-tag":
            return "Harbor deletes a tag only through its own API or UI (the registry API deletes by digest)"
        return None

    def credential_help(self, registry: str) -> str:
        return f"log in to {registry} as a user or a robot account (robot$project+name with its secret)"


HARBOR = HarborProfile()
