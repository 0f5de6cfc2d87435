"""Issue #22: one session per registry, one profile per registry family — the rows of the issue's table on the
transport test double (tests/wiredouble.py), each registry answering as its sources say (the profile modules
under src/ocireg/registries/ cite them; the rig's fronts model the same registries end to end). Catalogue: PC
(pull/delete flows per registry), BI (each registry's refusal bodies), SEC (nothing is sent where it is not
asked for).

A registry is recognised by its host name (the requests go to the double whatever the host), Harbor by its
challenge. Each test names the row of the issue it holds.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest

from ocireg.client import RegistryClient
from ocireg.credentials import ANONYMOUS, Credential
from ocireg.errors import AuthenticationFailed, OciregError, PermissionDenied, Unsupported
from ocireg.reference import Reference, parse_reference
from ocireg.registries import MAX_HINT_LINE, MAX_HINT_LINES, for_challenge, for_host
from ocireg.response import Request, Response
from ocireg.transport import Transport, TransportConfig

from wiredouble import Scripted, respond

ALICE = Credential(username="alice", password="secret-pw", source="test")
DIGEST = "sha256:" + "a" * 64
MANIFEST = json.dumps(
    {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": DIGEST, "size": 2},
        "layers": [],
    }
).encode()


def _client(handler: Callable[[Request], Response], credential: Credential = ALICE) -> RegistryClient:
    config = TransportConfig(retries=0)
    return RegistryClient(credential, config=config, transport=Transport(config, wire=Scripted(handler)))


def _query(request: Request) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(request.url).query))


def _errors(code: str, message: str) -> bytes:
    return json.dumps({"errors": [{"code": code, "message": message, "detail": None}]}).encode()


def _short(error: OciregError) -> str:
    """#22 item 7: every hint is at most three lines of at most 120 characters."""
    hint = error.hint or ""
    lines = hint.split("\n")
    assert len(lines) <= MAX_HINT_LINES and all(len(line) <= MAX_HINT_LINE for line in lines), hint
    return hint


class TokenRegistry:
    """A Bearer registry: ``/v2/`` paths challenge until a token comes; ``answer(request, token)`` decides the
    rest (``None``: 200 with a manifest). ``token_answer(query, authorization)`` decides the token service's."""

    def __init__(
        self,
        realm: str,
        service: str | None,
        answer: Callable[[Request, str | None], Response | None],
        token_answer: Callable[[dict[str, str], str | None], Response] | None = None,
    ) -> None:
        self.realm = realm
        self.service = service
        self.answer = answer
        self.token_answer = token_answer or (lambda q, a: respond(200, json={"token": "tok"}))
        self.scopes: list[str] = []
        self.seen: list[tuple[str, str, str | None]] = []

    def challenge(self, scope: str) -> str:
        service = f',service="{self.service}"' if self.service else ""
        return f'Bearer realm="{self.realm}"{service},scope="{scope}"'

    def __call__(self, request: Request) -> Response:
        authorization = request.headers.get("authorization")
        if request.url.startswith(self.realm):
            query = _query(request)
            self.scopes.append(query.get("scope", ""))
            return self.token_answer(query, authorization)
        self.seen.append((request.method, urlsplit(request.url).path, authorization))
        if authorization is None:
            return respond(401, headers={"WWW-Authenticate": self.challenge("repository:g/p:pull")})
        answered = self.answer(request, authorization)
        if answered is not None:
            return answered
        return respond(
            200,
            headers={
                "Content-Type": "application/vnd.oci.image.manifest.v1+json",
                "Docker-Content-Digest": DIGEST,
            },
            content=MANIFEST,
        )


