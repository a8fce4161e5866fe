"""Event-loop micro-benchmarks: the same workloads on several asyncio loops, in one run.

    python benches/loop_bench.py [--loops oxloop,asyncio,uvloop,rloop] [--workloads a,b,...]
                                 [--repeat R] [--quick] [--markdown] [--timeout S]

Every (loop, workload) measurement runs in a fresh child process (bench_child.py), R times,
round-robin over the loops; the report gives the best and median ops/s and the ratio of the
best to uvloop's best (to asyncio's when uvloop is unavailable), then the oxloop targets.

Exit status: 0, or 1 if a loop named with --loops could not be imported (the other loops are
still measured). Missed targets and failing cells do not change the exit status.
"""

import argparse
import sys
import time

from loops import EXTRA_LOOPS, LOOP_NAMES
from report import Results, markdown_table, plain_table, targets_text
from runner import probe_loop, run_matrix
from workloads import WORKLOADS

DEFAULT_REPEAT = 5
DEFAULT_TIMEOUT = 120.0


def _name_list(kind: str, choices: tuple[str, ...] | list[str]):
    def parse(text: str) -> list[str]:
        names = [part.strip() for part in text.split(",") if part.strip()]
        unknown = [name for name in names if name not in choices]
        if unknown:
            raise argparse.ArgumentTypeError(
                f"unknown {kind} {', '.join(unknown)} (choose from {', '.join(choices)})"
            )
        if not names:
            raise argparse.ArgumentTypeError(f"no {kind} given")
        return list(dict.fromkeys(names))

    return parse


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    workload_names = list(WORKLOADS)
    parser = argparse.ArgumentParser(
        description="Benchmark asyncio event loops (oxloop, asyncio, uvloop, rloop).",
    )
    parser.add_argument(
        "--loops",
        type=_name_list("loop", LOOP_NAMES + EXTRA_LOOPS),
        default=None,
        help=f"comma-separated loops (default: {','.join(LOOP_NAMES)}; also "
        f"{','.join(EXTRA_LOOPS)}); "
        "a loop named here that cannot be imported makes the exit status 1",
    )
    parser.add_argument(
        "--workloads",
        type=_name_list("workload", workload_names),
        default=workload_names,
        help=f"comma-separated workloads (default: all: {','.join(workload_names)})",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=None,
        help=f"runs per (loop, workload) (default: {DEFAULT_REPEAT}, or 1 with --quick)",
    )
    parser.add_argument("--quick", action="store_true", help="small N and --repeat 1: a smoke test")
    parser.add_argument(
        "--markdown", action="store_true", help="print a Markdown table (for BENCHMARKS.md)"
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        help=f"seconds before one child run counts as an error (default: {DEFAULT_TIMEOUT:g})",
    )
    args = parser.parse_args(argv)
    if args.repeat is None:
        args.repeat = 1 if args.quick else DEFAULT_REPEAT
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    return args


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    explicit = args.loops is not None
    loops = args.loops if explicit else list(LOOP_NAMES)
    workloads = [
        (name, WORKLOADS[name].quick_n if args.quick else WORKLOADS[name].default_n)
        for name in args.workloads
    ]

    started = time.perf_counter()
    probes = {loop: probe_loop(loop, args.timeout) for loop in loops}
    for loop, probe in probes.items():
        state = probe.version if probe.available else f"unavailable ({probe.error})"
        _progress(f"{loop}: {state}")
    available = [loop for loop in loops if probes[loop].available]
    cells = run_matrix(available, workloads, args.repeat, args.timeout, _progress)
    _progress(f"done in {time.perf_counter() - started:.1f} s")

    results = Results(loops, probes, workloads, cells, args.repeat)
    table = markdown_table(results) if args.markdown else plain_table(results)
    print(table)
    print()
    print(targets_text(results, markdown=args.markdown))

    missing = [loop for loop in loops if not probes[loop].available]
    if explicit and missing:
        print(f"\nerror: requested loop(s) unavailable: {', '.join(missing)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
