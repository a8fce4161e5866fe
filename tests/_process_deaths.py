"""Ways for a process-pool worker to die (or to raise `SystemExit`) while it
unpickles its task, runs it, or pickles the result. Module level, so every
start method's workers can import them by name."""

from __future__ import annotations

import ctypes
import faulthandler
import os
import resource
import signal
import sys
import time


def os_exit():
    os._exit(3)


def sigkill():
    os.kill(os.getpid(), signal.SIGKILL)


def segfault():
    # No core file (writing one could take longer than the test allows) and
    # no faulthandler dump (a forked worker inherits pytest's) in the log.
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    faulthandler.disable()
    ctypes.string_at(0)


def system_exit():
    sys.exit(1)


DEATHS = {"os_exit": os_exit, "sigkill": sigkill, "segfault": segfault, "system_exit": system_exit}


class DieWhenUnpickled:
    """An argument whose unpickling (in the worker) runs `DEATHS[how]`."""

    def __init__(self, how):
        self.how = how

    def __reduce__(self):
        return DEATHS[self.how], ()


class DieWhenPickled:
    """A result whose pickling (in the worker) runs `DEATHS[how]`."""

    def __init__(self, how):
        self.how = how

    def __reduce__(self):
        DEATHS[self.how]()
        return DieWhenPickled, (self.how,)


def identity(value):
    return value


def die_running(how):
    DEATHS[how]()


def die_pickling_result(how):
    return DieWhenPickled(how)


def sleep_then(seconds, value):
    time.sleep(seconds)
    return value


def wait_for_file(path, value, timeout=30.0):
    """Blocks until `path` exists (the test creates it to let the call
    finish), then returns `value`."""
    deadline = time.monotonic() + timeout
    while not os.path.exists(path) and time.monotonic() < deadline:
        time.sleep(0.01)
    return value


class ExitWhenUnpickled:
    """A result whose unpickling (in the parent) raises `SystemExit`."""

    def __reduce__(self):
        return sys.exit, (1,)


class FailWhenUnpickled:
    """A result whose unpickling (in the parent) raises an error."""

    def __reduce__(self):
        return _fail, ("cannot rebuild this",)


def _fail(message):
    raise ValueError(message)


def return_instance(cls):
    return cls()


def ignore_sigterm_then_sleep(seconds):
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    time.sleep(seconds)
