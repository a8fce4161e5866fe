"""From generators to coroutines: what ``await`` is made of.

1. Generators pause at ``yield``; ``send()`` and ``throw()`` resume them with a
   value or an exception; ``return`` ends up in ``StopIteration.value``;
   ``yield from`` forwards all of that to an inner generator.
2. A native coroutine can be stepped by hand with ``send(None)``: it stops
   wherever an awaitable yields, which is exactly what a task does for it.
3. Generator-based coroutines (``types.coroutine``, the modern spelling of the
   old ``@asyncio.coroutine`` + ``yield from`` style) run as tasks on a loop;
   a bare ``yield`` hands control back to the loop for one round, so two
   tasks doing that alternate strictly.
4. A hand-written awaitable whose ``__await__`` yields from a loop future that
   ``loop.call_later`` resolves.
"""

import asyncio
import types


def two_values():
    yield 1
    yield 2


def echo():
    received = yield 1
    print(f"  echo received {received!r}")
    yield 2
    yield 3


def with_return():
    yield 1
    return "abc"


def inner():
    inner_result = yield 2
    print(f"  inner got {inner_result!r}")
    return 3


def outer():
    yield 1
    val = yield from inner()
    print(f"  outer got {val!r} back from inner")
    yield 4


def generator_basics() -> None:
    print("1. generators")
    gen = two_values()
    print(f"  next: {next(gen)}, next: {next(gen)}")
    try:
        next(gen)
    except StopIteration:
        print("  third next raised StopIteration")

    gen = echo()
    print(f"  next: {next(gen)}")
    print(f"  send('abc') gave {gen.send('abc')}")
    try:
        gen.throw(ValueError("thrown in"))
    except ValueError as exc:
        print(f"  throw() re-raised from inside the generator: {exc!r}")

    gen = with_return()
    next(gen)
    try:
        next(gen)
    except StopIteration as exc:
        print(f"  returned value travels in StopIteration.value: {exc.value!r}")

    gen = outer()
    print(f"  outer yields {next(gen)}")
    print(f"  outer yields {next(gen)} (from inside inner)")
    print(f"  outer yields {gen.send('abc')}")


class Suspend:
    """An awaitable that yields one marker object to whoever drives the coroutine."""

    def __await__(self):
        resumed_with = yield "SUSPEND"
        return resumed_with


async def reader() -> str:
    data = await Suspend()
    return f"read {data!r}"


def step_by_hand() -> None:
    print("2. stepping a coroutine by hand")
    coro = reader()
    print(f"  first send(None) stops at: {coro.send(None)!r}")
    try:
        coro.send(b"payload")
    except StopIteration as exc:
        print(f"  second send finished it: {exc.value!r}")


@types.coroutine
def relinquish():
    """Bare yield: give the event loop one round, like asyncio.sleep(0)."""
    yield


@types.coroutine
def player(name: str, rounds: int, log: list[str]):
    for i in range(rounds):
        log.append(f"{name} {i}")
        yield from relinquish()
    return f"{name} done"


async def play(name: str, rounds: int, log: list[str]) -> str:
    # Since Python 3.12 tasks only accept native coroutines, but a native
    # coroutine can still ``await`` a generator-based one.
    return await player(name, rounds, log)


class Delayed:
    """Awaitable resolved by the loop after ``delay`` seconds."""

    def __init__(self, delay: float, value: str) -> None:
        self.delay = delay
        self.value = value

    def __await__(self):
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        loop.call_later(self.delay, future.set_result, self.value)
        return (yield from future.__await__())


async def generator_based_tasks() -> None:
    print("3. generator-based coroutines as tasks")
    log: list[str] = []
    loop = asyncio.get_running_loop()
    ping = loop.create_task(play("ping", 3, log))
    pong = loop.create_task(play("pong", 3, log))
    results = await asyncio.gather(ping, pong)
    print(f"  interleaving: {', '.join(log)}")
    print(f"  results: {results}")

    print("4. a hand-written awaitable")
    first = asyncio.ensure_future(Delayed(0.04, "slow value"))
    second = asyncio.ensure_future(Delayed(0.01, "fast value"))
    done_order: list[str] = []
    for fut in (first, second):
        fut.add_done_callback(lambda f: done_order.append(f.result()))
    print(f"  awaited: {await first!r} and {await second!r}")
    print(f"  completion order: {done_order}")


if __name__ == "__main__":
    generator_basics()
    step_by_hand()
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(generator_based_tasks())
    finally:
        loop.close()
