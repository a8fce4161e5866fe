"""oxloop.ProcessPoolExecutor when a worker dies, compared with
concurrent.futures.ProcessPoolExecutor.

A worker dies (`os._exit`, SIGKILL, a segfault) or raises `SystemExit`
while it unpickles its task, runs it, or pickles the result. Each case runs
on stdlib's pool (fork: its outcome does not depend on the start method)
and on oxloop's under fork, spawn and forkserver. The futures must end the
same way as stdlib's; where the pool breaks, oxloop's must break within
1 s of the doomed submit (the worker is already running), fail every
pending future with `BrokenProcessPool`, refuse new work, shut down without
hanging, and leave no worker process, zombie or file descriptor behind.
"""

from __future__ import annotations

import concurrent.futures as cf
import gc
import multiprocessing as mp
import os
import re
import threading
import time

import _process_deaths as deaths
import oxloop
import pytest

METHODS = ["fork", "spawn", "forkserver"]
HOWS = list(deaths.DEATHS)
PHASES = ["unpickling the task", "running", "pickling the result"]
# Generous for a loaded 2-core machine; oxloop needs a few milliseconds.
BREAK_WITHIN = 1.0
SLEEPERS = 4


def pools(impl):
    return {"stdlib": cf.ProcessPoolExecutor, "oxloop": oxloop.ProcessPoolExecutor}[impl]


def doomed_call(how, phase):
    if phase == "unpickling the task":
        return deaths.identity, deaths.DieWhenUnpickled(how)
    if phase == "running":
        return deaths.die_running, how
    return deaths.die_pickling_result, how


def open_fds():
    return set(os.listdir("/proc/self/fd"))


def zombie_children():
    me = str(os.getpid())
    zombies = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] == "Z" and fields[1] == me:
            zombies.append(int(pid))
    return zombies


