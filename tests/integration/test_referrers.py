"""``ocireg referrers`` and ``RegistryClient.referrers`` (docs/architecture.md §1 client: referrers; OCI distribution-spec v1.1).

distribution 2.8 has no referrers API, so the tag-schema fallback runs against the real registry: the artifacts
and the ``sha256-<hex>`` index are pushed the way oras does on such registries. The API path (a v1.1
registry) is emulated by the fault proxy answering ``/referrers/`` in front of the same registry (PC).
"""

from __future__ import annotations

import json
import secrets

from clirunner import creds, run_cli
from rig import Rig
from rig.faultproxy import Rule, status
from rig.proxy_fixtures import FaultProxyFactory
from rig.seed import sha256_digest
from rig.tokenserver import ALICE, ALICE_PASSWORD

ALICE_ENV = creds(ALICE, ALICE_PASSWORD)
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
EMPTY = "application/vnd.oci.empty.v1+json"
SBOM = "application/spdx+json"
SIGNATURE = "application/vnd.example.signature.v1"


def _dump(doc: object) -> bytes:
    return json.dumps(doc, separators=(",", ":"), sort_keys=True).encode()


def _push_artifact(
    rig: Rig, repo: str, subject: tuple[str, int, str], artifact_type: str
) -> dict[str, object]:
    """An OCI 1.1 artifact manifest (empty config, one payload layer) whose subject is the image; its descriptor."""
    subject_digest, subject_size, subject_type = subject
    with rig.pusher() as pusher:
        empty = pusher.put_blob(repo, b"{}")
        payload = f"{artifact_type} for {subject_digest} {secrets.token_hex(4)}".encode()
        layer = pusher.put_blob(repo, payload)
        doc = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": artifact_type,
            "config": {"mediaType": EMPTY, "digest": empty, "size": 2},
            "layers": [{"mediaType": "application/octet-stream", "digest": layer, "size": len(payload)}],
            "subject": {"mediaType": subject_type, "digest": subject_digest, "size": subject_size},
        }
        body = _dump(doc)
        digest = pusher.put_manifest(repo, sha256_digest(body), body, OCI_MANIFEST)
    return {"mediaType": OCI_MANIFEST, "digest": digest, "size": len(body), "artifactType": artifact_type}


def _subject(rig: Rig) -> tuple[str, tuple[str, int, str]]:
    repo = f"group/project/referrers-{secrets.token_hex(3)}"
    with rig.pusher() as pusher:
        image = pusher.push_image(repo, "v1", label=f"referrers-{repo}")
    return repo, (image.digest, len(image.body), image.media_type)


