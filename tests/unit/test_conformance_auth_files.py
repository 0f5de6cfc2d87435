"""#13 items 2 and 3: podman's persistent auth file, and per-repository keys in the containers auth files.

Cases transcribed from github.com/containers/image at commit df7e80d2d19872b61f352a8a182ec934dc0c2346,
``pkg/docker/config/config_test.go``: ``TestGetAuth`` (every row that names a file, with the files of
``pkg/docker/config/testdata/`` copied below), ``TestAuthKeyLookupOrder``, and the file order of
``getAuthFilePaths`` / ``docs/containers-auth.json.5.md``.

Deliberate difference: containers/image reads per-repository keys from Docker's ``config.json`` too ("not a
feature of ~/.docker/config.json; we support it even for those files as an extension"). Docker matches its
file by host only (docker/cli ``cli/config/configfile``), and so does ocireg, so that a deploy gate checks with
the account ``docker pull`` will use; ``TestGetAuth``'s ``refpath.json`` rows therefore give the host key for
Docker's file, and ``auth explain`` lists the keys it did not read. Not transcribed: the rows that use
registries.conf credential helpers or a ``SystemContext`` (ocireg has neither).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ocireg.credentials import Chain, ConfigFileSource, docker_sources, held_secrets, namespace_key
from ocireg.errors import CredentialError
from ocireg.reference import parse_registry, parse_repository

# pkg/docker/config/testdata, byte for byte in content
TESTDATA: dict[str, object] = {
    "example.json": {"auths": {"example.org": {"auth": "ZXhhbXBsZTpvcmc="}}},
    "example_identitytoken.json": {
        "auths": {
            "example.org": {
                "auth": "MDAwMDAwMDAtMDAwMC0wMDAwLTAwMDAtMDAwMDAwMDAwMDAwOg==",
                "identitytoken": "some very long identity token",
            }
        }
    },
    "empty.json": {},
    "full.json": {
        "auths": {
            "example.org": {"auth": "ZXhhbXBsZTpvcmc="},
            "index.docker.io": {"auth": "aW5kZXg6ZG9ja2VyLmlv"},
            "docker.io": {"auth": "ZG9ja2VyOmlv"},
            "localhost": {"auth": "bG9jYWw6aG9zdA=="},
            "localhost:5000": {"auth": "bG9jYWw6aG9zdC01MDAw"},
            "10.10.30.45": {"auth": "MTAuMTA6MzAuNDU="},
            "10.10.30.45:5000": {"auth": "MTAuMTA6MzAuNDUtNTAwMA=="},
            "https://normalize.example.org/v1": {"auth": "bm9ybWFsaXplOmV4YW1wbGU="},
        }
    },
    "abnormal.json": {
        "auths": {
            "example.org": {"auth": "ZXhhbXBsZTpvcmc="},
            "https://index.docker.io/v1": {"auth": "aW5kZXg6ZG9ja2VyLmlv"},
            "https://127.0.0.1:5000": {"auth": "MTI3LjA6MC4xLTUwMDA="},
            "http://localhost": {"auth": "bG9jYWw6aG9zdA=="},
            "https://localhost:5001": {"auth": "bG9jYWw6aG9zdC01MDAx"},
            "localhost:5000": {"auth": "bG9jYWw6aG9zdC01MDAw"},
        }
    },
    "refpath.json": {
        "auths": {
            "example.org/repo": {"auth": "ZXhhbXBsZTpvcmc="},
            "example.org": {"auth": "bG9jYWw6aG9zdA=="},
            "docker.io/vendor": {"auth": "Zmlyc3Q6bGV2ZWw="},
            "docker.io": {"auth": "dG9wOmxldmVs"},
            "docker.io/library/busybox": {"auth": "bGlicmFyeTpidXN5Ym94"},
            "docker.io/library": {"auth": "bGlicmFyeTpvdGhlcg=="},
        }
    },
}

Expect = tuple[str, str] | None  # (username, password), None = no credential

# TestGetAuth rows with a file: (name, key, file, expected in a containers file, expected in Docker's file)
GET_AUTH: list[tuple[str, str, str, Expect, Expect]] = [
    ("match one", "example.org", "example.json", ("example", "org"), ("example", "org")),
    ("match none", "registry.example.org", "example.json", None, None),
    ("match docker.io", "docker.io", "full.json", ("docker", "io"), ("docker", "io")),
    ("match docker.io normalized", "docker.io", "abnormal.json", ("index", "docker.io"), ("index", "docker.io")),
    ("normalize registry", "normalize.example.org", "full.json", ("normalize", "example"), ("normalize", "example")),
    ("match localhost", "localhost", "full.json", ("local", "host"), ("local", "host")),
    ("match ip", "10.10.30.45:5000", "full.json", ("10.10", "30.45-5000"), ("10.10", "30.45-5000")),
    ("match port", "localhost:5000", "abnormal.json", ("local", "host-5000"), ("local", "host-5000")),
    ("match none (empty.json)", "localhost:5000", "empty.json", None, None),
    # Docker's file: host only (deliberate difference)
    ("match ref image", "example.org/repo/image", "refpath.json", ("example", "org"), ("local", "host")),
    ("match ref repo", "example.org/repo", "refpath.json", ("example", "org"), ("local", "host")),
    ("match ref host", "example.org/image", "refpath.json", ("local", "host"), ("local", "host")),
    ("docker.io library repo match", "docker.io/library/busybox", "refpath.json", ("library", "busybox"), ("top", "level")),
    ("docker.io library namespace match", "docker.io/library/notbusybox", "refpath.json", ("library", "other"), ("top", "level")),
    ("docker.io vendor repo match", "docker.io/vendor/product", "refpath.json", ("first", "level"), ("top", "level")),
    ("docker.io vendor namespace match", "docker.io/vendor", "refpath.json", ("first", "level"), ("top", "level")),
    ("docker.io host-only match", "docker.io/other-vendor/other-product", "refpath.json", ("top", "level"), ("top", "level")),
]  # fmt: skip


def _lookup(tmp_path: Path, file: str, key: str, *, namespaces: bool) -> Expect:
    path = tmp_path / "auth.json"
    path.write_text(json.dumps(TESTDATA[file]))
    source = ConfigFileSource(path, env={}, namespaces=namespaces)
    host, _, repo_path = key.partition("/")
    registry = parse_registry(host)
    cred = source.lookup_in(registry, repo_path) if repo_path else source.lookup(registry)
    if cred is None:
        return None
    return (cred.username or "", cred.password or "")


@pytest.mark.parametrize(
    ("key", "file", "containers", "docker"), [r[1:] for r in GET_AUTH], ids=[r[0] for r in GET_AUTH]
)
def test_sec_auth_file_get_auth_containers_image(
    tmp_path: Path, key: str, file: str, containers: Expect, docker: Expect
) -> None:
    """#13 item 3: containers/image TestGetAuth, in a containers auth file and in Docker's config.json."""
    assert _lookup(tmp_path, file, key, namespaces=True) == containers
    assert _lookup(tmp_path, file, key, namespaces=False) == docker


