"""Unit tests of ocireg.credentials: precedence, key matching, config formats, helpers, redaction.

No network. Every test passes its own env mapping and home directory; nothing reads the real environment
or the developer's ``~/.docker/config.json``. Helpers are exercised with
tests/helpers/docker-credential-ocireg-test.
"""

from __future__ import annotations

import ast
import base64
import json
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import pytest

from ocireg import credentials as credmod
from ocireg.credentials import (
    ANONYMOUS,
    Chain,
    ConfigFileSource,
    Credential,
    DockerAuthConfigSource,
    EnvSource,
    HelperCredentialsNotFound,
    StaticSource,
    default_chain,
    docker_sources,
    registry_key,
    run_helper,
)
from ocireg.errors import CredentialError, OciregError
from ocireg.reference import Registry

HELPERS = Path(__file__).resolve().parent.parent / "helpers"
HELPER = "ocireg-test"
EXAMPLE = Registry("registry.example.com")
HUB = Registry("docker.io")
SECRET = "s3cr3t-Canary-Pa55word"


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def write_json(path: Path, doc: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def auths(host: str, user: str, password: str = SECRET) -> dict[str, object]:
    return {"auths": {host: {"auth": b64(f"{user}:{password}")}}}


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "cred-home"
    path.mkdir()
    return path


@pytest.fixture
def base_env(tmp_path: Path) -> dict[str, str]:
    """A clean environment: PATH holds the test helper and Python (the helper's interpreter), nothing else."""
    path = f"{HELPERS}:{Path(sys.executable).parent}:/usr/bin:/bin"
    return {"PATH": path, "HOME": str(tmp_path / "home")}


@pytest.fixture
def helper_store(tmp_path: Path, base_env: dict[str, str]) -> Path:
    store = tmp_path / "helper-store.json"
    write_json(
        store,
        {
            "registry.example.com": {"Username": "helper-user", "Secret": SECRET},
            "https://index.docker.io/v1/": {"Username": "hub-helper", "Secret": SECRET},
            "token.example.com": {"Username": "<token>", "Secret": "refresh-" + SECRET},
            "localhost:5000": {"Username": "local", "Secret": SECRET},
        },
    )
    base_env["OCIREG_TEST_HELPER_STORE"] = str(store)
    base_env["OCIREG_TEST_HELPER_LOG"] = str(tmp_path / "helper-log.jsonl")
    return store


def helper_calls(env: Mapping[str, str]) -> list[dict[str, str]]:
    log = Path(env["OCIREG_TEST_HELPER_LOG"])
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text().splitlines()]


def test_helper_script_is_executable() -> None:
    script = HELPERS / "docker-credential-ocireg-test"
    assert script.exists()
    assert script.stat().st_mode & 0o111
    assert script.read_text().startswith("#!/usr/bin/env python3\n")


# ------------------------------------------------------------------------------------------------- precedence

LEVELS = [
    "explicit",
    "env",
    "extra",
    "DOCKER_AUTH_CONFIG",
    "REGISTRY_AUTH_FILE",
    "XDG_RUNTIME_DIR",
    "DOCKER_CONFIG",
    "home",
]


class _Extra:
    """Stands in for the GitLab CI source the CLI passes as ``extra``."""

    name = "GitLab CI (CI_JOB_TOKEN)"

    def lookup(self, registry: Registry) -> Credential | None:
        if registry != EXAMPLE:
            return None
        return Credential(username="gitlab-ci-token", password=SECRET, source=self.name)


def build_levels(tmp_path: Path, home: Path, present: set[str]) -> tuple[dict[str, str], Chain]:
    env: dict[str, str] = {"PATH": "/nonexistent"}
    host = "registry.example.com"
    if "env" in present:
        env["OCIREG_USERNAME"] = "env"
        env["OCIREG_PASSWORD"] = SECRET
    if "DOCKER_AUTH_CONFIG" in present:
        env["DOCKER_AUTH_CONFIG"] = json.dumps(auths(host, "DOCKER_AUTH_CONFIG"))
    if "REGISTRY_AUTH_FILE" in present:
        env["REGISTRY_AUTH_FILE"] = str(
            write_json(tmp_path / "raf" / "auth.json", auths(host, "REGISTRY_AUTH_FILE"))
        )
    runtime = tmp_path / "run"
    env["XDG_RUNTIME_DIR"] = str(runtime)
    if "XDG_RUNTIME_DIR" in present:
        write_json(runtime / "containers" / "auth.json", auths(host, "XDG_RUNTIME_DIR"))
    if "DOCKER_CONFIG" in present:
        env["DOCKER_CONFIG"] = str(tmp_path / "dockercfg")
        write_json(tmp_path / "dockercfg" / "config.json", auths(host, "DOCKER_CONFIG"))
    if "home" in present:
        write_json(home / ".docker" / "config.json", auths(host, "home"))
    explicit = (
        Credential(username="explicit", password=SECRET, source="--username/--password-stdin")
        if "explicit" in present
        else None
    )
    extra = [_Extra()] if "extra" in present else []
    return env, default_chain(env, home, explicit=explicit, extra=extra)


@pytest.mark.parametrize("top", range(len(LEVELS)), ids=LEVELS)
def test_precedence_each_level_beats_the_next(tmp_path: Path, home: Path, top: int) -> None:
    """docs/architecture.md §3 precedence: with every level from ``top`` down configured, ``top`` wins."""
    present = set(LEVELS[top:])
    _, chain = build_levels(tmp_path, home, present)
    cred = chain.lookup(EXAMPLE)
    expected = "gitlab-ci-token" if LEVELS[top] == "extra" else LEVELS[top]
    assert cred.username == expected
    assert cred.password == SECRET


