"""Differential suite for `oxloop._future.Future`, the future both oxloop pools
return: the same programs drive `concurrent.futures.Future` and oxloop's
(created directly, or by the matching pools) and must give the same
transcript. Races are run many times and summarised by what must hold
whatever the interleaving (one winner, every callback called once)."""

from __future__ import annotations

import asyncio
import concurrent.futures as cf
import gc
import logging
import re
import sys
import threading
import time
from concurrent.futures import _base

import oxloop
import pytest
from oxloop._future import Future as OxFuture

KINDS = {"cf": (cf.Future, cf.ThreadPoolExecutor), "oxloop": (OxFuture, oxloop.ThreadPoolExecutor)}


class Stop(BaseException):
    """A BaseException a callback raises: it must propagate, not be logged."""


def outcome(fn, *args, **kwargs):
    """("ok", value) or ("raise", type name, message without addresses)."""
    try:
        value = fn(*args, **kwargs)
    except BaseException as exc:  # noqa: BLE001 - the transcript records anything
        return ("raise", type(exc).__name__, re.sub(r"0x[0-9a-f]+", "0x?", str(exc)))
    if isinstance(value, BaseException):
        return ("ok", type(value).__name__, value.args)
    return ("ok", value)


def state(f):
    return (f._state, f.done(), f.running(), f.cancelled())


def shown(f):
    return re.sub(r"0x[0-9a-f]+", "0x?", repr(f))


def compare(program, **kwargs):
    expected = program(*KINDS["cf"], **kwargs)
    actual = program(*KINDS["oxloop"], **kwargs)
    assert actual == expected
    return actual


# -- the state machine, driven directly ----------------------------------------------------


def prog_lifecycle_result(make, _pool):
    f = make()
    log = [state(f), shown(f)]
    log.append(outcome(f.set_running_or_notify_cancel))
    log += [state(f), shown(f), outcome(f.cancel), state(f)]
    log.append(outcome(f.set_result, 42))
    log += [state(f), shown(f), outcome(f.result), outcome(f.result, 0), outcome(f.exception)]
    log += [outcome(f.set_result, 1), outcome(f.set_exception, ValueError()), outcome(f.cancel)]
    log += [outcome(f.set_running_or_notify_cancel), outcome(f.result, timeout=0), state(f)]
    return log


def prog_lifecycle_exception(make, _pool):
    f = make()
    log = [outcome(f.set_exception, KeyError("k")), state(f), shown(f)]
    log += [outcome(f.result), outcome(f.exception), outcome(f.exception, timeout=1)]
    log += [outcome(f.set_result, 1), outcome(f.set_exception, KeyError())]
    exc = f.exception()
    log.append((type(exc).__name__, exc.args))
    return log


def prog_refusals_without_condition(make, _pool):
    """Invalid transitions on futures nobody has waited on or shown."""
    log = []
    for first in ("result", "exception", "cancel", "notify"):
        for second in ("set_result", "set_exception", "cancel", "notify"):
            f = make()
            if first == "result":
                f.set_result(1)
            elif first == "exception":
                f.set_exception(KeyError("first"))
            elif first == "cancel":
                f.cancel()
            else:
                f.set_running_or_notify_cancel()
            if second == "set_result":
                log.append(outcome(f.set_result, 2))
            elif second == "set_exception":
                log.append(outcome(f.set_exception, KeyError("second")))
            elif second == "cancel":
                log.append(outcome(f.cancel))
            else:
                log.append(outcome(f.set_running_or_notify_cancel))
            log += [f._state, outcome(f.result, 0), outcome(f.exception, 0)]
    return log


def prog_cancel_then_notify(make, _pool):
    f = make()
    log = [outcome(f.cancel), state(f), shown(f), outcome(f.cancel)]
    log += [outcome(f.result, 0), outcome(f.exception, 0)]
    log += [outcome(f.set_running_or_notify_cancel), state(f), outcome(f.cancel)]
    log += [outcome(f.set_result, 1), outcome(f.set_exception, KeyError()), state(f)]
    log.append(outcome(f.set_running_or_notify_cancel))
    return log


