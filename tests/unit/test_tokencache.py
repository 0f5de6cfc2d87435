"""Token cache file safety (SEC: token cache file modes, symlink refusal, concurrent writers)."""

from __future__ import annotations

import os
import stat
import threading
import time
from pathlib import Path

from ocireg.tokencache import TokenCache


def _key(identity: str = "id1", scopes: tuple[str, ...] = ("repository:a:pull",)) -> str:
    return TokenCache.key("reg.example.com", "https://gl/jwt/auth", "container_registry", scopes, identity)


def test_roundtrip_and_modes(tmp_path: Path) -> None:
    cache_dir = tmp_path / "cache" / "ocireg"
    cache = TokenCache(cache_dir)
    cache.put(
        _key(),
        "tok",
        time.time() + 100,
        registry="reg.example.com",
        realm="https://gl/jwt/auth",
        service="container_registry",
    )
    assert stat.S_IMODE(os.stat(cache_dir).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(cache_dir / "tokens.json").st_mode) == 0o600
    fresh = TokenCache(cache_dir)
    assert fresh.realm_for("reg.example.com") == ("https://gl/jwt/auth", "container_registry")
    hit = fresh.get(_key())
    assert hit is not None and hit[0] == "tok"
    # never for another identity or scope set
    assert fresh.get(_key(identity="id2")) is None
    assert fresh.get(_key(scopes=("repository:a:pull,push",))) is None


def test_expired_entries_are_not_used(tmp_path: Path) -> None:
    cache = TokenCache(tmp_path / "c")
    cache.put(_key(), "old", time.time() - 1, registry="r", realm="x", service="s")
    assert TokenCache(tmp_path / "c").get(_key()) is None


def test_symlinked_file_is_refused(tmp_path: Path) -> None:
    cache_dir = tmp_path / "c"
    cache_dir.mkdir(mode=0o700)
    target = tmp_path / "elsewhere.json"
    target.write_text('{"schema":1,"tokens":{}}')
    (cache_dir / "tokens.json").symlink_to(target)
    cache = TokenCache(cache_dir)
    assert cache.get(_key()) is None
    cache.put(_key(), "tok", time.time() + 100, registry="r", realm="x", service="s")
    # the write replaced the link with a private regular file; the link target is untouched
    assert target.read_text() == '{"schema":1,"tokens":{}}'
    assert not (cache_dir / "tokens.json").is_symlink()


def test_symlinked_directory_is_refused(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir(mode=0o700)
    link = tmp_path / "link"
    link.symlink_to(real)
    cache = TokenCache(link)
    cache.put(_key(), "tok", time.time() + 100, registry="r", realm="x", service="s")
    assert not (real / "tokens.json").exists()
    assert cache.problem is not None


def test_world_readable_file_is_ignored(tmp_path: Path) -> None:
    cache_dir = tmp_path / "c"
    cache = TokenCache(cache_dir)
    cache.put(
        _key(),
        "tok",
        time.time() + 100,
        registry="reg.example.com",
        realm="https://gl/jwt/auth",
        service="container_registry",
    )
    os.chmod(cache_dir / "tokens.json", 0o644)
    assert TokenCache(cache_dir).get(_key()) is None


def test_concurrent_writers_merge(tmp_path: Path) -> None:
    cache_dir = tmp_path / "c"

    def writer(i: int) -> None:
        TokenCache(cache_dir).put(
            _key(identity=f"id{i}"), f"tok{i}", time.time() + 100, registry="r", realm="x", service="s"
        )

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    reader = TokenCache(cache_dir)
    assert all(reader.get(_key(identity=f"id{i}")) is not None for i in range(8))


def test_garbage_file_is_ignored(tmp_path: Path) -> None:
    cache_dir = tmp_path / "c"
    cache_dir.mkdir(mode=0o700)
    (cache_dir / "tokens.json").write_bytes(b"\xff{not json")
    os.chmod(cache_dir / "tokens.json", 0o600)
    assert TokenCache(cache_dir).get(_key()) is None
