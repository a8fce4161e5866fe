"""The context callbacks run in, checked on oxloop and on stdlib asyncio alike.

A callback scheduled without `context=` runs in a copy of its caller's
context. oxloop runs callbacks whose caller's context was empty in one
reusable empty context; these tests pin down that no callback can tell.
"""

from __future__ import annotations

import asyncio
import contextvars
import gc
import socket
import sys
import threading

import oxloop
import pytest

LOOPS = {"oxloop": oxloop.new_event_loop, "asyncio": asyncio.new_event_loop}

var = contextvars.ContextVar("var", default="unset")


@pytest.fixture(params=sorted(LOOPS))
def loop(request):
    lp = LOOPS[request.param]()
    yield lp
    if not lp.is_closed():
        lp.close()


def run_in_empty_context(fn, *args):
    """Calls fn(*args) in a fresh context with no variables set."""
    return contextvars.Context().run(fn, *args)


def context_of(handle):
    """`Handle.get_context()` (Python 3.12+; oxloop has it on 3.11 too)."""
    if hasattr(handle, "get_context"):
        return handle.get_context()
    return handle._context


def test_a_variable_set_by_one_callback_is_not_seen_by_the_next(loop):
    seen = []

    def setter(value):
        var.set(value)
        seen.append(("setter", var.get()))

    def reader(name):
        seen.append((name, var.get()))

    def schedule():
        loop.call_soon(setter, "one")
        loop.call_soon(reader, "after-one")
        loop.call_soon(setter, "two")
        loop.call_later(0, reader, "timer")
        loop.call_soon(reader, "after-two")
        loop.call_soon(loop.stop)

    run_in_empty_context(schedule)
    loop.run_forever()
    assert seen == [
        ("setter", "one"),
        ("after-one", "unset"),
        ("setter", "two"),
        ("after-two", "unset"),
        ("timer", "unset"),
    ]


def test_set_then_reset_and_raising_callbacks_leave_no_trace(loop):
    seen = []
    errors = []
    loop.set_exception_handler(lambda lp, ctx: errors.append(type(ctx["exception"])))

    def set_and_reset():
        token = var.set("temporary")
        var.reset(token)
        seen.append(var.get())

    def set_and_raise():
        var.set("leaked?")
        raise ValueError("boom")

    def schedule():
        loop.call_soon(set_and_reset)
        loop.call_soon(seen.append, "marker")
        loop.call_soon(set_and_raise)
        loop.call_soon(lambda: seen.append(var.get()))
        loop.call_soon(loop.stop)

    run_in_empty_context(schedule)
    loop.run_forever()
    assert seen == ["unset", "marker", "unset"]
    assert errors == [ValueError]


def test_callbacks_scheduled_after_a_set_see_the_value(loop):
    seen = []

    def parent():
        loop.call_soon(child, "before-set")
        var.set("parent's")
        loop.call_soon(child, "after-set")
        loop.create_task(task())

    def child(name):
        seen.append((name, var.get()))

    async def task():
        seen.append(("task", var.get()))
        loop.stop()

    run_in_empty_context(loop.call_soon, parent)
    loop.run_forever()
    assert sorted(seen) == [
        ("after-set", "parent's"),
        ("before-set", "unset"),
        ("task", "parent's"),
    ]


def test_get_context_of_a_handle_from_an_empty_context(loop):
    seen = []

    def cb():
        var.set("inside")
        seen.append(var.get())

    handle = run_in_empty_context(loop.call_soon, cb)
    ctx = context_of(handle)
    assert isinstance(ctx, contextvars.Context)
    assert context_of(handle) is ctx
    assert len(ctx) == 0
    loop.call_soon(loop.stop)
    loop.run_forever()
    # The callback ran in the handle's own context, which now holds its change.
    assert seen == ["inside"]
    assert ctx[var] == "inside"
    assert context_of(handle) is ctx


