"""Unix signal handlers for oxloop.Loop (main thread only).

Python's C-level handler writes each caught signal's number to the wakeup fd
(`signal.set_wakeup_fd`); the loop watches the other end of that socket pair
and schedules the registered callback. Ctrl+C with no handler registered
keeps Python's default: KeyboardInterrupt out of run_forever().
"""

from __future__ import annotations

import errno
import logging
import signal
import socket
import sys
import warnings
from asyncio import coroutines

# 3.14 deprecated asyncio.iscoroutinefunction (each call warns); asyncio itself
# uses the private twin, which 3.11-3.13 lack.
_iscoroutinefunction = getattr(coroutines, "_iscoroutinefunction", coroutines.iscoroutinefunction)

logger = logging.getLogger("asyncio")


def _noop_handler(signum, frame):
    """Installed as the Python-level handler; the wakeup fd does the work."""


class _SignalCallback:
    __slots__ = ("callback", "args", "cancelled")

    def __init__(self, callback, args):
        self.callback = callback
        self.args = args
        self.cancelled = False


class SignalMixin:
    """add_signal_handler / remove_signal_handler over a wakeup socket pair."""

    def _init_signals(self):
        self._signal_handlers = {}
        self._ssock = None
        self._csock = None

    def _open_wakeup_pair(self):
        if self._ssock is not None:
            return
        self._ssock, self._csock = socket.socketpair()
        self._ssock.setblocking(False)
        self._csock.setblocking(False)
        self.add_reader(self._ssock.fileno(), self._read_signal_numbers)

    def _close_wakeup_pair(self):
        if self._ssock is None:
            return
        self.remove_reader(self._ssock.fileno())
        self._ssock.close()
        self._csock.close()
        self._ssock = self._csock = None

    def _read_signal_numbers(self):
        while True:
            try:
                data = self._ssock.recv(4096)
            except InterruptedError:
                continue
            except (BlockingIOError, OSError):
                return
            if not data:
                return
            for signum in data:
                self._dispatch_signal(signum)

    def _dispatch_signal(self, signum):
        entry = self._signal_handlers.get(signum)
        if entry is None:
            return
        if entry.cancelled:
            self.remove_signal_handler(signum)
            return
        self.call_soon(entry.callback, *entry.args)

    @staticmethod
    def _check_signal(sig):
        if not isinstance(sig, int):
            raise TypeError(f"sig must be an int, not {sig!r}")
        if sig not in signal.valid_signals():
            raise ValueError(f"invalid signal number {sig}")

    def add_signal_handler(self, sig, callback, *args):
        """Call `callback(*args)` on the loop whenever signal `sig` arrives."""
        if coroutines.iscoroutine(callback) or _iscoroutinefunction(callback):
            raise TypeError("coroutines cannot be used with add_signal_handler()")
        self._check_signal(sig)
        self._check_closed()
        self._open_wakeup_pair()
        try:
            # Raises ValueError when called off the main thread.
            signal.set_wakeup_fd(self._csock.fileno())
        except (ValueError, OSError) as exc:
            raise RuntimeError(str(exc))

        self._signal_handlers[sig] = _SignalCallback(callback, args)
        try:
            signal.signal(sig, _noop_handler)
            # Restart interrupted system calls instead of failing with EINTR.
            signal.siginterrupt(sig, False)
        except OSError as exc:
            del self._signal_handlers[sig]
            if not self._signal_handlers:
                self._release_wakeup_fd()
            if exc.errno == errno.EINVAL:
                raise RuntimeError(f"sig {sig:d} cannot be caught")
            raise

    def _release_wakeup_fd(self):
        try:
            signal.set_wakeup_fd(-1)
        except (ValueError, OSError) as exc:
            logger.info("set_wakeup_fd(-1) failed: %s", exc)

    def remove_signal_handler(self, sig):
        """Restore the default handling of `sig`; True if a handler was removed."""
        self._check_signal(sig)
        entry = self._signal_handlers.pop(sig, None)
        if entry is None:
            return False
        entry.cancelled = True
        handler = signal.default_int_handler if sig == signal.SIGINT else signal.SIG_DFL
        try:
            signal.signal(sig, handler)
        except OSError as exc:
            if exc.errno == errno.EINVAL:
                raise RuntimeError(f"sig {sig:d} cannot be caught")
            raise
        if not self._signal_handlers:
            self._release_wakeup_fd()
        return True

    def _close_signals(self):
        for sig in list(self._signal_handlers):
            if sys.is_finalizing():
                warnings.warn(
                    f"Closing the loop {self!r} on interpreter shutdown "
                    f"stage, skipping signal handlers removal",
                    ResourceWarning,
                    source=self,
                    stacklevel=1,
                )
                self._signal_handlers.clear()
                break
            self.remove_signal_handler(sig)
        self._close_wakeup_pair()
