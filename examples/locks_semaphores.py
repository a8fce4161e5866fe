"""Synchronisation primitives between tasks: Lock, Semaphore and Event.

* ``Lock``: tasks doing read-await-write on shared state lose updates unless
  the critical section is protected by a lock.
* ``Semaphore``: at most two of five jobs hold it at a time; waiters get it
  in the order they asked. Hold times are chosen so that no two releases
  happen at the same moment.
* ``Event``: several tasks wait until one task sets the event; they wake in
  the order in which they started waiting.
"""

import asyncio

UNIT = 0.025


class Counter:
    def __init__(self) -> None:
        self.value = 0


async def unsafe_increment(counter: Counter) -> None:
    current = counter.value
    await asyncio.sleep(0)  # another task runs here and reads the same value
    counter.value = current + 1


async def safe_increment(counter: Counter, lock: asyncio.Lock) -> None:
    async with lock:
        current = counter.value
        await asyncio.sleep(0)
        counter.value = current + 1


async def demo_lock() -> None:
    print("== Lock")
    racy = Counter()
    await asyncio.gather(*(unsafe_increment(racy) for _ in range(5)))
    print(f"5 increments without a lock: {racy.value}")
    guarded = Counter()
    lock = asyncio.Lock()
    await asyncio.gather(*(safe_increment(guarded, lock) for _ in range(5)))
    print(f"5 increments with a lock: {guarded.value} (lock still held: {lock.locked()})")


async def job(n: int, units: int, sem: asyncio.Semaphore, running: list[int]) -> None:
    async with sem:
        running.append(n)
        print(f"job {n} acquired; running now: {sorted(running)}")
        await asyncio.sleep(units * UNIT)
        running.remove(n)
        print(f"job {n} released")


async def demo_semaphore() -> None:
    print("== Semaphore(2)")
    sem = asyncio.Semaphore(2)
    running: list[int] = []
    # releases at t=1 (job 0), 2 (job 2), 3 (job 1), 4 (job 4), 5 (job 3)
    holds = [1, 3, 1, 3, 1]
    await asyncio.gather(*(job(n, units, sem, running) for n, units in enumerate(holds)))


async def waiter(n: int, event: asyncio.Event) -> None:
    print(f"waiter {n} waiting")
    await event.wait()
    print(f"waiter {n} woke up")


async def demo_event() -> None:
    print("== Event")
    event = asyncio.Event()
    waiters = [asyncio.create_task(waiter(n, event)) for n in range(3)]
    await asyncio.sleep(UNIT)
    print(f"setting the event (set before: {event.is_set()})")
    event.set()
    await asyncio.gather(*waiters)


async def main() -> None:
    await demo_lock()
    await demo_semaphore()
    await demo_event()


if __name__ == "__main__":
    asyncio.run(main())
