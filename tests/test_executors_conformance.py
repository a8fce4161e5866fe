"""Differential suite: the same programs run against concurrent.futures'
executors and oxloop's, and must give the same transcript (results,
exception types and messages, map ordering, cancellation outcomes,
shutdown behaviour). Each program takes a factory `make(**kwargs)` for the
executor kind under test and returns a transcript."""

from __future__ import annotations

import asyncio
import concurrent.futures as cf
import itertools
import multiprocessing as mp
import signal
import sys
import threading
import time

import _executor_tasks as tasks
import oxloop
import pytest

FACTORIES = {
    "thread": (cf.ThreadPoolExecutor, oxloop.ThreadPoolExecutor),
    "process": (cf.ProcessPoolExecutor, oxloop.ProcessPoolExecutor),
}


def outcome(fn, *args, **kwargs):
    """What calling `fn` gives: ("ok", value) or ("raise", type, str)."""
    try:
        return ("ok", fn(*args, **kwargs))
    except BaseException as exc:  # noqa: BLE001 - the transcript records anything
        return ("raise", type(exc).__name__, str(exc))


def future_outcome(fut, timeout=10):
    if fut.cancelled():
        return ("cancelled",)
    return outcome(fut.result, timeout)


def compare(kind, program, **kwargs):
    reference, ours = FACTORIES[kind]
    expected = program(reference, **kwargs)
    actual = program(ours, **kwargs)
    assert actual == expected
    return actual


# -- programs ----------------------------------------------------------------------------


def prog_submit_results_and_exceptions(make):
    with make(max_workers=2) as ex:
        futs = [
            ex.submit(tasks.square, 7),
            ex.submit(tasks.add, 1, 2, z=3),
            ex.submit(tasks.add, x=1, y=5),
            ex.submit(tasks.raise_value_error, "boom"),
            ex.submit(tasks.identity, {"a": [1, 2, (3,)]}),
        ]
        return [future_outcome(f) for f in futs]


def prog_submit_argument_errors(make):
    with make(max_workers=1) as ex:
        return [
            outcome(ex.submit),
            future_outcome(ex.submit(tasks.square)),
            future_outcome(ex.submit(tasks.add, 1, nope=2)),
        ]


def prog_map_ordering(make):
    with make(max_workers=3) as ex:
        delays = [0.05, 0.0, 0.03, 0.01, 0.0, 0.02]
        values = list(range(len(delays)))
        return [
            list(ex.map(tasks.sleep_then, delays, values)),
            list(ex.map(tasks.add, [1, 2, 3], [10, 20])),
            list(ex.map(tasks.square, [])),
            list(ex.map(tasks.square, range(50))),
        ]


def prog_map_exception_stops_iteration(make):
    with make(max_workers=2) as ex:
        results = ex.map(tasks.square, [1, 2, "x", 4])
        seen = []
        try:
            for value in results:
                seen.append(value)
        except TypeError as exc:
            seen.append(("raise", type(exc).__name__))
        return seen


def prog_map_timeout(make):
    with make(max_workers=1) as ex:
        it = ex.map(tasks.sleep_then, [0.5, 0.5], [1, 2], timeout=0.05)
        return outcome(list, it)[:2]


def prog_map_chunksize(make, chunksize):
    with make(max_workers=2) as ex:
        return [
            list(ex.map(tasks.square, range(37), chunksize=chunksize)),
            list(ex.map(tasks.add, range(10), range(5), chunksize=chunksize)),
        ]


def prog_map_bad_chunksize(make):
    with make(max_workers=1) as ex:
        return outcome(lambda: list(ex.map(tasks.square, [1], chunksize=0)))


def prog_cancel_queued(make):
    with make(max_workers=1) as ex:
        first = ex.submit(tasks.sleep_then, 0.4, "first")
        rest = [ex.submit(tasks.square, i) for i in range(5)]
        time.sleep(0.15)
        cancelled = [f.cancel() for f in rest[2:]]
        return [cancelled, future_outcome(first), [future_outcome(f) for f in rest]]


def prog_cancel_running_fails(make):
    with make(max_workers=1) as ex:
        fut = ex.submit(tasks.sleep_then, 0.3, 1)
        time.sleep(0.15)
        return [fut.cancel(), fut.running(), future_outcome(fut), fut.done()]


def prog_shutdown_cancel_futures(make):
    ex = make(max_workers=1)
    first = ex.submit(tasks.sleep_then, 0.3, "first")
    queued = [ex.submit(tasks.square, i) for i in range(5)]
    time.sleep(0.1)
    ex.shutdown(wait=True, cancel_futures=True)
    return [future_outcome(first), [f.cancelled() for f in queued[2:]]]


