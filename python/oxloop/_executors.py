"""`oxloop.ThreadPoolExecutor` and `oxloop.ProcessPoolExecutor`: drop-in
`concurrent.futures` executors whose queues, dispatch and workers are Rust.

Each class derives from the Rust core (`_core.ThreadPoolExecutor`,
`_core.ProcessPoolExecutor`) and from the matching `concurrent.futures` class, so
`isinstance(pool, concurrent.futures.ThreadPoolExecutor)` holds (asyncio's
`set_default_executor` checks it) and `map` and the context manager come from
`concurrent.futures.Executor`. Nothing of the stdlib class's machinery runs:
the Rust core's `submit`/`shutdown` come first in the MRO and its
`__init__` is never called.
"""

from __future__ import annotations

import itertools
import multiprocessing as _mp
import os
import sys
import threading
from concurrent.futures import _base as _cf_base
from concurrent.futures import process as _cf_process
from concurrent.futures import thread as _cf_thread
from functools import partial

from . import _core
from ._future import Future
from ._worker_processes import WorkerProcesses

__all__ = ["Future", "ProcessPoolExecutor", "ThreadPoolExecutor"]


def _default_thread_workers() -> int:
    return min(32, (os.cpu_count() or 1) + 4)


class ThreadPoolExecutor(_core.ThreadPoolExecutor, _cf_thread.ThreadPoolExecutor):
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

    submit = _core.ThreadPoolExecutor.submit
    shutdown = _core.ThreadPoolExecutor.shutdown

    def __repr__(self):
        return (
            f"<{type(self).__module__}.{type(self).__qualname__} "
            f"max_workers={self._max_workers} live={self._live_workers}>"
        )


def _run_chunk(fn, chunk):
    return [fn(*args) for args in chunk]


def _chunks(iterables, chunksize):
    items = zip(*iterables, strict=False)
    while chunk := tuple(itertools.islice(items, chunksize)):
        yield chunk


def _take(results, index):
    item = results[index]
    results[index] = None
    return item


def _each_result(chunk_results):
    """The items of each chunk's result list in order, each slot cleared as
    it is yielded and no local left holding it: the iterator keeps no
    reference to a result the caller has let go of (the list itself stays
    reachable from its future)."""
    for results in chunk_results:
        for index in range(len(results)):
            yield _take(results, index)


class ProcessPoolExecutor(_core.ProcessPoolExecutor, _cf_process.ProcessPoolExecutor):
    """A process pool with the API of `concurrent.futures.ProcessPoolExecutor`.

    Workers start through `mp_context`'s start method (default: the default
    context, ``spawn`` when `max_tasks_per_child` is given, as CPython 3.11)."""

    def __init__(
        self,
        max_workers=None,
        mp_context=None,
        initializer=None,
        initargs=(),
        *,
        max_tasks_per_child=None,
    ):
        if max_workers is None:
            max_workers = os.cpu_count() or 1
        elif max_workers <= 0:
            raise ValueError("max_workers must be greater than 0")
        if mp_context is None:
            mp_context = _mp.get_context("spawn" if max_tasks_per_child is not None else None)
        if initializer is not None and not callable(initializer):
            raise TypeError("initializer must be a callable")
        if max_tasks_per_child is not None:
            if not isinstance(max_tasks_per_child, int):
                raise TypeError("max_tasks_per_child must be an integer")
            if max_tasks_per_child <= 0:
                raise ValueError("max_tasks_per_child must be >= 1")
            if mp_context.get_start_method(allow_none=False) == "fork":
                raise ValueError(
                    "max_tasks_per_child is incompatible with the 'fork' "
                    "multiprocessing start method; supply a different mp_context."
                )
        self._mp_context = mp_context
        self._max_tasks_per_child = max_tasks_per_child
        # Under fork every worker starts at the first submit, as with
        # concurrent.futures (forking later would copy the pool's I/O thread).
        prespawn = mp_context.get_start_method(allow_none=False) == "fork"
        self._configure(
            max_workers, mp_context, initializer, tuple(initargs), max_tasks_per_child, prespawn
        )
        self._processes = WorkerProcesses(self)

    submit = _core.ProcessPoolExecutor.submit
    shutdown = _core.ProcessPoolExecutor.shutdown

    if sys.version_info >= (3, 14):
        # 3.14 added `buffersize=` to `Executor.map` (at most that many calls
        # submitted and not yet yielded; here: chunks).
        def map(self, fn, *iterables, timeout=None, chunksize=1, buffersize=None):
            """`Executor.map`, sending `chunksize` calls per task."""
            if chunksize < 1:
                raise ValueError("chunksize must be >= 1.")
            results = _cf_base.Executor.map(
                self,
                partial(_run_chunk, fn),
                _chunks(iterables, chunksize),
                timeout=timeout,
                buffersize=buffersize,
            )
            return _each_result(results)

        # 3.14 added `terminate_workers()` and `kill_workers()`; stdlib's
        # versions (inherited) call this with `operation=` one of the two.
        def _force_shutdown(self, operation):
            """Shuts the pool down without waiting (queued calls cancelled),
            then terminates or kills each worker still alive: the calls they
            were running fail with `BrokenProcessPool`."""
            if operation not in _cf_process._SHUTDOWN_CALLBACK_OPERATION:
                raise ValueError(f"Unsupported operation: {operation!r}")
            # Queued calls are cancelled first: with none left, no worker
            # retiring at max_tasks_per_child is replaced, so none escapes.
            self.shutdown(wait=False, cancel_futures=True)
            workers = list(self._processes.values())
            for process in workers:
                try:
                    if not process.is_alive():
                        continue
                    if operation == _cf_process._TERMINATE:
                        process.terminate()
                    else:
                        process.kill()
                except (ValueError, ProcessLookupError):
                    continue  # already exited (and maybe closed)

    else:

        def map(self, fn, *iterables, timeout=None, chunksize=1):
            """`Executor.map`, sending `chunksize` calls per task."""
            if chunksize < 1:
                raise ValueError("chunksize must be >= 1.")
            results = _cf_base.Executor.map(
                self, partial(_run_chunk, fn), _chunks(iterables, chunksize), timeout=timeout
            )
            return _each_result(results)

    def __repr__(self):
        return (
            f"<{type(self).__module__}.{type(self).__qualname__} "
            f"max_workers={self._max_workers} processes={len(self._processes)}>"
        )


def _python_exit():
    _core.executors_at_exit()


threading._register_atexit(_python_exit)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_core.executors_after_fork_in_child)
