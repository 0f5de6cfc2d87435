"""#23: SIGKILL and concurrency against the files ocireg writes — Docker's ``config.json`` (``login``/``logout``)
and the files ``pin --write`` rewrites (SEC: concurrent writers, no stale temporary file holding a secret).

The kills land at seeded random moments and, alternately, the moment a temporary file appears (bounded count).
To make the write window wide enough to be hit, the process under test runs through a launcher that sleeps
before each ``os.replace`` — a delay injected around the rename, like the fault proxy's delays; the code under
test is unchanged.
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from integration.faultkit import subprocess_env, wait_until

from clirunner import creds, run_cli
from rig import Rig
from rig.faultproxy import FaultProxy
from rig.proxy_fixtures import FaultProxyFactory
from rig.tokenserver import ALICE, ALICE_PASSWORD

ALICE_ENV = {**creds(ALICE, ALICE_PASSWORD), "OCIREG_TOKEN_CACHE": "0"}
KILLS = 12
SEED = 2323
SLOW_RENAME = (
    "import os, sys, time\n"
    "_replace = os.replace\n"
    "def _slow(src, dst, **kw):\n"
    "    time.sleep(float(os.environ.get('OCIREG_TEST_RENAME_DELAY', '0.3')))\n"
    "    return _replace(src, dst, **kw)\n"
    "os.replace = _slow\n"
    "from ocireg.cli import main\n"
    "sys.exit(main(sys.argv[1:]))\n"
)
CONFIG_TEMP = re.compile(r"^\.config\.json\..*\.tmp$")
PIN_TEMP = re.compile(r"^\..*\.ocireg-tmp$")


def _start(
    args: list[str], *, stdin: str | None = None, env: dict[str, str] | None = None
) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", SLOW_RENAME, *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=subprocess_env({**ALICE_ENV, **(env or {})}),
    )
    if stdin is not None:
        assert proc.stdin is not None
        proc.stdin.write(stdin)
        proc.stdin.close()
        proc.stdin = None  # communicate() must not flush it again
    return proc


def _temps(directory: Path, pattern: re.Pattern[str]) -> list[str]:
    return sorted(name for name in os.listdir(directory) if pattern.match(name))


def _login_args(proxy: FaultProxy) -> list[str]:
    return ["login", proxy.netloc, "--plain-http", proxy.netloc, "-u", ALICE, "--password-stdin"]


def _kill_at(proc: subprocess.Popen[str], rng: random.Random, index: int, seen: Callable[[], bool]) -> None:
    """Even kills at a random moment of the run, odd ones as soon as a temporary file is there."""
    if index % 2 == 0:
        time.sleep(rng.uniform(0.0, 1.5))
    else:
        wait_until(lambda: seen() or proc.poll() is not None, timeout=30, interval=0.005)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)


@pytest.fixture
def config_dir(isolated_env: Path) -> Path:
    path = Path(os.environ["DOCKER_CONFIG"])
    path.mkdir(parents=True, exist_ok=True)
    return path


def test_ten_concurrent_logins_keep_every_entry(
    open_rig: Rig, fault_proxy_factory: FaultProxyFactory, config_dir: Path
) -> None:
    """SEC: concurrent writers — ten ``login`` runs to ten registries at once, one config.json: ten entries;
    then five ``logout`` runs at once with five more logins: exactly the five new ones and five old ones."""
    proxies = [fault_proxy_factory(open_rig.url) for _ in range(15)]
    procs = [_start(_login_args(p), stdin=ALICE_PASSWORD + "\n") for p in proxies[:10]]
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    auths = json.loads((config_dir / "config.json").read_text())["auths"]
    assert sorted(auths) == sorted(p.netloc for p in proxies[:10])
    mixed = [_start(["logout", p.netloc]) for p in proxies[:5]]
    mixed += [_start(_login_args(p), stdin=ALICE_PASSWORD + "\n") for p in proxies[10:]]
    for proc in mixed:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    auths = json.loads((config_dir / "config.json").read_text())["auths"]
    assert sorted(auths) == sorted(p.netloc for p in proxies[5:])
    assert _temps(config_dir, CONFIG_TEMP) == []


def test_sigkill_during_login_leaves_no_temporary_file_after_the_next_write(
    open_rig: Rig, fault_proxy_factory: FaultProxyFactory, config_dir: Path
) -> None:
    """SEC: SIGKILL at many moments of ``login`` (seeded, bounded): a temporary file (0600, base64 user:password)
    may survive a kill, but never the next write; config.json is always whole JSON."""
    rng = random.Random(SEED)
    proxies = [fault_proxy_factory(open_rig.url) for _ in range(3)]
    left_behind = 0
    kills_leaving_one = 0
    for index in range(KILLS):
        before = set(_temps(config_dir, CONFIG_TEMP))
        proc = _start(_login_args(proxies[index % 2]), stdin=ALICE_PASSWORD + "\n")
        _kill_at(proc, rng, index, lambda: bool(_temps(config_dir, CONFIG_TEMP)))
        after = set(_temps(config_dir, CONFIG_TEMP))
        kills_leaving_one += bool(after - before)
        left_behind = max(left_behind, len(after))
        if (config_dir / "config.json").exists():
            json.loads((config_dir / "config.json").read_text())  # never half-written
    assert left_behind > 0, "no kill landed while a temporary file existed: the test proved nothing"
    final = run_cli(_login_args(proxies[2]), ALICE_ENV, stdin=ALICE_PASSWORD + "\n")
    assert final.code == 0, final.both
    assert _temps(config_dir, CONFIG_TEMP) == []
    assert proxies[2].netloc in json.loads((config_dir / "config.json").read_text())["auths"]
    print(
        f"login: {KILLS} kills, {kills_leaving_one} left a temporary file, at most {left_behind} at once; 0 after"
    )


def test_sigkill_during_pin_write_leaves_no_temporary_file_after_the_next_write(
    token_rig: Rig, tmp_path: Path
) -> None:
    """SEC: SIGKILL at many moments of ``pin --write``: the deploy file is old or new, never partial, and no
    ``.*.ocireg-tmp`` survives the next write into the user's tree."""
    repo = "group/project"
    with token_rig.pusher() as pusher:
        image = pusher.push_image(f"{repo}/pin-kill", "v1", label="pin-kill")
    tree = tmp_path / "deploy"
    tree.mkdir()
    target = tree / "compose.yaml"
    unpinned = f"services:\n  app:\n    image: {token_rig.host}/{repo}/pin-kill:v1\n"
    pinned = f"services:\n  app:\n    image: {token_rig.host}/{repo}/pin-kill:v1@{image.digest}\n"
    rng = random.Random(SEED)
    left_behind = 0
    kills_leaving_one = 0
    for index in range(KILLS):
        target.write_text(unpinned)
        before = set(_temps(tree, PIN_TEMP))
        proc = _start(["pin", "--write", str(target)])
        _kill_at(proc, rng, index, lambda: bool(_temps(tree, PIN_TEMP)))
        after = set(_temps(tree, PIN_TEMP))
        kills_leaving_one += bool(after - before)
        left_behind = max(left_behind, len(after))
        assert target.read_text() in (unpinned, pinned)
    assert left_behind > 0, "no kill landed while a temporary file existed: the test proved nothing"
    target.write_text(unpinned)
    final = run_cli(["pin", "--write", str(target)], ALICE_ENV)
    assert final.code == 0, final.both
    assert target.read_text() == pinned
    assert _temps(tree, PIN_TEMP) == []
    print(
        f"pin --write: {KILLS} kills, {kills_leaving_one} left a temporary file, at most {left_behind} at once; 0 after"
    )