def test_threadsafe_callbacks_from_a_worker_thread(loop):
    seen = []
    done = threading.Event()

    def setter():
        var.set("from-callback")
        seen.append(var.get())

    def produce():
        for _ in range(3):
            loop.call_soon_threadsafe(setter)
            loop.call_soon_threadsafe(lambda: seen.append(var.get()))
        var.set("producer's")
        loop.call_soon_threadsafe(lambda: seen.append(var.get()))
        loop.call_soon_threadsafe(loop.stop)
        done.set()

    worker = threading.Thread(target=produce)
    worker.start()
    loop.run_forever()
    worker.join()
    assert done.is_set()
    assert seen == ["from-callback", "unset"] * 3 + ["producer's"]


def test_explicit_context_is_run_in_and_kept(loop):
    ctx = contextvars.Context()
    seen = []

    def cb():
        var.set("mine")
        seen.append(var.get())

    handle = loop.call_soon(cb, context=ctx)
    assert context_of(handle) is ctx
    loop.call_soon(lambda: seen.append(var.get()))
    loop.call_soon(loop.stop)
    run_in_empty_context(loop.run_forever)
    assert seen == ["mine", "unset"]
    assert ctx[var] == "mine"


def test_a_reader_keeps_what_it_set_in_its_context_between_runs(loop):
    a, b = socket.socketpair()
    counts = []

    def on_readable():
        a.recv(1)
        n = 0 if var.get() == "unset" else var.get()
        var.set(n + 1)
        counts.append(n)
        if len(counts) == 3:
            loop.remove_reader(a)
            loop.stop()
        else:
            b.send(b"x")

    run_in_empty_context(loop.add_reader, a, on_readable)
    b.send(b"x")
    loop.run_forever()
    a.close()
    b.close()
    # asyncio runs a reader in one context for its whole life.
    assert counts == [0, 1, 2]


def test_get_context_during_and_after_the_run_is_the_context_it_ran_in(loop):
    seen = {}

    def cb():
        seen["during"] = context_of(handle)
        var.set("changed")

    handle = run_in_empty_context(loop.call_soon, cb)
    loop.call_soon(lambda: seen.setdefault("next", var.get()))
    loop.call_soon(loop.stop)
    loop.run_forever()
    after = context_of(handle)
    assert seen["during"] is after
    assert after[var] == "changed"
    assert seen["next"] == "unset"


def test_many_pending_callbacks_from_a_non_empty_context(loop):
    seen = []

    def schedule():
        var.set("outer")
        for _ in range(3000):
            loop.call_soon(lambda: seen.append(var.get()))
        loop.call_later(0, loop.stop)

    run_in_empty_context(schedule)
    loop.run_forever()
    # A crowded loop keeps private context copies off the collector's list:
    # they must still be released cleanly.
    assert seen == ["outer"] * 3000
    gc.collect()


def _handler_sees(loop, make_failure):
    """What `var` holds inside a custom exception handler, for a failure that set it."""
    seen = []
    loop.set_exception_handler(lambda lp, context: seen.append(var.get()))

    async def main():
        make_failure(loop)
        for _ in range(3):
            await asyncio.sleep(0)

    loop.run_until_complete(main())
    return seen


def _failing_callback(loop):
    def callback():
        var.set("set by the callback")
        raise ZeroDivisionError

    loop.call_soon(callback)


def _failing_task(loop):
    async def body():
        var.set("set by the task")
        raise ZeroDivisionError

    loop.create_task(body())


@pytest.mark.parametrize("failure", [_failing_callback, _failing_task], ids=["callback", "task"])
def test_exception_handler_runs_in_the_failing_context_from_3_12(loop, failure):
    seen = _handler_sees(loop, failure)
    if sys.version_info >= (3, 12):
        # gh-96704: the handler runs in the context of the task or handle that failed.
        assert seen in (["set by the callback"], ["set by the task"])
    else:
        assert seen == ["unset"]
