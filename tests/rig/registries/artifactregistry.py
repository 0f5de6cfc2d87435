"""Google Artifact Registry under ``europe-west1-docker.pkg.dev`` (names ``PROJECT/REPOSITORY/IMAGE``).

Modelled (documented): token ``GET /v2/token`` with Basic -> ``{"token": …}``; users ``oauth2accesstoken``
(an access token), ``_json_key`` (a service-account JSON key), ``_dcgcloud_token`` (what
``docker-credential-gcloud`` returns) (cloud.google.com/artifact-registry/docs/docker/authentication;
google-cloud-sdk ``docker_helper``).

Inferred: the challenge ``Bearer realm="https://HOST/v2/token"`` has **no ``service``** (seqeralabs/wave
``RegistryLookupServiceTest``, apple/container ``RegistryClient`` tests); a refusal is **403 ``DENIED``**
``Permission "artifactregistry.repositories.downloadArtifacts" denied on resource "projects/P/locations/L/
repositories/R" (or it may not exist)`` (anonymous: "Unauthenticated request. Unauthenticated requests do not
have permission …"), the body only on GET; a repository never said absent; a bad access token 401 at the token
endpoint; tag delete 202 (untag); digest delete while tagged 400 ``GOOGLE_MANIFEST_DANGLING_TAG``.
"""

from __future__ import annotations

from typing import Any, ClassVar

from .front import RegistryFront, Reply, Request, error_body, json_reply

HOST = "europe-west1-docker.pkg.dev"
_PERMISSION = {"pull": "downloadArtifacts", "push": "uploadArtifacts", "delete": "deleteArtifacts"}


class ArtifactRegistry(RegistryFront):
    hosts: ClassVar[tuple[str, ...]] = (HOST,)
    token_path: ClassVar[str | None] = "/v2/token"

    def challenge(self, req: Request, repo: str | None, action: str, *, insufficient: bool) -> Reply:
        header = f'Bearer realm="{self.realm}"'
        if repo is not None:
            header += f',scope="repository:{repo}:{action}"'
        return json_reply(
            401, error_body("UNAUTHORIZED", "authentication required"), ("WWW-Authenticate", header)
        )

    def refuse(self, req: Request, repo: str, action: str, state: Any) -> Reply:
        if state is None:
            return self.challenge(req, repo, action, insufficient=False)
        project, _, rest = repo.partition("/")
        resource = f"projects/{project}/locations/europe-west1/repositories/{rest.split('/')[0]}"
        permission = f'"artifactregistry.repositories.{_PERMISSION[action]}"'
        if state[0] is None:
            message = (
                f"Unauthenticated request. Unauthenticated requests do not have permission {permission} "
                f'on resource "{resource}" (or it may not exist)'
            )
        else:
            message = f'Permission {permission} denied on resource "{resource}" (or it may not exist)'
        return json_reply(403, error_body("DENIED", message))

    def not_found(self, req: Request, repo: str, ref: str, upstream: Reply) -> Reply:
        return json_reply(404, error_body("MANIFEST_UNKNOWN", f'Failed to fetch "{ref}"'))

    def delete(self, req: Request, repo: str, ref: str) -> Reply:
        if ":" not in ref:
            return Reply(202) if self.untag(repo, ref) else self.not_found(req, repo, ref, Reply(404))
        if self.tags_of(repo, ref):
            message = "Manifest is still referenced by one or more tags"
            return json_reply(400, error_body("GOOGLE_MANIFEST_DANGLING_TAG", message))
        return self.forward(req)
