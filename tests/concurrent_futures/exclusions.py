"""Tests of CPython's ``test_concurrent_futures`` that the runner does not run on oxloop.

Keys are fnmatch patterns matched against full unittest ids (the module part differs
between 3.11's single module and 3.13's package, so patterns start with ``*.``).
Values are ``(private_object, reason)``: the stdlib-private object the test reads or
patches, and why oxloop cannot offer it. "oxloop does not implement X yet" or "a worker
crash ends differently" are not reasons: such tests stay in the run and fail.

Applications read ``_threads``, ``_processes`` and ``_max_workers``; oxloop exposes
those as stdlib does, so tests reading them are never excluded.
"""

from __future__ import annotations

import fnmatch

_MANAGER = (
    "stdlib's process pool runs an _ExecutorManagerThread and a multiprocessing "
    "call queue; oxloop's pool has neither (its dispatch is in Rust), so there is no "
    "thread or queue to join"
)

EXCLUSIONS: dict[str, tuple[str, str]] = {
    "*.ProcessPool*ProcessPoolShutdownTest.test_del_shutdown": (
        "_executor_manager_thread, _call_queue",
        _MANAGER,
    ),
    "*.ProcessPool*ProcessPoolShutdownTest.test_shutdown_no_wait": (
        "_executor_manager_thread, _call_queue",
        _MANAGER,
    ),
    "*.ProcessPool*ExecutorDeadlockTest.test_shutdown_deadlock_pickle": (
        "_executor_manager_thread",
        _MANAGER,
    ),
    "*.ProcessPool*ExecutorDeadlockTest.test_gh105829_should_not_deadlock_if_wakeup_pipe_full": (
        "concurrent.futures.process._ExecutorManagerThread.run, _ThreadWakeup",
        "the test patches stdlib's manager thread and its wakeup pipe to make submit() "
        "block; oxloop's pool uses neither",
    ),
    "*.ProcessPool*ProcessPoolExecutorTest.test_python_finalization_error": (
        "threading._start_new_thread",
        "the test makes the second `threading` thread stdlib's pool starts (the call "
        "queue's feeder) fail, to play an interpreter at finalization; oxloop's process "
        "pool starts no `threading` thread (its I/O thread is Rust), so the patch breaks "
        "nothing and the tasks run",
    ),
    # 3.14.x: tests that join the manager thread in a cleanup, read before they start;
    # the behaviour they drive is checked in tests/test_executors_conformance.py.
    "*.ProcessPool*ProcessPoolShutdownTest.test_shutdown_gh_132969_case_*": (
        "_executor_manager_thread",
        _MANAGER + " (test_process_max_tasks_failing_call_shutdown_no_wait checks the rest)",
    ),
    "*.ProcessPool*ProcessPoolExecutorTest.test_shutdown_no_wait_max_tasks_gh119592": (
        "_executor_manager_thread",
        _MANAGER + " (test_process_max_tasks_shutdown_no_wait checks the calls still run; "
        "with the pool also dropped oxloop still runs them, where stdlib fails them with "
        "BrokenProcessPool('...garbage collected...'): oxloop's dispatch outlives the object)",
    ),
    "*.ProcessPool*ProcessPoolExecutorTest.test_gc_during_max_tasks_worker_exit_gh152967": (
        "_executor_manager_thread",
        _MANAGER + " (a pool dropped with calls queued: oxloop's Rust dispatch still runs "
        "them, stdlib's manager cannot start a worker and fails them with BrokenProcessPool)",
    ),
    "*.ProcessPool*ProcessPoolExecutorTest.test_force_shutdown_during_max_tasks_worker_exit": (
        "_executor_manager_thread, _shutdown_lock, _force_shutting_down",
        "the test sets stdlib's force-shutdown flag under its shutdown lock by hand and joins "
        "the manager thread; oxloop's terminate_workers() cancels the queued calls before it "
        "signals the workers, so no retiring worker is replaced (test_process_force_shutdown)",
    ),
    "*.ProcessPool*ProcessPoolExecutorTest.test_failed_worker_replacement_breaks_pool": (
        "_executor_manager_thread, concurrent.futures.process._spawn_worker",
        "the test makes stdlib's _spawn_worker fail; oxloop starts workers from Rust "
        "through mp_context.Process, so the patch breaks nothing (a replacement oxloop "
        "fails to start does break the pool: process_io::settle)",
    ),
}


def validate() -> None:
    for pattern, entry in EXCLUSIONS.items():
        private, reason = entry
        if not private or not reason or "_" not in private:
            raise ValueError(f"exclusion {pattern!r} must name a stdlib-private object")


def match(test_id: str) -> tuple[str, str, str] | None:
    for pattern, (private, reason) in EXCLUSIONS.items():
        if fnmatch.fnmatchcase(test_id, pattern):
            return pattern, private, reason
    return None
