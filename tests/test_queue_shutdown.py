"""`asyncio.Queue.shutdown()` (Python 3.13) on oxloop and on asyncio.

The queue is pure asyncio; what the loop contributes is waking the blocked getters,
putters and joiners in the right order. Each scenario must observe the same on both.
"""

from __future__ import annotations

import asyncio
import sys

import pytest
from _on_both import on_both

pytestmark = pytest.mark.skipif(
    sys.version_info < (3, 13), reason="asyncio.Queue.shutdown is new in Python 3.13"
)


async def outcome(awaitable):
    try:
        return ("ok", await awaitable)
    except asyncio.QueueShutDown:
        return ("shut down",)


def test_graceful_shutdown_lets_getters_drain_the_queue():
    async def scenario():
        q = asyncio.Queue()
        for i in range(3):
            q.put_nowait(i)
        q.shutdown()
        put = await outcome(q.put(9))
        gets = [await outcome(q.get()) for _ in range(4)]
        return put, gets

    put, gets = on_both(scenario, timeout=10)
    assert put == ("shut down",)
    assert gets == [("ok", 0), ("ok", 1), ("ok", 2), ("shut down",)]


def test_shutdown_wakes_blocked_getters_and_putters():
    async def scenario():
        empty = asyncio.Queue()
        full = asyncio.Queue(maxsize=1)
        full.put_nowait("x")
        getters = [asyncio.ensure_future(outcome(empty.get())) for _ in range(2)]
        putters = [asyncio.ensure_future(outcome(full.put(i))) for i in range(2)]
        await asyncio.sleep(0)
        empty.shutdown()
        full.shutdown()
        return await asyncio.gather(*getters), await asyncio.gather(*putters)

    getters, putters = on_both(scenario, timeout=10)
    assert getters == [("shut down",)] * 2
    assert putters == [("shut down",)] * 2


def test_immediate_shutdown_empties_the_queue_and_releases_join():
    async def scenario():
        q = asyncio.Queue()
        for i in range(3):
            q.put_nowait(i)
        joiner = asyncio.ensure_future(q.join())
        await asyncio.sleep(0)
        q.shutdown(immediate=True)
        await asyncio.wait_for(joiner, 5)
        return q.qsize(), await outcome(q.get())

    assert on_both(scenario, timeout=10) == (0, ("shut down",))
