"""Datagram transports on oxloop and on stdlib asyncio, with the same assertions.

oxloop receives and sends IPv4/IPv6 datagrams itself, remembers its peers'
address tuples, and reads several datagrams per readiness; asyncio does none
of that. These tests pin down that nobody can tell: the addresses, the order,
pausing and closing in the middle of a burst, and sending to addresses of
every kind.
"""

import asyncio
import socket

import oxloop
import pytest

LOOPS = {"oxloop": oxloop.new_event_loop, "asyncio": asyncio.new_event_loop}
TIMEOUT = 10.0


@pytest.fixture(params=list(LOOPS))
def loop(request):
    lp = LOOPS[request.param]()
    yield lp
    lp.run_until_complete(lp.shutdown_default_executor())
    lp.close()


def run(loop, coro):
    return loop.run_until_complete(asyncio.wait_for(coro, TIMEOUT))


def has_ipv6():
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
            s.bind(("::1", 0))
    except OSError:
        return False
    return True


class Collector(asyncio.DatagramProtocol):
    """Keeps every datagram; `on_datagram(self, data, addr)` may act on each."""

    def __init__(self, on_datagram=None):
        self.got = []
        self.errors = []
        self.transport = None
        self.on_datagram = on_datagram
        self.arrived = asyncio.Event()

    def connection_made(self, transport):
        self.transport = transport

    def datagram_received(self, data, addr):
        self.got.append((data, addr))
        self.arrived.set()
        if self.on_datagram:
            self.on_datagram(self, data, addr)

    def error_received(self, exc):
        self.errors.append(exc)
        self.arrived.set()


async def wait_for_count(proto, n):
    while len(proto.got) < n:
        proto.arrived.clear()
        await proto.arrived.wait()


def blocking_client(family, host):
    s = socket.socket(family, socket.SOCK_DGRAM)
    s.bind((host, 0))
    s.settimeout(TIMEOUT)
    return s


