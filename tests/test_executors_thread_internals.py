"""oxloop.ThreadPoolExecutor against concurrent.futures.ThreadPoolExecutor on what
programs (and CPython's own test_concurrent_futures) read besides the public API:
``_threads`` as a live collection of joinable threads, ``_max_workers``, ``_broken``,
idle-thread reuse, resizing by assigning ``_max_workers``, and which queued work
``shutdown(cancel_futures=True)`` cancels."""

from __future__ import annotations

import concurrent.futures as cf
import threading
import time

import oxloop
import pytest

POOLS = [
    pytest.param(cf.ThreadPoolExecutor, id="stdlib"),
    pytest.param(oxloop.ThreadPoolExecutor, id="oxloop"),
]


@pytest.mark.parametrize("pool_type", POOLS)
def test_threads_is_a_live_view_of_joinable_threads(pool_type):
    sem = threading.Semaphore(0)
    pool = pool_type(max_workers=5, thread_name_prefix="Live")
    threads = pool._threads  # read once, before any thread exists
    assert len(threads) == 0
    for _ in range(3):
        pool.submit(sem.acquire)
    assert len(threads) == 3
    assert len(pool._threads) == 3
    names = sorted(t.name for t in threads)
    assert names == ["Live_0", "Live_1", "Live_2"]
    assert all(t.is_alive() for t in threads)
    for t in threads:
        assert t in pool._threads
    for _ in range(3):
        sem.release()
    pool.shutdown(wait=False)
    for t in threads:
        t.join(timeout=10)
        assert not t.is_alive()
    assert len(threads) == 3  # the stdlib set keeps exited threads too


@pytest.mark.parametrize("pool_type", POOLS)
def test_join_with_timeout_returns_while_the_thread_runs(pool_type):
    release = threading.Event()
    with pool_type(max_workers=1) as pool:
        pool.submit(release.wait)
        (thread,) = pool._threads
        t0 = time.monotonic()
        thread.join(timeout=0.05)
        assert time.monotonic() - t0 < 5
        assert thread.is_alive()
        release.set()


@pytest.mark.parametrize("pool_type", POOLS)
def test_threads_of_a_collected_pool_can_be_joined(pool_type):
    pool = pool_type(max_workers=5)
    results = pool.map(abs, range(-5, 5))
    threads = pool._threads
    del pool
    import gc

    gc.collect()
    for t in threads:
        t.join(timeout=10)
        assert not t.is_alive()
    assert list(results) == [abs(v) for v in range(-5, 5)]


@pytest.mark.parametrize("pool_type", POOLS)
def test_saturation_starts_max_workers_threads(pool_type):
    sem = threading.Semaphore(0)
    pool = pool_type(4)
    for _ in range(15 * pool._max_workers):
        pool.submit(sem.acquire)
    assert len(pool._threads) == pool._max_workers == 4
    for _ in range(15 * pool._max_workers):
        sem.release()
    pool.shutdown(wait=True)


@pytest.mark.parametrize("pool_type", POOLS)
def test_assigning_max_workers_resizes_the_pool(pool_type):
    sem = threading.Semaphore(0)
    pool = pool_type(2)
    for _ in range(4):
        pool.submit(sem.acquire)
    assert len(pool._threads) == 2
    pool._max_workers = 5
    assert pool._max_workers == 5
    for _ in range(4):
        pool.submit(sem.acquire)
    assert len(pool._threads) == 5
    for _ in range(8):
        sem.release()
    pool.shutdown(wait=True)


@pytest.mark.parametrize("pool_type", POOLS)
def test_idle_thread_is_reused_right_after_a_result(pool_type):
    with pool_type() as pool:
        for _ in range(50):
            assert pool.submit(pow, 2, 5).result() == 32
            # On both pools the worker counts itself idle just after it set
            # the result: give it that moment, or a loaded machine starts a
            # second thread for the next submit (on stdlib as on oxloop).
            time.sleep(0.002)
        assert len(pool._threads) == 1


@pytest.mark.parametrize("pool_type", POOLS)
def test_cancel_futures_cancels_only_what_no_worker_took(pool_type):
    pool = pool_type(max_workers=5)
    fs = [pool.submit(time.sleep, 0.1) for _ in range(50)]
    pool.shutdown(cancel_futures=True)
    cancelled = [f for f in fs if f.cancelled()]
    others = [f for f in fs if not f.cancelled()]
    assert len(cancelled) > 20
    assert 0 < len(others) <= 5
    assert all(f.done() for f in others)


@pytest.mark.parametrize("pool_type", POOLS)
def test_a_submit_then_cancel_futures_still_runs_the_taken_item(pool_type):
    ran = threading.Event()
    pool = pool_type()
    fut = pool.submit(ran.set)
    pool.shutdown(wait=False, cancel_futures=True)
    assert ran.wait(10)
    assert fut.result(timeout=10) is None


@pytest.mark.parametrize("pool_type", POOLS)
def test_broken_is_false_then_the_message(pool_type):
    def fail():
        raise ValueError("no")

    pool = pool_type(max_workers=1, initializer=fail)
    assert pool._broken is False
    fut = pool.submit(pow, 2, 2)
    with pytest.raises(cf.thread.BrokenThreadPool):
        fut.result(timeout=10)
    assert isinstance(pool._broken, str)
    assert "initializer failed" in pool._broken
    with pytest.raises(cf.thread.BrokenThreadPool):
        pool.submit(pow, 2, 2)
    pool.shutdown()


def test_worker_thread_cannot_join_itself():
    with oxloop.ThreadPoolExecutor(1) as pool:
        fut = pool.submit(lambda: next(iter(pool._threads)).join())
        with pytest.raises(RuntimeError, match="cannot join current thread"):
            fut.result(timeout=10)
        (thread,) = pool._threads
        assert thread.ident == fut_ident(pool)


def fut_ident(pool):
    return pool.submit(threading.get_ident).result(timeout=10)
