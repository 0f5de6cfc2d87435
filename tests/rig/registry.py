"""Run Debian's ``docker-registry`` (distribution 2.8.2) as a subprocess for the integration rig.

Why a real registry: docs/architecture.md §5 lists behaviours (404 for an OCI index without the full Accept list, one-page
tags/list, ``delete`` as its own token action, 60 s token leeway) that only the real binary reproduces faithfully.

Each ``RegistryProcess`` owns a temp directory with its config, storage root and log file, listens on
``127.0.0.1:<port from binding port 0>`` (never the package default :5000), is started/stopped by PID, and can be
``restart()``-ed on the same port with the same storage for fault tests.
"""

from __future__ import annotations

import atexit
import contextlib
import http.client
import json
import os
import secrets
import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any, Literal

import bcrypt
import pytest

from .pki import ServerCert
from .tokenserver import ISSUER, SERVICE

Variant = Literal["token", "token_tls", "basic", "open", "nodelete"]
VARIANTS: tuple[Variant, ...] = ("token", "token_tls", "basic", "open", "nodelete")

REGISTRY_BINARY = "docker-registry"
REQUIRE_RIG_ENV = "OCIREG_REQUIRE_RIG"
MISSING_MESSAGE = "docker-registry is not installed (apt-get install docker-registry)"

BASIC_USER = "basic-user"
BASIC_PASSWORD = "basic-password"
BASIC_REALM = "basic-realm"

HOST = "127.0.0.1"
READY_TIMEOUT = 15.0
STOP_TIMEOUT = 5.0
_FORBIDDEN_PORTS = frozenset({5000})


class RigError(RuntimeError):
    """The rig itself failed (registry would not start, ...); the message carries the registry log tail."""


def registry_binary() -> str:
    """Path of ``docker-registry``; skip the test when missing, or fail when ``OCIREG_REQUIRE_RIG=1`` (CI)."""
    found = shutil.which(REGISTRY_BINARY) or shutil.which("registry")
    if found:
        return found
    if os.environ.get(REQUIRE_RIG_ENV) == "1":
        pytest.fail(f"{MISSING_MESSAGE}; {REQUIRE_RIG_ENV}=1 forbids skipping", pytrace=False)
    pytest.skip(MISSING_MESSAGE)


def free_port(host: str = HOST) -> int:
    """A currently free TCP port on ``host`` (bind port 0), never one of the well-known registry ports."""
    for _ in range(20):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((host, 0))
            port: int = sock.getsockname()[1]
        if port not in _FORBIDDEN_PORTS:
            return port
    raise RigError("could not find a free port")


def write_htpasswd(path: Path, user: str = BASIC_USER, password: str = BASIC_PASSWORD) -> Path:
    """An htpasswd file with one bcrypt entry (the only hash distribution's htpasswd auth accepts)."""
    hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=6)).decode("ascii")
    path.write_text(f"{user}:{hashed}\n", encoding="utf-8")
    path.chmod(0o600)
    return path


def token_auth(
    realm: str, rootcertbundle: Path, *, service: str = SERVICE, issuer: str = ISSUER
) -> dict[str, Any]:
    """The ``auth`` section for GitLab-style token auth."""
    return {
        "token": {"realm": realm, "service": service, "issuer": issuer, "rootcertbundle": str(rootcertbundle)}
    }


def htpasswd_auth(htpasswd: Path, realm: str = BASIC_REALM) -> dict[str, Any]:
    """The ``auth`` section for htpasswd Basic auth."""
    return {"htpasswd": {"realm": realm, "path": str(htpasswd)}}


def to_yaml(value: Any, indent: int = 0) -> str:
    """Tiny YAML emitter for the config (dicts, lists, str, int, bool); strings are JSON-quoted, valid YAML."""
    pad = "  " * indent
    lines: list[str] = []
    if isinstance(value, Mapping):
        for key, item in value.items():
            if isinstance(item, Mapping | list) and item:
                lines.append(f"{pad}{key}:")
                lines.append(to_yaml(item, indent + 1))
            else:
                lines.append(f"{pad}{key}: {_scalar(item)}")
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, Mapping | list) and item:
                lines.append(f"{pad}-")
                lines.append(to_yaml(item, indent + 1))
            else:
                lines.append(f"{pad}- {_scalar(item)}")
    else:
        lines.append(pad + _scalar(value))
    return "\n".join(lines)


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, Mapping):
        return "{}"
    if isinstance(value, list):
        return "[]"
    return json.dumps(str(value))


_LIVE: set[RegistryProcess] = set()
_LIVE_LOCK = threading.Lock()


@atexit.register
def _kill_leftovers() -> None:
    """Last resort if a session dies without fixture teardown: never leave registries behind."""
    with _LIVE_LOCK:
        procs = list(_LIVE)
    for proc in procs:
        with contextlib.suppress(Exception):
            proc.stop()


