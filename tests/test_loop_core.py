"""Core loop behaviour, checked on oxloop and on stdlib asyncio alike.

Each test takes a `new_loop` factory and runs the same program on both
loops; a behaviour that differs between them is a bug in oxloop.
"""

from __future__ import annotations

import asyncio
import contextvars
import os
import signal
import socket
import sys
import threading
import time
from unittest import mock

import oxloop
import pytest

LOOPS = {"oxloop": oxloop.new_event_loop, "asyncio": asyncio.new_event_loop}


@pytest.fixture(params=sorted(LOOPS))
def loop(request):
    lp = LOOPS[request.param]()
    yield lp
    if not lp.is_closed():
        lp.close()


def test_oxloop_is_really_rust_backed():
    lp = oxloop.new_event_loop()
    try:
        assert isinstance(lp, oxloop._core.CoreLoop)
        assert isinstance(lp, asyncio.AbstractEventLoop)
    finally:
        lp.close()


def test_call_soon_runs_in_fifo_order(loop):
    out = []
    for i in range(5):
        loop.call_soon(out.append, i)
    loop.call_soon(loop.stop)
    loop.run_forever()
    assert out == [0, 1, 2, 3, 4]


def test_callbacks_scheduled_during_a_turn_run_next_turn(loop):
    out = []

    def first():
        out.append("first")
        loop.call_soon(out.append, "scheduled-by-first")

    loop.call_soon(first)
    loop.call_soon(out.append, "second")
    loop.call_soon(loop.stop)
    loop.run_forever()
    # stop() lets the current turn finish; the new callback waits for the next run.
    assert out == ["first", "second"]
    loop.call_soon(loop.stop)
    loop.run_forever()
    assert out == ["first", "second", "scheduled-by-first"]


def test_call_later_orders_by_deadline(loop):
    out = []
    loop.call_later(0.03, out.append, "c")
    loop.call_later(0.01, out.append, "a")
    loop.call_later(0.02, out.append, "b")
    loop.call_later(0.04, loop.stop)
    t0 = time.monotonic()
    loop.run_forever()
    assert out == ["a", "b", "c"]
    assert time.monotonic() - t0 >= 0.035


def test_call_at_and_time(loop):
    t = loop.time()
    assert abs(t - time.monotonic()) < 0.05
    h = loop.call_at(t + 0.01, loop.stop)
    assert h.when() == t + 0.01
    loop.run_forever()
    assert loop.time() >= t + 0.01


def test_patched_loop_time_decides_which_timers_are_due(loop):
    # aiohttp's own test suite (test_keepalive_expires_on_time) freezes and then
    # advances time with mock.patch.object(loop, "time"): asyncio's turn asks
    # self.time() which timers are due.
    now = loop.time()
    fired = []
    with mock.patch.object(loop, "time", return_value=now):
        loop.call_at(now + 100, fired.append, "due")
        loop.call_soon(loop.stop)
        loop.run_forever()
        assert fired == []
        loop.time.return_value = now + 100
        loop.call_soon(loop.stop)
        loop.run_forever()
    assert fired == ["due"]
    # The patch is gone: the loop's own clock again.
    assert abs(loop.time() - time.monotonic()) < 0.05


def test_call_later_is_relative_to_an_assigned_time(loop):
    loop.time = lambda: 1000.0
    try:
        h = loop.call_later(5, print)
        assert h.when() == 1005.0
        h.cancel()
    finally:
        del loop.time
    assert abs(loop.time() - time.monotonic()) < 0.05
    h = loop.call_later(5, print)
    assert abs(h.when() - (time.monotonic() + 5)) < 0.05
    h.cancel()


def test_an_assigned_time_that_fails_raises_out_of_the_turn(loop):
    def broken():
        raise ZeroDivisionError("clock")

    loop.call_at(loop.time() + 100, print)
    loop.time = broken
    try:
        loop.call_soon(loop.stop)
        with pytest.raises(ZeroDivisionError, match="clock"):
            loop.run_forever()
        with pytest.raises(ZeroDivisionError, match="clock"):
            loop.call_later(1, print)
    finally:
        del loop.time


def _subclass_with_clock(base):
    class FakeClockLoop(base):
        fake_now = 500.0

        def time(self):
            return self.fake_now

    return FakeClockLoop


