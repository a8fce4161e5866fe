"""aiohttp's server and client on oxloop and on stdlib asyncio.

A `web.Application` on a `TCPSite` (ephemeral port on 127.0.0.1) and a
`ClientSession` talk over loopback: routes with JSON and forms, concurrent
requests on the connection pool, large bodies streamed both ways, chunked
responses, websockets, client timeouts and a graceful server shutdown. Every
scenario asserts the same results on both loops (the `real_loop` fixture).
"""

import asyncio
import hashlib
import json
import signal
import subprocess
import sys
import urllib.request

import aiohttp
import pytest
from _http_apps import Served, pattern
from aiohttp import web

SOCKETS = web.AppKey("sockets", set)
BIG = 8 * 1024 * 1024 + 123  # several socket buffers, not a multiple of any chunk size


def basic_app():
    routes = web.RouteTableDef()

    @routes.get("/hello")
    async def hello(request):
        return web.Response(text=f"hello {request.query.get('name', 'world')}")

    @routes.get("/json")
    async def get_json(request):
        return web.json_response({"items": list(range(5)), "agent": request.headers["X-Agent"]})

    @routes.post("/echo")
    async def echo(request):
        body = await request.json()
        return web.json_response({"got": body, "method": request.method}, status=201)

    @routes.post("/form")
    async def form(request):
        data = await request.post()
        return web.json_response(dict(sorted(data.items())))

    @routes.get("/boom")
    async def boom(request):
        raise web.HTTPConflict(text="no")

    app = web.Application()
    app.add_routes(routes)
    return app


def test_routes_json_forms_and_errors(real_loop):
    async def main():
        async with Served(basic_app()) as srv, aiohttp.ClientSession(srv.url) as s:
            async with s.get("/hello", params={"name": "ox"}) as r:
                assert (r.status, await r.text()) == (200, "hello ox")
            async with s.get("/json", headers={"X-Agent": "t"}) as r:
                assert r.content_type == "application/json"
                assert await r.json() == {"items": [0, 1, 2, 3, 4], "agent": "t"}
            async with s.post("/echo", json={"a": [1, "é", None]}) as r:
                assert r.status == 201
                assert await r.json() == {"got": {"a": [1, "é", None]}, "method": "POST"}
            async with s.post("/form", data={"b": "2", "a": "1 & 1"}) as r:
                assert await r.json() == {"a": "1 & 1", "b": "2"}
            async with s.get("/boom") as r:
                assert (r.status, await r.text()) == (409, "no")
            async with s.get("/missing") as r:
                assert r.status == 404
            with pytest.raises(aiohttp.ClientResponseError) as info:
                async with s.get("/boom", raise_for_status=True):
                    pass
            assert info.value.status == 409

            # Many concurrent requests share the pool's keep-alive connections.
            async def one(i):
                async with s.post("/echo", json=i) as r:
                    return (await r.json())["got"]

            assert await asyncio.gather(*(one(i) for i in range(200))) == list(range(200))

    real_loop(main)


def streaming_app():
    routes = web.RouteTableDef()

    @routes.post("/upload")
    async def upload(request):
        digest, size, reads = hashlib.sha256(), 0, 0
        async for chunk in request.content.iter_chunked(65536):
            digest.update(chunk)
            size += len(chunk)
            reads += 1
        return web.json_response({"sha256": digest.hexdigest(), "size": size, "many": reads > 1})

    @routes.get("/download")
    async def download(request):
        body = pattern(BIG)
        resp = web.StreamResponse(headers={"Content-Type": "application/octet-stream"})
        resp.content_length = len(body)
        await resp.prepare(request)
        view = memoryview(body)
        for start in range(0, len(body), 1 << 20):
            await resp.write(view[start : start + (1 << 20)])
        await resp.write_eof()
        return resp

    @routes.get("/chunked")
    async def chunked(request):
        resp = web.StreamResponse()
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        for i in range(20):
            await resp.write(f"part {i};".encode() * (i + 1))
        await resp.write_eof()
        return resp

    app = web.Application(client_max_size=2 * BIG)
    app.add_routes(routes)
    return app


