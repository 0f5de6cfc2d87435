"""A token cache shared by successive ``ocireg`` processes, so a warm check costs one HTTP request.

Safety rules (docs/architecture.md §4):

* one JSON file under the user cache directory; the directory is 0700 and the file 0600, written atomically
  (temporary file + ``os.replace``) under an advisory lock so concurrent writers merge instead of clobbering;
* symlinks are refused (``O_NOFOLLOW`` and ``lstat`` checks), and so is a file or directory that is not ours or
  is readable by others: the cache is then simply not used;
* it holds bearer tokens and their expiry only — never passwords or refresh tokens — keyed by a hash of
  registry, realm, service, scope set and a fingerprint of the identity, so an entry is never used for another
  identity, registry or scope, and never past its expiry;
* it also remembers each registry's realm/service (to find the key before any challenge) and, for loopback
  registries, whether they speak plain HTTP (to skip the TLS probe).
"""

from __future__ import annotations

import json
import math
import os
import stat
import time
from _thread import allocate_lock  # threading.Lock itself; threading stays off a check's path (#16, start-up)
from collections.abc import Callable

__all__ = ["TokenCache"]

FILE_NAME = "tokens.json"
SCHEMA = 1
MAX_FILE_SIZE = 1024 * 1024
MAX_ENTRIES = 500


class TokenCache:
    """The on-disk cache. All methods swallow I/O problems by design: a cache must never fail a command."""

    def __init__(
        self, directory: str | os.PathLike[str], *, debug: Callable[[str], None] | None = None
    ) -> None:
        # Paths as str with os.path: pathlib is not otherwise on a check's path (#16, start-up).
        self.directory = os.fspath(directory)
        self.path = os.path.join(self.directory, FILE_NAME)
        self._lock = allocate_lock()
        self._data: dict[str, dict[str, object]] | None = None
        self._debug = debug
        self._said: set[str] = set()
        self.problem: str | None = None

    def _note(self, problem: str) -> None:
        """Remember ``problem`` and say it once under ``--debug``: the cache is skipped, never fatal, but a
        user whose every run is cold should be able to find out why (#14 item 15)."""
        self.problem = problem
        if self._debug is not None and problem not in self._said:
            self._said.add(problem)
            self._debug(problem)

    # -- public ---------------------------------------------------------------------------------------------

    @staticmethod
    def key(registry: str, realm: str, service: str, scopes: tuple[str, ...], identity: str) -> str:
        import hashlib  # here, after ssl: hashlib imported before it costs a check more (#16, start-up)

        text = "\n".join((registry, realm, service, " ".join(sorted(scopes)), identity))
        return hashlib.sha256(text.encode()).hexdigest()

    def realm_for(self, registry: str) -> tuple[str, str] | None:
        entry = self._load().get("realms", {}).get(registry)
        if entry is None:
            return None
        if isinstance(entry, list) and len(entry) == 2 and all(_header_safe(x, 4096) for x in entry):
            return entry[0], entry[1]
        self._note(f"token cache: the realm entry for {_shown(registry)} is corrupt; ignored")
        return None

    def scheme_for(self, host: str) -> str | None:
        value = self._load().get("schemes", {}).get(host)
        if value is None or value in ("http", "https"):
            return value if isinstance(value, str) else None
        self._note(f"token cache: the scheme entry for {_shown(host)} is corrupt; ignored")
        return None

    def get(self, key: str) -> tuple[str, float] | None:
        entry = self._load().get("tokens", {}).get(key)
        if entry is None:
            return None
        valid = _valid_entry(entry)
        if valid is None:
            # A hand-edited or damaged entry (a 400-digit expiry, a token with CR/LF or non-ASCII characters
            # that would break or inject into the Authorization header): absent, never fatal (#14 item 15).
            self._note("token cache: a corrupt token entry was ignored (bad token characters or expiry)")
            return None
        value, expires_at = valid
        if expires_at <= time.time():
            return None
        return value, expires_at

    def put(
        self, key: str, value: str, expires_at: float, *, registry: str, realm: str, service: str
    ) -> None:
        def update(data: dict[str, dict[str, object]]) -> None:
            data.setdefault("tokens", {})[key] = [value, expires_at]
            data.setdefault("realms", {})[registry] = [realm, service]

        self._write(update)

    def remember_scheme(self, host: str, scheme: str) -> None:
        if self.scheme_for(host) == scheme:
            return

        def update(data: dict[str, dict[str, object]]) -> None:
            data.setdefault("schemes", {})[host] = scheme

        self._write(update)

    def discard(self, key: str) -> None:
        def update(data: dict[str, dict[str, object]]) -> None:
            data.get("tokens", {}).pop(key, None)

        self._write(update)

    # -- file handling --------------------------------------------------------------------------------------

    def _load(self) -> dict[str, dict[str, object]]:
        with self._lock:
            if self._data is None:
                self._data = self._read()
            return self._data

    def _read(self) -> dict[str, dict[str, object]]:
        if not self._directory_ok(create=False):
            return {}
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0))
        except FileNotFoundError:
            return {}
        except OSError as exc:
            self._note(f"token cache not readable: {exc.strerror}")
            return {}
        with os.fdopen(fd, "rb") as handle:
            info = os.fstat(handle.fileno())
            if not stat.S_ISREG(info.st_mode) or info.st_uid != os.geteuid() or info.st_mode & 0o077:
                self._note(f"token cache {self.path} is not a private file of this user; ignored")
                return {}
            raw = handle.read(MAX_FILE_SIZE + 1)
        if len(raw) > MAX_FILE_SIZE:
            self._note(f"token cache {self.path} is larger than {MAX_FILE_SIZE} bytes; ignored")
            return {}
        try:
            doc = json.loads(raw)
        except (ValueError, RecursionError):
            self._note(f"token cache {self.path} is not valid JSON; ignored")
            return {}
        if not isinstance(doc, dict) or doc.get("schema") != SCHEMA:
            self._note(f"token cache {self.path} has an unknown format; ignored")
            return {}
        return {k: v for k, v in doc.items() if isinstance(v, dict)}

    def _directory_ok(self, *, create: bool) -> bool:
        try:
            info = os.lstat(self.directory)
        except FileNotFoundError:
            if not create:
                return False
            try:
                os.makedirs(self.directory, mode=0o700, exist_ok=True)
                info = os.lstat(self.directory)
            except OSError as exc:
                self._note(f"cannot create token cache directory: {exc.strerror}")
                return False
        except OSError:
            return False
        if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode):
            self._note(f"token cache directory {self.directory} is a symlink or not a directory; ignored")
            return False
        if info.st_uid != os.geteuid() or info.st_mode & 0o077:
            self._note(f"token cache directory {self.directory} is not private (0700) to this user; ignored")
            return False
        return True

    def _write(self, update: Callable[[dict[str, dict[str, object]]], None]) -> None:
        with self._lock:
            if not self._directory_ok(create=True):
                return
            lock_path = os.path.join(self.directory, ".lock")
            try:
                lock_fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
            except OSError:
                return
            try:
                import fcntl

                fcntl.flock(lock_fd, fcntl.LOCK_EX)
                data = self._read()  # merge with what other processes wrote meanwhile
                update(data)
                self._prune(data)
                self._data = data
                payload = json.dumps({"schema": SCHEMA, **data}, separators=(",", ":")).encode()
                # As tempfile.mkstemp makes it (a new name, 0600, never through a link), without importing tempfile:
                # shutil, random and bz2/lzma under it were a sixth of a cold check's instructions (#25).
                tmp = os.path.join(self.directory, f".tokens-{os.getpid()}-{os.urandom(6).hex()}")
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
                try:
                    with os.fdopen(fd, "wb") as handle:
                        handle.write(payload)
                    os.replace(tmp, self.path)
                except OSError:
                    try:  # noqa: SIM105 -- contextlib is not on a check's path (#16, start-up)
                        os.unlink(tmp)
                    except OSError:
                        pass
            except OSError as exc:
                self._note(f"token cache not written: {exc.strerror}")
            finally:
                os.close(lock_fd)

    @staticmethod
    def _prune(data: dict[str, dict[str, object]]) -> None:
        tokens = data.get("tokens", {})
        now = time.time()
        live: dict[str, object] = {}
        for k, v in tokens.items():
            valid = _valid_entry(v)
            if valid is not None and valid[1] > now:
                live[k] = v
        if len(live) > MAX_ENTRIES:
            keep = sorted(live.items(), key=_expiry, reverse=True)[:MAX_ENTRIES]
            live = dict(keep)
        data["tokens"] = live


