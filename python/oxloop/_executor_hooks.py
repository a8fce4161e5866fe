"""Python helpers the Rust executors call: thread naming, initializer-failure
logging, process start-up, remote tracebacks. Kept tiny; the pools
themselves are in Rust (`src/executors/`)."""

from __future__ import annotations

import threading
import traceback
from concurrent.futures import _base
from concurrent.futures import process as _cf_process
from multiprocessing import reduction

from . import _process_worker


def name_worker_thread(name: str) -> None:
    """Give the calling worker thread its `threading` name, as
    `concurrent.futures` names its threads (``prefix_N``)."""
    threading.current_thread().name = name


def forget_worker_thread() -> None:
    """Drop the exiting worker's entry from `threading`'s thread table."""
    threading._active.pop(threading.get_ident(), None)


def log_initializer_failure(exc: BaseException) -> None:
    """Log a failed initializer the way `concurrent.futures` does."""
    _base.LOGGER.critical("Exception in initializer:", exc_info=exc)


class InheritedFd:
    """A file descriptor handed to a worker process. Started with `fork`
    the child has the same number; pickled for `spawn`/`forkserver` it
    travels through `multiprocessing.reduction.DupFd`, so the start method
    passes it to the child (and under `forkserver`, renumbers it)."""

    def __init__(self, fd: int):
        self.fd = fd

    def __reduce__(self):
        return _rebuild_fd, (reduction.DupFd(self.fd),)


def _rebuild_fd(dup) -> InheritedFd:
    return InheritedFd(dup.detach())


def start_worker_process(
    mp_context, task_fd, result_fd, parent_fds, initializer, initargs, max_tasks
):
    """Start one worker process through `mp_context`'s start method.

    `parent_fds` are the parent's ends of the worker's pipes: a forked child
    closes its copies (else it would keep its own task pipe open)."""
    forked = mp_context.get_start_method() == "fork"
    process = mp_context.Process(
        target=_process_worker.main,
        args=(
            InheritedFd(task_fd),
            InheritedFd(result_fd),
            parent_fds if forked else (),
            initializer,
            initargs,
            max_tasks,
        ),
    )
    process.start()
    return process


def exception_with_remote_traceback(pair):
    """The exception a worker sent, its remote traceback attached as
    `__cause__` the way `concurrent.futures` attaches it."""
    exc, traceback_text = pair
    exc.__cause__ = _cf_process._RemoteTraceback(f'\n"""\n{traceback_text}"""')
    return exc


def pickling_error(exc):
    """A call that could not be pickled: its error, with the traceback of
    the failed pickling as `__cause__`, as `concurrent.futures` reports it."""
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    return exception_with_remote_traceback((exc, text))


def broken_pool_error(message, cause):
    """The `BrokenProcessPool` for the futures of a pool that broke because
    `cause` was raised while a result was read, the formatted `cause` as its
    `__cause__` the way `concurrent.futures` attaches it."""
    error = _cf_process.BrokenProcessPool(message)
    text = "".join(traceback.format_exception(type(cause), cause, cause.__traceback__))
    error.__cause__ = _cf_process._RemoteTraceback(f"\n'''\n{text}'''")
    return error


def abrupt_exits(processes):
    """3.15 (gh-139462): with no exception to blame, a broken pool names the
    workers that ended with a nonzero exit code. `processes` reached end of
    file on their result pipe, so each has exited or is about to."""
    lines = []
    for process in processes:
        process.join(1.0)
        code = process.exitcode
        if code:
            lines.append(f"Process {process.pid} terminated abruptly with exit code {code}")
    return "\n".join(lines) or None


def broken_pool_error_text(message, text):
    """The `BrokenProcessPool` whose `__cause__` carries `text` (`abrupt_exits`)."""
    error = _cf_process.BrokenProcessPool(message)
    error.__cause__ = _cf_process._RemoteTraceback(f"\n'''\n{text}'''")
    return error