@pytest.mark.parametrize(
    "base", [oxloop.Loop, asyncio.SelectorEventLoop], ids=["oxloop", "asyncio"]
)
def test_a_subclass_time_is_the_loops_clock(base):
    loop = _subclass_with_clock(base)()
    try:
        assert loop.time() == 500.0
        fired = []
        h = loop.call_later(10, fired.append, "late")
        assert h.when() == 510.0
        loop.call_soon(loop.stop)
        loop.run_forever()
        assert fired == []
        loop.fake_now = 510.0
        loop.call_soon(loop.stop)
        loop.run_forever()
        assert fired == ["late"]
        # The base class's clock is still reachable, through the class or super().
        assert abs(base.time(loop) - time.monotonic()) < 0.05
        assert abs(super(type(loop), loop).time() - time.monotonic()) < 0.05
        # Patching the instance wins over the subclass's method, and undoing the
        # patch brings the method back.
        with mock.patch.object(loop, "time", return_value=7.0):
            assert loop.call_later(1, print).when() == 8.0
        assert loop.time() == 510.0
    finally:
        loop.close()


def test_a_clock_that_refers_to_its_loop_is_collected():
    # loop -> clock -> bound method -> loop: the collector must see the edge.
    import gc
    import weakref

    loop = _subclass_with_clock(oxloop.Loop)()
    loop.time = loop.get_debug  # a bound method of the loop itself
    loop.close()
    ref = weakref.ref(loop)
    del loop
    gc.collect()
    assert ref() is None


def test_cancelled_handles_never_run(loop):
    out = []
    h1 = loop.call_soon(out.append, 1)
    h2 = loop.call_later(0.001, out.append, 2)
    loop.call_soon(out.append, 3)
    h1.cancel()
    h2.cancel()
    assert h1.cancelled() and h2.cancelled()
    loop.call_later(0.01, loop.stop)
    loop.run_forever()
    assert out == [3]


def test_callbacks_run_in_their_context(loop):
    var = contextvars.ContextVar("var", default="default")
    seen = []
    ctx = contextvars.copy_context()
    ctx.run(var.set, "in-ctx")
    loop.call_soon(lambda: seen.append(var.get()), context=ctx)
    var.set("outer")
    loop.call_soon(lambda: seen.append(var.get()))
    loop.call_soon(lambda: var.set("leak?"))
    loop.call_soon(lambda: seen.append(var.get()))
    loop.call_soon(loop.stop)
    loop.run_forever()
    assert seen == ["in-ctx", "outer", "outer"]


def test_run_until_complete_returns_result(loop):
    async def work(x):
        await asyncio.sleep(0.001)
        return x * 2

    assert loop.run_until_complete(work(21)) == 42
    task = loop.create_task(work(5), name="named")
    assert task.get_name() == "named"
    assert loop.run_until_complete(task) == 10


def test_run_until_complete_propagates_exception(loop):
    async def boom():
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        loop.run_until_complete(boom())


def test_closed_loop_rejects_work(loop):
    loop.close()
    assert loop.is_closed()
    loop.close()  # idempotent
    with pytest.raises(RuntimeError, match="Event loop is closed"):
        loop.call_soon(print)
    with pytest.raises(RuntimeError, match="Event loop is closed"):
        loop.call_later(1, print)
    with pytest.raises(RuntimeError, match="Event loop is closed"):
        loop.call_soon_threadsafe(print)
    with pytest.raises(RuntimeError, match="Event loop is closed"):
        loop.run_forever()
    coro = asyncio.sleep(0)
    with pytest.raises(RuntimeError, match="Event loop is closed"):
        loop.run_until_complete(coro)
    coro.close()
    assert loop.remove_reader(0) is False


def test_running_a_running_loop_fails(loop):
    if not isinstance(loop, oxloop.Loop) and sys.version_info[:3] == (3, 13, 0):
        pytest.skip("asyncio 3.13.0's run_forever() undoes the running state after its own error")
    errors = []

    def nested():
        try:
            loop.run_forever()
        except RuntimeError as e:
            errors.append(str(e))
        coro = asyncio.sleep(0)
        try:
            loop.run_until_complete(coro)
        except RuntimeError as e:
            errors.append(str(e))
        coro.close()
        loop.stop()

    loop.call_soon(nested)
    loop.run_forever()
    assert errors == ["This event loop is already running"] * 2


