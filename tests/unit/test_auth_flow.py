"""Issue #15 item 1: ``ocireg.auth.AuthFlow`` owns the 401 loop — every branch on the transport test double.

The registry and its token service are scripted (tests/wiredouble.py): the branches below are protocol edges
(a challenge after a redirect, a 401 without a challenge, a registry that keeps widening) that the real
registry of the rig does not produce on demand. Catalogue ids: PC (pull/push/delete flows, one re-auth for
delete), SEC (credentials stay on the registry's origin), LD (single-flight, no re-fetch per reference), FT
(token expiry mid-batch).
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Callable, Iterator

import pytest

from ocireg.auth import AuthFlow, RegistrySession
from ocireg.client import RegistryClient
from ocireg.credentials import ANONYMOUS, Credential
from ocireg.errors import AuthenticationFailed, PermissionDenied, RegistryError
from ocireg.reference import Registry
from ocireg.response import Request, Response
from ocireg.transport import Deadline, Transport, TransportConfig

from wiredouble import Scripted, path, respond

REGISTRY = Registry("registry.example.com")
BASE = "https://registry.example.com"
REALM = "https://auth.example.com/token"
PULL = ("repository:g/p:pull",)
ALICE = Credential(username="alice", password="secret-pw", source="test")


def _jwt(access: list[dict[str, object]]) -> str:
    payload = base64.urlsafe_b64encode(json.dumps({"access": access}).encode()).decode().rstrip("=")
    return f"e30.{payload}.sig"


class Scripted401:
    """A registry behind a token realm. ``verdict(request, authorization)`` answers each registry request:
    ``None`` for 200, else a (status, WWW-Authenticate or None) pair."""

    def __init__(self, verdict: Callable[[Request, str | None], tuple[int, str | None] | None]) -> None:
        self.verdict = verdict
        self.token_scopes: list[str] = []  # the scope parameter of each token request
        self.seen: list[tuple[str, str, str | None]] = []  # (host, path, Authorization) per registry request
        self.token: Callable[[int], str] = lambda n: f"tok{n}"

    def __call__(self, request: Request) -> Response:
        host = request.url.split("/")[2]
        if host == "auth.example.com":
            self.token_scopes.append(" ".join(v for k, v in _query(request) if k == "scope"))
            return respond(200, json={"token": self.token(len(self.token_scopes))})
        authorization = request.headers.get("authorization")
        self.seen.append((host, path(request), authorization))
        answer = self.verdict(request, authorization)
        if answer is None:
            return respond(200, content=b"{}")
        status, challenge = answer
        headers = {"WWW-Authenticate": challenge} if challenge else {}
        if status == 307:
            return respond(307, headers={"Location": "https://other.example.com/v2/g/p/blobs/x"})
        return respond(status, headers=headers, content=b"")


def _query(request: Request) -> list[tuple[str, str]]:
    from urllib.parse import parse_qsl, urlsplit

    return parse_qsl(urlsplit(request.url).query)


def bearer(scope: str = "repository:g/p:pull", error: str | None = None) -> str:
    text = f'Bearer realm="{REALM}",service="registry",scope="{scope}"'
    return text + (f',error="{error}"' if error else "")


def token_required(request: Request, authorization: str | None) -> tuple[int, str | None] | None:
    """The ordinary registry: any token will do, none is a 401 with a Bearer challenge."""
    return None if authorization else (401, bearer())


def _client(script: Scripted401, credential: Credential | None = ALICE) -> RegistryClient:
    config = TransportConfig(retries=0)
    return RegistryClient(credential, config=config, transport=Transport(config, wire=Scripted(script)))


def _get(
    client: RegistryClient, scopes: tuple[str, ...] = PULL, method: str = "GET", **kw: object
) -> Response:
    return client.request(
        method,
        REGISTRY,
        "/v2/g/p/manifests/v1",
        scopes=scopes,
        deadline=Deadline(30),
        what="manifest",
        ok=(200, 202),
        **kw,  # type: ignore[arg-type]
    )


# -- what to send -----------------------------------------------------------------------------------------------


def test_first_request_learns_the_challenge_and_answers_it_with_one_token() -> None:
    """#15 item 1, PC: no token known: send bare, answer the 401 with one token request, send again."""
    script = Scripted401(token_required)
    _get(_client(script))
    assert [a for _, _, a in script.seen] == [None, "Bearer tok1"]
    assert script.token_scopes == ["repository:g/p:pull"]


def test_cached_token_is_sent_without_a_challenge() -> None:
    """#15 item 1, LD: the second request for the same scopes reuses the token (no 401, no token request)."""
    script = Scripted401(token_required)
    client = _client(script)
    _get(client)
    _get(client)
    assert [a for _, _, a in script.seen] == [None, "Bearer tok1", "Bearer tok1"]
    assert len(script.token_scopes) == 1


