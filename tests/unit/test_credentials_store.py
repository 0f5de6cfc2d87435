"""Issue #5: writing logins where Docker keeps them — ``store_credential`` / ``erase_credential`` (SEC, BI)."""

from __future__ import annotations

import base64
import json
import os
import stat
from pathlib import Path

import pytest

from ocireg.credentials import (
    ConfigFileSource,
    docker_config_path,
    erase_credential,
    store_credential,
)
from ocireg.errors import CredentialError
from ocireg.reference import Registry

HELPERS = Path(__file__).resolve().parents[1] / "helpers"
REGISTRY = Registry("registry.example.com:5000")
SECRET = "s3cr3t-canary-token"


def _env(tmp_path: Path) -> dict[str, str]:
    return {
        "PATH": f"{HELPERS}:{os.environ.get('PATH', '')}",
        "OCIREG_TEST_HELPER_STORE": str(tmp_path / "store.json"),
    }


def test_docker_config_path(tmp_path: Path) -> None:
    assert docker_config_path({"DOCKER_CONFIG": "/x/d"}, tmp_path) == Path("/x/d/config.json")
    assert docker_config_path({}, tmp_path) == tmp_path / ".docker" / "config.json"


def test_store_creates_private_file_and_directory(tmp_path: Path) -> None:
    """SEC: a new config is 0600 in a 0700 directory, and the stored entry reads back through the chain."""
    path = tmp_path / "new" / ".docker" / "config.json"
    where = store_credential(path, REGISTRY, "me", SECRET, env={})
    assert where == str(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    cred = ConfigFileSource(path, env={}).lookup(REGISTRY)
    assert cred is not None
    assert (cred.username, cred.password) == ("me", SECRET)


def test_store_keeps_other_keys_and_replaces_every_spelling_of_the_host(tmp_path: Path) -> None:
    """PC: other settings survive; old keys for the same host (URL spellings) are replaced, not duplicated."""
    path = tmp_path / "docker" / "config.json"
    path.parent.mkdir()
    path.write_text(
        json.dumps(
            {
                "auths": {
                    "https://registry.example.com:5000/v2/": {"auth": "b2xkOm9sZA=="},
                    "registry.example.com": {"auth": "b3RoZXI6cG9ydA=="},
                },
                "proxies": {"default": {"httpProxy": "http://proxy:3128"}},
                "detachKeys": "ctrl-e,e",
            }
        )
    )
    path.chmod(0o644)
    store_credential(path, REGISTRY, "me", SECRET, env={})
    doc = json.loads(path.read_text())
    assert doc["auths"] == {
        "registry.example.com": {"auth": "b3RoZXI6cG9ydA=="},  # another registry (no port): untouched
        "registry.example.com:5000": {"auth": base64.b64encode(f"me:{SECRET}".encode()).decode()},
    }
    assert doc["proxies"] == {"default": {"httpProxy": "http://proxy:3128"}}
    assert doc["detachKeys"] == "ctrl-e,e"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sorted(p.name for p in path.parent.iterdir()) == ["config.json"]  # atomic: no temporary left


def test_docker_hub_uses_dockers_own_key(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    store_credential(path, Registry("index.docker.io"), "me", SECRET, env={})
    assert list(json.loads(path.read_text())["auths"]) == ["https://index.docker.io/v1/"]
    assert erase_credential(path, Registry("docker.io"), env={}) is True
    assert json.loads(path.read_text())["auths"] == {}


def test_symlinked_config_is_followed(tmp_path: Path) -> None:
    """Like Docker: a config.json symlink (dotfile managers) keeps pointing at its updated target."""
    target = tmp_path / "dotfiles" / "docker.json"
    target.parent.mkdir()
    target.write_text("{}")
    link = tmp_path / "config.json"
    link.symlink_to(target)
    store_credential(link, REGISTRY, "me", SECRET, env={})
    assert link.is_symlink()
    assert "registry.example.com:5000" in json.loads(target.read_text())["auths"]


@pytest.mark.parametrize("content", ["{not json", "[]", '{"auths": []}', '{"credsStore": 5}'])
def test_broken_config_is_refused_and_left_alone(tmp_path: Path, content: str) -> None:
    """BI: broken credential configuration — never overwrite what cannot be parsed."""
    path = tmp_path / "config.json"
    path.write_text(content)
    with pytest.raises(CredentialError):
        store_credential(path, REGISTRY, "me", SECRET, env={})
    with pytest.raises(CredentialError):
        erase_credential(path, REGISTRY, env={})
    assert path.read_text() == content


@pytest.mark.parametrize(("user", "secret"), [("", SECRET), ("a:b", SECRET), ("me", "")])
def test_bad_user_or_secret_is_refused(tmp_path: Path, user: str, secret: str) -> None:
    path = tmp_path / "config.json"
    with pytest.raises(CredentialError) as caught:
        store_credential(path, REGISTRY, user, secret, env={})
    assert SECRET not in str(caught.value)
    assert not path.exists()


def test_helper_store_and_erase(tmp_path: Path) -> None:
    """PC: credHelpers[host] receives store/erase; the config keeps no secret."""
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"credHelpers": {"registry.example.com:5000": "ocireg-test"}}))
    env = _env(tmp_path)
    where = store_credential(path, REGISTRY, "me", SECRET, env=env)
    assert where.startswith("docker-credential-ocireg-test (credHelpers in ")
    assert SECRET not in path.read_text()
    store = json.loads((tmp_path / "store.json").read_text())
    assert store == {"registry.example.com:5000": {"Username": "me", "Secret": SECRET}}
    assert erase_credential(path, REGISTRY, env=env) is True
    assert json.loads((tmp_path / "store.json").read_text()) == {}
    assert erase_credential(path, REGISTRY, env=env) is False  # "credentials not found" is not an error


def test_failing_helper_is_an_error_without_secret(tmp_path: Path) -> None:
    """BI: a failing helper is a CredentialError (never a silent fall-back to plain text)."""
    path = tmp_path / "config.json"
    original = json.dumps({"credsStore": "ocireg-test"})
    path.write_text(original)
    env = {**_env(tmp_path), "OCIREG_TEST_HELPER_MODE": "fail"}
    with pytest.raises(CredentialError) as caught:
        store_credential(path, REGISTRY, "me", SECRET, env=env)
    assert SECRET not in str(caught.value)
    assert path.read_text() == original


def test_missing_helper_binary_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"credsStore": "does-not-exist"}))
    with pytest.raises(CredentialError):
        store_credential(path, REGISTRY, "me", SECRET, env={"PATH": str(tmp_path)})


def test_erase_of_missing_file_is_false_and_creates_nothing(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    assert erase_credential(path, REGISTRY, env={}) is False
    assert not path.exists()
