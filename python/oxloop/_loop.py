"""oxloop.Loop: the asyncio event loop whose scheduling core is Rust.

`_core.CoreLoop` owns the ready queue, the timers, the fd table and the one
dispatch loop (`_run_forever_core`). This module adds what asyncio requires
around it and that runs rarely: setting up and tearing down a run, tasks and
futures, the exception handler, async generator finalisation and executors.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import sys
import threading
import traceback
import warnings
import weakref
from asyncio import coroutines, events, format_helpers, futures, tasks

from . import _core, _metrics
from ._executors import ThreadPoolExecutor
from ._network import NetworkMixin
from ._pipes import PipeMixin
from ._signals import SignalMixin
from ._sockets import SocketMixin
from ._subprocess import SubprocessMixin

logger = logging.getLogger("asyncio")

# The raw method descriptor `_bind_call_soon` binds.
_CORE_CALL_SOON = _core.CoreLoop.__dict__["call_soon"]

# asyncio.constants.DEBUG_STACK_DEPTH: frames kept for coroutine origins.
_DEBUG_STACK_DEPTH = 10


def _stop_when_done(fut):
    """Done-callback of the future `run_until_complete` waits for."""
    if not fut.cancelled():
        exc = fut.exception()
        if isinstance(exc, (SystemExit, KeyboardInterrupt)):
            # run_forever() is already unwinding with this exception.
            return
    futures._get_loop(fut).stop()


def _format_handle(handle):
    """A handle's text for slow-callback warnings; a task's step shows the task."""
    cb = handle._callback
    owner = getattr(cb, "__self__", None)
    if isinstance(owner, tasks.Task):
        return repr(owner)
    return str(handle)


class Loop(
    NetworkMixin,
    PipeMixin,
    SubprocessMixin,
    SocketMixin,
    SignalMixin,
    _core.CoreLoop,
    asyncio.AbstractEventLoop,
):
    """An asyncio event loop implemented in Rust."""

    def __init__(self):
        self._reset_clock()  # a subclass's own time() is the clock it goes by
        self._default_executor = None
        self._executor_shutdown_called = False
        self._exception_handler = None
        self._asyncgens = weakref.WeakSet()
        self._asyncgens_shutdown_called = False
        self._coroutine_origin_tracking_enabled = False
        self._coroutine_origin_tracking_saved_depth = None
        self._current_handle = None
        SignalMixin._init_signals(self)
        self._init_network()
        self.set_debug(coroutines._is_debug_mode())
        _metrics.new_loop_created(self)  # OXLOOP_METRICS=1, python -m oxloop --stats

    def __repr__(self):
        return (
            f"<{type(self).__name__} running={self.is_running()} "
            f"closed={self.is_closed()} debug={self.get_debug()}>"
        )

    def __del__(self, _warn=warnings.warn):
        if not self.is_closed():
            _warn(f"unclosed event loop {self!r}", ResourceWarning, source=self)
            if not self.is_running():
                self.close()

    # -- running and stopping -------------------------------------------------

    def _check_running(self):
        if self.is_running():
            raise RuntimeError("This event loop is already running")
        if events._get_running_loop() is not None:
            raise RuntimeError("Cannot run the event loop while another loop is running")

    def run_forever(self):
        """Run until stop() is called."""
        self._check_closed()
        self._check_running()
        self._set_coroutine_origin_tracking(self.get_debug())
        old_hooks = sys.get_asyncgen_hooks()
        sys.set_asyncgen_hooks(
            firstiter=self._asyncgen_firstiter_hook,
            finalizer=self._asyncgen_finalizer_hook,
        )
        events._set_running_loop(self)
        shortcut = None
        try:
            shortcut = self._bind_call_soon()
            self._run_forever_core()
        finally:
            if shortcut is not None and self.call_soon is shortcut:
                del self.call_soon
            events._set_running_loop(None)
            self._set_coroutine_origin_tracking(False)
            sys.set_asyncgen_hooks(*old_hooks)

    def _bind_call_soon(self):
        """Keeps a bound `call_soon` in the instance dict while the loop runs.

        The C Future and Task look up `loop.call_soon` for every callback they
        schedule (each task step, each future's done callbacks), and the
        lookup makes a new bound-method object each time unless the instance
        dict holds one. That was ~600 instructions of a 1 KiB streams echo
        request. The entry exists only during a run (it is a reference cycle)
        and only if neither a subclass nor the caller replaced `call_soon`.
        (`self.__dict__` is not touched: that would turn the instance's inline
        attribute values into a dict, and every attribute lookup gets slower.)
        """
        bound = _CORE_CALL_SOON.__get__(self, type(self))
        if bound != self.call_soon:
            return None
        self.call_soon = bound
        return bound

    def run_until_complete(self, future):
        """Run until the future (or coroutine, wrapped in a task) is done."""
        self._check_closed()
        self._check_running()
        new_task = not futures.isfuture(future)
        future = tasks.ensure_future(future, loop=self)
        if new_task:
            # The caller cannot see this task, so an error in it is reported here.
            future._log_destroy_pending = False
        future.add_done_callback(_stop_when_done)
        try:
            self.run_forever()
        except BaseException:
            if new_task and future.done() and not future.cancelled():
                # Mark the exception retrieved: it is propagating right now.
                future.exception()
            raise
        finally:
            future.remove_done_callback(_stop_when_done)
        if not future.done():
            raise RuntimeError("Event loop stopped before Future completed.")
        return future.result()

    @property
    def _closed(self):
        # asyncio's and uvloop's loops have this attribute; code written against
        # them reads it.
        return self.is_closed()

    def close(self):
        """Close the loop: drop pending callbacks, release the executor."""
        if self.is_running():
            raise RuntimeError("Cannot close a running event loop")
        if self.is_closed():
            return
        if self.get_debug():
            logger.debug("Close %r", self)
        self._close_signals()
        self._close_core()
        # The loop's references to its transports go with the loop, as asyncio's
        # selector drops them: one the program never closed warns when freed.
        for transport in self._transports.values():
            transport._loop_closed()
        self._transports.clear()
        for objs in self._io_fileobjs:
            objs.clear()
        executor = self._default_executor
        if executor is not None:
            self._default_executor = None
            executor.shutdown(wait=False)

    # -- debug ------------------------------------------------------------------

    def set_debug(self, enabled):
        self._set_debug_flag(bool(enabled))
        if self.is_running():
            self.call_soon_threadsafe(self._set_coroutine_origin_tracking, bool(enabled))

    def _set_coroutine_origin_tracking(self, enabled):
        if bool(enabled) == bool(self._coroutine_origin_tracking_enabled):
            return
        if enabled:
            self._coroutine_origin_tracking_saved_depth = sys.get_coroutine_origin_tracking_depth()
            sys.set_coroutine_origin_tracking_depth(_DEBUG_STACK_DEPTH)
        else:
            sys.set_coroutine_origin_tracking_depth(self._coroutine_origin_tracking_saved_depth)
        self._coroutine_origin_tracking_enabled = enabled

    def _log_slow_callback(self, handle, seconds):
        logger.warning("Executing %s took %.3f seconds", _format_handle(handle), seconds)

    # -- futures and tasks --------------------------------------------------------

    # create_future, create_task, set_task_factory and get_task_factory are
    # implemented by _core.CoreLoop.

    # -- errors -----------------------------------------------------------------------

    def get_exception_handler(self):
        return self._exception_handler

    def set_exception_handler(self, handler):
        if handler is not None and not callable(handler):
            raise TypeError(f"A callable object or None is expected, got {handler!r}")
        self._exception_handler = handler

    def default_exception_handler(self, context):
        """Log `context` to the 'asyncio' logger, in asyncio's format."""
        message = context.get("message") or "Unhandled exception in event loop"
        exception = context.get("exception")
        if exception is not None:
            exc_info = (type(exception), exception, exception.__traceback__)
        else:
            exc_info = False

        current = self._current_handle
        if "source_traceback" not in context and current is not None and current._source_traceback:
            context["handle_traceback"] = current._source_traceback

        lines = [message]
        for key in sorted(context):
            if key in ("message", "exception"):
                continue
            value = context[key]
            if key == "source_traceback":
                stack = "".join(traceback.format_list(value)).rstrip()
                value = "Object created at (most recent call last):\n" + stack
            elif key == "handle_traceback":
                stack = "".join(traceback.format_list(value)).rstrip()
                value = "Handle created at (most recent call last):\n" + stack
            else:
                value = repr(value)
            lines.append(f"{key}: {value}")
        logger.error("\n".join(lines), exc_info=exc_info)

    def call_exception_handler(self, context):
        """Pass `context` to the installed handler, or to the default one."""
        if self._exception_handler is None:
            try:
                self.default_exception_handler(context)
            except (SystemExit, KeyboardInterrupt):
                raise
            except BaseException:
                logger.error("Exception in default exception handler", exc_info=True)
            return
        try:
            self._exception_handler(self, context)
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            try:
                self.default_exception_handler(
                    {
                        "message": "Unhandled error in exception handler",
                        "exception": exc,
                        "context": context,
                    }
                )
            except (SystemExit, KeyboardInterrupt):
                raise
            except BaseException:
                logger.error(
                    "Exception in default exception handler while handling an "
                    "unexpected error in custom exception handler",
                    exc_info=True,
                )

    def _handle_callback_error(self, handle, exc):
        """Called by the dispatch loop when a callback raised `exc`."""
        source = format_helpers._format_callback_source(handle._callback, handle._args)
        context = {
            "message": f"Exception in callback {source}",
            "exception": exc,
            "handle": handle,
        }
        if handle._source_traceback:
            context["source_traceback"] = handle._source_traceback
        self.call_exception_handler(context)

    # -- async generators ---------------------------------------------------------------

    def _asyncgen_firstiter_hook(self, agen):
        if self._asyncgens_shutdown_called:
            warnings.warn(
                f"asynchronous generator {agen!r} was scheduled after "
                f"loop.shutdown_asyncgens() call",
                ResourceWarning,
                source=self,
                stacklevel=1,
            )
        self._asyncgens.add(agen)

    def _asyncgen_finalizer_hook(self, agen):
        self._asyncgens.discard(agen)
        if not self.is_closed():
            self.call_soon_threadsafe(self.create_task, agen.aclose())

    async def shutdown_asyncgens(self):
        """Close every async generator still open on this loop."""
        self._asyncgens_shutdown_called = True
        if not len(self._asyncgens):
            return
        open_agens = list(self._asyncgens)
        self._asyncgens.clear()
        results = await tasks.gather(
            *[agen.aclose() for agen in open_agens], return_exceptions=True
        )
        for result, agen in zip(results, open_agens, strict=True):
            if isinstance(result, Exception):
                self.call_exception_handler(
                    {
                        "message": "an error occurred during closing of "
                        f"asynchronous generator {agen!r}",
                        "exception": result,
                        "asyncgen": agen,
                    }
                )

    # -- executors ------------------------------------------------------------------------

    def run_in_executor(self, executor, func, *args):
        self._check_closed()
        if self.get_debug():
            self._check_callback_py(func, "run_in_executor")
        if executor is None:
            executor = self._default_executor
            if executor is None:
                if self._executor_shutdown_called:
                    raise RuntimeError("Executor shutdown has been called")
                executor = ThreadPoolExecutor(thread_name_prefix="asyncio")
                self._default_executor = executor
        return futures.wrap_future(executor.submit(func, *args), loop=self)

    def set_default_executor(self, executor):
        # oxloop.ThreadPoolExecutor subclasses concurrent.futures.ThreadPoolExecutor,
        # so both kinds pass this check.
        if not isinstance(executor, concurrent.futures.ThreadPoolExecutor):
            raise TypeError("executor must be ThreadPoolExecutor instance")
        self._default_executor = executor

    @staticmethod
    def _check_callback_py(callback, method):
        if coroutines.iscoroutine(callback) or coroutines.iscoroutinefunction(callback):
            raise TypeError(f"coroutines cannot be used with {method}()")
        if not callable(callback):
            raise TypeError(f"a callable object was expected by {method}(), got {callback!r}")

    async def shutdown_default_executor(self, timeout=None):
        """Wait for the default executor's work to finish, then shut it down."""
        self._executor_shutdown_called = True
        executor = self._default_executor
        if executor is None:
            return
        done = self.create_future()
        thread = threading.Thread(target=self._shutdown_executor, args=(executor, done))
        thread.start()
        try:
            await done
        finally:
            thread.join(timeout)
        if thread.is_alive():
            warnings.warn(
                f"The executor did not finishing joining its threads within {timeout} seconds.",
                RuntimeWarning,
                stacklevel=2,
            )
            executor.shutdown(wait=False)

    def _shutdown_executor(self, executor, done):
        try:
            executor.shutdown(wait=True)
            if not self.is_closed():
                self.call_soon_threadsafe(_set_result_unless_done, done, None)
        except Exception as ex:
            if not self.is_closed():
                self.call_soon_threadsafe(_set_exception_unless_done, done, ex)

    # -- name resolution --------------------------------------------------------------------

    async def getaddrinfo(self, host, port, *, family=0, type=0, proto=0, flags=0):
        import socket

        return await self.run_in_executor(
            None, socket.getaddrinfo, host, port, family, type, proto, flags
        )

    async def getnameinfo(self, sockaddr, flags=0):
        import socket

        return await self.run_in_executor(None, socket.getnameinfo, sockaddr, flags)


def _set_result_unless_done(fut, result):
    if not fut.done():
        fut.set_result(result)


def _set_exception_unless_done(fut, exc):
    if not fut.done():
        fut.set_exception(exc)
