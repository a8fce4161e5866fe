"""Running coroutines concurrently and collecting their results.

The same worker coroutine is run several times at once and the results are
collected with ``asyncio.wait`` (ALL_COMPLETED, FIRST_COMPLETED,
FIRST_EXCEPTION and with a timeout), ``asyncio.gather`` (results in argument
order, optionally with exceptions returned as values) and
``asyncio.as_completed`` (results in completion order). Sleeps are multiples
of 30 ms so every completion order is unambiguous.
"""

import asyncio

UNIT = 0.03


async def work(x: int, units: int) -> str:
    print(f"coroutine {x} started")
    await asyncio.sleep(units * UNIT)
    return f"coroutine {x} returned"


async def broken(x: int, units: int) -> str:
    await asyncio.sleep(units * UNIT)
    raise RuntimeError(f"coroutine {x} failed")


def names(tasks: set[asyncio.Task]) -> str:
    return ", ".join(sorted(t.get_name() for t in tasks)) or "-"


async def demo_wait_all() -> None:
    print("== wait, ALL_COMPLETED")
    tasks = [asyncio.ensure_future(work(x, 1)) for x in (1, 2, 3)]
    done, pending = await asyncio.wait(tasks)
    print(f"done: {len(done)}, pending: {len(pending)}")
    for line in sorted(t.result() for t in done):
        print(line)


async def demo_gather() -> list[str]:
    print("== gather")
    tasks = [asyncio.create_task(work(x, 4 - x)) for x in (1, 2, 3)]
    results = await asyncio.gather(*tasks)
    print(type(results).__name__, results)
    return results


async def demo_as_completed() -> None:
    print("== as_completed")
    tasks = [asyncio.create_task(work(x, units)) for x, units in ((1, 3), (2, 1), (3, 2))]
    for next_done in asyncio.as_completed(tasks):
        print(await next_done)


async def demo_first_completed() -> None:
    print("== wait, FIRST_COMPLETED")
    tasks = [
        asyncio.create_task(work(x, units), name=f"w{x}") for x, units in ((1, 4), (2, 1), (3, 2))
    ]
    pending = set(tasks)
    while pending:
        done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
        print(f"done: {names(done)}; still pending: {names(pending)}")


async def demo_first_exception() -> None:
    print("== wait, FIRST_EXCEPTION")
    tasks = [
        asyncio.create_task(work(1, 5), name="w1"),
        asyncio.create_task(broken(2, 1), name="w2"),
        asyncio.create_task(work(3, 5), name="w3"),
    ]
    done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
    print(f"done: {names(done)}; pending: {names(pending)}")
    for task in done:
        print(f"{task.get_name()} raised {task.exception()!r}")
    for task in pending:
        task.cancel()
    await asyncio.wait(pending)
    print("cancelled:", names({t for t in tasks if t.cancelled()}))


async def demo_timeout() -> None:
    print("== wait with a timeout")
    fast = asyncio.create_task(work(1, 1), name="fast")
    slow = asyncio.create_task(work(2, 20), name="slow")
    done, pending = await asyncio.wait({fast, slow}, timeout=3 * UNIT)
    print(f"done: {names(done)}; pending after timeout: {names(pending)}")
    slow.cancel()
    results = await asyncio.gather(fast, slow, return_exceptions=True)
    print("gather with return_exceptions:", [type(r).__name__ for r in results])


async def main() -> list[str]:
    await demo_wait_all()
    results = await demo_gather()
    await demo_as_completed()
    await demo_first_completed()
    await demo_first_exception()
    await demo_timeout()
    return results


if __name__ == "__main__":
    loop = asyncio.new_event_loop()
    try:
        returned = loop.run_until_complete(main())
    finally:
        loop.close()
    print("run_until_complete returned the gathered list:")
    for item in returned:
        print(" ", item)