def test_sec_auth_file_identity_token_containers_image(tmp_path: Path) -> None:
    """#13 item 3: containers/image TestGetAuth "identity token"."""
    path = tmp_path / "auth.json"
    path.write_text(json.dumps(TESTDATA["example_identitytoken.json"]))
    cred = ConfigFileSource(path, env={}, namespaces=True).lookup_in(parse_registry("example.org"), "a/b")
    assert cred is not None
    assert cred.username == "00000000-0000-0000-0000-000000000000"
    assert cred.password is None
    assert cred.identity_token == "some very long identity token"


# TestAuthKeyLookupOrder: the keys tried, most specific first
LOOKUP_ORDER = [
    ("quay.io/image", ["quay.io/image", "quay.io"]),
    ("quay.io/user/image", ["quay.io/user/image", "quay.io/user", "quay.io"]),
    (
        "quay.io/a/b/c/d/image",
        ["quay.io/a/b/c/d/image", "quay.io/a/b/c/d", "quay.io/a/b/c", "quay.io/a/b", "quay.io/a", "quay.io"],
    ),
    ("docker.io/library/busybox", ["docker.io/library/busybox", "docker.io/library", "docker.io"]),
    ("docker.io/vendor/busybox", ["docker.io/vendor/busybox", "docker.io/vendor", "docker.io"]),
]