# -- recognition ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "profile"),
    [
        ("registry-1.docker.io", "dockerhub"),
        ("index.docker.io", "dockerhub"),
        ("ghcr.io", "ghcr"),
        ("quay.io", "quay"),
        ("123456789012.dkr.ecr.eu-west-1.amazonaws.com", "ecr"),
        ("myregistry.azurecr.io", "acr"),
        ("europe-west1-docker.pkg.dev", "artifactregistry"),
        ("registry.gitlab.com", "gitlab"),
        ("registry.example.com:5000", "generic"),
        ("ghcr.io.example.com", "generic"),
        ("123456789012.dkr.ecr.eu-west-1.amazonaws.com.example.com", "generic"),
    ],
)
def test_pc_profile_is_recognised_by_host_name(host: str, profile: str) -> None:
    """#22: the host name picks the family; a look-alike name is the generic (spec) profile."""
    assert for_host(host).name == profile


def test_pc_profile_is_recognised_by_challenge_where_the_name_cannot_tell() -> None:
    """#22: Harbor by ``service="harbor-registry"``, GitLab by ``service="container_registry"`` with ``/jwt/auth``."""
    harbor = for_challenge("bearer", {"realm": "https://h/service/token", "service": "harbor-registry"})
    assert harbor is not None and harbor.name == "harbor"
    gitlab = for_challenge("bearer", {"realm": "https://g/jwt/auth", "service": "container_registry"})
    assert gitlab is not None and gitlab.name == "gitlab"
    assert for_challenge("bearer", {"realm": "https://r/token", "service": "registry"}) is None


@pytest.mark.parametrize(
    ("params", "quay"),
    [
        ({"realm": "https://quay.corp.example/v2/auth", "service": "quay.corp.example"}, True),
        ({"realm": "https://Quay.Corp.Example:8443/v2/auth", "service": "quay.corp.example:8443"}, True),
        ({"realm": "https://quay.corp.example/v2/auth", "service": "registry"}, False),
        ({"realm": "https://auth.corp.example/v2/auth", "service": "quay.corp.example"}, False),
        ({"realm": "https://quay.corp.example/v2/auth/", "service": "quay.corp.example"}, False),
        ({"realm": "https://r.corp.example/auth", "service": "r.corp.example"}, False),
    ],
)
def test_pc_a_quay_under_its_own_name_is_told_by_its_challenge(params: dict[str, str], quay: bool) -> None:
    """#22: Quay's challenge is ``realm="<its URL>/v2/auth",service="<its host name>"`` (quay/quay
    auth/registry_jwt_auth.py ``get_auth_headers``); nothing else is taken for it."""
    found = for_challenge("bearer", params)
    assert (found is not None and found.name == "quay") is quay
    assert for_challenge("basic", params) is None


# -- the rows of the table -----------------------------------------------------------------------------------


def test_pc_quay_delete_asks_for_push_and_deletes() -> None:
    """#22 row Quay: Quay's token service knows no ``delete`` action (400 for it); deleting a tag takes
    ``push`` (quay/quay endpoints/v2/v2auth.py): the tag is deleted."""

    def token(query: dict[str, str], authorization: str | None) -> Response:
        if "delete" in query.get("scope", ""):
            return respond(400, json={"errors": [{"code": "INVALID_REQUEST", "message": "invalid action"}]})
        return respond(200, json={"token": "tok"})

    def answer(request: Request, authorization: str | None) -> Response | None:
        return respond(202) if request.method == "DELETE" else None

    quay = TokenRegistry("https://quay.io/v2/auth", "quay.io", answer, token)
    client = _client(quay)
    ref = parse_reference("quay.io/g/p:v1")
    client.delete_manifest(ref)
    assert quay.scopes and all("delete" not in s for s in quay.scopes)
    assert any(s == "repository:g/p:pull,push" for s in quay.scopes)


def test_pc_harbor_basic_challenge_to_an_anonymous_token_is_access_denied() -> None:
    """#22 row Harbor: a token without the grant is answered ``401 Basic realm="harbor"``; anonymous pull of a
    private project is exit 4 (nothing was sent), never "rejected the credentials"."""

    def answer(request: Request, authorization: str | None) -> Response | None:
        return respond(401, headers={"WWW-Authenticate": 'Basic realm="harbor"'}, content=b"")

    harbor = TokenRegistry("https://harbor.example.com/service/token", "harbor-registry", answer)
    client = _client(harbor, ANONYMOUS)
    with pytest.raises(PermissionDenied) as caught:
        client.head_manifest(parse_reference("harbor.example.com/private/app:v1"))
    assert "rejected" not in str(caught.value)
    assert "no credentials were found" in _short(caught.value)