@pytest.mark.parametrize("family,host", [(socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")])
def test_sender_addresses_match_the_socket_module(loop, family, host):
    if family == socket.AF_INET6 and not has_ipv6():
        pytest.skip("no IPv6 loopback")

    async def main():
        t, p = await loop.create_datagram_endpoint(Collector, local_addr=(host, 0), family=family)
        server = t.get_extra_info("sockname")
        clients = [blocking_client(family, host) for _ in range(3)]
        try:
            for round_ in range(2):
                for i, c in enumerate(clients):
                    c.sendto(b"%d-%d" % (round_, i), server)
            await wait_for_count(p, 6)
            names = [c.getsockname() for c in clients]
            assert [d for d, _ in p.got] == [b"0-0", b"0-1", b"0-2", b"1-0", b"1-1", b"1-2"]
            # Exactly what the socket module gives for that sender.
            assert [a for _, a in p.got] == names * 2
            for _, a in p.got:
                assert type(a) is tuple
                assert type(a[0]) is str and type(a[1]) is int
        finally:
            for c in clients:
                c.close()
            t.close()

    run(loop, main())


def test_echo_back_to_the_received_address_and_to_new_tuples(loop):
    async def main():
        def echo(proto, data, addr):
            if data.startswith(b"copy:"):
                # An equal tuple, but not the object the transport made.
                addr = (str(addr[0]), int(addr[1]))
            proto.transport.sendto(data.upper(), addr)

        t, p = await loop.create_datagram_endpoint(
            lambda: Collector(echo), local_addr=("127.0.0.1", 0)
        )
        server = t.get_extra_info("sockname")
        c = blocking_client(socket.AF_INET, "127.0.0.1")
        try:
            for msg in (b"one", b"copy:two", bytes(range(256)) * 8):
                c.sendto(msg, server)
                data, addr = await loop.run_in_executor(None, c.recvfrom, 65536)
                assert data == msg.upper()
                assert addr == server
            # sendto to an address never received from
            other = blocking_client(socket.AF_INET, "127.0.0.1")
            try:
                t.sendto(b"hello", other.getsockname())
                data, addr = await loop.run_in_executor(None, other.recvfrom, 100)
                assert (data, addr) == (b"hello", server)
            finally:
                other.close()
        finally:
            c.close()
            t.close()

    run(loop, main())


def test_many_peers_get_right_addresses(loop):
    # More peers than oxloop remembers: older ones are made again.
    async def main():
        t, p = await loop.create_datagram_endpoint(Collector, local_addr=("127.0.0.1", 0))
        server = t.get_extra_info("sockname")
        clients = [blocking_client(socket.AF_INET, "127.0.0.1") for _ in range(40)]
        try:
            for _ in range(2):
                for i, c in enumerate(clients):
                    c.sendto(b"%d" % i, server)
            await wait_for_count(p, 80)
            by_data = {}
            for data, addr in p.got:
                by_data.setdefault(int(data), set()).add(addr)
            for i, c in enumerate(clients):
                assert by_data[i] == {c.getsockname()}
            # Replies reach each peer through the address it was given.
            for data, addr in p.got[-40:]:
                t.sendto(data, addr)
            for i, c in enumerate(clients):
                got, _ = await loop.run_in_executor(None, c.recvfrom, 100)
                assert got == b"%d" % i
        finally:
            for c in clients:
                c.close()
            t.close()

    run(loop, main())


def test_pause_reading_in_a_burst_stops_delivery(loop):
    async def main():
        def pause_on_third(proto, data, addr):
            if len(proto.got) == 3:
                proto.transport.pause_reading()

        t, p = await loop.create_datagram_endpoint(
            lambda: Collector(pause_on_third), local_addr=("127.0.0.1", 0)
        )
        server = t.get_extra_info("sockname")
        c = blocking_client(socket.AF_INET, "127.0.0.1")
        try:
            for i in range(10):
                c.sendto(b"%d" % i, server)
            await wait_for_count(p, 3)
            for _ in range(5):
                await asyncio.sleep(0.01)
            assert len(p.got) == 3
            assert not t.is_reading()
            t.resume_reading()
            await wait_for_count(p, 10)
            assert [d for d, _ in p.got] == [b"%d" % i for i in range(10)]
        finally:
            c.close()
            t.close()

    run(loop, main())


def test_close_in_a_burst_stops_delivery(loop):
    async def main():
        lost = loop.create_future()

        class Closer(Collector):
            def datagram_received(self, data, addr):
                super().datagram_received(data, addr)
                self.transport.close()

            def connection_lost(self, exc):
                lost.set_result(exc)

        t, p = await loop.create_datagram_endpoint(Closer, local_addr=("127.0.0.1", 0))
        server = t.get_extra_info("sockname")
        c = blocking_client(socket.AF_INET, "127.0.0.1")
        try:
            for i in range(10):
                c.sendto(b"%d" % i, server)
            await asyncio.sleep(0.05)
            assert await lost is None
            assert [d for d, _ in p.got] == [b"0"]
        finally:
            c.close()

    run(loop, main())


def test_connected_endpoint_send_receive_and_refused(loop):
    async def main():
        peer = blocking_client(socket.AF_INET, "127.0.0.1")
        try:
            t, p = await loop.create_datagram_endpoint(Collector, remote_addr=peer.getsockname())
            t.sendto(b"ping")
            data, addr = await loop.run_in_executor(None, peer.recvfrom, 100)
            assert data == b"ping"
            peer.sendto(b"pong", addr)
            await wait_for_count(p, 1)
            assert p.got == [(b"pong", peer.getsockname())]
            # The peer goes away: the next send's ICMP error is reported.
            peer.close()
            t.sendto(b"anyone?")
            while not p.errors:
                p.arrived.clear()
                await p.arrived.wait()
            assert isinstance(p.errors[0], ConnectionRefusedError)
            t.close()
        finally:
            peer.close()

    run(loop, main())


def test_memoryview_and_bytearray_data(loop):
    async def main():
        t, p = await loop.create_datagram_endpoint(Collector, local_addr=("127.0.0.1", 0))
        server = t.get_extra_info("sockname")
        c = blocking_client(socket.AF_INET, "127.0.0.1")
        try:
            c.sendto(b"x", server)
            await wait_for_count(p, 1)
            addr = p.got[0][1]
            t.sendto(bytearray(b"abc"), addr)
            t.sendto(memoryview(b"--def--")[2:5], addr)
            got = [(await loop.run_in_executor(None, c.recvfrom, 100))[0] for _ in range(2)]
            assert got == [b"abc", b"def"]
        finally:
            c.close()
            t.close()

    run(loop, main())
