"""Producers and consumers talking only through an ``asyncio.Queue``.

Each producer makes a (seeded) random number of items and puts them on the
queue at its own time slots; the consumers take items off the queue, "work"
on them for a moment and call ``task_done``. Producers and consumers never
refer to each other: ``queue.join()`` tells the main coroutine when every
item has been handled, after which the idle consumers are cancelled.

Producers wait for absolute deadlines on ``loop.time()`` and the slots are
30 ms apart while a consumer needs 10 ms per item, so every consumer is back
at ``queue.get()`` before the next item arrives and the queue hands items to
the waiting consumers in turn (its getters are served first come, first
served). That makes the output reproducible.

Usage: ``python producer_consumer.py [-p PRODUCERS] [-c CONSUMERS] [--seed N]``
"""

import argparse
import asyncio
import random

SLOT = 0.03
WORK = 0.01


async def produce(
    name: int, slots: list[int], rng: random.Random, queue: asyncio.Queue, start: float
) -> int:
    loop = asyncio.get_running_loop()
    for slot in slots:
        await asyncio.sleep(max(0.0, start + slot * SLOT - loop.time()))
        item = f"{rng.getrandbits(40):010x}"
        await queue.put((name, item))
        print(f"producer {name} added <{item}> to the queue (slot {slot})")
    return len(slots)


async def consume(name: int, queue: asyncio.Queue, handled: dict[int, int]) -> None:
    while True:
        producer, item = await queue.get()
        print(f"consumer {name} got <{item}> from producer {producer}")
        await asyncio.sleep(WORK)
        handled[name] += 1
        queue.task_done()


async def main(producers: int, consumers: int, seed: int) -> None:
    rng = random.Random(seed)
    counts = [rng.randint(1, 4) for _ in range(producers)]
    slots = rng.sample(range(1, sum(counts) + 1), sum(counts))
    plans, first = [], 0
    for count in counts:
        plans.append(sorted(slots[first : first + count]))
        first += count
    print("items per producer:", counts)

    queue: asyncio.Queue = asyncio.Queue()
    handled = {c: 0 for c in range(consumers)}
    start = asyncio.get_running_loop().time()
    consumer_tasks = [asyncio.create_task(consume(c, queue, handled)) for c in range(consumers)]
    made = await asyncio.gather(
        *(
            produce(p, plans[p], random.Random(seed * 100 + p), queue, start)
            for p in range(producers)
        )
    )
    await queue.join()  # every item was taken and marked done
    print(f"all {sum(made)} items handled; queue empty: {queue.empty()}")
    for task in consumer_tasks:
        task.cancel()
    outcomes = await asyncio.gather(*consumer_tasks, return_exceptions=True)
    cancelled = sum(isinstance(o, asyncio.CancelledError) for o in outcomes)
    print(f"cancelled {cancelled} idle consumers")
    for name, count in handled.items():
        print(f"consumer {name} handled {count} items")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-p", "--producers", type=int, default=3)
    parser.add_argument("-c", "--consumers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=444)
    args = parser.parse_args()
    asyncio.run(main(args.producers, args.consumers, args.seed))