def test_precedence_only_lower_level_present(tmp_path: Path, home: Path) -> None:
    """Each level alone is found (nothing above it shadows it by accident)."""
    for level in LEVELS:
        _, chain = build_levels(tmp_path / level, home, {level})
        expected = "gitlab-ci-token" if level == "extra" else level
        assert chain.lookup(EXAMPLE).username == expected, level
        (home / ".docker" / "config.json").unlink(missing_ok=True)


def test_docker_config_replaces_home_config(tmp_path: Path, home: Path) -> None:
    """$DOCKER_CONFIG/config.json is used instead of ~/.docker/config.json, not before it."""
    write_json(home / ".docker" / "config.json", auths("registry.example.com", "home"))
    env = {"DOCKER_CONFIG": str(tmp_path / "empty-dockercfg")}
    assert Chain(docker_sources(env, home)).lookup(EXAMPLE).is_anonymous
    assert Chain(docker_sources({}, home)).lookup(EXAMPLE).username == "home"


def test_docker_sources_order_and_names(tmp_path: Path, home: Path) -> None:
    env = {
        "REGISTRY_AUTH_FILE": str(tmp_path / "a.json"),
        "XDG_RUNTIME_DIR": str(tmp_path / "run"),
        "DOCKER_CONFIG": str(tmp_path / "dc"),
    }
    names = [source.name for source in docker_sources(env, home)]
    assert names == [
        "DOCKER_AUTH_CONFIG",
        str(tmp_path / "a.json"),
        str(tmp_path / "run" / "containers" / "auth.json"),
        # #13 item 2: podman's persistent file (XDG_CONFIG_HOME unset: ~/.config)
        str(home / ".config" / "containers" / "auth.json"),
        str(tmp_path / "dc" / "config.json"),
    ]
    names = [source.name for source in docker_sources({}, home)]
    assert names == [
        "DOCKER_AUTH_CONFIG",
        str(home / ".config" / "containers" / "auth.json"),
        str(home / ".docker" / "config.json"),
    ]


def test_default_chain_order(home: Path) -> None:
    explicit = Credential(username="u", password=SECRET, source="--username/--password-stdin")
    chain = default_chain({}, home, explicit=explicit, extra=[_Extra()])
    assert [source.name for source in chain.sources][:4] == [
        "--username/--password-stdin",
        "OCIREG_USERNAME/OCIREG_PASSWORD",
        "GitLab CI (CI_JOB_TOKEN)",
        "DOCKER_AUTH_CONFIG",
    ]


def test_anonymous_when_nothing_configured(home: Path) -> None:
    """Level 5: anonymous, with a source text naming the sources that were asked."""
    chain = default_chain({}, home)
    cred = chain.lookup(EXAMPLE)
    assert cred.is_anonymous
    assert cred.source.startswith("anonymous (no credential for registry.example.com in: ")
    assert "OCIREG_USERNAME/OCIREG_PASSWORD" in cred.source
    assert "DOCKER_AUTH_CONFIG" in cred.source
    assert cred.describe() == cred.source


def test_explicit_credential_with_only_restriction() -> None:
    """SEC: credential selection by exact host — an explicit credential limited to one registry."""
    cred = Credential(username="u", password=SECRET, source="--username/--password-stdin")
    source = StaticSource(cred, only=EXAMPLE)
    assert source.lookup(EXAMPLE) is cred
    assert source.lookup(Registry("registry.example.com:5000")) is None
    assert StaticSource(cred).lookup(HUB) is cred


# ------------------------------------------------------------------------------------------------- env source


def test_env_source_both_set() -> None:
    cred = EnvSource({"OCIREG_USERNAME": "alice", "OCIREG_PASSWORD": SECRET}).lookup(EXAMPLE)
    assert cred == Credential(username="alice", password=SECRET, source="OCIREG_USERNAME/OCIREG_PASSWORD")


def test_env_source_unset_or_empty() -> None:
    assert EnvSource({}).lookup(EXAMPLE) is None
    assert EnvSource({"OCIREG_USERNAME": "", "OCIREG_PASSWORD": ""}).lookup(EXAMPLE) is None


@pytest.mark.parametrize(
    ("env", "missing"),
    [
        ({"OCIREG_USERNAME": "alice"}, "OCIREG_PASSWORD"),
        ({"OCIREG_USERNAME": "alice", "OCIREG_PASSWORD": ""}, "OCIREG_PASSWORD"),
        ({"OCIREG_PASSWORD": SECRET}, "OCIREG_USERNAME"),
    ],
)
def test_env_source_half_set_is_an_error(env: dict[str, str], missing: str) -> None:
    """BI: broken credential configuration — one of OCIREG_USERNAME/OCIREG_PASSWORD without the other."""
    with pytest.raises(CredentialError) as info:
        EnvSource(env).lookup(EXAMPLE)
    assert f"{missing} is missing" in str(info.value)
    assert SECRET not in str(info.value)


