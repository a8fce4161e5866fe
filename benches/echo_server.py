"""One echo server for the network benchmarks (run by echo_bench.py, one per process).

    python benches/echo_server.py LOOP STYLE PORT

LOOP is a name of loops.py (oxloop, asyncio, uvloop, rloop); STYLE is `protocol`,
`buffered` (BufferedProtocol), `streams` (asyncio.start_server) or `udp`. Prints
`ready` once listening and serves until stdin is closed.
"""

import asyncio
import os
import resource
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from loops import new_loop  # noqa: E402


class EchoProtocol(asyncio.Protocol):
    def connection_made(self, transport):
        self.write = transport.write

    def data_received(self, data):
        self.write(data)


class EchoBuffered(asyncio.BufferedProtocol):
    def __init__(self):
        self.buf = bytearray(128 * 1024)
        self.view = memoryview(self.buf)

    def connection_made(self, transport):
        self.write = transport.write

    def get_buffer(self, sizehint):
        return self.view

    def buffer_updated(self, nbytes):
        self.write(self.view[:nbytes])


class EchoDatagram(asyncio.DatagramProtocol):
    def connection_made(self, transport):
        self.sendto = transport.sendto

    def datagram_received(self, data, addr):
        self.sendto(data, addr)


async def echo_stream(reader, writer):
    try:
        while data := await reader.read(128 * 1024):
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass
    writer.close()


async def main(style, port):
    loop = asyncio.get_running_loop()
    if style == "protocol":
        server = await loop.create_server(EchoProtocol, "127.0.0.1", port)
    elif style == "buffered":
        server = await loop.create_server(EchoBuffered, "127.0.0.1", port)
    elif style == "streams":
        server = await asyncio.start_server(echo_stream, "127.0.0.1", port)
    elif style == "udp":
        transport, _ = await loop.create_datagram_endpoint(
            EchoDatagram, local_addr=("127.0.0.1", port)
        )
        server = None
    else:
        raise SystemExit(f"unknown style {style!r}")
    print("ready", flush=True)
    await loop.run_in_executor(None, sys.stdin.read)
    if server is not None:
        server.close()
    else:
        transport.close()


if __name__ == "__main__":
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    loop_name, style, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    loop = new_loop(loop_name)
    try:
        loop.run_until_complete(main(style, port))
    finally:
        loop.close()
