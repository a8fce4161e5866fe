"""Echo server for the networking benchmarks, on one event loop in one API style.

    python benches/net/echo_server.py --loop uvloop --style protocol --port 0

Listens on 127.0.0.1 only. Prints "ready PORT VERSION" on stdout once listening (port 0 picks
a free port), then serves until killed or until --timeout seconds pass. Any failure to start is
printed on stderr and the exit status is 2.

Styles: `protocol` (asyncio.Protocol, data_received -> transport.write), `buffered`
(asyncio.BufferedProtocol over one 64 KiB buffer per connection), `streams` (start_server,
reader.read / writer.write / await writer.drain()), `udp` (DatagramProtocol, sendto back).
"""

import argparse
import asyncio
import importlib
import importlib.metadata
import platform
import resource
import sys
import traceback

LOOPS = ("oxloop", "asyncio", "uvloop", "rloop")
STYLES = ("protocol", "buffered", "streams", "udp")
HOST = "127.0.0.1"
BACKLOG = 1024
READ_SIZE = 65536


class EchoProtocol(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        self.transport.write(data)

    def connection_lost(self, exc):
        self.transport = None


class EchoBufferedProtocol(asyncio.BufferedProtocol):
    def connection_made(self, transport):
        self.transport = transport
        self.buffer = bytearray(READ_SIZE)
        self.view = memoryview(self.buffer)

    def get_buffer(self, sizehint):
        return self.view

    def buffer_updated(self, nbytes):
        # A copy: the buffer is reused for the next read while the transport may keep the data.
        self.transport.write(self.buffer[:nbytes])

    def connection_lost(self, exc):
        self.transport = None


class EchoDatagramProtocol(asyncio.DatagramProtocol):
    def connection_made(self, transport):
        self.transport = transport

    def datagram_received(self, data, addr):
        self.transport.sendto(data, addr)


async def echo_stream(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            data = await reader.read(READ_SIZE)
            if not data:
                break
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()


def new_loop(name: str) -> asyncio.AbstractEventLoop:
    if name == "asyncio":
        return asyncio.new_event_loop()
    return importlib.import_module(name).new_event_loop()


def loop_version(name: str) -> str:
    if name == "asyncio":
        return f"stdlib-{platform.python_version()}"
    found = getattr(sys.modules.get(name), "__version__", None)
    if found is None:
        try:
            found = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            found = "unknown"
    return str(found).replace(" ", "_")


def raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


async def start(loop: asyncio.AbstractEventLoop, style: str, port: int) -> int:
    """Start listening; return the bound port."""
    if style == "udp":
        transport, _ = await loop.create_datagram_endpoint(
            EchoDatagramProtocol, local_addr=(HOST, port)
        )
        return transport.get_extra_info("sockname")[1]
    if style == "streams":
        server = await asyncio.start_server(echo_stream, HOST, port, backlog=BACKLOG)
    else:
        factory = EchoProtocol if style == "protocol" else EchoBufferedProtocol
        server = await loop.create_server(factory, HOST, port, backlog=BACKLOG)
    return server.sockets[0].getsockname()[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--loop", choices=LOOPS, required=True)
    parser.add_argument("--style", choices=STYLES, required=True)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=3600.0, help="exit after this many s")
    args = parser.parse_args()
    raise_fd_limit()
    try:
        loop = new_loop(args.loop)
        asyncio.set_event_loop(loop)
        port = loop.run_until_complete(start(loop, args.style, args.port))
    except BaseException as exc:  # noqa: BLE001 - reported to the harness as the cell's reason
        traceback.print_exc()
        where = traceback.extract_tb(exc.__traceback__)[-1].name if exc.__traceback__ else "?"
        detail = f": {exc}" if str(exc) else ""
        print(f"error: {type(exc).__name__} in {where}(){detail}", file=sys.stderr, flush=True)
        return 2
    loop.call_later(args.timeout, loop.stop)
    print(f"ready {port} {loop_version(args.loop)}", flush=True)
    try:
        loop.run_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