def test_known_realm_fetches_a_new_scopes_token_before_the_first_attempt() -> None:
    """#15 item 1, LD: the realm learnt once, a request for other scopes fetches its token first (no 401)."""
    script = Scripted401(token_required)
    client = _client(script)
    _get(client)
    _get(client, scopes=("repository:g/q:pull",))
    assert [a for _, _, a in script.seen] == [None, "Bearer tok1", "Bearer tok2"]
    assert script.token_scopes[-1] == "repository:g/q:pull"


def test_streamed_body_gets_no_early_token_and_a_401_is_not_replayed() -> None:
    """#15 item 1, PC: a streamed body is sent once; a 401 to it is an error naming the expired token."""
    script = Scripted401(token_required)
    client = _client(script)
    _get(client)  # the realm is known now
    sent: list[bytes] = []

    def body() -> Iterator[bytes]:
        sent.append(b"x")
        yield b"x"

    with pytest.raises(RegistryError) as caught:
        _get(client, scopes=("repository:g/p:pull,push",), method="PUT", content=body())
    assert caught.value.status == 401
    assert "streamed upload" in caught.value.message
    assert script.seen[-1][2] is None  # no token fetched ahead for a stream
    assert sent == [b"x"] and len(script.token_scopes) == 1


# -- on a 401 ---------------------------------------------------------------------------------------------------


def test_challenge_from_another_host_after_a_redirect_gets_no_credentials() -> None:
    """#15 item 1, SEC: a redirect target on another host that asks for credentials is refused (exit 4)."""

    def verdict(request: Request, authorization: str | None) -> tuple[int, str | None] | None:
        if request.url.startswith("https://other.example.com/"):
            return (401, bearer())
        return (307, None) if authorization else (401, bearer())

    script = Scripted401(verdict)
    with pytest.raises(PermissionDenied, match="another host asked for credentials"):
        _get(_client(script))
    assert [(h, a) for h, _, a in script.seen if h == "other.example.com"] == [("other.example.com", None)]
    assert len(script.token_scopes) == 1


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b'{"errors":[{"code":"PROTECTED_TAG","message":"tag is protected"}]}', PermissionDenied),
        (b"", PermissionDenied),
    ],
    ids=["gitlab-tag-rule", "plain"],
)
def test_401_without_a_challenge_is_not_answered(body: bytes, expected: type[Exception]) -> None:
    """#15 item 1, PC (GitLab tag rules): a 401 without WWW-Authenticate gets no token request. Nothing was sent
    (the first attempt carries no credentials), so it is access denied (exit 4) whatever the body (#22 item 5:
    a refusal the wire cannot explain is judged by what was sent)."""
    config = TransportConfig(retries=0)
    seen: list[Request] = []

    def handle(request: Request) -> Response:
        seen.append(request)
        return respond(401, content=body, headers={"Content-Type": "application/json"})

    client = RegistryClient(ALICE, config=config, transport=Transport(config, wire=Scripted(handle)))
    with pytest.raises(expected):
        _get(client)
    assert len(seen) == 1


def test_insufficient_scope_for_delete_widens_the_scopes_once() -> None:
    """#15 item 1, PC: delete is its own action — the registry names it, the flow asks once more with it."""

    def verdict(request: Request, authorization: str | None) -> tuple[int, str | None] | None:
        if authorization is None:
            return (401, bearer())
        if authorization == "Bearer tok1":
            return (401, bearer("repository:g/p:delete", "insufficient_scope"))
        return None

    script = Scripted401(verdict)
    _get(_client(script), method="DELETE")
    assert script.token_scopes == ["repository:g/p:pull", "repository:g/p:pull,delete"]


def test_widening_never_reaches_other_resources() -> None:
    """#15 item 1, SEC: a challenge naming another repository widens nothing: the flow gives up (exit 4)."""

    def verdict(request: Request, authorization: str | None) -> tuple[int, str | None] | None:
        if authorization is None:
            return (401, bearer())
        return (401, bearer("repository:other/secret:pull,push", "insufficient_scope"))

    script = Scripted401(verdict)
    with pytest.raises(PermissionDenied, match="access denied for"):
        _get(_client(script))
    assert script.token_scopes == ["repository:g/p:pull"]


def test_widening_happens_once_only() -> None:
    """#15 item 1, LD: a registry asking for one more action on every answer gets one widening, then an error."""

    def verdict(request: Request, authorization: str | None) -> tuple[int, str | None] | None:
        if authorization is None:
            return (401, bearer())
        if authorization == "Bearer tok1":
            return (401, bearer("repository:g/p:delete", "insufficient_scope"))
        return (401, bearer("repository:g/p:push", "insufficient_scope"))

    script = Scripted401(verdict)
    with pytest.raises(PermissionDenied):
        _get(_client(script), method="DELETE")
    assert len(script.token_scopes) == 2


