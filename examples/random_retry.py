"""Several coroutines retrying until a random draw clears their threshold.

``generate_random_int(i, threshold)`` keeps drawing integers in [0, 10] from
a shared seeded generator and sleeps before each retry; ``asyncio.gather``
runs three of them at once, so none has to wait for another to finish, and
returns their results in argument order.

Coroutine ``i`` retries at times ``(i + 1) + 3k`` units, so no two retries
ever fall at the same moment: the draws, and therefore the output, are the
same on every run.
"""

import asyncio
import random

UNIT = 0.025
PERIOD = 3  # units between two retries of the same coroutine

rng = random.Random(444)


async def generate_random_int(indx: int, threshold: int) -> int:
    print(f"initiated generate_random_int({indx}), threshold {threshold}")
    i = rng.randint(0, 10)
    wait = indx + 1
    while i <= threshold:
        print(f"generate_random_int({indx}) == {i} too low; retrying")
        await asyncio.sleep(wait * UNIT)
        wait = PERIOD
        i = rng.randint(0, 10)
    print(f"---> finished: generate_random_int({indx}) == {i}")
    return i


async def main() -> list[int]:
    return await asyncio.gather(*(generate_random_int(i, 7 - i) for i in range(3)))


if __name__ == "__main__":
    r1, r2, r3 = asyncio.run(main())
    print(f"random int 1: {r1}, random int 2: {r2}, random int 3: {r3}")
