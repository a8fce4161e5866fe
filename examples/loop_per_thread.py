"""Every thread can run its own event loop.

Two worker threads each create a loop with ``new_event_loop``, make it their
current loop with ``set_event_loop``, run a coroutine on it with
``run_until_complete`` and close it. Inside the coroutine the thread's loop
reports ``is_running() == True``; the main thread has no running loop at all.
The threads write their observations into a dict that the main thread prints
after joining them, so the output does not depend on thread timing.
"""

import asyncio
import random
import threading

observations: dict[str, list[str]] = {}
loops: dict[str, asyncio.AbstractEventLoop] = {}


async def do_something_important(sleep_for: float) -> str:
    name = threading.current_thread().name
    loop = asyncio.get_event_loop()
    notes = observations[name]
    notes.append(f"get_event_loop() is the running loop: {loop is asyncio.get_running_loop()}")
    notes.append(f"loop is_running(): {loop.is_running()}")
    await asyncio.sleep(sleep_for)
    return f"{name} slept"


def launch_event_loop(seed: int) -> None:
    name = threading.current_thread().name
    observations[name] = []
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    loops[name] = loop
    try:
        delay = random.Random(seed).randint(1, 5) / 100
        result = loop.run_until_complete(do_something_important(delay))
        observations[name].append(f"run_until_complete returned {result!r}")
        observations[name].append(f"after run_until_complete, is_running(): {loop.is_running()}")
    finally:
        asyncio.set_event_loop(None)
        loop.close()
    observations[name].append(f"closed: {loop.is_closed()}")


def main() -> None:
    threads = [
        threading.Thread(target=launch_event_loop, args=(seed,), name=f"worker-{seed}")
        for seed in (1, 2)
    ]
    for thread in threads:
        thread.start()
    try:
        asyncio.get_running_loop()
        main_state = "has a running loop"
    except RuntimeError:
        main_state = "has no running loop"
    for thread in threads:
        thread.join()

    print(f"MainThread {main_state}")
    for name in sorted(observations):
        print(f"{name}:")
        for note in observations[name]:
            print(f"  {note}")
    first, second = (loops[name] for name in sorted(loops))
    print(f"the two threads used different loops: {first is not second}")


if __name__ == "__main__":
    main()