def prog_shutdown_wait_false_still_completes(make):
    ex = make(max_workers=2)
    futs = [ex.submit(tasks.sleep_then, 0.05, i) for i in range(4)]
    ex.shutdown(wait=False)
    after = outcome(ex.submit, tasks.square, 1)
    return [after, [future_outcome(f) for f in futs]]


def prog_shutdown_twice_and_submit(make):
    ex = make(max_workers=1)
    ex.submit(tasks.square, 2).result()
    ex.shutdown()
    ex.shutdown()
    return [outcome(ex.submit, tasks.square, 1), outcome(lambda: ex.map(tasks.square, [1]))]


def prog_context_manager_waits(make):
    with make(max_workers=2) as ex:
        futs = [ex.submit(tasks.sleep_then, 0.05, i) for i in range(4)]
    return [f.done() for f in futs] + [future_outcome(f) for f in futs]


def prog_wait_and_as_completed(make):
    with make(max_workers=2) as ex:
        fast = ex.submit(tasks.sleep_then, 0.0, "fast")
        slow = ex.submit(tasks.sleep_then, 0.3, "slow")
        done, not_done = cf.wait([fast, slow], return_when=cf.FIRST_COMPLETED, timeout=5)
        first = [f.result() for f in done]
        err = ex.submit(tasks.raise_value_error, "e")
        done, _ = cf.wait([err, slow], return_when=cf.FIRST_EXCEPTION, timeout=5)
        names = sorted(f.result() for f in cf.as_completed([fast, slow], timeout=5))
        done_all, not_done_all = cf.wait([fast, slow, err], timeout=5)
        return [first, err in done, names, len(done_all), len(not_done_all)]


def prog_initializer(make):
    tasks.reset_marker()
    with make(max_workers=1, initializer=tasks.set_marker, initargs=("ready",)) as ex:
        return [ex.submit(tasks.read_marker).result() for _ in range(3)]


def prog_initializer_failure(make):
    ex = make(max_workers=1, initializer=tasks.failing_initializer)
    fut = ex.submit(tasks.square, 3)
    first = (type(fut.exception(timeout=10)).__name__,)
    time.sleep(0.1)
    later = outcome(ex.submit, tasks.square, 3)
    ex.shutdown()
    return [first, later[:2]]


def prog_constructor_validation(make):
    return [
        outcome(make, max_workers=0),
        outcome(make, max_workers=-1),
        outcome(make, max_workers=1, initializer=42),
    ]


def prog_remote_traceback(make):
    with make(max_workers=1) as ex:
        exc = ex.submit(tasks.raise_value_error, "deep").exception(timeout=10)
        cause = exc.__cause__
        return [
            type(exc).__name__,
            str(exc),
            type(cause).__name__ if cause is not None else None,
            cause is not None and "raise_value_error" in str(cause),
        ]


def prog_asyncio_integration(make):
    async def main(ex):
        loop = asyncio.get_running_loop()
        direct = await loop.run_in_executor(ex, tasks.square, 9)
        wrapped = await asyncio.wrap_future(ex.submit(tasks.add, 1, 2))
        gathered = await asyncio.gather(
            *(loop.run_in_executor(ex, tasks.square, i) for i in range(5))
        )
        try:
            await loop.run_in_executor(ex, tasks.raise_value_error, "async")
        except ValueError as exc:
            err = str(exc)
        return [direct, wrapped, gathered, err]

    with make(max_workers=2) as ex:
        return [oxloop.run(main(ex)), asyncio.run(main(ex))]


def prog_done_callbacks(make):
    seen = []
    with make(max_workers=1) as ex:
        fut = ex.submit(tasks.square, 5)
        fut.add_done_callback(lambda f: seen.append(f.result()))
        fut.result()
    time.sleep(0.05)
    return seen


# -- thread-only and process-only programs ----------------------------------------------


def prog_thread_name_prefix(make):
    with make(max_workers=1, thread_name_prefix="conf") as ex:
        return ex.submit(lambda: threading.current_thread().name).result()


def prog_thread_lambda_and_closure(make):
    box = []
    with make(max_workers=4) as ex:
        list(ex.map(box.append, range(100)))
        return [sorted(box) == list(range(100)), ex.submit(lambda: 3).result()]


def prog_process_unpicklable(make):
    with make(max_workers=1) as ex:
        transcript = [
            type(ex.submit(tasks.identity, threading.Lock()).exception(timeout=10)).__name__,
            type(ex.submit(tasks.return_lambda).exception(timeout=10)).__name__,
            ex.submit(tasks.square, 4).result(timeout=10),
        ]
        return transcript


def prog_process_max_tasks_per_child(make):
    with make(max_workers=1, max_tasks_per_child=2) as ex:
        pids = [ex.submit(tasks.getpid).result(timeout=10) for _ in range(6)]
    return [len(set(pids)), pids[0] == pids[1], pids[1] != pids[2]]


