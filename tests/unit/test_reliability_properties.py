"""Reliability and security policies that need no server (FT, SEC, LD, BI), with property tests where they fit.

The transport runs over a test double of its wire (``tests/wiredouble.py``) and a fake clock (``time.monotonic``/``time.sleep`` patched), so
retry counts and waits are exact and no test sleeps. Companion of the integration tests in
``tests/integration/test_faults.py``, ``test_security.py`` and ``test_load.py``.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ocireg import transport as transport_module
from ocireg.auth import TOKEN_BODY_LIMIT, Challenge, RegistrySession, Token, parse_challenges
from ocireg.client import MANIFEST_LIMIT, RegistryClient
from ocireg.credentials import Credential
from ocireg.errors import (
    ERROR_BODY_LIMIT,
    BodyTooLarge,
    ChallengeError,
    NotFound,
    RateLimited,
    RegistryError,
    TransportError,
)
from ocireg.reference import Registry, parse_reference, parse_registry
from ocireg.response import Headers, Request, Response
from ocireg.transport import (
    SAFE_QUERY_PARAMS,
    Deadline,
    Transport,
    TransportConfig,
    _HostGate,
    _redact_headers,
    redact_url,
)

from wiredouble import Scripted, respond

Handler = Callable[[Request], Response]
ALICE = Credential(username="alice", password="alice-password", source="test")
REF = parse_reference("registry.example.invalid/group/app:v1")
MANIFEST_URL = "https://registry.example.invalid/v2/group/app/manifests/v1"


class FakeClock:
    """``time.monotonic``/``time.sleep``/``time.time`` for the transport: sleeping advances the clock at once."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []
        self._lock = threading.Lock()

    def monotonic(self) -> float:
        with self._lock:
            return self.now

    def time(self) -> float:
        return 1_700_000_000.0 + self.monotonic()

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
            self.now += max(0.0, seconds)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(transport_module.time, "monotonic", fake.monotonic)
    monkeypatch.setattr(transport_module.time, "sleep", fake.sleep)
    return fake


def _transport(handler: Handler, **config: Any) -> Transport:
    cfg = TransportConfig(**config)
    return Transport(cfg, wire=Scripted(handler))


def _client(handler: Handler, credential: Credential | None = ALICE, **config: Any) -> RegistryClient:
    transport = _transport(handler, **config)
    return RegistryClient(credential, config=transport.config, transport=transport)


class Counter:
    """A MockTransport handler answering from a list (the last answer repeats); counts calls per method."""

    def __init__(self, *answers: Response | Exception) -> None:
        self.answers = list(answers)
        self.calls: list[Request] = []

    def __call__(self, request: Request) -> Response:
        self.calls.append(request)
        answer = self.answers[min(len(self.calls) - 1, len(self.answers) - 1)]
        if isinstance(answer, Exception):
            raise answer
        return answer


def _send(transport: Transport, method: str, content: Any = None) -> Response:
    return transport.send(method, MANIFEST_URL, content=content, deadline=Deadline(60), what="t")


# ---------------------------------------------------------------------------------------------------------
# FT: the status matrix and safe replay, counted exactly
# ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("code", [408, 429, 499, 500, 502, 503, 504, 522])
def test_ft_retried_statuses_unit(clock: FakeClock, code: int) -> None:
    """FT: the status matrix — retried statuses get 1 + retries attempts, with a bounded full-jitter backoff."""
    handler = Counter(respond(code))
    response = _send(_transport(handler, retries=3), "GET")
    assert response.status == code
    assert len(handler.calls) == 4
    assert len(clock.sleeps) == 3
    assert all(0 <= s <= 0.5 * 2**i for i, s in enumerate(clock.sleeps)), clock.sleeps


@pytest.mark.parametrize("code", [400, 401, 403, 404, 405, 409, 501])
def test_ft_not_retried_statuses_unit(clock: FakeClock, code: int) -> None:
    """FT: the status matrix — statuses that are a definite answer are never retried."""
    handler = Counter(respond(code))
    assert _send(_transport(handler), "GET").status == code
    assert len(handler.calls) == 1
    assert clock.sleeps == []