def prog_unexpected_state(make, _pool):
    f = make()
    f.set_result(None)
    finished = outcome(f.set_running_or_notify_cancel)
    g = make()
    g.set_running_or_notify_cancel()
    return [finished, outcome(g.set_running_or_notify_cancel), state(g)]


def prog_odd_values(make, _pool):
    """Values a fast path must hand to the stdlib code: a falsy exception,
    an exception class, a non-exception stored as the exception."""

    class Falsy(Exception):
        def __bool__(self):
            return False

    log = []
    for stored in (Falsy("f"), ValueError, "text", None):
        f = make()
        f.set_exception(stored)
        log += [outcome(f.result), outcome(f.exception), f.done()]
    return log


def prog_argument_errors(make, _pool):
    f = make()
    return [
        outcome(f.result, 1, 2),
        outcome(f.result, nope=1),
        outcome(f.set_result),
        outcome(f.set_result, 1, 2),
        outcome(f.done, 1),
        outcome(f.cancel, 1),
        outcome(f.add_done_callback),
        outcome(f.set_result, result=5),
        state(f),
        outcome(f.result, timeout=0),
    ]


def prog_assigned_state(make, _pool):
    """concurrent.futures' own tests build futures by assigning the state."""
    log = []
    for st, exc, res in [
        (_base.PENDING, None, None),
        (_base.RUNNING, None, None),
        (_base.CANCELLED, None, None),
        (_base.CANCELLED_AND_NOTIFIED, None, None),
        (_base.FINISHED, OSError("x"), None),
        (_base.FINISHED, None, 42),
    ]:
        f = make()
        f._state, f._exception, f._result = st, exc, res
        log += [state(f), shown(f), outcome(f.result, 0), outcome(f.exception, 0)]
    return log


def prog_lazy_attributes(make, _pool):
    f = make()
    cond = f._condition
    log = [type(cond).__name__, f._condition is cond, f._waiters, f._done_callbacks]
    with f._condition:
        f.set_running_or_notify_cancel()
    f.set_result(3)
    return log + [state(f), f.result()]


# -- callbacks -----------------------------------------------------------------------------


def prog_callbacks(make, _pool):
    seen = []
    f = make()
    f.add_done_callback(lambda g: seen.append(("first", g is f, g.result())))
    f.add_done_callback(lambda g: seen.append(("second", g.done())))
    f.add_done_callback(lambda g: g.add_done_callback(lambda h: seen.append("nested")))
    seen.append("before")
    f.set_result(7)
    seen.append("after")
    f.add_done_callback(lambda g: seen.append(("late", g.result())))
    c = make()
    c.add_done_callback(lambda g: seen.append(("cancelled", g.cancelled())))
    c.cancel()
    c.add_done_callback(lambda g: seen.append(("late-cancelled", g.cancelled())))
    e = make()
    e.add_done_callback(lambda g: seen.append(("exc", type(g.exception()).__name__)))
    e.set_exception(OSError())
    return seen


def prog_callback_errors(make, _pool, caplog):
    log = []
    with caplog.at_level(logging.ERROR, logger="concurrent.futures"):
        f = make()
        f.add_done_callback(lambda g: 1 / 0)
        f.add_done_callback(lambda g: log.append("still runs"))
        log.append(outcome(f.set_result, 1))
        log.append(outcome(f.add_done_callback, lambda g: [][0]))
    records = [(r.levelname, r.getMessage()[:30], r.exc_info[0].__name__) for r in caplog.records]
    caplog.clear()
    log.append(records)
    g = make()
    g.add_done_callback(lambda h: (_ for _ in ()).throw(Stop("stop")))
    g.add_done_callback(lambda h: log.append("skipped?"))
    log.append(outcome(g.set_result, 2))
    log += [state(g), outcome(g.result)]
    log.append(outcome(g.add_done_callback, lambda h: (_ for _ in ()).throw(Stop("late"))))
    c = make()
    c.add_done_callback(lambda h: (_ for _ in ()).throw(Stop("cancel")))
    log += [outcome(c.cancel), state(c)]
    return log


# -- other threads, wait and as_completed ----------------------------------------------------


def later(delay, fn, *args):
    timer = threading.Timer(delay, fn, args)
    timer.start()
    return timer


