"""Amazon ECR (``ACCOUNT.dkr.ecr.REGION.amazonaws.com``).

Sources: AWS docs and awslabs/amazon-ecr-credential-helper (Basic ``AWS:<token>`` on every request, the token
from ``GetAuthorizationToken``, valid 12 hours); NVIDIA/enroot#59 (the Basic challenge); aws/aws-cli#6580 (an
expired token: 403 ``DENIED`` "Your authorization token has expired. Reauthenticate and try again.", its body
sent on GET only, so a refused HEAD is read again with GET); aws/aws-cli#5592 (the IAM denial's form).
"""

from __future__ import annotations

import re

from ocireg.registries.base import Profile, Refusal

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ocireg.registries.base import Verdict

__all__ = ["ECR", "EcrProfile"]

_HOST = re.compile(r"[0-9]{12}\.dkr\.ecr(-fips)?\.[a-z0-9-]+\.amazonaws\.com(\.cn)?")
_EXPIRED = "authorization token has expired"


class EcrProfile(Profile):
    name = "ecr"
    title = "Amazon ECR"

    def matches_host(self, host: str) -> bool:
        return _HOST.fullmatch(host) is not None

    def judge(self, refusal: Refusal) -> Verdict | None:
        if refusal.sent and _EXPIRED in (refusal.message or "").lower():
            return "rejected"
        return None

    def reads_refusal_body(self, status: int) -> bool:
        return status in (401, 403)

    def credential_help(self, registry: str) -> str:
        return (
            "use docker-credential-ecr-login (credHelpers), or "
            f"'aws ecr get-login-password | ocireg login --username AWS --password-stdin {registry}'"
        )

    def hint_parts(self, refusal: Refusal, verdict: Verdict) -> list[str | None]:
        if verdict == "rejected":
            return ["an ECR token lives 12 hours: get a new one", self.credential_help(refusal.registry)]
        if refusal.sent:
            return ["the IAM identity behind the token is not allowed this (the registry's words are above)"]
        return super().hint_parts(refusal, verdict)


ECR = EcrProfile()
