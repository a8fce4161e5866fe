"""The loop's low-level socket coroutines (sock_recv, sock_sendall, ...).

Every scenario runs on an oxloop loop and on a stdlib asyncio loop, with the
same assertions: both must behave alike. After each operation, finished,
failed or cancelled, no reader or writer may stay registered.
"""

import array
import asyncio
import errno
import io
import os
import socket
import ssl

import oxloop
import pytest

LOOPS = {"oxloop": oxloop.new_event_loop, "asyncio": asyncio.new_event_loop}
TIMEOUT = 30.0
BIG = 8 * 1024 * 1024  # more than any socket buffer: sendall must wait for the writer


@pytest.fixture(params=list(LOOPS))
def loop(request):
    lp = LOOPS[request.param]()
    yield lp
    if not lp.is_closed():
        lp.run_until_complete(lp.shutdown_default_executor())
        lp.close()


def run(loop, coro):
    return loop.run_until_complete(asyncio.wait_for(coro, TIMEOUT))


def watched(loop):
    """Number of fds with a reader or writer (the stdlib loop's self-pipe not counted)."""
    if isinstance(loop, oxloop.Loop):
        return loop._pending_counts()[2]
    own = loop._ssock.fileno()
    return sum(1 for key in loop._selector.get_map().values() if key.fd != own)


def pair():
    a, b = socket.socketpair()
    a.setblocking(False)
    b.setblocking(False)
    return a, b


def listener(family=socket.AF_INET, host="127.0.0.1"):
    srv = socket.socket(family, socket.SOCK_STREAM)
    srv.setblocking(False)
    srv.bind((host, 0))
    srv.listen(8)
    return srv


def unused_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def recv_all(loop, sock, n=65536):
    chunks = []
    while True:
        data = await loop.sock_recv(sock, n)
        if not data:
            return b"".join(chunks)
        chunks.append(data)


# -- stream sockets -----------------------------------------------------------------------


def test_socketpair_echo(loop):
    async def main():
        a, b = pair()
        with a, b:
            await loop.sock_sendall(a, b"ping")
            assert await loop.sock_recv(b, 100) == b"ping"
            # Pending path: nothing to read yet, a reader waits for the data.
            task = asyncio.create_task(loop.sock_recv(a, 100))
            await asyncio.sleep(0)
            assert not task.done()
            assert watched(loop) == 1
            await loop.sock_sendall(b, b"pong")
            assert await task == b"pong"
            assert watched(loop) == 0
            a.shutdown(socket.SHUT_WR)
            assert await loop.sock_recv(b, 100) == b""
        assert watched(loop) == 0

    run(loop, main())


@pytest.mark.parametrize("family", ["ipv4", "ipv6"])
def test_tcp_echo(loop, family):
    if family == "ipv6":
        try:
            srv = listener(socket.AF_INET6, "::1")
        except OSError:
            pytest.skip("no IPv6 loopback")
    else:
        srv = listener()

    async def main():
        with srv:
            addr = srv.getsockname()
            accepted = asyncio.create_task(loop.sock_accept(srv))
            await asyncio.sleep(0)
            assert not accepted.done()
            with socket.socket(srv.family) as client:
                client.setblocking(False)
                assert await loop.sock_connect(client, addr[:2]) is None
                conn, peer = await accepted
                with conn:
                    assert conn.gettimeout() == 0
                    assert peer == client.getsockname()
                    assert client.getpeername() == addr
                    await loop.sock_sendall(client, b"hello over tcp")
                    data = await loop.sock_recv(conn, 1024)
                    await loop.sock_sendall(conn, data.upper())
                    assert await loop.sock_recv(client, 1024) == b"HELLO OVER TCP"
        assert watched(loop) == 0

    run(loop, main())


