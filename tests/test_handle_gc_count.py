"""Pending handles stay out of the garbage collector's allocation count
(`src/handle_alloc.rs`): a loop with many pending callbacks must not run
more collections than its callbacks' own objects cause."""

import contextvars
import gc
import sys
import weakref

import oxloop
import pytest

KNOWN_LAYOUT = (3, 11) <= sys.version_info[:2] <= (3, 15) and "t" not in sys.abiflags


@pytest.mark.skipif(
    not KNOWN_LAYOUT,
    reason="the uncounted allocator is installed only where CPython's GC object layout is known",
)
def test_pending_handles_do_not_count_toward_a_collection():
    loop = oxloop.new_event_loop()
    context = contextvars.copy_context()
    handles = []
    try:
        gc.collect()
        gc.disable()
        try:
            before = gc.get_count()[0]
            for _ in range(1000):
                handles.append(loop.call_soon(len, "x", context=context))
            counted = gc.get_count()[0] - before
        finally:
            gc.enable()
        # The argument tuples are GC objects (1000 of them); the handles add nothing.
        assert counted <= 1000 + 10, counted
        assert not any(gc.is_tracked(h) for h in handles)
        ref = weakref.ref(handles[0])
        for h in handles:
            h.cancel()
    finally:
        loop.close()
    handles.clear()
    assert ref() is None, "a handle with a weak reference is freed as usual"
