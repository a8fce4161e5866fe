"""anyio on its asyncio backend, with oxloop's loop and with asyncio's.

`anyio.run(..., backend="asyncio", backend_options={"loop_factory": ...})`
is how an anyio application picks its loop. Task groups, cancel scopes,
memory object streams, worker threads (`to_thread`/`from_thread`) and TCP
listeners and connections, with the same assertions on both loops.
"""

import threading

import anyio
import pytest
from anyio.streams.buffered import BufferedByteReceiveStream


def run_anyio(real_loop, fn, *args):
    """anyio.run on a new loop of the `real_loop` fixture's kind. Errors that
    reach the loop's exception handler (a failing callback) fail the test."""
    errors = []

    async def main():
        loop = real_loop.check_running_loop()
        loop.set_exception_handler(lambda loop, context: errors.append(context))
        with anyio.fail_after(30):
            return await fn(*args)

    result = anyio.run(
        main, backend="asyncio", backend_options={"loop_factory": real_loop.factory}
    )
    assert errors == []
    return result


def test_task_groups(real_loop):
    async def main():
        results = {}

        async def work(i):
            await anyio.sleep(0.001 * (i % 5))
            results[i] = i * i

        async with anyio.create_task_group() as tg:
            for i in range(100):
                tg.start_soon(work, i)
        assert results == {i: i * i for i in range(100)}

        async def server(task_status=anyio.TASK_STATUS_IGNORED):
            task_status.started("ready")
            await anyio.sleep_forever()

        async with anyio.create_task_group() as tg:
            assert await tg.start(server) == "ready"
            tg.cancel_scope.cancel()

        # A failing child cancels its siblings; the error comes out in a group.
        cancelled = []

        async def sibling():
            try:
                await anyio.sleep_forever()
            except anyio.get_cancelled_exc_class():
                cancelled.append(True)
                raise

        async def fail():
            await anyio.sleep(0.01)
            raise ValueError("boom")

        with pytest.raises(ExceptionGroup) as info:
            async with anyio.create_task_group() as tg:
                tg.start_soon(sibling)
                tg.start_soon(sibling)
                tg.start_soon(fail)
        assert [type(e) for e in info.value.exceptions] == [ValueError]
        assert cancelled == [True, True]
        return "ok"

    assert run_anyio(real_loop, main) == "ok"


def test_cancel_scopes(real_loop):
    async def main():
        with anyio.move_on_after(0.05) as scope:
            await anyio.sleep_forever()
        assert scope.cancelled_caught

        with pytest.raises(TimeoutError):
            with anyio.fail_after(0.05):
                await anyio.sleep_forever()

        # A shielded scope finishes its work although the outer scope is cancelled.
        done = []
        with anyio.CancelScope() as outer:
            outer.cancel()
            with anyio.CancelScope(shield=True):
                await anyio.sleep(0.01)
                done.append("shielded")
            await anyio.sleep(1)  # cancelled at once
            done.append("not reached")
        assert done == ["shielded"]
        assert outer.cancelled_caught

        # Cancelling a scope from another task.
        started = anyio.Event()
        async with anyio.create_task_group() as tg:
            holder = {}

            async def waiter():
                with anyio.CancelScope() as s:
                    holder["scope"] = s
                    started.set()
                    await anyio.sleep_forever()
                holder["caught"] = s.cancelled_caught

            tg.start_soon(waiter)
            await started.wait()
            holder["scope"].cancel()
        assert holder["caught"] is True

        with anyio.CancelScope(deadline=anyio.current_time() + 10):
            assert 9 < anyio.current_effective_deadline() - anyio.current_time() <= 10

    run_anyio(real_loop, main)


def test_memory_object_streams(real_loop):
    async def main():
        send, receive = anyio.create_memory_object_stream[int](max_buffer_size=5)
        received = []

        async def producer(stream, base):
            async with stream:
                for i in range(200):
                    await stream.send(base + i)

        async def consumer(stream):
            async with stream:
                async for item in stream:
                    received.append(item)

        async with anyio.create_task_group() as tg:
            async with send, receive:
                for base in (0, 1000, 2000):
                    tg.start_soon(producer, send.clone(), base)
                for _ in range(4):
                    tg.start_soon(consumer, receive.clone())
        assert sorted(received) == [b + i for b in (0, 1000, 2000) for i in range(200)]

        send, receive = anyio.create_memory_object_stream[str](max_buffer_size=1)
        send.send_nowait("a")
        with pytest.raises(anyio.WouldBlock):
            send.send_nowait("b")
        assert receive.receive_nowait() == "a"
        await send.aclose()
        with pytest.raises(anyio.EndOfStream):
            await receive.receive()
        with pytest.raises(anyio.ClosedResourceError):
            await send.send("c")

    run_anyio(real_loop, main)