def test_insufficient_scope_of_a_token_fetched_here_is_denied_without_asking_again() -> None:
    """#15 item 1, LD: a fresh token lacking the scope would come back the same: refused, not re-fetched."""

    def verdict(request: Request, authorization: str | None) -> tuple[int, str | None] | None:
        return (401, bearer(error="insufficient_scope" if authorization else None))

    script = Scripted401(verdict)
    with pytest.raises(PermissionDenied) as caught:
        _get(_client(script))
    assert len(script.token_scopes) == 1
    assert "alice" in caught.value.message and caught.value.hint


def test_stale_cached_token_is_dropped_and_fetched_afresh_once() -> None:
    """#15 item 1, FT (token expiry mid-batch): a cached token the registry stops accepting is replaced once."""
    revoked: set[str] = set()

    def verdict(request: Request, authorization: str | None) -> tuple[int, str | None] | None:
        if authorization is None or authorization in revoked:
            return (401, bearer(error="invalid_token" if authorization else None))
        return None

    script = Scripted401(verdict)
    client = _client(script)
    _get(client)
    revoked.add("Bearer tok1")
    _get(client)
    assert [a for _, _, a in script.seen] == [None, "Bearer tok1", "Bearer tok1", "Bearer tok2"]
    _get(client)  # the fresh token is the one kept
    assert script.seen[-1][2] == "Bearer tok2" and len(script.token_scopes) == 2


def test_a_fresh_token_the_registry_rejects_gives_up_as_rejected() -> None:
    """#15 item 1: the registry refuses the token just fetched (issuer or clock): exit 3, one token request."""

    def verdict(request: Request, authorization: str | None) -> tuple[int, str | None] | None:
        return (401, bearer(error="invalid_token" if authorization else None))

    script = Scripted401(verdict)
    with pytest.raises(AuthenticationFailed, match="rejected the token"):
        _get(_client(script))
    assert len(script.token_scopes) == 1


def test_a_stale_then_rejected_token_gives_up_after_one_refresh() -> None:
    """#15 item 1, LD: cached token refused, the fresh one refused too: no third token request."""
    accept = {"ok": True}

    def verdict(request: Request, authorization: str | None) -> tuple[int, str | None] | None:
        if authorization and accept["ok"]:
            return None
        return (401, bearer(error="invalid_token" if authorization else None))

    script = Scripted401(verdict)
    client = _client(script)
    _get(client)
    accept["ok"] = False
    with pytest.raises(AuthenticationFailed):
        _get(client)
    assert len(script.token_scopes) == 2


def test_basic_challenge_is_answered_and_a_second_refusal_gives_up() -> None:
    """#15 item 1, PC: Basic on the registry's own host; the same credentials refused again: exit 3."""
    accept = {"ok": True}

    def verdict(request: Request, authorization: str | None) -> tuple[int, str | None] | None:
        if authorization and authorization.startswith("Basic ") and accept["ok"]:
            return None
        return (401, 'Basic realm="registry"')

    script = Scripted401(verdict)
    client = _client(script)
    _get(client)
    assert script.seen[-1][2] is not None and script.seen[-1][2].startswith("Basic ")
    accept["ok"] = False
    with pytest.raises(AuthenticationFailed, match="rejected the credentials"):
        _get(client, scopes=("repository:g/q:pull",))
    assert not script.token_scopes


def test_anonymous_refusal_says_no_credentials_were_found() -> None:
    """#15 item 1, PC: anonymous and refused: exit 4 with the no-credentials hint."""

    def verdict(request: Request, authorization: str | None) -> tuple[int, str | None] | None:
        return (401, bearer(error="insufficient_scope" if authorization else None))

    script = Scripted401(verdict)
    with pytest.raises(PermissionDenied, match="anonymous access denied") as caught:
        _get(_client(script, ANONYMOUS))
    assert "no credentials were found for registry.example.com" in (caught.value.hint or "")


@pytest.mark.parametrize(
    ("token", "hint"),
    [(_jwt([]), "granted no access"), ("tok", "is not allowed repository:g/p:pull")],
    ids=["empty-grant", "opaque-token"],
)
def test_403_after_the_token_carries_a_hint_on_the_grant(token: str, hint: str) -> None:
    """#15 item 1, PC: a 403 is classified by the flow's failure(): denied, with what the token granted."""

    def verdict(request: Request, authorization: str | None) -> tuple[int, str | None] | None:
        return (403, None) if authorization else (401, bearer())

    script = Scripted401(verdict)
    script.token = lambda n: token
    with pytest.raises(PermissionDenied) as caught:
        _get(_client(script))
    assert hint in (caught.value.hint or "")


