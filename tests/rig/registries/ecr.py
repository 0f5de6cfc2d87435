"""Amazon ECR (private) under ``123456789012.dkr.ecr.eu-west-1.amazonaws.com``.

Modelled (documented): **Basic only**, no token service: 401 ``Basic
realm="https://HOST/",service="ecr.amazonaws.com"`` with a ``text/plain`` body ``Not Authorized`` (captured
exchange quoted in NVIDIA/enroot#59; renovatebot ``lib/util/http/auth.ts``); every request carries Basic
``AWS:<token>`` (the token ``GetAuthorizationToken`` gives, usually through ``credHelpers`` ->
``docker-credential-ecr-login``, awslabs/amazon-ecr-credential-helper); an expired token is ``DENIED`` "Your
authorization token has expired. Reauthenticate and try again." (aws/aws-cli#6580); delete by digest works
(aws/containers-roadmap#1229).

Inferred: the expired token's status (403) and that its body comes only on GET; the IAM refusal's 403
``DENIED`` "User: arn:… is not authorized to perform: ecr:BatchGetImage …" (the form of AWS IAM messages,
aws/aws-cli#5592); a garbage token answered like no token; tag delete as 405 ``UNSUPPORTED``.
"""

from __future__ import annotations

from typing import Any, ClassVar

from .front import Account, RegistryFront, Reply, Request, error_body, json_reply

ACCOUNT = "123456789012"
EXPIRED = "Your authorization token has expired. Reauthenticate and try again."
_IAM = {"pull": "ecr:BatchGetImage", "push": "ecr:PutImage", "delete": "ecr:BatchDeleteImage"}


class Ecr(RegistryFront):
    hosts: ClassVar[tuple[str, ...]] = (f"{ACCOUNT}.dkr.ecr.eu-west-1.amazonaws.com",)
    token_path: ClassVar[str | None] = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: token -> (principal ARN, rights); ``expired`` tokens answer the expiry refusal.
        self.aws_tokens: dict[str, tuple[str, Account]] = {}
        self.expired_tokens: set[str] = set()

    def _basic_challenge(self) -> Reply:
        header = f'Basic realm="https://{self.api_host}/",service="ecr.amazonaws.com"'
        return Reply(401, b"Not Authorized\n", [("Content-Type", "text/plain"), ("WWW-Authenticate", header)])

    def authorize(self, req: Request, repo: str | None) -> Reply | None:
        basic = req.basic()
        if basic is None or basic[0] != "AWS":
            return self._basic_challenge()
        if basic[1] in self.expired_tokens:
            return json_reply(403, error_body("DENIED", EXPIRED))
        found = self.aws_tokens.get(basic[1])
        if found is None:
            return self._basic_challenge()
        if repo is None:
            return None
        arn, account = found
        action = self.action_for(req, repo)
        if action in account.actions(repo):
            return None
        resource = f"arn:aws:ecr:eu-west-1:{ACCOUNT}:repository/{repo}"
        message = (
            f"User: {arn} is not authorized to perform: {_IAM[action]} on resource: {resource} "
            f"because no identity-based policy allows the {_IAM[action]} action"
        )
        return json_reply(403, error_body("DENIED", message))

    def not_found(self, req: Request, repo: str, ref: str, upstream: Reply) -> Reply:
        return json_reply(404, error_body("MANIFEST_UNKNOWN", "Requested image not found"))

    def delete(self, req: Request, repo: str, ref: str) -> Reply:
        if ":" not in ref:
            return json_reply(405, error_body("UNSUPPORTED", "The operation is unsupported."))
        return self.forward(req)
