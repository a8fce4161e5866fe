"""TLS over asyncio streams on oxloop and on stdlib asyncio.

A CA and a certificate for localhost/127.0.0.1 are made per session with
`trustme`. `start_server(ssl=...)` + `open_connection(ssl=...)` with large
payloads both ways under flow control, a STARTTLS upgrade with
`StreamWriter.start_tls`, mutual TLS, `sendfile` over TLS, and the failures
(untrusted certificate, wrong host name, handshake timeout). Same
assertions on both loops (the `real_loop` fixture).
"""

import asyncio
import hashlib
import os
import ssl

import aiohttp
import pytest
import trustme
from aiohttp import web
from websockets.asyncio.client import connect
from websockets.asyncio.server import serve

BIG = 8 * 1024 * 1024 + 5


@pytest.fixture(scope="module")
def certs():
    ca = trustme.CA()
    server_cert = ca.issue_cert("localhost", "127.0.0.1")
    client_cert = ca.issue_cert("client@example.org")
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_cert.configure_cert(server_ctx)
    client_ctx = ssl.create_default_context()
    ca.configure_trust(client_ctx)
    mutual_server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_cert.configure_cert(mutual_server_ctx)
    ca.configure_trust(mutual_server_ctx)
    mutual_server_ctx.verify_mode = ssl.CERT_REQUIRED
    mutual_client_ctx = ssl.create_default_context()
    ca.configure_trust(mutual_client_ctx)
    client_cert.configure_cert(mutual_client_ctx)
    return {
        "server": server_ctx,
        "client": client_ctx,
        "mutual_server": mutual_server_ctx,
        "mutual_client": mutual_client_ctx,
    }


async def echo(reader, writer):
    """Echo in 64 KiB pieces, draining each: the peer's writes meet back-pressure."""
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    finally:
        writer.close()
        await writer.wait_closed()


async def exchange(reader, writer, payload):
    """Write `payload` (draining) while reading the echo; returns what came back."""

    async def send():
        view = memoryview(payload)
        for start in range(0, len(view), 1 << 20):
            writer.write(view[start : start + (1 << 20)])
            await writer.drain()

    async def receive():
        got = bytearray()
        while len(got) < len(payload):
            chunk = await reader.read(1 << 20)
            assert chunk, "early EOF"
            got += chunk
        return bytes(got)

    _, got = await asyncio.gather(send(), receive())
    return got


def test_streams_large_payloads_both_ways(real_loop, certs):
    async def main():
        server = await asyncio.start_server(echo, "127.0.0.1", 0, ssl=certs["server"])
        host, port = server.sockets[0].getsockname()
        payload = os.urandom(BIG)
        async with server:
            reader, writer = await asyncio.open_connection(
                host, port, ssl=certs["client"], server_hostname="localhost"
            )
            ssl_object = writer.get_extra_info("ssl_object")
            assert ssl_object.version() in ("TLSv1.2", "TLSv1.3")
            assert ssl_object.server_hostname == "localhost"
            peercert = writer.get_extra_info("peercert")
            assert ("DNS", "localhost") in peercert["subjectAltName"]
            assert writer.get_extra_info("cipher") is not None
            assert writer.get_extra_info("peername") == (host, port)

            got = await exchange(reader, writer, payload)
            assert hashlib.sha256(got).digest() == hashlib.sha256(payload).digest()

            # Several clients at once.
            async def client(i):
                r, w = await asyncio.open_connection(
                    host, port, ssl=certs["client"], server_hostname="localhost"
                )
                data = bytes([i]) * (200_000 * i + 1)
                ok = await exchange(r, w, data) == data
                w.close()
                await w.wait_closed()
                return ok

            assert await asyncio.gather(*(client(i) for i in range(8))) == [True] * 8

            # TLS has no half-close: can_write_eof() is False. close() sends
            # close_notify; the server sees EOF and closes; we read EOF.
            assert not writer.can_write_eof()
            writer.close()
            await writer.wait_closed()
            assert await reader.read() == b""

    real_loop(main)


def test_start_tls_upgrade(real_loop, certs):
    async def main():
        server_done = asyncio.get_running_loop().create_future()

        async def starttls_server(reader, writer):
            try:
                assert await reader.readline() == b"STARTTLS\n"
                writer.write(b"GO\n")
                await writer.drain()
                await writer.start_tls(certs["server"])
                assert writer.get_extra_info("ssl_object") is not None
                line = await reader.readline()
                writer.write(b"secure " + line)
                await echo(reader, writer)
                server_done.set_result(None)
            except BaseException as exc:
                server_done.set_exception(exc)
                raise

        server = await asyncio.start_server(starttls_server, "127.0.0.1", 0)
        host, port = server.sockets[0].getsockname()
        async with server:
            reader, writer = await asyncio.open_connection(host, port)
            assert writer.get_extra_info("ssl_object") is None
            writer.write(b"STARTTLS\n")
            assert await reader.readline() == b"GO\n"
            await writer.start_tls(certs["client"], server_hostname="localhost")
            assert writer.get_extra_info("ssl_object").server_hostname == "localhost"
            writer.write(b"hello\n")
            assert await reader.readline() == b"secure hello\n"
            payload = os.urandom(BIG)
            got = await exchange(reader, writer, payload)
            assert got == payload
            writer.close()
            await writer.wait_closed()
            await server_done

    real_loop(main)


