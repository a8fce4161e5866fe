"""Timers with a NaN or infinite deadline, on oxloop and on stdlib asyncio.

asyncio compares deadlines with ``<``/``>=``; every comparison with NaN is false,
so a timer due at NaN is never held back: ``call_later(nan, cb)`` and
``call_at(nan, cb)`` run ``cb`` on the next turn. A timer due at +inf never runs
(and the loop still sleeps at most a day), one due at -inf runs at once. oxloop
once kept NaN timers forever: a callback lost without a word. It now treats a NaN
deadline as due at once (``crates/reactor/src/timers.rs``).

From 3.13, when the NaN timer is the only work left, stdlib asyncio passes a
NaN timeout on to the selector and ``run_forever`` raises ``ValueError`` (the
callback never runs, but not silently); oxloop runs the callback on every
version. The asyncio side of that test checks each version's own behaviour.
"""

from __future__ import annotations

import asyncio
import math
import sys
import time

import oxloop
import pytest

LOOPS = {"oxloop": oxloop.new_event_loop, "asyncio": asyncio.new_event_loop}
NAN = float("nan")
INF = float("inf")


@pytest.fixture(params=sorted(LOOPS))
def loop(request):
    lp = LOOPS[request.param]()
    yield lp
    lp.close()


# asyncio 3.13+ hands a NaN timeout to the selector, which raises ValueError.
ASYNCIO_NAN_RAISES = sys.version_info >= (3, 13)


def _stdlib_raises_on_nan(loop):
    """On asyncio 3.13+, checks that a run with a NaN timer pending raises as
    stdlib's does; returns True when it did (the caller's checks then do not
    apply)."""
    if not (ASYNCIO_NAN_RAISES and not type(loop).__module__.startswith("oxloop")):
        return False
    with pytest.raises(ValueError):
        _run_briefly(loop)
    return True


def _run_briefly(loop, seconds=1.0):
    """Runs the loop until it is stopped or `seconds` pass; returns the time taken."""
    guard = loop.call_later(seconds, loop.stop)
    t0 = time.monotonic()
    loop.run_forever()
    guard.cancel()
    return time.monotonic() - t0


@pytest.mark.parametrize("method", ["call_later", "call_at"])
def test_nan_deadline_runs_the_callback_at_once(loop, method):
    ran = []
    handle = getattr(loop, method)(NAN, lambda: (ran.append(True), loop.stop()))
    assert math.isnan(handle.when())
    if _stdlib_raises_on_nan(loop):
        return
    elapsed = _run_briefly(loop)
    assert ran == [True]
    assert elapsed < 0.5


def test_nan_timer_runs_with_other_due_work(loop):
    out = []
    loop.call_soon(out.append, "soon")
    loop.call_later(NAN, out.append, "nan")
    loop.call_later(0, out.append, "zero")
    loop.call_later(0.05, loop.stop)
    _run_briefly(loop)
    assert sorted(out) == ["nan", "soon", "zero"]
    assert out[0] == "soon"


@pytest.mark.parametrize("method", ["call_later", "call_at"])
def test_infinite_deadline_never_runs(loop, method):
    ran = []
    handle = getattr(loop, method)(INF, ran.append, "inf")
    assert handle.when() == INF
    loop.call_later(0.05, loop.stop)
    elapsed = _run_briefly(loop)
    assert ran == []
    assert elapsed < 0.5
    handle.cancel()


@pytest.mark.parametrize("method", ["call_later", "call_at"])
def test_negative_infinite_deadline_runs_at_once(loop, method):
    ran = []
    getattr(loop, method)(-INF, lambda: (ran.append(True), loop.stop()))
    elapsed = _run_briefly(loop)
    assert ran == [True]
    assert elapsed < 0.5


def test_nan_timer_can_be_cancelled(loop):
    ran = []
    loop.call_later(NAN, ran.append, "nan").cancel()
    loop.call_later(0.02, loop.stop)
    _run_briefly(loop)
    assert ran == []


def test_nan_timer_behind_a_later_timer_runs_at_once_on_oxloop():
    """Where oxloop is more definite than asyncio: asyncio's heap keeps a NaN timer
    behind a finite one pushed before it (``nan < t`` is false, so it never sifts up)
    and runs it only once that timer has been popped; oxloop runs it at once."""
    loop = oxloop.new_event_loop()
    try:
        ran = []
        loop.call_later(5, ran.append, "later")
        loop.call_later(NAN, lambda: (ran.append("nan"), loop.stop()))
        elapsed = _run_briefly(loop, 2.0)
        assert ran == ["nan"]
        assert elapsed < 1
    finally:
        loop.close()