def test_ft_safe_replay_by_method(clock: FakeClock) -> None:
    """FT: safe replay of writes — POST is retried only on 429/503, which say it was not processed (#23), never
    on 500 or a connection error; PUT/DELETE with a replayable body are; a streamed body is sent once; a
    connection error on GET is retried."""
    for method, content, expected in [
        ("POST", b"x", 4),
        ("POST", None, 4),
        ("PUT", b"manifest", 4),
        ("DELETE", None, 4),
        ("PUT", iter([b"stream"]), 1),
        ("HEAD", None, 4),
    ]:
        handler = Counter(respond(503))
        _send(_transport(handler), method, content)
        assert len(handler.calls) == expected, (method, content)
    for code in (500, 502, 504):
        handler = Counter(respond(code))
        _send(_transport(handler), "POST", b"x")
        assert len(handler.calls) == 1, code
    handler = Counter(ConnectionRefusedError("refused"), respond(200))
    assert _send(_transport(handler), "GET").status == 200
    assert len(handler.calls) == 2
    failing = Counter(ConnectionRefusedError("refused"))
    with pytest.raises(TransportError):
        _send(_transport(failing), "POST", b"x")
    assert len(failing.calls) == 1


def test_ft_credentialed_token_request_not_retried_unit(clock: FakeClock) -> None:
    """FT: safe replay — a token request with Basic credentials is sent once (5xx or reset); anonymous is retried."""
    for credential, expected in [(ALICE, 1), (Credential(source="anonymous"), 4)]:
        handler = Counter(ConnectionResetError("reset"))
        auth = RegistrySession(Registry("registry.example.invalid"), _transport(handler))
        with pytest.raises(TransportError):
            auth.authorize(
                registry_url="https://registry.example.invalid",
                challenges=[Challenge("bearer", {"realm": "https://gitlab.example.invalid/jwt/auth"})],
                scopes=("repository:group/app:pull",),
                credential=credential,
                deadline=Deadline(60),
            )
        assert len(handler.calls) == expected
        assert all(("authorization" in c.headers) == (credential is ALICE) for c in handler.calls)