@pytest.mark.parametrize(("name", "order"), LOOKUP_ORDER, ids=[n for n, _ in LOOKUP_ORDER])
def test_sec_auth_file_lookup_order_containers_image(tmp_path: Path, name: str, order: list[str]) -> None:
    """#13 item 3: TestAuthKeyLookupOrder: with the keys order[i:] present, order[i] is the one used (the longest
    namespace wins, then the host); in Docker's file only the host key ever is."""
    repository = parse_repository(name)
    for i, expected in enumerate(order):
        auths = {key: {"username": key, "password": "p"} for key in order[i:]}
        path = tmp_path / f"{i}.json"
        path.write_text(json.dumps({"auths": auths}))
        containers = ConfigFileSource(path, env={}, namespaces=True)
        docker = ConfigFileSource(path, env={}, namespaces=False)
        found = containers.lookup_in(repository.registry, repository.path)
        assert found is not None and found.username == expected
        host_only = docker.lookup_in(repository.registry, repository.path)
        assert host_only is not None and host_only.username == order[-1]


@pytest.mark.parametrize(
    ("key", "name"),
    [
        ("registry.example.com/group/project", "registry.example.com/group/project"),
        ("index.docker.io/library", "docker.io/library"),
        ("localhost:5000/a", "localhost:5000/a"),
        (" registry.example.com/group ", "registry.example.com/group"),
        # not namespace keys (containers/image validateKey refuses to write them; they match no repository)
        ("registry.example.com", None),
        ("registry.example.com/", None),
        ("https://registry.example.com/group", None),
        ("registry.example.com/group:tag", None),
        ("registry.example.com/group@sha256:abc", None),
        ("registry.example.com/Group", None),
        ("registry.example.com//group", None),
        ("user@registry.example.com/group", None),
    ],
)
def test_sec_auth_file_namespace_keys(key: str, name: str | None) -> None:
    """#13 item 3: which ``auths`` keys name a namespace; never a prefix or substring of a component."""
    assert namespace_key(key) == name


def test_sec_auth_file_namespace_matches_whole_components(tmp_path: Path) -> None:
    """#13 item 3: ``host/group`` covers ``host/group/app`` but never ``host/groupie``."""
    path = tmp_path / "auth.json"
    path.write_text(json.dumps({"auths": {"r.example.com/group": {"auth": "YTpi"}}}))
    source = ConfigFileSource(path, env={}, namespaces=True)
    registry = parse_registry("r.example.com")
    assert source.lookup_in(registry, "group/app") is not None
    assert source.lookup_in(registry, "groupie/app") is None


def test_sec_auth_file_helper_stays_authoritative(tmp_path: Path) -> None:
    """#13 item 3: a credsStore answers for the host before any ``auths`` key, namespaced or not (as in Docker)."""
    path = tmp_path / "auth.json"
    path.write_text(
        json.dumps({"credsStore": "ocireg-missing", "auths": {"r.example.com/group": {"auth": "YTpi"}}})
    )
    source = ConfigFileSource(path, env={"PATH": str(tmp_path)}, namespaces=True)
    with pytest.raises(CredentialError, match="docker-credential-ocireg-missing not found"):
        source.lookup_in(parse_registry("r.example.com"), "group/app")


def test_sec_auth_file_explain_names_the_key(tmp_path: Path) -> None:
    """#13 item 3: ``auth explain`` says which key matched, and which keys Docker's file did not read."""
    podman = tmp_path / "podman.json"
    podman.write_text(json.dumps({"auths": {"r.example.com/group/project": {"auth": "YWxpY2U6cA=="}}}))
    docker = tmp_path / "docker.json"
    docker.write_text(
        json.dumps(
            {"auths": {"r.example.com": {"auth": "Ym9iOnA="}, "r.example.com/group": {"auth": "eDp5"}}}
        )
    )
    registry = parse_registry("r.example.com")
    chain = Chain([ConfigFileSource(podman, env={}, namespaces=True)])
    ((_, outcome),) = chain.explain(registry, "group/project/image")
    assert outcome.endswith("key 'r.example.com/group/project'")
    assert "user 'alice'" in outcome
    chain = Chain([ConfigFileSource(docker, env={}, namespaces=False)])
    ((_, outcome),) = chain.explain(registry, "group/project")
    assert "user 'bob'" in outcome
    assert "per-repository keys are not read here" in outcome
    assert "'r.example.com/group'" in outcome


