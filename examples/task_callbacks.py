"""Wrapping coroutines in tasks, watching their state and binding callbacks.

A task made with ``loop.create_task`` (or ``asyncio.ensure_future``) is
pending until the loop runs it and done afterwards; its result is kept on the
task. A done-callback added with ``add_done_callback`` receives the task
itself, and extra arguments can be bound with ``functools.partial``.
"""

import asyncio
import functools


async def job(label: str, delay: float) -> str:
    print(f"{label}: started")
    await asyncio.sleep(delay)
    print(f"{label}: finished")
    return f"return value of {label}"


def describe(task: asyncio.Task) -> str:
    if not task.done():
        return "pending"
    if task.cancelled():
        return "cancelled"
    return "finished"


def on_done(expected: asyncio.Task, future: asyncio.Future) -> None:
    print(f"callback: result is {future.result()!r}")
    print(f"callback: got the task object itself: {future is expected}")


def main() -> None:
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        task = loop.create_task(job("job-1", 0.01), name="job-1")
        print(f"{task.get_name()} before running: {describe(task)}")
        task.add_done_callback(functools.partial(on_done, task))
        loop.run_until_complete(task)
        print(f"{task.get_name()} after running: {describe(task)}")
        print(f"{task.get_name()} result: {task.result()!r}")

        other = asyncio.ensure_future(job("job-2", 0.01), loop=loop)
        print(f"ensure_future gave a Task: {isinstance(other, asyncio.Task)}")
        value = loop.run_until_complete(other)
        print(f"run_until_complete returned {value!r}")

        doomed = loop.create_task(job("job-3", 10.0), name="job-3")
        loop.call_later(0.02, doomed.cancel)
        try:
            loop.run_until_complete(doomed)
        except asyncio.CancelledError:
            print(f"{doomed.get_name()} raised CancelledError")
        print(f"{doomed.get_name()} state: {describe(doomed)}")
    finally:
        asyncio.set_event_loop(None)
        loop.close()


if __name__ == "__main__":
    main()