def wait_gone(pids, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not any(os.path.exists(f"/proc/{pid}") for pid in pids):
            return True
        time.sleep(0.02)
    return False


def outcome(fut):
    if isinstance(fut, BaseException):
        return type(fut).__name__
    exc = fut.exception(timeout=60)
    return "ok" if exc is None else type(exc).__name__


def submit_or_refusal(ex, fn, *args):
    """The future, or the `BrokenProcessPool` that `submit` raised: the
    pool may already have broken (oxloop's breaks within milliseconds of
    the death), which for the caller is the same outcome."""
    try:
        return ex.submit(fn, *args)
    except cf.process.BrokenProcessPool as exc:
        return exc


@pytest.fixture(scope="module", autouse=True)
def start_method_helpers():
    """Starts the forkserver and the resource tracker once, so the fd counts
    of the tests see only what the pools themselves open."""
    for method in METHODS:
        with oxloop.ProcessPoolExecutor(1, mp_context=mp.get_context(method)) as ex:
            ex.submit(deaths.identity, 1).result(timeout=60)


def run_case(impl, method, how, phase, tmp_path):
    """One pool, warmed up, then the doomed call and calls queued behind it
    (they wait until the doomed call's outcome is known). Returns what the
    test checks."""
    release = tmp_path / f"release-{impl}-{method}-{how}-{phase}"
    fds_before = open_fds()
    ex = pools(impl)(max_workers=2, mp_context=mp.get_context(method))
    warm = [ex.submit(deaths.sleep_then, 0.05, i) for i in range(2)]
    assert [f.result(timeout=60) for f in warm] == [0, 1]
    pids = list(ex._processes)
    fn, arg = doomed_call(how, phase)
    start = time.monotonic()
    doomed = ex.submit(fn, arg)
    sleepers = [
        submit_or_refusal(ex, deaths.wait_for_file, str(release), i) for i in range(SLEEPERS)
    ]
    outcomes = [outcome(doomed)]
    broken = outcomes[0] == "BrokenProcessPool"
    if not broken:
        release.touch()
    outcomes += [outcome(f) for f in sleepers]
    settled = time.monotonic() - start
    refused = None
    if broken:
        try:
            ex.submit(deaths.identity, 1)
        except cf.process.BrokenProcessPool:
            refused = True
        else:
            refused = False
    start = time.monotonic()
    ex.shutdown(wait=True)
    shutdown_took = time.monotonic() - start
    del ex, doomed, sleepers, warm
    gc.collect()
    return {
        "outcomes": outcomes,
        "settled": settled,
        "refused": refused,
        "shutdown_took": shutdown_took,
        "workers_gone": wait_gone(pids),
        "zombies": zombie_children(),
        "leaked_fds": open_fds() - fds_before,
    }


_stdlib_outcomes = {}


def stdlib_outcomes(how, phase, tmp_path):
    key = (how, phase)
    if key not in _stdlib_outcomes:
        _stdlib_outcomes[key] = run_case("stdlib", "fork", how, phase, tmp_path)["outcomes"]
    return _stdlib_outcomes[key]


@pytest.mark.parametrize("phase", PHASES)
@pytest.mark.parametrize("how", HOWS)
@pytest.mark.parametrize("method", METHODS)
def test_worker_death_as_stdlib(method, how, phase, tmp_path):
    expected = stdlib_outcomes(how, phase, tmp_path)
    got = run_case("oxloop", method, how, phase, tmp_path)
    assert got["outcomes"] == expected
    if expected[0] == "BrokenProcessPool":
        # Every pending future failed, quickly, and the pool takes no more.
        assert set(got["outcomes"]) == {"BrokenProcessPool"}
        assert got["settled"] < BREAK_WITHIN, got["settled"]
        assert got["refused"] is True
    assert got["shutdown_took"] < 5
    assert got["workers_gone"]
    assert got["zombies"] == []
    assert got["leaked_fds"] == set()


def test_system_exit_in_a_task_is_its_exception_as_stdlib(tmp_path):
    # Not a death: stdlib's worker catches it and sends it back.
    assert stdlib_outcomes("system_exit", "running", tmp_path)[0] == "SystemExit"
    assert stdlib_outcomes("system_exit", "pickling the result", tmp_path)[0] == "SystemExit"


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("impl", ["stdlib", "oxloop"])
def test_worker_killed_from_outside_while_idle_breaks_the_pool(impl, method):
    with pools(impl)(max_workers=2, mp_context=mp.get_context(method)) as ex:
        assert ex.submit(deaths.identity, 5).result(timeout=60) == 5
        victim = next(iter(ex._processes.values()))
        victim.kill()
        deadline = time.monotonic() + BREAK_WITHIN
        while not ex._broken and time.monotonic() < deadline:
            time.sleep(0.01)
        assert ex._broken
        with pytest.raises(cf.process.BrokenProcessPool):
            ex.submit(deaths.identity, 1)


@pytest.mark.parametrize("method", METHODS)
def test_shutdown_right_after_a_doomed_submit_returns(method):
    ex = oxloop.ProcessPoolExecutor(2, mp_context=mp.get_context(method))
    fut = ex.submit(deaths.die_running, "sigkill")
    sleeper = ex.submit(deaths.sleep_then, 5, 0)
    done = threading.Event()

    def shutdown():
        ex.shutdown(wait=True)
        done.set()

    threading.Thread(target=shutdown, daemon=True).start()
    assert done.wait(30), "shutdown(wait=True) hung"
    assert outcome(fut) == "BrokenProcessPool"
    assert outcome(sleeper) == "BrokenProcessPool"


@pytest.mark.parametrize(
    "result_class, cause_text",
    [(deaths.FailWhenUnpickled, "cannot rebuild this"), (deaths.ExitWhenUnpickled, "SystemExit")],
)
@pytest.mark.parametrize("impl", ["stdlib", "oxloop"])
def test_result_that_cannot_be_unpickled_breaks_the_pool(impl, result_class, cause_text):
    with pools(impl)(max_workers=2, mp_context=mp.get_context("fork")) as ex:
        fut = ex.submit(deaths.return_instance, result_class)
        exc = fut.exception(timeout=60)
        assert type(exc) is cf.process.BrokenProcessPool
        assert type(exc.__cause__) is cf.process._RemoteTraceback
        assert cause_text in str(exc.__cause__)
        with pytest.raises(cf.process.BrokenProcessPool):
            ex.submit(deaths.identity, 1)


def unpicklable_outcomes(impl):
    """(type, message, has a remote traceback) for each way a call or its
    outcome can fail to pickle; the pool keeps working after each."""
    import _executor_tasks as tasks

    with pools(impl)(max_workers=1, mp_context=mp.get_context("fork")) as ex:
        futures = [
            ex.submit(tasks.identity, threading.Lock()),
            ex.submit(tasks.identity, tasks.Unpicklable()),
            ex.submit(tasks.return_unpicklable),
            ex.submit(tasks.return_lambda),
            ex.submit(tasks.raise_unpicklable_error),
        ]
        seen = []
        for fut in futures:
            exc = fut.exception(timeout=60)
            # 3.14's pickling errors name the object with its address: one per run
            message = re.sub(r" at 0x[0-9a-fA-F]+", " at 0x...", str(exc))
            seen.append(
                (type(exc).__name__, message, type(exc.__cause__) is cf.process._RemoteTraceback)
            )
        try:
            seen.append(ex.submit(tasks.square, 7).result(timeout=60))
        except cf.process.BrokenProcessPool:
            # The exception could not be pickled, nor the error saying so
            # (tblib, imported by distributed, pickles exception chains):
            # the worker died.
            seen.append("BrokenProcessPool")
        return seen


def _without_race(outcomes):
    """The outcomes, without whether a `BrokenProcessPool` has a cause: from
    3.15 stdlib names the dead worker there only if it has already reaped it
    (`p.exitcode` is still None otherwise, gh-139462), which is a race in
    stdlib itself. oxloop's cause is checked in `test_executors_conformance.py`."""
    return [o[:2] if isinstance(o, tuple) and o[0] == "BrokenProcessPool" else o for o in outcomes]


def test_unpicklable_calls_and_results_raise_as_stdlib():
    assert _without_race(unpicklable_outcomes("oxloop")) == _without_race(
        unpicklable_outcomes("stdlib")
    )


def test_worker_ignoring_sigterm_is_killed_when_the_pool_breaks():
    # stdlib terminates the other workers and then joins them: with one that
    # ignores SIGTERM its shutdown() waits for the task. oxloop SIGKILLs a
    # worker still there 1 s after the break.
    ex = oxloop.ProcessPoolExecutor(2, mp_context=mp.get_context("fork"))
    stubborn = ex.submit(deaths.ignore_sigterm_then_sleep, 60)
    pids = list(ex._processes)
    time.sleep(0.3)  # let it install its handler
    doomed = ex.submit(deaths.die_running, "os_exit")
    assert outcome(doomed) == "BrokenProcessPool"
    assert outcome(stubborn) == "BrokenProcessPool"
    start = time.monotonic()
    ex.shutdown(wait=True)
    assert time.monotonic() - start < 10
    assert wait_gone(pids)
    assert zombie_children() == []
