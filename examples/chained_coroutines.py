"""Chains of coroutines: each chain awaits step one, then feeds its result to step two.

Three chains run concurrently under ``asyncio.gather``. Within a chain the
steps are sequential (``step_two`` needs ``step_one``'s result), but while
one chain sleeps the others make progress. Sleep lengths come from a seeded
generator and were checked to never coincide, so the interleaving is fixed.
Durations are reported in scheduled units, not measured time.
"""

import asyncio
import random

UNIT = 0.03
SEED = 420  # gives chain delays (1, 6), (3, 3), (4, 1): all six events at distinct times


async def step_one(n: int, units: int) -> str:
    print(f"step_one({n}) is sleeping for {units} units")
    await asyncio.sleep(units * UNIT)
    result = f"result{n}-1"
    print(f"returning step_one({n}) == {result}")
    return result


async def step_two(n: int, arg: str, units: int) -> str:
    print(f"step_two({n}, {arg!r}) is sleeping for {units} units")
    await asyncio.sleep(units * UNIT)
    result = f"result{n}-2 derived from {arg}"
    print(f"returning step_two({n}, {arg!r}) == {result}")
    return result


async def chain(n: int, delays: tuple[int, int]) -> str:
    first = await step_one(n, delays[0])
    second = await step_two(n, first, delays[1])
    print(f"--> chained result{n} => {second} (took {sum(delays)} units)")
    return second


async def main(ids: list[int]) -> list[str]:
    rng = random.Random(SEED)
    plan = {n: (rng.randint(1, 6), rng.randint(1, 6)) for n in ids}
    return await asyncio.gather(*(chain(n, plan[n]) for n in ids))


if __name__ == "__main__":
    results = asyncio.run(main([1, 2, 3]))
    print("gathered, in argument order:")
    for line in results:
        print(" ", line)
