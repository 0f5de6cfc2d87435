"""Azure Container Registry under ``myregistry.azurecr.io``, read from Azure/acr ``docs/AAD-OAuth.md``.

Modelled (documented): challenge ``Bearer realm="https://NAME.azurecr.io/oauth2/token",service="NAME.azurecr.io"``
(+ scope), body ``UNAUTHORIZED`` "authentication required, visit https://aka.ms/acr/authorization for more
information."; ``GET /oauth2/token`` with Basic (admin user or service principal) -> ``{"access_token": …}``;
``POST /oauth2/token`` form ``grant_type=refresh_token&service&scope&refresh_token`` (the ``identitytoken`` of
config.json, user ``00000000-0000-0000-0000-000000000000``) -> ``{"access_token": …}``; anonymous pull is off
by default, so an anonymous token request is **401** at ``/oauth2/token``; bad credentials are 401 there too
(deislabs/ratify logs); delete by digest 202 (fluxcd/pkg#328).

Inferred: tag delete answered 405 ``UNSUPPORTED`` ("Azure doesn't support tag deletion", fluxcd/pkg#328);
``/oauth2/exchange`` (AAD -> refresh token) is not modelled: tests hold the refresh token already.
"""

from __future__ import annotations

from typing import Any, ClassVar

from .front import RegistryFront, Reply, Request, error_body, json_reply

NAME = "myregistry.azurecr.io"
MESSAGE = "authentication required, visit https://aka.ms/acr/authorization for more information."
REFRESH_USER = "00000000-0000-0000-0000-000000000000"


class Acr(RegistryFront):
    hosts: ClassVar[tuple[str, ...]] = (NAME,)
    token_path: ClassVar[str | None] = "/oauth2/token"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: refresh token (config.json ``identitytoken``) -> the user it stands for
        self.refresh_tokens: dict[str, str] = {}

    def _unauthorized(self) -> Reply:
        return json_reply(401, error_body("UNAUTHORIZED", MESSAGE))

    def token_endpoint(self, req: Request) -> Reply:
        subject: str | None = None
        if req.method == "POST":
            form = req.form()
            grant = (form.get("grant_type") or [""])[0]
            subject = self.refresh_tokens.get((form.get("refresh_token") or [""])[0])
            if grant != "refresh_token" or subject is None:
                return self._unauthorized()
        else:
            basic = req.basic()
            if basic is None or self.check_user(*basic) is None:
                return self._unauthorized()  # anonymous pull is off: no anonymous token either
            subject = basic[0]
        return json_reply(200, {"access_token": self.issue(subject, self.grant(subject, self.scopes(req)))})

    def challenge(self, req: Request, repo: str | None, action: str, *, insufficient: bool) -> Reply:
        header = f'Bearer realm="{self.realm}",service="{NAME}"'
        if repo is not None:
            header += f',scope="repository:{repo}:{action}"'
        if insufficient:
            header += ',error="insufficient_scope"'
        return json_reply(401, error_body("UNAUTHORIZED", MESSAGE), ("WWW-Authenticate", header))

    def delete(self, req: Request, repo: str, ref: str) -> Reply:
        if ":" not in ref:
            return json_reply(405, error_body("UNSUPPORTED", "The operation is unsupported."))
        return self.forward(req)