# ----------------------------------------------------------------------------------------------- key matching


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("https://index.docker.io/v1/", "docker.io"),
        ("https://index.docker.io/v1", "docker.io"),
        ("index.docker.io", "docker.io"),
        ("docker.io", "docker.io"),
        ("registry-1.docker.io", "docker.io"),
        ("https://registry-1.docker.io/v2/", "docker.io"),
        ("http://host:5000/", "host:5000"),
        ("https://host:5000", "host:5000"),
        ("host:5000", "host:5000"),
        ("Registry.Example.COM", "registry.example.com"),
        ("registry.example.com/", "registry.example.com"),
        ("localhost:5000", "localhost:5000"),
        ("[::1]:5000", "[::1]:5000"),
        ("quay.io/org/repo", None),
        ("registry.example.com/group", None),
        ("https://registry.example.com/group/project", None),
        ("ftp://registry.example.com", None),
        ("user@registry.example.com", None),
        ("https://user:pw@registry.example.com/", None),
        ("", None),
        ("not a host", None),
    ],
)
def test_registry_key(key: str, expected: str | None) -> None:
    """SEC: credential selection by exact host — config keys normalise to host[:port] or are ignored."""
    assert registry_key(key) == expected


@pytest.mark.parametrize(
    "key", ["https://index.docker.io/v1/", "index.docker.io", "docker.io", "registry-1.docker.io"]
)
@pytest.mark.parametrize("asked", ["docker.io", "index.docker.io", "registry-1.docker.io"])
def test_docker_hub_aliases_are_one_key(tmp_path: Path, key: str, asked: str) -> None:
    """SEC: credential selection by exact host — Docker Hub aliases are one key."""
    path = write_json(tmp_path / "config.json", auths(key, "hubuser"))
    cred = ConfigFileSource(path, env={}).lookup(Registry(asked))
    assert cred is not None
    assert cred.username == "hubuser"


def test_docker_hub_canonical_key_wins_over_alias(tmp_path: Path) -> None:
    doc = {
        "auths": {
            "registry-1.docker.io": {"auth": b64("alias:x")},
            "https://index.docker.io/v1/": {"auth": b64("canonical:y")},
        }
    }
    cred = ConfigFileSource(write_json(tmp_path / "c.json", doc), env={}).lookup(HUB)
    assert cred is not None
    assert cred.username == "canonical"


@pytest.mark.parametrize(
    "asked",
    [
        "registry.example.com.evil",
        "example.com",
        "evil.registry.example.com",
        "registry.example.com:5000",
        "registry.example.co",
        "docker.io",
    ],
)
def test_exact_host_match_only(tmp_path: Path, asked: str) -> None:
    """SEC: credential selection by exact host — no prefix, suffix or substring matching."""
    path = write_json(tmp_path / "config.json", auths("registry.example.com", "alice"))
    source = ConfigFileSource(path, env={})
    assert source.lookup(Registry(asked)) is None
    assert source.lookup(EXAMPLE) is not None


def test_parent_domain_key_does_not_match_subdomain(tmp_path: Path) -> None:
    """SEC: credential selection by exact host — key example.com ≠ registry.example.com."""
    path = write_json(tmp_path / "config.json", auths("example.com", "alice"))
    assert ConfigFileSource(path, env={}).lookup(EXAMPLE) is None


def test_port_is_part_of_the_key(tmp_path: Path) -> None:
    """SEC: credential selection by exact host — host:5000 and host are different keys."""
    path = write_json(tmp_path / "config.json", auths("localhost:5000", "alice"))
    source = ConfigFileSource(path, env={})
    assert source.lookup(Registry("localhost:5000")) is not None
    assert source.lookup(Registry("localhost")) is None
    assert source.lookup(Registry("localhost:5001")) is None


def test_per_repository_keys_are_ignored(tmp_path: Path) -> None:
    """SEC: credential selection by exact host — podman per-repository keys are ignored."""
    doc = {"auths": {"registry.example.com/group/project": {"auth": b64("repo:x")}}}
    path = write_json(tmp_path / "auth.json", doc)
    assert ConfigFileSource(path, env={}).lookup(EXAMPLE) is None


def test_url_style_key_matches_host(tmp_path: Path) -> None:
    path = write_json(tmp_path / "config.json", auths("https://registry.example.com/v2/", "alice"))
    cred = ConfigFileSource(path, env={}).lookup(EXAMPLE)
    assert cred is not None
    assert cred.username == "alice"


# ------------------------------------------------------------------------------------------------- auth forms


def test_auth_base64_form(tmp_path: Path) -> None:
    path = write_json(tmp_path / "config.json", auths("registry.example.com", "alice", "pa:ss:word"))
    cred = ConfigFileSource(path, env={}).lookup(EXAMPLE)
    assert cred == Credential(username="alice", password="pa:ss:word", source=f"{path} (auths)")


def test_auth_without_padding_is_accepted(tmp_path: Path) -> None:
    encoded = b64("ab:c").rstrip("=")
    path = write_json(tmp_path / "config.json", {"auths": {"registry.example.com": {"auth": encoded}}})
    cred = ConfigFileSource(path, env={}).lookup(EXAMPLE)
    assert cred is not None
    assert (cred.username, cred.password) == ("ab", "c")


def test_username_password_form(tmp_path: Path) -> None:
    doc = {"auths": {"registry.example.com": {"username": "bob", "password": SECRET}}}
    cred = ConfigFileSource(write_json(tmp_path / "auth.json", doc), env={}).lookup(EXAMPLE)
    assert cred is not None
    assert (cred.username, cred.password) == ("bob", SECRET)


def test_auth_wins_over_username_password(tmp_path: Path) -> None:
    doc = {"auths": {"registry.example.com": {"auth": b64("alice:a"), "username": "bob", "password": "b"}}}
    cred = ConfigFileSource(write_json(tmp_path / "config.json", doc), env={}).lookup(EXAMPLE)
    assert cred is not None
    assert (cred.username, cred.password) == ("alice", "a")


