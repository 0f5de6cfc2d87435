"""#13 item 5: the 255-character limit counts the repository path, not the host (current distribution/reference).

Cases transcribed from github.com/distribution/reference at commit 0965666a6ade2e06035fe352e38344be1e68951a:

* ``reference_test.go`` ``TestReferenceParse``: ``domain/`` + 256 × ``a`` is too long;
  ``a/`` × 127 + ``a:tag-puts-this-over-max`` is valid; ``example.com/`` + 255 × ``a`` is valid;
  ``TestParseRepositoryInfo``'s ``example.com/`` + 256 × ``a`` is too long (the limit is on the path since
  commit aaca75e "Exclude domain from name length check", released in v0.6.0);
* ``normalize_test.go`` ``TestValidateReferenceName``: the valid and invalid repository names.

Deliberate differences, each asserted below: distribution/reference takes an upper-case first component
(``Docker/docker``, ``LOCALDOMAIN/debian``) for a registry host; ocireg refuses it (exit 2), because it is
almost always a mistyped Docker Hub namespace and credentials must not go to a host nobody meant. And ocireg
accepts an IPv6 literal with an embedded IPv4 tail (``[2001:db8:3:4::192.0.2.33]``, valid by RFC 4291 §2.2),
which the reference's regular expression does not.
"""

from __future__ import annotations

import pytest

from ocireg.errors import InvalidReference
from ocireg.reference import parse_reference


@pytest.mark.parametrize(
    ("text", "registry", "path"),
    [
        ("a/" * 127 + "a:tag-puts-this-over-max", "docker.io", "a/" * 127 + "a"),
        ("example.com/" + "a" * 255 + ":tag", "example.com", "a" * 255),
        ("example.com/" + "a" * 255, "example.com", "a" * 255),
        ("localhost:5000/" + "a/" * 126 + "aaa", "localhost:5000", "a/" * 126 + "aaa"),
        # Docker Hub: the path counts with its library/ prefix (247 + 8 = 255)
        ("a" * 247, "docker.io", "library/" + "a" * 247),
    ],
)
def test_bi_reference_length_counts_the_path_only(text: str, registry: str, path: str) -> None:
    """#13 item 5: 255 characters of path are allowed whatever the host's length."""
    ref = parse_reference(text)
    assert ref.registry.name == registry
    assert ref.repository.path == path


@pytest.mark.parametrize(
    "text",
    [
        "domain/" + "a" * 256 + ":tag",  # no dot: Docker Hub, path domain/aaa... (263)
        "example.com/" + "a" * 256,
        "example.com/" + "a" * 256 + ":tag",
        "a" * 248,  # library/ + 248 = 256
    ],
)
def test_bi_reference_path_over_255_is_refused(text: str) -> None:
    """#13 item 5: a path of 256 characters is refused (exit 2)."""
    with pytest.raises(InvalidReference, match="longer than 255"):
        parse_reference(text)


# normalize_test.go TestValidateReferenceName
VALID = [
    "docker/docker",
    "library/debian",
    "debian",
    "localhost/library/debian",
    "localhost/debian",
    "docker.io/docker/docker",
    "docker.io/library/debian",
    "docker.io/debian",
    "index.docker.io/docker/docker",
    "index.docker.io/library/debian",
    "index.docker.io/debian",
    "127.0.0.1:5000/docker/docker",
    "127.0.0.1:5000/library/debian",
    "127.0.0.1:5000/debian",
    "192.168.0.1",
    "192.168.0.1:80",
    "192.168.0.1:8/debian",
    "192.168.0.2:25000/debian",
    "thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev",
    "[fc00::1]:5000/docker",
    "[fc00::1]:5000/docker/docker",
    "[fc00:1:2:3:4:5:6:7]:5000/library/debian",
    "docker.io/1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a",
]
VALID_THERE_REFUSED_HERE = [
    "LOCALDOMAIN/library/debian",
    "LOCALDOMAIN/debian",
    "Docker/docker",
    "DOCKER/docker",
]
INVALID = [
    "https://github.com/docker/docker",
    "docker/Docker",
    "-docker",
    "-docker/docker",
    "-docker.io/docker/docker",
    "docker///docker",
    "docker.io/docker/Docker",
    "docker.io/docker///docker",
    "[fc00::1]",
    "[fc00::1]:5000",
    "fc00::1:5000/debian",
    "[fe80::1%eth0]:5000/debian",
    "1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a",
]
INVALID_THERE_ACCEPTED_HERE = ["[2001:db8:3:4::192.0.2.33]:5000/debian"]


@pytest.mark.parametrize("text", VALID)
def test_bi_reference_valid_names_distribution(text: str) -> None:
    """#13 item 5: distribution/reference's valid names parse."""
    parse_reference(text)


@pytest.mark.parametrize("text", INVALID)
def test_bi_reference_invalid_names_distribution(text: str) -> None:
    """#13 item 5: distribution/reference's invalid names are refused (exit 2)."""
    with pytest.raises(InvalidReference):
        parse_reference(text)


@pytest.mark.parametrize("text", VALID_THERE_REFUSED_HERE)
def test_bi_reference_upper_case_first_component_is_refused(text: str) -> None:
    """#13, deliberate difference: Docker reads ``Docker/docker`` as host ``Docker``; ocireg refuses it."""
    with pytest.raises(InvalidReference, match="lowercase"):
        parse_reference(text)


@pytest.mark.parametrize("text", INVALID_THERE_ACCEPTED_HERE)
def test_bi_reference_ipv6_with_ipv4_tail_is_accepted(text: str) -> None:
    """#13, deliberate difference: an RFC 4291 IPv6 literal with a dotted IPv4 tail is a valid host here."""
    assert parse_reference(text).registry.port == 5000
