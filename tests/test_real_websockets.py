"""The `websockets` library's asyncio server and client on oxloop and on asyncio.

Many messages each way, large and fragmented messages, ping/pong,
broadcast, the close codes of each side (normal, application-defined,
message too big, server going away). Same assertions on both loops (the
`real_loop` fixture).
"""

import asyncio
import hashlib

import pytest
from websockets.asyncio.client import connect
from websockets.asyncio.server import broadcast, serve
from websockets.exceptions import ConnectionClosedError, ConnectionClosedOK


async def echo_handler(ws):
    async for msg in ws:
        if msg == "close-4001":
            await ws.close(4001, "custom reason")
        elif isinstance(msg, bytes):
            await ws.send(hashlib.sha256(msg).digest())
        else:
            await ws.send(msg[::-1])


def url(server):
    host, port = server.sockets[0].getsockname()[:2]
    return f"ws://{host}:{port}"


def test_many_messages_large_and_fragmented(real_loop):
    async def main():
        async with serve(echo_handler, "127.0.0.1", 0, max_size=8 * 2**20) as server:
            async with connect(url(server), max_size=8 * 2**20) as ws:
                n = 2000

                async def sender():
                    for i in range(n):
                        await ws.send(f"message {i}")

                send = asyncio.ensure_future(sender())
                got = [await ws.recv() for _ in range(n)]
                await send
                assert got == [f"message {i}"[::-1] for i in range(n)]

                big = bytes(range(256)) * (4 * 4096)  # 4 MiB
                await ws.send(big)
                assert await ws.recv() == hashlib.sha256(big).digest()

                async def fragments():
                    for i in range(100):
                        yield b"%04d" % i

                await ws.send(fragments())
                whole = b"".join(b"%04d" % i for i in range(100))
                assert await ws.recv() == hashlib.sha256(whole).digest()

                latency = await (await ws.ping(b"p"))
                assert 0 <= latency < 5

    real_loop(main)


def test_close_codes(real_loop):
    async def main():
        handler_saw = []

        async def handler(ws):
            try:
                await echo_handler(ws)
            except ConnectionClosedError:
                pass  # the codes are checked below
            finally:
                handler_saw.append((ws.protocol.close_sent.code, ws.protocol.close_sent.reason))

        async with serve(handler, "127.0.0.1", 0, max_size=1024) as server:
            # The client closes normally: the handler's loop ends cleanly.
            async with connect(url(server)) as ws:
                await ws.send("abc")
                assert await ws.recv() == "cba"
            assert ws.close_code == 1000
            # The server closes with an application code.
            async with connect(url(server)) as ws:
                await ws.send("close-4001")
                with pytest.raises(ConnectionClosedError) as info:
                    await ws.recv()
                assert (info.value.rcvd.code, info.value.rcvd.reason) == (4001, "custom reason")
            # Too big for the server's max_size: 1009.
            async with connect(url(server)) as ws:
                await ws.send(b"x" * 2000)
                with pytest.raises(ConnectionClosedError) as info:
                    await ws.recv()
                assert info.value.rcvd.code == 1009
            # Closing the server tells open connections it is going away.
            ws = await connect(url(server))
            await ws.send("ok")
            assert await ws.recv() == "ko"
            server.close()
            with pytest.raises(ConnectionClosedOK) as info:
                await ws.recv()
            assert info.value.rcvd.code == 1001
            await server.wait_closed()
        # What each handler sent last (the order handlers finish in is not fixed).
        assert sorted(handler_saw) == [
            (1000, ""),
            (1001, ""),
            (1009, "frame exceeds limit of 1024 bytes"),
            (4001, "custom reason"),
        ]

    real_loop(main)


def test_broadcast_to_many_clients(real_loop):
    async def main():
        clients = set()
        ready = asyncio.Event()
        n_clients = 20

        async def handler(ws):
            clients.add(ws)
            if len(clients) == n_clients:
                ready.set()
            try:
                await ws.wait_closed()
            finally:
                clients.discard(ws)

        async with serve(handler, "127.0.0.1", 0) as server:
            conns = [await connect(url(server)) for _ in range(n_clients)]
            await ready.wait()
            for i in range(50):
                broadcast(clients, f"news {i}")
            for ws in conns:
                assert [await ws.recv() for _ in range(50)] == [f"news {i}" for i in range(50)]
            await asyncio.gather(*(ws.close() for ws in conns))
            assert {ws.close_code for ws in conns} == {1000}

    real_loop(main)
