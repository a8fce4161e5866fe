"""Three tasks computing factorial, Fibonacci and a binomial coefficient concurrently.

Each computation is wrapped in a task with ``loop.create_task`` and yields to
the loop after every step, so the steps of the three computations interleave.
The tasks start 20 ms apart and every step takes 60 ms, so the interleaving is
always factorial, fibonacci, binomial. The loop runs ``asyncio.wait`` on the
task list with ``run_until_complete``.
"""

import asyncio

STEP = 0.06
STAGGER = 0.02


async def factorial(n: int, delay: float) -> int:
    await asyncio.sleep(delay)
    f = 1
    for i in range(2, n + 1):
        print(f"Task: compute factorial({i})")
        await asyncio.sleep(STEP)
        f *= i
    print(f"Task - factorial({n}) = {f}")
    return f


async def fibonacci(n: int, delay: float) -> int:
    await asyncio.sleep(delay)
    a, b = 0, 1
    for i in range(n):
        print(f"Task: compute fibonacci({i})")
        await asyncio.sleep(STEP)
        a, b = b, a + b
    print(f"Task - fibonacci({n}) = {a}")
    return a


async def binomial(n: int, k: int, delay: float) -> int:
    await asyncio.sleep(delay)
    result = 1
    for i in range(1, k + 1):
        result = result * (n - i + 1) // i  # exact: always divisible
        print(f"Task: compute binomial({i})")
        await asyncio.sleep(STEP)
    print(f"Task - binomial({n}, {k}) = {result}")
    return result


def main() -> None:
    loop = asyncio.new_event_loop()
    try:
        tasks = [
            loop.create_task(factorial(5, 0.0), name="factorial"),
            loop.create_task(fibonacci(6, STAGGER), name="fibonacci"),
            loop.create_task(binomial(10, 5, 2 * STAGGER), name="binomial"),
        ]
        done, pending = loop.run_until_complete(asyncio.wait(tasks))
        print(f"done: {len(done)}, pending: {len(pending)}")
        for task in tasks:
            print(f"{task.get_name()} -> {task.result()}")
    finally:
        loop.close()


if __name__ == "__main__":
    main()