def prog_result_from_another_thread(make, _pool):
    log = []
    f = make()
    later(0.05, f.set_result, "late")
    log.append(outcome(f.result, timeout=5))
    g = make()
    log.append(outcome(g.result, timeout=0.05))
    log.append(outcome(g.exception, timeout=0.01))
    later(0.05, g.set_exception, KeyError("k"))
    log.append(outcome(g.exception, 5))
    h = make()
    later(0.05, h.cancel)
    log.append(outcome(h.result, timeout=5))
    w = make()
    later(0.05, w.set_running_or_notify_cancel)
    t = later(0.1, w.set_result, 9)
    log.append(outcome(w.result))
    t.join()
    return log


def prog_wait(make, pool):
    log = []
    with pool(max_workers=2) as ex:
        done_f = make()
        done_f.set_result(1)
        cancelled = make()
        cancelled.cancel()
        notified = make()
        notified.cancel()
        notified.set_running_or_notify_cancel()
        slow = ex.submit(time.sleep, 0.3)
        quick = ex.submit(pow, 2, 5)
        failing = ex.submit(pow, 2, "x")
        d, nd = cf.wait([quick, slow], return_when=cf.FIRST_COMPLETED, timeout=5)
        log.append((quick in d, slow in nd))
        d, nd = cf.wait([done_f, cancelled, notified, slow], return_when=cf.FIRST_COMPLETED)
        log.append((sorted(map(id, d)) == sorted(map(id, [done_f, notified])), len(nd)))
        d, nd = cf.wait([slow, failing], return_when=cf.FIRST_EXCEPTION, timeout=5)
        log.append((failing in d, slow in nd))
        pending = make()
        d, nd = cf.wait([pending, quick], timeout=0.05)
        log.append((len(d), len(nd), pending in nd))
        later(0.05, pending.set_result, 3)
        d, nd = cf.wait([pending, slow, quick, failing], return_when=cf.ALL_COMPLETED, timeout=5)
        log.append((len(d), len(nd)))
        tail = make()
        later(0.05, tail.cancel)
        d, nd = cf.wait([tail, cancelled], timeout=0.2)
        log.append((tail in nd, cancelled in nd, tail.cancelled()))
        tail.set_running_or_notify_cancel()
        d, nd = cf.wait([tail], timeout=5)
        log.append(tail in d)
        log.append([len(f._waiters) for f in (pending, slow, quick, tail)])
    return log


def prog_as_completed(make, pool):
    log = []
    with pool(max_workers=3) as ex:
        fs = [ex.submit(time.sleep, d) for d in (0.2, 0.0, 0.1)]
        done_f = make()
        done_f.set_result("pre")
        order = [f for f in cf.as_completed(fs + [done_f], timeout=5)]
        log.append([fs.index(f) for f in order if f in fs])
        log.append(order.index(done_f) < 2)
        stuck = make()
        got = []
        try:
            for f in cf.as_completed([stuck, fs[0]], timeout=0.05):
                got.append(f is fs[0])
        except cf.TimeoutError as exc:
            got.append(("timeout", str(exc)))
        log.append(got)
        later(0.05, stuck.set_result, 1)
        log.append([f.result() for f in cf.as_completed([stuck], timeout=5)])
        cancelled = make()
        later(0.05, cancelled.cancel)
        later(0.1, cancelled.set_running_or_notify_cancel)
        log.append([f.cancelled() for f in cf.as_completed([cancelled], timeout=5)])
        log.append([len(f._waiters) for f in fs + [stuck, cancelled]])
    return log


# -- the pools' futures ---------------------------------------------------------------------


def prog_pool_futures(make, pool):
    log = []
    with pool(max_workers=2) as ex:
        gate = threading.Event()
        blocker = ex.submit(gate.wait, 5)
        blocker2 = ex.submit(gate.wait, 5)
        queued = ex.submit(pow, 2, 3)
        seen = []
        queued.add_done_callback(lambda f: seen.append(f.cancelled()))
        time.sleep(0.05)
        log += [state(blocker)[1:], state(queued), outcome(queued.cancel), state(queued)]
        log.append(outcome(blocker.cancel))
        gate.set()
        log += [outcome(blocker.result, 5), outcome(blocker2.result, 5)]
        log += [outcome(queued.result, 5), seen]
        f = ex.submit(pow, 3, 2)
        late = []
        f.add_done_callback(late.append)
        log += [outcome(f.result, 5), len(late), state(f), shown(f)]
        e = ex.submit(pow, 2, "x")
        log += [outcome(e.exception, 5), outcome(e.result)]
    return log


