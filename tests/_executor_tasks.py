"""Module-level task functions for the executor tests: picklable by name,
so process-pool workers (any start method) can import them."""

from __future__ import annotations

import os
import signal
import time

_initialized = []


def square(x):
    return x * x


def add(x, y=0, *, z=0):
    return x + y + z


def raise_value_error(message):
    raise ValueError(message)


def sleep_then(seconds, value):
    time.sleep(seconds)
    return value


def sleep_then_raise(seconds):
    time.sleep(seconds)
    raise KeyError("late")


def getpid():
    return os.getpid()


def set_marker(value):
    _initialized.append(value)


def reset_marker():
    _initialized.clear()


def read_marker():
    return list(_initialized)


def failing_initializer():
    raise RuntimeError("initializer failed")


def exit_abruptly():
    os._exit(7)


def kill_self():
    os.kill(os.getpid(), signal.SIGKILL)


def exit_after(seconds):
    time.sleep(seconds)
    os._exit(7)


def kill_self_after(seconds):
    time.sleep(seconds)
    os.kill(os.getpid(), signal.SIGKILL)


def return_lambda():
    return lambda: None


class Unpicklable:
    def __reduce__(self):
        raise TypeError("Unpicklable refuses pickling")


def return_unpicklable():
    return Unpicklable()


class UnpicklableError(Exception):
    def __reduce__(self):
        raise TypeError("this exception refuses pickling")


def raise_unpicklable_error():
    raise UnpicklableError("x")


def identity(x):
    return x


def count_to(n):
    total = 0
    for i in range(n):
        total += i
    return total


def report_then_wait(queue, event):
    queue.put("started")
    event.wait()
    return "finished"


def report_then_wait_value(queue, event, value):
    queue.put(value)
    event.wait()
    return value