def test_pc_harbor_basic_challenge_to_a_users_token_is_access_denied() -> None:
    """#22 row Harbor: with valid credentials and a token lacking the scope, the same answer is exit 4."""

    def answer(request: Request, authorization: str | None) -> Response | None:
        return respond(401, headers={"WWW-Authenticate": 'Basic realm="harbor"'}, content=b"")

    harbor = TokenRegistry("https://harbor.example.com/service/token", "harbor-registry", answer)
    with pytest.raises(PermissionDenied):
        _client(harbor).head_manifest(parse_reference("harbor.example.com/private/app:v1"))


def test_pc_harbor_missing_project_is_not_bad_credentials() -> None:
    """#22 row Harbor: a project that does not exist is 401 with an empty challenge and no body on HEAD: with
    valid admin credentials that is exit 4, never "bad credentials"."""

    def answer(request: Request, authorization: str | None) -> Response | None:
        return respond(401, headers={"WWW-Authenticate": ""}, content=b"")

    harbor = TokenRegistry("https://harbor.example.com/service/token", "harbor-registry", answer)
    client = _client(harbor, Credential(username="admin", password="Harbor12345", source="test"))
    with pytest.raises(PermissionDenied):
        client.head_manifest(parse_reference("harbor.example.com/nosuch/app:v1"))


ECR = "123456789012.dkr.ecr.eu-west-1.amazonaws.com"
ECR_CHALLENGE = f'Basic realm="https://{ECR}/",service="ecr.amazonaws.com"'


def test_pc_ecr_basic_without_credentials_is_denied_with_ecr_hint() -> None:
    """#22 row ECR: Basic only and no credentials found: exit 4 as on every registry, and the hint says how ECR
    credentials are had."""

    def ecr(request: Request) -> Response:
        return respond(401, headers={"WWW-Authenticate": ECR_CHALLENGE}, content=b"Not Authorized")

    with pytest.raises(PermissionDenied) as caught:
        _client(ecr, ANONYMOUS).head_manifest(parse_reference(f"{ECR}/app:v1"))
    hint = _short(caught.value)
    assert "docker-credential-ecr-login" in hint and "aws ecr get-login-password" in hint


def test_pc_ecr_expired_token_is_exit_3_with_ecrs_message() -> None:
    """#22 row ECR: an expired token is ``403 DENIED "Your authorization token has expired…"``, the body on GET
    only: the HEAD's refusal is read again with a GET, and it is exit 3 with ECR's words and how to renew."""
    expired = _errors("DENIED", "Your authorization token has expired. Reauthenticate and try again.")
    methods: list[str] = []

    def ecr(request: Request) -> Response:
        methods.append(request.method)
        if request.headers.get("authorization") is None:
            return respond(401, headers={"WWW-Authenticate": ECR_CHALLENGE})
        body = b"" if request.method == "HEAD" else expired
        return respond(403, headers={"Content-Type": "application/json"}, content=body)

    aws = Credential(username="AWS", password="old-ecr-token", source="test")
    with pytest.raises(AuthenticationFailed) as caught:
        _client(ecr, aws).head_manifest(parse_reference(f"{ECR}/app:v1"))
    assert "Your authorization token has expired" in str(caught.value)
    assert "get-login-password" in _short(caught.value)
    assert methods == ["HEAD", "HEAD", "GET"]


