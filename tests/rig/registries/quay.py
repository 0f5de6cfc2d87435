"""Quay under ``quay.io``, read from quay/quay at commit 0488c73d82efe009233290ee9acc590e75466deb.

Modelled (documented in the source):

* ``endpoints/v2/v2auth.py`` (``generate_registry_jwt``, ``SCOPE_REGEX_TEMPLATE``): the token service at
  ``/v2/auth`` knows only ``push``, ``pull`` and ``*``; any other action fails the scope regex and is answered
  **400** ``InvalidRequest`` "Unable to decode repository and actions: …"; actions the caller may not have are
  dropped (downscoped), never refused; sent credentials that do not authenticate are ``InvalidLogin`` (401
  "Invalid Username or Password", ``endpoints/v2/errors.py``); no credentials and no scope is 401.
* ``endpoints/v2/manifest.py`` (``delete_manifest_by_tag``): deleting needs **push**
  (``_require_repo_permission(ModifyRepositoryPermission)``), the challenge says ``:push``; a tag delete removes
  that tag only (202).
* ``endpoints/v2/__init__.py``: ``/v2/`` answers ``true`` (401 anonymous, 200 with a token);
  ``oci_tag_paginate``: pages of at most 100 tags whatever ``n`` asks, ``Link`` **absolute**
  (``https://quay.io/v2/N/tags/list?n=100&last=T``); public repositories are read without any token
  (``allow_public=True``).
* users ``org+robot`` (robots) and plain users (``auth/credentials.py``).

Inferred: the exact ``Link`` query order; nonexistent repositories are answered as private (401) for callers who
cannot read the namespace, which is every caller here.
"""

from __future__ import annotations

import json
import re
from typing import ClassVar
from urllib.parse import quote

from .front import RegistryFront, Reply, Request, error_body, json_reply

PAGE = 100
_SCOPE = re.compile(r"^repository:([.a-zA-Z0-9_/-]+):((?:push|pull|\*)(?:,(?:push|pull|\*))*)$")


class Quay(RegistryFront):
    hosts: ClassVar[tuple[str, ...]] = ("quay.io",)
    token_path: ClassVar[str | None] = "/v2/auth"
    known_actions: ClassVar[frozenset[str]] = frozenset({"pull", "push", "*"})
    anonymous_reads_direct: ClassVar[bool] = True

    def token_endpoint(self, req: Request) -> Reply:
        basic = req.basic()
        subject = None
        if req.authorization:
            if basic is None or self.check_user(*basic) is None:
                return json_reply(401, error_body("UNAUTHORIZED", "Invalid Username or Password", {}))
            subject = basic[0]
        scopes = self.scopes(req)
        if subject is None and not scopes:
            return json_reply(
                401, error_body("UNAUTHORIZED", "access to the requested resource is not authorized", {})
            )
        for scope in scopes:
            if _SCOPE.match(scope) is None:
                message = f"Unable to decode repository and actions: {scope}"
                return json_reply(400, error_body("INVALID_REQUEST", message, {}))
        return json_reply(200, {"token": self.issue(subject, self.grant(subject, scopes))})

    def action_for(self, req: Request, repo: str) -> str:
        return "pull" if req.method in ("GET", "HEAD") else "push"  # a delete needs push (manifest.py)

    def challenge(self, req: Request, repo: str | None, action: str, *, insufficient: bool) -> Reply:
        params = f'Bearer realm="{self.realm}",service="{self.api_host}"'
        if repo is None:
            return Reply(401, b"true", [("Content-Type", "application/json"), ("WWW-Authenticate", params)])
        params += f',scope="repository:{repo}:{action}"'
        body = error_body("UNAUTHORIZED", "access to the requested resource is not authorized", {})
        return json_reply(401, body, ("WWW-Authenticate", params))

    def route(self, req: Request) -> Reply | None:
        if req.path in ("/v2", "/v2/"):
            refusal = self.authorize(req, None)
            params = f'Bearer realm="{self.realm}",service="{self.api_host}"'
            return refusal or Reply(
                200, b"true", [("Content-Type", "application/json"), ("WWW-Authenticate", params)]
            )
        return None

    def delete(self, req: Request, repo: str, ref: str) -> Reply:
        if ":" in ref:
            return self.forward(req)
        if not self.untag(repo, ref):
            return json_reply(404, error_body("MANIFEST_UNKNOWN", "manifest unknown", {}))
        return Reply(202)

    def tags(self, req: Request, repo: str) -> Reply:
        full = self.forward(req, method="GET", path=f"/v2/{repo}/tags/list?n=100000")
        if full.status != 200:
            return full
        names = sorted(json.loads(full.body)["tags"] or [])
        last = (req.query.get("last") or [""])[0]
        if last:
            names = [n for n in names if n > last]
        page = names[:PAGE]
        headers = [("Content-Type", "application/json")]
        if len(names) > PAGE:
            link = f"https://{self.api_host}/v2/{repo}/tags/list?n={PAGE}&last={quote(page[-1])}"
            headers.append(("Link", f'<{link}>; rel="next"'))
        return Reply(200, json.dumps({"name": repo, "tags": page}).encode(), headers)


class SelfManagedQuay(Quay):
    """Red Hat Quay under a name of its own. ``auth/registry_jwt_auth.py`` (``get_auth_headers``, quay/quay at
    2307c0bdae1b89781dca0ef55ef9c6fb293e6d23): the realm is the app URL (scheme + ``SERVER_HOSTNAME``) plus
    ``/v2/auth``, the service is ``SERVER_HOSTNAME``; the ``Link`` of a tags page is the app URL's too."""

    hosts: ClassVar[tuple[str, ...]] = ("quay.corp.example",)
