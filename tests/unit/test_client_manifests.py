"""``ocireg.client.manifests`` (#15 item 2) on protocol edges the real registry cannot produce (wire double).

PC: retag keeps the bytes; BI: a registry digest that disagrees with the body.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import pytest

from ocireg.client import RegistryClient
from ocireg.errors import DigestMismatch
from ocireg.mediatypes import OCI_MANIFEST
from ocireg.reference import parse_reference
from ocireg.response import Request, Response
from ocireg.transport import Transport, TransportConfig

from wiredouble import Scripted, path, respond

Handler = Callable[[Request], Response]


def _client(handler: Handler) -> RegistryClient:
    config = TransportConfig(retries=0)
    return RegistryClient(config=config, transport=Transport(config, wire=Scripted(handler)))


def test_put_manifest_refuses_a_registry_digest_that_disagrees() -> None:
    """BI: a Docker-Content-Digest that disagrees with the bytes sent is an error."""
    raw = b'{"schemaVersion": 2}'

    def handle(request: Request) -> Response:
        request.read()
        return respond(201, headers={"Docker-Content-Digest": "sha256:" + "0" * 64})

    with _client(handle) as client, pytest.raises(DigestMismatch):
        client.put_manifest(parse_reference("registry.example.com/group/app:v1"), raw, OCI_MANIFEST)


def test_put_manifest_sends_exact_bytes_and_media_type() -> None:
    """PC: retag keeps the bytes — the body is sent as given, with the given Content-Type."""
    raw = b'{\n   "schemaVersion" : 2 }'
    seen: list[Request] = []

    def handle(request: Request) -> Response:
        request.read()
        seen.append(request)
        return respond(201, headers={"Docker-Content-Digest": "sha256:" + hashlib.sha256(raw).hexdigest()})

    with _client(handle) as client:
        digest = client.put_manifest(parse_reference("registry.example.com/group/app:v1"), raw, OCI_MANIFEST)
    assert str(digest) == "sha256:" + hashlib.sha256(raw).hexdigest()
    assert seen[0].content == raw
    assert seen[0].headers["content-type"] == OCI_MANIFEST
    assert path(seen[0]) == "/v2/group/app/manifests/v1"
