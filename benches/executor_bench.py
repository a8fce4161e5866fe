"""oxloop's executors against concurrent.futures', in one run.

    python benches/executor_bench.py              # all workloads, best of 3 (~1-2 min)
    python benches/executor_bench.py --quick      # small N, 1 run
    python benches/executor_bench.py --markdown   # table for BENCHMARKS.md

Every (implementation, workload) measurement runs in a fresh child process
(`--child IMPL WORKLOAD N`), so pools, threads and the GC state of one never
affect another; runs alternate between the implementations. Only the timed
part is inside `time.perf_counter()`; each workload checks its results.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures as cf
import gc
import json
import os
import subprocess
import sys
import time

IMPLS = ("cf", "oxloop")
CPU_ITEMS = list(range(1, 11))
CPU_WORKERS = 5


def count(number, count_to):
    i = 0
    for _ in range(count_to):
        i += 1
    return i * number


def pools(impl):
    if impl == "cf":
        return cf.ThreadPoolExecutor, cf.ProcessPoolExecutor
    import oxloop

    return oxloop.ThreadPoolExecutor, oxloop.ProcessPoolExecutor


def noop():
    return None


# Each workload: (impl, n) -> (ops, seconds).


def submit_latency(pool_cls, n, **kw):
    with pool_cls(**kw) as ex:
        ex.submit(noop).result()
        gc.collect()
        start = time.perf_counter()
        for _ in range(n):
            ex.submit(noop).result()
        return n, time.perf_counter() - start


def submit_throughput(pool_cls, n, **kw):
    with pool_cls(**kw) as ex:
        ex.submit(noop).result()
        gc.collect()
        start = time.perf_counter()
        futures = [ex.submit(abs, i) for i in range(n)]
        total = sum(f.result() for f in futures)
        elapsed = time.perf_counter() - start
    assert total == n * (n - 1) // 2
    return n, elapsed


def map_throughput(pool_cls, n, chunksize, **kw):
    with pool_cls(**kw) as ex:
        ex.submit(noop).result()
        gc.collect()
        start = time.perf_counter()
        total = sum(ex.map(abs, range(n), chunksize=chunksize))
        elapsed = time.perf_counter() - start
    assert total == n * (n - 1) // 2
    return n, elapsed


def run_in_executor_roundtrips(impl, n):
    import oxloop

    thread_pool, _ = pools(impl)

    async def main():
        loop = asyncio.get_running_loop()
        loop.set_default_executor(thread_pool())
        await loop.run_in_executor(None, noop)
        gc.collect()
        start = time.perf_counter()
        for _ in range(n // 2):
            await loop.run_in_executor(None, noop)
        await asyncio.gather(*(loop.run_in_executor(None, noop) for _ in range(n - n // 2)))
        return n, time.perf_counter() - start

    return oxloop.run(main())


def process_startup(process_pool, n):
    total = 0.0
    for _ in range(n):
        start = time.perf_counter()
        with process_pool(max_workers=4) as ex:
            assert ex.submit(abs, -1).result() == 1
            total += time.perf_counter() - start
    return n, total


def cpu_bound(impl, mode, count_to):
    thread_pool, process_pool = pools(impl)
    start = time.perf_counter()
    if mode == "sequential":
        results = [count(i, count_to) for i in CPU_ITEMS]
    else:
        cls = thread_pool if mode == "thread" else process_pool
        with cls(max_workers=CPU_WORKERS) as ex:
            results = [f.result() for f in [ex.submit(count, i, count_to) for i in CPU_ITEMS]]
    elapsed = time.perf_counter() - start
    assert results == [count_to * i for i in CPU_ITEMS]
    return len(CPU_ITEMS), elapsed


# name -> (default n, quick n, unit, runner(impl, n))
def _threads(impl):
    return pools(impl)[0]


def _procs(impl):
    return pools(impl)[1]


WORKLOADS = {
    "thread submit+result latency": (
        20_000,
        2_000,
        "us/op",
        lambda impl, n: submit_latency(_threads(impl), n, max_workers=4),
    ),
    "thread submit 100k": (
        100_000,
        10_000,
        "ops/s",
        lambda impl, n: submit_throughput(_threads(impl), n, max_workers=8),
    ),
    "thread map chunksize=1": (
        100_000,
        10_000,
        "ops/s",
        lambda impl, n: map_throughput(_threads(impl), n, 1, max_workers=8),
    ),
    "thread map chunksize=100": (
        100_000,
        10_000,
        "ops/s",
        lambda impl, n: map_throughput(_threads(impl), n, 100, max_workers=8),
    ),
    "run_in_executor (oxloop loop)": (20_000, 2_000, "ops/s", run_in_executor_roundtrips),
    "process submit+result latency": (
        5_000,
        500,
        "us/op",
        lambda impl, n: submit_latency(_procs(impl), n, max_workers=4),
    ),
    "process submit 100k": (
        100_000,
        10_000,
        "ops/s",
        lambda impl, n: submit_throughput(_procs(impl), n, max_workers=4),
    ),
    "process map chunksize=1": (
        100_000,
        10_000,
        "ops/s",
        lambda impl, n: map_throughput(_procs(impl), n, 1, max_workers=4),
    ),
    "process map chunksize=100": (
        100_000,
        10_000,
        "ops/s",
        lambda impl, n: map_throughput(_procs(impl), n, 100, max_workers=4),
    ),
    "process start-up to first result": (
        5,
        2,
        "ms",
        lambda impl, n: process_startup(_procs(impl), n),
    ),
    "cpu-bound sequential": (
        3_000_000,
        300_000,
        "s",
        lambda impl, n: cpu_bound(impl, "sequential", n),
    ),
    "cpu-bound thread pool": (
        3_000_000,
        300_000,
        "s",
        lambda impl, n: cpu_bound(impl, "thread", n),
    ),
    "cpu-bound process pool": (
        3_000_000,
        300_000,
        "s",
        lambda impl, n: cpu_bound(impl, "process", n),
    ),
}

HIGHER_IS_BETTER = {"ops/s"}


def score(unit, ops, seconds):
    if unit == "ops/s":
        return ops / seconds
    if unit == "us/op":
        return seconds / ops * 1e6
    if unit == "ms":
        return seconds / ops * 1e3
    return seconds


def child(impl, workload, n):
    _, _, unit, runner = WORKLOADS[workload]
    ops, seconds = runner(impl, n)
    print(json.dumps({"value": score(unit, ops, seconds)}))


def measure(impl, workload, n, timeout):
    cmd = [sys.executable, os.path.abspath(__file__), "--child", impl, workload, str(n)]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None, "timeout"
    if out.returncode != 0:
        return None, (out.stderr.strip().splitlines() or ["error"])[-1]
    return json.loads(out.stdout.strip().splitlines()[-1])["value"], None


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--markdown", action="store_true")
    parser.add_argument("--workloads", help="comma-separated names (default: all)")
    parser.add_argument("--timeout", type=float, default=300)
    parser.add_argument("--child", nargs=3, metavar=("IMPL", "WORKLOAD", "N"))
    args = parser.parse_args()
    if args.child:
        impl, workload, n = args.child
        child(impl, workload, int(n))
        return 0
    names = args.workloads.split(",") if args.workloads else list(WORKLOADS)
    repeat = 1 if args.quick else args.repeat
    rows = []
    for name in names:
        full_n, quick_n, unit, _ = WORKLOADS[name]
        n = quick_n if args.quick else full_n
        best = {}
        for _ in range(repeat):
            for impl in IMPLS:
                value, error = measure(impl, name, n, args.timeout)
                if error:
                    best[impl] = error
                    continue
                if isinstance(best.get(impl), str):
                    continue
                better = max if unit in HIGHER_IS_BETTER else min
                best[impl] = value if impl not in best else better(best[impl], value)
        ref, ours = best.get("cf"), best.get("oxloop")
        if isinstance(ref, float) and isinstance(ours, float):
            ratio = ours / ref if unit in HIGHER_IS_BETTER else ref / ours
            ratio_text = f"{ratio:.2f}x"
        else:
            ratio_text = "n/a"
        rows.append((name, unit, ref, ours, ratio_text))
        if not args.markdown:
            print(f"{name:36} {unit:6} cf={fmt(ref):>12} oxloop={fmt(ours):>12} {ratio_text}")
    if args.markdown:
        print(f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, best of {repeat}.")
        print("Ratio: oxloop vs concurrent.futures, >1 means oxloop is better.\n")
        print("| workload | unit | concurrent.futures | oxloop | ratio |")
        print("|---|---|---:|---:|---:|")
        for name, unit, ref, ours, ratio_text in rows:
            print(f"| {name} | {unit} | {fmt(ref)} | {fmt(ours)} | {ratio_text} |")
    return 0


def fmt(value):
    if isinstance(value, float):
        return f"{value:,.0f}" if value >= 100 else f"{value:.3g}"
    return str(value)


if __name__ == "__main__":
    sys.exit(main())
