"""`oxloop.ThreadPoolExecutor` and `oxloop.ProcessPoolExecutor`: drop-in
`concurrent.futures` executors whose queues, dispatch and workers are Rust.

Each class derives from the Rust core (`_core.ThreadPool`,
`_core.ProcessPool`) and from the matching `concurrent.futures` class, so
`isinstance(pool, concurrent.futures.ThreadPoolExecutor)` holds (asyncio's
`set_default_executor` checks it) and `map` and the context manager come from
`concurrent.futures.Executor`. Nothing of the stdlib class's machinery runs:
the Rust core's `submit`/`shutdown` come first in the MRO and its
`__init__` is never called.
"""

from __future__ import annotations

import itertools
import os
import threading
from concurrent.futures import thread as _cf_thread

from . import _core

__all__ = ["ThreadPoolExecutor"]


def _default_thread_workers() -> int:
    return min(32, (os.cpu_count() or 1) + 4)


class ThreadPoolExecutor(_core.ThreadPool, _cf_thread.ThreadPoolExecutor):
    """A thread pool with the API of `concurrent.futures.ThreadPoolExecutor`."""

    _counter = itertools.count().__next__

    def __init__(self, max_workers=None, thread_name_prefix="", initializer=None, initargs=()):
        if max_workers is None:
            max_workers = _default_thread_workers()
        if max_workers <= 0:
            raise ValueError("max_workers must be greater than 0")
        if initializer is not None and not callable(initializer):
            raise TypeError("initializer must be a callable")
        prefix = thread_name_prefix or f"ThreadPoolExecutor-{self._counter()}"
        self._thread_name_prefix = prefix
        self._configure(max_workers, prefix, initializer, tuple(initargs))

    submit = _core.ThreadPool.submit
    shutdown = _core.ThreadPool.shutdown

    def __repr__(self):
        return (
            f"<{type(self).__module__}.{type(self).__qualname__} "
            f"max_workers={self._max_workers} live={self._live_workers}>"
        )


def _python_exit():
    _core.executors_at_exit()


threading._register_atexit(_python_exit)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_core.executors_after_fork_in_child)
