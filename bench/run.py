"""ocireg vs skopeo, side by side on the same rig in the same run: ``.venv/bin/python bench/run.py [--quick]``.

See bench/README.md for what each case measures and how to read the ratios. In short: every timed case runs the
tools alternately (round-robin, the starting tool rotating each round) so that the load of a shared machine hits
both alike; figures are medians of wall time of whole processes, started the way users start them
(``.venv/bin/ocireg``, ``skopeo``). Results are printed and appended to bench/RESULTS.md; raw samples go to
bench/out/ (git-ignored).

Every loop is bounded twice: by a number of rounds and by a time cap per case, inside a total budget
(``--budget``; default 540 s full, 115 s quick). A case cut short by its cap says so in the notes.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import functools
import json
import os
import platform
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
if str(BENCH_DIR) not in sys.path:
    sys.path.insert(0, str(BENCH_DIR))

from rigs import ALICE, ALICE_PASSWORD, MANY_REPO, World, start_far, start_local  # noqa: E402

VENV_BIN = ROOT / ".venv" / "bin"
OCIREG = VENV_BIN / "ocireg"
PYTHON = VENV_BIN / "python"
RESULTS = BENCH_DIR / "RESULTS.md"
OUT_DIR = BENCH_DIR / "out"
ACCEPT = ", ".join(
    (
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    )
)
DELAY_MS = 10.0  # one way: 20 ms round trip, a CI runner to gitlab.com
BATCH_FAR = 200
BATCH_LOCAL = 1000
TAGS = 1000
JOBS = 16
RUN_TIMEOUT = 120.0  # one process; a hung tool must not hang the bench


# ----------------------------------------------------------------------------------------------------------
# Plans: how many rounds and how many seconds each case may take
# ----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    name: str
    budget: float
    version_runs: int
    single_rounds: int
    single_cap: float
    batch_far_ocireg: int  # ocireg batch samples, spread through the skopeo loop
    batch_far_skopeo_loops: int  # loops of BATCH_FAR skopeo runs
    batch_far_cap: float
    local_batch_rounds: int
    wrk_runs: int
    wrk_seconds: int
    tags_rounds: int
    breakdown_runs: int


FULL = Plan(
    name="full",
    budget=540,
    version_runs=40,
    single_rounds=15,
    single_cap=45,
    batch_far_ocireg=8,
    batch_far_skopeo_loops=2,
    batch_far_cap=170,
    local_batch_rounds=5,
    wrk_runs=2,
    wrk_seconds=5,
    tags_rounds=10,
    breakdown_runs=10,
)
QUICK = Plan(
    name="quick",
    budget=115,
    version_runs=20,
    single_rounds=5,
    single_cap=12,
    batch_far_ocireg=3,
    batch_far_skopeo_loops=1,
    batch_far_cap=25,
    local_batch_rounds=2,
    wrk_runs=1,
    wrk_seconds=3,
    tags_rounds=3,
    breakdown_runs=3,
)


# ----------------------------------------------------------------------------------------------------------
# Running processes
# ----------------------------------------------------------------------------------------------------------


@dataclass
class Sample:
    wall: float  # seconds
    cpu: float  # user + system seconds of the child
    rc: int


class BenchError(RuntimeError):
    """A tool failed where it must succeed: the figure would be meaningless."""


class Runner:
    """Starts processes, times them, and keeps the total time budget."""

    def __init__(self, plan: Plan, work: Path, started: float) -> None:
        self.plan = plan
        self.work = work
        self.started = started  # the budget counts from program start, rig start-up included
        self.home = work / "home"  # an empty HOME: no auth files, registries.conf overrides or token caches
        self.home.mkdir(parents=True, exist_ok=True)
        # Byte-compiled modules in a cache of the bench's own: a pip/pipx install has them, while this machine
        # sets PYTHONDONTWRITEBYTECODE=1, which would make every ocireg run compile its sources again.
        self.pycache = OUT_DIR / "pycache"
        self._cold = 0
        self.case_end = float("inf")  # set by main() before each case: its share of the budget

    def left(self) -> float:
        return self.plan.budget - (time.monotonic() - self.started)

    def case_left(self) -> float:
        """Seconds the running case may still use (its share, and never past the total budget)."""
        return min(self.case_end - time.monotonic(), self.left())

    def base_env(self) -> dict[str, str]:
        return {
            "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
            "HOME": str(self.home),
            "LANG": "C.UTF-8",
            "TMPDIR": str(self.work),
        }

    def ocireg_env(self, cache_dir: Path | None = None, *, bytecode: bool = True) -> dict[str, str]:
        env = self.base_env()
        env.update(OCIREG_USERNAME=ALICE, OCIREG_PASSWORD=ALICE_PASSWORD)
        env["OCIREG_CACHE_DIR"] = str(cache_dir or self.fresh_cache())
        if bytecode:
            env["PYTHONPYCACHEPREFIX"] = str(self.pycache)
        else:
            env["PYTHONDONTWRITEBYTECODE"] = "1"
            env["PYTHONPYCACHEPREFIX"] = str(self.work / "no-pycache")  # empty: every module compiles
        return env

    def fresh_cache(self) -> Path:
        self._cold += 1
        return self.work / "caches" / f"cold-{self._cold}"

    def run(
        self,
        argv: Sequence[str],
        env: dict[str, str],
        *,
        check: bool = True,
        capture: bool = False,
    ) -> tuple[Sample, str]:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        proc = subprocess.run(
            list(argv),
            env=env,
            stdin=subprocess.DEVNULL,
            text=True,
            stdout=subprocess.PIPE if capture else subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            timeout=RUN_TIMEOUT,
            check=False,
        )
        wall = time.perf_counter() - t0
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        if check and proc.returncode != 0:
            raise BenchError(
                f"{' '.join(argv[:3])}... exited {proc.returncode}: {proc.stderr.strip()[-800:]}"
            )
        return Sample(wall, cpu, proc.returncode), (proc.stdout or "") + (proc.stderr or "")


def alternate(
    runner: Runner, tasks: dict[str, Callable[[], Sample]], rounds: int, cap: float
) -> tuple[dict[str, list[Sample]], bool]:
    """Round-robin the tasks (start rotating each round) after one untimed warm-up each.

    Stops after ``rounds`` rounds or when ``cap`` seconds (or the total budget) are spent; returns the samples and
    whether the cap cut the series short.
    """
    for task in tasks.values():
        task()  # warm-up: page cache, byte-code cache, registry caches
    samples: dict[str, list[Sample]] = {name: [] for name in tasks}
    names = list(tasks)
    end = min(time.monotonic() + cap, runner.case_end)
    cut = False
    for r in range(rounds):
        if r > 0 and (time.monotonic() > end or runner.left() < 2):
            cut = True
            break
        order = names[r % len(names) :] + names[: r % len(names)]
        for name in order:
            samples[name].append(tasks[name]())
    return samples, cut


def med(samples: Sequence[Sample], attr: str = "wall") -> float:
    return float(statistics.median(float(getattr(s, attr)) for s in samples))


def quartiles(samples: Sequence[Sample]) -> list[float]:
    values = sorted(s.wall for s in samples)
    if len(values) < 4:
        return [values[0], values[-1]]
    q = statistics.quantiles(values, n=4)
    return [q[0], q[2]]


# ----------------------------------------------------------------------------------------------------------
# The table
# ----------------------------------------------------------------------------------------------------------


@dataclass
class Row:
    figure: str
    ocireg: str
    other: str
    ratio: str
    target: str
    met: str
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass
class Report:
    plan: Plan
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    profile: list[str] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict)
    done: dict[str, Row] = field(default_factory=dict)  # #25's "Done when" figures, by name

    def add(self, row: Row, done: str | None = None) -> None:
        if done is not None:
            self.done[done] = row
        self.rows.append(row)
        print(
            f"  {row.figure}: ocireg {row.ocireg} | {row.other} | {row.ratio} (target {row.target}: {row.met})"
        )


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def yes(ok: bool) -> str:
    return "yes" if ok else "**no**"


def ratio_row(
    figure: str, ours: list[Sample], theirs: list[Sample], limit: float | None, other_label: str = "skopeo"
) -> Row:
    a, b = med(ours), med(theirs)
    ratio = a / b
    return Row(
        figure,
        f"{ms(a)} (cpu {ms(med(ours, 'cpu'))})",
        f"{other_label} {ms(b)} (cpu {ms(med(theirs, 'cpu'))})",
        f"{ratio:.2f}×",
        f"≤ {limit}×" if limit is not None else "—",
        yes(ratio <= limit) if limit is not None else "info",
        {
            "ocireg": [asdict(s) for s in ours],
            "other": [asdict(s) for s in theirs],
            "ocireg_iqr": quartiles(ours),
            "other_iqr": quartiles(theirs),
        },
    )


def skipped(figure: str, target: str, why: str) -> Row:
    return Row(figure, "—", "—", "—", target, f"skipped: {why}")


# ----------------------------------------------------------------------------------------------------------
# Command lines
# ----------------------------------------------------------------------------------------------------------


def ocireg_exists(world: World, refs: Sequence[str], *, cold: bool, extra: Sequence[str] = ()) -> list[str]:
    argv = [str(OCIREG), "exists", *extra]
    if cold:
        argv.append("--no-token-cache")
    if world.ca_file:
        argv += ["--ca-file", world.ca_file]
    return argv + list(refs)


def floor_task(runner: Runner, world: World) -> Callable[[], Sample]:
    """bench/floor.py for this world: one HEAD with a token minted by the token server, stdlib only."""
    env = runner.ocireg_env()
    env["FLOOR_TOKEN"] = world.rig.mint("group/project", ("pull",), subject=ALICE, ttl=900)
    argv = [str(PYTHON), str(BENCH_DIR / "floor.py")]
    argv += [world.host, "/v2/group/project/manifests/oci", "-"]
    if world.ca_file:
        argv.append(world.ca_file)

    def run_floor() -> Sample:
        return runner.run(argv, env)[0]

    return run_floor


def own_share(world: str, warm: Sequence[Sample], stdlib_floor: Sequence[Sample]) -> str:
    """What ocireg adds on top of the least a stdlib program pays for the same warm HEAD (#16: ≤ 25 ms)."""
    ours, floor = med(warm), med(stdlib_floor)
    return (
        f"{world} warm check: ocireg {ms(ours)} vs stdlib floor {ms(floor)}; ocireg's own work (argument parsing, "
        f"credentials, token cache, policies, output) adds {ms(ours - floor)} = {(ours - floor) / ours:.0%} of it"
    )


def skopeo_tls(world: World) -> list[str]:
    # Plain HTTP on loopback: --tls-verify=false lets skopeo fall back to http, as ocireg does by itself.
    return ["--cert-dir", world.cert_dir] if world.cert_dir else ["--tls-verify=false"]


def skopeo_inspect(world: World, ref: str) -> list[str]:
    return [
        "skopeo",
        "inspect",
        "--raw",
        *skopeo_tls(world),
        "--creds",
        f"{ALICE}:{ALICE_PASSWORD}",
        f"docker://{ref}",
    ]


def skopeo_tags(world: World, repo: str) -> list[str]:
    return [
        "skopeo",
        "list-tags",
        *skopeo_tls(world),
        "--creds",
        f"{ALICE}:{ALICE_PASSWORD}",
        f"docker://{repo}",
    ]


# ----------------------------------------------------------------------------------------------------------
# Cases
# ----------------------------------------------------------------------------------------------------------


def case_version(runner: Runner, report: Report) -> None:
    """``ocireg --version`` (and ``--help``) wall time: interpreter start + the CLI's own imports, nothing else."""
    env = runner.ocireg_env()
    for _ in range(2):
        runner.run([str(OCIREG), "--version"], env)  # warm the byte-code cache
    tasks = {
        "version": [str(OCIREG), "--version"],
        "help": [str(OCIREG), "--help"],
        "exists_help": [str(OCIREG), "exists", "--help"],
    }
    got: dict[str, list[Sample]] = {name: [] for name in [*tasks, "skopeo"]}
    for i in range(runner.plan.version_runs):
        got["version"].append(runner.run(tasks["version"], env)[0])
        got["skopeo"].append(runner.run(["skopeo", "--version"], runner.base_env())[0])
        if i % 4 == 0:  # --help is informative only: a quarter of the runs is enough
            got["help"].append(runner.run(tasks["help"], env)[0])
            got["exists_help"].append(runner.run(tasks["exists_help"], env)[0])
    m = med(got["version"])
    sk = med(got["skopeo"])
    report.add(
        Row(
            f"`ocireg --version` (median of {len(got['version'])})",
            f"{ms(m)} (cpu {ms(med(got['version'], 'cpu'))})",
            f"skopeo --version {ms(sk)}",
            f"{m / sk:.2f}×",
            "≤ 40 ms",
            yes(m <= 0.040),
            {name: [asdict(x) for x in samples] for name, samples in got.items()},
        ),
        done="--version",
    )
    for name, label in (("help", "`ocireg --help`"), ("exists_help", "`ocireg exists --help`")):
        h = med(got[name])
        report.add(
            Row(
                f"{label} (median of {len(got[name])})",
                f"{ms(h)} (cpu {ms(med(got[name], 'cpu'))})",
                f"skopeo --version {ms(sk)}",
                f"{h / sk:.2f}×",
                "(40 ms, as --version)",
                "info" if h <= 0.040 else "info: over",
                {},
            )
        )


def case_local_single(runner: Runner, report: Report, world: World) -> float:
    ref = world.ref()
    warm = runner.work / "caches" / "local-warm"
    runner.run(ocireg_exists(world, [ref], cold=False), runner.ocireg_env(warm))
    tasks = {
        "cold": lambda: runner.run(ocireg_exists(world, [ref], cold=True), runner.ocireg_env())[0],
        "warm": lambda: runner.run(ocireg_exists(world, [ref], cold=False), runner.ocireg_env(warm))[0],
        "skopeo": lambda: runner.run(skopeo_inspect(world, ref), runner.base_env())[0],
        "floor": floor_task(runner, world),
    }
    s, cut = alternate(runner, tasks, runner.plan.single_rounds, runner.plan.single_cap)
    n = len(s["cold"])
    report.add(ratio_row(f"local single check, cold (n={n})", s["cold"], s["skopeo"], 4.0))
    report.add(ratio_row(f"local single check, warm token cache (n={n})", s["warm"], s["skopeo"], 4.0))
    report.add(
        ratio_row(f"local, Python floor: bench/floor.py, token known (n={n})", s["floor"], s["skopeo"], None)
    )
    report.notes.append(own_share("local", s["warm"], s["floor"]))
    if cut:
        report.notes.append(f"local single check: cut to {n} rounds by its time cap")
    return med(s["cold"])


def case_pyz(runner: Runner, report: Report, world: World) -> None:
    """#18: ``python3 -I -S ocireg.pyz`` (built here by scripts/build-pyz) next to the installed command, alternately:
    ``--version`` and a warm ``exists``; an empty zipapp gives what ``python3 -I -S FILE.pyz`` costs by itself."""
    pyz = runner.work / "pyz" / "ocireg.pyz"
    build = [str(PYTHON), str(ROOT / "scripts" / "build-pyz"), "--output", str(pyz), "--python", str(PYTHON)]
    runner.run(build, runner.base_env())
    empty = runner.work / "pyz" / "empty.pyz"
    with zipfile.ZipFile(empty, "w") as archive:
        archive.writestr("__main__.py", "")
    pyz_python = [str(PYTHON), "-I", "-S"]
    ref = world.ref()
    env = runner.ocireg_env(runner.work / "caches" / "pyz-warm")
    exists = ocireg_exists(world, [ref], cold=False)
    runner.run(exists, env)  # fills the token cache both then use
    tasks = {
        "installed --version": lambda: runner.run([str(OCIREG), "--version"], env)[0],
        "pyz --version": lambda: runner.run([*pyz_python, str(pyz), "--version"], env)[0],
        "empty pyz": lambda: runner.run([*pyz_python, str(empty)], env)[0],
        "installed exists": lambda: runner.run(exists, env)[0],
        "pyz exists": lambda: runner.run([*pyz_python, str(pyz), *exists[1:]], env)[0],
    }
    s, cut = alternate(runner, tasks, runner.plan.version_runs, runner.plan.single_cap)
    n = len(s["pyz --version"])
    label = "installed"
    report.add(
        ratio_row(f"`ocireg.pyz --version` (n={n})", s["pyz --version"], s["installed --version"], 1.1, label)
    )
    report.add(
        ratio_row(f"floor: an empty pyz (n={n})", s["empty pyz"], s["installed --version"], None, label)
    )
    report.add(
        ratio_row(f"`ocireg.pyz exists`, warm (n={n})", s["pyz exists"], s["installed exists"], 1.1, label)
    )
    if cut:
        report.notes.append(f"pyz start-up: cut to {n} rounds by its time cap")


def case_far_single(runner: Runner, report: Report, world: World) -> None:
    ref = world.ref()
    warm = runner.work / "caches" / "far-warm"
    # Connections per check, read at the latency proxy (TLS hides the requests themselves).
    conns: dict[str, tuple[int, int]] = {}
    world.reset_counters()
    runner.run(ocireg_exists(world, [ref], cold=False), runner.ocireg_env(warm))
    conns["ocireg cold"] = world.connections()
    world.reset_counters()
    runner.run(ocireg_exists(world, [ref], cold=False), runner.ocireg_env(warm))
    conns["ocireg warm"] = world.connections()
    world.reset_counters()
    runner.run(skopeo_inspect(world, ref), runner.base_env())
    conns["skopeo"] = world.connections()
    tasks = {
        "cold": lambda: runner.run(ocireg_exists(world, [ref], cold=True), runner.ocireg_env())[0],
        "warm": lambda: runner.run(ocireg_exists(world, [ref], cold=False), runner.ocireg_env(warm))[0],
        "skopeo": lambda: runner.run(skopeo_inspect(world, ref), runner.base_env())[0],
        "floor": floor_task(runner, world),
    }
    s, cut = alternate(runner, tasks, runner.plan.single_rounds, runner.plan.single_cap)
    n = len(s["cold"])
    report.add(
        ratio_row(
            f"far single check (20 ms RTT, TLS), warm token cache (n={n})", s["warm"], s["skopeo"], 0.8
        ),
        done="far warm",
    )
    report.add(
        ratio_row(f"far single check (20 ms RTT, TLS), cold (n={n})", s["cold"], s["skopeo"], 1.0),
        done="far cold",
    )

    report.add(
        ratio_row(f"far, Python floor: bench/floor.py, token known (n={n})", s["floor"], s["skopeo"], None)
    )
    report.notes.append(own_share("far", s["warm"], s["floor"]))

    def fmt(pair: tuple[int, int]) -> str:
        return f"{pair[0]}+{pair[1]}"

    report.add(
        Row(
            "TCP/TLS connections per far check, registry+realm, cold / warm",
            f"{fmt(conns['ocireg cold'])} / {fmt(conns['ocireg warm'])}",
            f"skopeo {fmt(conns['skopeo'])} (no cache)",
            "—",
            "—",
            "info",
            {k: list(v) for k, v in conns.items()},
        )
    )
    if cut:
        report.notes.append(f"far single check: cut to {n} rounds by its time cap")
    probe = statistics.median(tls_probe(world) for _ in range(5))
    report.notes.append(
        f"far world: one TCP+TLS handshake costs {ms(probe)} here; ocireg's loopback scheme probe makes the "
        "registry's handshake before the first request and that connection carries it (#16), so a cold check "
        "pays no handshake of its own for the probe (the connections row: 1 registry connection cold)"
    )


def ci_exists(world: World, env: dict[str, str], tag: str = "oci") -> list[str]:
    """``ocireg exists :TAG`` as a job's script writes it: the registry, credentials and CA from the variables."""
    del env  # the variables carry everything; kept for symmetry with skopeo_ci
    return [str(OCIREG), "exists", f":{tag}"]


def skopeo_ci(world: World, env: dict[str, str], tag: str = "oci") -> list[str]:
    """skopeo as a job runs it: ``--creds $CI_REGISTRY_USER:$CI_REGISTRY_PASSWORD docker://$CI_REGISTRY_IMAGE:TAG``
    (with the CA in a cert dir, skopeo's way of trusting ``CI_SERVER_TLS_CA_FILE``)."""
    creds = f"{env['CI_REGISTRY_USER']}:{env['CI_REGISTRY_PASSWORD']}"
    return [
        "skopeo",
        "inspect",
        "--raw",
        *skopeo_tls(world),
        "--creds",
        creds,
        f"docker://{env['CI_REGISTRY_IMAGE']}:{tag}",
    ]


def count_requests(runner: Runner, argv: list[str], env: dict[str, str]) -> int:
    """HTTP requests one ocireg run sends (registry and realm), read from its ``--debug`` log."""
    _, out = runner.run([*argv[:2], "--debug", *argv[2:]], env, capture=True)
    return sum(1 for line in out.splitlines() if line.startswith("debug: > "))


def case_ci_cold(runner: Runner, report: Report, world: World) -> None:
    """#25: a cold check inside a GitLab CI job (every job starts without a token cache), far world, with the
    runner's variables, next to skopeo run the way a job runs it."""
    ci = world.ci_env()

    def ocireg_env() -> dict[str, str]:
        env = runner.ocireg_env()  # a fresh cache directory each run: a job's container is new
        del env["OCIREG_USERNAME"], env["OCIREG_PASSWORD"]
        return {**env, **ci}

    argv = ci_exists(world, ci)
    sk = skopeo_ci(world, ci)
    world.reset_counters()
    runner.run(argv, ocireg_env())
    conns = world.connections()
    requests = count_requests(runner, argv, ocireg_env())
    tasks = {
        "ci": lambda: runner.run(argv, ocireg_env())[0],
        "skopeo": lambda: runner.run(sk, runner.base_env())[0],
    }
    s, cut = alternate(runner, tasks, runner.plan.single_rounds, runner.plan.single_cap)
    n = len(s["ci"])
    report.add(
        ratio_row(
            f"far, cold check in a GitLab CI job (runner's variables, `exists :TAG`) (n={n})",
            s["ci"],
            s["skopeo"],
            0.8,
        ),
        done="ci cold",
    )
    report.add(
        Row(
            "far, cold check in a GitLab CI job: HTTP requests, TCP/TLS connections registry+realm",
            f"{requests} requests; {conns[0]}+{conns[1]} connections",
            "skopeo 3 requests; 2+1 connections",
            "—",
            "2 requests",
            yes(requests <= 2),
            {"requests": requests, "connections": list(conns)},
        ),
        done="ci requests",
    )
    if cut:
        report.notes.append(f"CI cold check: cut to {n} rounds by its time cap")


def instructions(runner: Runner, argv: list[str], env: dict[str, str]) -> int:
    """Instructions one process executes (valgrind's callgrind, ``Ir``): repeatable on a loaded machine."""
    out = runner.work / "callgrind.out"
    cmd = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", *argv]
    _, text = runner.run(cmd, env, capture=True)
    found = re.search(r"Collected : (\d+)", text)
    if not found:
        raise BenchError(f"callgrind printed no total: {text[-300:]}")
    return int(found.group(1))


def case_instructions(runner: Runner, report: Report, world: World) -> None:
    """#25 item 3: instructions per cold check (far world, TLS) against the stdlib floor doing the same requests
    (bench/floor.py --cold under ``python3 -I -S``): the CPU share ocireg itself adds, load-independent."""
    if shutil.which("valgrind") is None:
        report.add(skipped("instructions per cold check", "—", "valgrind not installed"))
        return
    ci = world.ci_env()
    ci_env = {**runner.ocireg_env(), **ci}
    del ci_env["OCIREG_USERNAME"], ci_env["OCIREG_PASSWORD"]
    python = [str(PYTHON), "-I", "-S"]
    floor_env = {
        **runner.base_env(),
        "FLOOR_USER": ci["CI_REGISTRY_USER"],
        "FLOOR_PASSWORD": ci["CI_REGISTRY_PASSWORD"],
    }
    floor = [*python, str(BENCH_DIR / "floor.py"), "--cold", world.host, "/v2/group/project/manifests/oci"]
    if world.ca_file:
        floor.append(world.ca_file)
    cases = {
        "ci": (
            [str(PYTHON), str(OCIREG), "exists", ":oci"],
            lambda: {**ci_env, "OCIREG_CACHE_DIR": str(runner.fresh_cache())},
        ),
        "outside": ([str(PYTHON), *ocireg_exists(world, [world.ref()], cold=True)], runner.ocireg_env),
        "floor": (floor, lambda: floor_env),
        "pass": ([*python, "-c", "pass"], runner.base_env),
    }
    got: dict[str, int] = {}
    for name, (argv, env) in cases.items():
        runner.run(argv, env())  # byte-code cache warm
        got[name] = instructions(runner, argv, env())
    mi = 1e6
    for name, label in (
        ("ci", "in a GitLab CI job (token stored)"),
        ("outside", "outside CI (--no-token-cache)"),
    ):
        report.add(
            Row(
                f"instructions per far cold check {label}",
                f"{got[name] / mi:.1f} M",
                f"stdlib floor {got['floor'] / mi:.1f} M (`python3 -I -S -c pass` {got['pass'] / mi:.1f} M)",
                f"{got[name] / got['floor']:.2f}×",
                "—",
                "info",
                dict(got),
            )
        )


def tls_probe(world: World) -> float:
    """Time one TCP connect + TLS handshake (no verification, no request): what a connection costs here."""
    import socket
    import ssl

    host, _, port = world.host.rpartition(":")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    t0 = time.perf_counter()
    with (
        socket.create_connection((host, int(port)), timeout=10) as sock,
        ctx.wrap_socket(sock, server_hostname=host),
    ):
        pass
    return time.perf_counter() - t0


def case_far_batch(runner: Runner, report: Report, world: World) -> None:
    """One ``ocireg exists --from-file`` of 200 refs vs 200 sequential ``skopeo inspect`` (a shell loop)."""
    plan = runner.plan
    refs = world.many_refs(BATCH_FAR)
    ref_file = runner.work / "far-refs.txt"
    ref_file.write_text("\n".join(refs) + "\n", encoding="utf-8")

    def ours() -> Sample:
        argv = ocireg_exists(world, [], cold=False, extra=["--from-file", str(ref_file), "--jobs", str(JOBS)])
        return runner.run(argv, runner.ocireg_env())[0]  # fresh cache dir: cold, one token for the batch

    ours()  # warm-up
    total = BATCH_FAR * plan.batch_far_skopeo_loops
    every = max(1, total // plan.batch_far_ocireg)
    end = min(time.monotonic() + plan.batch_far_cap, runner.case_end)
    ocireg_samples: list[Sample] = []
    skopeo_samples: list[Sample] = []
    # ocireg calls are spread through the long skopeo loop so both see the same machine load.
    for i in range(total):
        if i % every == 0 and len(ocireg_samples) < plan.batch_far_ocireg:
            ocireg_samples.append(ours())
        if time.monotonic() > end or runner.left() < 2:
            break
        skopeo_samples.append(runner.run(skopeo_inspect(world, refs[i % BATCH_FAR]), runner.base_env())[0])
    if not ocireg_samples:
        ocireg_samples.append(ours())
    loop = BATCH_FAR * statistics.fmean(s.wall for s in skopeo_samples)
    one = med(ocireg_samples)
    speedup = loop / one
    report.add(
        Row(
            f"{BATCH_FAR} refs far: one ocireg call (--jobs {JOBS}) vs skopeo loop",
            f"{ms(one)} (n={len(ocireg_samples)}, cpu {ms(med(ocireg_samples, 'cpu'))})",
            f"skopeo loop {loop:.1f} s ({len(skopeo_samples)} runs timed)",
            f"{speedup:.1f}× faster",
            "≥ 30× faster",
            yes(speedup >= 30),
            {"ocireg": [asdict(s) for s in ocireg_samples], "skopeo_runs": [s.wall for s in skopeo_samples]},
        )
    )
    if len(skopeo_samples) < total:
        report.notes.append(
            f"{BATCH_FAR}-ref skopeo loop: {len(skopeo_samples)} runs timed within the case's time cap; the loop "
            f"time is {BATCH_FAR} × their mean"
        )


def registry_cpu(world: World) -> float | None:
    """CPU seconds the world's registry process has used so far (Linux /proc), or ``None``."""
    pid = world.rig.registry.pid
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def parse_wrk_total(text: str) -> int:
    """The number of requests wrk completed (``N requests in …``), 0 if absent."""
    found = re.search(r"(\d+) requests in", text)
    return int(found.group(1)) if found else 0


def parse_wrk(text: str) -> float:
    found = re.search(r"Requests/sec:\s*([0-9.]+)", text)
    if not found:
        raise BenchError(f"wrk output without Requests/sec: {text[-400:]}")
    return float(found.group(1))


def case_local_batch(runner: Runner, report: Report, world: World, single_cold: float) -> None:
    """1,000 refs in one ocireg call: requests per second, against wrk's ceiling on the same endpoint."""
    refs = world.many_refs(BATCH_LOCAL)
    ref_file = runner.work / "local-refs.txt"
    ref_file.write_text("\n".join(refs) + "\n", encoding="utf-8")
    argv = ocireg_exists(world, [], cold=False, extra=["--from-file", str(ref_file), "--jobs", str(JOBS)])
    ours: list[Sample] = []
    wrk_rps: list[float] = []
    wrk_cpu: list[float] = []  # wrk's own CPU seconds per request
    registry_per: dict[str, list[float]] = {}  # the registry's CPU seconds per request, under ocireg and wrk
    token = world.rig.mint(MANY_REPO, ("pull",), subject=ALICE, ttl=900)
    url = f"http://{world.host}/v2/{MANY_REPO}/manifests/t0000"
    wrk = [
        "wrk",
        "-t2",
        f"-c{JOBS}",
        f"-d{runner.plan.wrk_seconds}s",
        "-H",
        f"Authorization: Bearer {token}",
        "-H",
        f"Accept: {ACCEPT}",
        url,
    ]
    runner.run(argv, runner.ocireg_env())  # warm-up
    started = time.monotonic()
    for r in range(max(runner.plan.local_batch_rounds, runner.plan.wrk_runs)):
        if r > 0 and runner.case_left() < 2 * (time.monotonic() - started) / r:
            report.notes.append(f"{BATCH_LOCAL}-ref local batch: cut to {r} rounds by the total budget")
            break
        if r < runner.plan.local_batch_rounds:
            before = registry_cpu(world)
            ours.append(runner.run(argv, runner.ocireg_env())[0])
            if before is not None:
                spent = (registry_cpu(world) or before) - before
                registry_per.setdefault("ocireg", []).append(spent / BATCH_LOCAL)
        if r < runner.plan.wrk_runs:
            before = registry_cpu(world)
            sample, out = runner.run(wrk, runner.base_env(), capture=True)
            rps, total = parse_wrk(out), parse_wrk_total(out)
            wrk_rps.append(rps)
            if before is not None and total:
                spent = (registry_cpu(world) or before) - before
                registry_per.setdefault("wrk", []).append(spent / total)
                wrk_cpu.append(sample.cpu / total)
    wall = med(ours)
    rps = BATCH_LOCAL / wall
    ceiling = statistics.median(wrk_rps)
    steady = BATCH_LOCAL / max(wall - single_cold, 1e-3)
    report.add(
        Row(
            f"{BATCH_LOCAL} refs local (--jobs {JOBS}): req/s ÷ wrk req/s",
            f"{rps:.0f} req/s ({wall:.2f} s, cpu {med(ours, 'cpu'):.2f} s)",
            f"wrk {ceiling:.0f} req/s (GET, 2 threads, {JOBS} connections)",
            f"{rps / ceiling:.2f}",
            "≥ 0.75",
            yes(rps / ceiling >= 0.75),
            {"ocireg": [asdict(s) for s in ours], "wrk_rps": wrk_rps, "steady_rps": steady},
        ),
        done="local batch",
    )
    report.notes.append(
        f"{BATCH_LOCAL}-ref local batch without start-up (wall minus a cold single check): {steady:.0f} req/s "
        f"= {steady / ceiling:.2f} of wrk; ocireg CPU per reference {1000 * med(ours, 'cpu') / BATCH_LOCAL:.2f} ms"
    )
    if registry_per.get("ocireg") and registry_per.get("wrk") and wrk_cpu:
        # #25 item 4: on a machine whose CPUs the registry and the client share, the rate is bound by the CPU
        # both spend per request; this is the most ocireg could reach against wrk with every CPU busy.
        reg_ours, reg_wrk = statistics.median(registry_per["ocireg"]), statistics.median(registry_per["wrk"])
        ours_cpu, theirs_cpu = med(ours, "cpu") / BATCH_LOCAL, statistics.median(wrk_cpu)
        bound = (reg_wrk + theirs_cpu) / (reg_ours + ours_cpu)
        report.notes.append(
            f"{BATCH_LOCAL}-ref local batch, CPU per request: the registry {1000 * reg_ours:.2f} ms for ocireg's "
            f"HEAD, {1000 * reg_wrk:.2f} ms for wrk's GET; ocireg {1000 * ours_cpu:.2f} ms, wrk "
            f"{1000 * theirs_cpu:.3f} ms. With every one of the {os.cpu_count()} CPUs busy, the most ocireg's "
            f"rate can be is {bound:.2f} of wrk's (the registry's CPU and ocireg's share the machine)"
        )


def run_sample(runner: Runner, argv: list[str], cache: Path | None, *, ocireg: bool = True) -> Sample:
    env = runner.ocireg_env(cache) if ocireg else runner.base_env()
    return runner.run(argv, env)[0]


def tags_command(runner: Runner) -> tuple[bool, str]:
    sample, out = runner.run([str(OCIREG), "tags", "--help"], runner.ocireg_env(), check=False, capture=True)
    if sample.rc != 0:
        last = out.strip().splitlines()[-1] if out.strip() else f"exit {sample.rc}"
        return False, last
    return True, ""


def case_tags(runner: Runner, report: Report, worlds: Sequence[World]) -> None:
    """``ocireg tags REPO`` over 1,000 tags vs ``skopeo list-tags``; cold (like skopeo) and with a warm cache."""
    available, why = tags_command(runner)
    for world in worlds:
        where = f"{world.name} ({'TLS, 20 ms RTT' if world.tls else 'plain HTTP'})"
        figure = f"tags of {TAGS} tags, {where}"
        if not available:
            report.add(skipped(figure, "≤ 1.0×", f"`ocireg tags --help` fails ({why[:80]})"))
            continue
        if runner.case_left() < 3:
            report.add(skipped(figure, "≤ 1.0×", "time budget spent"))
            continue
        repo = f"{world.host}/{MANY_REPO}"
        ca = ["--ca-file", world.ca_file] if world.ca_file else []
        cold_argv = [str(OCIREG), "tags", "--no-token-cache", *ca, repo]
        warm_argv = [str(OCIREG), "tags", *ca, repo]
        warm = runner.work / "caches" / f"tags-{world.name}"
        try:
            _, out = runner.run(warm_argv, runner.ocireg_env(warm), capture=True)
            shown = len([line for line in out.splitlines() if re.fullmatch(r"\s*t\d{4}\s*", line)])
            if shown != TAGS:
                report.notes.append(
                    f"`ocireg tags` ({world.name}) printed {shown} tag lines, expected {TAGS}"
                )
            skopeo_argv = skopeo_tags(world, repo)
            # partial binds this world's values now (a lambda would see the loop's last world).
            tasks: dict[str, Callable[[], Sample]] = {
                "cold": functools.partial(run_sample, runner, cold_argv, None),
                "warm": functools.partial(run_sample, runner, warm_argv, warm),
                "skopeo": functools.partial(run_sample, runner, skopeo_argv, None, ocireg=False),
            }
            share = runner.case_left() / (len(worlds) - list(worlds).index(world))
            s, _ = alternate(runner, tasks, runner.plan.tags_rounds, min(runner.plan.single_cap / 2, share))
            n = len(s["cold"])
            limit = 1.0 if world.tls else 4.0  # #16: far ≤ 1.0×, local (start-up bound) ≤ 4×
            report.add(
                ratio_row(f"{figure}, cold (n={n})", s["cold"], s["skopeo"], limit),
                done="tags far cold" if world.tls else None,
            )
            report.add(ratio_row(f"{figure}, warm token cache (n={n})", s["warm"], s["skopeo"], limit))
        except BenchError as exc:
            report.add(skipped(figure, "≤ 1.0× / 4×", f"ocireg tags failed: {str(exc)[:120]}"))


def case_requests(runner: Runner, report: Report, world: World) -> None:
    """HTTP requests per check, counted at a counting proxy in front of the plain-HTTP registry + token server."""
    from rig.faultproxy import FaultProxy

    token_server = world.rig.token_server
    assert token_server is not None
    proxy = FaultProxy(world.rig.url).start()
    try:
        counted = World("counted", world.rig, proxy.netloc, tls=False, many_tags=world.many_tags)

        def count(argv: list[str], env: dict[str, str]) -> tuple[int, int, int]:
            proxy.reset_counters()
            token_server.clear_requests()
            runner.run(argv, env)
            return proxy.count(), token_server.count, proxy.connections_opened

        ref = counted.ref()
        cache = runner.fresh_cache()
        cold = count(ocireg_exists(counted, [ref], cold=False), runner.ocireg_env(cache))
        warm = count(ocireg_exists(counted, [ref], cold=False), runner.ocireg_env(cache))
        sk = count(skopeo_inspect(counted, ref), runner.base_env())
        refs_file = runner.work / "count-refs.txt"
        refs_file.write_text("\n".join(counted.many_refs(BATCH_FAR)) + "\n", encoding="utf-8")
        batch_argv = ocireg_exists(
            counted, [], cold=False, extra=["--from-file", str(refs_file), "--jobs", str(JOBS)]
        )
        bcache = runner.fresh_cache()
        batch_cold = count(batch_argv, runner.ocireg_env(bcache))
        batch_warm = count(batch_argv, runner.ocireg_env(bcache))
    finally:
        proxy.stop()

    def total(c: tuple[int, int, int]) -> int:
        return c[0] + c[1]

    met = total(cold) <= 3 and total(warm) <= 1
    report.add(
        Row(
            "HTTP requests per check (registry + token), cold / warm",
            f"{total(cold)} / {total(warm)}",
            f"skopeo {total(sk)} / {total(sk)} (no cache)",
            "—",
            "3 / 1",
            yes(met),
            {"ocireg_cold": cold, "ocireg_warm": warm, "skopeo": sk},
        )
    )
    report.add(
        Row(
            f"HTTP requests for {BATCH_FAR} refs in one call (--jobs {JOBS}), cold / warm",
            f"{total(batch_cold)} / {total(batch_warm)}",
            f"ideal {BATCH_FAR + 2} / {BATCH_FAR}",
            "—",
            "—",
            "info",
            {"cold": batch_cold, "warm": batch_warm},
        )
    )
    report.notes.append(
        "registry TCP connections per check (counting proxy): "
        f"ocireg cold {cold[2]}, warm {warm[2]}; skopeo {sk[2]} (its https attempt on the plain port included); "
        f"{BATCH_FAR}-ref batch cold {batch_cold[2]}, warm {batch_warm[2]}"
    )


# ----------------------------------------------------------------------------------------------------------
# Profiling: where a local check's time goes
# ----------------------------------------------------------------------------------------------------------


BIG_REPO = "group/project/big"
BIG_MB = 200


#: Runs one command and prints its peak RSS in KiB. A small process of its own forks it: ``ru_maxrss`` counts the
#: memory of the process that forked, before ``exec``, so a child of this (large) bench process would inherit
#: the bench's own peak.
_RSS_WRAPPER = (
    "import os, sys\n"
    "pid = os.fork()\n"
    "if pid == 0:\n"
    "    os.execvp(sys.argv[1], sys.argv[1:])\n"
    "_, status, usage = os.wait4(pid, 0)\n"
    "print(usage.ru_maxrss, file=sys.stderr)\n"
    "sys.exit(os.waitstatus_to_exitcode(status))\n"
)


def peak_rss(argv: Sequence[str], env: dict[str, str]) -> tuple[float, int, float, str]:
    """(peak RSS in MiB, exit code, wall seconds, stderr tail) of one process."""
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-S", "-c", _RSS_WRAPPER, *argv],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        timeout=600,
        check=False,
    )
    wall = time.perf_counter() - t0
    lines = proc.stderr.strip().splitlines() or ["0"]
    kib = int(lines[-1]) if lines[-1].isdigit() else 0
    return kib / 1024, proc.returncode, wall, "\n".join(lines[:-1])[-800:]


def case_blob_rss(runner: Runner, report: Report, local: World, far: World) -> None:
    """Peak RSS of ``ocireg copy`` of an image with one 200 MB layer from the local to the far registry (another
    registry: the layer is streamed, never mounted); ``skopeo copy`` of the same image for scale."""
    from rig.seed import OCI_CONFIG, OCI_LAYER, OCI_MANIFEST

    data = os.urandom(BIG_MB * 1024 * 1024)
    config = json.dumps(
        {"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}}
    )
    with local.rig.pusher() as pusher:
        layer = pusher.put_blob(BIG_REPO, data)
        config_digest = pusher.put_blob(BIG_REPO, config.encode())
        manifest = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": len(config)},
            "layers": [{"mediaType": OCI_LAYER, "digest": layer, "size": len(data)}],
        }
        body = json.dumps(manifest).encode()
        pusher.put_manifest(BIG_REPO, "1", body, OCI_MANIFEST)
    del data
    if not (far.ca_file and far.cert_dir):
        raise BenchError("the far world has no CA file")
    env = runner.ocireg_env()
    argv = [
        str(OCIREG),
        "copy",
        "--ca-file",
        far.ca_file,
        local.ref(BIG_REPO, "1"),
        far.ref(BIG_REPO, "ocireg"),
    ]
    rss, rc, wall, err = peak_rss(argv, env)
    if rc != 0:
        raise BenchError(f"ocireg copy exited {rc}: {err}")
    creds = f"{ALICE}:{ALICE_PASSWORD}"
    skopeo = [
        "skopeo",
        "copy",
        "--src-tls-verify=false",
        "--src-creds",
        creds,
        "--dest-cert-dir",
        far.cert_dir,
        "--dest-creds",
        creds,
        f"docker://{local.ref(BIG_REPO, '1')}",
        f"docker://{far.ref(BIG_REPO, 'skopeo')}",
    ]
    s_rss, s_rc, s_wall, s_err = peak_rss(skopeo, runner.base_env())
    other = f"skopeo {s_rss:.0f} MB ({s_wall:.1f} s)" if s_rc == 0 else f"skopeo failed ({s_err[-120:]})"
    report.add(
        Row(
            f"peak RSS, copy of a {BIG_MB} MB blob (local → far, streamed; wall {wall:.1f} s)",
            f"{rss:.0f} MB",
            other,
            "—",
            "< 100 MB",
            yes(rss < 100),
            {"ocireg_rss_mib": rss, "ocireg_wall": wall, "skopeo_rss_mib": s_rss, "skopeo_wall": s_wall},
        )
    )


def case_breakdown(runner: Runner, report: Report, world: World) -> None:
    """Medians of separate processes that stop at successive points of an ``exists`` run."""
    steps = [
        ("python -c pass", "pass"),
        ("import ocireg.cli", "import ocireg.cli"),
        ("+ import ocireg.operations (HTTP stack, client)", "import ocireg.cli, ocireg.operations"),
        (
            "+ Transport() (TLS context, trust store)",
            "import ocireg.cli, ocireg.operations; from ocireg.transport import Transport, TransportConfig; "
            "Transport(TransportConfig())",
        ),
    ]
    env = runner.ocireg_env()
    results: list[tuple[str, float]] = []
    for label, code in steps:
        if runner.case_left() < 1:
            break
        runner.run([str(PYTHON), "-c", code], env)
        samples = [runner.run([str(PYTHON), "-c", code], env)[0] for _ in range(runner.plan.breakdown_runs)]
        results.append((label, med(samples)))
    warm = runner.work / "caches" / "breakdown-warm"
    argv = ocireg_exists(world, [world.ref()], cold=False)
    runner.run(argv, runner.ocireg_env(warm))
    samples = [runner.run(argv, runner.ocireg_env(warm))[0] for _ in range(runner.plan.breakdown_runs)]
    results.append(("whole `ocireg exists`, warm (1 HEAD)", med(samples)))
    nobc = [
        runner.run([str(OCIREG), "--version"], runner.ocireg_env(bytecode=False))[0]
        for _ in range(runner.plan.breakdown_runs)
    ]
    results.append(("`ocireg --version` without byte-code cache (PYTHONDONTWRITEBYTECODE=1)", med(nobc)))
    report.profile.append(
        "Start-up breakdown (median wall of separate processes, each stopping later): "
        + "; ".join(f"{label} {ms(value)}" for label, value in results)
    )
    report.raw["breakdown"] = results

    # -X importtime of a warm exists: the top-level imports by cumulative time, and the heaviest single modules.
    env = runner.ocireg_env(warm)
    # Through the console script, as users start it (``-m ocireg`` would add runpy's imports).
    _, out = runner.run([str(PYTHON), "-X", "importtime", str(OCIREG), *argv[1:]], env, capture=True)
    rows = []
    for line in out.splitlines():
        found = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)", line)
        if found:
            rows.append((int(found.group(1)), int(found.group(2)), len(found.group(3)), found.group(4)))
    top = sorted((r for r in rows if r[2] <= 1), key=lambda r: -r[1])[:8]
    heavy = sorted(rows, key=lambda r: -r[0])[:8]
    report.profile.append(
        "`-X importtime` of a warm `ocireg exists`, top-level imports by cumulative time: "
        + ", ".join(f"{r[3]} {r[1] / 1000:.0f} ms" for r in top)
    )
    report.profile.append(
        "heaviest single modules (self time): " + ", ".join(f"{r[3]} {r[0] / 1000:.1f} ms" for r in heavy)
    )


