"""Seven public registries under their own names on loopback (#22 item 6; docs/testing.md "Registries under
their own names"): one front module per registry, each citing what it models from which source.

``start_front(cls, directory, pki)`` starts a front and its ``docker-registry``; ``FrontEnv`` gives the
environment a CLI run needs (the rig CA, ``OCIREG_TEST_CONNECT_TO``, a docker config.json, stand-in credential
helpers on ``PATH``).
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import TypeVar

from ..pki import Pki
from ..seed import Pusher, SeededManifest
from .front import Account, RegistryFront

__all__ = ["Account", "FrontEnv", "RegistryFront", "push", "start_front"]

F = TypeVar("F", bound=RegistryFront)


def start_front(cls: type[F], directory: Path, pki: Pki) -> F:
    front = cls(directory, pki)
    try:
        front.start()
    except BaseException:
        front.stop()
        raise
    return front


def push(front: RegistryFront, repo: str, tag: str, label: str) -> SeededManifest:
    """Push an image straight into the front's docker-registry (no auth there)."""
    with Pusher(front.backend.url) as pusher:
        return pusher.push_image(repo, tag, label=label)


def push_tags(front: RegistryFront, manifest: SeededManifest, tags: list[str]) -> None:
    with Pusher(front.backend.url) as pusher:
        for tag in tags:
            pusher.tag(manifest, tag)


_HELPER = """#!/bin/sh
# A stand-in for {name}: the docker-credential-helpers protocol, one fixed answer.
[ "$1" = get ] || exit 1
cat >/dev/null
printf '%s' '{answer}'
"""


class FrontEnv:
    """The environment of one test: CA, connect-to mapping, HOME's docker config, helpers on PATH."""

    def __init__(self, front: RegistryFront, pki: Pki, home: Path) -> None:
        self.front = front
        self.home = home
        self.bin = home / "bin"
        self.env = {
            "OCIREG_CA_FILE": str(pki.ca_file),
            "OCIREG_TEST_CONNECT_TO": front.connect_to(),
            "PATH": f"{self.bin}{os.pathsep}{os.environ.get('PATH', '')}",
        }

    def docker_config(self, config: dict[str, object]) -> Path:
        path = Path(os.environ["DOCKER_CONFIG"]) / "config.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(config))
        return path

    def docker_login(self, key: str, user: str, secret: str) -> Path:
        """config.json ``auths[key]`` as ``docker login`` writes it."""
        import base64

        auth = base64.b64encode(f"{user}:{secret}".encode()).decode()
        return self.docker_config({"auths": {key: {"auth": auth}}})

    def podman_login(self, key: str, user: str, secret: str) -> Path:
        """``${XDG_RUNTIME_DIR}/containers/auth.json`` as ``podman login`` writes it."""
        import base64

        auth = base64.b64encode(f"{user}:{secret}".encode()).decode()
        path = Path(os.environ["XDG_RUNTIME_DIR"]) / "containers" / "auth.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"auths": {key: {"auth": auth}}}))
        return path

    def credential_helper(self, name: str, server: str, user: str, secret: str) -> Path:
        """A stand-in ``docker-credential-NAME`` on PATH answering ``user``/``secret``."""
        self.bin.mkdir(parents=True, exist_ok=True)
        answer = json.dumps({"ServerURL": server, "Username": user, "Secret": secret})
        path = self.bin / f"docker-credential-{name}"
        path.write_text(_HELPER.format(name=f"docker-credential-{name}", answer=answer))
        path.chmod(path.stat().st_mode | stat.S_IXUSR)
        return path
