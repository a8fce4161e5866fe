"""Runs one workload several times inside one process per loop, alternating loops.

A diagnostic for noisy machines: `loop_bench.py` runs each measurement in a fresh
process, so a slow phase of the machine and a slow process look alike. Here each
process prints every run, so the machine's phases show up as runs of similar
numbers whichever loop is running.

    python benches/phases.py --loops oxloop,rloop --workload call_soon_chain
"""

import argparse
import asyncio
import subprocess
import sys

import loops
from workloads import WORKLOADS


def one_process(name: str, workload: str, runs: int, n: int) -> None:
    rates = []
    for _ in range(runs):
        loop = loops.new_loop(name)
        asyncio.set_event_loop(loop)
        try:
            ops, seconds = WORKLOADS[workload].run(loop, n)
        finally:
            asyncio.set_event_loop(None)
            loop.close()
        rates.append(ops / seconds / 1e6)
    print(f"{name:8} " + " ".join(f"{r:.2f}" for r in rates), flush=True)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--loops", default="oxloop,rloop")
    p.add_argument("--workload", default="call_soon_chain", choices=sorted(WORKLOADS))
    p.add_argument("--processes", type=int, default=4, help="processes per loop")
    p.add_argument("--runs", type=int, default=6, help="runs per process")
    p.add_argument("-n", type=int, default=None, help="operations per run")
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = p.parse_args()
    n = args.n or WORKLOADS[args.workload].default_n
    if args.child:
        one_process(args.child, args.workload, args.runs, n)
        return 0
    print(f"{args.workload}, {n} operations per run, M ops/s of each run")
    for _ in range(args.processes):
        for name in args.loops.split(","):
            cmd = [sys.executable, __file__, "--child", name, "--workload", args.workload]
            cmd += ["--runs", str(args.runs), "-n", str(n)]
            subprocess.run(cmd, check=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