def test_ft_retry_after_shared_per_host(clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> None:
    """LD: 429 storm with shared per-host backoff — one worker's Retry-After holds every request to that host
    (and only that host) until it passes."""
    handler = Counter(respond(429, headers={"Retry-After": "7"}), respond(200))
    transport = _transport(handler)
    assert _send(transport, "GET").status == 200
    assert clock.sleeps == [7.0]
    # Worker B starts 2 s into worker A's Retry-After wait: B must not send before A's 7 s are over.
    clock.sleeps.clear()
    storm = Counter(respond(429, headers={"Retry-After": "7"}), respond(200))
    shared = _transport(storm)
    sent_at: list[float] = []
    other = Counter(respond(200))
    other_host = _transport(other)
    real_sleep = clock.sleep
    nested = {"done": False}

    def sleep_and_start_worker_b(seconds: float) -> None:
        if nested["done"]:
            real_sleep(seconds)
            return
        nested["done"] = True
        real_sleep(2.0)  # A is 2 s into its wait when B starts
        started = clock.now
        _send(shared, "GET")  # worker B, same host, same transport
        sent_at.append(clock.now - started)
        other_host.send("GET", "https://other.example.invalid/v2/", deadline=Deadline(60), what="t")
        real_sleep(max(0.0, seconds - (clock.now - started) - 2.0))

    monkeypatch.setattr(transport_module.time, "sleep", sleep_and_start_worker_b)
    assert _send(shared, "GET").status == 200  # worker A
    monkeypatch.setattr(transport_module.time, "sleep", real_sleep)
    assert sent_at and sent_at[0] == pytest.approx(5.0), sent_at  # B waited the 5 s left of A's Retry-After
    assert len(storm.calls) == 3 and len(other.calls) == 1
    # the gate itself: per host, never shortened by a shorter hold
    gate = _HostGate()
    gate.hold("registry.example.invalid", 5.0)
    start = clock.now
    gate.wait("registry.example.invalid", Deadline(60))
    assert clock.now - start == pytest.approx(5.0)
    gate.wait("other.example.invalid", Deadline(60))
    assert clock.now - start == pytest.approx(5.0)  # other hosts are not held
    gate.hold("registry.example.invalid", 1.0)  # a shorter hold never shortens a longer one
    gate.hold("registry.example.invalid", 0.5)
    before = clock.now
    gate.wait("registry.example.invalid", Deadline(60))
    assert clock.now - before == pytest.approx(1.0)


def test_ft_gate_wait_never_exceeds_the_deadline(clock: FakeClock) -> None:
    gate = _HostGate()
    gate.hold("h", 500.0)
    start = clock.now
    gate.wait("h", Deadline(3))
    assert clock.now - start <= 3.0 + 1e-9


def test_ft_retry_after_too_long_fails_fast_unit(clock: FakeClock) -> None:
    """FT: Retry-After beyond the deadline or the cap — no waiting, the advertised wait is reported (exit 7)."""
    handler = Counter(respond(429, headers={"Retry-After": "30"}))
    transport = _transport(handler, retry_after_cap=60.0)
    with pytest.raises(RateLimited) as excinfo:
        transport.send("GET", MANIFEST_URL, deadline=Deadline(10), what="t")
    assert excinfo.value.retry_after == 30.0
    beyond_cap = Counter(respond(429, headers={"Retry-After": "120"}))
    # beyond the cap the 429 itself is handed back: from_response turns it into RateLimited (120 s advertised)
    assert _send(_transport(beyond_cap, retry_after_cap=60.0), "GET").status == 429
    assert len(handler.calls) == len(beyond_cap.calls) == 1
    assert clock.sleeps == []


@settings(max_examples=200, deadline=None)
@given(
    st.floats(min_value=0, max_value=1e6, allow_nan=False),
    st.floats(min_value=0, max_value=1e6, allow_nan=False),
)
def test_deadline_clamp_property(budget: float, timeout: float) -> None:
    """FT: a step's timeout never exceeds what is left of the operation's deadline (and is never zero)."""
    got = Deadline(budget).clamp(timeout)
    assert 0 < got <= max(timeout, 0.001)
    assert got <= max(budget, 0.001) + 1


# ---------------------------------------------------------------------------------------------------------
# FT: body cut short, stale connection
# ---------------------------------------------------------------------------------------------------------


def _BrokenStream(data: bytes) -> Iterator[bytes]:
    yield data
    raise ConnectionResetError("connection reset by peer")


def test_ft_manifest_body_cut_short_is_fetched_again_once(clock: FakeClock) -> None:
    """FT: reset mid-body — a manifest GET whose body dies is sent once more; twice is a TransportError."""
    body = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": [],
        }
    ).encode()
    ctype = {"Content-Type": "application/vnd.oci.image.index.v1+json"}
    cut = respond(200, headers=ctype, stream=_BrokenStream(body[:10]))
    handler = Counter(cut, respond(200, headers=ctype, content=body))
    with _client(handler, None) as client:
        assert client.get_manifest(REF).raw == body
    assert len(handler.calls) == 2
    always = Counter(respond(200, headers=ctype, stream=_BrokenStream(body[:10])))
    always.answers = [respond(200, headers=ctype, stream=_BrokenStream(body[:10])) for _ in range(3)]
    with _client(always, None) as client, pytest.raises(TransportError):
        client.get_manifest(REF)
    assert len(always.calls) == 2


# ---------------------------------------------------------------------------------------------------------
# BI / LD: body caps (token and error 64 KiB, manifest 8 MiB, compressed bodies counted decoded)
# ---------------------------------------------------------------------------------------------------------


def test_body_cap_constants() -> None:
    """BI: body caps (docs/architecture.md §4) — token and error bodies 64 KiB, manifests 8 MiB."""
    assert TOKEN_BODY_LIMIT == ERROR_BODY_LIMIT == 64 * 1024
    assert MANIFEST_LIMIT == 8 * 1024 * 1024


def _challenge() -> Response:
    return respond(
        401,
        headers={"WWW-Authenticate": 'Bearer realm="https://gitlab.example.invalid/jwt/auth",service="s"'},
    )


@pytest.mark.parametrize("encoding", [None, "gzip"])
def test_bi_token_body_over_64k_fails(clock: FakeClock, encoding: str | None) -> None:
    """BI: a token response over 64 KiB (plain or a gzip bomb) is BodyTooLarge, never parsed or truncated."""
    raw = b'{"token": "' + b"a" * (TOKEN_BODY_LIMIT + 10) + b'"}'
    headers = {"Content-Type": "application/json"}
    if encoding:
        raw, headers = gzip.compress(raw), {**headers, "Content-Encoding": "gzip"}

    def handler(request: Request) -> Response:
        if urlsplit(request.url).hostname == "gitlab.example.invalid":
            return respond(200, headers=headers, content=raw)
        return _challenge()

    with _client(handler) as client, pytest.raises(BodyTooLarge):
        client.head_manifest(REF)


