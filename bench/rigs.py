"""The two worlds the benchmarks run in, built from the test rig (tests/rig).

* **local**: the rig's ``token`` variant, a plain-HTTP registry on 127.0.0.1 and the GitLab-like token server on
  127.0.0.2, no added latency. Start-up cost dominates here.
* **far**: a TLS registry and a TLS token realm, each behind the latency proxy (bench/latencyproxy.py), like a
  CI runner talking to gitlab.com. The registry's challenge must advertise the *proxied* realm, so this world is
  built by hand from ``TokenServer`` + ``RegistryProcess``: token server first, then the realm's proxy (its port
  goes into the registry config), then the registry, then the registry's proxy. TLS passes through the TCP proxy
  untouched, so each proxy listens on the address its upstream's certificate names: the registry proxy on
  127.0.0.1 (registry certificate: 127.0.0.1, localhost) and the realm proxy on 127.0.0.2 (realm certificate).

Both worlds carry the rig's standard seed (``group/project:oci`` ...) and ``group/project/many`` with one manifest
under ``t0000``.. tags (seeded straight into the registry, never through the proxy or ocireg).
"""

from __future__ import annotations

import contextlib
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
# The rig is the test suite's package "rig" (tests/ on sys.path), shared rather than copied.
if str(ROOT / "tests") not in sys.path:
    sys.path.insert(0, str(ROOT / "tests"))

from latencyproxy import LatencyProxyProcess  # noqa: E402

from rig import Pki, RegistryProcess, Rig, TokenServer, seed_many_tags, seed_standard, start_rig  # noqa: E402
from rig.registry import registry_binary, token_auth  # noqa: E402
from rig.tokenserver import ALICE, ALICE_PASSWORD, JOB_TOKEN, JOB_USER  # noqa: E402

__all__ = ["ALICE", "ALICE_PASSWORD", "MANY_REPO", "World", "start_far", "start_local"]

MANY_REPO = "group/project/many"
REPO = "group/project"


@dataclass
class World:
    """A running rig plus the address clients must use (the proxy's, in the far world)."""

    name: str
    rig: Rig
    host: str  # what goes into image references: 127.0.0.1:PORT
    tls: bool
    ca_file: str | None = None
    cert_dir: str | None = None  # skopeo wants a directory holding ca.crt
    proxy: LatencyProxyProcess | None = field(default=None, repr=False)
    many_tags: int = 0

    def ref(self, repo: str = REPO, tag: str = "oci") -> str:
        return f"{self.host}/{repo}:{tag}"

    def many_refs(self, n: int) -> list[str]:
        """``n`` distinct present tags of one repository (one token scope, as a CI job's image list is)."""
        if n > self.many_tags:
            raise ValueError(f"only {self.many_tags} tags were seeded")
        width = max(4, len(str(max(self.many_tags - 1, 0))))
        return [f"{self.host}/{MANY_REPO}:t{i:0{width}d}" for i in range(n)]

    def ci_env(self) -> dict[str, str]:
        """What a GitLab runner gives a job of ``group/project`` on this world (docs.gitlab.com, predefined
        variables): the registry, the job's credentials, the GitLab server (the token realm's host, so that
        ``CI_SERVER_URL/jwt/auth`` is the realm, as on GitLab) and its CA file."""
        if self.proxy is not None:
            realm_host, realm_port = self.proxy.listen(0)  # the realm as clients reach it
            scheme = "https"
        else:
            assert self.rig.token_server is not None
            realm_host, realm_port = "127.0.0.2", self.rig.token_server.port
            scheme = "http"
        env = {
            "GITLAB_CI": "true",
            "CI_SERVER": "yes",
            "CI_REGISTRY": self.host,
            "CI_REGISTRY_IMAGE": f"{self.host}/{REPO}",
            "CI_SERVER_URL": f"{scheme}://{realm_host}:{realm_port}",
            "CI_SERVER_HOST": realm_host,
            "CI_SERVER_PORT": str(realm_port),
            "CI_REGISTRY_USER": JOB_USER,
            "CI_REGISTRY_PASSWORD": JOB_TOKEN,
            "CI_JOB_TOKEN": JOB_TOKEN,
        }
        if self.ca_file:
            env["CI_SERVER_TLS_CA_FILE"] = self.ca_file
        return env

    def connections(self) -> tuple[int, int]:
        """(registry, realm) TCP connections the proxy accepted since the last ``reset_counters``."""
        if self.proxy is None:
            return (0, 0)
        stats = self.proxy.stats()
        return int(stats[1]["connections"]), int(stats[0]["connections"])

    def reset_counters(self) -> None:
        if self.proxy is not None:
            self.proxy.reset()
        if self.rig.token_server is not None:
            self.rig.token_server.clear_requests()

    def close(self) -> None:
        try:
            if self.proxy is not None:
                self.proxy.close()
        finally:
            self.rig.close()


def _seed(rig: Rig, many: int) -> None:
    with rig.pusher() as pusher:
        rig.seeded = seed_standard(pusher)
    if many:
        seed_many_tags(rig, MANY_REPO, many)


def start_local(directory: Path, pki: Pki, *, many: int) -> World:
    """The ``token`` rig (plain HTTP), seeded."""
    rig = start_rig("token", directory, pki, seed=False)
    try:
        # GitLab.com's token lifetime (15 min): long enough that no timed run meets an expiry.
        assert rig.token_server is not None
        rig.token_server.ttl = 900
        _seed(rig, many)
    except BaseException:
        rig.close()
        raise
    return World("local", rig, rig.host, tls=False, many_tags=many)


def start_far(directory: Path, pki: Pki, *, many: int, delay_ms: float) -> World:
    """TLS registry + TLS realm, both behind one latency-proxy process (route 0 = realm, route 1 = registry)."""
    binary = registry_binary()
    directory.mkdir(parents=True, exist_ok=True)
    token_server = TokenServer(directory / "tokenserver", ssl_context=pki.server_context("127.0.0.2")).start()
    token_server.ttl = 900
    proxy: LatencyProxyProcess | None = None
    registry: RegistryProcess | None = None
    try:
        proxy = LatencyProxyProcess([f"127.0.0.2:0=127.0.0.2:{token_server.port}"], delay_ms)
        realm_host, realm_port = proxy.listen(0)
        registry = RegistryProcess(
            directory / "registry",
            variant="token_tls",
            auth=token_auth(f"https://{realm_host}:{realm_port}/jwt/auth", token_server.cert_file),
            tls=pki.server_cert("127.0.0.1", "localhost"),
            ca_file=pki.ca_file,
            binary=binary,
        ).start()
        proxy.add(f"127.0.0.1:0=127.0.0.1:{registry.port}")
        rig = Rig(
            variant="token_tls",
            registry=registry,
            tmp=directory,
            token_server=token_server,
            ca_file=str(pki.ca_file),
        )
        _seed(rig, many)
        cert_dir = directory / "certs.d"
        cert_dir.mkdir(exist_ok=True)
        shutil.copyfile(pki.ca_file, cert_dir / "ca.crt")
        reg_host, reg_port = proxy.listen(1)
        return World(
            "far",
            rig,
            f"{reg_host}:{reg_port}",
            tls=True,
            ca_file=str(pki.ca_file),
            cert_dir=str(cert_dir),
            proxy=proxy,
            many_tags=many,
        )
    except BaseException:
        with contextlib.suppress(Exception):
            if proxy is not None:
                proxy.close()
        with contextlib.suppress(Exception):
            if registry is not None:
                registry.stop()
        token_server.stop()
        raise