# ----------------------------------------------------------------------------------------------------------
# Output
# ----------------------------------------------------------------------------------------------------------


def command_output(argv: Sequence[str]) -> str:
    try:
        proc = subprocess.run(list(argv), capture_output=True, text=True, timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    return (
        (proc.stdout or proc.stderr).strip().splitlines()[0] if (proc.stdout or proc.stderr).strip() else "?"
    )


def cpu_model() -> str:
    text = command_output(["sh", "-c", "lscpu | grep 'Model name'"])
    return text.split(":", 1)[-1].strip() or platform.processor() or "?"


def machine_lines() -> list[str]:
    load = os.getloadavg()
    return [
        f"CPU: {cpu_model()} ({os.cpu_count()} CPUs), {platform.system()} {platform.release()}; "
        f"load average at start {load[0]:.2f}",
        f"versions: {command_output([str(PYTHON), '--version'])}, {command_output([str(OCIREG), '--version'])}, "
        f"{command_output(['skopeo', '--version'])}, {command_output(['wrk', '--version'])[:22]}, "
        f"{command_output(['docker-registry', '--version'])}",
    ]


def overload_warning(report: Report) -> list[str]:
    loads: dict[str, float] = report.raw.get("load", {})
    cpus = os.cpu_count() or 1
    if not loads or max(loads.values()) < cpus:
        return []
    return [
        f"- **overloaded machine**: 1-minute load average up to {max(loads.values()):.1f} on {cpus} CPUs during "
        "the cases. ocireg's start-up is CPU-bound and skopeo's run mostly waits on the network, so a busy CPU "
        "slows ocireg more: start-up-bound ratios here are pessimistic for ocireg; compare the cpu figures"
    ]


#: #25's "Done when", in its order: (key in Report.done, what it is).
DONE_WHEN = (
    ("ci cold", "cold check in a GitLab CI job vs skopeo"),
    ("far cold", "cold check outside CI vs skopeo"),
    ("far warm", "far warm check vs skopeo"),
    ("tags far cold", "`tags` far cold vs skopeo"),
    ("local batch", "local batch of 1,000 vs wrk"),
    ("--version", "`--version`"),
    ("ci requests", "requests of a cold check in CI"),
)


def done_lines(report: Report) -> list[str]:
    """#25's "Done when" figures of this run, one line each, met or not (absent: the case did not run)."""
    load = report.raw.get("load", {})
    lines = [
        f'#25 "Done when" (load average during the run {min(load.values(), default=0):.1f}-'
        f"{max(load.values(), default=0):.1f}):"
    ]
    for key, label in DONE_WHEN:
        row = report.done.get(key)
        if row is None:
            lines.append(f"- {label}: not measured in this run")
            continue
        value = row.ocireg if key in ("--version", "ci requests") else row.ratio
        lines.append(f"- {label}: {value} (target {row.target}): {row.met}")
    return lines


def write_results(report: Report, header: list[str], elapsed: float) -> Path:
    now = dt.datetime.now(dt.timezone.utc)
    lines = [
        "",
        f"## {now:%Y-%m-%d %H:%M} UTC · {report.plan.name} run ({elapsed:.0f} s)",
        "",
        *[f"- {h}" for h in header],
        f"- load average at end {os.getloadavg()[0]:.2f} (shared machine: absolute times are noisy; ratios come "
        "from alternating runs)",
        f"- far world: TLS registry + TLS realm behind bench/latencyproxy.py, {DELAY_MS:g} ms each way",
        *overload_warning(report),
        "",
        "| figure | ocireg | skopeo / other | ratio | target | met? |",
        "|---|---|---|---|---|---|",
        *[f"| {r.figure} | {r.ocireg} | {r.other} | {r.ratio} | {r.target} | {r.met} |" for r in report.rows],
        "",
    ]
    if report.done:
        lines += [*done_lines(report), ""]
    if report.profile:
        lines += [*[f"- {p}" for p in report.profile], ""]
    if report.notes:
        lines += ["Notes:", "", *[f"- {n}" for n in report.notes], ""]
    if not RESULTS.exists():
        RESULTS.write_text(
            "# Benchmark results\n\nAppended by `bench/run.py` (see bench/README.md). Newest last.\n",
            encoding="utf-8",
        )
    with RESULTS.open("a", encoding="utf-8") as handle:
        handle.write("\n".join(lines))
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    raw = OUT_DIR / f"results-{now:%Y%m%dT%H%M%S}-{report.plan.name}.json"
    raw.write_text(
        json.dumps(
            {"header": header, "rows": [asdict(r) for r in report.rows], "notes": report.notes, **report.raw},
            indent=1,
        ),
        encoding="utf-8",
    )
    return raw


# ----------------------------------------------------------------------------------------------------------
# Main
# ----------------------------------------------------------------------------------------------------------


def preflight() -> None:
    missing = [tool for tool in ("docker-registry", "wrk") if shutil.which(tool) is None]
    if shutil.which("skopeo") is None:
        missing.append("skopeo")
    if missing:
        raise SystemExit(
            f"missing: {', '.join(missing)}; install with: apt-get install -y {' '.join(missing)}"
        )
    if not OCIREG.exists():
        raise SystemExit(f"{OCIREG} not found: create the virtualenv first (scripts/test does)")


def wait_quiet(limit: float) -> None:
    """On a shared machine other people's test runs distort start-up-bound figures: optionally wait them out."""
    end = time.monotonic() + max(0.0, limit)
    cpus = os.cpu_count() or 1
    while time.monotonic() < end and os.getloadavg()[0] >= cpus:
        print(
            f"load average {os.getloadavg()[0]:.2f} ≥ {cpus} CPUs; waiting (up to {end - time.monotonic():.0f} s) ..."
        )
        time.sleep(min(10.0, max(0.0, end - time.monotonic())))


@contextlib.contextmanager
def worlds(work: Path, quick: bool) -> Iterator[tuple[World, World]]:
    from rig import Pki

    pki = Pki(work / "pki")
    local = start_local(work / "local", pki, many=max(BATCH_LOCAL, TAGS))
    try:
        far = start_far(work / "far", pki, many=max(BATCH_FAR, TAGS), delay_ms=DELAY_MS)
        try:
            yield local, far
        finally:
            far.close()
    finally:
        local.close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="ocireg vs skopeo benchmarks (see bench/README.md)")
    parser.add_argument("--quick", action="store_true", help="fewer rounds: about 2 minutes instead of 10")
    parser.add_argument("--budget", type=float, help="total seconds (default 540 full, 115 quick)")
    parser.add_argument(
        "--no-write", action="store_true", help="print only; do not append to bench/RESULTS.md"
    )
    parser.add_argument(
        "--only",
        metavar="CASES",
        help="comma-separated case names to run (as printed: '--version', 'local single', 'CI cold', ...)",
    )
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="first wait up to this long for the 1-minute load average to drop below the CPU count",
    )
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else FULL
    if args.budget:
        plan = Plan(**{**asdict(plan), "budget": args.budget})
    preflight()
    wait_quiet(args.wait_quiet)
    started = time.monotonic()
    header = machine_lines()
    print("\n".join(header))
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    report = Report(plan)
    with tempfile.TemporaryDirectory(prefix="ocireg-bench-") as tmp:
        work = Path(tmp)
        runner = Runner(plan, work, started)
        print(
            f"starting rigs (seeding {max(BATCH_LOCAL, TAGS)} tags locally, {max(BATCH_FAR, TAGS)} far) ..."
        )
        with worlds(work, args.quick) as (local, far):
            # (name, case, the least time it needs): each case gets what is left of the budget minus the least
            # the later cases need, so a slow machine trims rounds instead of overrunning the budget.
            steps: list[tuple[str, Callable[[], Any], float]] = [
                ("--version", lambda: case_version(runner, report), 4),
                (
                    "local single",
                    lambda: report.raw.__setitem__("single_cold", case_local_single(runner, report, local)),
                    8,
                ),
                ("pyz start-up", lambda: case_pyz(runner, report, local), 10),
                ("CI cold", lambda: case_ci_cold(runner, report, far), 8),
                ("far single", lambda: case_far_single(runner, report, far), 10),
                ("instructions", lambda: case_instructions(runner, report, far), 8),
                ("requests per check", lambda: case_requests(runner, report, local), 5),
                ("far batch", lambda: case_far_batch(runner, report, far), 15),
                (
                    "local batch",
                    lambda: case_local_batch(runner, report, local, report.raw.get("single_cold", 0.0)),
                    14,
                ),
                ("tags", lambda: case_tags(runner, report, [local, far]), 12),
                ("start-up profile", lambda: case_breakdown(runner, report, local), 8),
                ("blob copy RSS", lambda: case_blob_rss(runner, report, local, far), 20),
            ]
            if args.only:
                wanted = {w.strip() for w in args.only.split(",")}
                unknown = wanted - {name for name, _, _ in steps}
                if unknown:
                    raise SystemExit(f"--only: no case named {', '.join(sorted(unknown))}")
                steps = [step for step in steps if step[0] in wanted]
            for i, (name, step, least) in enumerate(steps):
                later = sum(m for _, _, m in steps[i + 1 :])
                if runner.left() < least:
                    report.notes.append(f"{name}: skipped, the total time budget was spent")
                    continue
                runner.case_end = time.monotonic() + max(least, runner.left() - later)
                load = os.getloadavg()[0]
                print(f"[{time.monotonic() - started:5.0f} s] {name} (load {load:.1f})")
                report.raw.setdefault("load", {})[name] = load
                try:
                    step()
                except (BenchError, subprocess.TimeoutExpired) as exc:
                    report.notes.append(f"{name}: failed: {exc}")
                    print(f"  FAILED: {exc}")
    elapsed = time.monotonic() - started
    for line in report.profile + report.notes:
        print("  " + line)
    print("\n".join(done_lines(report)))
    if not args.no_write:
        raw = write_results(report, header, elapsed)
        print(f"appended to {RESULTS.relative_to(ROOT)}; raw samples in {raw.relative_to(ROOT)}")
    print(f"done in {elapsed:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
