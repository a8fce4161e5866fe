"""The loop methods that asyncio's C Future and Task and the streams call
for every message: `create_future`, `create_task`, `get_debug`, `call_soon`
and `transport.is_closing`.

oxloop implements them as raw C methods with fast paths (a future or task
made without a keyword dict when the loop is the running one, `call_soon`
bound once per run). Whatever path is taken, the result must be what the
slow path and stdlib asyncio give.
"""

from __future__ import annotations

import asyncio
import contextvars

import oxloop
import pytest

LOOPS = {"oxloop": oxloop.new_event_loop, "asyncio": asyncio.new_event_loop}


@pytest.fixture(params=sorted(LOOPS))
def loop(request):
    lp = LOOPS[request.param]()
    yield lp
    if not lp.is_closed():
        lp.close()


def test_create_future_is_bound_to_the_loop_running_or_not(loop):
    idle = loop.create_future()
    assert type(idle) is asyncio.Future and idle.get_loop() is loop

    async def main():
        fut = loop.create_future()
        assert type(fut) is asyncio.Future and fut.get_loop() is loop
        assert not fut.done() and fut._source_traceback is None
        loop.call_soon(fut.set_result, 5)
        return await fut

    assert loop.run_until_complete(main()) == 5
    loop.call_soon(idle.set_result, 6)
    assert loop.run_until_complete(idle) == 6


def test_create_future_of_a_loop_other_than_the_running_one():
    running, other = oxloop.new_event_loop(), oxloop.new_event_loop()

    async def main():
        fut = other.create_future()
        return fut.get_loop()

    try:
        assert running.run_until_complete(main()) is other
    finally:
        running.close()
        other.close()


def test_create_future_in_debug_mode_records_where(loop):
    loop.set_debug(True)

    async def main():
        return loop.create_future()._source_traceback

    tb = loop.run_until_complete(main())
    assert tb and any(frame.name == "main" for frame in tb)


def test_create_task_is_bound_and_named_as_asked(loop):
    async def child(n):
        return n

    async def main():
        plain = loop.create_task(child(1))
        assert type(plain) is asyncio.Task and plain.get_loop() is loop
        assert plain.get_name().startswith("Task-")
        named = loop.create_task(child(2), name="named")
        assert named.get_name() == "named"
        var = contextvars.ContextVar("var", default="unset")
        ctx = contextvars.copy_context()
        ctx.run(var.set, "in ctx")

        async def reads_var():
            return var.get()

        in_ctx = loop.create_task(reads_var(), context=ctx)
        return await plain + await named, await in_ctx

    assert loop.run_until_complete(main()) == (3, "in ctx")
    idle = loop.create_task(child(4))
    assert idle.get_loop() is loop
    assert loop.run_until_complete(idle) == 4


def test_get_debug_is_a_bool_and_takes_no_arguments(loop):
    assert loop.get_debug() is False
    loop.set_debug(True)
    assert loop.get_debug() is True
    assert type(loop).get_debug(loop) is True
    with pytest.raises(TypeError):
        loop.get_debug(1)


def test_transport_is_closing(loop):
    async def main():
        server = await loop.create_server(asyncio.Protocol, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        tr, _ = await loop.create_connection(asyncio.Protocol, "127.0.0.1", port)
        before = tr.is_closing()
        tr.close()
        after = tr.is_closing()
        with pytest.raises(TypeError):
            tr.is_closing(1)
        server.close()
        await server.wait_closed()
        return before, after

    assert loop.run_until_complete(main()) == (False, True)


def test_call_soon_is_one_bound_method_while_the_loop_runs():
    lp = oxloop.new_event_loop()
    try:
        assert lp.call_soon is not lp.call_soon
        seen = []

        async def main():
            seen.append(lp.call_soon is lp.call_soon)
            seen.append(lp.call_soon.__self__ is lp)

        lp.run_until_complete(main())
        assert seen == [True, True]
        assert lp.call_soon is not lp.call_soon
    finally:
        lp.close()


def test_a_call_soon_set_on_the_loop_is_kept_and_used():
    lp = oxloop.new_event_loop()
    original = lp.call_soon
    scheduled = []

    def spy(callback, *args, **kwargs):
        scheduled.append(callback)
        return original(callback, *args, **kwargs)

    lp.call_soon = spy

    async def main():
        fut = lp.create_future()
        fut.add_done_callback(lambda f: None)
        fut.set_result(None)
        await asyncio.sleep(0)

    try:
        lp.run_until_complete(main())
        assert lp.call_soon is spy
        assert scheduled  # the C Future scheduled its callbacks through the spy
    finally:
        lp.close()


def test_a_subclass_call_soon_is_used():
    class Counting(oxloop.Loop):
        calls = 0

        def call_soon(self, *args, **kwargs):
            type(self).calls += 1
            return super().call_soon(*args, **kwargs)

    lp = Counting()

    async def main():
        await asyncio.sleep(0)

    try:
        lp.run_until_complete(main())
        assert Counting.calls > 0
    finally:
        lp.close()


def test_a_failing_call_soon_check_leaves_no_running_loop():
    class Odd:
        def __eq__(self, other):
            raise ValueError("no comparing")

        __ne__ = __eq__
        __hash__ = None

    lp = oxloop.new_event_loop()
    lp.call_soon = Odd()
    try:
        with pytest.raises(ValueError):
            lp.run_forever()
        assert asyncio._get_running_loop() is None
        assert not lp.is_running()
    finally:
        lp.close()


def test_transport_subclasses_have_their_own_checked_methods():
    # The transports the loop makes are Python subclasses (for a __dict__)
    # with method descriptors of their own: they still refuse other receivers,
    # and the installer refuses classes that are not transports.
    from oxloop import _core, _patchable

    for cls, base in (
        (_patchable.SocketTransport, _core.SocketTransport),
        (_patchable.DatagramTransport, _core.DatagramTransport),
    ):
        assert issubclass(cls, base)
        assert "get_extra_info" in vars(cls)
        with pytest.raises(TypeError):
            vars(cls)["get_extra_info"](object(), "socket")
    with pytest.raises(TypeError):
        _patchable.SocketTransport.write(object(), b"x")
    with pytest.raises(TypeError):
        _core._install_subclass_methods(int)
    # The Rust classes themselves are left as they are.
    _core._install_subclass_methods(_core.SocketTransport)