def test_big_sendall_with_concurrent_reader(loop):
    payload = os.urandom(1024) * (BIG // 1024)

    async def main():
        a, b = pair()
        with a, b:
            sender = asyncio.create_task(loop.sock_sendall(a, payload))
            await asyncio.sleep(0)
            # The kernel cannot take 8 MB at once: sendall waits on a writer.
            assert not sender.done()
            assert watched(loop) == 1
            reader = asyncio.create_task(recv_all(loop, b))
            assert await sender is None
            a.shutdown(socket.SHUT_WR)
            assert await reader == payload
        assert watched(loop) == 0

    run(loop, main())


def test_sendall_releases_buffer(loop):
    async def main():
        a, b = pair()
        with a, b:
            data = bytearray(BIG)
            reader = asyncio.create_task(recv_all(loop, b))
            await loop.sock_sendall(a, data)
            # No memoryview of the bytearray may survive: resizing it must work.
            data.clear()
            a.shutdown(socket.SHUT_WR)
            assert len(await reader) == BIG

    run(loop, main())


def test_sendall_memoryview(loop):
    async def main():
        a, b = pair()
        with a, b:
            data = memoryview(b"0123456789" * (BIG // 10))[5:]
            reader = asyncio.create_task(recv_all(loop, b))
            await loop.sock_sendall(a, data)
            a.shutdown(socket.SHUT_WR)
            assert await reader == bytes(data)

    run(loop, main())


def test_sendall_empty(loop):
    async def main():
        a, b = pair()
        with a, b:
            assert await loop.sock_sendall(a, b"") is None
            assert watched(loop) == 0

    run(loop, main())


def test_sendall_non_byte_items_oxloop():
    # oxloop only: asyncio compares bytes sent with len(data) (items, not bytes),
    # so with an array('i') bigger than the socket buffer it never finishes.
    loop = oxloop.new_event_loop()
    try:

        async def main():
            a, b = pair()
            with a, b:
                data = array.array("i", range(BIG // 4))
                reader = asyncio.create_task(recv_all(loop, b))
                await loop.sock_sendall(a, data)
                a.shutdown(socket.SHUT_WR)
                assert await reader == data.tobytes()
            assert watched(loop) == 0

        run(loop, main())
    finally:
        loop.close()


def test_sendall_peer_closed(loop):
    async def main():
        a, b = pair()
        with a:
            sender = asyncio.create_task(loop.sock_sendall(a, bytes(BIG)))
            await asyncio.sleep(0)
            assert not sender.done()
            b.close()
            with pytest.raises((BrokenPipeError, ConnectionResetError)):
                await sender
        assert watched(loop) == 0

    run(loop, main())


def test_recv_connection_reset(loop):
    async def main():
        with listener() as srv:
            client = socket.socket()
            client.setblocking(False)
            with client:
                await loop.sock_connect(client, srv.getsockname())
                conn, _ = await loop.sock_accept(srv)
                task = asyncio.create_task(loop.sock_recv(client, 100))
                await asyncio.sleep(0)
                # Close with SO_LINGER 0: the peer sends RST.
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\0\0\0\0\0\0\0")
                conn.close()
                with pytest.raises(ConnectionResetError):
                    await task
        assert watched(loop) == 0

    run(loop, main())


def test_recv_into(loop):
    async def main():
        a, b = pair()
        with a, b:
            await loop.sock_sendall(a, b"abcdef")
            buf = bytearray(10)
            assert await loop.sock_recv_into(b, buf) == 6
            assert buf == b"abcdef\0\0\0\0"
            # Pending path, into a slice of a memoryview.
            view = memoryview(buf)
            task = asyncio.create_task(loop.sock_recv_into(b, view[6:]))
            await asyncio.sleep(0)
            assert not task.done()
            await loop.sock_sendall(a, b"ghijkl")
            assert await task == 4
            view.release()
            assert buf == b"abcdefghij"
            assert await loop.sock_recv_into(b, buf) == 2
            assert buf[:2] == b"kl"
        assert watched(loop) == 0

    run(loop, main())


# -- datagrams ----------------------------------------------------------------------------


def udp():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setblocking(False)
    s.bind(("127.0.0.1", 0))
    return s


def test_udp_sendto_recvfrom(loop):
    async def main():
        with udp() as a, udp() as b:
            task = asyncio.create_task(loop.sock_recvfrom(b, 4096))
            await asyncio.sleep(0)
            assert not task.done()
            assert await loop.sock_sendto(a, b"x" * 3000, b.getsockname()) == 3000
            assert await task == (b"x" * 3000, a.getsockname())
            # Ready path; a datagram longer than bufsize is truncated.
            await loop.sock_sendto(a, b"0123456789", b.getsockname())
            await asyncio.sleep(0.01)
            assert await loop.sock_recvfrom(b, 4) == (b"0123", a.getsockname())
        assert watched(loop) == 0

    run(loop, main())


def test_udp_recvfrom_into(loop):
    async def main():
        with udp() as a, udp() as b:
            buf = bytearray(8)
            task = asyncio.create_task(loop.sock_recvfrom_into(b, buf))
            await asyncio.sleep(0)
            assert not task.done()
            await loop.sock_sendto(a, b"hello", b.getsockname())
            assert await task == (5, a.getsockname())
            assert buf == b"hello\0\0\0"
            await loop.sock_sendto(a, b"abcdef", b.getsockname())
            await asyncio.sleep(0.01)
            assert await loop.sock_recvfrom_into(b, buf, 3) == (3, a.getsockname())
            assert buf == b"abclo\0\0\0"
        assert watched(loop) == 0

    run(loop, main())


class _SendtoBlocksOnce:
    """A UDP socket whose first sendto() raises BlockingIOError (like CPython's test)."""

    def __init__(self, sock):
        self._sock = sock
        self.calls = 0
        self.family = sock.family
        self.type = sock.type
        self.proto = sock.proto
        self.fileno = sock.fileno
        self.gettimeout = sock.gettimeout

    def sendto(self, *args):
        self.calls += 1
        if self.calls == 1:
            raise BlockingIOError
        return self._sock.sendto(*args)


def test_udp_sendto_waits_for_writer(loop):
    async def main():
        with udp() as a, udp() as b:
            wrapped = _SendtoBlocksOnce(a)
            assert await loop.sock_sendto(wrapped, b"data", b.getsockname()) == 4
            assert wrapped.calls == 2
            assert await loop.sock_recvfrom(b, 100) == (b"data", a.getsockname())
        assert watched(loop) == 0

    run(loop, main())


# -- connect and accept -------------------------------------------------------------------


def test_connect_refused(loop):
    port = unused_port()

    async def main():
        with socket.socket() as sock:
            sock.setblocking(False)
            with pytest.raises(ConnectionRefusedError) as info:
                await loop.sock_connect(sock, ("127.0.0.1", port))
            assert info.value.errno == errno.ECONNREFUSED
            assert info.value.strerror == f"Connect call failed ('127.0.0.1', {port})"
        assert watched(loop) == 0

    run(loop, main())


def test_connect_resolves_host_names(loop):
    calls = []
    getaddrinfo = loop.getaddrinfo

    async def recording_getaddrinfo(host, port, **kwargs):
        calls.append((host, port, kwargs))
        return await getaddrinfo(host, port, **kwargs)

    loop.getaddrinfo = recording_getaddrinfo

    async def main():
        with listener() as srv:
            port = srv.getsockname()[1]
            with socket.socket() as sock:
                sock.setblocking(False)
                await loop.sock_connect(sock, ("localhost", port))
                assert sock.getpeername() == ("127.0.0.1", port)
                conn, _ = await loop.sock_accept(srv)
                conn.close()
            assert calls == [
                (
                    "localhost",
                    port,
                    {
                        "family": socket.AF_INET,
                        "type": socket.SOCK_STREAM,
                        "proto": 0,
                        "flags": 0,
                    },
                )
            ]
            # A numeric address needs no lookup.
            with socket.socket() as sock:
                sock.setblocking(False)
                await loop.sock_connect(sock, ("127.0.0.1", str(port)))
                conn, _ = await loop.sock_accept(srv)
                conn.close()
            assert len(calls) == 1
        assert watched(loop) == 0

    try:
        run(loop, main())
    finally:
        del loop.getaddrinfo


def test_connect_unknown_host(loop):
    async def main():
        with socket.socket() as sock:
            sock.setblocking(False)
            with pytest.raises(socket.gaierror):
                await loop.sock_connect(sock, ("no-such-host.invalid", 80))

    run(loop, main())


def test_connect_unix(loop, tmp_path):
    path = str(tmp_path / "sock")

    async def main():
        with socket.socket(socket.AF_UNIX) as srv:
            srv.bind(path)
            srv.listen(1)
            srv.setblocking(False)
            with socket.socket(socket.AF_UNIX) as sock:
                sock.setblocking(False)
                await loop.sock_connect(sock, path)
                conn, _ = await loop.sock_accept(srv)
                with conn:
                    await loop.sock_sendall(sock, b"unix")
                    assert await loop.sock_recv(conn, 10) == b"unix"
            with socket.socket(socket.AF_UNIX) as sock:
                sock.setblocking(False)
                with pytest.raises(FileNotFoundError):
                    await loop.sock_connect(sock, path + "-missing")
        assert watched(loop) == 0

    run(loop, main())


def test_accept_ready(loop):
    async def main():
        with listener() as srv, socket.socket() as client:
            client.connect(srv.getsockname())
            conn, addr = await loop.sock_accept(srv)
            with conn:
                assert conn.gettimeout() == 0
                assert addr == client.getsockname()
        assert watched(loop) == 0

    run(loop, main())


def test_accept_timeout_then_refused(loop):
    async def main():
        srv = listener()
        addr = srv.getsockname()
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(loop.sock_accept(srv), 0.05)
        assert watched(loop) == 0
        srv.close()
        with socket.socket() as sock:
            sock.setblocking(False)
            with pytest.raises(ConnectionRefusedError):
                await loop.sock_connect(sock, addr)
        assert watched(loop) == 0

    run(loop, main())


# -- cancellation -------------------------------------------------------------------------


async def _pending(loop, op):
    """Start `op` so that it must wait; return (task, sockets to close)."""
    if op in ("recv", "recv_into"):
        a, b = pair()
        coro = loop.sock_recv(a, 10) if op == "recv" else loop.sock_recv_into(a, bytearray(10))
        return coro, [a, b]
    if op in ("recvfrom", "recvfrom_into"):
        s = udp()
        if op == "recvfrom":
            return loop.sock_recvfrom(s, 10), [s]
        return loop.sock_recvfrom_into(s, bytearray(10)), [s]
    if op == "accept":
        s = listener()
        return loop.sock_accept(s), [s]
    if op == "sendall":
        a, b = pair()
        return loop.sock_sendall(a, bytes(BIG)), [a, b]
    raise AssertionError(op)


@pytest.mark.parametrize(
    "op", ["recv", "recv_into", "recvfrom", "recvfrom_into", "accept", "sendall"]
)
def test_cancel_pending_leaves_nothing_registered(loop, op):
    async def main():
        coro, socks = await _pending(loop, op)
        try:
            task = asyncio.create_task(coro)
            await asyncio.sleep(0)
            assert not task.done()
            assert watched(loop) == 1
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert watched(loop) == 0
        finally:
            for s in socks:
                s.close()

    run(loop, main())


def test_cancelled_recv_loses_no_data(loop):
    async def main():
        a, b = pair()
        with a, b:
            task = asyncio.create_task(loop.sock_recv(b, 100))
            await asyncio.sleep(0)
            task.cancel()
            await loop.sock_sendall(a, b"after cancel")
            with pytest.raises(asyncio.CancelledError):
                await task
            assert await loop.sock_recv(b, 100) == b"after cancel"
        assert watched(loop) == 0

    run(loop, main())


def test_reader_installed_later_is_kept(loop):
    # A reader someone else installs on the fd replaces sock_recv's; when the
    # sock_recv is then cancelled, that other reader must stay.
    async def main():
        a, b = pair()
        with a, b:
            task = asyncio.create_task(loop.sock_recv(b, 100))
            await asyncio.sleep(0)
            readable = loop.create_future()
            loop.add_reader(b, lambda: readable.done() or readable.set_result(b.recv(100)))
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            await asyncio.sleep(0)
            assert watched(loop) == 1
            a.send(b"to the other reader")
            assert await readable == b"to the other reader"
            assert loop.remove_reader(b)
        assert watched(loop) == 0

    run(loop, main())


def test_cancel_pending_sendall_then_sendall_again(loop):
    # CPython's _basetest_sock_send_racing in short: a second sendall issued
    # right after cancelling a blocked one must not lose its writer.
    async def main():
        a, b = pair()
        with a, b:
            while True:
                try:
                    a.send(bytes(65536))
                except BlockingIOError:
                    break
            task = asyncio.create_task(loop.sock_sendall(a, b"hello"))
            await asyncio.sleep(0)
            task.cancel()
            reader = asyncio.create_task(recv_all(loop, b))
            await loop.sock_sendall(a, b"world")
            a.shutdown(socket.SHUT_WR)
            data = await reader
            assert data.rstrip(b"\0").endswith(b"world")
            assert task.cancelled()
        assert watched(loop) == 0

    run(loop, main())


# -- argument checks ----------------------------------------------------------------------

OPS = {
    "sock_recv": lambda lp, s: lp.sock_recv(s, 10),
    "sock_recv_into": lambda lp, s: lp.sock_recv_into(s, bytearray(10)),
    "sock_recvfrom": lambda lp, s: lp.sock_recvfrom(s, 10),
    "sock_recvfrom_into": lambda lp, s: lp.sock_recvfrom_into(s, bytearray(10)),
    "sock_sendall": lambda lp, s: lp.sock_sendall(s, b"x"),
    "sock_sendto": lambda lp, s: lp.sock_sendto(s, b"x", ("127.0.0.1", 9)),
    "sock_connect": lambda lp, s: lp.sock_connect(s, ("127.0.0.1", 9)),
    "sock_accept": lambda lp, s: lp.sock_accept(s),
    "sock_sendfile": lambda lp, s: lp.sock_sendfile(s, io.BytesIO(b"x")),
}


@pytest.mark.parametrize("name", list(OPS))
def test_debug_mode_rejects_blocking_socket(loop, name):
    loop.set_debug(True)
    with socket.socket() as sock:
        assert sock.gettimeout() is None
        with pytest.raises(ValueError, match="^the socket must be non-blocking$"):
            run(loop, OPS[name](loop, sock))
    assert watched(loop) == 0


@pytest.mark.parametrize("name", list(OPS))
def test_ssl_socket_rejected(loop, name):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    with ctx.wrap_socket(socket.socket(), server_hostname="example.com") as sock:
        sock.setblocking(False)
        with pytest.raises(TypeError, match="^Socket cannot be of type SSLSocket$"):
            run(loop, OPS[name](loop, sock))


def test_coroutines_check_when_awaited(loop):
    # Like asyncio's, the checks run when the coroutine runs, not when it is created.
    with socket.socket() as sock:
        loop.set_debug(True)
        coro = loop.sock_recv(sock, 10)
        with pytest.raises(ValueError):
            run(loop, coro)


# -- sendfile -----------------------------------------------------------------------------

FILE_DATA = bytes(range(256)) * 1500  # 375 KiB: more than one fallback chunk


@pytest.fixture
def data_file(tmp_path):
    path = tmp_path / "data.bin"
    path.write_bytes(FILE_DATA)
    with open(path, "rb") as f:
        yield f


async def _sendfile(loop, file, *args, **kwargs):
    """sock_sendfile over a TCP connection; return (result, bytes received)."""
    with listener() as srv, socket.socket() as sock:
        sock.setblocking(False)
        await loop.sock_connect(sock, srv.getsockname())
        conn, _ = await loop.sock_accept(srv)
        with conn:
            reader = asyncio.create_task(recv_all(loop, conn))
            try:
                ret = await loop.sock_sendfile(sock, file, *args, **kwargs)
            finally:
                sock.shutdown(socket.SHUT_WR)
                received = await reader
            return ret, received


def test_sendfile_whole_file(loop, data_file):
    ret, got = run(loop, _sendfile(loop, data_file))
    assert ret == len(FILE_DATA)
    assert got == FILE_DATA
    assert data_file.tell() == len(FILE_DATA)
    assert watched(loop) == 0


def test_sendfile_offset_and_count(loop, data_file):
    ret, got = run(loop, _sendfile(loop, data_file, 1000, 300_000))
    assert ret == 300_000
    assert got == FILE_DATA[1000:301_000]
    assert data_file.tell() == 301_000
    assert watched(loop) == 0


def test_sendfile_count_past_end(loop, data_file):
    ret, got = run(loop, _sendfile(loop, data_file, len(FILE_DATA) - 10, 100))
    assert ret == 10
    assert got == FILE_DATA[-10:]
    assert data_file.tell() == len(FILE_DATA)


def test_sendfile_empty_file(loop, tmp_path):
    path = tmp_path / "empty"
    path.write_bytes(b"")
    with open(path, "rb") as f:
        assert run(loop, _sendfile(loop, f)) == (0, b"")
        assert f.tell() == 0


def test_sendfile_fallback_for_non_regular_file(loop):
    f = io.BytesIO(FILE_DATA)
    ret, got = run(loop, _sendfile(loop, f, 10))
    assert ret == len(FILE_DATA) - 10
    assert got == FILE_DATA[10:]
    assert f.tell() == len(FILE_DATA)


def test_sendfile_no_fallback(loop):
    f = io.BytesIO(FILE_DATA)
    with pytest.raises(asyncio.SendfileNotAvailableError):
        run(loop, _sendfile(loop, f, fallback=False))
    assert f.tell() == 0


def test_sendfile_uses_os_sendfile(loop, data_file, monkeypatch):
    calls = []
    real = os.sendfile

    def counting(*args):
        calls.append(args)
        return real(*args)

    monkeypatch.setattr(os, "sendfile", counting)
    ret, got = run(loop, _sendfile(loop, data_file, 0, 200_000))
    assert (ret, got) == (200_000, FILE_DATA[:200_000])
    assert calls and calls[0][1:] == (data_file.fileno(), 0, 200_000)


def test_sendfile_falls_back_when_os_sendfile_fails(loop, data_file, monkeypatch):
    def failing(*args):
        raise OSError(errno.EINVAL, "not supported")

    monkeypatch.setattr(os, "sendfile", failing)
    ret, got = run(loop, _sendfile(loop, data_file, 5))
    assert (ret, got) == (len(FILE_DATA) - 5, FILE_DATA[5:])
    assert data_file.tell() == len(FILE_DATA)
    with pytest.raises(asyncio.SendfileNotAvailableError, match="os.sendfile call failed"):
        run(loop, _sendfile(loop, data_file, 0, fallback=False))
    assert watched(loop) == 0


def test_sendfile_error_after_partial_send(loop, data_file, monkeypatch):
    # Once some bytes went out, an os.sendfile error is raised, not a fallback.
    real = os.sendfile
    err = OSError(errno.EIO, "disk on fire")

    def fails_second_time(out_fd, in_fd, offset, count):
        if offset:
            raise err
        return real(out_fd, in_fd, offset, min(count, 1000))

    monkeypatch.setattr(os, "sendfile", fails_second_time)
    with pytest.raises(OSError) as info:
        run(loop, _sendfile(loop, data_file))
    assert info.value is err
    assert data_file.tell() == 1000
    assert watched(loop) == 0


@pytest.mark.parametrize("native", [True, False])
def test_sendfile_cancelled(loop, tmp_path, native):
    path = tmp_path / "big"
    path.write_bytes(bytes(BIG))

    async def main():
        a, b = pair()
        with a, b, open(path, "rb") as f:
            file = f if native else io.BytesIO(f.read())
            task = asyncio.create_task(loop.sock_sendfile(a, file))
            for _ in range(20):
                await asyncio.sleep(0.005)
            assert not task.done()  # nobody reads b: the socket buffer is full
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert watched(loop) == 0

    run(loop, main())


def test_sendfile_mixed_with_sendall(loop, data_file):
    async def main():
        with listener() as srv, socket.socket() as sock:
            sock.setblocking(False)
            await loop.sock_connect(sock, srv.getsockname())
            conn, _ = await loop.sock_accept(srv)
            with conn:
                reader = asyncio.create_task(recv_all(loop, conn))
                await loop.sock_sendall(sock, b"head" * 10000)
                assert await loop.sock_sendfile(sock, data_file) == len(FILE_DATA)
                await loop.sock_sendall(sock, b"tail")
                sock.shutdown(socket.SHUT_WR)
                assert await reader == b"head" * 10000 + FILE_DATA + b"tail"
        assert watched(loop) == 0

    run(loop, main())


@pytest.mark.parametrize(
    "args, exc, message",
    [
        ((0, "count"), TypeError, "count must be a positive integer (got 'count')"),
        ((0, 0), ValueError, "count must be a positive integer (got 0)"),
        ((0, -1), ValueError, "count must be a positive integer (got -1)"),
        (("offset",), TypeError, "offset must be a non-negative integer (got 'offset')"),
        ((-1,), ValueError, "offset must be a non-negative integer (got -1)"),
    ],
)
def test_sendfile_bad_arguments(loop, data_file, args, exc, message):
    with socket.socket() as sock:
        sock.setblocking(False)
        with pytest.raises(exc) as info:
            run(loop, loop.sock_sendfile(sock, data_file, *args))
        assert str(info.value) == message


def test_sendfile_text_file(loop, tmp_path):
    path = tmp_path / "text"
    path.write_text("text")
    with open(path, encoding="utf-8") as f, socket.socket() as sock:
        sock.setblocking(False)
        with pytest.raises(ValueError, match="^file should be opened in binary mode$"):
            run(loop, loop.sock_sendfile(sock, f))


def test_sendfile_datagram_socket(loop, data_file):
    with udp() as sock:
        with pytest.raises(ValueError, match="^only SOCK_STREAM type sockets are supported$"):
            run(loop, loop.sock_sendfile(sock, data_file))