def prog_wrap_future(make, pool):
    async def main(ex):
        loop = asyncio.get_running_loop()
        log = [await asyncio.wrap_future(ex.submit(pow, 2, 10))]
        try:
            await asyncio.wrap_future(ex.submit(pow, 2, "x"))
        except TypeError as exc:
            log.append(type(exc).__name__)
        gate = threading.Event()
        running = ex.submit(gate.wait, 5)
        source = ex.submit(pow, 5, 2)
        wrapped = asyncio.wrap_future(source)
        wrapped.cancel()
        await asyncio.sleep(0.05)
        gate.set()
        log.append((wrapped.cancelled(), source.cancelled(), running.result(5)))
        direct = make()
        wrapped = asyncio.wrap_future(direct)
        loop.call_later(0.02, direct.set_result, "direct")
        log.append(await asyncio.wait_for(wrapped, 5))
        other = make()
        threading.Timer(0.02, other.set_result, ("thread",)).start()
        log.append(await asyncio.wrap_future(other))
        cancelled_source = make()
        wrapped = asyncio.wrap_future(cancelled_source)
        loop.call_later(0.02, cancelled_source.cancel)
        try:
            await wrapped
        except asyncio.CancelledError:
            log.append("cancelled")
        log.append(await loop.run_in_executor(ex, pow, 3, 3))
        return log

    with pool(max_workers=1) as ex:
        return oxloop.run(main(ex))


PROGRAMS = [
    prog_lifecycle_result,
    prog_lifecycle_exception,
    prog_refusals_without_condition,
    prog_cancel_then_notify,
    prog_unexpected_state,
    prog_odd_values,
    prog_argument_errors,
    prog_assigned_state,
    prog_lazy_attributes,
    prog_callbacks,
    prog_result_from_another_thread,
    prog_wait,
    prog_as_completed,
    prog_pool_futures,
    prog_wrap_future,
]


@pytest.mark.parametrize("program", PROGRAMS, ids=lambda p: p.__name__[5:])
def test_future_program(program):
    compare(program)


def test_callback_errors(caplog):
    log = compare(prog_callback_errors, caplog=caplog)
    assert log[3] == [
        ("ERROR", "exception calling callback for", "ZeroDivisionError"),
        ("ERROR", "exception calling callback for", "IndexError"),
    ]


def test_is_a_concurrent_futures_future():
    f = OxFuture()
    assert isinstance(f, cf.Future)
    assert type(f).__name__ == "Future"
    assert f.__dict__ == {}
    assert oxloop._executors.Future is OxFuture


def test_subclass_takes_the_stdlib_paths():
    calls = []

    class Traced(OxFuture):
        def set_result(self, result):
            calls.append(result)
            super().set_result(result)

    f = Traced()
    f.add_done_callback(lambda g: calls.append("cb"))
    f.set_result(5)
    assert f.result() == 5 and f.done() and calls == [5, "cb"]
    assert f._lazy_condition is not None


# -- races ------------------------------------------------------------------------------------


def race_cancel_vs_run(make, rounds):
    """A worker runs each future while the main thread cancels it: exactly
    one side wins and the callback runs once."""
    wins = {"cancelled": 0, "ran": 0}
    bad = []
    for i in range(rounds):
        f = make()
        calls = []
        f.add_done_callback(calls.append)
        start = threading.Barrier(2)

        def run(f=f, start=start):
            start.wait()
            if f.set_running_or_notify_cancel():
                f.set_result(1)

        t = threading.Thread(target=run)
        t.start()
        start.wait()
        if i % 3 == 0:
            f._condition  # half the rounds on the stdlib paths  # noqa: B018
        cancelled = f.cancel()
        t.join()
        ok = f.done() and len(calls) == 1 and cancelled == f.cancelled()
        ok = ok and (f.result() == 1 if not cancelled else f._state == _base.CANCELLED_AND_NOTIFIED)
        if not ok:
            bad.append((i, cancelled, f._state, len(calls)))
        wins["cancelled" if cancelled else "ran"] += 1
    return bad, wins


