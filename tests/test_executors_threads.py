"""oxloop.ThreadPoolExecutor: behaviour of its own (worker reuse, naming,
broken pools, interpreter exit) and the default executor of oxloop loops.
The side-by-side comparison with concurrent.futures is in
test_executors_conformance.py."""

from __future__ import annotations

import asyncio
import concurrent.futures as cf
import subprocess
import sys
import threading
import time

import oxloop
import pytest


def test_is_a_concurrent_futures_thread_pool():
    with oxloop.ThreadPoolExecutor(2) as ex:
        assert isinstance(ex, cf.Executor)
        assert isinstance(ex, cf.ThreadPoolExecutor)
        fut = ex.submit(pow, 2, 8)
        assert isinstance(fut, cf.Future)
        assert type(fut) is oxloop._future.Future
        assert fut.result() == 256


def test_default_max_workers_as_cpython():
    with oxloop.ThreadPoolExecutor() as ex, cf.ThreadPoolExecutor() as ref:
        assert ex._max_workers == ref._max_workers


@pytest.mark.parametrize("bad", [0, -1])
def test_max_workers_must_be_positive(bad):
    with pytest.raises(ValueError, match="max_workers must be greater than 0"):
        oxloop.ThreadPoolExecutor(bad)


def test_initializer_must_be_callable():
    with pytest.raises(TypeError, match="initializer must be a callable"):
        oxloop.ThreadPoolExecutor(1, initializer=3)


def test_idle_threads_are_reused():
    with oxloop.ThreadPoolExecutor(8) as ex:
        for _ in range(20):
            ex.submit(time.sleep, 0).result()
            time.sleep(0.002)
        assert ex._live_workers == 1


def test_workers_start_up_to_max_workers():
    barrier = threading.Barrier(4)
    with oxloop.ThreadPoolExecutor(4) as ex:
        futs = [ex.submit(barrier.wait, 5) for _ in range(4)]
        assert sorted(f.result() for f in futs) == [0, 1, 2, 3]
        assert ex._live_workers == 4


def test_thread_names_use_prefix():
    with oxloop.ThreadPoolExecutor(1, thread_name_prefix="pfx") as ex:
        assert ex.submit(lambda: threading.current_thread().name).result() == "pfx_0"


def test_submit_after_shutdown_raises():
    ex = oxloop.ThreadPoolExecutor(1)
    ex.shutdown()
    with pytest.raises(RuntimeError, match="cannot schedule new futures after shutdown"):
        ex.submit(int)


def test_failing_initializer_breaks_pool(caplog):
    def init():
        raise ValueError("nope")

    ex = oxloop.ThreadPoolExecutor(1, initializer=init)
    fut = ex.submit(int)
    with pytest.raises(cf.thread.BrokenThreadPool):
        fut.result(timeout=5)
    with pytest.raises(cf.thread.BrokenThreadPool):
        ex.submit(int)
    ex.shutdown()
    assert "Exception in initializer" in caplog.text


def test_initializer_runs_once_per_thread():
    seen = []
    with oxloop.ThreadPoolExecutor(1, initializer=seen.append, initargs=("x",)) as ex:
        for _ in range(5):
            ex.submit(int).result()
    assert seen == ["x"]


def test_shutdown_from_inside_a_worker_does_not_deadlock():
    ex = oxloop.ThreadPoolExecutor(2)
    assert ex.submit(lambda: ex.shutdown(wait=True)).result(timeout=5) is None


def test_collected_pool_finishes_its_work():
    ex = oxloop.ThreadPoolExecutor(1)
    fut = ex.submit(time.sleep, 0.05)
    del ex
    assert fut.result(timeout=5) is None


def test_interpreter_exit_finishes_pending_work():
    code = (
        "import sys, time, oxloop\n"
        "ex = oxloop.ThreadPoolExecutor(2)\n"
        "w = lambda i: (time.sleep(0.05), sys.stdout.write(f'{i}\\n'))\n"
        "for i in range(6): ex.submit(w, i)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert sorted(out.stdout.split()) == [str(i) for i in range(6)]


def test_default_executor_is_oxloops():
    async def main():
        loop = asyncio.get_running_loop()
        name = await loop.run_in_executor(None, lambda: threading.current_thread().name)
        return name, type(loop._default_executor)

    name, kind = oxloop.run(main())
    assert name.startswith("asyncio_")
    assert kind is oxloop.ThreadPoolExecutor


def test_set_default_executor_accepts_both_kinds():
    async def main(executor):
        loop = asyncio.get_running_loop()
        loop.set_default_executor(executor)
        return await loop.run_in_executor(None, pow, 3, 2)

    for executor in (cf.ThreadPoolExecutor(1), oxloop.ThreadPoolExecutor(1)):
        assert oxloop.run(main(executor)) == 9


def test_getaddrinfo_runs_in_default_executor():
    async def main():
        return await asyncio.get_running_loop().getaddrinfo("127.0.0.1", 80)

    assert oxloop.run(main())
