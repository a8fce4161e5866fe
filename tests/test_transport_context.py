"""Python 3.15: every protocol callback of a transport runs in the transport's context.

The context is copied when create_connection() is called, or for a server's connection
from the context the server was created in; a task that pauses and resumes reading
does not leak its variables into later callbacks (gh-140947). Compared with stdlib
asyncio on 3.15 and later.
"""

from __future__ import annotations

import asyncio
import contextvars
import sys

import pytest
from _on_both import on_both

pytestmark = pytest.mark.skipif(
    sys.version_info < (3, 15), reason="transport contexts are new in Python 3.15"
)

var = contextvars.ContextVar("var", default="unset")
task_var = contextvars.ContextVar("task_var", default="unset")


def seen():
    return var.get(), task_var.get()


def test_server_callbacks_run_in_the_servers_context_despite_a_resuming_task():
    async def scenario():
        log = {}
        lost = asyncio.get_running_loop().create_future()

        class Proto(asyncio.Protocol):
            def connection_made(self, transport):
                log["connection_made"] = seen()
                self.transport = transport

            def data_received(self, data):
                log.setdefault("data_received", seen())
                self.transport.pause_reading()
                asyncio.ensure_future(self.resume_later())

            async def resume_later(self):
                task_var.set("set by the task")
                await asyncio.sleep(0)
                self.transport.resume_reading()

            def connection_lost(self, exc):
                log["connection_lost"] = seen()
                lost.set_result(None)

        var.set("server")
        server = await asyncio.get_running_loop().create_server(Proto, "127.0.0.1", 0)
        var.set("after the server")
        async with server:
            reader, writer = await asyncio.open_connection(*server.sockets[0].getsockname())
            writer.write(b"x")
            await writer.drain()
            await asyncio.sleep(0.05)
            writer.close()
            await writer.wait_closed()
            await lost
        return log

    log = on_both(scenario, timeout=10)
    assert log == {
        "connection_made": ("server", "unset"),
        "data_received": ("server", "unset"),
        "connection_lost": ("server", "unset"),
    }


def test_client_callbacks_run_in_the_context_of_create_connection():
    async def scenario():
        log = []
        lost = asyncio.get_running_loop().create_future()

        class Proto(asyncio.Protocol):
            def connection_made(self, transport):
                log.append(("made", seen()))
                var.set("changed by connection_made")

            def data_received(self, data):
                log.append(("data", seen()))

            def connection_lost(self, exc):
                log.append(("lost", seen()))
                lost.set_result(None)

        async def handle(reader, writer):
            writer.write(b"hello")
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        var.set("client")
        transport, _ = await asyncio.get_running_loop().create_connection(
            Proto, *server.sockets[0].getsockname()
        )
        var.set("after create_connection")
        await lost
        server.close()
        return log, var.get()

    log, after = on_both(scenario, timeout=10)
    assert log[0] == ("made", ("client", "unset"))
    assert log[-1] == ("lost", ("changed by connection_made", "unset"))
    assert after == "after create_connection"