def race_callbacks_vs_finish(make, rounds):
    """Threads add callbacks while another finishes the future: every
    callback runs exactly once."""
    bad = []
    for i in range(rounds):
        f = make()
        counts = [0] * 8
        start = threading.Barrier(5)

        def add(k, f=f, counts=counts, start=start):
            start.wait()
            for j in range(k, 8, 4):
                f.add_done_callback(lambda g, j=j, c=counts: c.__setitem__(j, c[j] + 1))

        threads = [threading.Thread(target=add, args=(k,)) for k in range(4)]
        for t in threads:
            t.start()
        start.wait()
        if i % 2:
            f.set_result(i)
        else:
            f.cancel()
        for t in threads:
            t.join()
        if counts != [1] * 8:
            bad.append((i, counts))
    return bad


def race_waiters_vs_pool(make, pool, rounds):
    """Threads block in result(), wait() and as_completed() while the pool
    completes the futures: nobody hangs, everybody sees the results."""
    with pool(max_workers=4) as ex:
        for i in range(rounds):
            fs = [ex.submit(pow, j, 2) for j in range(8)]
            out = {}
            jobs = {
                "r": lambda fs=fs: fs[7].result(5),
                "w": lambda fs=fs: len(cf.wait(fs, 5)[0]),
                "a": lambda fs=fs: len(list(cf.as_completed(fs, 5))),
            }
            threads = [
                threading.Thread(target=lambda k=k, job=job, out=out: out.__setitem__(k, job()))
                for k, job in jobs.items()
            ]
            for t in threads:
                t.start()
            results = [f.result(5) for f in fs]
            for t in threads:
                t.join(10)
            assert out == {"r": 49, "w": 8, "a": 8}, (i, out)
            assert results == [j * j for j in range(8)]


@pytest.mark.parametrize("kind", ["cf", "oxloop"])
def test_race_cancel_vs_run(kind):
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        bad, wins = race_cancel_vs_run(KINDS[kind][0], 300)
    finally:
        sys.setswitchinterval(old)
    assert bad == []
    assert sum(wins.values()) == 300


@pytest.mark.parametrize("kind", ["cf", "oxloop"])
def test_race_callbacks_vs_finish(kind):
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        assert race_callbacks_vs_finish(KINDS[kind][0], 200) == []
    finally:
        sys.setswitchinterval(old)


@pytest.mark.parametrize("kind", ["cf", "oxloop"])
def test_race_waiters_vs_pool(kind):
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    try:
        race_waiters_vs_pool(*KINDS[kind], 100)
    finally:
        sys.setswitchinterval(old)


def test_garbage_collection_during_completion_keeps_one_winner():
    """A collection that starts inside a fast path runs finalizers (Python
    code) which complete the same future: one set_result wins per future and
    every callback runs once. With the threshold at 1 and the count reset by
    gc.collect(), the first allocation inside the method starts the
    collection that finds the new Finisher."""
    outcomes = []
    calls = []

    class Finisher:
        def __init__(self, f):
            self.f = f
            self.cycle = self

        def __del__(self):
            outcomes.append(outcome(self.f.set_result, "finalizer"))
            outcomes.append(outcome(self.f.add_done_callback, calls.append))

    def complete(f, callback):
        gc.collect()
        Finisher(f)
        f.add_done_callback(callback)
        gc.collect()
        Finisher(f)
        try:
            f.set_result("direct")
        except cf.InvalidStateError:
            return "refused"
        return "set"

    futures = []
    direct = []
    old = gc.get_threshold()
    gc.set_threshold(1)
    try:
        for _ in range(100):
            f = OxFuture()
            futures.append(f)
            direct.append(complete(f, calls.append))
    finally:
        gc.set_threshold(*old)
    gc.collect()
    assert all(f.done() for f in futures)
    wins = sum(d == "set" for d in direct) + sum(o == ("ok", None) for o in outcomes[::2])
    assert wins == 100
    assert len(calls) == 3 * 100
