"""Counting "One Two Three" five times, synchronously and then with asyncio.

The synchronous version blocks in ``time.sleep`` so each count runs to the
end before the next starts. The asynchronous version runs five ``count()``
coroutines with ``asyncio.gather``: while one sleeps the others run, so all
the "One"s come first, then all the "Two"s, then all the "Three"s, and the
whole thing takes as long as a single count.
"""

import asyncio
import time

UNIT = 0.02


def count_sync() -> None:
    print("One", end=" ")
    time.sleep(UNIT)
    print("Two", end=" ")
    time.sleep(2 * UNIT)
    print("Three", end=" ")


async def count() -> None:
    print("One", end=" ")
    await asyncio.sleep(UNIT)
    print("Two", end=" ")
    await asyncio.sleep(2 * UNIT)
    print("Three", end=" ")


async def main() -> None:
    await asyncio.gather(count(), count(), count(), count(), count())


if __name__ == "__main__":
    print("synchronous:")
    start = time.perf_counter()
    for _ in range(5):
        count_sync()
    sync_elapsed = time.perf_counter() - start
    print()

    print("asynchronous:")
    start = time.perf_counter()
    asyncio.run(main())
    async_elapsed = time.perf_counter() - start
    print()

    print("asynchronous version was faster:", async_elapsed < sync_elapsed)
