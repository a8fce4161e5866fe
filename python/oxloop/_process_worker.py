"""The main loop of an `oxloop.ProcessPoolExecutor` worker process.

Runs in the child: reads task frames from its task pipe, runs each call and
writes back a result frame, until a stop frame, end of file on the task
pipe, or `max_tasks` calls. The framing is Rust (`_core.read_frame`,
`_core.write_frame`); pickling is `pickle`'s.
"""

from __future__ import annotations

import os
import pickle
import traceback
from concurrent.futures import _base

from . import _core

# Frame kinds, as in src/executors/frames.rs.
KIND_TASK = 0
KIND_STOP = 1
KIND_RESULT = 2
KIND_EXCEPTION = 3


def _traceback_text(exc: BaseException) -> str:
    return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))


def _pickled_exception(exc: BaseException) -> bytes:
    """`(exc, its traceback text)` pickled. If `exc` cannot be pickled, the
    error that stopped it is sent instead, as concurrent.futures does; if
    that fails too, the error ends the worker (there too), and the pool
    breaks."""
    try:
        return pickle.dumps((exc, _traceback_text(exc)), pickle.HIGHEST_PROTOCOL)
    except BaseException as err:
        failure = err
    return pickle.dumps((failure, _traceback_text(failure)), pickle.HIGHEST_PROTOCOL)


def _run(payload: bytes) -> tuple[int, bytes]:
    """Runs one task. A task that cannot be unpickled raises out of here and
    ends the worker: the parent sees it exit and breaks the pool, as
    concurrent.futures does. What the call raises, and a result that cannot
    be pickled, go back as the task's exception."""
    fn, args, kwargs = pickle.loads(payload)
    try:
        result = fn(*args, **kwargs)
    except BaseException as exc:
        return KIND_EXCEPTION, _pickled_exception(exc)
    try:
        return KIND_RESULT, pickle.dumps(result, pickle.HIGHEST_PROTOCOL)
    except BaseException as exc:
        return KIND_EXCEPTION, _pickled_exception(exc)


def main(task_fd, result_fd, parent_fds, initializer, initargs, max_tasks) -> None:
    for fd in parent_fds:
        os.close(fd)
    task_fd, result_fd = task_fd.fd, result_fd.fd
    # A process the task starts must not hold the pipes: the parent learns
    # of this worker's death from end of file on its result pipe.
    os.set_inheritable(task_fd, False)
    os.set_inheritable(result_fd, False)
    if initializer is not None:
        try:
            initializer(*initargs)
        except BaseException:
            _base.LOGGER.critical("Exception in initializer:", exc_info=True)
            # Exiting early is how the parent learns: it breaks the pool.
            return
    done = 0
    while max_tasks is None or done < max_tasks:
        frame = _core.read_frame(task_fd)
        if frame is None:
            return
        task_id, kind, payload = frame
        if kind != KIND_TASK:
            return
        kind, data = _run(payload)
        del payload
        try:
            _core.write_frame(result_fd, task_id, kind, data)
        except OSError:
            return  # the parent is gone
        done += 1