def test_close_while_running_fails(loop):
    errors = []

    def try_close():
        try:
            loop.close()
        except RuntimeError as e:
            errors.append(str(e))
        loop.stop()

    loop.call_soon(try_close)
    loop.run_forever()
    assert errors == ["Cannot close a running event loop"]


def test_other_loop_cannot_run_inside_a_running_one(loop):
    other = LOOPS["oxloop"]()
    errors = []

    def nested():
        try:
            other.run_forever()
        except RuntimeError as e:
            errors.append(str(e))
        loop.stop()

    loop.call_soon(nested)
    loop.run_forever()
    other.close()
    assert errors == ["Cannot run the event loop while another loop is running"]


async def _a_coroutine_function():
    pass


@pytest.mark.parametrize("method", ["call_soon", "call_soon_threadsafe"])
def test_coroutines_and_non_callables_are_rejected_in_debug_mode(loop, method):
    loop.set_debug(True)
    fn = getattr(loop, method)
    coro = _a_coroutine_function()
    with pytest.raises(TypeError, match="coroutines cannot be used with"):
        fn(coro)
    coro.close()
    with pytest.raises(TypeError, match="coroutines cannot be used with"):
        fn(_a_coroutine_function)
    with pytest.raises(TypeError, match="a callable object was expected"):
        fn(42)


@pytest.mark.parametrize("method", ["call_soon", "call_soon_threadsafe"])
def test_oxloop_rejects_non_callables_even_without_debug(method):
    lp = oxloop.new_event_loop()
    fn = getattr(lp, method)
    coro = _a_coroutine_function()
    with pytest.raises(TypeError, match="coroutines cannot be used with"):
        fn(coro)
    coro.close()
    with pytest.raises(TypeError, match="a callable object was expected"):
        fn(42)
    lp.close()


def test_call_later_rejects_none_and_coroutines(loop):
    loop.set_debug(True)
    with pytest.raises(TypeError):
        loop.call_later(None, print)
    with pytest.raises(TypeError):
        loop.call_at(None, print)
    with pytest.raises(TypeError, match="coroutines cannot be used with call_at"):
        loop.call_later(1, _a_coroutine_function)
    with pytest.raises(TypeError):
        loop.call_later("soon", print)


def test_bad_fds_raise_value_error(loop):
    with pytest.raises(ValueError, match="Invalid file descriptor: -1"):
        loop.add_reader(-1, print)
    with pytest.raises(ValueError, match="Invalid file object"):
        loop.add_reader("not a file", print)
    with pytest.raises(ValueError, match="Invalid file object"):
        loop.add_writer(object(), print)
    with pytest.raises(ValueError):
        loop.remove_reader(-5)


def test_closed_fd_raises_oserror(loop):
    r, w = os.pipe()
    os.close(r)
    os.close(w)
    with pytest.raises(OSError):
        loop.add_reader(r, print)


def test_reader_and_writer_callbacks(loop):
    a, b = socket.socketpair()
    a.setblocking(False)
    b.setblocking(False)
    got = []

    def on_readable():
        got.append(a.recv(100))
        loop.remove_reader(a)
        loop.stop()

    def on_writable():
        b.send(b"ping")
        assert loop.remove_writer(b.fileno()) is True

    loop.add_reader(a, on_readable)
    loop.add_writer(b, on_writable)
    loop.run_forever()
    assert got == [b"ping"]
    assert loop.remove_reader(a) is False
    a.close()
    b.close()


def test_remove_reader_and_writer_of_a_closed_socket(loop):
    # anyio closes a socket, then removes the reader it added for it: the
    # socket's fileno() is -1 by then, and asyncio finds the registration by
    # the object itself.
    a, b = socket.socketpair()
    loop.add_reader(a, print)
    loop.add_writer(b, print)
    a.close()
    b.close()
    assert loop.remove_reader(a) is True
    assert loop.remove_writer(b) is True
    for remove, obj in ((loop.remove_reader, a), (loop.remove_writer, b), (loop.remove_reader, -1)):
        with pytest.raises(ValueError, match="Invalid file descriptor: -1"):
            remove(obj)

    # The next socket gets the closed one's fd number and is watched afresh.
    d, e = socket.socketpair()
    got = []

    def on_readable():
        got.append(d.recv(10))
        loop.stop()

    loop.add_reader(d, on_readable)
    e.send(b"x")
    loop.run_forever()
    assert got == [b"x"]
    assert loop.remove_reader(d) is True
    d.close()
    e.close()