def _expiry(item: tuple[str, object]) -> float:
    valid = _valid_entry(item[1])
    return 0.0 if valid is None else valid[1]


#: A token longer than this is not one ocireg stored (the token service's answer is capped the same way).
MAX_TOKEN_LENGTH = 16 * 1024


def _header_safe(value: object, limit: int) -> bool:
    """A string that can go into an HTTP header as is: printable ASCII without spaces, at most ``limit``."""
    # isascii + isprintable is 0x20-0x7E, without the space 0x21-0x7E: one C pass instead of one Python step per
    # character of a 2 KB token on every warm check (#16, start-up).
    return (
        isinstance(value, str)
        and 0 < len(value) <= limit
        and value.isascii()
        and value.isprintable()
        and " " not in value
    )


def _valid_entry(entry: object) -> tuple[str, float] | None:
    """``[token, expires_at]`` as (token, finite expiry), or ``None`` when the entry is not one ocireg wrote."""
    if not isinstance(entry, list) or len(entry) != 2:
        return None
    value, expires_at = entry
    if not _header_safe(value, MAX_TOKEN_LENGTH):
        return None
    if isinstance(expires_at, bool) or not isinstance(expires_at, int | float):
        return None
    try:
        expiry = float(expires_at)
    except OverflowError:  # a 400-digit integer
        return None
    return (value, expiry) if isinstance(value, str) and math.isfinite(expiry) else None


def _shown(text: str) -> str:
    return "".join(c if 0x20 <= ord(c) < 0x7F else "?" for c in text[:200])
