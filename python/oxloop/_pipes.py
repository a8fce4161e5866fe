"""`connect_read_pipe` / `connect_write_pipe` for oxloop.Loop.

Python checks the file type and makes the fd non-blocking; the transports
themselves (`_core.ReadPipeTransport`, `_core.WritePipeTransport`) are Rust.
Accepted like asyncio on Unix: pipes, sockets and character devices (ptys).
"""

from __future__ import annotations

import os
import stat
from asyncio import futures

from . import _core


def _pipe_mode(pipe):
    return os.fstat(pipe.fileno()).st_mode


class PipeMixin:
    """Pipe transports for oxloop.Loop."""

    def _make_read_pipe_transport(self, pipe, protocol, waiter=None, extra=None):
        mode = _pipe_mode(pipe)
        if not (stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode) or stat.S_ISCHR(mode)):
            raise ValueError("Pipe transport is for pipes/sockets only.")
        os.set_blocking(pipe.fileno(), False)
        transport = _core.ReadPipeTransport(self, pipe, protocol, extra)
        transport._start()
        if waiter is not None:
            self.call_soon(futures._set_result_unless_cancelled, waiter, None)
        return transport

    def _make_write_pipe_transport(self, pipe, protocol, waiter=None, extra=None):
        mode = _pipe_mode(pipe)
        is_fifo = stat.S_ISFIFO(mode)
        is_socket = stat.S_ISSOCK(mode)
        if not (is_fifo or is_socket or stat.S_ISCHR(mode)):
            raise ValueError("Pipe transport is only for pipes, sockets and character devices")
        os.set_blocking(pipe.fileno(), False)
        # The write end of a pipe or socket turns readable when its peer closed;
        # a character device's readability means nothing of the kind.
        transport = _core.WritePipeTransport(self, pipe, protocol, extra, is_fifo or is_socket)
        transport._start()
        if waiter is not None:
            self.call_soon(futures._set_result_unless_cancelled, waiter, None)
        return transport

    async def connect_read_pipe(self, protocol_factory, pipe):
        protocol = protocol_factory()
        waiter = self.create_future()
        transport = self._make_read_pipe_transport(pipe, protocol, waiter)
        try:
            await waiter
        except BaseException:
            transport.close()
            raise
        return transport, protocol

    async def connect_write_pipe(self, protocol_factory, pipe):
        protocol = protocol_factory()
        waiter = self.create_future()
        transport = self._make_write_pipe_transport(pipe, protocol, waiter)
        try:
            await waiter
        except BaseException:
            transport.close()
            raise
        return transport, protocol