def test_exception_in_callback_goes_to_handler_and_loop_continues(loop):
    contexts = []
    loop.set_exception_handler(lambda lp, ctx: contexts.append(ctx))
    out = []

    def bad():
        raise ZeroDivisionError("oops")

    loop.call_soon(bad)
    loop.call_soon(out.append, "after")
    loop.call_soon(loop.stop)
    loop.run_forever()
    assert out == ["after"]
    assert len(contexts) == 1
    ctx = contexts[0]
    assert isinstance(ctx["exception"], ZeroDivisionError)
    assert ctx["message"].startswith("Exception in callback ")
    assert "handle" in ctx


def test_default_exception_handler_logs_to_asyncio_logger(loop, caplog):
    def bad():
        raise KeyError("missing")

    loop.call_soon(bad)
    loop.call_soon(loop.stop)
    with caplog.at_level("ERROR", logger="asyncio"):
        loop.run_forever()
    records = [r for r in caplog.records if r.name == "asyncio"]
    assert len(records) == 1
    assert records[0].getMessage().startswith("Exception in callback ")
    assert records[0].exc_info[0] is KeyError


def test_exception_handler_must_be_callable(loop):
    with pytest.raises(TypeError, match="A callable object or None is expected"):
        loop.set_exception_handler(42)
    with pytest.raises(TypeError, match="task factory must be a callable or None"):
        loop.set_task_factory(42)


def test_keyboard_interrupt_in_callback_propagates_and_keeps_the_rest(loop):
    out = []

    def interrupt():
        raise KeyboardInterrupt

    loop.call_soon(interrupt)
    loop.call_soon(out.append, "kept")
    with pytest.raises(KeyboardInterrupt):
        loop.run_forever()
    assert not loop.is_running()
    loop.call_soon(loop.stop)
    loop.run_forever()
    assert out == ["kept"]


def test_call_soon_threadsafe_wakes_a_sleeping_loop(loop):
    out = []

    def from_thread():
        time.sleep(0.05)
        loop.call_soon_threadsafe(out.append, "woken")
        loop.call_soon_threadsafe(loop.stop)

    # A far timer keeps the loop asleep unless the thread wakes it.
    loop.call_later(30, loop.stop)
    t = threading.Thread(target=from_thread)
    t0 = time.monotonic()
    t.start()
    loop.run_forever()
    t.join()
    assert out == ["woken"]
    assert time.monotonic() - t0 < 5


def test_run_coroutine_threadsafe_from_another_thread(loop):
    async def add(a, b):
        await asyncio.sleep(0.001)
        return a + b

    t = threading.Thread(target=loop.run_forever)
    t.start()
    try:
        fut = asyncio.run_coroutine_threadsafe(add(2, 3), loop)
        assert fut.result(timeout=5) == 5
    finally:
        loop.call_soon_threadsafe(loop.stop)
        t.join()


def test_debug_mode_checks_thread(loop):
    loop.set_debug(True)
    assert loop.get_debug()
    errors = []

    def other_thread():
        try:
            loop.call_soon(print)
        except RuntimeError as e:
            errors.append(str(e))
        loop.call_soon_threadsafe(loop.stop)

    def start_thread():
        threading.Thread(target=other_thread).start()

    loop.call_soon(start_thread)
    loop.call_later(10, loop.stop)
    loop.run_forever()
    assert errors and "Non-thread-safe operation" in errors[0]


def test_slow_callback_is_logged_in_debug_mode(loop, caplog):
    loop.set_debug(True)
    loop.slow_callback_duration = 0.01
    loop.call_soon(time.sleep, 0.02)
    loop.call_soon(loop.stop)
    with caplog.at_level("WARNING", logger="asyncio"):
        loop.run_forever()
    assert any("took" in r.getMessage() for r in caplog.records if r.name == "asyncio")


def test_signal_handler_runs_on_the_loop(loop):
    got = []

    def on_usr1(tag):
        got.append(tag)
        loop.stop()

    loop.add_signal_handler(signal.SIGUSR1, on_usr1, "usr1")
    loop.call_later(0.01, os.kill, os.getpid(), signal.SIGUSR1)
    loop.call_later(10, loop.stop)
    loop.run_forever()
    assert got == ["usr1"]
    assert loop.remove_signal_handler(signal.SIGUSR1) is True
    assert loop.remove_signal_handler(signal.SIGUSR1) is False
    with pytest.raises(TypeError):
        loop.add_signal_handler("x", print)
    with pytest.raises(ValueError):
        loop.add_signal_handler(100000, print)
    with pytest.raises(RuntimeError):
        loop.add_signal_handler(signal.SIGKILL, print)


