"""`Server.close_clients()` and `Server.abort_clients()` (asyncio 3.13), on oxloop and asyncio.

Closing a client connection flushes what the server wrote first; aborting drops it.
oxloop's Server has both methods on every version; stdlib asyncio's only from 3.13, so
the asyncio run of each scenario is skipped before 3.13.
"""

from __future__ import annotations

import asyncio
import sys

import oxloop
import pytest

LOOPS = {"oxloop": oxloop.new_event_loop, "asyncio": asyncio.new_event_loop}
PAYLOAD = b"x" * (8 * 1024 * 1024)  # more than the socket buffers hold


@pytest.fixture(params=sorted(LOOPS))
def loop_factory(request):
    if request.param == "asyncio" and sys.version_info < (3, 13):
        pytest.skip("asyncio.Server has close_clients/abort_clients from 3.13")
    return LOOPS[request.param]


async def serve_two_clients(server_writes):
    """A streams server with two connected clients; the server writes `server_writes`
    to each and leaves it in its buffers (the clients do not read yet)."""
    connected = []
    done = []

    async def handle(reader, writer):
        connected.append(writer)
        writer.write(server_writes)
        await reader.read()  # until the connection goes away
        done.append(writer)

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    clients = [await asyncio.open_connection("127.0.0.1", port) for _ in range(2)]
    while len(connected) < 2:
        await asyncio.sleep(0.01)
    return server, clients, connected, done


async def read_all(reader):
    data = bytearray()
    try:
        while chunk := await reader.read(1 << 20):
            data += chunk
    except ConnectionResetError:
        return bytes(data), "reset"
    return bytes(data), "eof"


def run(loop_factory, coro_fn):
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        return runner.run(asyncio.wait_for(coro_fn(), 30))


def test_close_clients_flushes_then_closes_every_connection(loop_factory):
    async def scenario():
        server, clients, connected, done = await serve_two_clients(PAYLOAD)
        server.close()
        server.close_clients()
        assert all(w.is_closing() for w in connected)
        results = [await read_all(reader) for reader, _ in clients]
        await server.wait_closed()
        for _, writer in clients:
            writer.close()
        return results, len(done), server.is_serving()

    results, handlers_done, serving = run(loop_factory, scenario)
    assert results == [(PAYLOAD, "eof")] * 2
    assert handlers_done == 2
    assert serving is False


def test_abort_clients_drops_what_was_not_sent(loop_factory):
    async def scenario():
        server, clients, connected, done = await serve_two_clients(PAYLOAD)
        server.close()
        server.abort_clients()
        results = [await read_all(reader) for reader, _ in clients]
        await server.wait_closed()
        for _, writer in clients:
            writer.close()
        return results, len(done)

    results, handlers_done = run(loop_factory, scenario)
    assert handlers_done == 2
    for data, _ in results:
        assert len(data) < len(PAYLOAD)


def test_wait_closed_waits_for_the_clients_until_they_are_closed(loop_factory):
    # 3.11's wait_closed() returns at once after close(); 3.12 waits for the clients.
    async def scenario():
        server, clients, _, _ = await serve_two_clients(b"hi")
        server.close()
        waiter = asyncio.ensure_future(server.wait_closed())
        await asyncio.sleep(0.05)
        pending_before = not waiter.done()
        server.close_clients()
        await asyncio.wait_for(waiter, 5)
        for _, writer in clients:
            writer.close()
        return pending_before

    assert run(loop_factory, scenario) is (sys.version_info >= (3, 12))