def test_large_bodies_stream_both_ways(real_loop):
    async def main():
        body = pattern(BIG)
        async with Served(streaming_app()) as srv, aiohttp.ClientSession(srv.url) as s:

            async def produce():
                view = memoryview(body)
                for start in range(0, len(body), 300_000):
                    yield bytes(view[start : start + 300_000])

            async with s.post("/upload", data=produce()) as r:
                assert r.headers.get("Content-Length") is not None
                assert await r.json() == {
                    "sha256": hashlib.sha256(body).hexdigest(),
                    "size": BIG,
                    "many": True,
                }

            async with s.get("/download") as r:
                assert r.content_length == BIG
                digest, size = hashlib.sha256(), 0
                async for chunk in r.content.iter_chunked(100_000):
                    digest.update(chunk)
                    size += len(chunk)
                assert size == BIG
                assert digest.hexdigest() == hashlib.sha256(body).hexdigest()

            # Both at once on two connections.
            async def down():
                async with s.get("/download") as r:
                    return hashlib.sha256(await r.read()).hexdigest()

            async def up():
                async with s.post("/upload", data=body) as r:
                    return (await r.json())["sha256"]

            want = hashlib.sha256(body).hexdigest()
            assert await asyncio.gather(down(), up(), down()) == [want] * 3

    real_loop(main)


def test_chunked_response(real_loop):
    async def main():
        async with Served(streaming_app()) as srv, aiohttp.ClientSession(srv.url) as s:
            async with s.get("/chunked") as r:
                assert r.headers["Transfer-Encoding"] == "chunked"
                assert r.content_length is None
                chunks, part = [], b""
                async for data, end_of_chunk in r.content.iter_chunks():
                    part += data
                    if end_of_chunk:
                        chunks.append(part)
                        part = b""
                assert part == b""
            assert chunks == [f"part {i};".encode() * (i + 1) for i in range(20)]

    real_loop(main)


def websocket_app():
    app = web.Application()
    app[SOCKETS] = set()

    async def ws_handler(request):
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        request.app[SOCKETS].add(ws)
        try:
            async for msg in ws:
                if msg.type == aiohttp.WSMsgType.TEXT:
                    if msg.data == "close-me":
                        await ws.close(code=4000, message=b"bye")
                    else:
                        await ws.send_str(msg.data.upper())
                elif msg.type == aiohttp.WSMsgType.BINARY:
                    await ws.send_bytes(hashlib.sha256(msg.data).digest())
        finally:
            request.app[SOCKETS].discard(ws)
        return ws

    app.router.add_get("/ws", ws_handler)
    return app


def test_websocket_messages_and_close_code(real_loop):
    async def main():
        async with Served(websocket_app()) as srv, aiohttp.ClientSession(srv.url) as s:
            async with s.ws_connect("/ws") as ws:
                n = 500

                async def sender():
                    for i in range(n):
                        await ws.send_str(f"msg {i}")

                send = asyncio.ensure_future(sender())
                got = [await ws.receive_str() for _ in range(n)]
                await send
                assert got == [f"MSG {i}" for i in range(n)]

                big = pattern(3 * 1024 * 1024)
                await ws.send_bytes(big)
                assert await ws.receive_bytes() == hashlib.sha256(big).digest()
                await ws.send_json({"k": 1})
                assert json.loads(await ws.receive_str()) == {"K": 1}

                await ws.send_str("close-me")
                msg = await ws.receive()
                assert msg.type == aiohttp.WSMsgType.CLOSE
                assert (msg.data, msg.extra) == (4000, "bye")
                assert ws.closed
                assert ws.close_code == 4000

    real_loop(main)


def test_client_timeouts(real_loop):
    async def main():
        entered = asyncio.Event()
        release = asyncio.Event()
        routes = web.RouteTableDef()

        @routes.get("/slow")
        async def slow(request):
            entered.set()
            await release.wait()
            return web.Response(text="late")

        @routes.get("/trickle")
        async def trickle(request):
            resp = web.StreamResponse()
            await resp.prepare(request)
            await resp.write(b"first")
            await release.wait()
            await resp.write(b"rest")
            return resp

        app = web.Application()
        app.add_routes(routes)
        async with Served(app) as srv, aiohttp.ClientSession(srv.url) as s:
            loop = asyncio.get_running_loop()
            start = loop.time()
            with pytest.raises(asyncio.TimeoutError):
                async with s.get("/slow", timeout=aiohttp.ClientTimeout(total=0.2)):
                    pass
            assert 0.15 <= loop.time() - start < 5
            assert entered.is_set()

            # sock_read: headers and a first write arrive, then the body stalls.
            async with s.get("/trickle", timeout=aiohttp.ClientTimeout(sock_read=0.2)) as r:
                assert r.status == 200
                assert await r.content.readexactly(5) == b"first"
                with pytest.raises(aiohttp.ServerTimeoutError):
                    await r.content.read()

            release.set()
            # The session is still usable after the timeouts.
            async with s.get("/slow") as r:
                assert await r.text() == "late"

    real_loop(main)


