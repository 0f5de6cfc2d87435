"""Harbor v2 under ``harbor.example.org``, read from goharbor/harbor at commit
8984979bd2a2daab8a6632b994bdaba6c2a573a7.

Modelled (documented in the source):

* ``src/server/middleware/v2auth/auth.go`` (``getChallenge``): without an ``Authorization`` header the
  challenge is ``Bearer realm="https://HOST/service/token",service="harbor-registry",scope="repository:P/R:A"``;
  **with one** (a Basic that failed, a Bearer lacking the scope) it is ``Basic realm="harbor"``. A HEAD without
  ``Authorization`` is always challenged, even on a public project (goharbor/harbor#11271). A project that does
  not exist fails the project lookup, whose error is returned unwrapped as 401 ``UNAUTHORIZED`` with an
  **empty** ``Www-Authenticate`` (no body on HEAD). Denied: 401 ``UNAUTHORIZED`` "unauthorized to access
  repository: P/R, action: A: …" (the cause appended by ``src/lib/errors``).
* ``src/core/service/token``: ``GET /service/token?service=harbor-registry&scope=…``; a failed Basic login is
  ignored (``src/server/middleware/security/basic_auth.go``): the caller gets an anonymous token.
* ``src/controller/artifact/controller.go`` / ``src/lib/http/error.go``: absent tag **404 ``NOT_FOUND``**
  "artifact P/R:T not found".
* ``src/server/registry/manifest.go`` (``deleteManifest``): delete by tag **400 ``UNSUPPORTED``**; by digest
  it deletes the artifact, or **412 ``PRECONDITION``** when a tag on it is immutable
  (``src/server/middleware/immutable/deletemf.go``).
* robot accounts ``robot$PROJECT+NAME`` (goharbor.io docs, "create robot accounts").

Inferred: the text after "project P not found"; the ``Link`` of tag pages (distribution's, relative).
"""

from __future__ import annotations

from typing import Any, ClassVar

from .front import RegistryFront, Reply, Request, error_body, json_reply


class Harbor(RegistryFront):
    hosts: ClassVar[tuple[str, ...]] = ("harbor.example.org",)
    token_path: ClassVar[str | None] = "/service/token"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.projects: set[str] = set()
        self.immutable: set[tuple[str, str]] = set()

    def token_endpoint(self, req: Request) -> Reply:
        basic = req.basic()
        subject = basic[0] if basic is not None and self.check_user(*basic) is not None else None
        scopes = self.scopes(req)
        if subject is None and req.authorization and not scopes:
            return Reply(401)  # docker login with bad credentials: 401, empty body
        token = self.issue(subject, self.grant(subject, scopes))
        return json_reply(200, {"token": token, "expires_in": 1800})

    def challenge(self, req: Request, repo: str | None, action: str, *, insufficient: bool) -> Reply:
        if req.authorization:
            header = 'Basic realm="harbor"'
        else:
            header = f'Bearer realm="{self.realm}",service="harbor-registry"'
            if repo is not None:
                header += f',scope="repository:{repo}:{action}"'
        text = f"unauthorized to access repository: {repo}, action: {action}"
        message = f"{text}: {text}" if repo is not None else "unauthorized"
        return json_reply(401, error_body("UNAUTHORIZED", message), ("WWW-Authenticate", header))

    def authorize(self, req: Request, repo: str | None) -> Reply | None:
        if repo is not None and repo.split("/")[0] not in self.projects:
            project = repo.split("/")[0]
            body = error_body("UNAUTHORIZED", f"project {project} not found")
            return json_reply(401, body, ("WWW-Authenticate", ""))
        return super().authorize(req, repo)

    def not_found(self, req: Request, repo: str, ref: str, upstream: Reply) -> Reply:
        what = f"{repo}@{ref}" if ":" in ref else f"{repo}:{ref}"
        return json_reply(404, error_body("NOT_FOUND", f"artifact {what} not found"))

    def delete(self, req: Request, repo: str, ref: str) -> Reply:
        if ":" not in ref:
            message = f"unsupported digest {ref}: invalid checksum digest format"
            return json_reply(400, error_body("UNSUPPORTED", message))
        for tag in self.tags_of(repo, ref):
            if (repo, tag) in self.immutable:
                name = repo.split("/", 1)[-1]
                message = f"Failed to process request due to '{name}:{tag}' configured as immutable."
                return json_reply(412, error_body("PRECONDITION", message))
        return self.forward(req)
