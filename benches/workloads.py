"""The benchmark workloads: each one drives a loop through N operations and times it.

Every workload function takes (loop, n), does its untimed set-up, calls `gc.collect()`, times
only the part that runs on the loop with `time.perf_counter()`, checks that every operation
really happened (a loop that drops callbacks must not look fast), and returns (ops, seconds).
"""

import asyncio
import gc
import itertools
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

SLEEP0_TASKS = 100
TIMER_MAX_DELAY = 0.05
TIMER_SEED = 20240601


class WorkloadCheckError(AssertionError):
    """The loop finished but did not run every operation it was given."""


def _check(what: str, got: int, want: int) -> None:
    if got != want:
        raise WorkloadCheckError(f"{what}: ran {got}, expected {want}")


def call_soon_chain(loop: asyncio.AbstractEventLoop, n: int) -> tuple[int, float]:
    """One callback that re-schedules itself with call_soon n times, then stops the loop."""
    remaining = n

    def step() -> None:
        nonlocal remaining
        remaining -= 1
        if remaining:
            loop.call_soon(step)
        else:
            loop.stop()

    gc.collect()
    t0 = time.perf_counter()
    loop.call_soon(step)
    loop.run_forever()
    seconds = time.perf_counter() - t0
    _check("callbacks", n - remaining, n)
    return n, seconds


def call_soon_batch(loop: asyncio.AbstractEventLoop, n: int) -> tuple[int, float]:
    """Schedule n trivial (counting) callbacks up front, then run until all of them ran."""
    counter = itertools.count()
    tick = counter.__next__  # a C-level counting callback: the loop's own cost dominates
    call_soon = loop.call_soon
    gc.collect()
    t0 = time.perf_counter()
    for _ in range(n):
        call_soon(tick)
    call_soon(loop.stop)  # FIFO: runs after the n callbacks
    loop.run_forever()
    seconds = time.perf_counter() - t0
    _check("callbacks", next(counter), n)
    return n, seconds


def sleep0_tasks(loop: asyncio.AbstractEventLoop, n: int) -> tuple[int, float]:
    """SLEEP0_TASKS tasks each doing `await asyncio.sleep(0)` n // SLEEP0_TASKS times."""
    per_task = max(1, n // SLEEP0_TASKS)
    done = 0

    async def worker() -> None:
        nonlocal done
        sleep = asyncio.sleep
        for _ in range(per_task):
            await sleep(0)
        done += per_task

    async def main() -> None:
        await asyncio.gather(*[worker() for _ in range(SLEEP0_TASKS)])

    gc.collect()
    t0 = time.perf_counter()
    loop.run_until_complete(main())
    seconds = time.perf_counter() - t0
    ops = SLEEP0_TASKS * per_task
    _check("sleep(0) switches", done, ops)
    return ops, seconds


def future_roundtrip(loop: asyncio.AbstractEventLoop, n: int) -> tuple[int, float]:
    """n times: create a future, resolve it from a call_soon callback, await it."""
    done = 0

    async def main() -> None:
        nonlocal done
        create_future = loop.create_future
        call_soon = loop.call_soon
        for _ in range(n):
            fut = create_future()
            call_soon(fut.set_result, None)
            await fut
            done += 1

    coro = main()
    gc.collect()
    t0 = time.perf_counter()
    loop.run_until_complete(coro)
    seconds = time.perf_counter() - t0
    _check("future round-trips", done, n)
    return n, seconds


def call_later_timers(loop: asyncio.AbstractEventLoop, n: int) -> tuple[int, float]:
    """n call_later timers with seeded random delays in [0, 0.05) s; cancel a random quarter,
    run until the rest fired. The run can never be shorter than the largest delay."""
    rng = random.Random(TIMER_SEED)
    delays = [rng.random() * TIMER_MAX_DELAY for _ in range(n)]
    cancelled = rng.sample(range(n), n // 4)
    remaining = n - len(cancelled)
    expected = remaining

    def fire() -> None:
        nonlocal remaining
        remaining -= 1
        if not remaining:
            loop.stop()

    call_later = loop.call_later
    gc.collect()
    t0 = time.perf_counter()
    handles = [call_later(delay, fire) for delay in delays]
    for i in cancelled:
        handles[i].cancel()
    loop.run_forever()
    seconds = time.perf_counter() - t0
    _check("timers fired", expected - remaining, expected)
    return n, seconds


def gather_coros(loop: asyncio.AbstractEventLoop, n: int) -> tuple[int, float]:
    """`await asyncio.gather(*[trivial() for _ in range(n)])`."""

    async def trivial() -> int:
        return 1

    async def main() -> list[int]:
        return await asyncio.gather(*[trivial() for _ in range(n)])

    coro = main()
    gc.collect()
    t0 = time.perf_counter()
    results = loop.run_until_complete(coro)
    seconds = time.perf_counter() - t0
    _check("gathered results", sum(results), n)
    return n, seconds


def call_soon_threadsafe(loop: asyncio.AbstractEventLoop, n: int) -> tuple[int, float]:
    """Another thread calls loop.call_soon_threadsafe(cb) n times as fast as it can, then
    call_soon_threadsafe(loop.stop); the loop runs until all n callbacks ran."""
    counter = itertools.count()
    tick = counter.__next__

    def produce() -> None:
        call_soon_threadsafe = loop.call_soon_threadsafe
        for _ in range(n):
            call_soon_threadsafe(tick)
        call_soon_threadsafe(loop.stop)  # FIFO from one thread: runs after the n callbacks

    producer = threading.Thread(target=produce, name="bench-producer", daemon=True)
    gc.collect()
    t0 = time.perf_counter()
    producer.start()
    loop.run_forever()
    seconds = time.perf_counter() - t0
    producer.join()
    _check("callbacks", next(counter), n)
    return n, seconds


@dataclass(frozen=True)
class Workload:
    name: str
    run: Callable[[asyncio.AbstractEventLoop, int], tuple[int, float]]
    default_n: int
    quick_n: int


# Defaults are sized so that one run takes roughly 0.2-1 s on stdlib asyncio.
WORKLOADS = {
    w.name: w
    for w in (
        Workload("call_soon_chain", call_soon_chain, 300_000, 20_000),
        Workload("call_soon_batch", call_soon_batch, 200_000, 20_000),
        Workload("sleep0_tasks", sleep0_tasks, 300_000, 10_000),
        Workload("future_roundtrip", future_roundtrip, 100_000, 5_000),
        Workload("call_later_timers", call_later_timers, 100_000, 10_000),
        Workload("gather_coros", gather_coros, 100_000, 5_000),
        Workload("call_soon_threadsafe", call_soon_threadsafe, 100_000, 10_000),
    )
}