def test_ctrl_c_interrupts_a_sleeping_loop(loop):
    # SIGINT's default handler raises KeyboardInterrupt out of run_forever.
    def send_sigint():
        time.sleep(0.05)
        os.kill(os.getpid(), signal.SIGINT)

    loop.call_later(30, loop.stop)
    t = threading.Thread(target=send_sigint)
    t.start()
    t0 = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        loop.run_forever()
    t.join()
    assert time.monotonic() - t0 < 5


@pytest.mark.parametrize("factory", sorted(LOOPS))
def test_runner_ctrl_c_cancels_the_main_task(factory):
    async def main(swallow):
        asyncio.get_running_loop().call_later(0.05, os.kill, os.getpid(), signal.SIGINT)
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            if swallow:
                return "cancelled"
            raise

    with asyncio.Runner(loop_factory=LOOPS[factory]) as runner:
        assert runner.run(main(True)) == "cancelled"
    with pytest.raises(KeyboardInterrupt):
        with asyncio.Runner(loop_factory=LOOPS[factory]) as runner:
            runner.run(main(False))


def test_executor_and_getaddrinfo(loop):
    async def main():
        r = await loop.run_in_executor(None, sum, [1, 2, 3])
        infos = await loop.getaddrinfo("127.0.0.1", 80, type=socket.SOCK_STREAM)
        await loop.shutdown_default_executor()
        return r, infos[0][4]

    assert loop.run_until_complete(main()) == (6, ("127.0.0.1", 80))


def test_shutdown_asyncgens_closes_open_generators(loop):
    closed = []

    async def agen():
        try:
            yield 1
            yield 2
        finally:
            closed.append(True)

    async def main():
        g = agen()
        assert await g.__anext__() == 1
        return g

    g = loop.run_until_complete(main())
    loop.run_until_complete(loop.shutdown_asyncgens())
    assert closed == [True]
    del g


def test_public_entry_points():
    async def main():
        return type(asyncio.get_running_loop())

    assert oxloop.run(main()) is oxloop.Loop
    with asyncio.Runner(loop_factory=oxloop.new_event_loop) as runner:
        assert runner.run(main()) is oxloop.Loop
    old = asyncio.get_event_loop_policy()
    try:
        oxloop.install()
        assert asyncio.run(main()) is oxloop.Loop
    finally:
        asyncio.set_event_loop_policy(old)


def test_close_drops_pending_work():
    lp = oxloop.new_event_loop()
    a, b = socket.socketpair()
    lp.call_soon(print)
    lp.call_later(10, print)
    lp.add_reader(a, print)
    assert lp._pending_counts() == (1, 1, 1)
    lp.close()
    assert lp._pending_counts() == (0, 0, 0)
    a.close()
    b.close()


def test_handle_pool_is_bounded_and_given_back_when_idle():
    lp = oxloop.new_event_loop()
    ran = []
    for _ in range(5000):
        lp.call_soon(ran.append, 1)
    lp.call_soon(lp.stop)
    lp.run_forever()
    # Unreferenced handles that ran are kept for reuse while the loop is busy...
    assert lp._pooled_handles() > 1024
    # ...and given back, down to an idle loop's share, after a poll that waited
    # and found nothing.
    lp.run_until_complete(asyncio.sleep(0.01))
    assert len(ran) == 5000
    assert lp._pooled_handles() <= 1024
    lp.close()
    assert lp._pooled_handles() == 0


def test_timer_heap_is_compacted_when_mostly_cancelled():
    lp = oxloop.new_event_loop()
    handles = [lp.call_later(100 + i, print) for i in range(1000)]
    for h in handles[:900]:
        h.cancel()
    lp.call_soon(lp.stop)
    lp.run_forever()
    assert lp._pending_counts()[1] == 100
    lp.close()


