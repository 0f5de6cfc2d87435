"""The demo behind scripts/demo: the seed's deploy gate, end to end, on this machine.

It starts the test rig's token-auth registry (real docker-registry + GitLab-like token endpoint on another
loopback address), then runs the installed ``ocireg`` command the way a GitLab CI job would, with only the
CI_* variables a runner provides.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from rig import Pki, start_rig  # noqa: E402
from rig.tokenserver import BOB, BOB_PASSWORD, JOB_TOKEN, JOB_USER  # noqa: E402

OCIREG = str(ROOT / ".venv" / "bin" / "ocireg")


def show(argv: list[str], env: dict[str, str], note: str) -> int:
    print(f"\n$ {' '.join(shlex.quote(a) for a in ['ocireg', *argv])}    # {note}", flush=True)
    code = subprocess.run([OCIREG, *argv], env=env, check=False).returncode
    print(f"(exit {code})", flush=True)
    return code


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="ocireg-demo-") as tmp:
        work = Path(tmp)
        print(
            "starting docker-registry (token auth) and a GitLab-like /jwt/auth on 127.0.0.2 ...", flush=True
        )
        rig = start_rig("token", work / "rig", Pki(work / "pki"))
        try:
            base = {
                "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                "HOME": str(work / "home"),
                "XDG_CACHE_HOME": str(work / "cache"),
            }
            # What a GitLab runner provides to a job of project group/project:
            ci = {
                **base,
                "GITLAB_CI": "true",
                "CI_REGISTRY": rig.host,
                "CI_REGISTRY_IMAGE": f"{rig.host}/group/project",
                "CI_REGISTRY_USER": JOB_USER,
                "CI_REGISTRY_PASSWORD": JOB_TOKEN,
                "CI_SERVER_HOST": "127.0.0.2",
            }
            print(f"registry: {rig.url}   realm: {rig.realm}")
            print(f"CI_REGISTRY_IMAGE={ci['CI_REGISTRY_IMAGE']}")
            codes = [
                show(["exists", ":v1.2.3"], ci, "present: the tag the deploy wants"),
                show(["exists", ":v9.9.9"], ci, "absent: the registry said MANIFEST_UNKNOWN"),
                show(["digest", ":v1.2.3"], ci, "the digest to deploy (warm token cache: one request)"),
                show(
                    ["digest", "--platform", "linux/arm64", ":index"],
                    ci,
                    "one platform of a multi-arch image",
                ),
                show(["exists", f"{rig.host}/other/project:v1"], ci, "denied: no access / no such project"),
                show(
                    ["exists", "-o", "json", f"{rig.host}/group/project:v1.2.3"],
                    {**base, "OCIREG_USERNAME": BOB, "OCIREG_PASSWORD": BOB_PASSWORD},
                    "an outsider's view, as JSON",
                ),
            ]
        finally:
            rig.close()
            print("\nstopped the registry and the token endpoint.")
    expected = [0, 1, 0, 0, 4, 4]
    if codes != expected:
        print(f"demo: unexpected exit codes {codes}, expected {expected}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
