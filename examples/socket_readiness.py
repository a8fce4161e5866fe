"""How a coroutine waits for I/O: readiness callbacks resolving futures.

1. The hand-made version of what asyncio does inside: try a non-blocking
   ``recv``; if it would block, register the socket with ``loop.add_reader``,
   await a future, and let the reader callback resolve that future once the
   selector reports the socket readable (then ``remove_reader``).
2. The same through the loop's own helpers ``sock_sendall``/``sock_recv``.

Everything runs over a local ``socket.socketpair()``.
"""

import asyncio
import socket


def on_readable(loop: asyncio.AbstractEventLoop, fd: int, ready: asyncio.Future) -> None:
    """Reader callback: runs in the loop once the selector reports ``fd`` readable."""
    loop.remove_reader(fd)
    if not ready.done():
        ready.set_result(None)


async def read_when_ready(sock: socket.socket, n: int) -> bytes:
    loop = asyncio.get_running_loop()
    while True:
        try:
            return sock.recv(n)
        except BlockingIOError:
            print("  recv would block: registering the socket with add_reader")
        ready = loop.create_future()
        loop.add_reader(sock.fileno(), on_readable, loop, sock.fileno(), ready)
        await ready
        print("  selector says readable: the reader callback resolved the future")


async def hand_made(left: socket.socket, right: socket.socket) -> None:
    print("1. add_reader + future")
    loop = asyncio.get_running_loop()
    loop.call_later(0.02, right.send, b"hello")
    data = await read_when_ready(left, 1024)
    print(f"  got {data!r}")


async def loop_helpers(left: socket.socket, right: socket.socket) -> None:
    print("2. sock_sendall / sock_recv")
    loop = asyncio.get_running_loop()

    async def echo_once() -> None:
        request = await loop.sock_recv(right, 1024)
        await loop.sock_sendall(right, request.upper())

    server = asyncio.create_task(echo_once())
    await loop.sock_sendall(left, b"ping over the socketpair")
    reply = await loop.sock_recv(left, 1024)
    await server
    print(f"  echoed back: {reply!r}")


async def main() -> None:
    left, right = socket.socketpair()
    left.setblocking(False)
    right.setblocking(False)
    try:
        await hand_made(left, right)
        await loop_helpers(left, right)
    finally:
        left.close()
        right.close()


if __name__ == "__main__":
    asyncio.run(main())
