"""Starting coroutines, getting their return values and chaining them.

``run_until_complete`` starts a coroutine on an explicit loop and returns
whatever the coroutine returns; a coroutine can ``await`` another one and use
its result, so two phases run in order inside one task. The loop is closed in
a ``finally`` block. Ends with the classic "Hello, world!" via ``asyncio.run``.
"""

import asyncio


async def say_hello() -> None:
    print("in coroutine")


async def compute() -> str:
    await asyncio.sleep(0.001)
    return "result"


async def phase1() -> str:
    print("in phase1")
    await asyncio.sleep(0.001)
    return "result1"


async def phase2(arg: str) -> str:
    print("in phase2")
    await asyncio.sleep(0.001)
    return f"result2 derived from {arg}"


async def chained() -> tuple[str, str]:
    print("in chained")
    print("waiting for result1")
    result1 = await phase1()
    print("waiting for result2")
    result2 = await phase2(result1)
    return result1, result2


async def greeting() -> str:
    await asyncio.sleep(0.001)
    return "Hello, world!"


async def hello_main() -> None:
    print(await greeting())


def main() -> None:
    loop = asyncio.new_event_loop()
    try:
        print("starting coroutine")
        coro = say_hello()
        print("entering event loop")
        loop.run_until_complete(coro)

        value = loop.run_until_complete(compute())
        print(f"it returned: {value!r}")

        value = loop.run_until_complete(chained())
        print(f"return value: {value!r}")
    finally:
        print("closing event loop")
        loop.close()

    asyncio.run(hello_main())


if __name__ == "__main__":
    main()
