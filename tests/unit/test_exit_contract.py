"""The exit-code contract across registry families (docs/architecture.md §2, "one situation, one code, on every
registry"; #22 item 5): the same wire answers, given by a registry of each family and by a registry nobody
recognises (the generic profile), end in the same exit code.

Each family is reached through its own recognition path: by host name (Docker Hub, GHCR, Quay, ECR, ACR,
Artifact Registry, gitlab.com) or by challenge (Harbor's ``service="harbor-registry"``, a self-managed GitLab's
``service="container_registry"`` with a ``/jwt/auth`` realm). Catalogue: PC (pull flows per registry), SEC
(nothing said "absent" that the registry did not say).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

import pytest

from ocireg.cli.exitcodes import exit_code_for
from ocireg.client import RegistryClient
from ocireg.credentials import ANONYMOUS, Credential
from ocireg.errors import OciregError
from ocireg.reference import parse_reference
from ocireg.response import Request, Response
from ocireg.transport import Transport, TransportConfig

from wiredouble import Scripted, respond

ALICE = Credential(username="alice", password="secret-pw", source="test")
DIGEST = "sha256:" + "b" * 64


@dataclass(frozen=True)
class Family:
    """A registry family as a client meets it: the host, and the challenge parameters its token service has."""

    name: str
    profile: str
    host: str
    repo: str
    realm_path: str = "/token"
    service: str = "registry.example.com"


FAMILIES = [
    Family("generic", "generic", "registry.example.com", "g/p"),
    Family("gitlab", "gitlab", "registry.gitlab.com", "g/p"),
    Family(
        "gitlab-self-managed", "gitlab", "gitlab.example.com:5050", "g/p", "/jwt/auth", "container_registry"
    ),
    Family("dockerhub", "dockerhub", "registry-1.docker.io", "g/p"),
    Family("ghcr", "ghcr", "ghcr.io", "g/p"),
    Family("quay", "quay", "quay.io", "g/p"),
    Family("harbor", "harbor", "harbor.example.com", "g/p", "/service/token", "harbor-registry"),
    Family("ecr", "ecr", "123456789012.dkr.ecr.eu-west-1.amazonaws.com", "g/p"),
    Family("acr", "acr", "myregistry.azurecr.io", "g/p", "/oauth2/token"),
    Family("artifactregistry", "artifactregistry", "europe-docker.pkg.dev", "proj/repo/p"),
]


def _errors(code: str, message: str) -> bytes:
    return json.dumps({"errors": [{"code": code, "message": message, "detail": None}]}).encode()


def _jwt(access: list[object]) -> str:
    def part(doc: object) -> str:
        return base64.urlsafe_b64encode(json.dumps(doc).encode()).decode().rstrip("=")

    return f"{part({'alg': 'none'})}.{part({'access': access})}.sig"


#: what the token service answers: (status, body) by whether credentials came with the request
TokenAnswer = Callable[[bool], tuple[int, bytes]]
#: what the registry answers a request that carries a token or Basic credentials
RegistryAnswer = Callable[[Family, str], Response]


def _manifest(family: Family, method: str) -> Response:
    return respond(
        200,
        headers={
            "Content-Type": "application/vnd.oci.image.manifest.v1+json",
            "Docker-Content-Digest": DIGEST,
        },
        content=b"" if method == "HEAD" else b"{}",
    )


def _bearer_registry(
    family: Family, token: TokenAnswer, answer: RegistryAnswer
) -> Callable[[Request], Response]:
    realm = f"https://{family.host}{family.realm_path}"

    def handler(request: Request) -> Response:
        authorization = request.headers.get("authorization")
        if urlsplit(request.url).path == family.realm_path:
            status, body = token(authorization is not None)
            return respond(status, headers={"Content-Type": "application/json"}, content=body)
        if authorization is None or not authorization.startswith("Bearer "):
            challenge = (
                f'Bearer realm="{realm}",service="{family.service}",scope="repository:{family.repo}:pull"'
            )
            return respond(
                401, headers={"WWW-Authenticate": challenge}, content=_errors("UNAUTHORIZED", "auth")
            )
        return answer(family, request.method)

    return handler


def _basic_registry(family: Family, answer: RegistryAnswer) -> Callable[[Request], Response]:
    def handler(request: Request) -> Response:
        authorization = request.headers.get("authorization")
        if authorization != "Basic " + base64.b64encode(b"alice:secret-pw").decode():
            challenge = f'Basic realm="https://{family.host}/"'
            return respond(401, headers={"WWW-Authenticate": challenge}, content=b"Not Authorized")
        return answer(family, request.method)

    return handler


def _token(status: int, body: bytes = b"") -> TokenAnswer:
    return lambda _sent: (status, body)


def _grants(access: list[object]) -> TokenAnswer:
    return lambda _sent: (200, json.dumps({"token": _jwt(access)}).encode())


def _insufficient_scope(family: Family, method: str) -> Response:
    realm = f"https://{family.host}{family.realm_path}"
    challenge = (
        f'Bearer realm="{realm}",service="{family.service}",scope="repository:{family.repo}:pull",'
        'error="insufficient_scope"'
    )
    return respond(401, headers={"WWW-Authenticate": challenge}, content=_errors("UNAUTHORIZED", "denied"))


def _status(status: int, code: str, message: str) -> RegistryAnswer:
    def answer(family: Family, method: str) -> Response:
        body = b"" if method == "HEAD" else _errors(code, message)
        return respond(status, headers={"Content-Type": "application/json"}, content=body)

    return answer


#: (situation, credential, token service, registry, expected exit code)
BEARER_ROWS: list[tuple[str, Credential, TokenAnswer, RegistryAnswer, int]] = [
    ("anonymous, token service 401", ANONYMOUS, _token(401, _errors("UNAUTHORIZED", "x")), _manifest, 4),
    ("anonymous, token service 403", ANONYMOUS, _token(403, _errors("DENIED", "x")), _manifest, 4),
    (
        "credentials, token service 401",
        ALICE,
        _token(401, _errors("UNAUTHORIZED", "bad login")),
        _manifest,
        3,
    ),
    ("anonymous token, registry insufficient_scope", ANONYMOUS, _grants([]), _insufficient_scope, 4),
    ("credentials, empty grant, registry insufficient_scope", ALICE, _grants([]), _insufficient_scope, 4),
    ("credentials, registry 403 DENIED", ALICE, _grants([]), _status(403, "DENIED", "denied"), 4),
    (
        "credentials, manifest unknown",
        ALICE,
        _grants([]),
        _status(404, "MANIFEST_UNKNOWN", "manifest unknown"),
        1,
    ),
    (
        "anonymous, name unknown",
        ANONYMOUS,
        _grants([]),
        _status(404, "NAME_UNKNOWN", "repository unknown"),
        1,
    ),
    (
        "credentials, Harbor's NOT_FOUND",
        ALICE,
        _grants([]),
        _status(404, "NOT_FOUND", "artifact g/p:v1 not found"),
        1,
    ),
    ("credentials, token service 403", ALICE, _token(403, _errors("DENIED", "denied")), _manifest, 4),
    ("credentials, token service 404", ALICE, _token(404, b"404 page not found"), _manifest, 6),
]

BASIC_ROWS: list[tuple[str, Credential, RegistryAnswer, int]] = [
    ("anonymous, Basic challenge", ANONYMOUS, _manifest, 4),
    (
        "credentials rejected by Basic",
        Credential(username="alice", password="wrong", source="test"),
        _manifest,
        3,
    ),
    ("credentials accepted, registry 403 DENIED", ALICE, _status(403, "DENIED", "not allowed"), 4),
    (
        "credentials accepted, manifest unknown",
        ALICE,
        _status(404, "MANIFEST_UNKNOWN", "manifest unknown"),
        1,
    ),
]


def _code(
    handler: Callable[[Request], Response], credential: Credential, family: Family, *, recognised: bool = True
) -> int:
    config = TransportConfig(retries=0)
    client = RegistryClient(credential, config=config, transport=Transport(config, wire=Scripted(handler)))
    ref = parse_reference(f"{family.host}/{family.repo}:v1")
    code = 0
    try:
        client.head_manifest(ref)
    except OciregError as exc:
        code = int(exit_code_for(exc))
    if recognised:  # the family's own profile judged the answer, not the generic one
        assert client.session(ref.registry).profile.name == family.profile
    return code


@pytest.mark.parametrize("family", FAMILIES, ids=lambda f: f.name)
@pytest.mark.parametrize(
    ("situation", "credential", "token", "answer", "expected"), BEARER_ROWS, ids=[r[0] for r in BEARER_ROWS]
)
def test_pc_one_situation_one_code_on_every_token_registry(
    family: Family,
    situation: str,
    credential: Credential,
    token: TokenAnswer,
    answer: RegistryAnswer,
    expected: int,
) -> None:
    """§2: no credentials and refused = 4, rejected = 3, accepted but not allowed = 4, the registry's own 404 =
    1 and a token service's 404 never "absent" — the same on every family as on the generic registry."""
    assert _code(_bearer_registry(family, token, answer), credential, family) == expected, situation