@pytest.mark.parametrize("encoding", [None, "gzip"])
def test_bi_manifest_over_8mib_fails(clock: FakeClock, encoding: str | None) -> None:
    """BI: a manifest over 8 MiB (plain, or a small gzip stream inflating past the cap) is BodyTooLarge."""
    raw = b'{"schemaVersion": 2, "x": "' + b"\0" * MANIFEST_LIMIT + b'"}'
    headers = {"Content-Type": "application/vnd.oci.image.manifest.v1+json"}
    if encoding:
        raw, headers = gzip.compress(raw), {**headers, "Content-Encoding": "gzip"}
        assert len(raw) < 64 * 1024  # a bomb: small on the wire
    handler = Counter(respond(200, headers=headers, content=raw))
    with _client(handler, None) as client, pytest.raises(BodyTooLarge):
        client.get_manifest(REF)


def test_bi_huge_error_body_is_dropped_not_fatal(clock: FakeClock) -> None:
    """BI: a 10 MiB error body is not read past 64 KiB; the status still classifies the answer (404 → NotFound)."""
    body = json.dumps(
        {"errors": [{"code": "MANIFEST_UNKNOWN", "message": "x" * (10 * 1024 * 1024)}]}
    ).encode()
    handler = Counter(respond(404, content=body))
    with _client(handler, None) as client, pytest.raises(NotFound):
        client.get_manifest(REF)
    handler = Counter(respond(500, content=body))
    with _client(handler, None, retries=0) as client, pytest.raises(RegistryError):
        client.get_manifest(REF)


# ---------------------------------------------------------------------------------------------------------
# SEC: plain HTTP only by policy (the scheme decision, without a network)
# ---------------------------------------------------------------------------------------------------------


def test_sec_plain_http_only_by_policy(monkeypatch: pytest.MonkeyPatch) -> None:
    """SEC: plain HTTP only by policy — a non-loopback registry is https unless named in plain_http_hosts; only
    loopback registries are probed (Docker's rule)."""
    probed: list[str] = []

    def probe(self: Transport, host: str, deadline: Deadline) -> str:
        probed.append(host)
        return "http"

    monkeypatch.setattr(Transport, "_probe_loopback", probe)
    handler = Counter(respond(200))
    public = parse_registry("registry.example.invalid:5000")
    lookalikes = [parse_registry(n) for n in ("localhost.example.invalid", "127.0.0.1.nip.example.invalid")]
    policy = _transport(handler)
    assert policy.decide_scheme(public, Deadline(5)) == "https"
    for registry in lookalikes:
        assert policy.decide_scheme(registry, Deadline(5)) == "https"
    assert probed == []
    allowed = _transport(handler, plain_http_hosts=frozenset({"registry.example.invalid:5000"}))
    assert allowed.decide_scheme(public, Deadline(5)) == "http"
    other_port = _transport(handler, plain_http_hosts=frozenset({"registry.example.invalid:5001"}))
    assert other_port.decide_scheme(public, Deadline(5)) == "https"
    loopback = _transport(handler)
    for name in ("127.0.0.1:5000", "localhost:5000", "[::1]:5000"):
        assert loopback.decide_scheme(parse_registry(name), Deadline(5)) == "http"
    assert len(probed) == 3


# ---------------------------------------------------------------------------------------------------------
# SEC: redaction — URLs in errors and debug headers
# ---------------------------------------------------------------------------------------------------------

CANARY = "canary-7d2c"


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_sec_redact_url_never_raises(text: str) -> None:
    """SEC/BI: redacting a registry-supplied URL never raises, whatever it is."""
    shown = redact_url(text)
    assert isinstance(shown, str)
    assert "\x1b" not in shown and "\n" not in shown


@settings(max_examples=300, deadline=None)
@given(
    st.text(alphabet=st.characters(min_codepoint=0x61, max_codepoint=0x7A), min_size=1, max_size=12).filter(
        lambda name: name not in SAFE_QUERY_PARAMS
    ),
    st.sampled_from(["https://h.example/p", "http://u:p@h.example:8080/x", "/relative/path"]),
)
def test_sec_redact_url_hides_every_unknown_query_value(name: str, base: str) -> None:
    """SEC: redaction — a query parameter outside the allowlist never shows its value."""
    url = f"{base}?service=s&{name}={CANARY}&scope=repository:a:pull"
    assert CANARY not in redact_url(url)
    assert "service=s" in redact_url(url)


