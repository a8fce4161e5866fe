"""oxloop.ProcessPoolExecutor faults and lifecycle: worker death, failing
initializers, remote tracebacks, unpicklable values, worker replacement,
interpreter exit without hangs or orphans. The side-by-side comparison with
concurrent.futures is in test_executors_conformance.py."""

from __future__ import annotations

import concurrent.futures as cf
import os
import signal
import subprocess
import sys
import textwrap
import time

import _executor_tasks as tasks
import oxloop
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def wait_gone(pids, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not any(pid_alive(p) for p in pids):
            return True
        time.sleep(0.05)
    return False


def run_script(body, timeout=60):
    code = f"import sys; sys.path.insert(0, {HERE!r})\n" + textwrap.dedent(body)
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout
    )


def test_is_a_concurrent_futures_process_pool():
    with oxloop.ProcessPoolExecutor(1) as ex:
        assert isinstance(ex, cf.ProcessPoolExecutor)
        fut = ex.submit(tasks.square, 12)
        assert isinstance(fut, cf.Future)
        assert type(fut) is oxloop._future.Future
        assert fut.result(timeout=10) == 144


def test_default_max_workers_as_cpython():
    with oxloop.ProcessPoolExecutor() as ex:
        assert ex._max_workers == (os.cpu_count() or 1)


@pytest.mark.parametrize("killer", [tasks.exit_after, tasks.kill_self_after])
def test_dead_worker_breaks_pool_and_nothing_hangs(killer):
    ex = oxloop.ProcessPoolExecutor(2)
    doomed = ex.submit(killer, 0.2)
    pending = [ex.submit(tasks.sleep_then, 0.3, i) for i in range(6)]
    with pytest.raises(cf.process.BrokenProcessPool):
        doomed.result(timeout=10)
    for fut in pending:
        fut.exception(timeout=10)  # each finished or broke, none hangs
    assert any(isinstance(f.exception(), cf.process.BrokenProcessPool) for f in pending)
    with pytest.raises(cf.process.BrokenProcessPool):
        ex.submit(tasks.square, 1)
    pids = list(ex._processes)
    ex.shutdown(wait=True)
    assert wait_gone(pids)


def test_failing_initializer_breaks_pool():
    ex = oxloop.ProcessPoolExecutor(1, initializer=tasks.failing_initializer)
    fut = ex.submit(tasks.square, 2)
    with pytest.raises(cf.process.BrokenProcessPool):
        fut.result(timeout=10)
    with pytest.raises(cf.process.BrokenProcessPool):
        ex.submit(tasks.square, 2)
    ex.shutdown()


def test_failing_initializer_is_logged_by_the_worker():
    out = run_script(
        """
        import oxloop, _executor_tasks as tasks
        with oxloop.ProcessPoolExecutor(1, initializer=tasks.failing_initializer) as ex:
            print(type(ex.submit(tasks.square, 2).exception(timeout=10)).__name__)
        """
    )
    assert out.stdout.split() == ["BrokenProcessPool"]
    assert "Exception in initializer" in out.stderr
    assert "RuntimeError: initializer failed" in out.stderr


def test_remote_traceback_is_attached():
    with oxloop.ProcessPoolExecutor(1) as ex:
        exc = ex.submit(tasks.raise_value_error, "far away").exception(timeout=10)
    assert isinstance(exc, ValueError) and str(exc) == "far away"
    assert type(exc.__cause__) is cf.process._RemoteTraceback
    assert "raise_value_error" in str(exc.__cause__)
    assert "raise ValueError(message)" in str(exc.__cause__)


def test_unpicklable_values_fail_only_their_future():
    with oxloop.ProcessPoolExecutor(1) as ex:
        bad_arg = ex.submit(tasks.identity, tasks.Unpicklable())
        with pytest.raises(TypeError, match="refuses pickling"):
            bad_arg.result(timeout=10)
        bad_result = ex.submit(tasks.return_unpicklable)
        with pytest.raises(TypeError, match="refuses pickling"):
            bad_result.result(timeout=10)
        # An exception that cannot be pickled: compared with stdlib in
        # test_executors_process_deaths.py (the outcome depends on what
        # else is imported: tblib, which distributed installs, pickles
        # exception chains).
        assert ex.submit(tasks.square, 5).result(timeout=10) == 25
        assert ex._broken is None


def test_max_tasks_per_child_replaces_workers():
    with oxloop.ProcessPoolExecutor(2, max_tasks_per_child=3) as ex:
        pids = [f.result(timeout=30) for f in [ex.submit(tasks.getpid) for _ in range(12)]]
        assert len(set(pids)) >= 4
        assert all(pids.count(p) <= 3 for p in set(pids))
        assert list(ex.map(tasks.square, range(20))) == [i * i for i in range(20)]


def test_large_payloads_round_trip():
    blob = os.urandom(3 * 1024 * 1024)
    with oxloop.ProcessPoolExecutor(2) as ex:
        futs = [ex.submit(tasks.identity, blob) for _ in range(4)]
        assert all(f.result(timeout=30) == blob for f in futs)


def test_collected_pool_finishes_its_work():
    ex = oxloop.ProcessPoolExecutor(1)
    fut = ex.submit(tasks.sleep_then, 0.1, "done")
    pids = list(ex._processes)
    del ex
    assert fut.result(timeout=10) == "done"
    assert wait_gone(pids)


def test_interpreter_exit_with_pending_work_finishes_and_leaves_no_orphans():
    out = run_script(
        """
        import oxloop, _executor_tasks as tasks
        ex = oxloop.ProcessPoolExecutor(2)
        futs = [ex.submit(tasks.sleep_then, 0.1, i) for i in range(6)]
        futs[0].add_done_callback(lambda f: None)
        print(*list(ex._processes), flush=True)
        """
    )
    assert out.returncode == 0, out.stderr
    pids = [int(p) for p in out.stdout.split()]
    assert pids and wait_gone(pids, timeout=5)


def test_parent_killed_leaves_no_orphans():
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import sys; sys.path.insert(0, {HERE!r})\n"
            "import time, oxloop, _executor_tasks as tasks\n"
            "ex = oxloop.ProcessPoolExecutor(2)\n"
            "futs = [ex.submit(tasks.sleep_then, 0.3, i) for i in range(4)]\n"
            "print(*list(ex._processes), flush=True)\n"
            "time.sleep(60)\n",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        pids = [int(p) for p in proc.stdout.readline().split()]
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        proc.stdout.close()
    assert pids and wait_gone(pids, timeout=10)


def test_shutdown_from_a_done_callback_does_not_deadlock():
    ex = oxloop.ProcessPoolExecutor(1)
    fut = ex.submit(tasks.square, 3)
    fut.add_done_callback(lambda f: ex.shutdown(wait=True))
    assert fut.result(timeout=10) == 9
    ex.shutdown()


def test_run_in_executor_with_process_pool():
    import asyncio

    async def main(ex):
        loop = asyncio.get_running_loop()
        return await asyncio.gather(*(loop.run_in_executor(ex, tasks.square, i) for i in range(8)))

    with oxloop.ProcessPoolExecutor(2) as ex:
        assert oxloop.run(main(ex)) == [i * i for i in range(8)]
