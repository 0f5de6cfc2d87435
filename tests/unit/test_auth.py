"""Unit tests of the challenge parser, the realm policy and token responses (BI, SEC)."""

from __future__ import annotations

import base64
import contextlib
import json
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ocireg.auth import Token, decode_jwt_claims, merge_scopes, parse_challenges, validate_realm
from ocireg.auth.tokens import _parse_token_response
from ocireg.errors import ChallengeError, ProtocolViolation, RealmRejected

GITLAB = 'Bearer realm="https://gitlab.example.com/jwt/auth",service="container_registry",scope="repository:g/p:pull"'


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (
            GITLAB,
            [
                (
                    "bearer",
                    {
                        "realm": "https://gitlab.example.com/jwt/auth",
                        "service": "container_registry",
                        "scope": "repository:g/p:pull",
                    },
                )
            ],
        ),
        ('Basic realm="Registry Realm"', [("basic", {"realm": "Registry Realm"})]),
        # BI-www-auth-quoted-comma: a comma inside quotes is data
        (
            'Bearer realm="https://a/b",scope="repository:x:pull,push"',
            [("bearer", {"realm": "https://a/b", "scope": "repository:x:pull,push"})],
        ),
        # BI-www-auth-escapes
        (
            r'Bearer realm="https://a/\"q\"",service=svc',
            [("bearer", {"realm": 'https://a/"q"', "service": "svc"})],
        ),
        # BI-www-auth-several-challenges
        (
            'Basic realm="r", Bearer realm="https://t/token",service="s"',
            [("basic", {"realm": "r"}), ("bearer", {"realm": "https://t/token", "service": "s"})],
        ),
        (
            'Bearer realm="https://t",error="insufficient_scope",scope="repository:a:delete"',
            [
                (
                    "bearer",
                    {"realm": "https://t", "error": "insufficient_scope", "scope": "repository:a:delete"},
                )
            ],
        ),
        # case-insensitive scheme and parameter names
        ('BEARER Realm="https://t", Service="s"', [("bearer", {"realm": "https://t", "service": "s"})]),
        # BI-www-auth-missing-realm parses; the flow rejects it later
        ('Bearer service="s"', [("bearer", {"service": "s"})]),
        ("Negotiate abc==", [("negotiate", {"token68": "abc=="})]),
        ("", []),
    ],
)
def test_parse_challenges_table(header: str, expected: list[tuple[str, dict[str, str]]]) -> None:
    """BI: WWW-Authenticate table."""
    got = [(c.scheme, dict(c.params)) for c in parse_challenges([header])]
    assert got == expected


@pytest.mark.parametrize(
    "header",
    [
        'Bearer realm="https://unterminated',  # BI-www-auth-unclosed-quote
        'Bearer realm="a",realm="b"',  # duplicate parameter
        "Bearer realm=",
        'Bearer realm="a" service="b"',  # missing comma
        "@@@",
    ],
)
def test_parse_challenges_rejects(header: str) -> None:
    """BI: malformed WWW-Authenticate raises the parser's own typed error."""
    with pytest.raises(ChallengeError):
        parse_challenges([header])


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=200))
def test_parse_challenges_fuzz_only_typed_errors(header: str) -> None:
    """BI: property — the parser may raise only ChallengeError."""
    with contextlib.suppress(ChallengeError):
        parse_challenges([header])


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["realm", "service", "scope", "error"]),
        st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=40),
        min_size=1,
    )
)
def test_parse_challenges_roundtrip(params: dict[str, str]) -> None:
    """Quoted values survive any printable content (escaped quotes and backslashes)."""
    rendered = ",".join(
        f'{k}="{v.replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"'
        for k, v in params.items()
    )
    (challenge,) = parse_challenges([f"Bearer {rendered}"])
    assert dict(challenge.params) == params


@pytest.mark.parametrize(
    ("realm", "registry", "ok"),
    [
        ("https://gitlab.example.com/jwt/auth", "https://registry.example.com", True),
        ("http://gitlab.example.com/jwt/auth", "https://registry.example.com", False),  # SEC: no downgrade
        ("http://127.0.0.2:8080/jwt/auth", "http://127.0.0.1:5000", True),  # plain-HTTP loopback rig
        ("https://user:pw@gitlab.example.com/jwt/auth", "https://registry.example.com", False),  # userinfo
        ("https://127.0.0.1/token", "https://registry.example.com", False),  # SEC: realm SSRF to loopback
        ("https://169.254.169.254/latest/meta-data", "https://registry.example.com", False),  # link-local
        ("https://[fd00::8]/token", "https://registry.example.com", False),  # private (unique local) literal
        ("https://[::1]/token", "https://registry.example.com", False),
        ("https://[::ffff:127.0.0.1]/token", "https://registry.example.com", False),
        ("https://localhost/token", "https://registry.example.com", False),
        ("https://127.0.0.2/token", "https://127.0.0.1:5000", True),
        ("/token", "https://registry.example.com", True),  # relative: same origin
        ("file:///etc/passwd", "https://registry.example.com", False),
        ("gopher://x/", "https://registry.example.com", False),
        ("https://gitlab.example.com/jwt/auth\r\nX: y", "https://registry.example.com", False),
    ],
)
def test_validate_realm(realm: str, registry: str, ok: bool) -> None:
    """SEC: realm validation before any connection."""
    if ok:
        assert validate_realm(realm, registry).startswith(("http://", "https://"))
    else:
        with pytest.raises(RealmRejected):
            validate_realm(realm, registry)


