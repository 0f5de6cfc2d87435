"""GitHub Container Registry under ``ghcr.io``.

Modelled: challenge ``Bearer realm="https://ghcr.io/token",service="ghcr.io",scope="repository:user/image:pull"``
even on ``/v2/`` (renovatebot ``lib/util/http/auth.ts`` comment, podman-desktop ``imageRegistry.spec.ts``);
token ``GET /token`` → ``{"token": …}`` only, anonymous allowed for public packages (documented); any
``DELETE`` → **405** ``UNSUPPORTED`` (containers/skopeo#1880, fluxcd/pkg#328).

Inferred (strong): a bad or expired PAT is **403** ``{"errors":[{"code":"DENIED","message":"denied"}]}`` from the
token endpoint (docker/login-action#26); a private package the caller cannot see is token 200 without the grant
and registry 401 ``insufficient_scope`` (openappsec/openappsec#306); nonexistent looks the same.
"""

from __future__ import annotations

from typing import ClassVar

from .front import RegistryFront, Reply, Request, error_body, json_reply


class Ghcr(RegistryFront):
    hosts: ClassVar[tuple[str, ...]] = ("ghcr.io",)

    def token_endpoint(self, req: Request) -> Reply:
        basic = req.basic()
        subject = None
        if basic is not None:
            if self.check_user(*basic) is None:
                return self.bad_credentials(req)
            subject = basic[0]
        return json_reply(200, {"token": self.issue(subject, self.grant(subject, self.scopes(req)))})

    def bad_credentials(self, req: Request) -> Reply:
        return json_reply(403, error_body("DENIED", "denied"))

    def challenge(self, req: Request, repo: str | None, action: str, *, insufficient: bool) -> Reply:
        scope = f"repository:{repo}:{action}" if repo else "repository:user/image:pull"
        params = f'Bearer realm="{self.realm}",service="ghcr.io",scope="{scope}"'
        if insufficient:
            params += ',error="insufficient_scope"'
        return json_reply(
            401, error_body("UNAUTHORIZED", "authentication required"), ("WWW-Authenticate", params)
        )

    def route(self, req: Request) -> Reply | None:
        if req.method == "DELETE":
            return json_reply(405, error_body("UNSUPPORTED", "The operation is unsupported."))
        return None
