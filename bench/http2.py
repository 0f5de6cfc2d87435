"""Does HTTP/2 help? One batch of references in the far world, HTTP/1.1 and HTTP/2 alternately, same client code.

Issue #7 asks for HTTP/2 "where the registry offers it over TLS if it measurably helps". The registry (Go's
net/http over TLS) offers h2 through ALPN; httpx2 speaks it when the ``h2`` package is installed and
``TransportConfig(http2=True)``. This script answers the question with numbers instead of a guess:

    .venv/bin/pip install h2                  # not an ocireg dependency; only this script needs it
    .venv/bin/python bench/http2.py [--refs 200] [--rounds 5] [--jobs 16]

It prints the median wall time of ``check_exists`` over ``--refs`` references (one client per round, so each
round pays its own connections and token), and the import cost of ``h2`` that every run would pay.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rigs import ALICE, ALICE_PASSWORD, start_far

from ocireg.client import RegistryClient
from ocireg.credentials import Credential
from ocireg.operations import check_exists
from ocireg.reference import parse_reference
from ocireg.transport import TransportConfig

from rig import Pki


def _import_cost_ms(module: str, runs: int = 7) -> float:
    """Median of fresh processes timing ``import module`` alone."""
    code = f"import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
    samples = [
        float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
        for _ in range(runs)
    ]
    return statistics.median(samples) * 1000


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--refs", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--jobs", type=int, default=16)
    parser.add_argument("--delay-ms", type=float, default=10.0)
    args = parser.parse_args(argv)
    try:
        import h2  # noqa: F401
    except ImportError:
        print("bench/http2.py needs the h2 package: .venv/bin/pip install h2", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="ocireg-http2-"))
    world = start_far(work / "world", Pki(work / "pki"), many=args.refs, delay_ms=args.delay_ms)
    try:
        refs = [(text, parse_reference(text)) for text in world.many_refs(args.refs)]
        credential = Credential(username=ALICE, password=ALICE_PASSWORD, source="bench")
        samples: dict[bool, list[float]] = {False: [], True: []}
        for round_no in range(args.rounds + 1):  # round 0 warms both paths up and is not counted
            for http2 in (False, True):
                config = TransportConfig(ca_file=world.ca_file, http2=http2)
                started = time.perf_counter()
                with RegistryClient(credential, config=config) as client:
                    results = check_exists(client, refs, jobs=args.jobs)
                elapsed = time.perf_counter() - started
                if any(r.status != "present" for r in results):
                    print("a reference was not present: the comparison is void", file=sys.stderr)
                    return 1
                if round_no:
                    samples[http2].append(elapsed)
        h1, h2_ = (statistics.median(samples[flag]) * 1000 for flag in (False, True))
        print(
            f"{args.refs} refs far ({2 * args.delay_ms:.0f} ms RTT, TLS), --jobs {args.jobs}, {args.rounds} rounds"
        )
        print(f"  HTTP/1.1: {h1:.0f} ms median  {[round(s * 1000) for s in samples[False]]}")
        print(
            f"  HTTP/2:   {h2_:.0f} ms median  {[round(s * 1000) for s in samples[True]]}  ({h2_ / h1:.2f}x)"
        )
        print(f"  import h2.connection: {_import_cost_ms('h2.connection'):.0f} ms per process")
    finally:
        world.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