def test_sec_debug_headers_redact_urls() -> None:
    """SEC: redaction — Location, Link and WWW-Authenticate are logged with query values and userinfo hidden."""
    headers = Headers(
        [
            ("Location", f"https://storage.example.invalid/blob?X-Amz-Signature={CANARY}&digest=sha256:ab"),
            ("Location", f"https://user:{CANARY}@storage.example.invalid/blob"),
            ("Link", f'</v2/a/tags/list?n=10&last=b&token={CANARY}>; rel="next"'),
            (
                "WWW-Authenticate",
                f'Bearer realm="https://gl.example.invalid/jwt/auth?private_token={CANARY}",service="s"',
            ),
            ("Authorization", f"Bearer {CANARY}"),
            ("Cookie", f"session={CANARY}"),
        ]
    )
    shown = _redact_headers(headers)
    assert CANARY not in shown
    assert "n=10&last=b" in shown
    assert 'service="s"' in shown


def test_sec_refused_realm_is_named_without_secrets() -> None:
    """SEC: redaction — a refused realm is named without its query values or userinfo."""
    from ocireg.auth import validate_realm
    from ocireg.errors import RealmRejected

    for realm in (
        f"http://gl.example.invalid/jwt/auth?private_token={CANARY}",
        f"ftp://gl.example.invalid/jwt/auth?private_token={CANARY}",
        f"https://u:{CANARY}@gl.example.invalid/jwt/auth",
        f"https://gl.example.invalid:99999/jwt/auth?private_token={CANARY}",
    ):
        with pytest.raises(RealmRejected) as excinfo:
            validate_realm(realm, "https://registry.example.invalid")
        assert CANARY not in str(excinfo.value)


# ---------------------------------------------------------------------------------------------------------
# LD: a refused token is forgotten only if it is still the current one
# ---------------------------------------------------------------------------------------------------------


def test_ld_forget_keeps_a_fresh_token_another_worker_fetched() -> None:
    """LD: no stampede at expiry — a worker whose old token was refused must not drop the new token another
    worker already fetched (else each refused worker fetches its own)."""
    auth = RegistrySession(Registry("registry.example.invalid"), _transport(Counter(respond(500))))
    scopes = ("repository:group/app:pull",)
    fresh = Token(value="fresh", expires_at=time.time() + 300, scopes=scopes)
    auth.keep(fresh, ALICE)
    auth.forget(scopes, ALICE, stale="Bearer old")
    assert auth.cached_header(scopes, ALICE) == "Bearer fresh"
    auth.forget(scopes, ALICE, stale="Bearer fresh")
    assert auth.cached_header(scopes, ALICE) is None


# ---------------------------------------------------------------------------------------------------------
# BI: WWW-Authenticate — several challenges round-trip (the single-challenge property lives in test_auth.py)
# ---------------------------------------------------------------------------------------------------------

_PRINTABLE = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=30)


def _quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["Bearer", "Basic", "Digest", "X-Custom"]),
            st.dictionaries(
                st.sampled_from(["realm", "service", "scope", "error", "nonce"]), _PRINTABLE, min_size=1
            ),
        ),
        min_size=1,
        max_size=4,
    ),
    st.sampled_from([",", ", ", " ,  "]),
)
def test_bi_www_authenticate_several_challenges_round_trip(
    challenges: list[tuple[str, dict[str, str]]], separator: str
) -> None:
    """BI: property — several challenges in one header (any printable quoted values) parse back exactly."""
    header = separator.join(
        f"{scheme} " + ",".join(f"{k}={_quoted(v)}" for k, v in params.items())
        for scheme, params in challenges
    )
    parsed = parse_challenges([header])
    assert [(c.scheme, dict(c.params)) for c in parsed] == [(s.lower(), p) for s, p in challenges]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.sampled_from(["Bearer", " ", ",", "=", '"', "\\", "realm", "a", "b=c", "==", "\t"]), max_size=25
    )
)
def test_bi_www_authenticate_token_soup_only_typed_errors(parts: list[str]) -> None:
    """BI: property — a soup of the grammar's own tokens yields challenges or ChallengeError, nothing else."""
    with contextlib.suppress(ChallengeError):
        for challenge in parse_challenges(["".join(parts)]):
            assert challenge.scheme == challenge.scheme.lower()
