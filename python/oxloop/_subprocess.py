"""subprocess_exec / subprocess_shell for oxloop.Loop.

The transport is asyncio's own Unix subprocess transport: it drives the
child's stdin/stdout/stderr through `connect_write_pipe`/`connect_read_pipe`,
which on oxloop are the Rust pipe transports, and learns the exit status
from the event loop policy's child watcher (3.11-3.13) or, from 3.14, which
removed the watchers, by itself (`_child_exit.py`). Spawning a process is not a hot
path; reusing that class keeps the process semantics exactly asyncio's.
"""

from __future__ import annotations

import functools
import subprocess
import sys
import warnings
from asyncio import events
from asyncio.unix_events import _UnixSubprocessTransport

from . import _child_exit

# 3.14 removed asyncio's child watchers (and get_child_watcher()).
_NO_CHILD_WATCHERS = sys.version_info >= (3, 14)
# 3.12 and 3.13 call the watcher's methods on the watcher, not on what its
# __enter__ returns (a mocked watcher tells them apart).
_WATCHER_ITSELF = sys.version_info >= (3, 12)


def _check_popen_options(universal_newlines, bufsize, text, encoding, errors):
    """asyncio accepts only byte streams without buffering."""
    if universal_newlines:
        raise ValueError("universal_newlines must be False")
    if bufsize != 0:
        raise ValueError("bufsize must be 0")
    if text:
        raise ValueError("text must be False")
    if encoding is not None:
        raise ValueError("encoding must be None")
    if errors is not None:
        raise ValueError("errors must be None")


class SubprocessMixin:
    """Child processes with pipe transports to their standard streams."""

    async def subprocess_exec(
        self,
        protocol_factory,
        program,
        *args,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        universal_newlines=False,
        shell=False,
        bufsize=0,
        encoding=None,
        errors=None,
        text=None,
        **kwargs,
    ):
        """Run `program` with `args` (no shell); return (transport, protocol)."""
        if shell:
            raise ValueError("shell must be False")
        _check_popen_options(universal_newlines, bufsize, text, encoding, errors)
        protocol = protocol_factory()
        transport = await self._make_subprocess_transport(
            protocol, (program, *args), False, stdin, stdout, stderr, bufsize, **kwargs
        )
        return transport, protocol

    async def subprocess_shell(
        self,
        protocol_factory,
        cmd,
        *,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        universal_newlines=False,
        shell=True,
        bufsize=0,
        encoding=None,
        errors=None,
        text=None,
        **kwargs,
    ):
        """Run `cmd` through the shell; return (transport, protocol)."""
        if not isinstance(cmd, (bytes, str)):
            raise ValueError("cmd must be a string")
        if not shell:
            raise ValueError("shell must be True")
        _check_popen_options(universal_newlines, bufsize, text, encoding, errors)
        protocol = protocol_factory()
        transport = await self._make_subprocess_transport(
            protocol, cmd, True, stdin, stdout, stderr, bufsize, **kwargs
        )
        return transport, protocol

    async def _make_subprocess_transport(
        self, protocol, args, shell, stdin, stdout, stderr, bufsize, extra=None, **kwargs
    ):
        spawn_args = (protocol, args, shell, stdin, stdout, stderr, bufsize, extra, kwargs)
        if _NO_CHILD_WATCHERS:
            # 3.14 removed the child watchers: the loop waits for its children itself,
            # and reaps and publishes an exit in one callback in its own thread.
            watch = functools.partial(_child_exit.watch, self)
            return await self._spawn(watch, self._child_exited, *spawn_args)
        with warnings.catch_warnings():
            # get_child_watcher() is deprecated from 3.12; it is what 3.11-3.13 use.
            warnings.simplefilter("ignore", DeprecationWarning)
            watcher = events.get_child_watcher()
        with watcher as entered:
            # 3.11 uses what the watcher's __enter__ returns, 3.12 the watcher itself.
            if not _WATCHER_ITSELF:
                watcher = entered
            if not watcher.is_active():
                raise RuntimeError(
                    "asyncio.get_child_watcher() is not activated, "
                    "subprocess support is not installed."
                )
            return await self._spawn(
                watcher.add_child_handler, self._child_watcher_callback, *spawn_args
            )

    async def _spawn(
        self,
        add_child_handler,
        on_exit,
        protocol,
        args,
        shell,
        stdin,
        stdout,
        stderr,
        bufsize,
        extra,
        kwargs,
    ):
        """Start the child; `add_child_handler(pid, on_exit, transport)` arranges for
        `on_exit(pid, returncode, transport)` to be called when it exits."""
        waiter = self.create_future()
        transport = _UnixSubprocessTransport(
            self,
            protocol,
            args,
            shell,
            stdin,
            stdout,
            stderr,
            bufsize,
            waiter=waiter,
            extra=extra,
            **kwargs,
        )
        add_child_handler(transport.get_pid(), on_exit, transport)
        try:
            await waiter
        except BaseException:
            transport.close()
            await transport._wait()
            raise
        return transport

    def _child_exited(self, pid, returncode, transport):
        # Called in the loop's thread right after the child was reaped.
        transport._process_exited(returncode)

    def _child_watcher_callback(self, pid, returncode, transport):
        # The watcher may run this on its own thread.
        self.call_soon_threadsafe(transport._process_exited, returncode)
