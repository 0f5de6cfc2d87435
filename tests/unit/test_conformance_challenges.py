"""#13 item 4: one malformed ``WWW-Authenticate`` challenge does not abort authentication.

Cases transcribed from:

* github.com/distribution/distribution at commit 0d6b721dc3ceacb5d678c25b718b2f40a507c2d8,
  ``internal/client/auth/challenge/authchallenge_test.go`` (``TestAuthChallengeParse``, and the two Bearer
  headers of ``TestFilteringManager``); docker/cli vendors the same parser
  (``vendor/github.com/docker/distribution/registry/client/auth/challenge/authchallenge.go`` at
  28f756087eea5fa301f3fbf12b01ae62f91521c2);
* github.com/containers/image at commit df7e80d2d19872b61f352a8a182ec934dc0c2346,
  ``docker/wwwauthenticate_test.go`` (``TestParseValueAndParams``);
* github.com/regclient/regclient at commit 725072f65f14ab63d6b220246c3a889dcd5e2f5f,
  ``internal/auth/auth_test.go`` (``TestParseAuthHeader``).

Where ocireg deliberately differs (each row below says so): regclient reads ``Basic realm=/`` (a value that is
neither an RFC 7235 token nor a quoted string) and a quoted scheme (``"Basic" "realm"=/``); Docker keeps a
challenge with the parameters read before a malformed one. ocireg drops such a challenge whole and keeps the
others: an unquoted value with separators has no single reading (``realm=https://a/b,service=x``), and a
Bearer challenge cut short could lose its ``service`` or ``scope``.
"""

from __future__ import annotations

import pytest

from ocireg.auth import RegistrySession, parse_challenges, usable_bearer
from ocireg.credentials import Credential
from ocireg.errors import ChallengeError
from ocireg.reference import Registry
from ocireg.transport import Deadline, Transport, TransportConfig

Expected = list[tuple[str, dict[str, str]]]

AGREED: list[tuple[str, list[str], Expected]] = [
    # distribution TestAuthChallengeParse
    (
        "distribution-parse",
        [
            r'Bearer realm="https://auth.example.com/token",service="registry.example.com",other=fun,'
            r'slashed="he\"\l\lo"'
        ],
        [
            (
                "bearer",
                {
                    "realm": "https://auth.example.com/token",
                    "service": "registry.example.com",
                    "other": "fun",
                    "slashed": 'he"llo',
                },
            )
        ],
    ),
    # distribution TestFilteringManager: two headers, both kept, in order
    (
        "distribution-two-headers",
        [
            'Bearer realm="https://auth.example.com/token",service="keep.example.com"',
            'Bearer realm="https://evil.example.net/token",service="drop.example.net"',
        ],
        [
            ("bearer", {"realm": "https://auth.example.com/token", "service": "keep.example.com"}),
            ("bearer", {"realm": "https://evil.example.net/token", "service": "drop.example.net"}),
        ],
    ),
    # containers/image TestParseValueAndParams
    (
        "containers-pull",
        [
            'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",'
            'scope="repository:library/busybox:pull"'
        ],
        [
            (
                "bearer",
                {
                    "realm": "https://auth.docker.io/token",
                    "service": "registry.docker.io",
                    "scope": "repository:library/busybox:pull",
                },
            )
        ],
    ),
    (
        "containers-pull-push",
        [
            'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",'
            'scope="repository:library/busybox:pull,push"'
        ],
        [
            (
                "bearer",
                {
                    "realm": "https://auth.docker.io/token",
                    "service": "registry.docker.io",
                    "scope": "repository:library/busybox:pull,push",
                },
            )
        ],
    ),
    (
        "containers-realm-only",
        ['Bearer realm="http://127.0.0.1:5000/openshift/token"'],
        [("bearer", {"realm": "http://127.0.0.1:5000/openshift/token"})],
    ),
    # regclient TestParseAuthHeader
    (
        "regclient-docker-hub",
        [
            'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",'
            'scope="repository:docker/docker:pull"'
        ],
        [
            (
                "bearer",
                {
                    "realm": "https://auth.docker.io/token",
                    "service": "registry.docker.io",
                    "scope": "repository:docker/docker:pull",
                },
            )
        ],
    ),
    (
        "regclient-github",
        ['Basic realm="GitHub Package Registry"'],
        [("basic", {"realm": "GitHub Package Registry"})],
    ),
    (
        "regclient-case",
        ['BaSiC ReAlM="Case insensitive key"'],
        [("basic", {"realm": "Case insensitive key"})],
    ),
    ("regclient-unquoted", ["Basic realm=unquoted"], [("basic", {"realm": "unquoted"})]),
    (
        "regclient-charset",
        ['Basic realm="Dev", charset="UTF-8"'],
        [("basic", {"realm": "Dev", "charset": "UTF-8"})],
    ),
    (
        "regclient-multiple",
        [
            'Bearer realm="https://auth.docker.io/token", service="registry.docker.io", '
            'scope="repository:docker/docker:pull", Basic realm="GitHub Package Registry"'
        ],
        [
            (
                "bearer",
                {
                    "realm": "https://auth.docker.io/token",
                    "service": "registry.docker.io",
                    "scope": "repository:docker/docker:pull",
                },
            ),
            ("basic", {"realm": "GitHub Package Registry"}),
        ],
    ),
]


