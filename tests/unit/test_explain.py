"""``ocireg auth explain`` (operations/explain.py) sends the ``Authorization`` values every request sends: they are
built by ocireg.auth (``basic_header``, ``bearer_header``), never by a copy of their own (#15, loose end of item
6). Catalogue: SEC (what the diagnosis shows must be what a pull does: a header that differs, e.g. in how a
non-ASCII password is encoded, would explain a success the client does not have, or the reverse).

The registry is scripted (tests/wiredouble.py): the rig's registries speak one scheme each, with ASCII users.
"""

from __future__ import annotations

import pytest

from ocireg.auth import basic_header
from ocireg.client import RegistryClient
from ocireg.credentials import Credential
from ocireg.operations.explain import explain
from ocireg.reference import parse_reference
from ocireg.response import Request, Response
from ocireg.transport import Transport, TransportConfig

from wiredouble import Scripted, respond

REALM = "https://auth.example.com/token"
DIGEST = "sha256:" + "a" * 64
# Non-ASCII and a colon: the encoding of the pair is where two builders would differ.
USER, PASSWORD = "ålice", "pässwörd:ü"


class Registry:
    """A registry asking for ``scheme`` authentication; it records the ``Authorization`` of each request to it."""

    def __init__(self, scheme: str) -> None:
        self.scheme = scheme
        self.seen: list[str] = []

    def __call__(self, request: Request) -> Response:
        if request.url.startswith(REALM):
            return respond(200, json={"token": "e30.e30.sig"})
        authorization = request.headers.get("authorization")
        if authorization is None:
            challenge = 'Basic realm="registry"' if self.scheme == "basic" else f'Bearer realm="{REALM}"'
            return respond(401, headers={"WWW-Authenticate": challenge})
        self.seen.append(authorization)
        headers = {
            "Docker-Content-Digest": DIGEST,
            "Content-Type": "application/vnd.oci.image.manifest.v1+json",
            "Content-Length": "2",
        }
        return respond(200, headers=headers)


@pytest.mark.parametrize("scheme", ["basic", "bearer"])
def test_explain_sends_the_authorization_the_client_sends(scheme: str) -> None:
    """#15, SEC: explain's authenticated HEAD carries exactly the value the client's own request carries."""
    registry = Registry(scheme)
    config = TransportConfig(retries=0)
    credential = Credential(username=USER, password=PASSWORD, source="test")
    client = RegistryClient(credential, config=config, transport=Transport(config, wire=Scripted(registry)))
    ref = parse_reference("registry.example.com/g/p:v1")
    report = explain(client, ref)
    assert report.error is None, report.error
    explained, registry.seen = registry.seen, []
    assert client.exists(ref)
    assert explained == registry.seen[:1]
    if scheme == "basic":
        assert explained == [basic_header(USER, PASSWORD)]