def prog_process_max_tasks_validation(make):
    fork = mp.get_context("fork")
    return [
        outcome(make, max_workers=1, max_tasks_per_child=0),
        outcome(make, max_workers=1, max_tasks_per_child="2"),
        outcome(make, max_workers=1, mp_context=fork, max_tasks_per_child=2),
    ]


def prog_process_start_methods(make, method):
    ctx = mp.get_context(method)
    with make(max_workers=2, mp_context=ctx) as ex:
        return [ex.submit(tasks.square, 6).result(timeout=30), list(ex.map(tasks.square, range(5)))]


def prog_process_worker_death(make, killer):
    ex = make(max_workers=2)
    ex.submit(tasks.square, 1).result(timeout=10)
    futs = [ex.submit(tasks.sleep_then, 0.2, i) for i in range(3)]
    doomed = ex.submit(killer)
    transcript = [
        type(doomed.exception(timeout=10)).__name__,
        {type(f.exception(timeout=10)).__name__ for f in futs} <= {"NoneType", "BrokenProcessPool"},
        outcome(ex.submit, tasks.square, 1)[:2],
    ]
    ex.shutdown()
    return transcript


COMMON = [
    prog_submit_results_and_exceptions,
    prog_submit_argument_errors,
    prog_map_ordering,
    prog_map_exception_stops_iteration,
    prog_map_timeout,
    prog_map_bad_chunksize,
    prog_cancel_queued,
    prog_cancel_running_fails,
    prog_shutdown_cancel_futures,
    prog_shutdown_wait_false_still_completes,
    prog_shutdown_twice_and_submit,
    prog_context_manager_waits,
    prog_wait_and_as_completed,
    prog_initializer,
    prog_initializer_failure,
    prog_constructor_validation,
    prog_remote_traceback,
    prog_asyncio_integration,
    prog_done_callbacks,
]


@pytest.mark.parametrize("kind", ["thread", "process"])
@pytest.mark.parametrize("program", COMMON, ids=lambda p: p.__name__[5:])
def test_common(kind, program):
    compare(kind, program)


@pytest.mark.parametrize("kind", ["thread", "process"])
@pytest.mark.parametrize("chunksize", [1, 3, 100])
def test_map_chunksize(kind, chunksize):
    compare(kind, prog_map_chunksize, chunksize=chunksize)


@pytest.mark.parametrize(
    "program", [prog_thread_name_prefix, prog_thread_lambda_and_closure], ids=lambda p: p.__name__
)
def test_thread_only(program):
    compare("thread", program)


@pytest.mark.parametrize(
    "program",
    [prog_process_unpicklable, prog_process_max_tasks_per_child, prog_process_max_tasks_validation],
    ids=lambda p: p.__name__,
)
def test_process_only(program):
    compare("process", program)


@pytest.mark.parametrize("method", ["fork", "spawn", "forkserver"])
def test_process_start_methods(method):
    compare("process", prog_process_start_methods, method=method)


@pytest.mark.parametrize(
    "killer", [tasks.exit_abruptly, tasks.kill_self], ids=["os_exit", "sigkill"]
)
def test_process_worker_death(killer):
    assert compare("process", prog_process_worker_death, killer=killer)[0] == "BrokenProcessPool"


# -- features of newer Pythons (each skipped where stdlib lacks it) ---------------------------

needs_314 = pytest.mark.skipif(sys.version_info < (3, 14), reason="new in 3.14")
needs_315 = pytest.mark.skipif(sys.version_info < (3, 15), reason="new in 3.15")


def prog_map_buffersize(make, chunksize):
    with make(max_workers=2) as ex:
        pulled = []

        def source(n):
            for i in range(n):
                pulled.append(i)
                yield i

        kwargs = {} if make in FACTORIES["thread"] else {"chunksize": chunksize}
        it = ex.map(tasks.square, source(20), buffersize=2, **kwargs)
        # only the first `buffersize` calls (chunks) are taken before iterating
        taken_before = len(pulled)
        first = next(it)
        rest = list(it)
        infinite = ex.map(tasks.square, itertools.count(), buffersize=3, **kwargs)
        head = [next(infinite) for _ in range(5)]
        del infinite
        return [
            taken_before,
            first,
            rest,
            head,
            list(ex.map(tasks.add, [1, 2, 3], [10, 20], buffersize=1, **kwargs)),
            list(ex.map(tasks.square, [], buffersize=2, **kwargs)),
            outcome(ex.map, tasks.square, [1], buffersize=0),
            outcome(ex.map, tasks.square, [1], buffersize=-1),
            outcome(ex.map, tasks.square, [1], buffersize=2.0),
            outcome(ex.map, tasks.square, [1], buffersize="2"),
        ]