def test_identitytoken(tmp_path: Path) -> None:
    doc = {"auths": {"registry.example.com": {"auth": b64("alice:"), "identitytoken": "refresh-" + SECRET}}}
    cred = ConfigFileSource(write_json(tmp_path / "config.json", doc), env={}).lookup(EXAMPLE)
    assert cred is not None
    assert cred.identity_token == "refresh-" + SECRET
    assert cred.username == "alice"
    assert cred.password is None
    assert cred.describe().startswith("identity token (user 'alice') from ")


def test_identitytoken_alone(tmp_path: Path) -> None:
    doc = {"auths": {"registry.example.com": {"identitytoken": "refresh-" + SECRET}}}
    cred = ConfigFileSource(write_json(tmp_path / "config.json", doc), env={}).lookup(EXAMPLE)
    assert cred is not None
    assert cred.identity_token == "refresh-" + SECRET
    assert cred.username is None


def test_registrytoken(tmp_path: Path) -> None:
    doc = {"auths": {"registry.example.com": {"registrytoken": "bearer-" + SECRET}}}
    cred = ConfigFileSource(write_json(tmp_path / "config.json", doc), env={}).lookup(EXAMPLE)
    assert cred is not None
    assert cred.registry_token == "bearer-" + SECRET
    assert not cred.is_anonymous
    assert cred.describe().startswith("registry token from ")


def test_empty_entry_is_no_credential(tmp_path: Path) -> None:
    """``docker login`` with a credsStore leaves ``auths: {host: {}}``: that alone holds nothing."""
    doc = {"auths": {"registry.example.com": {}, "other.example.com": {"email": "a@b"}}}
    source = ConfigFileSource(write_json(tmp_path / "config.json", doc), env={})
    assert source.lookup(EXAMPLE) is None
    assert source.lookup(Registry("other.example.com")) is None


def test_missing_file_is_silently_no_source(tmp_path: Path) -> None:
    source = ConfigFileSource(tmp_path / "nope" / "config.json", env={})
    assert source.lookup(EXAMPLE) is None
    assert Chain([source]).explain(EXAMPLE)[0] == (str(tmp_path / "nope" / "config.json"), "file not found")


def test_label_names_the_source(tmp_path: Path) -> None:
    path = write_json(tmp_path / "config.json", auths("registry.example.com", "alice"))
    cred = ConfigFileSource(path, env={}, label="~/.docker/config.json").lookup(EXAMPLE)
    assert cred is not None
    assert cred.source == "~/.docker/config.json (auths)"


# ------------------------------------------------------------------------------------------ malformed configs

MALFORMED: list[tuple[str, str]] = [
    ("{not json", "not valid JSON"),
    ("[]", "not a JSON object"),
    ('{"auths": []}', '"auths" is not a JSON object'),
    ('{"auths": {"registry.example.com": "x"}}', "is not a JSON object"),
    ('{"auths": {"registry.example.com": {"auth": "!!!not base64!!!"}}}', "not base64"),
    ('{"auths": {"registry.example.com": {"auth": "' + b64("nocolon") + '"}}}', "USER:PASSWORD"),
    ('{"auths": {"registry.example.com": {"username": 5}}}', '"username" is not a string'),
    ('{"credHelpers": []}', '"credHelpers" is not a JSON object'),
    ('{"credHelpers": {"registry.example.com": 7}}', "not a credential helper name"),
    ('{"credHelpers": {"registry.example.com": "../../bin/sh"}}', "not a credential helper name"),
    ('{"credsStore": "a b"}', '"credsStore" is not a credential helper name'),
    ('{"credsStore": 3}', '"credsStore" is not a credential helper name'),
    # BI: a registrytoken a header cannot carry used to escape as UnicodeEncodeError (an internal error)
    (
        '{"auths": {"registry.example.com": {"registrytoken": "t\u00f6ken"}}}',
        '"registrytoken" holds characters',
    ),
    (
        '{"auths": {"registry.example.com": {"registrytoken": "a\\r\\nX: y"}}}',
        '"registrytoken" holds characters',
    ),
]


@pytest.mark.parametrize(("text", "message"), MALFORMED)
def test_malformed_config_names_the_file(tmp_path: Path, text: str, message: str) -> None:
    """BI: broken credential configuration — malformed config.json → CredentialError naming it."""
    path = tmp_path / "config.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(CredentialError) as info:
        ConfigFileSource(path, env={}).lookup(EXAMPLE)
    assert str(path) in str(info.value)
    assert message in str(info.value)
    assert isinstance(info.value, OciregError)


def test_malformed_config_in_chain_is_not_skipped(tmp_path: Path, home: Path) -> None:
    """BI: broken credential configuration — a broken source stops the lookup, no silent fallback."""
    (home / ".docker").mkdir()
    (home / ".docker" / "config.json").write_text("{oops", encoding="utf-8")
    chain = default_chain({}, home)
    with pytest.raises(CredentialError, match=r"config\.json: not valid JSON"):
        chain.lookup(EXAMPLE)


def test_invalid_utf8_config(tmp_path: Path) -> None:
    """BI: invalid UTF-8 in config.json."""
    path = tmp_path / "config.json"
    path.write_bytes(b'{"auths": {"\xff": {}}}')
    with pytest.raises(CredentialError, match="not valid JSON"):
        ConfigFileSource(path, env={}).lookup(EXAMPLE)