class RegistryProcess:
    """One ``docker-registry serve CONFIG`` subprocess with its own config, storage and log."""

    def __init__(
        self,
        directory: Path,
        *,
        variant: str,
        auth: Mapping[str, Any] | None = None,
        tls: ServerCert | None = None,
        ca_file: Path | None = None,
        delete_enabled: bool = True,
        binary: str | None = None,
    ) -> None:
        self.variant = variant
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.storage_dir = directory / "storage"
        self.storage_dir.mkdir(exist_ok=True)
        self.config_file = directory / "config.yml"
        self.log_file = directory / "registry.log"
        self.auth = dict(auth) if auth else None
        self.tls = tls
        self.ca_file = ca_file
        self.delete_enabled = delete_enabled
        self.binary = binary or registry_binary()
        self.host = HOST
        self.port = 0
        # Fixed per process so upload state survives restart() (distribution HMACs it with http.secret).
        self._secret = secrets.token_hex(16)
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._lock = threading.Lock()

    # ---- addresses -------------------------------------------------------------------------------------------

    @property
    def scheme(self) -> str:
        """``https`` for the TLS variant."""
        return "https" if self.tls else "http"

    @property
    def netloc(self) -> str:
        """``127.0.0.1:PORT``: what a reference uses as registry host."""
        return f"{self.host}:{self.port}"

    @property
    def url(self) -> str:
        """Base URL without a trailing slash."""
        return f"{self.scheme}://{self.netloc}"

    @property
    def pid(self) -> int | None:
        """PID of the running process (None when stopped)."""
        return self._proc.pid if self._proc is not None else None

    @property
    def running(self) -> bool:
        """True while the subprocess is alive."""
        return self._proc is not None and self._proc.poll() is None

    # ---- config ----------------------------------------------------------------------------------------------

    def config(self) -> dict[str, Any]:
        """The config as a dict (written as YAML by ``start``)."""
        http_section: dict[str, Any] = {
            "addr": self.netloc,
            "secret": self._secret,
            "headers": {"X-Content-Type-Options": ["nosniff"]},
        }
        if self.tls:
            http_section["tls"] = {
                "certificate": str(self.tls.cert_file),
                "key": str(self.tls.key_file),
                "minimumtls": "tls1.2",
            }
        cfg: dict[str, Any] = {
            "version": "0.1",
            "log": {
                "level": "warn",
                "formatter": "text",
                "fields": {"service": "registry", "rig": self.variant},
            },
            "storage": {
                "filesystem": {"rootdirectory": str(self.storage_dir)},
                "delete": {"enabled": self.delete_enabled},
                "cache": {"blobdescriptor": "inmemory"},
                "maintenance": {"uploadpurging": {"enabled": False}},
            },
            "http": http_section,
            "health": {"storagedriver": {"enabled": False}},
        }
        if self.auth:
            cfg["auth"] = self.auth
        return cfg

    # ---- lifecycle -------------------------------------------------------------------------------------------

    def start(self) -> RegistryProcess:
        """Start and wait (<= 15 s) until ``GET /v2/`` answers. A first start picks a port; later ones reuse it."""
        with self._lock:
            if self.running:
                return self
            fresh_port = self.port == 0
            attempts = 3 if fresh_port else 1
            last: RigError | None = None
            for _ in range(attempts):
                if fresh_port:
                    self.port = free_port(self.host)
                try:
                    self._spawn_and_wait()
                    return self
                except RigError as exc:
                    last = exc
                    in_use = "address already in use" in self.log_text().lower()
                    self._terminate()
                    if not (fresh_port and in_use):
                        break
            assert last is not None
            raise last

    def _spawn_and_wait(self) -> None:
        self.config_file.write_text(
            f"# written by the ocireg test rig ({self.variant})\n" + to_yaml(self.config()) + "\n",
            encoding="utf-8",
        )
        self._log = self.log_file.open("ab")
        self._log.write(f"---- rig: starting {self.variant} on {self.netloc} ----\n".encode())
        self._log.flush()
        env = {
            "PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
            "HOME": str(self.directory),
            "LANG": "C.UTF-8",
        }  # no REGISTRY_* from the developer's environment: they would override the config
        self._proc = subprocess.Popen(
            [self.binary, "serve", str(self.config_file)],
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=str(self.directory),
        )
        with _LIVE_LOCK:
            _LIVE.add(self)
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        context: ssl.SSLContext | None = None
        if self.tls:
            context = ssl.create_default_context(cafile=str(self.ca_file) if self.ca_file else None)
        while True:
            proc = self._proc
            if proc is None or proc.poll() is not None:
                code = proc.returncode if proc is not None else None
                raise RigError(f"docker-registry exited early (code {code}):\n{self.log_text()}")
            try:
                conn: http.client.HTTPConnection
                if context is not None:
                    conn = http.client.HTTPSConnection(self.host, self.port, timeout=1, context=context)
                else:
                    conn = http.client.HTTPConnection(self.host, self.port, timeout=1)
                try:
                    conn.request("GET", "/v2/")
                    conn.getresponse().read()
                    return
                finally:
                    conn.close()
            except (OSError, http.client.HTTPException):
                pass
            if time.monotonic() > deadline:
                raise RigError(f"docker-registry not ready after {READY_TIMEOUT} s:\n{self.log_text()}")
            time.sleep(0.05)

    def _terminate(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=STOP_TIMEOUT)
        if self._log is not None:
            self._log.close()
            self._log = None
        with _LIVE_LOCK:
            _LIVE.discard(self)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 5 s. Safe to call twice."""
        with self._lock:
            self._terminate()

    def restart(self) -> RegistryProcess:
        """Stop and start again on the same port with the same storage (registry-restart fault tests)."""
        self.stop()
        return self.start()

    def kill(self) -> None:
        """SIGKILL without grace (crash tests); ``start()`` brings it back on the same port."""
        with self._lock:
            if self._proc is not None and self._proc.poll() is None:
                self._proc.kill()
            self._terminate()

    def __enter__(self) -> RegistryProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def log_text(self, limit: int = 20_000) -> str:
        """The tail of the registry log, for failure messages."""
        try:
            data = self.log_file.read_bytes()
        except OSError:
            return "(no registry log)"
        return data[-limit:].decode("utf-8", "replace")

    def __repr__(self) -> str:
        return f"RegistryProcess({self.variant!r}, {self.url}, pid={self.pid})"
