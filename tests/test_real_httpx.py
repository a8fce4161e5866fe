"""httpx.AsyncClient (httpcore on anyio's asyncio backend) on oxloop and on asyncio.

The client talks to an aiohttp application served on 127.0.0.1: JSON both
ways, concurrent requests through a limited pool, a large body streamed up
and down, a chunked response, and read/pool timeouts. Same assertions on
both loops (the `real_loop` fixture).
"""

import asyncio
import hashlib

import httpx
import pytest
from _http_apps import Served, pattern
from aiohttp import web

BIG = 6 * 1024 * 1024 + 7


def make_app(release, entered=None):
    routes = web.RouteTableDef()

    @routes.get("/json")
    async def get_json(request):
        return web.json_response({"q": request.query.get("q"), "ua": request.headers["User-Agent"]})

    @routes.post("/echo")
    async def echo(request):
        return web.json_response({"got": await request.json()})

    @routes.post("/upload")
    async def upload(request):
        digest, size = hashlib.sha256(), 0
        async for chunk in request.content.iter_chunked(65536):
            digest.update(chunk)
            size += len(chunk)
        return web.json_response({"sha256": digest.hexdigest(), "size": size})

    @routes.get("/download")
    async def download(request):
        return web.Response(body=pattern(BIG), content_type="application/octet-stream")

    @routes.get("/chunked")
    async def chunked(request):
        resp = web.StreamResponse()
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        for i in range(50):
            await resp.write(b"%d," % i)
        await resp.write_eof()
        return resp

    @routes.get("/slow")
    async def slow(request):
        if entered is not None:
            entered.set()
        await release.wait()
        return web.Response(text="late")

    app = web.Application(client_max_size=2 * BIG)
    app.add_routes(routes)
    return app


def test_requests_json_and_concurrency(real_loop):
    async def main():
        async with Served(make_app(asyncio.Event())) as srv:
            limits = httpx.Limits(max_connections=4)
            async with httpx.AsyncClient(base_url=srv.url, limits=limits) as client:
                r = await client.get("/json", params={"q": "x y"}, headers={"User-Agent": "t/1"})
                assert r.status_code == 200
                assert r.json() == {"q": "x y", "ua": "t/1"}
                r = await client.post("/echo", json={"n": [1, 2.5, "ü"]})
                assert r.json() == {"got": {"n": [1, 2.5, "ü"]}}
                assert (await client.get("/nope")).status_code == 404
                with pytest.raises(httpx.HTTPStatusError):
                    (await client.get("/nope")).raise_for_status()

                async def one(i):
                    return (await client.post("/echo", json=i)).json()["got"]

                assert await asyncio.gather(*(one(i) for i in range(100))) == list(range(100))

    real_loop(main)


def test_streaming_both_ways_and_chunked(real_loop):
    async def main():
        body = pattern(BIG)
        async with Served(make_app(asyncio.Event())) as srv:
            async with httpx.AsyncClient(base_url=srv.url) as client:

                async def produce():
                    view = memoryview(body)
                    for start in range(0, len(body), 1 << 20):
                        yield bytes(view[start : start + (1 << 20)])

                r = await client.post("/upload", content=produce())
                assert r.json() == {"sha256": hashlib.sha256(body).hexdigest(), "size": BIG}

                async with client.stream("GET", "/download") as r:
                    assert int(r.headers["Content-Length"]) == BIG
                    digest, size = hashlib.sha256(), 0
                    async for chunk in r.aiter_bytes():
                        digest.update(chunk)
                        size += len(chunk)
                assert (size, digest.digest()) == (BIG, hashlib.sha256(body).digest())

                async with client.stream("GET", "/chunked") as r:
                    assert r.headers["Transfer-Encoding"] == "chunked"
                    text = "".join([t async for t in r.aiter_text()])
                assert text == "".join(f"{i}," for i in range(50))

    real_loop(main)


def test_timeouts(real_loop):
    async def main():
        release, entered = asyncio.Event(), asyncio.Event()
        async with Served(make_app(release, entered)) as srv:
            limits = httpx.Limits(max_connections=1)
            async with httpx.AsyncClient(base_url=srv.url, limits=limits) as client:
                with pytest.raises(httpx.ReadTimeout):
                    await client.get("/slow", timeout=httpx.Timeout(5.0, read=0.2))

                # The only connection is busy: waiting for the pool times out.
                entered.clear()
                busy = asyncio.ensure_future(client.get("/slow"))
                await entered.wait()
                with pytest.raises(httpx.PoolTimeout):
                    await client.get("/json", timeout=httpx.Timeout(5.0, pool=0.2))
                release.set()
                assert (await busy).text == "late"
                assert (await client.get("/json")).json()["q"] is None

    real_loop(main)
