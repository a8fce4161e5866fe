"""The same CPU-bound job run sequentially, in a thread pool and in a process pool.

``evaluate(item)`` counts up to a fixed number (just to burn time) and
multiplies the count by ``item``. It is run over a list of ten items:

* sequentially;
* with ``concurrent.futures.ThreadPoolExecutor`` (``submit`` and ``map``);
* with ``concurrent.futures.ProcessPoolExecutor``;
* from a coroutine, with ``loop.run_in_executor`` on the loop's default
  executor and on explicit thread and process pools, gathered with
  ``asyncio.gather``.

Workers finish in an unpredictable order, so results are printed in
submission order; the count is kept small so the program runs quickly.
"""

import asyncio
import concurrent.futures

NUMBERS = list(range(1, 11))
COUNT_TO = 100_000
WORKERS = 5


def count(number: int) -> int:
    i = 0
    for _ in range(COUNT_TO):
        i += 1
    return i * number


def evaluate(item: int) -> str:
    return f"item {item}, result {count(item)}"


def show(label: str, lines) -> None:
    print(f"{label}:")
    for line in lines:
        print(f"  {line}")


def run_sequential() -> None:
    show("sequential execution", [evaluate(item) for item in NUMBERS])


def run_pools() -> None:
    with concurrent.futures.ThreadPoolExecutor(max_workers=WORKERS) as executor:
        futures = [executor.submit(evaluate, item) for item in NUMBERS]
        done, _ = concurrent.futures.wait(futures)
        print(f"thread pool: {len(done)} futures done")
        show("thread pool execution (submit)", [f.result() for f in futures])
        show("thread pool execution (map)", executor.map(evaluate, NUMBERS[:3]))

    with concurrent.futures.ProcessPoolExecutor(max_workers=WORKERS) as executor:
        futures = [executor.submit(evaluate, item) for item in NUMBERS]
        finished = sorted(f.result() for f in concurrent.futures.as_completed(futures, timeout=60))
        print(f"process pool: {len(finished)} futures completed")
        show("process pool execution (submit)", [f.result() for f in futures])


async def run_in_executors() -> None:
    loop = asyncio.get_running_loop()
    results = await asyncio.gather(*(loop.run_in_executor(None, evaluate, i) for i in NUMBERS[:3]))
    show("run_in_executor, default executor", results)

    with concurrent.futures.ThreadPoolExecutor(max_workers=WORKERS) as pool:
        results = await asyncio.gather(
            *(loop.run_in_executor(pool, evaluate, i) for i in NUMBERS[:3])
        )
    show("run_in_executor, thread pool", results)

    with concurrent.futures.ProcessPoolExecutor(max_workers=2) as pool:
        results = await asyncio.gather(
            *(loop.run_in_executor(pool, evaluate, i) for i in NUMBERS[:3])
        )
    show("run_in_executor, process pool", results)


if __name__ == "__main__":
    run_sequential()
    run_pools()
    asyncio.run(run_in_executors())