@pytest.mark.parametrize(("values", "expected"), [r[1:] for r in AGREED], ids=[r[0] for r in AGREED])
def test_bi_challenge_reference_cases(values: list[str], expected: Expected) -> None:
    """#13 item 4: the references' parser cases give the same challenges here."""
    assert [(c.scheme, dict(c.params)) for c in parse_challenges(values)] == expected


@pytest.mark.parametrize(
    "value",
    [
        'Basic realm="Dev" charset="UTF-8"',  # regclient "Missing commas"
        'Basic realm="GitHub Package Registry',  # regclient "Missing close quote"
        'Basic realm="GitHub Package Registry\\\\',  # regclient "Missing value after escape"
        # Deliberate differences (module docstring): regclient reads these two, ocireg does not.
        "Basic realm=/",  # regclient "Basic unquoted token"
        '"Basic" "realm"=/',  # regclient "Quoted auth type and key"
    ],
)
def test_bi_challenge_alone_and_malformed_is_an_error(value: str) -> None:
    """#13 item 4: a malformed value with nothing usable beside it is still ChallengeError (exit 6)."""
    with pytest.raises(ChallengeError):
        parse_challenges([value])


BEARER = 'Bearer realm="https://gitlab.example.com/jwt/auth",service="container_registry"'
BEARER_PARAMS = {"realm": "https://gitlab.example.com/jwt/auth", "service": "container_registry"}


@pytest.mark.parametrize(
    "values",
    [
        [BEARER, "Basic realm=/"],  # the case: a second header that does not parse
        ["Basic realm=/", BEARER],  # in either order
        [BEARER, '"Basic" "realm"=/'],
        [BEARER, 'Basic realm="unterminated'],
        [BEARER, "x" * (16 * 1024 + 1)],  # an oversized second header
        [f"{BEARER}, Basic realm=/"],  # one header: the completed Bearer challenge is kept
    ],
)
def test_bi_challenge_malformed_second_challenge_keeps_the_good_one(values: list[str]) -> None:
    """#13 item 4: each header parses on its own; every challenge that parses is kept."""
    challenges = parse_challenges(values)
    assert [(c.scheme, dict(c.params)) for c in challenges] == [("bearer", BEARER_PARAMS)]
    assert usable_bearer(challenges) == challenges[0]


def test_bi_challenge_cut_short_is_dropped_whole() -> None:
    """#13 item 4, deliberate difference from Docker: a challenge whose parameters break is not kept in part."""
    challenges = parse_challenges(['Bearer realm="https://t/token", service=svc/x', 'Basic realm="r"'])
    assert [c.scheme for c in challenges] == ["basic"]


def test_bi_challenge_realmless_bearer_beside_basic_answers_basic() -> None:
    """#13 item 4: a Bearer challenge the flow cannot use (no realm) is skipped when Basic is offered."""
    challenges = parse_challenges(['Bearer service="s"', 'Basic realm="r"'])
    assert usable_bearer(challenges) is None
    auth = RegistrySession(Registry("registry.example.com"), Transport(TransportConfig()))
    header = auth.authorize(
        registry_url="https://registry.example.com",
        challenges=challenges,
        scopes=("repository:g/p:pull",),
        credential=Credential(username="u", password="p", source="test"),
        deadline=Deadline(5.0),
    )
    assert header.startswith("Basic ")
    with pytest.raises(ChallengeError, match="without a realm"):
        auth.authorize(
            registry_url="https://registry.example.com",
            challenges=parse_challenges(['Bearer service="s"']),
            scopes=("repository:g/p:pull",),
            credential=Credential(username="u", password="p", source="test"),
            deadline=Deadline(5.0),
        )
