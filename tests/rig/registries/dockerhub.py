"""Docker Hub under its names: ``registry-1.docker.io`` (API, alias ``index.docker.io``) and ``auth.docker.io``.

Modelled (documented; sources as in the registries table of docs/testing.md):

* challenge ``Bearer realm="https://auth.docker.io/token",service="registry.docker.io"`` (+ ``scope`` on
  repository routes), body ``UNAUTHORIZED`` "authentication required" (pulp/pulp_container#1139, captured
  headers); token ``GET https://auth.docker.io/token`` answering ``token`` and ``access_token``;
* bad credentials: the token endpoint's **401** ``{"details":"incorrect username or password"}``
  (google/go-containerregistry ``pkg/v1/remote/transport/error_test.go``);
* private or nonexistent repository: token 200 with the scope dropped, then registry **401**
  ``error="insufficient_scope"`` (docker-archive/docker-registry#1071, distribution/distribution#4354);
* rate limit headers ``ratelimit-limit``/``ratelimit-remaining``/``docker-ratelimit-source`` on manifest
  responses, **GET counts, HEAD does not** (docs.docker.com/docker-hub/usage/pulls); a GET past the limit is
  **429** ``TOOMANYREQUESTS`` "You have reached your pull rate limit. …" with no ``Retry-After``
  (docker/hub-feedback#2429, ScribeMD/docker-cache#829), a HEAD is still answered;
* delete: the challenge asks ``scope=…:delete``; with a token **405** ``UNSUPPORTED`` "The operation is
  unsupported." (docker/hub-feedback#2360, goharbor/harbor#7369).

Inferred: ``POST /token`` (OAuth2) is not modelled; the rate-limit window text ``w=21600`` is copied, not used.
"""

from __future__ import annotations

from typing import Any, ClassVar

from .front import RegistryFront, Reply, Request, error_body, json_reply

LIMIT = 100
RATE_LIMITED = (
    "You have reached your pull rate limit. You may increase the limit by authenticating and upgrading: "
    "https://www.docker.com/increase-rate-limit"
)


class DockerHub(RegistryFront):
    hosts: ClassVar[tuple[str, ...]] = ("registry-1.docker.io", "index.docker.io", "auth.docker.io")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.pulls = 0
        self.limit = LIMIT

    @property
    def token_host(self) -> str:
        return "auth.docker.io"

    def challenge(self, req: Request, repo: str | None, action: str, *, insufficient: bool) -> Reply:
        params = f'Bearer realm="{self.realm}",service="registry.docker.io"'
        if repo is not None:
            params += f',scope="repository:{repo}:{action}"'
        if insufficient:
            params += ',error="insufficient_scope"'
        detail = (
            None if repo is None else [{"Type": "repository", "Class": "", "Name": repo, "Action": action}]
        )
        body = error_body("UNAUTHORIZED", "authentication required", detail)
        return json_reply(401, body, ("WWW-Authenticate", params))

    def bad_credentials(self, req: Request) -> Reply:
        return json_reply(401, {"details": "incorrect username or password"})

    def delete(self, req: Request, repo: str, ref: str) -> Reply:
        return json_reply(405, error_body("UNSUPPORTED", "The operation is unsupported."))

    def decorate(self, req: Request, reply: Reply) -> Reply:
        if "/manifests/" in req.path and req.method in ("GET", "HEAD") and reply.status == 200:
            if req.method == "GET":
                if self.pulls >= self.limit:
                    return json_reply(429, error_body("TOOMANYREQUESTS", RATE_LIMITED))
                self.pulls += 1
            reply.headers += [
                ("ratelimit-limit", f"{self.limit};w=21600"),
                ("ratelimit-remaining", f"{max(0, self.limit - self.pulls)};w=21600"),
                ("docker-ratelimit-source", "127.0.0.1"),
            ]
        return reply
