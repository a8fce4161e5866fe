"""What create_connection leaves behind when it fails, on oxloop and on asyncio.

A socket that no transport took is closed, the caller's included (gh-153133, asyncio
3.14.x; oxloop on every version), and a failed happy-eyeballs attempt leaves its error
referenced only by the code that caught it (no reference cycle through the loop).
"""

from __future__ import annotations

import asyncio
import gc
import socket
import sys
import warnings

import oxloop
import pytest

LOOPS = {"oxloop": oxloop.new_event_loop, "asyncio": asyncio.new_event_loop}


@pytest.fixture(params=sorted(LOOPS))
def loop_factory(request):
    return LOOPS[request.param]


def run(loop_factory, coro_fn):
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        return runner.run(asyncio.wait_for(coro_fn(), 30))


def refused_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def failing_factory():
    raise ZeroDivisionError


def test_a_callers_socket_is_closed_when_the_protocol_factory_fails(loop_factory):
    if loop_factory is LOOPS["asyncio"] and sys.version_info < (3, 14):
        pytest.skip("asyncio closes the caller's socket from 3.14 (gh-153133)")

    async def scenario():
        server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
        sock = socket.create_connection(server.sockets[0].getsockname())
        try:
            await asyncio.get_running_loop().create_connection(failing_factory, sock=sock)
        except ZeroDivisionError:
            pass
        server.close()
        return sock.fileno()

    assert run(loop_factory, scenario) == -1


def test_an_internal_socket_is_closed_when_the_protocol_factory_fails(loop_factory):
    if loop_factory is LOOPS["asyncio"] and sys.version_info < (3, 14):
        pytest.skip("asyncio closes its own socket from 3.14 (gh-153133)")

    async def scenario():
        server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
        host, port = server.sockets[0].getsockname()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ResourceWarning)
            try:
                await asyncio.get_running_loop().create_connection(failing_factory, host, port)
            except ZeroDivisionError:
                pass
            gc.collect()
        server.close()
        return [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]

    assert run(loop_factory, scenario) == []


@pytest.mark.skipif(
    sys.version_info < (3, 14),
    reason="before 3.14 asyncio.staggered_race (which both loops use) keeps the error "
    "in a closure cell",
)
def test_a_happy_eyeballs_error_has_no_other_referrer(loop_factory):
    port = refused_port()
    referrers = []

    async def scenario():
        exc = None
        try:
            await asyncio.open_connection("localhost", port, happy_eyeballs_delay=0.25)
        except OSError as error:
            exc = error
        assert exc is not None
        referrers.extend(r for r in gc.get_referrers(exc) if r is not frame_holder)

    frame_holder = scenario()
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        runner.run(frame_holder)
    assert referrers == []