def test_bad_base64_error_does_not_show_the_value(tmp_path: Path) -> None:
    """SEC: redaction — the error for an undecodable auth never repeats it."""
    value = b64(SECRET)  # valid base64, but no colon
    path = write_json(tmp_path / "config.json", {"auths": {"registry.example.com": {"auth": value}}})
    with pytest.raises(CredentialError) as info:
        ConfigFileSource(path, env={}).lookup(EXAMPLE)
    assert value not in str(info.value)
    assert SECRET not in str(info.value)
    assert SECRET not in (info.value.hint or "")


def test_other_hosts_broken_entry_does_not_block(tmp_path: Path) -> None:
    doc = {"auths": {"registry.example.com": {"auth": b64("alice:x")}, "other.example.com": {"auth": "%%%"}}}
    cred = ConfigFileSource(write_json(tmp_path / "config.json", doc), env={}).lookup(EXAMPLE)
    assert cred is not None
    assert cred.username == "alice"


def test_unreadable_config_is_an_error(tmp_path: Path) -> None:
    """BI: broken credential configuration — a directory where the file should be."""
    path = tmp_path / "config.json"
    path.mkdir()
    with pytest.raises(CredentialError, match="cannot be read"):
        ConfigFileSource(path, env={}).lookup(EXAMPLE)


# ----------------------------------------------------------------------------------------- DOCKER_AUTH_CONFIG


def test_docker_auth_config_gitlab_format() -> None:
    env = {"DOCKER_AUTH_CONFIG": json.dumps(auths("registry.example.com:5050", "deployer"))}
    cred = DockerAuthConfigSource(env).lookup(Registry("registry.example.com:5050"))
    assert cred is not None
    assert cred.username == "deployer"
    assert cred.source == "DOCKER_AUTH_CONFIG (auths)"
    assert cred.describe() == "user 'deployer' from DOCKER_AUTH_CONFIG (auths)"


@pytest.mark.parametrize("value", ["", "   "])
def test_docker_auth_config_unset_or_blank(value: str) -> None:
    assert DockerAuthConfigSource({}).lookup(EXAMPLE) is None
    assert DockerAuthConfigSource({"DOCKER_AUTH_CONFIG": value}).lookup(EXAMPLE) is None


@pytest.mark.parametrize(
    "value",
    [
        "{not json",
        "[1, 2]",
        '{"auths": "x"}',
        '{"auths": {"registry.example.com": {"auth": "@@@"}}}',
    ],
)
def test_docker_auth_config_malformed(value: str) -> None:
    """BI: broken credential configuration — malformed DOCKER_AUTH_CONFIG names the variable."""
    with pytest.raises(CredentialError) as info:
        DockerAuthConfigSource({"DOCKER_AUTH_CONFIG": value}).lookup(EXAMPLE)
    assert "DOCKER_AUTH_CONFIG" in str(info.value)


def test_docker_auth_config_with_cred_helpers(base_env: dict[str, str], helper_store: Path) -> None:
    base_env["DOCKER_AUTH_CONFIG"] = json.dumps({"credHelpers": {"registry.example.com": HELPER}})
    cred = DockerAuthConfigSource(base_env).lookup(EXAMPLE)
    assert cred is not None
    assert cred.username == "helper-user"
    assert cred.source == f"DOCKER_AUTH_CONFIG (credHelpers: {HELPER})"


# ----------------------------------------------------------------------------------------------------- podman


def test_podman_registry_auth_file(tmp_path: Path, home: Path) -> None:
    path = write_json(tmp_path / "podman" / "auth.json", auths("quay.example.com", "podman-user"))
    chain = Chain(docker_sources({"REGISTRY_AUTH_FILE": str(path)}, home))
    cred = chain.lookup(Registry("quay.example.com"))
    assert cred.username == "podman-user"
    assert cred.source == f"{path} (auths)"


def test_podman_xdg_runtime_dir_auth_json(tmp_path: Path, home: Path) -> None:
    runtime = tmp_path / "run" / "user" / "1000"
    write_json(runtime / "containers" / "auth.json", auths("quay.example.com", "xdg-user"))
    chain = Chain(docker_sources({"XDG_RUNTIME_DIR": str(runtime)}, home))
    assert chain.lookup(Registry("quay.example.com")).username == "xdg-user"


def test_registry_auth_file_beats_xdg_and_docker(tmp_path: Path, home: Path) -> None:
    runtime = tmp_path / "run"
    write_json(runtime / "containers" / "auth.json", auths("quay.example.com", "xdg-user"))
    write_json(home / ".docker" / "config.json", auths("quay.example.com", "docker-user"))
    env = {"XDG_RUNTIME_DIR": str(runtime)}
    assert Chain(docker_sources(env, home)).lookup(Registry("quay.example.com")).username == "xdg-user"
    env["REGISTRY_AUTH_FILE"] = str(write_json(tmp_path / "raf.json", auths("quay.example.com", "raf-user")))
    assert Chain(docker_sources(env, home)).lookup(Registry("quay.example.com")).username == "raf-user"


def test_lower_file_used_when_higher_file_lacks_the_host(tmp_path: Path, home: Path) -> None:
    raf = write_json(tmp_path / "raf.json", auths("other.example.com", "raf-user"))
    write_json(home / ".docker" / "config.json", auths("registry.example.com", "docker-user"))
    chain = Chain(docker_sources({"REGISTRY_AUTH_FILE": str(raf)}, home))
    assert chain.lookup(EXAMPLE).username == "docker-user"
    assert chain.lookup(Registry("other.example.com")).username == "raf-user"


# ---------------------------------------------------------------------------------------------------- helpers


