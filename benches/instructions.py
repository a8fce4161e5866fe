"""Instructions per operation under callgrind: deterministic, unlike wall clock.

    python benches/instructions.py [--loops oxloop,oxloop-metrics] [--workloads a,b]
                                   [--sizes 20000,60000]

Each (loop, workload) runs in a fresh process under `valgrind --tool=callgrind` at two
sizes; the difference of the two instruction totals divided by the difference of the
sizes is the cost of one operation (start-up and set-up cancel). `PYTHONHASHSEED=0`.
To measure another build of oxloop, put its package first with `PYTHONPATH`.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys

import loops
from workloads import WORKLOADS

_COLLECTED = re.compile(r"Collected\s*:\s*(\d+)")


def child(loop_name: str, workload: str, n: int) -> None:
    loop = loops.new_loop(loop_name)
    try:
        WORKLOADS[workload].run(loop, n)
    finally:
        loop.close()


def instructions(loop_name: str, workload: str, n: int) -> int:
    cmd = [
        "valgrind",
        "--tool=callgrind",
        "--callgrind-out-file=/dev/null",
        sys.executable,
        os.path.abspath(__file__),
        "--child",
        loop_name,
        workload,
        str(n),
    ]
    env = dict(os.environ, PYTHONHASHSEED="0")
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=1800)
    found = _COLLECTED.search(proc.stderr)
    if proc.returncode != 0 or found is None:
        raise RuntimeError(f"{loop_name}/{workload} n={n} failed:\n{proc.stderr[-2000:]}")
    return int(found.group(1))


def main(argv: list[str]) -> int:
    if argv[:1] == ["--child"]:
        child(argv[1], argv[2], int(argv[3]))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loops", default="oxloop,oxloop-metrics")
    parser.add_argument("--workloads", default="call_soon_chain,call_soon_batch,sleep0_tasks")
    parser.add_argument("--sizes", default="20000,60000")
    args = parser.parse_args(argv)
    small, large = (int(s) for s in args.sizes.split(","))
    print("| workload | loop | instructions per op |")
    print("|---|---|---:|")
    for workload in args.workloads.split(","):
        for loop_name in args.loops.split(","):
            a = instructions(loop_name, workload, small)
            b = instructions(loop_name, workload, large)
            print(f"| {workload} | {loop_name} | {(b - a) / (large - small):,.0f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