def test_pc_acr_anonymous_token_refusal_is_access_denied() -> None:
    """#22 row ACR: an anonymous token request is 401 at ``/oauth2/token``: nothing was sent, so exit 4."""

    def token(query: dict[str, str], authorization: str | None) -> Response:
        return respond(401, content=_errors("UNAUTHORIZED", "authentication required"))

    acr = TokenRegistry(
        "https://myregistry.azurecr.io/oauth2/token", "myregistry.azurecr.io", lambda r, a: None, token
    )
    with pytest.raises(PermissionDenied) as caught:
        _client(acr, ANONYMOUS).head_manifest(parse_reference("myregistry.azurecr.io/app:v1"))
    assert "az acr login" in _short(caught.value)


def test_pc_acr_rejected_credentials_stay_exit_3() -> None:
    """#22 item 5: credentials sent and rejected by the token service is exit 3 on ACR too."""

    def token(query: dict[str, str], authorization: str | None) -> Response:
        return respond(401, content=_errors("UNAUTHORIZED", "authentication required"))

    acr = TokenRegistry(
        "https://myregistry.azurecr.io/oauth2/token", "myregistry.azurecr.io", lambda r, a: None, token
    )
    with pytest.raises(AuthenticationFailed):
        _client(acr).head_manifest(parse_reference("myregistry.azurecr.io/app:v1"))


@pytest.mark.parametrize(
    ("host", "named"), [("registry-1.docker.io", "hub.docker.com"), ("ghcr.io", "GitHub Packages REST API")]
)
def test_pc_delete_on_hub_and_ghcr_names_their_own_api(host: str, named: str) -> None:
    """#22 row Docker Hub, GHCR: a registry DELETE is ``405 UNSUPPORTED``; they delete only through their own
    web APIs: exit 6 saying so, never distribution's ``storage.delete.enabled``."""

    def answer(request: Request, authorization: str | None) -> Response | None:
        if request.method == "DELETE":
            return respond(405, content=_errors("UNSUPPORTED", "The operation is unsupported."))
        return None

    registry = TokenRegistry(f"https://{host}/token", host, answer)
    with pytest.raises(Unsupported) as caught:
        _client(registry).delete_manifest(Reference(parse_reference(f"{host}/g/p:v1").repository, "v1"))
    assert named in str(caught.value)
    assert "storage.delete" not in str(caught.value) + (caught.value.hint or "")


@pytest.mark.parametrize(
    ("host", "message"),
    [
        (
            "europe-west1-docker.pkg.dev",
            'Permission "artifactregistry.repositories.downloadArtifacts" denied on resource '
            '"projects/p/locations/europe-west1/repositories/r" (or it may not exist)',
        ),
        (
            ECR,
            "User: arn:aws:iam::123456789012:user/ci is not authorized to perform: ecr:BatchGetImage",
        ),
    ],
)
def test_pc_head_refusal_shows_the_registrys_permission_message(host: str, message: str) -> None:
    """#22 row ECR, Artifact Registry: the permission message comes on GET only; a refused HEAD is read again
    with a GET so the message is shown (exit 4)."""

    def registry(request: Request) -> Response:
        if request.headers.get("authorization") is None:
            return respond(401, headers={"WWW-Authenticate": f'Basic realm="https://{host}/"'})
        body = b"" if request.method == "HEAD" else _errors("DENIED", message)
        return respond(403, headers={"Content-Type": "application/json"}, content=body)

    with pytest.raises(PermissionDenied) as caught:
        _client(registry).head_manifest(parse_reference(f"{host}/p/r/app:v1"))
    assert message[:60] in str(caught.value)


def test_pc_generic_registry_head_refusal_sends_no_get() -> None:
    """#22: the generic (spec) profile reads no body with a second request."""
    methods: list[str] = []

    def registry(request: Request) -> Response:
        methods.append(request.method)
        return respond(403, content=b"")

    with pytest.raises(PermissionDenied):
        _client(registry, ANONYMOUS).head_manifest(parse_reference("registry.example.com/g/p:v1"))
    assert methods == ["HEAD"]


