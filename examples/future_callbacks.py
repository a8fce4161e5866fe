"""Futures resolved by coroutines, reported through done-callbacks.

One coroutine sums the first N integers, another computes N!; each stores its
answer in a future with ``set_result`` after a short sleep, and a callback
registered with ``add_done_callback`` prints it. Swapping the two sleeps swaps
the order of the callbacks. Also shows ``loop.create_future``,
``remove_done_callback``, ``set_exception``/``exception`` and ``cancel``.

Usage: ``python future_callbacks.py [N1 [N2]]`` (defaults: 10 and 20).
"""

import asyncio
import functools
import sys


async def sum_of_integers(future: asyncio.Future, n: int, delay: float) -> None:
    total = sum(range(1, n + 1))
    await asyncio.sleep(delay)
    future.set_result(f"first coroutine (sum of 1..{n}) result = {total}")


async def factorial(future: asyncio.Future, n: int, delay: float) -> None:
    product = 1
    for i in range(2, n + 1):
        product *= i
    await asyncio.sleep(delay)
    future.set_result(f"second coroutine ({n}!) result = {product}")


def got_result(future: asyncio.Future) -> None:
    print(" ", future.result())


def never_called(future: asyncio.Future) -> None:
    print("  this callback was removed and must not run")


def report(label: str, future: asyncio.Future) -> None:
    if future.cancelled():
        print(f"  {label}: cancelled")
    elif future.exception() is not None:
        print(f"  {label}: failed with {future.exception()!r}")
    else:
        print(f"  {label}: {future.result()}")


def run_pair(loop: asyncio.AbstractEventLoop, n1: int, n2: int, d1: float, d2: float) -> None:
    first = loop.create_future()
    second = loop.create_future()
    first.add_done_callback(got_result)
    second.add_done_callback(got_result)
    second.add_done_callback(never_called)
    removed = second.remove_done_callback(never_called)
    print(f"sleeps {d1}s / {d2}s (removed callbacks: {removed})")
    workers = [
        loop.create_task(sum_of_integers(first, n1, d1)),
        loop.create_task(factorial(second, n2, d2)),
    ]
    loop.run_until_complete(asyncio.wait(workers))


async def other_outcomes() -> None:
    loop = asyncio.get_running_loop()
    failing = loop.create_future()
    cancelled = loop.create_future()
    failing.add_done_callback(functools.partial(report, "failing future"))
    cancelled.add_done_callback(functools.partial(report, "cancelled future"))
    loop.call_later(0.01, failing.set_exception, ValueError("no result today"))
    loop.call_later(0.03, cancelled.cancel)
    try:
        await failing
    except ValueError as exc:
        print(f"  awaiting the failing future raised {exc!r}")
    try:
        await cancelled
    except asyncio.CancelledError:
        print("  awaiting the cancelled future raised CancelledError")


def main() -> None:
    n1 = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    n2 = int(sys.argv[2]) if len(sys.argv) > 2 else 20
    loop = asyncio.new_event_loop()
    try:
        run_pair(loop, n1, n2, 0.02, 0.05)
        run_pair(loop, n1, n2, 0.05, 0.02)
        print("other outcomes:")
        loop.run_until_complete(other_outcomes())
    finally:
        loop.close()


if __name__ == "__main__":
    main()