def test_cred_helper_get(tmp_path: Path, base_env: dict[str, str], helper_store: Path) -> None:
    path = write_json(tmp_path / "config.json", {"credHelpers": {"registry.example.com": HELPER}})
    cred = ConfigFileSource(path, env=base_env).lookup(EXAMPLE)
    assert cred == Credential(
        username="helper-user", password=SECRET, source=f"{path} (credHelpers: {HELPER})"
    )
    assert helper_calls(base_env) == [{"action": "get", "stdin": "registry.example.com"}]


def test_cred_helper_for_docker_hub_is_asked_for_index_url(
    tmp_path: Path, base_env: dict[str, str], helper_store: Path
) -> None:
    path = write_json(tmp_path / "config.json", {"credHelpers": {"docker.io": HELPER}})
    cred = ConfigFileSource(path, env=base_env).lookup(HUB)
    assert cred is not None
    assert cred.username == "hub-helper"
    assert helper_calls(base_env) == [{"action": "get", "stdin": "https://index.docker.io/v1/"}]


def test_cred_helper_token_username_means_identity_token(
    tmp_path: Path, base_env: dict[str, str], helper_store: Path
) -> None:
    path = write_json(tmp_path / "config.json", {"credHelpers": {"token.example.com": HELPER}})
    cred = ConfigFileSource(path, env=base_env).lookup(Registry("token.example.com"))
    assert cred is not None
    assert cred.identity_token == "refresh-" + SECRET
    assert cred.username is None
    assert cred.password is None


def test_cred_helper_not_found_is_no_credential(
    tmp_path: Path, home: Path, base_env: dict[str, str], helper_store: Path
) -> None:
    """A helper's "credentials not found" is no credential, and the chain goes on to the next source."""
    raf = write_json(tmp_path / "raf.json", {"credHelpers": {"unknown.example.com": HELPER}})
    write_json(home / ".docker" / "config.json", auths("unknown.example.com", "docker-user"))
    base_env["REGISTRY_AUTH_FILE"] = str(raf)
    chain = Chain(docker_sources(base_env, home))
    assert chain.lookup(Registry("unknown.example.com")).username == "docker-user"
    rows = chain.explain(Registry("unknown.example.com"))
    assert rows[1] == (
        str(raf),
        f"credHelpers: docker-credential-{HELPER} has no credential for unknown.example.com",
    )


def test_cred_helpers_entry_beats_creds_store(
    tmp_path: Path, base_env: dict[str, str], helper_store: Path
) -> None:
    """credHelpers[host] > credsStore: the store (a missing binary here) is never run for that host."""
    doc = {"credsStore": "does-not-exist", "credHelpers": {"registry.example.com": HELPER}}
    source = ConfigFileSource(write_json(tmp_path / "config.json", doc), env=base_env)
    cred = source.lookup(EXAMPLE)
    assert cred is not None
    assert cred.username == "helper-user"
    with pytest.raises(CredentialError, match="docker-credential-does-not-exist not found on PATH"):
        source.lookup(Registry("localhost:5000"))


def test_creds_store_used_when_no_cred_helpers_entry(
    tmp_path: Path, base_env: dict[str, str], helper_store: Path
) -> None:
    doc = {
        "credsStore": HELPER,
        "credHelpers": {"other.example.com": "does-not-exist"},
        "auths": {"localhost:5000": {}},
    }
    path = write_json(tmp_path / "config.json", doc)
    cred = ConfigFileSource(path, env=base_env).lookup(Registry("localhost:5000"))
    assert cred is not None
    assert cred.username == "local"
    assert cred.source == f"{path} (credsStore: {HELPER})"


def test_creds_store_beats_auths(tmp_path: Path, base_env: dict[str, str], helper_store: Path) -> None:
    """credsStore > auths[host], and the store is authoritative for the file (as in Docker)."""
    doc = {
        "credsStore": HELPER,
        "auths": {
            "registry.example.com": {"auth": b64("file-user:x")},
            "unknown.example.com": {"auth": b64("file-user:x")},
        },
    }
    source = ConfigFileSource(write_json(tmp_path / "config.json", doc), env=base_env)
    cred = source.lookup(EXAMPLE)
    assert cred is not None
    assert cred.username == "helper-user"
    assert source.lookup(Registry("unknown.example.com")) is None


def test_cred_helper_result_is_cached_per_registry(
    tmp_path: Path, base_env: dict[str, str], helper_store: Path
) -> None:
    path = write_json(tmp_path / "config.json", {"credsStore": HELPER})
    source = ConfigFileSource(path, env=base_env)
    for _ in range(3):
        source.lookup(EXAMPLE)
    assert len(helper_calls(base_env)) == 1


@pytest.mark.parametrize("kind", ["credHelpers", "credsStore"])
def test_missing_helper_binary(tmp_path: Path, base_env: dict[str, str], kind: str) -> None:
    """BI: broken credential configuration — missing helper binary names it and the file, with a hint."""
    doc: dict[str, object] = (
        {"credHelpers": {"registry.example.com": "nosuch"}}
        if kind == "credHelpers"
        else {"credsStore": "nosuch"}
    )
    path = write_json(tmp_path / "config.json", doc)
    with pytest.raises(CredentialError) as info:
        ConfigFileSource(path, env=base_env).lookup(EXAMPLE)
    assert "docker-credential-nosuch not found on PATH" in str(info.value)
    assert str(path) in str(info.value)
    assert info.value.hint is not None
    assert "install docker-credential-nosuch" in info.value.hint
    assert f"remove {kind} from {path}" in info.value.hint


