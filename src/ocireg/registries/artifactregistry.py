"""Google Artifact Registry (``REGION-docker.pkg.dev``).

Sources: cloud.google.com/artifact-registry/docs/docker/authentication (``oauth2accesstoken``, ``_json_key``,
``_json_key_base64``, ``docker-credential-gcloud``); client fixtures (seqeralabs/wave
``RegistryLookupServiceTest``) for a challenge without ``service``; the widely quoted 403 ``DENIED``
"Permission … denied on resource … (or it may not exist)", sent on GET only, so a refused HEAD is read again
with GET. Artifact Registry never says a repository is absent: its 403 is access denied (exit 4).
"""

from __future__ import annotations

from ocireg.registries.base import Profile

__all__ = ["ARTIFACT_REGISTRY", "ArtifactRegistryProfile"]


class ArtifactRegistryProfile(Profile):
    name = "artifactregistry"
    title = "Artifact Registry"

    def matches_host(self, host: str) -> bool:
        return host.endswith("-docker.pkg.dev")

    def reads_refusal_body(self, status: int) -> bool:
        return status in (401, 403)

    def credential_help(self, registry: str) -> str:
        return (
            f"run 'gcloud auth configure-docker {registry}', or log in as oauth2accesstoken "
            "with 'gcloud auth print-access-token'"
        )


ARTIFACT_REGISTRY = ArtifactRegistryProfile()