def test_pc_library_credential_is_named_given_by_the_caller_when_refused() -> None:
    """#22 row library: ``RegistryClient(Credential(username="dev", password=…))`` refused names the
    credential's real source, never "anonymous"."""

    def answer(request: Request, authorization: str | None) -> Response | None:
        return respond(403, content=_errors("DENIED", "requested access to the resource is denied"))

    registry = TokenRegistry("https://auth.example.com/token", "registry", answer)
    with pytest.raises(PermissionDenied) as caught:
        _client(registry, Credential(username="dev", password="pw")).head_manifest(
            parse_reference("registry.example.com/g/p:v1")
        )
    text = str(caught.value) + (caught.value.hint or "")
    assert "given by the caller" in text and "anonymous" not in text


def test_bi_docker_hubs_token_refusal_words_are_shown() -> None:
    """#22 (Docker Hub row of the facts): a rejected password is 401 at ``auth.docker.io`` with
    ``{"details": "incorrect username or password"}`` (google/go-containerregistry
    ``pkg/v1/remote/transport/error_test.go``), not the registry error shape: exit 3 with those words."""

    def token(query: dict[str, str], authorization: str | None) -> Response:
        return respond(401, json={"details": "incorrect username or password"})

    hub = TokenRegistry("https://auth.docker.io/token", "registry.docker.io", lambda r, a: None, token)
    with pytest.raises(AuthenticationFailed) as caught:
        _client(hub).head_manifest(parse_reference("docker.io/library/alpine:3.19"))
    assert "incorrect username or password" in str(caught.value)


def test_pc_auth_explain_names_the_profile_it_observed_and_sends_nothing_of_its_own() -> None:
    """#22 items 2, 3: ``auth explain`` reads the real flow through its observer: the profile the session
    recognised (Harbor, by its challenge) is reported, and the registry sees exactly the flow's requests (an
    unauthenticated HEAD, the token request, the HEAD with the token) — nothing beside them."""
    from ocireg.operations.explain import explain

    harbor = TokenRegistry("https://harbor.example.com/service/token", "harbor-registry", lambda r, a: None)
    report = explain(_client(harbor), parse_reference("harbor.example.com/library/app:v1"))
    assert report.error is None and report.profile == "harbor"
    assert [(method, auth is not None) for method, _path, auth in harbor.seen] == [
        ("HEAD", False),
        ("HEAD", True),
    ]
    assert len(harbor.scopes) == 1


def test_sec_hint_escapes_actions_a_registry_put_in_its_challenge() -> None:
    """SEC (docs/architecture.md §4: escape registry-provided text): an ``insufficient_scope`` challenge widens the
    scopes with the registry's own action words; the library's hint that names them keeps no control character
    (a terminal escape sequence from a hostile registry), not only the CLI's rendering of it."""
    evil = "pull,x\x1b[2Jy"

    def answer(request: Request, authorization: str | None) -> Response | None:
        challenge = f'Bearer realm="https://r.example.com/token",scope="repository:g/p:{evil}",error="insufficient_scope"'
        return respond(401, headers={"WWW-Authenticate": challenge})

    registry = TokenRegistry("https://r.example.com/token", None, answer)
    with pytest.raises(PermissionDenied) as caught:
        _client(registry).head_manifest(parse_reference("r.example.com/g/p:v1"))
    shown = str(caught.value) + (caught.value.hint or "")
    assert "\x1b" not in shown
    assert "x\\x1b[2Jy" in shown  # escaped, still said


