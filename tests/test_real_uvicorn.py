"""An ASGI application on uvicorn, with httpx and websockets as clients,
on oxloop and on stdlib asyncio.

uvicorn's HTTP/1.1 server is an `asyncio.Protocol` on the loop's transports
(h11, flow control with pause_reading/resume_reading); its websocket side
runs the `websockets` protocol. Lifespan events, JSON, a large upload and a
streamed response, concurrent requests, websocket messages and close codes,
and the server's graceful exit. Same assertions on both loops.
"""

import asyncio
import hashlib
import json
import os
import socket

import httpx
import uvicorn
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosedError


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                scope["state"]["started"] = True
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    elif scope["type"] == "websocket":
        await receive()  # websocket.connect
        await send({"type": "websocket.accept"})
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                return
            if message.get("text") == "close":
                await send({"type": "websocket.close", "code": 4002, "reason": "asked to"})
                return
            if message.get("text") is not None:
                await send({"type": "websocket.send", "text": message["text"][::-1]})
            else:
                digest = hashlib.sha256(message["bytes"]).digest()
                await send({"type": "websocket.send", "bytes": digest})
    else:
        digest, size = hashlib.sha256(), 0
        while True:
            message = await receive()
            body = message.get("body", b"")
            digest.update(body)
            size += len(body)
            if not message.get("more_body"):
                break
        if scope["path"] == "/stream":
            await send({"type": "http.response.start", "status": 200, "headers": []})
            for i in range(200):
                await send({"type": "http.response.body", "body": b"%d," % i, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
            return
        payload = {
            "method": scope["method"],
            "path": scope["path"],
            "query": scope["query_string"].decode(),
            "size": size,
            "sha256": digest.hexdigest(),
            "started": scope["state"].get("started", False),
        }
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": json.dumps(payload).encode()})


class Uvicorn:
    """uvicorn serving `app` on a listening socket on 127.0.0.1 for an `async with`."""

    async def __aenter__(self):
        # Listening before uvicorn starts: clients may connect at once.
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        config = uvicorn.Config(app, lifespan="on", log_level="warning", ws="websockets-sansio")
        self.server = uvicorn.Server(config)
        self.task = asyncio.ensure_future(self.server.serve(sockets=[self.sock]))
        return self

    async def __aexit__(self, *exc):
        self.server.should_exit = True
        await self.task
        self.sock.close()


def test_http_through_httpx(real_loop):
    async def main():
        async with Uvicorn() as srv:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{srv.port}") as client:
                r = await client.get("/path", params={"a": "1"})
                assert r.json() == {
                    "method": "GET",
                    "path": "/path",
                    "query": "a=1",
                    "size": 0,
                    "sha256": hashlib.sha256().hexdigest(),
                    "started": True,
                }
                body = os.urandom(4 * 1024 * 1024)
                r = await client.post("/upload", content=body)
                assert (r.json()["size"], r.json()["sha256"]) == (
                    len(body),
                    hashlib.sha256(body).hexdigest(),
                )
                async with client.stream("GET", "/stream") as r:
                    text = "".join([t async for t in r.aiter_text()])
                assert text == "".join(f"{i}," for i in range(200))
                rs = await asyncio.gather(*(client.get(f"/{i}") for i in range(20)))
                assert [r.json()["path"] for r in rs] == [f"/{i}" for i in range(20)]
        assert srv.server.started

    real_loop(main)


def test_websockets_through_uvicorn(real_loop):
    async def main():
        async with Uvicorn() as srv:
            async with connect(f"ws://127.0.0.1:{srv.port}/ws") as ws:
                for i in range(300):
                    await ws.send(f"m{i}")
                assert [await ws.recv() for _ in range(300)] == [f"m{i}"[::-1] for i in range(300)]
                blob = os.urandom(512 * 1024)
                await ws.send(blob)
                assert await ws.recv() == hashlib.sha256(blob).digest()
                await ws.send("close")
                try:
                    await ws.recv()
                except ConnectionClosedError as exc:
                    assert (exc.rcvd.code, exc.rcvd.reason) == (4002, "asked to")
                else:
                    raise AssertionError("the server did not close")

    real_loop(main)