def test_failing_helper(tmp_path: Path, base_env: dict[str, str], helper_store: Path) -> None:
    """BI: broken credential configuration — a failing helper is an error, never a fallback."""
    base_env["OCIREG_TEST_HELPER_MODE"] = "fail"
    path = write_json(tmp_path / "config.json", {"credHelpers": {"registry.example.com": HELPER}})
    fallback = ConfigFileSource(write_json(tmp_path / "b.json", auths("registry.example.com", "x")), env={})
    with pytest.raises(CredentialError) as info:
        Chain([ConfigFileSource(path, env=base_env), fallback]).lookup(EXAMPLE)
    message = str(info.value)
    assert f"docker-credential-{HELPER} get failed (exit status 1)" in message
    assert "keyring is locked" in message


def test_failing_helper_message_with_secret_is_hidden(
    tmp_path: Path, base_env: dict[str, str], helper_store: Path
) -> None:
    """SEC: redaction — a helper's error line that looks like it carries a secret is not repeated."""
    base_env["OCIREG_TEST_HELPER_MODE"] = "leak"
    path = write_json(tmp_path / "config.json", {"credHelpers": {"registry.example.com": HELPER}})
    with pytest.raises(CredentialError) as info:
        ConfigFileSource(path, env=base_env).lookup(EXAMPLE)
    assert "glpat-" not in str(info.value)
    assert "not shown" in str(info.value)


def test_hanging_helper_times_out(tmp_path: Path, base_env: dict[str, str], helper_store: Path) -> None:
    """BI: broken credential configuration — a hanging helper is killed after the timeout."""
    base_env["OCIREG_TEST_HELPER_MODE"] = "hang"
    path = write_json(tmp_path / "config.json", {"credHelpers": {"registry.example.com": HELPER}})
    start = time.monotonic()
    with pytest.raises(CredentialError) as info:
        ConfigFileSource(path, env=base_env, helper_timeout=1.0).lookup(EXAMPLE)
    assert time.monotonic() - start < 10
    assert str(info.value) == f"credential helper docker-credential-{HELPER} did not answer within 1s"


@pytest.mark.parametrize("mode", ["garbage"])
def test_garbage_helper_output(
    tmp_path: Path, base_env: dict[str, str], helper_store: Path, mode: str
) -> None:
    """BI: non-JSON where JSON is expected — helper garbage is an error, not shown."""
    base_env["OCIREG_TEST_HELPER_MODE"] = mode
    path = write_json(tmp_path / "config.json", {"credHelpers": {"registry.example.com": HELPER}})
    with pytest.raises(CredentialError) as info:
        ConfigFileSource(path, env=base_env).lookup(EXAMPLE)
    assert "not a credential" in str(info.value)
    assert "html" not in str(info.value)


def test_helper_is_found_on_the_given_path_only(tmp_path: Path, helper_store: Path) -> None:
    """The helper is looked up on env["PATH"], never on the process's own PATH."""
    path = write_json(tmp_path / "config.json", {"credHelpers": {"registry.example.com": HELPER}})
    with pytest.raises(CredentialError, match="not found on PATH"):
        ConfigFileSource(path, env={"PATH": str(tmp_path)}).lookup(EXAMPLE)


def test_run_helper_store_list_erase_roundtrip(base_env: dict[str, str], helper_store: Path) -> None:
    """run_helper serves login/logout too: store, list, get, erase."""
    payload = json.dumps({"ServerURL": "new.example.com", "Username": "n", "Secret": SECRET}).encode()
    assert run_helper(HELPER, "store", payload, env=base_env, timeout=10) == b""
    listed = json.loads(run_helper(HELPER, "list", b"", env=base_env, timeout=10))
    assert listed["new.example.com"] == "n"
    got = json.loads(run_helper(HELPER, "get", b"new.example.com", env=base_env, timeout=10))
    assert got == {"ServerURL": "new.example.com", "Username": "n", "Secret": SECRET}
    run_helper(HELPER, "erase", b"new.example.com", env=base_env, timeout=10)
    with pytest.raises(HelperCredentialsNotFound):
        run_helper(HELPER, "get", b"new.example.com", env=base_env, timeout=10)
    with pytest.raises(HelperCredentialsNotFound):
        run_helper(HELPER, "erase", b"new.example.com", env=base_env, timeout=10)


def test_run_helper_rejects_odd_names(base_env: dict[str, str]) -> None:
    """SEC: argument injection — a helper name cannot be a path."""
    with pytest.raises(CredentialError, match="not a credential helper name"):
        run_helper("../../../bin/sh", "get", b"x", env=base_env, timeout=1)


# -------------------------------------------------------------------------------------------------- redaction


CANARIES = [SECRET, "refresh-" + SECRET, "bearer-" + SECRET, b64(f"alice:{SECRET}")]


@pytest.mark.parametrize(
    "cred",
    [
        Credential(username="alice", password=SECRET, source="DOCKER_AUTH_CONFIG"),
        Credential(username="alice", identity_token="refresh-" + SECRET, source="x"),
        Credential(registry_token="bearer-" + SECRET, source="x"),
        Credential(password=SECRET, source="x"),
    ],
)
def test_repr_str_describe_never_show_secrets(cred: Credential) -> None:
    """SEC: redaction with canary secrets — repr, str and describe of a Credential."""
    for text in (repr(cred), str(cred), cred.describe(), f"{cred}", f"{cred!r}", repr([cred])):
        for canary in CANARIES:
            assert canary not in text
    assert "'***'" in repr(cred)