def test_pc_harbor_stale_cached_token_is_fetched_afresh_once(tmp_path: Path) -> None:
    """#22 row Harbor with the token cache (FT: a token outdated on disk): Harbor answers any token it does not
    accept for the request with ``401 Basic realm="harbor"``. A token read from the cache file (an earlier run's,
    granted before the robot got the project) is dropped and fetched afresh once, as a Bearer refusal is; it is
    not "access denied" until the cache entry expires."""
    from ocireg.tokencache import TokenCache

    granted = {"now": False}

    def token(query: dict[str, str], authorization: str | None) -> Response:
        return respond(200, json={"token": "new" if granted["now"] else "old", "expires_in": 1800})

    def answer(request: Request, authorization: str | None) -> Response | None:
        if authorization != "Bearer new":
            return respond(401, headers={"WWW-Authenticate": 'Basic realm="harbor"'}, content=b"")
        return None

    harbor = TokenRegistry("https://harbor.example.com/service/token", "harbor-registry", answer, token)
    ref = parse_reference("harbor.example.com/private/app:v1")

    def client() -> RegistryClient:
        config = TransportConfig(retries=0)
        transport = Transport(config, wire=Scripted(harbor))
        return RegistryClient(ALICE, config=config, transport=transport, token_cache=TokenCache(tmp_path))

    with pytest.raises(PermissionDenied):
        client().head_manifest(ref)  # the robot has no grant yet: exit 4, and the token is on disk
    granted["now"] = True
    assert client().head_manifest(ref).digest is not None
    assert harbor.seen[-1][2] == "Bearer new"


@pytest.mark.parametrize(
    "credential",
    [
        ALICE,
        Credential(username="00000000-0000-0000-0000-000000000000", identity_token="refresh-tok", source="t"),
    ],
    ids=["basic-get", "oauth2-post"],
)
@pytest.mark.parametrize("origin", ["challenge", "cache-file"])
def test_sec_realm_policy_before_any_token_request_on_every_path(
    credential: Credential, origin: str, tmp_path: Path
) -> None:
    """SEC (docs/architecture.md §4): a public registry's realm on a loopback address is refused before any
    connection to it, whether the realm comes from the challenge or from the cache file (the realm known before
    the first request), and whether the token is asked for with GET or the OAuth2 POST (an identity token, ACR's
    refresh): no request reaches the realm, nothing is sent."""
    from ocireg.errors import RealmRejected
    from ocireg.tokencache import TokenCache

    realm = "http://127.0.0.1:9/oauth2/token"
    to_realm: list[Request] = []

    def handler(request: Request) -> Response:
        if urlsplit(request.url).hostname == "127.0.0.1":
            to_realm.append(request)
            return respond(200, json={"token": "t"})
        return respond(401, headers={"WWW-Authenticate": f'Bearer realm="{realm}",service="x.azurecr.io"'})

    cache = TokenCache(tmp_path)
    if origin == "cache-file":
        cache.put("k", "v", 0.0, registry="x.azurecr.io", realm=realm, service="x.azurecr.io")
    config = TransportConfig(retries=0)
    client = RegistryClient(
        credential, config=config, transport=Transport(config, wire=Scripted(handler)), token_cache=cache
    )
    with pytest.raises(RealmRejected):
        client.head_manifest(parse_reference("x.azurecr.io/app:v1"))
    assert to_realm == []


def test_pc_quay_auth_explain_of_delete_counts_the_push_grant() -> None:
    """#22 row Quay in ``auth explain``: deleting a tag takes ``push`` on Quay (its token service knows no
    ``delete``, quay/quay endpoints/v2/v2auth.py), so a token granting ``pull,push`` grants the delete: explain
    reports it granted (exit 0), as the delete itself succeeds, not "not delete" (exit 4)."""
    import base64

    from ocireg.operations.explain import explain

    def jwt(actions: list[str]) -> str:
        claims = {"access": [{"type": "repository", "name": "g/p", "actions": actions}]}
        payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
        return f"e30.{payload}.sig"

    def token(query: dict[str, str], authorization: str | None) -> Response:
        actions = query.get("scope", "").rsplit(":", 1)[-1].split(",")
        return respond(200, json={"token": jwt(actions)})

    quay = TokenRegistry("https://quay.io/v2/auth", "quay.io", lambda r, a: None, token)
    report = explain(_client(quay), parse_reference("quay.io/g/p:v1"), actions=("delete",))
    assert quay.scopes == ["repository:g/p:pull,push"]
    assert report.missing == () and report.error is None, report.error