@needs_314
@pytest.mark.parametrize("kind", ["thread", "process"])
@pytest.mark.parametrize("chunksize", [1, 3])
def test_map_buffersize(kind, chunksize):
    transcript = compare(kind, prog_map_buffersize, chunksize=chunksize)
    assert transcript[0] == (2 if kind == "thread" else 2 * chunksize)


def prog_force_shutdown(make, method):
    ctx = mp.get_context("spawn")
    with ctx.Manager() as manager:
        started, gate = manager.Queue(), manager.Event()
        ex = make(max_workers=1, mp_context=ctx)
        running = ex.submit(tasks.report_then_wait, started, gate)
        queued = ex.submit(tasks.square, 3)
        started.get(timeout=30)
        workers = list(ex._processes.values())
        getattr(ex, method)()
        for process in workers:
            process.join(30)
            # the pool's own reaping may be mid-waitpid: join() then returns first
            deadline = time.monotonic() + 10
            while process.exitcode is None and time.monotonic() < deadline:
                time.sleep(0.01)
        transcript = [
            [p.exitcode for p in workers],
            type(running.exception(timeout=30)).__name__,
            queued.cancelled(),
            outcome(ex.submit, tasks.square, 1)[:2],
            outcome(getattr(ex, method)),  # again: nothing left to stop
        ]
        ex.shutdown()
        return transcript


@needs_314
@pytest.mark.parametrize("method", ["terminate_workers", "kill_workers"])
def test_process_force_shutdown(method):
    transcript = compare("process", prog_force_shutdown, method=method)
    assert transcript[0] == [-signal.SIGTERM if method == "terminate_workers" else -signal.SIGKILL]


@needs_314
def test_process_force_shutdown_before_any_worker():
    for make in FACTORIES["process"]:
        ex = make(max_workers=1)
        ex.terminate_workers()
        assert outcome(ex.submit, tasks.square, 1)[:2] == ("raise", "RuntimeError")
        with pytest.raises(ValueError):
            ex._force_shutdown(operation="nope")


@needs_315
def test_future_get_snapshot():
    error = KeyError("x")

    def snapshots(future_class):
        pending, done, failed, cancelled = (future_class() for _ in range(4))
        done.set_result(42)
        failed.set_exception(error)
        cancelled.cancel()
        return [f._get_snapshot() for f in (pending, done, failed, cancelled)]

    from oxloop._future import Future

    assert snapshots(Future) == snapshots(cf.Future)


# CPython 3.14's tests of these read `_executor_manager_thread` (run_cf_tests excludes
# them); the behaviour they drive is checked here.


def prog_max_tasks_shutdown_no_wait(make):
    """gh-119592: `shutdown(wait=False)` while a worker runs its last task
    (max_tasks_per_child): its replacement still runs the queued calls."""
    ctx = mp.get_context("spawn")
    with ctx.Manager() as manager:
        started, gate = manager.Queue(), manager.Event()
        ex = make(1, mp_context=ctx, max_tasks_per_child=1)
        futs = [ex.submit(tasks.report_then_wait_value, started, gate, i) for i in range(3)]
        first = started.get(timeout=30)
        ex.shutdown(wait=False)
        gate.set()
        return [first, [future_outcome(f, 30) for f in futs]]


def prog_max_tasks_failing_call_shutdown_no_wait(make, max_workers):
    """gh-132969: a call that raises, then `shutdown(wait=False)`: no error, no hang."""
    ctx = mp.get_context("spawn")
    ex = make(max_workers=max_workers, max_tasks_per_child=1, mp_context=ctx)
    futs = [
        ex.submit(tasks.sleep_then, 0.1, 1),
        ex.submit(tasks.raise_value_error, "failing task"),
        ex.submit(tasks.sleep_then, 0.3, 3),
    ]
    transcript = [future_outcome(f, 30) for f in futs]
    ex.shutdown(wait=False)
    time.sleep(0.2)
    ex.shutdown(wait=True)
    return transcript


@needs_314
def test_process_max_tasks_shutdown_no_wait():
    compare("process", prog_max_tasks_shutdown_no_wait)


@needs_314
@pytest.mark.parametrize("max_workers", [2, 4])
def test_process_max_tasks_failing_call_shutdown_no_wait(max_workers):
    compare("process", prog_max_tasks_failing_call_shutdown_no_wait, max_workers=max_workers)


def prog_abrupt_exit_cause(make):
    """3.15 (gh-139462): the `BrokenProcessPool` of a worker that exited names it."""
    with make(max_workers=1) as ex:
        fut = ex.submit(tasks.exit_abruptly)
        error = fut.exception(timeout=30)
    cause = error.__cause__
    return [
        type(error).__name__,
        type(cause).__name__,
        "terminated abruptly with exit code 7" in getattr(cause, "tb", ""),
    ]


@needs_315
def test_process_abrupt_exit_cause():
    assert compare("process", prog_abrupt_exit_cause)[2]