@pytest.mark.parametrize(
    "host",
    [
        "2130706435",  # 127.0.0.3 as one number
        "0x7f000003",
        "127.3",  # inet_aton's a.b form
        "0177.0.0.1",  # octal
        "0",  # 0.0.0.0: Linux connects it to the local host
        "localhost.",
        "LOCALHOST",
        "api.localhost",
        "127.0.0.1.",
        "[::ffff:127.0.0.1]",
        "[::ffff:7f00:1]",
        "[::127.0.0.1]",
        "[::]",
        "2852039166",  # 169.254.169.254, the cloud metadata service
        "0xa9fea9fe",
        "169.254.43518",
        "[::ffff:a9fe:a9fe]",
        "[64:ff9b::a9fe:a9fe]",  # NAT64 of 169.254.169.254
        "[fe80::1%25eth0]",
        "167772161",  # 10.0.0.1
        "0xc0a80001",  # 192.168.0.1
    ],
)
def test_sec_realm_in_any_socket_spelling_is_refused_for_a_public_registry(host: str) -> None:
    """#14 item 1: a realm host written the way inet_aton reads it (one number, hex, octal, short forms, a
    trailing dot) or as an IPv4-mapped/compatible/NAT64 IPv6 address reaches the same address as its dotted
    form, so it is refused the same way; ``validate_realm`` used to accept all of these."""
    for scheme in ("https", "http"):
        registry = f"{scheme}://registry.example.com"
        with pytest.raises(RealmRejected, match="realm"):  # the URL splitter refuses some spellings outright
            validate_realm(f"{scheme}://{host}/jwt/auth", registry)


@pytest.mark.parametrize(
    ("realm_host", "registry_host", "ok"),
    [
        ("169.254.169.254", "10.0.0.5", False),  # private registry → metadata service
        ("2852039166", "10.0.0.5", False),
        ("127.0.0.2", "10.0.0.5", False),  # private registry → loopback
        ("localhost", "192.168.1.10", False),
        ("169.254.169.254", "127.0.0.1", False),  # loopback registry → metadata service
        ("10.0.0.6", "127.0.0.1", False),  # loopback registry → private network
        ("127.0.0.2", "[fe80::1]", False),  # link-local registry → loopback
        ("10.0.0.6", "10.0.0.5", True),  # private → private
        ("[fd00::6]", "10.0.0.5", True),
        ("127.0.0.2", "127.0.0.1", True),  # loopback → loopback (the rig)
        ("localhost", "127.0.0.1", True),
        ("2130706434", "localhost", True),
        ("169.254.1.2", "169.254.1.1", True),  # link-local → link-local
        ("gitlab.example.com", "10.0.0.5", True),  # a name: not resolved here
        ("8.8.8.8", "127.0.0.1", True),  # public addresses are not a class of their own
    ],
)
def test_sec_realm_address_class_must_match_the_registry(
    realm_host: str, registry_host: str, ok: bool
) -> None:
    """#14 item 2: loopback realms only for loopback registries, link-local (metadata) only for link-local
    ones, private only for private ones; "the registry is on such an address itself" used to let a 10.x
    registry send credentials to 169.254.169.254 or 127.0.0.x."""
    realm, registry = f"http://{realm_host}/jwt/auth", f"http://{registry_host}:5000"
    if ok:
        assert validate_realm(realm, registry) == realm
    else:
        with pytest.raises(RealmRejected, match="realm SSRF"):
            validate_realm(realm, registry)


@pytest.mark.parametrize("realm", ["https://[::1/token", "https://[zz]/token", "https://\u0080/token"])
def test_validate_realm_malformed_url_is_realm_rejected(realm: str) -> None:
    """SEC: realm validation / BI: WWW-Authenticate fuzzing — a realm Python's urljoin or ocireg's URL splitter
    refuses (unclosed IPv6 bracket, bad address, invalid IDNA host) is RealmRejected; it used to escape as
    ValueError (an internal error)."""
    with pytest.raises(RealmRejected):
        validate_realm(realm, "https://registry.example.com")