def _index(descriptors: list[dict[str, object]]) -> bytes:
    return _dump({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": descriptors})


def _tag_schema(rig: Rig, repo: str, subject_digest: str, descriptors: list[dict[str, object]]) -> None:
    with rig.pusher() as pusher:
        pusher.put_manifest(repo, subject_digest.replace(":", "-"), _index(descriptors), OCI_INDEX)


def test_tag_schema_fallback_on_a_registry_without_the_api(token_rig: Rig) -> None:
    """PC: distribution 2.8 answers 404 on /referrers/: the sha256-<hex> index lists the artifacts."""
    repo, subject = _subject(token_rig)
    sbom = _push_artifact(token_rig, repo, subject, SBOM)
    signature = _push_artifact(token_rig, repo, subject, SIGNATURE)
    _tag_schema(token_rig, repo, subject[0], [sbom, signature])

    result = run_cli(["referrers", "-o", "json", token_rig.ref(repo, "v1")], ALICE_ENV)
    assert result.code == 0, result.err
    doc = json.loads(result.out)
    assert doc["command"] == "referrers"
    assert doc["subject"] == subject[0]
    assert doc["source"] == "tag-schema"
    assert doc["referrers"] == [sbom, signature]

    text = run_cli(["referrers", token_rig.ref(repo, "v1")], ALICE_ENV)
    assert text.code == 0, text.err
    assert [line.split()[:2] for line in text.out.splitlines()] == [
        [SBOM, sbom["digest"]],
        [SIGNATURE, signature["digest"]],
    ]

    only = run_cli(["referrers", "-o", "json", "--artifact-type", SBOM, token_rig.ref(repo, "v1")], ALICE_ENV)
    assert [r["digest"] for r in json.loads(only.out)["referrers"]] == [sbom["digest"]]


def test_image_without_referrers_is_an_empty_list_and_exit_0(token_rig: Rig) -> None:
    """PC/BI: no referrers tag → no referrers (exit 0), said on stderr in text mode; a missing image is exit 1."""
    repo, subject = _subject(token_rig)
    result = run_cli(["referrers", token_rig.ref(repo, "v1")], ALICE_ENV)
    assert result.code == 0, result.err
    assert result.out == ""
    assert "no referrers" in result.err
    doc = json.loads(run_cli(["referrers", "-o", "json", token_rig.ref(repo, "v1")], ALICE_ENV).out)
    assert doc["referrers"] == []
    by_digest = run_cli(["referrers", token_rig.ref(repo, "v1").replace(":v1", "@" + subject[0])], ALICE_ENV)
    assert by_digest.code == 0, by_digest.err

    missing = run_cli(["referrers", token_rig.ref(repo, "never")], ALICE_ENV)
    assert missing.code == 1, missing.both


def test_referrers_tag_holding_an_image_is_a_registry_error(token_rig: Rig) -> None:
    """SEC/PC: the sha256-<hex> tag must hold an index; anything else is exit 6, not a silent empty list."""
    repo, subject = _subject(token_rig)
    with token_rig.pusher() as pusher:
        pusher.push_image(repo, subject[0].replace(":", "-"), label=f"not-an-index-{repo}")
    result = run_cli(["referrers", token_rig.ref(repo, "v1")], ALICE_ENV)
    assert result.code == 6, result.both
    assert "not an image index" in result.err


def test_referrers_api_pages_and_client_side_filter(
    token_rig: Rig, fault_proxy_factory: FaultProxyFactory
) -> None:
    """PC: a v1.1 registry's /referrers/ answer (two pages, Link rel=next) wins over the tag schema, and an
    artifactType filter the registry did not apply (no OCI-Filters-Applied) is applied by ocireg."""
    repo, subject = _subject(token_rig)
    sbom = _push_artifact(token_rig, repo, subject, SBOM)
    signature = _push_artifact(token_rig, repo, subject, SIGNATURE)
    _tag_schema(token_rig, repo, subject[0], [])  # would say "none": the API must be preferred
    proxy = fault_proxy_factory(token_rig.url)
    path = f"/v2/{repo}/referrers/{subject[0]}"
    proxy.set_rules(
        [
            Rule(
                "GET",
                f"^{path}\\?page=2$",
                status(200, {"Content-Type": OCI_INDEX}, _index([signature])),
            ),
            Rule(
                "GET",
                f"^{path}(\\?artifactType=.*)?$",
                status(
                    200, {"Content-Type": OCI_INDEX, "Link": f'<{path}?page=2>; rel="next"'}, _index([sbom])
                ),
            ),
        ]
    )
    ref = f"{proxy.netloc}/{repo}:v1"
    result = run_cli(["referrers", "-o", "json", ref], ALICE_ENV)
    assert result.code == 0, result.err
    doc = json.loads(result.out)
    assert doc["source"] == "api"
    assert doc["referrers"] == [sbom, signature]

    only = run_cli(["referrers", "-o", "json", "--artifact-type", SIGNATURE, ref], ALICE_ENV)
    assert only.code == 0, only.err
    assert [r["digest"] for r in json.loads(only.out)["referrers"]] == [signature["digest"]]
    assert proxy.count("GET", "artifactType=application%2Fvnd.example.signature.v1") == 1


def test_referrers_api_pagination_loop_is_refused(
    token_rig: Rig, fault_proxy_factory: FaultProxyFactory
) -> None:
    """SEC/FT: a referrers page whose next link points back to a page already read ends with exit 6."""
    repo, subject = _subject(token_rig)
    sbom = _push_artifact(token_rig, repo, subject, SBOM)
    proxy = fault_proxy_factory(token_rig.url)
    path = f"/v2/{repo}/referrers/{subject[0]}"
    proxy.set_rules(
        [
            Rule(
                "GET",
                f"^{path}",
                status(
                    200, {"Content-Type": OCI_INDEX, "Link": f'<{path}?page=2>; rel="next"'}, _index([sbom])
                ),
            )
        ]
    )
    result = run_cli(["referrers", f"{proxy.netloc}/{repo}:v1"], ALICE_ENV)
    assert result.code == 6, result.both
    assert "loop" in result.err
    assert proxy.count("GET", "/referrers/") == 2  # the first page and page 2, then the loop is seen


# ----------------------------------------------------------------------------------------------------------------
# copy --referrers
# ----------------------------------------------------------------------------------------------------------------


def _tag_index(rig: Rig, repo: str, subject_digest: str) -> list[dict[str, object]] | None:
    """The referrers tag index at ``repo`` as JSON entries, or None when the tag does not exist."""
    response = rig.get_manifest(repo, subject_digest.replace(":", "-"))
    if response.status_code == 404:
        return None
    assert response.status_code == 200, response.text
    manifests = json.loads(response.content)["manifests"]
    assert isinstance(manifests, list)
    return manifests


def test_copy_referrers_across_registries_keeps_the_tag_schema(token_rig: Rig, open_rig: Rig) -> None:
    """PC: copy --referrers brings the signature and SBOM (with their blobs) and, on a registry without the
    referrers API, lists them under the destination's sha256-<hex> tag; a second copy adds nothing twice.
    Without --referrers nothing but the image is copied."""
    repo, subject = _subject(token_rig)
    sbom = _push_artifact(token_rig, repo, subject, SBOM)
    signature = _push_artifact(token_rig, repo, subject, SIGNATURE)
    # A stale entry (the artifact was deleted, the tag index not updated) is skipped, never listed at the copy.
    stale = _push_artifact(token_rig, repo, subject, "application/vnd.example.deleted.v1")
    _tag_schema(token_rig, repo, subject[0], [sbom, stale, signature])
    with token_rig.raw_client() as raw:
        gone = raw.delete(
            f"/v2/{repo}/manifests/{stale['digest']}",
            headers={"Authorization": token_rig.bearer(repo, ("pull", "delete"))},
        )
    assert gone.status_code == 202, gone.text

    plain_dst = f"mirror/plain-{secrets.token_hex(3)}"
    plain = run_cli(["copy", token_rig.ref(repo, "v1"), open_rig.ref(plain_dst, "v1")], ALICE_ENV)
    assert plain.code == 0, plain.err
    assert _tag_index(open_rig, plain_dst, subject[0]) is None

    dst = f"mirror/signed-{secrets.token_hex(3)}"
    result = run_cli(
        ["copy", "-o", "json", "--referrers", token_rig.ref(repo, "v1"), open_rig.ref(dst, "v1")], ALICE_ENV
    )
    assert result.code == 0, result.err
    assert json.loads(result.out)["referrers"] == 2
    assert _tag_index(open_rig, dst, subject[0]) == [sbom, signature]
    listed = run_cli(["referrers", "-o", "json", open_rig.ref(dst, "v1")], ALICE_ENV)
    assert listed.code == 0, listed.err
    assert [r["digest"] for r in json.loads(listed.out)["referrers"]] == [sbom["digest"], signature["digest"]]
    for artifact in (sbom, signature):  # the artifacts themselves, blobs included, are at the destination
        inspect = run_cli(["inspect", "-o", "json", f"{open_rig.host}/{dst}@{artifact['digest']}"], ALICE_ENV)
        assert inspect.code == 0, inspect.err

    again = run_cli(["copy", "--referrers", token_rig.ref(repo, "v1"), open_rig.ref(dst, "v1")], ALICE_ENV)
    assert again.code == 0, again.err
    assert _tag_index(open_rig, dst, subject[0]) == [sbom, signature]  # not listed twice


def test_copy_referrers_skips_the_tag_schema_where_the_registry_indexes_them(
    token_rig: Rig, open_rig: Rig, fault_proxy_factory: FaultProxyFactory
) -> None:
    """PC: a destination answering OCI-Subject on the referrer's PUT (a v1.1 registry) gets no referrers tag."""
    from rig.faultproxy import add_header, location_via_proxy

    repo, subject = _subject(token_rig)
    sbom = _push_artifact(token_rig, repo, subject, SBOM)
    _tag_schema(token_rig, repo, subject[0], [sbom])
    proxy = fault_proxy_factory(open_rig.url)
    proxy.set_rules(
        [
            Rule("PUT", f"/manifests/{sbom['digest']}$", add_header("OCI-Subject", subject[0])),
            Rule("POST", "/blobs/uploads/", location_via_proxy()),
        ]
    )
    dst = f"mirror/indexed-{secrets.token_hex(3)}"
    result = run_cli(
        ["copy", "--referrers", token_rig.ref(repo, "v1"), f"{proxy.netloc}/{dst}:v1"], ALICE_ENV
    )
    assert result.code == 0, result.err
    assert "1 referrer(s)" in result.out
    assert proxy.count("PUT", f"/manifests/{sbom['digest']}$") == 1
    assert proxy.count("PUT", "/manifests/sha256-") == 0
    assert _tag_index(open_rig, dst, subject[0]) is None