def test_describe_texts() -> None:
    assert ANONYMOUS.describe() == "anonymous"
    assert Credential(username="alice", password=SECRET, source="DOCKER_AUTH_CONFIG").describe() == (
        "user 'alice' from DOCKER_AUTH_CONFIG"
    )
    assert Credential(username="a\x1b[31m", password="p", source="x").describe() == "user 'a\\x1b[31m' from x"


def test_explain_never_shows_secrets(tmp_path: Path, home: Path) -> None:
    """SEC: redaction — `ocireg auth explain` rows."""
    env = {
        "DOCKER_AUTH_CONFIG": json.dumps(auths("other.example.com", "x")),
        "REGISTRY_AUTH_FILE": str(write_json(tmp_path / "a.json", auths("registry.example.com", "alice"))),
    }
    rows = default_chain(env, home).explain(EXAMPLE)
    assert rows == [
        ("OCIREG_USERNAME/OCIREG_PASSWORD", "not set"),
        ("DOCKER_AUTH_CONFIG", "no entry for registry.example.com"),
        (
            str(tmp_path / "a.json"),
            f"found user 'alice' from {tmp_path / 'a.json'} (auths), key 'registry.example.com'",  # #13 item 3
        ),
    ]
    for canary in CANARIES:
        assert canary not in repr(rows)


def test_explain_anonymous_and_error_rows(tmp_path: Path, home: Path) -> None:
    rows = default_chain({}, home).explain(EXAMPLE)
    assert rows[-1][0] == "anonymous"
    bad = tmp_path / "bad.json"
    bad.write_text("{", encoding="utf-8")
    rows = default_chain({"REGISTRY_AUTH_FILE": str(bad)}, home).explain(EXAMPLE)
    assert rows[-1] == (str(bad), f"error: {bad}: not valid JSON")


def test_explain_with_plain_source() -> None:
    """Sources without lookup_explained (e.g. the GitLab adapter) are explained from lookup()."""
    rows = Chain([_Extra()]).explain(EXAMPLE)
    assert rows == [
        ("GitLab CI (CI_JOB_TOKEN)", "found user 'gitlab-ci-token' from GitLab CI (CI_JOB_TOKEN)")
    ]
    rows = Chain([_Extra()]).explain(HUB)
    assert rows[0] == ("GitLab CI (CI_JOB_TOKEN)", "no credential for docker.io")


# ------------------------------------------------------------------------------------------------ fingerprint


def test_fingerprint_is_stable_and_not_the_secret() -> None:
    a = Credential(username="alice", password=SECRET, source="a")
    b = Credential(username="alice", password=SECRET, source="b")
    assert a.fingerprint() == b.fingerprint()
    assert len(a.fingerprint()) == 64
    int(a.fingerprint(), 16)
    assert SECRET not in a.fingerprint()
    assert b64(SECRET) not in a.fingerprint()


def test_fingerprint_differs_per_identity() -> None:
    creds = [
        ANONYMOUS,
        Credential(username="alice", password=SECRET),
        Credential(username="bob", password=SECRET),
        Credential(username="alice", password=SECRET + "x"),
        Credential(username="alice", identity_token=SECRET),
        Credential(username="alice", registry_token=SECRET),
        Credential(identity_token=SECRET),
        Credential(registry_token=SECRET),
        Credential(username="alice:", password=SECRET[:4]),
        Credential(username="alice", password=":" + SECRET[:4]),
    ]
    prints = {cred.fingerprint() for cred in creds}
    assert len(prints) == len(creds)


def test_credential_equality_ignores_cached_fingerprint() -> None:
    a = Credential(username="alice", password=SECRET)
    a.fingerprint()
    assert a == Credential(username="alice", password=SECRET)
    assert hash(a) == hash(Credential(username="alice", password=SECRET))


# --------------------------------------------------------------------------------------------------- layering


@pytest.mark.parametrize("module", sorted(Path(credmod.__file__).parent.glob("*.py")), ids=lambda p: p.name)
def test_module_never_reads_os_environ_and_imports_only_allowed_modules(module: Path) -> None:
    """docs/architecture.md §1: each module of the credentials package imports stdlib, ocireg.errors/text/
    reference/record/atomicfile and its own package (#22: split by concern); no os.environ."""
    source = module.read_text(encoding="utf-8")
    tree = ast.parse(source)
    assert "environ" not in {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)}
    assert "getenv" not in source
    imported: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module)
    ocireg_modules = {
        name
        for name in imported
        if name.split(".")[0] == "ocireg" and not name.startswith("ocireg.credentials.")
    }
    allowed = {"ocireg.errors", "ocireg.text", "ocireg.reference", "ocireg.record", "ocireg.atomicfile"}
    assert ocireg_modules <= allowed
    third_party = {name.split(".")[0] for name in imported} - set(sys.stdlib_module_names) - {"ocireg"}
    assert third_party <= {"__future__"}


def test_pc_a_credential_given_by_a_library_caller_is_named_so() -> None:
    """#22 item 5 (the library row): a Credential built by the caller names its real source in every message,
    never "anonymous"; an empty one is anonymous."""
    given = Credential(username="dev", password="pw")
    assert given.describe() == "user 'dev' given by the caller"
    assert "anonymous" not in str(given)
    assert Credential().describe() == "anonymous"
    assert Credential(source="DOCKER_AUTH_CONFIG", username="u", password="p").describe() == (
        "user 'u' from DOCKER_AUTH_CONFIG"
    )
