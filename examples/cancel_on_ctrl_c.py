"""Cancelling every task when the user presses Ctrl+C.

Several long-running tasks are started and the program prints ``ready``.
On Ctrl+C (SIGINT), ``asyncio.run`` cancels the main task; the main task then
cancels every other task still running, waits for them to finish, prints
which ones were cancelled (sorted by name) and re-raises, so ``asyncio.run``
turns the interruption into ``KeyboardInterrupt``. The program catches it and
exits with status 130 (the shell convention for "terminated by SIGINT").

Run it, wait for ``ready``, then press Ctrl+C.
"""

import asyncio
import sys

EXIT_INTERRUPTED = 130


async def worker(name: str, seconds: float) -> str:
    print(f"{name}: started")
    await asyncio.sleep(seconds)
    print(f"{name}: finished")
    return name


async def main() -> None:
    quick = asyncio.create_task(worker("quick", 0.01), name="quick")
    slow = [asyncio.create_task(worker(f"slow-{i}", 3600.0), name=f"slow-{i}") for i in (3, 1, 2)]
    await quick
    print("ready", flush=True)
    try:
        await asyncio.wait(slow)
    except asyncio.CancelledError:
        print("interrupted: cancelling every remaining task")
        others = asyncio.all_tasks() - {asyncio.current_task()}
        for task in sorted(others, key=lambda t: t.get_name()):
            print(f"cancel {task.get_name()}: {task.cancel()}")
        await asyncio.gather(*others, return_exceptions=True)
        every = [quick, *slow]
        print("cancelled:", ", ".join(sorted(t.get_name() for t in every if t.cancelled())))
        print("completed:", ", ".join(sorted(t.get_name() for t in every if not t.cancelled())))
        raise
    print("all tasks finished without an interruption")


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        print("KeyboardInterrupt: exiting cleanly")
        sys.exit(EXIT_INTERRUPTED)
