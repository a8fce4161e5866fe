"""One coroutine awaits a future that another coroutine resolves.

``foo`` suspends on a bare future; ``bar`` sleeps, then calls
``set_result`` on it, which wakes ``foo`` up with the value. The pair is run
twice: first with ``asyncio.gather`` under ``asyncio.run``, then as two tasks
made with ``loop.create_task`` on a loop driven by ``run_until_complete``.
"""

import asyncio

DELAY = 0.03


async def bar(future: asyncio.Future, tag: str) -> str:
    print(f"[{tag}] bar will sleep for a moment")
    await asyncio.sleep(DELAY)
    print(f"[{tag}] bar resolving the future (done before: {future.done()})")
    future.set_result(f"future resolved by bar ({tag})")
    return "bar finished"


async def foo(future: asyncio.Future, tag: str) -> str:
    print(f"[{tag}] foo will await the future")
    value = await future
    print(f"[{tag}] foo finds the future resolved: {value!r}")
    return "foo finished"


async def with_gather() -> None:
    future = asyncio.get_running_loop().create_future()
    results = await asyncio.gather(foo(future, "gather"), bar(future, "gather"))
    print(f"[gather] results: {results}")


async def with_tasks() -> None:
    loop = asyncio.get_running_loop()
    future = asyncio.Future()
    t1 = loop.create_task(bar(future, "tasks"))
    t2 = loop.create_task(foo(future, "tasks"))
    print(f"[tasks] foo task: {await t2!r}; bar task: {await t1!r}")


if __name__ == "__main__":
    asyncio.run(with_gather())

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        loop.run_until_complete(with_tasks())
    finally:
        asyncio.set_event_loop(None)
        loop.close()