def test_mutual_tls_and_sendfile(real_loop, certs, tmp_path):
    async def main():
        peers = []
        received = asyncio.get_running_loop().create_future()

        async def handler(reader, writer):
            peers.append(writer.get_extra_info("peercert")["subjectAltName"])
            data = await reader.read()
            received.set_result(hashlib.sha256(data).hexdigest())
            writer.close()
            await writer.wait_closed()

        server = await asyncio.start_server(
            handler, "127.0.0.1", 0, ssl=certs["mutual_server"]
        )
        host, port = server.sockets[0].getsockname()
        blob = os.urandom(3 * 1024 * 1024 + 1)
        path = tmp_path / "blob"
        path.write_bytes(blob)
        async with server:
            reader, writer = await asyncio.open_connection(
                host, port, ssl=certs["mutual_client"], server_hostname="localhost"
            )
            loop = asyncio.get_running_loop()
            with open(path, "rb") as f:
                # Over TLS the loop cannot use os.sendfile: it falls back to reads and writes.
                sent = await loop.sendfile(writer.transport, f)
            assert sent == len(blob)
            writer.close()
            await writer.wait_closed()
            assert await received == hashlib.sha256(blob).hexdigest()
        assert peers == [(("email", "client@example.org"),)]

    real_loop(main)


def test_handshake_failures(real_loop, certs):
    async def main():
        server = await asyncio.start_server(echo, "127.0.0.1", 0, ssl=certs["server"])
        host, port = server.sockets[0].getsockname()
        async with server:
            untrusting = ssl.create_default_context(cafile=None)
            untrusting.load_verify_locations(cadata=trustme.CA().cert_pem.bytes().decode())
            with pytest.raises(ssl.SSLCertVerificationError):
                await asyncio.open_connection(
                    host, port, ssl=untrusting, server_hostname="localhost"
                )
            with pytest.raises(ssl.SSLCertVerificationError, match="match"):
                await asyncio.open_connection(
                    host, port, ssl=certs["client"], server_hostname="not-localhost"
                )
            # Still serving after the failed handshakes.
            reader, writer = await asyncio.open_connection(
                host, port, ssl=certs["client"], server_hostname="localhost"
            )
            writer.write(b"ping")
            assert await reader.readexactly(4) == b"ping"
            writer.close()
            await writer.wait_closed()

        # A peer that never answers the ClientHello: the handshake times out.
        silent_closed = asyncio.Event()

        async def silent(reader, writer):
            await reader.read()
            writer.close()
            silent_closed.set()

        quiet = await asyncio.start_server(silent, "127.0.0.1", 0)
        async with quiet:
            with pytest.raises(ConnectionAbortedError, match="SSL handshake is taking longer"):
                await asyncio.open_connection(
                    *quiet.sockets[0].getsockname(),
                    ssl=certs["client"],
                    server_hostname="localhost",
                    ssl_handshake_timeout=0.2,
                )
            await silent_closed.wait()

    real_loop(main)


def test_https_and_wss_through_libraries(real_loop, certs):
    # aiohttp (HTTPS site, client with an SSLContext) and websockets (wss)
    # put TLS on the loop's transports through create_server/create_connection.
    async def main():
        blob = os.urandom(2 * 1024 * 1024 + 3)

        async def download(request):
            return web.Response(body=blob)

        async def upload(request):
            return web.Response(text=hashlib.sha256(await request.read()).hexdigest())

        app = web.Application(client_max_size=len(blob) + 1)
        app.router.add_get("/blob", download)
        app.router.add_post("/blob", upload)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=certs["server"])
        await site.start()
        port = runner.addresses[0][1]
        connector = aiohttp.TCPConnector(ssl=certs["client"])
        async with aiohttp.ClientSession(connector=connector) as session:
            async with session.get(f"https://localhost:{port}/blob") as r:
                assert await r.read() == blob
            async with session.post(f"https://localhost:{port}/blob", data=blob) as r:
                assert await r.text() == hashlib.sha256(blob).hexdigest()
        await runner.cleanup()

        async def echo_ws(ws):
            async for message in ws:
                await ws.send(message)

        async with serve(echo_ws, "127.0.0.1", 0, ssl=certs["server"], max_size=None) as server:
            port = server.sockets[0].getsockname()[1]
            async with connect(f"wss://localhost:{port}", ssl=certs["client"], max_size=None) as ws:
                await ws.send(blob)
                assert await ws.recv() == blob
                for i in range(200):
                    await ws.send(f"m{i}")
                assert [await ws.recv() for _ in range(200)] == [f"m{i}" for i in range(200)]

    real_loop(main)
