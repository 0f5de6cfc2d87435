"""Unit tests for ocireg.reference: the distribution grammar, normalisation, digests (catalogue BI-ref-*, PC-*)."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ocireg.errors import InvalidReference, UsageError
from ocireg.reference import (
    DOCKER_HUB,
    DOCKER_HUB_API,
    Digest,
    Registry,
    Repository,
    parse_digest,
    parse_reference,
    parse_registry,
    parse_repository,
    parse_tag,
)

SHA256 = "sha256:" + "a" * 64
SHA512 = "sha512:" + "0123456789abcdef" * 8
FAST = settings(max_examples=250, deadline=None)


# ----------------------------------------------------------------------------------------------------------
# Valid references (PC-hub-normalisation, PC-gitlab-nested)

VALID = [
    # text, registry, path, tag, digest
    ("alpine", "docker.io", "library/alpine", "latest", None),
    ("alpine:3.20", "docker.io", "library/alpine", "3.20", None),
    ("library/alpine", "docker.io", "library/alpine", "latest", None),
    ("docker.io/alpine", "docker.io", "library/alpine", "latest", None),
    ("docker.io/library/alpine:edge", "docker.io", "library/alpine", "edge", None),
    ("index.docker.io/x/y", "docker.io", "x/y", "latest", None),
    ("registry-1.docker.io/x/y:1", "docker.io", "x/y", "1", None),
    ("Index.Docker.IO/x/y", "docker.io", "x/y", "latest", None),
    ("bitnami/redis:7.2", "docker.io", "bitnami/redis", "7.2", None),
    ("registry.gitlab.com/group/project:v1", "registry.gitlab.com", "group/project", "v1", None),
    (
        "registry.gitlab.com/group/sub/project/image:v1.2.3",
        "registry.gitlab.com",
        "group/sub/project/image",
        "v1.2.3",
        None,
    ),
    (
        "gitlab.example.com:5050/group/sub/project/image",
        "gitlab.example.com:5050",
        "group/sub/project/image",
        "latest",
        None,
    ),
    ("Registry.Example.COM/app", "registry.example.com", "app", "latest", None),
    ("localhost/app", "localhost", "app", "latest", None),
    ("localhost:5000/a", "localhost:5000", "a", "latest", None),
    ("127.0.0.1:5000/a/b:t", "127.0.0.1:5000", "a/b", "t", None),
    ("[::1]:5000/a", "[::1]:5000", "a", "latest", None),
    ("[::1]/a", "[::1]", "a", "latest", None),
    ("[0:0:0:0:0:0:0:1]:5000/a", "[::1]:5000", "a", "latest", None),
    ("[2001:DB8::1]:443/a", "[2001:db8::1]:443", "a", "latest", None),
    ("host:5000/a", "host:5000", "a", "latest", None),
    ("a.b/c", "a.b", "c", "latest", None),
    ("example.com/a.b/c_d/e__f/g--h/i-j:T_a-g.1", "example.com", "a.b/c_d/e__f/g--h/i-j", "T_a-g.1", None),
    ("app:_tag", "docker.io", "library/app", "_tag", None),
    (f"app@{SHA256}", "docker.io", "library/app", None, SHA256),
    (f"app:v1@{SHA256}", "docker.io", "library/app", "v1", SHA256),
    (f"example.com:8443/g/p@{SHA512}", "example.com:8443", "g/p", None, SHA512),
    ("app:" + "t" * 128, "docker.io", "library/app", "t" * 128, None),
]


@pytest.mark.parametrize(("text", "registry", "path", "tag", "digest"), VALID, ids=[c[0][:60] for c in VALID])
def test_valid_references(text: str, registry: str, path: str, tag: str | None, digest: str | None) -> None:
    ref = parse_reference(text)
    assert ref.registry.name == registry
    assert ref.repository.path == path
    assert ref.tag == tag
    assert (str(ref.digest) if ref.digest else None) == digest
    assert parse_reference(str(ref)) == ref


def test_docker_hub_normalisation() -> None:
    """PC-hub: ``alpine`` → ``docker.io/library/alpine:latest``, connecting to registry-1.docker.io."""
    ref = parse_reference("alpine")
    assert str(ref) == "docker.io/library/alpine:latest"
    assert ref.registry.name == DOCKER_HUB
    assert ref.registry.api_host == DOCKER_HUB_API
    assert ref.registry.is_docker_hub
    assert ref.identifier == "latest"
    assert str(ref.repository) == "docker.io/library/alpine"
    assert ref.repository.scope("pull") == "repository:library/alpine:pull"


def test_gitlab_nested_scope() -> None:
    """PC-gitlab-nested: deep GitLab paths keep every component; scope lists actions in order, once each."""
    ref = parse_reference("registry.gitlab.com/group/sub/project/image:v1")
    assert ref.repository.scope("pull", "push", "pull") == "repository:group/sub/project/image:pull,push"
    assert ref.repository.scope("delete") == "repository:group/sub/project/image:delete"
    assert ref.registry.api_host == "registry.gitlab.com"


def test_scope_rejects_bad_actions() -> None:
    repo = parse_repository("example.com/a")
    with pytest.raises(ValueError, match="at least one"):
        repo.scope()
    with pytest.raises(ValueError, match="invalid scope action"):
        repo.scope("pull,push")


def test_default_tag_and_digest_only() -> None:
    assert parse_reference("example.com/a", default_tag=None).tag is None
    assert parse_reference("example.com/a", default_tag=None).identifier == "latest"
    assert parse_reference("example.com/a", default_tag="main").tag == "main"
    by_digest = parse_reference(f"example.com/a@{SHA256}")
    assert by_digest.tag is None
    assert by_digest.identifier == SHA256
    both = parse_reference(f"example.com/a:v1@{SHA256}")
    assert both.identifier == SHA256
    assert str(both) == f"example.com/a:v1@{SHA256}"


def test_with_tag_and_with_digest() -> None:
    ref = parse_reference(f"example.com/a:v1@{SHA256}")
    retagged = ref.with_tag("v2")
    assert str(retagged) == "example.com/a:v2"
    assert retagged.digest is None
    digest = Digest.parse(SHA512)
    assert str(ref.with_digest(digest)) == f"example.com/a:v1@{SHA512}"
    assert str(ref.with_digest(None)) == "example.com/a:v1"
    with pytest.raises(InvalidReference, match='invalid tag "": empty'):
        ref.with_tag("")
    with pytest.raises(InvalidReference):
        ref.with_tag("-bad")


def test_references_are_hashable_and_comparable() -> None:
    a = parse_reference("alpine")
    b = parse_reference("docker.io/library/alpine:latest")
    assert a == b
    assert len({a, b}) == 1


# ----------------------------------------------------------------------------------------------------------
# Bad input (BI-ref-*)

INVALID = [
    # id, text, message fragment
    ("BI-ref-uppercase", "Group/App:v1", "repository names must be lowercase"),
    ("BI-ref-uppercase-path", "registry.gitlab.com/Group/app", "repository names must be lowercase"),
    ("BI-ref-double-slash", "a//b", "empty path component"),
    ("BI-ref-trailing-slash", "example.com/a/", "empty path component"),
    ("BI-ref-leading-slash", "/a", "empty path component"),
    ("BI-ref-dotdot", "example.com/a/../b", 'path component ".." is not allowed'),
    ("BI-ref-dotdot-only", "..", "is not allowed"),
    ("BI-ref-dot", "example.com/./b", "is not allowed"),
    ("BI-ref-bad-separator", "example.com/a..b", "invalid path component"),
    ("BI-ref-trailing-dash", "example.com/a-", "invalid path component"),
    ("BI-ref-triple-underscore", "example.com/a___b", "invalid path component"),
    ("BI-ref-empty-tag", "app:", "empty tag"),
    ("BI-ref-empty-tag-digest", f"app:@{SHA256}", "empty tag"),
    ("BI-ref-tag-too-long", "app:" + "t" * 129, "tag longer than 128"),
    ("BI-ref-tag-leading-dot", "app:.x", "must start with"),
    ("BI-ref-tag-leading-dash", "app:-x", "must start with"),
    ("BI-ref-tag-bad-char", "app:v1+build", "may contain only"),
    ("BI-ref-empty-digest", "app@", "bad digest"),
    ("BI-ref-digest-traversal", "app@sha256:../../x", "only hex digits"),
    ("BI-ref-digest-upper", "app@sha256:" + "A" * 64, "lower case"),
    ("BI-ref-digest-algorithm-upper", "app@SHA256:" + "a" * 64, "lower case"),
    ("BI-ref-digest-short", "app@sha256:" + "a" * 63, "64 hex digits, not 63"),
    ("BI-ref-digest-long", "app@sha256:" + "a" * 65, "64 hex digits, not 65"),
    ("BI-ref-digest-sha512-short", "app@sha512:" + "a" * 64, "128 hex digits"),
    ("BI-ref-digest-unknown-algorithm", "app@md5:" + "a" * 32, "unsupported digest algorithm"),
    ("BI-ref-digest-no-colon", "app@" + "a" * 64, "ALGORITHM:HEX"),
    ("BI-ref-two-at", f"app@{SHA256}@{SHA256}", "more than one '@'"),
    ("BI-ref-userinfo", "user:pass@example.com/app", "user information"),
    ("BI-ref-userinfo-port", "user@example.com:5000/app", "user information"),
    ("BI-ref-nul", "app\x00:v1", "control character"),
    ("BI-ref-cr", "app:v1\r", "control character"),
    ("BI-ref-lf", "app\n:v1", "control character"),
    ("BI-ref-lf-injection", "app:v1\nX-Injected: 1", "control character"),
    ("BI-ref-esc", "app\x1b[31m", "control character"),
    ("BI-ref-del", "app\x7f", "control character"),
    ("BI-ref-bidi", "app\u202e", "control character"),
    ("BI-ref-space", "my app", "whitespace"),
    ("BI-ref-leading-space", " app", "whitespace"),
    ("BI-ref-tab", "app\t", "control character"),
    ("BI-ref-nbsp", "app\u00a0x", "whitespace"),
    ("BI-ref-ideographic-space", "app\u3000x", "whitespace"),
    ("BI-ref-name-too-long", "example.com/" + "a" * 256, "longer than 255"),
    ("BI-ref-hub-name-too-long", "a/" * 127 + "aa", "longer than 255"),
    ("BI-ref-leading-dash", "-app", "must not start with '-'"),
    ("BI-ref-leading-dash-option", "--output=/etc/passwd", "must not start with '-'"),
    ("BI-ref-empty", "", "empty"),
    ("BI-ref-huge", "a" * 10000, "longer than 4096"),
    ("BI-ref-scheme", "https://example.com/app", "no scheme"),
    ("BI-ref-host-underscore", "my_host.com/app", "not a valid host name"),
    ("BI-ref-host-dash", "-x.example.com/app", "must not start with '-'"),
    ("BI-ref-host-label-dash", "a.-b.com/app", "not a valid host name"),
    ("BI-ref-host-empty-label", "a..com/app", "empty label"),
    ("BI-ref-host-trailing-dot", "example.com./app", "empty label"),
    ("BI-ref-host-label-too-long", "a" * 64 + ".com/app", "not a valid host name"),
    ("BI-ref-host-unicode", "exämple.com/app", "ASCII"),
    ("BI-ref-bad-ipv4", "999.1.1.1/app", "not a valid IPv4 address"),
    ("BI-ref-port-empty", "example.com:/app", "empty port"),
    ("BI-ref-port-letters", "example.com:http/app", "not a number"),
    ("BI-ref-port-zero", "example.com:0/app", "outside 1-65535"),
    ("BI-ref-port-big", "example.com:65536/app", "outside 1-65535"),
    ("BI-ref-port-leading-zero", "example.com:05000/app", "not a valid port number"),
    ("BI-ref-port-unicode-digits", "example.com:\u0665\u0660/app", "not a number"),
    ("BI-ref-ipv6-unbracketed", "::1:5000/app", "brackets"),
    ("BI-ref-ipv6-bad", "[::g]:5000/app", "not a valid IPv6 address"),
    ("BI-ref-ipv6-unclosed", "[::1:5000/app", "unclosed"),
    ("BI-ref-ipv6-zone", "[fe80::1%25eth0]:5000/app", "zone identifiers"),
    ("BI-ref-ipv6-junk", "[::1]x:5000/app", "after the IPv6 address"),
    ("BI-ref-registry-only", "example.com/", "empty repository path"),
    ("BI-ref-colon-in-path", "a:b:c", "invalid path component"),
    ("BI-ref-percent", "example.com/a%2fb", "invalid path component"),
    ("BI-ref-query", "example.com/a?x=1", "invalid path component"),
]


@pytest.mark.parametrize(("text", "fragment"), [c[1:] for c in INVALID], ids=[c[0] for c in INVALID])
def test_invalid_references(text: str, fragment: str) -> None:
    with pytest.raises(InvalidReference) as info:
        parse_reference(text)
    message = str(info.value)
    assert message.startswith("invalid reference ")
    assert fragment in message
    # User text is escaped: no raw control characters reach the message.
    assert not any(ord(ch) < 0x20 or 0x7F <= ord(ch) <= 0x9F for ch in message)
    assert len(message) < 600


def test_invalid_reference_message_exact() -> None:
    """BI-ref-uppercase: the message names the input and the one rule it breaks."""
    with pytest.raises(InvalidReference) as info:
        parse_reference("Group/App:v1")
    assert str(info.value) == 'invalid reference "Group/App:v1": repository names must be lowercase'


def test_invalid_reference_is_a_usage_error() -> None:
    """An invalid reference maps to exit 2 (UsageError) and is still a ValueError for library users."""
    with pytest.raises(UsageError):
        parse_reference("A")
    with pytest.raises(ValueError):
        parse_reference("A")


def test_invalid_reference_escapes_control_characters() -> None:
    """BI-ref-lf / SEC-output-injection: CR/LF/ESC are shown as escapes, never written raw."""
    with pytest.raises(InvalidReference) as info:
        parse_reference("app\r\n\x1b[2Jx")
    assert "\\x0d\\x0a\\x1b[2Jx" in str(info.value)


def test_non_string_rejected() -> None:
    with pytest.raises(InvalidReference, match="expected a string"):
        parse_reference(b"alpine")  # type: ignore[arg-type]


# ----------------------------------------------------------------------------------------------------------
# Repositories


def test_parse_repository() -> None:
    repo = parse_repository("registry.gitlab.com/group/sub/project/image")
    assert repo == Repository(Registry("registry.gitlab.com"), "group/sub/project/image")
    assert str(repo) == "registry.gitlab.com/group/sub/project/image"
    assert repo.name == str(repo)
    assert parse_repository("alpine").path == "library/alpine"


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("example.com/a:v1", "has no tag"),
        (f"example.com/a@{SHA256}", "has no digest"),
        ("Example.com/A", "lowercase"),
        ("", "empty"),
    ],
)
def test_parse_repository_rejects(text: str, fragment: str) -> None:
    with pytest.raises(InvalidReference, match=fragment) as info:
        parse_repository(text)
    assert str(info.value).startswith("invalid repository ")


def test_repository_constructor_validates_and_normalises() -> None:
    assert Repository(Registry("docker.io"), "alpine").path == "library/alpine"
    with pytest.raises(InvalidReference, match="lowercase"):
        Repository(Registry("example.com"), "A")
    with pytest.raises(InvalidReference, match="empty path component"):
        Repository(Registry("example.com"), "a//b")


# ----------------------------------------------------------------------------------------------------------
# Registries

REGISTRIES = [
    # text, name, api_host, hostname, port, loopback
    ("docker.io", "docker.io", "registry-1.docker.io", "docker.io", None, False),
    ("index.docker.io", "docker.io", "registry-1.docker.io", "docker.io", None, False),
    ("registry-1.docker.io", "docker.io", "registry-1.docker.io", "docker.io", None, False),
    ("REGISTRY.gitlab.com", "registry.gitlab.com", "registry.gitlab.com", "registry.gitlab.com", None, False),
    (
        "gitlab.example.com:5050",
        "gitlab.example.com:5050",
        "gitlab.example.com:5050",
        "gitlab.example.com",
        5050,
        False,
    ),
    ("localhost", "localhost", "localhost", "localhost", None, True),
    ("localhost:5000", "localhost:5000", "localhost:5000", "localhost", 5000, True),
    ("127.0.0.1:5000", "127.0.0.1:5000", "127.0.0.1:5000", "127.0.0.1", 5000, True),
    ("127.8.9.10", "127.8.9.10", "127.8.9.10", "127.8.9.10", None, True),
    ("[::1]:5000", "[::1]:5000", "[::1]:5000", "::1", 5000, True),
    ("[::1]", "[::1]", "[::1]", "::1", None, True),
    ("[::ffff:127.0.0.1]:80", "[::ffff:7f00:1]:80", "[::ffff:7f00:1]:80", "::ffff:7f00:1", 80, True),
    ("[2001:db8::1]:5000", "[2001:db8::1]:5000", "[2001:db8::1]:5000", "2001:db8::1", 5000, False),
    ("192.0.2.1", "192.0.2.1", "192.0.2.1", "192.0.2.1", None, False),  # TEST-NET-1, never contacted
    ("myregistry", "myregistry", "myregistry", "myregistry", None, False),
    ("docker.io:443", "docker.io:443", "docker.io:443", "docker.io", 443, False),
    (
        "localhost.example.com",
        "localhost.example.com",
        "localhost.example.com",
        "localhost.example.com",
        None,
        False,
    ),
]


@pytest.mark.parametrize(("text", "name", "api_host", "hostname", "port", "loopback"), REGISTRIES)
def test_parse_registry(
    text: str, name: str, api_host: str, hostname: str, port: int | None, loopback: bool
) -> None:
    registry = parse_registry(text)
    assert registry.name == name
    assert str(registry) == name
    assert registry.api_host == api_host
    assert registry.hostname == hostname
    assert registry.port == port
    assert registry.is_loopback is loopback
    assert parse_registry(name) == registry


BAD_REGISTRIES = [
    ("BI-registry-empty", "", "empty"),
    ("BI-registry-scheme", "https://example.com", "without a scheme"),
    ("BI-registry-path", "example.com/v2", "without a path"),
    ("BI-registry-userinfo", "user@example.com", "user information"),
    ("BI-registry-userinfo-pass", "user:pass@example.com", "user information"),
    ("BI-registry-bad-port", "example.com:x", "not a number"),
    ("BI-registry-port-range", "example.com:70000", "outside 1-65535"),
    ("BI-registry-empty-port", "example.com:", "empty port"),
    ("BI-registry-space", "example .com", "whitespace"),
    ("BI-registry-crlf", "example.com\r\n", "control character"),
    ("BI-registry-underscore", "ex_ample.com", "not a valid host name"),
    ("BI-registry-leading-dash", "-example.com", "must not start with '-'"),
    ("BI-registry-ipv6-unbracketed", "::1", "brackets"),
    ("BI-registry-bad-ipv4", "1.2.3.256", "IPv4"),
    ("BI-registry-host-too-long", ("a" * 60 + ".") * 5 + "com", "longer than 253"),
]


@pytest.mark.parametrize(
    ("text", "fragment"), [c[1:] for c in BAD_REGISTRIES], ids=[c[0] for c in BAD_REGISTRIES]
)
def test_parse_registry_rejects(text: str, fragment: str) -> None:
    with pytest.raises(InvalidReference, match=fragment) as info:
        parse_registry(text)
    assert str(info.value).startswith("invalid registry ")


def test_registry_constructor_normalises() -> None:
    assert Registry("Index.Docker.IO").name == "docker.io"
    assert Registry("index.docker.io") == Registry("docker.io")


# ----------------------------------------------------------------------------------------------------------
# Digests (BI-digest-*)


def test_digest_parse_and_str() -> None:
    digest = Digest.parse(SHA256)
    assert digest.algorithm == "sha256"
    assert digest.hex == "a" * 64
    assert str(digest) == SHA256
    assert parse_digest(SHA512) == Digest("sha512", "0123456789abcdef" * 8)


def test_digest_from_bytes_and_matches() -> None:
    data = b'{"schemaVersion":2}'
    digest = Digest.from_bytes(data)
    assert str(digest) == "sha256:" + hashlib.sha256(data).hexdigest()
    assert digest.matches(data)
    assert not digest.matches(data + b" ")
    d512 = Digest.from_bytes(data, "sha512")
    assert d512.hex == hashlib.sha512(data).hexdigest()
    assert d512.matches(data)
    with pytest.raises(InvalidReference, match="unsupported digest algorithm"):
        Digest.from_bytes(data, "md5")


def test_digest_hasher_streams() -> None:
    data = b"x" * 100_000
    digest = Digest.from_bytes(data)
    hasher = digest.hasher()
    for offset in range(0, len(data), 4096):
        hasher.update(data[offset : offset + 4096])
    assert hasher.hexdigest() == digest.hex
    assert digest.hasher() is not hasher
    assert Digest.from_bytes(data, "sha512").hasher().name == "sha512"


BAD_DIGESTS = [
    ("BI-digest-traversal", "sha256:../../x"),
    ("BI-digest-traversal-padded", "sha256:../../" + "a" * 58),
    ("BI-digest-upper", "sha256:" + "A" * 64),
    ("BI-digest-upper-algorithm", "SHA256:" + "a" * 64),
    ("BI-digest-short", "sha256:" + "a" * 63),
    ("BI-digest-long", "sha256:" + "a" * 65),
    ("BI-digest-sha512-as-sha256", "sha256:" + "a" * 128),
    ("BI-digest-unknown-algorithm", "sha1:" + "a" * 40),
    ("BI-digest-empty", ""),
    ("BI-digest-no-hex", "sha256:"),
    ("BI-digest-no-algorithm", ":" + "a" * 64),
    ("BI-digest-bare-hex", "a" * 64),
    ("BI-digest-newline", "sha256:" + "a" * 63 + "\n"),
    ("BI-digest-trailing-newline", SHA256 + "\n"),
    ("BI-digest-space", " " + SHA256),
    ("BI-digest-plus-suffix", "sha256+b64:" + "a" * 64),
    ("BI-digest-unicode-digits", "sha256:" + "\u0661" * 64),
    ("BI-digest-query", SHA256 + "?x"),
]


@pytest.mark.parametrize("text", [c[1] for c in BAD_DIGESTS], ids=[c[0] for c in BAD_DIGESTS])
def test_bad_digests(text: str) -> None:
    with pytest.raises(InvalidReference) as info:
        Digest.parse(text)
    assert str(info.value).startswith("invalid digest ")
    assert "\n" not in str(info.value)


def test_digest_constructor_validates() -> None:
    with pytest.raises(InvalidReference):
        Digest("sha256", "../../x")
    with pytest.raises(InvalidReference):
        Digest("md5", "a" * 32)


# ----------------------------------------------------------------------------------------------------------
# Tags


def test_parse_tag() -> None:
    assert parse_tag("v1.2.3-rc_1") == "v1.2.3-rc_1"
    for bad in ("", "-x", ".x", "a" * 129, "a b", "a\nb", "a:b", "a/b"):
        with pytest.raises(InvalidReference):
            parse_tag(bad)


# ----------------------------------------------------------------------------------------------------------
# Property tests


_component = st.from_regex(r"\A[a-z0-9]{1,5}(?:(?:[._]|__|-{1,3})[a-z0-9]{1,5}){0,2}\Z")
_label = st.from_regex(r"\A[a-z0-9](?:[a-z0-9-]{0,8}[a-z0-9])?\Z").filter(lambda s: not s.isdigit())
_hostname = st.builds(
    lambda labels, tld: ".".join([*labels, tld]),
    st.lists(_label, min_size=1, max_size=3),
    st.from_regex(r"\A[a-z]{2,6}\Z"),
)
_port = st.integers(min_value=1, max_value=65535)
_ipv4 = st.ip_addresses(v=4).map(str)
_ipv6 = st.ip_addresses(v=6).map(lambda a: f"[{a.compressed}]")
_domain = st.one_of(
    st.none(),
    _hostname,
    st.builds(lambda h, p: f"{h}:{p}", _hostname, _port),
    st.builds(lambda p: f"localhost:{p}", _port),
    st.just("localhost"),
    st.builds(lambda h, p: f"{h}:{p}", _ipv4, _port),
    st.builds(lambda h, p: f"{h}:{p}", _ipv6, _port),
    st.sampled_from(["docker.io", "index.docker.io", "registry-1.docker.io"]),
)
_tag = st.from_regex(r"\A[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}\Z")
_digest = st.one_of(
    st.binary(max_size=16).map(lambda b: str(Digest.from_bytes(b))),
    st.binary(max_size=16).map(lambda b: str(Digest.from_bytes(b, "sha512"))),
)


@st.composite
def _reference_text(draw: st.DrawFn) -> str:
    domain = draw(_domain)
    components = draw(st.lists(_component, min_size=1, max_size=4))
    path = "/".join(components)
    if domain is None and len(components) > 1 and "." in components[0]:
        domain = "docker.io"  # "a.b/c" names the registry a.b: spell out Docker Hub instead
    text = path if domain is None else f"{domain}/{path}"
    if draw(st.booleans()):
        text += ":" + draw(_tag)
    if draw(st.booleans()):
        text += "@" + draw(_digest)
    return text


@FAST
@given(_reference_text())
def test_property_round_trip(text: str) -> None:
    """parse_reference(str(ref)) == ref for generated valid references."""
    ref = parse_reference(text)
    assert parse_reference(str(ref)) == ref
    assert str(parse_reference(str(ref))) == str(ref)
    assert parse_repository(str(ref.repository)) == ref.repository
    assert parse_registry(ref.registry.name) == ref.registry


_REFERENCE_ALPHABET = st.sampled_from(
    [*"abcAZ09-_.:/@[]%+ \t\r\n\x00\x1b\u202e\u00e4", "sha256:", "..", "//"]
)


@FAST
@given(st.one_of(st.text(max_size=300), st.lists(_REFERENCE_ALPHABET, max_size=60).map("".join)))
def test_property_parse_reference_only_raises_invalid_reference(text: str) -> None:
    """BI-ref-fuzz: arbitrary text either parses or raises InvalidReference with an escaped message."""
    try:
        ref = parse_reference(text)
    except InvalidReference as error:
        message = str(error)
        assert "\n" not in message
        assert "\r" not in message
        assert "\x1b" not in message
        return
    assert parse_reference(str(ref)) == ref


@FAST
@given(st.one_of(st.text(max_size=100), st.lists(_REFERENCE_ALPHABET, max_size=30).map("".join)))
def test_property_parse_registry_only_raises_invalid_reference(text: str) -> None:
    try:
        registry = parse_registry(text)
    except InvalidReference:
        return
    assert parse_registry(registry.name) == registry
    assert registry.port is None or 1 <= registry.port <= 65535


@FAST
@given(st.text(max_size=200))
def test_property_digest_parse_only_raises_invalid_reference(text: str) -> None:
    try:
        digest = Digest.parse(text)
    except InvalidReference:
        return
    assert str(digest) == text
