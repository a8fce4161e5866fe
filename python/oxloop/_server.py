"""oxloop's Server: listening sockets whose connections get Rust transports.

Compatible with asyncio.Server: sockets, is_serving, start_serving,
serve_forever, close, wait_closed, get_loop, close_clients/abort_clients and
the async context manager. The accept loop lives on the loop
(`NetworkMixin._start_serving`); this class keeps the bookkeeping.
"""

from __future__ import annotations

import contextvars
import sys
from asyncio import base_events, exceptions, tasks, trsock

# Python 3.12 made wait_closed() wait for the connections even after close();
# 3.11 returns at once once the server is closed. Follow the running version.
_WAIT_CLOSED_AFTER_CLOSE = sys.version_info >= (3, 12)
# From 3.14 a cancelled serve_forever() also closes the client connections, so that
# it returns even while a client hangs (in 3.12/3.13 wait_closed() waits for them).
_CANCEL_CLOSES_CLIENTS = sys.version_info >= (3, 14)


class Server(base_events.Server):
    """An asyncio.Server (isinstance holds) whose every method is oxloop's own:
    the stdlib __init__ is not called, and no stdlib method is inherited but
    AbstractServer's async context manager."""

    def __init__(
        self,
        loop,
        sockets,
        protocol_factory,
        ssl_context,
        backlog,
        ssl_handshake_timeout,
        ssl_shutdown_timeout=None,
    ):
        self._loop = loop
        self._sockets = sockets
        self._active_count = 0
        self._waiters = []
        self._protocol_factory = protocol_factory
        self._backlog = backlog
        self._ssl_context = ssl_context
        self._ssl_handshake_timeout = ssl_handshake_timeout
        self._ssl_shutdown_timeout = ssl_shutdown_timeout
        self._serving = False
        self._serving_forever_fut = None
        # Transports of open connections: each removes itself in _detach when its
        # connection is lost (strong references: no weakref object per connection).
        self._clients = set()
        # 3.15: connections run in copies of the context the server was made in.
        self._context = contextvars.copy_context() if sys.version_info >= (3, 15) else None

    def __repr__(self):
        return f"<{self.__class__.__name__} sockets={self.sockets!r}>"

    # -- called by transports ---------------------------------------------------------------

    def _attach(self, transport=None):
        self._active_count += 1
        if transport is not None:
            self._clients.add(transport)

    def _detach(self, transport=None):
        self._active_count -= 1
        if transport is not None:
            self._clients.discard(transport)
        if self._active_count == 0 and self._sockets is None:
            self._wakeup()

    def _wakeup(self):
        waiters = self._waiters
        self._waiters = None
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(waiter)

    def _start_serving(self):
        if self._serving:
            return
        self._serving = True
        for sock in self._sockets:
            sock.listen(self._backlog)
            self._loop._start_serving(
                self._protocol_factory,
                sock,
                self._ssl_context,
                self,
                self._backlog,
                self._ssl_handshake_timeout,
                self._ssl_shutdown_timeout,
            )

    # -- public API ------------------------------------------------------------------------------

    def get_loop(self):
        return self._loop

    def is_serving(self):
        return self._serving

    @property
    def sockets(self):
        if self._sockets is None:
            return ()
        return tuple(trsock.TransportSocket(s) for s in self._sockets)

    def close(self):
        sockets = self._sockets
        if sockets is None:
            return
        self._sockets = None
        for sock in sockets:
            self._loop._stop_serving(sock)
        self._serving = False
        fut = self._serving_forever_fut
        if fut is not None and not fut.done():
            fut.cancel()
            self._serving_forever_fut = None
        if self._active_count == 0:
            self._wakeup()

    def close_clients(self):
        for transport in list(self._clients):
            transport.close()

    def abort_clients(self):
        for transport in list(self._clients):
            transport.abort()

    async def start_serving(self):
        self._start_serving()
        # Let the readers be installed before returning, as asyncio does.
        await tasks.sleep(0)

    async def serve_forever(self):
        if self._serving_forever_fut is not None:
            raise RuntimeError(f"server {self!r} is already being awaited on serve_forever()")
        if self._sockets is None:
            raise RuntimeError(f"server {self!r} is closed")
        self._start_serving()
        self._serving_forever_fut = self._loop.create_future()
        try:
            await self._serving_forever_fut
        except exceptions.CancelledError:
            try:
                self.close()
                if _CANCEL_CLOSES_CLIENTS:
                    self.close_clients()
                await self.wait_closed()
            finally:
                raise
        finally:
            self._serving_forever_fut = None

    async def wait_closed(self):
        if self._waiters is None:
            return
        if self._sockets is None and not _WAIT_CLOSED_AFTER_CLOSE:
            return
        waiter = self._loop.create_future()
        self._waiters.append(waiter)
        await waiter