def test_handle_repr_matches_asyncio():
    def reprs(lp):
        h = lp.call_soon(print, 1)
        before = repr(h)
        h.cancel()
        t = lp.call_at(12.5, print)
        out = (before, repr(h), repr(t))
        t.cancel()
        lp.close()
        return out

    assert reprs(oxloop.new_event_loop()) == reprs(asyncio.new_event_loop())


@pytest.mark.parametrize("finish", ["run", "cancel"])
def test_handle_callback_cycles_are_collected(finish):
    """obj._timer = loop.call_later(..., obj.method) must not leak once the
    timer ran or was cancelled (oxloop's handles let go of their callback)."""
    import gc
    import weakref

    lp = oxloop.new_event_loop()

    class Owner:
        def __init__(self):
            self.timer = lp.call_later(0, self.fire)

        def fire(self):
            pass

    owner = Owner()
    ref = weakref.ref(owner)
    if finish == "cancel":
        owner.timer.cancel()
    lp.call_soon(lp.stop)
    lp.run_forever()
    del owner
    gc.collect()
    assert ref() is None
    lp.close()


def test_closing_loops_leaks_no_fds():
    def open_fds():
        return len(os.listdir("/proc/self/fd"))

    lp = oxloop.new_event_loop()
    lp.close()
    before = open_fds()
    for _ in range(200):
        lp = oxloop.new_event_loop()
        a, b = socket.socketpair()
        lp.add_reader(a, print)
        lp.call_later(10, print)
        lp.run_until_complete(asyncio.sleep(0))
        lp.close()
        a.close()
        b.close()
    assert open_fds() == before


def test_repeated_runs_do_not_grow_memory():
    import resource

    lp = oxloop.new_event_loop()

    async def burst():
        await asyncio.gather(*(asyncio.sleep(0) for _ in range(2000)))
        for _ in range(2000):
            lp.call_soon(len, "x")
        await asyncio.sleep(0)

    for _ in range(5):
        lp.run_until_complete(burst())
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for _ in range(50):
        lp.run_until_complete(burst())
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    lp.close()
    # ru_maxrss is in KiB; 50 bursts of 4000 callbacks must not keep memory.
    assert rss_after - rss_before < 20_000


def test_recycled_handles_behave_like_new_ones():
    """Handles the loop reuses must not carry state from their last life."""
    lp = oxloop.new_event_loop()
    var = contextvars.ContextVar("var", default="unset")
    seen = []

    def first():
        var.set("first")
        seen.append("first")

    for _ in range(3):
        lp.call_soon(first)
    lp.call_soon(lp.stop)
    lp.run_forever()
    # The next handles may be the recycled ones: fresh context, not cancelled.
    hs = [lp.call_soon(lambda: seen.append(var.get())) for _ in range(3)]
    assert not any(h.cancelled() for h in hs)
    hs[1].cancel()
    kept = lp.call_soon(seen.append, "kept")
    lp.call_soon(lp.stop)
    lp.run_forever()
    assert seen == ["first"] * 3 + ["unset", "unset", "kept"]
    assert repr(kept).startswith("<Handle")
    lp.close()


def test_handles_take_weak_references(loop):
    """asyncio's handles support weak references (WeakValueDictionary of
    timers is a common pattern); a weak reference to a handle that ran and
    was released dies, and the loop never hands that object out again."""
    import weakref

    table = weakref.WeakValueDictionary()
    ran = []
    table["soon"] = loop.call_soon(ran.append, 1)
    table["later"] = loop.call_later(0.001, ran.append, 2)
    ref = weakref.ref(loop.call_soon(ran.append, 3))
    assert sorted(table) == ["later", "soon"]
    loop.run_until_complete(asyncio.sleep(0.01))
    assert ran == [1, 3, 2]
    assert ref() is None
    assert len(table) == 0
    # New handles (possibly recycled ones) are not the dead ones come back.
    later = [loop.call_soon(ran.append, n) for n in range(100)]
    loop.run_until_complete(asyncio.sleep(0))
    assert ref() is None
    assert len(later) == 100


def test_closed_attribute_follows_close(loop):
    """`loop._closed` exists on asyncio's and uvloop's loops; code reads it."""
    assert loop._closed is False
    loop.close()
    assert loop._closed is True


def test_set_default_executor_refuses_other_executors_like_asyncio(loop):
    import concurrent.futures

    with pytest.raises(TypeError, match="^executor must be ThreadPoolExecutor instance$"):
        loop.set_default_executor(concurrent.futures.ProcessPoolExecutor(1))