def test_sec_auth_file_order_podman_persistent_file(tmp_path: Path) -> None:
    """#13 item 2: REGISTRY_AUTH_FILE, then ${XDG_RUNTIME_DIR}, then ${XDG_CONFIG_HOME:-~/.config}, then Docker's
    file (containers-auth.json(5)); each found when the ones above it have nothing."""
    home = tmp_path / "home"
    files = {
        "REGISTRY_AUTH_FILE": tmp_path / "override.json",
        "runtime": tmp_path / "run" / "containers" / "auth.json",
        "config": tmp_path / "cfg" / "containers" / "auth.json",
        "home-config": home / ".config" / "containers" / "auth.json",
        "docker": home / ".docker" / "config.json",
    }
    env = {
        "REGISTRY_AUTH_FILE": str(files["REGISTRY_AUTH_FILE"]),
        "XDG_RUNTIME_DIR": str(tmp_path / "run"),
        "XDG_CONFIG_HOME": str(tmp_path / "cfg"),
    }
    for path in files.values():
        path.parent.mkdir(parents=True, exist_ok=True)
    registry = parse_registry("r.example.com")
    order = ["REGISTRY_AUTH_FILE", "runtime", "config", "docker"]
    for i, level in enumerate(order):
        for other in order:
            files[other].unlink(missing_ok=True)
        for present in order[i:]:
            files[present].write_text(
                json.dumps({"auths": {"r.example.com": {"username": present, "password": "p"}}})
            )
        assert Chain(docker_sources(env, home)).lookup(registry).username == level
    # Without XDG_CONFIG_HOME the persistent file is ~/.config/containers/auth.json.
    for other in order:
        files[other].unlink(missing_ok=True)
    files["home-config"].write_text(
        json.dumps({"auths": {"r.example.com": {"username": "home", "password": "p"}}})
    )
    assert Chain(docker_sources({}, home)).lookup(registry).username == "home"


def test_sec_auth_file_namespace_secrets_are_held(tmp_path: Path) -> None:
    """#13 item 3 with #14's rule: a password under a per-repository key is a held secret too (a deploy file
    must not expand it), in a containers file and in Docker's file alike."""
    for namespaces in (True, False):
        path = tmp_path / f"{namespaces}.json"
        path.write_text(
            json.dumps({"auths": {"r.example.com/group": {"username": "u", "password": "ns-secret-1"}}})
        )
        chain = Chain([ConfigFileSource(path, env={}, namespaces=namespaces)])
        assert "ns-secret-1" in held_secrets(chain)


def test_sec_per_repository_lookup_keeps_one_identity_per_account(tmp_path: Path) -> None:
    """#13 item 3: the client asks per repository, but one account stays one object (its fingerprint, a slow
    hash, is computed once per batch); a namespace key gives another identity only where it matches."""
    from ocireg.client import RegistryClient
    from ocireg.credentials import EnvSource

    path = tmp_path / "auth.json"
    path.write_text(json.dumps({"auths": {"r.example.com/group": {"username": "alice", "password": "a"}}}))
    chain = Chain(
        [
            ConfigFileSource(path, env={}, namespaces=True),
            EnvSource({"OCIREG_USERNAME": "bob", "OCIREG_PASSWORD": "b"}),
        ]
    )
    registry = parse_registry("r.example.com")
    with RegistryClient(chain) as client:
        one, two = client.credential_for(registry, "app/one"), client.credential_for(registry, "app/two")
        assert one is two and one.username == "bob"
        assert client.credential_for(registry, "group/app").username == "alice"
        assert client.credential_for(registry) is one