# -- the first wave ---------------------------------------------------------------------------------------------


def _flow(auth: RegistrySession, wait: float | None) -> AuthFlow:
    return AuthFlow(
        auth,
        PULL,
        ALICE,
        registry_url=BASE,
        deadline=Deadline(30),
        what="manifest",
        streamed=False,
        wait=wait,
    )


def test_first_wave_waits_for_the_leaders_challenge_then_fetches_first() -> None:
    """#15 item 1, LD: a worker starting while the first request learns the challenge waits for it, then
    sends its first attempt with a token (no 401 of its own)."""
    script = Scripted401(token_required)
    transport = Transport(TransportConfig(retries=0), wire=Scripted(script))
    auth = RegistrySession(REGISTRY, transport)
    leader = _flow(auth, wait=60).__enter__()
    entered = threading.Event()
    headers: list[str | None] = []

    def follower() -> None:
        with _flow(auth, wait=60) as flow:
            entered.set()
            headers.append(flow.header())

    worker = threading.Thread(target=follower)
    worker.start()
    assert not entered.wait(0.2)  # still waiting for the leader (no timing asserted: only that it waits)
    assert leader.header() is None
    response = transport.send("GET", BASE + "/v2/", headers={}, deadline=Deadline(30), what="probe")
    leader.challenged(response)  # learns the realm and releases the wave
    worker.join(30)
    assert headers == ["Bearer tok1"] and len(script.token_scopes) == 1
    leader.__exit__(None, None, None)


def test_first_wave_is_released_by_any_answer_but_a_401() -> None:
    """#15 item 1, FT: an answer that is not a 401 (a 503 here) says there is no challenge to learn: the others
    go. The client tells the flow each answer; the transport calls nothing back (#22)."""
    auth = RegistrySession(
        REGISTRY, Transport(TransportConfig(retries=0), wire=Scripted(Scripted401(token_required)))
    )
    with _flow(auth, wait=60) as leader:
        leader.answered(respond(401))
        assert auth._wave is not None and not auth._wave.is_set()
        leader.answered(respond(503))
        assert auth._wave.is_set()
        with _flow(auth, wait=60) as follower:  # returns at once: nothing to wait for
            assert follower.header() is None


def test_leaving_the_flow_releases_the_wave_and_a_moved_flow_takes_no_part() -> None:
    """#15 item 1: whatever happened, leaving the ``with`` releases the waiting workers; a flow moved to a new
    base URL (the scheme changed, #14 item 8) starts afresh without joining the wave."""
    auth = RegistrySession(
        REGISTRY, Transport(TransportConfig(retries=0), wire=Scripted(Scripted401(token_required)))
    )

    def failing_request() -> None:
        with _flow(auth, wait=60) as leader:
            moved = leader.moved("http://registry.example.com")
            assert moved.registry_url == "http://registry.example.com" and moved.header() is None
            raise RuntimeError("the request failed")

    with pytest.raises(RuntimeError):
        failing_request()
    assert auth._wave is not None and auth._wave.is_set()


# -- a predicted realm (#25) ------------------------------------------------------------------------------------


def test_ld_wrong_prediction_is_asked_once_even_by_a_worker_reading_it_mid_flight() -> None:
    """#25, LD: while the predicted realm is being asked (and before it has failed), another worker reads what
    is known: it must read it as a prediction, not as what the registry said, or it asks the wrong realm a
    second time once the first has given up (CI failure of 2026-12-07: two requests to the wrong realm). After
    the failure nothing predicted is left, and no flow asks that realm again."""
    predicted = "https://auth.example.com/elsewhere/jwt/auth"
    auth: RegistrySession
    asked: list[str] = []
    read_mid_flight: list[object] = []

    def handler(request: Request) -> Response:
        if request.url.startswith(predicted):
            asked.append(request.url.split("?")[0])
            read_mid_flight.append(auth.known_challenge())
            return respond(404, content=b"not here")
        return Scripted401(token_required)(request)

    transport = Transport(TransportConfig(retries=0), wire=Scripted(handler))
    auth = RegistrySession(REGISTRY, transport)
    auth.predict(predicted, "container_registry")
    with _flow(auth, wait=None) as first:
        assert first.header() is None  # the prediction gave nothing: the registry's own challenge decides
    assert len(read_mid_flight) == 1 and read_mid_flight[0] is not None
    challenge, only_predicted = read_mid_flight[0]  # type: ignore[misc]
    assert challenge.realm == predicted and only_predicted
    assert auth.known_challenge() is None
    with _flow(auth, wait=None) as second:
        assert second.header() is None
    assert asked == [predicted]
