"""An event loop running forever in a worker thread, fed from the main thread.

The main thread creates a loop with ``asyncio.new_event_loop``, starts a
thread that calls ``run_forever`` on it, and then hands it work:

* plain callbacks with ``loop.call_soon_threadsafe``: they run one after the
  other in the loop's thread (a blocking callback delays the next one);
* coroutines with ``asyncio.run_coroutine_threadsafe``: they run concurrently
  in the loop's thread, and the main thread gets ``concurrent.futures.Future``
  objects back, which it can wait on or cancel.

The main thread only prints while the loop thread is known to be idle, so the
output order is fixed. Finally it stops the loop thread-safely, joins the
thread and closes the loop.
"""

import asyncio
import concurrent.futures
import threading
import time

UNIT = 0.04


def start_loop(loop: asyncio.AbstractEventLoop, started: threading.Event) -> None:
    asyncio.set_event_loop(loop)
    loop.call_soon(started.set)
    loop.run_forever()


def more_work(x: int) -> None:
    where = threading.current_thread().name
    print(f"more work {x} (in {where})")
    time.sleep(x * UNIT)  # blocks the loop thread: callbacks run strictly one after another
    print(f"finished more work {x}")


async def do_some_work(x: int) -> str:
    print(f"waiting {x}")
    await asyncio.sleep(x * UNIT)
    print(f"done after {x} units")
    return f"work {x} done"


async def fail_later() -> None:
    await asyncio.sleep(UNIT)
    raise LookupError("nothing found")


async def long_job(started: threading.Event, cleaned_up: threading.Event) -> None:
    print("long job started")
    started.set()
    try:
        await asyncio.sleep(3600)
    except asyncio.CancelledError:
        print("long job cancelled inside the loop thread")
        cleaned_up.set()
        raise


def flush_loop(loop: asyncio.AbstractEventLoop) -> None:
    """Wait until every callback scheduled so far has run in the loop thread."""
    marker: concurrent.futures.Future = concurrent.futures.Future()
    loop.call_soon_threadsafe(marker.set_result, None)
    marker.result(timeout=10)


def main() -> None:
    loop = asyncio.new_event_loop()
    started = threading.Event()
    thread = threading.Thread(target=start_loop, args=(loop, started), name="loop-thread")
    thread.start()
    started.wait(timeout=10)
    print(f"main: loop running in the other thread: {loop.is_running()}")

    loop.call_soon_threadsafe(more_work, 3)
    loop.call_soon_threadsafe(more_work, 1)
    flush_loop(loop)
    print("main: both callbacks ran, in the order they were submitted")

    fut_slow = asyncio.run_coroutine_threadsafe(do_some_work(3), loop)
    fut_fast = asyncio.run_coroutine_threadsafe(do_some_work(1), loop)
    concurrent.futures.wait([fut_slow, fut_fast], timeout=10)
    is_cf = isinstance(fut_slow, concurrent.futures.Future)
    print(f"main: got concurrent.futures.Future objects: {is_cf}")
    print(f"main: {fut_slow.result()!r}, {fut_fast.result()!r}")

    try:
        asyncio.run_coroutine_threadsafe(fail_later(), loop).result(timeout=10)
    except LookupError as exc:
        print(f"main: the coroutine's exception reached the main thread: {exc!r}")

    job_started = threading.Event()
    job_cleaned_up = threading.Event()
    fut_long = asyncio.run_coroutine_threadsafe(long_job(job_started, job_cleaned_up), loop)
    job_started.wait(timeout=10)
    print("main: cancelling the long job")
    accepted = fut_long.cancel()
    job_cleaned_up.wait(timeout=10)
    flush_loop(loop)
    print(f"main: cancel() returned {accepted}")
    print(f"main: long job future cancelled: {fut_long.cancelled()}")

    loop.call_soon_threadsafe(loop.stop)
    thread.join(timeout=10)
    print(f"main: loop thread alive: {thread.is_alive()}, loop running: {loop.is_running()}")
    loop.close()
    print(f"main: loop closed: {loop.is_closed()}")


if __name__ == "__main__":
    main()