def test_graceful_server_shutdown(real_loop):
    async def main():
        entered = asyncio.Event()
        release = asyncio.Event()
        refused_during_shutdown = []
        app = websocket_app()

        async def slow(request):
            entered.set()
            await release.wait()
            return web.Response(text="finished")

        async def on_shutdown(app):
            # Sites are stopped by now: new connections are refused. The request
            # in flight finishes; open websockets are told the server is going away.
            try:
                _, w = await asyncio.open_connection(*srv.address)
            except ConnectionRefusedError:
                refused_during_shutdown.append(True)
            else:
                w.close()
                refused_during_shutdown.append(False)
            for ws in set(app[SOCKETS]):
                await ws.close(code=aiohttp.WSCloseCode.GOING_AWAY, message=b"shutdown")
            release.set()

        app.router.add_get("/slow", slow)
        app.on_shutdown.append(on_shutdown)
        srv = await Served(app, shutdown_timeout=10).start()
        async with aiohttp.ClientSession(srv.url) as s:
            ws = await s.ws_connect("/ws")
            await ws.send_str("hi")
            assert await ws.receive_str() == "HI"

            async def slow_request():
                async with s.get("/slow") as r:
                    return r.status, await r.text()

            pending = asyncio.ensure_future(slow_request())
            await entered.wait()
            await srv.stop()
            assert await pending == (200, "finished")
            assert refused_during_shutdown == [True]

            msg = await ws.receive()
            assert msg.type == aiohttp.WSMsgType.CLOSE
            assert (msg.data, msg.extra) == (aiohttp.WSCloseCode.GOING_AWAY, "shutdown")
            await ws.close()

            with pytest.raises(aiohttp.ClientConnectorError):
                async with s.get("/slow"):
                    pass

    real_loop(main)


RUN_APP_SCRIPT = """
import asyncio, socket
from aiohttp import web

async def on_startup(app):
    loop = asyncio.get_running_loop()
    print("loop", type(loop).__module__, type(loop).__name__, flush=True)

async def on_shutdown(app):
    print("shutdown", flush=True)

async def on_cleanup(app):
    print("cleanup", flush=True)

async def hello(request):
    return web.Response(text="hi")

sock = socket.create_server(("127.0.0.1", 0))
print("port", sock.getsockname()[1], flush=True)
app = web.Application()
app.router.add_get("/", hello)
app.on_startup.append(on_startup)
app.on_shutdown.append(on_shutdown)
app.on_cleanup.append(on_cleanup)
web.run_app(app, sock=sock, print=None)
print("exited", flush=True)
"""


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_run_app_program_stops_on_signal(real_loop, sig, tmp_path):
    # The program as written for asyncio; `python -m oxloop` runs it on oxloop.
    # web.run_app installs SIGINT/SIGTERM handlers with loop.add_signal_handler.
    script = tmp_path / "app.py"
    script.write_text(RUN_APP_SCRIPT)
    argv = [sys.executable, str(script)]
    if real_loop.name == "oxloop":
        argv[1:1] = ["-m", "oxloop"]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        port = int(proc.stdout.readline().split()[1])
        loop_line = proc.stdout.readline().split()
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as resp:
            assert resp.read() == b"hi"
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    expected_loop = {
        "oxloop": ["loop", "oxloop._loop", "Loop"],
        "asyncio": ["loop", "asyncio.unix_events", "_UnixSelectorEventLoop"],
    }
    assert loop_line == expected_loop[real_loop.name]
    assert (proc.returncode, out.split(), err) == (0, ["shutdown", "cleanup", "exited"], "")