@pytest.mark.parametrize("family", FAMILIES, ids=lambda f: f.name)
@pytest.mark.parametrize(
    ("situation", "credential", "answer", "expected"), BASIC_ROWS, ids=[r[0] for r in BASIC_ROWS]
)
def test_pc_one_situation_one_code_on_every_basic_registry(
    family: Family, situation: str, credential: Credential, answer: RegistryAnswer, expected: int
) -> None:
    """§2 for a registry that asks for Basic authentication (ECR's way), whatever its family."""
    # A Basic challenge names no family: only the host name can tell.
    recognised = family.service == "registry.example.com"
    assert _code(_basic_registry(family, answer), credential, family, recognised=recognised) == expected, (
        situation
    )


def test_pc_basic_credentials_rejected_by_a_registry_that_names_its_realm_harbor_are_exit_3() -> None:
    """§2 and SEC (recognition by challenge): Harbor never opens with a Basic challenge (without an
    ``Authorization`` header it challenges Bearer, ``service="harbor-registry"``; goharbor/harbor
    ``src/server/middleware/v2auth/auth.go`` ``getChallenge``). A registry that opens with ``Basic realm="harbor"``
    merely claims the name: its refusal of the Basic credentials sent is "rejected" (exit 3), as on any Basic
    registry, not Harbor's "a token without the grant" (exit 4)."""
    family = Family("claims-harbor", "generic", "basic.example.com", "g/p")
    good = "Basic " + base64.b64encode(b"alice:secret-pw").decode()

    def handler(request: Request) -> Response:
        if request.headers.get("authorization") != good:
            return respond(401, headers={"WWW-Authenticate": 'Basic realm="harbor"'}, content=b"")
        return _manifest(family, request.method)

    wrong = Credential(username="alice", password="wrong", source="test")
    assert _code(handler, wrong, family, recognised=False) == 3
    assert _code(handler, wrong, family) == 3
    assert _code(handler, ALICE, family) == 0
