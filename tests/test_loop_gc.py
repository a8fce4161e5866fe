"""An unclosed loop left behind with pending work is collected, as in asyncio.

asyncio's loop warns ("unclosed event loop") and closes itself when the
garbage collector finds it unreachable, even when its pending callbacks
refer back to it. oxloop keeps its handles off the collector's lists, so
the loop has to show the collector what its pending handles hold.
"""

from __future__ import annotations

import asyncio
import gc
import os
import warnings
import weakref

import oxloop
import pytest

LOOPS = {"oxloop": oxloop.new_event_loop, "asyncio": asyncio.new_event_loop}


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def abandon_loop_with_pending_work(factory) -> weakref.ref:
    """Leaves an unclosed loop with a sleeping task, a timer and a callback
    that all refer back to it; returns a weak reference to it."""
    loop = factory()

    async def forever():
        await asyncio.sleep(3600)

    task = loop.create_task(forever())
    loop.run_until_complete(asyncio.sleep(0))
    loop.call_later(10, loop.stop)
    loop.call_soon(loop.stop)
    assert not task.done()
    return weakref.ref(loop)


@pytest.mark.parametrize("name", sorted(LOOPS))
def test_an_abandoned_loop_with_pending_work_is_collected(name):
    # A first loop may open descriptors that live on (e.g. in the logging or
    # signal machinery): count from after one.
    LOOPS[name]().close()
    gc.collect()
    before = open_fds()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        refs = [abandon_loop_with_pending_work(LOOPS[name]) for _ in range(20)]
        # The pending task logs "Task was destroyed but it is pending!" on both.
        gc.collect()
        gc.collect()
    unclosed = [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]
    # A recorded "unclosed event loop" warning holds its loop (`source`): from 3.15 the
    # collector clears weak references only after finalizers, so the loops that warned
    # are freed once the record is dropped.
    del caught
    gc.collect()
    assert [r() for r in refs] == [None] * 20
    assert open_fds() == before
    assert any("unclosed event loop" in message for message in unclosed)


def test_what_a_handle_held_elsewhere_refers_to_stays_intact():
    # The program still holds a handle whose callback refers back to the
    # otherwise unreferenced loop: nothing it reaches may be cleared.
    class Holder:
        pass

    holder = Holder()
    holder.loop = oxloop.new_event_loop()
    holder.data = [1, 2, 3]

    box = [holder]

    def callback():
        return box[0]

    handle = holder.loop.call_soon(callback)
    del holder
    gc.collect()
    kept = handle._callback()
    assert kept.data == [1, 2, 3]
    assert not kept.loop.is_closed()
    kept.loop.close()


def test_a_closed_loop_with_a_task_factory_is_collected():
    loop = oxloop.new_event_loop()
    loop.set_task_factory(lambda lp, coro, **kw: asyncio.Task(coro, loop=lp, **kw))
    loop.close()
    ref = weakref.ref(loop)
    del loop
    gc.collect()
    assert ref() is None