def test_worker_threads(real_loop):
    async def main():
        loop_thread = threading.get_ident()

        def blocking(x):
            return x * 2, threading.get_ident()

        results = [await anyio.to_thread.run_sync(blocking, i) for i in range(20)]
        assert [r for r, _ in results] == [i * 2 for i in range(20)]
        assert all(t != loop_thread for _, t in results)

        # Many at once, bounded by a limiter.
        limiter = anyio.CapacityLimiter(3)
        active, peak, lock = [0], [0], threading.Lock()
        gate = threading.Event()

        def limited(i):
            with lock:
                active[0] += 1
                peak[0] = max(peak[0], active[0])
                if active[0] == 3:
                    gate.set()
            gate.wait(5)
            with lock:
                active[0] -= 1
            return i

        out = []

        async def one(i):
            out.append(await anyio.to_thread.run_sync(limited, i, limiter=limiter))

        async with anyio.create_task_group() as tg:
            for i in range(12):
                tg.start_soon(one, i)
        assert sorted(out) == list(range(12))
        assert peak[0] == 3

        # From a worker thread back into the loop.
        async def in_loop(x):
            await anyio.sleep(0)
            return x + 1, threading.get_ident()

        def calls_back():
            return anyio.from_thread.run(in_loop, 41), anyio.from_thread.run_sync(lambda: "sync")

        (value, thread), sync = await anyio.to_thread.run_sync(calls_back)
        assert (value, thread, sync) == (42, loop_thread, "sync")

        def raises():
            raise KeyError("in thread")

        with pytest.raises(KeyError, match="in thread"):
            await anyio.to_thread.run_sync(raises)

    run_anyio(real_loop, main)


def test_tcp_listener_and_connections(real_loop):
    async def main():
        async def handle(client):
            async with client:
                buffered = BufferedByteReceiveStream(client)
                name = await buffered.receive_until(b"\n", 100)
                size = int(await buffered.receive_until(b"\n", 100))
                data = await buffered.receive_exactly(size)
                await client.send(b"hello " + name + b" %d\n" % len(data))
                await client.send(data[::-1])
                await client.send_eof()

        listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
        port = listener.extra(anyio.abc.SocketAttribute.local_port)
        async with anyio.create_task_group() as tg:
            tg.start_soon(listener.serve, handle)

            async def client(i):
                payload = bytes([i]) * (i * 100_000 + 1)
                async with await anyio.connect_tcp("127.0.0.1", port) as stream:
                    assert stream.extra(anyio.abc.SocketAttribute.remote_port) == port
                    await stream.send(b"c%d\n%d\n" % (i, len(payload)) + payload)
                    chunks = []
                    try:
                        while True:
                            chunks.append(await stream.receive())
                    except anyio.EndOfStream:
                        pass
                reply = b"".join(chunks)
                head, _, body = reply.partition(b"\n")
                assert head == b"hello c%d %d" % (i, len(payload))
                assert body == payload[::-1]

            async with anyio.create_task_group() as clients:
                for i in range(10):
                    clients.start_soon(client, i)
            tg.cancel_scope.cancel()
        await listener.aclose()

        with pytest.raises(OSError):
            await anyio.connect_tcp("127.0.0.1", port)

    run_anyio(real_loop, main)


def test_unix_streams_and_closing_a_blocked_socket(real_loop, tmp_path):
    # anyio's UNIX sockets wait with loop.add_reader/add_writer on the raw
    # socket and remove the reader in a done callback, after aclose() may
    # have closed the socket already (oxloop raised ValueError there).
    async def main():
        path = tmp_path / "anyio.sock"
        listener = await anyio.create_unix_listener(path)

        async def handle(stream):
            async with stream:
                async for data in stream:
                    await stream.send(data.upper())

        async with anyio.create_task_group() as tg:
            tg.start_soon(listener.serve, handle)
            async with await anyio.connect_unix(path) as stream:
                for i in range(50):
                    await stream.send(b"msg %d" % i)
                    assert await stream.receive() == b"MSG %d" % i

            outcomes = []

            async def blocked_receiver(stream, started):
                started.set()
                try:
                    await stream.receive()
                except anyio.ClosedResourceError:
                    outcomes.append("closed")

            for _ in range(3):
                stream = await anyio.connect_unix(path)
                started = anyio.Event()
                async with anyio.create_task_group() as inner:
                    inner.start_soon(blocked_receiver, stream, started)
                    await started.wait()
                    await anyio.wait_all_tasks_blocked()
                    await stream.aclose()
            assert outcomes == ["closed"] * 3

            # The same for a UNIX datagram socket.
            udp = await anyio.create_unix_datagram_socket(local_path=tmp_path / "dgram.sock")
            started = anyio.Event()
            async with anyio.create_task_group() as inner:
                inner.start_soon(blocked_receiver, udp, started)
                await started.wait()
                await anyio.wait_all_tasks_blocked()
                await udp.aclose()
            assert outcomes == ["closed"] * 4
            tg.cancel_scope.cancel()
        await listener.aclose()

    run_anyio(real_loop, main)