def _jwt(claims: dict[str, object]) -> str:
    def enc(doc: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(doc).encode()).rstrip(b"=").decode()

    return f"{enc({'alg': 'RS256'})}.{enc(claims)}.c2ln"


def test_token_response_forms() -> None:
    """BI: token vs access_token, missing/short expires_in."""
    t = _parse_token_response(b'{"token": "abc"}', realm="r", service="s", scopes=("x",))
    assert t.value == "abc"
    assert 55 < t.expires_at - time.time() <= 61  # default 60 s
    t = _parse_token_response(b'{"access_token": "def", "expires_in": 3}', realm="r", service="s", scopes=())
    assert t.value == "def"
    assert t.expires_at - time.time() > 55  # clamped up to the 60 s minimum
    t = _parse_token_response(b'{"token": "a", "expires_in": "soon"}', realm="r", service="s", scopes=())
    assert t.valid()


@pytest.mark.parametrize(
    "body",
    [
        b"<html>proxy login</html>",
        b"[]",
        b'{"token": ""}',
        b'{"token": 5}',
        b'{"token": "abc\\r\\nX-Injected: 1"}',  # BI: CR/LF in the token
        b'{"token": "' + b"a" * 20000 + b'"}',
        b'{"expires_in": 300}',
        b"\xff\xfe",
        b'{"token": "a", "expires_in": NaN}',
    ],
)
def test_token_response_rejects(body: bytes) -> None:
    """BI: token responses that must not be used."""
    with pytest.raises(ProtocolViolation):
        _parse_token_response(body, realm="r", service="s", scopes=())


@pytest.mark.parametrize(
    "body",
    [
        json.dumps({"token": _jwt({"exp": 10**400})}).encode(),
        json.dumps({"token": _jwt({"exp": 2_000_000_000, "iat": 10**400})}).encode(),
        b'{"token": "abc", "expires_in": 1' + b"0" * 400 + b"}",
    ],
)
def test_token_response_huge_numbers_are_ignored(body: bytes) -> None:
    """BI: token responses — huge ``expires_in`` / JWT ``exp``/``iat`` integers (too large for a float) used to
    escape as OverflowError; they are ignored like any unusable lifetime."""
    token = _parse_token_response(body, realm="r", service="s", scopes=())
    assert 0 < token.expires_at - time.time() <= 24 * 3600 + 1


def test_token_claims_and_grants() -> None:
    exp = int(time.time()) + 120
    value = _jwt({"exp": exp, "access": [{"type": "repository", "name": "g/p", "actions": ["pull"]}]})
    token = _parse_token_response(json.dumps({"token": value}).encode(), realm="r", service="s", scopes=())
    assert token.expires_at <= exp
    assert token.grants("repository:g/p:pull") is True
    assert token.grants("repository:g/p:pull,push") is False
    assert token.grants("repository:other:pull") is False
    empty = Token(value="x", expires_at=exp, scopes=(), claims=decode_jwt_claims(_jwt({"access": []})))
    assert empty.granted() == []
    assert Token(value="opaque", expires_at=exp, scopes=()).grants("repository:g/p:pull") is None


def test_decode_jwt_claims_garbage() -> None:
    assert decode_jwt_claims("not-a-jwt") == {}
    assert decode_jwt_claims("a.!!!.c") == {}


def test_merge_scopes() -> None:
    """PC: delete re-auth merges actions per resource."""
    assert merge_scopes(("repository:g/p:pull",), "repository:g/p:delete") == ("repository:g/p:pull,delete",)
    assert merge_scopes(("repository:g/p:pull",), None) == ("repository:g/p:pull",)
    assert merge_scopes(("repository:a:pull",), "repository:b:push") == (
        "repository:a:pull",
        "repository:b:push",
    )


def test_gitlab_token_without_expires_in_uses_jwt_lifetime() -> None:
    """GitLab sends only {"token"}: the JWT's exp - iat (5 min) is used, immune to local clock skew."""
    skewed_iat = int(time.time()) - 3600  # issuer clock an hour behind ours
    value = _jwt({"iat": skewed_iat, "exp": skewed_iat + 300})
    token = _parse_token_response(json.dumps({"token": value}).encode(), realm="r", service="s", scopes=())
    assert 290 < token.expires_at - time.time() <= 300


def test_expires_in_longer_than_jwt_lifetime_is_capped() -> None:
    now = int(time.time())
    value = _jwt({"iat": now, "exp": now + 5})
    body = json.dumps({"token": value, "expires_in": 300}).encode()
    token = _parse_token_response(body, realm="r", service="s", scopes=())
    assert token.expires_at - time.time() <= 5
