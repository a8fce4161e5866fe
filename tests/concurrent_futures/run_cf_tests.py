#!/usr/bin/env python3
"""Run CPython's own ``test_concurrent_futures`` on oxloop's pools.

The tests come from the running interpreter's ``test`` package or, where it was
stripped, from Debian's ``libpythonX.Y-testsuite`` (see ``cpython_sources.py``; 3.11 is
fetched with ``apt-get download`` on first use). They run under whichever interpreter
runs this script.

How the tests are made to use oxloop (``pool_substitution.py``): in each child process
``concurrent.futures.ThreadPoolExecutor``/``ProcessPoolExecutor`` are set to oxloop's
classes before the tests are imported, so the mixins' ``executor_type`` and every
``futures.ThreadPoolExecutor(...)`` in a test body build oxloop pools; code a test runs
in a fresh interpreter (``assert_python_ok('-c', code)``) gets a one-line prelude that
does the same there. ``FutureTests`` and the tests' ``create_future()`` build oxloop's
``Future`` instead of the stdlib one.

How the runner proves it: every pool under test built, and every oxloop ``Future`` the
tests build themselves, is counted while each test runs. A test counts as passed only if
it built at least one; a test that passed without is reported apart ("unproven").

Every test class runs in its own child process (this script with ``--child``) with a
time limit (``--class-timeout``), and inside it a per-test watchdog (faulthandler,
``--test-timeout``): a hang or a crash fails the test it happened in, and the rest of the
class is resumed in a new child (at most ``--max-restarts`` times).

Tests listed in ``exclusions.py`` (each names the stdlib-private object it reads) are
not run on oxloop and are counted as excluded. Test classes whose ``executor_type`` is a
stdlib pool oxloop does not replace (``pool_substitution.NOT_REPLACED``: 3.14's
``InterpreterPoolExecutor``) are not run either and are listed apart as not applicable,
neither passed nor failed; the mixins they share (``ExecutorTest``...) still run in the
thread and process pool classes.

Usage::

    python tests/concurrent_futures/run_cf_tests.py                      # all, on oxloop
    python tests/concurrent_futures/run_cf_tests.py --classes 'ThreadPool*,FutureTests'
    python tests/concurrent_futures/run_cf_tests.py -k test_cancel_futures -v
    python tests/concurrent_futures/run_cf_tests.py --executors stdlib   # the baseline

The last line of the output is ``N passed, N failed``; the exit code is 0 iff no test
failed (an interpreter whose tests are unavailable says so and exits 0).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import fnmatch
import importlib
import importlib.util
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import unittest
from concurrent.futures import ThreadPoolExecutor as _RunnerThreads

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import cpython_sources  # noqa: E402
import exclusions  # noqa: E402
import pool_substitution  # noqa: E402


def _load_asyncio_runner():
    """The asyncio conformance runner, for its result streaming and child helpers."""
    name = "oxloop_cpython_runner"
    if name not in sys.modules:
        path = os.path.join(os.path.dirname(HERE), "cpython", "run_cpython_tests.py")
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


shared = _load_asyncio_runner()

FUTURE_CONSTANTS = (
    "PENDING_FUTURE",
    "RUNNING_FUTURE",
    "CANCELLED_FUTURE",
    "CANCELLED_AND_NOTIFIED_FUTURE",
    "EXCEPTION_FUTURE",
    "SUCCESSFUL_FUTURE",
)

# ---------------------------------------------------------------------------------------------
# Child side
# ---------------------------------------------------------------------------------------------


def _substitute_future(modules: list, executors: str):
    """The tests' own ``Future()`` (FutureTests, ``create_future``) builds the Future
    under test (oxloop's, or the stdlib's for the baseline). Returns a function that
    replaces the module-level ``*_FUTURE`` constants with new Futures under test in the
    same states; the runner calls it before every test, so a test that only reads them
    is seen to use that Future (and no test sees what an earlier one did to them)."""
    from concurrent.futures import _base

    if executors == "oxloop":
        from oxloop._future import Future
    else:
        Future = _base.Future
    pool_substitution.count_futures(Future)
    for mod in modules:
        if getattr(mod, "Future", None) is _base.Future:
            mod.Future = Future
    holders = [
        (mod, name, getattr(mod, name))
        for mod in modules
        for name in FUTURE_CONSTANTS
        if isinstance(getattr(mod, name, None), _base.Future)
    ]

    def refresh() -> None:
        made: dict[str, object] = {}
        for mod, name, old in holders:
            if name not in made:
                new = Future()
                new._state, new._exception, new._result = old._state, old._exception, old._result
                made[name] = new
            setattr(mod, name, made[name])

    return refresh


def _prelude_wrapper(run, prelude: str):
    def wrapper(*args, **kwargs):
        args = list(args)
        for i, arg in enumerate(args[:-1]):
            if arg == "-c" and isinstance(args[i + 1], str):
                args[i + 1] = prelude + args[i + 1]
                break
        return run(*args, **kwargs)

    wrapper.__wrapped__ = run
    return wrapper


def _adapt_subprocesses(modules: list, prelude: str) -> None:
    for mod in modules:
        for name in ("assert_python_ok", "assert_python_failure"):
            run = getattr(mod, name, None)
            if run is not None and not hasattr(run, "__wrapped__"):
                setattr(mod, name, _prelude_wrapper(run, prelude))


def _check_mixins(
    modules: list, classes: dict[str, type], others: dict[type, tuple[str, str]]
) -> str | None:
    """Every ``executor_type`` of the imported tests must be a pool under test, or a
    stdlib pool oxloop does not replace (``others``: its tests are not applicable)."""
    under_test = set(classes.values())
    seen = 0
    for mod in modules:
        for name, obj in vars(mod).items():
            exe = getattr(obj, "executor_type", None) if isinstance(obj, type) else None
            if exe is None:
                continue
            if exe in others:
                continue
            seen += 1
            if exe not in under_test:
                return f"{mod.__name__}.{name}.executor_type is {exe!r}, not a pool under test"
    return None if seen else "no test class with an executor_type was found"


class CountingResult(shared.JsonResult):
    """``JsonResult`` that also reports how many pools/Futures under test a test built."""

    made: tuple[int, int] = (0, 0)
    before_test = None

    def startTest(self, test):
        self._start = (pool_substitution.POOLS.count, pool_substitution.FUTURES.count)
        if self.before_test is not None:
            self.before_test()
        super().startTest(test)

    def stopTest(self, test):
        start = getattr(self, "_start", (0, 0))
        self.made = (
            pool_substitution.POOLS.count - start[0],
            pool_substitution.FUTURES.count - start[1],
        )
        super().stopTest(test)


def child_main(opts) -> int:
    import faulthandler

    out = open(opts.json_out, "a", buffering=1, encoding="utf-8")
    result: CountingResult | None = None

    def emit(obj) -> None:
        if (
            obj.get("ev") == "result"
            and result is not None
            and obj.get("outcome") not in ("excluded", "not_applicable")
        ):
            obj["pools"], obj["futures"] = result.made
        out.write(json.dumps(obj) + "\n")
        out.flush()

    faulthandler.enable()
    sources, note = cpython_sources.locate(allow_fetch=False)
    if sources is None:
        emit({"ev": "fatal", "msg": f"test_concurrent_futures unavailable: {note}"})
        return 3
    cpython_sources.activate(sources)
    try:
        classes = pool_substitution.install(opts.executors)
        modules = [importlib.import_module(name) for name in sources.modules]
    except unittest.SkipTest as exc:
        emit({"ev": "module_skipped", "reason": str(exc)})
        return 0
    except Exception as exc:  # noqa: BLE001 - report anything, e.g. ImportError
        emit({"ev": "fatal", "msg": f"cannot import the tests: {type(exc).__name__}: {exc}"})
        return 3
    refresh_constants = _substitute_future(modules, opts.executors)
    _adapt_subprocesses(
        modules,
        pool_substitution.subprocess_prelude(
            opts.executors, [sources.stage] if sources.stage else []
        ),
    )
    others = pool_substitution.not_replaced()
    problem = _check_mixins(modules, classes, others)
    emit(
        {
            "ev": "setup",
            "python": sys.version.split()[0],
            "origin": sources.origin,
            "pools": {name: f"{c.__module__}.{c.__qualname__}" for name, c in classes.items()},
        }
    )
    if problem:
        emit({"ev": "fatal", "msg": problem})
        return 3
    if opts.preflight:
        return 0

    exclusions.validate()
    tests = []
    for mod in modules:
        suite = unittest.defaultTestLoader.loadTestsFromModule(mod)
        for test in shared.iter_tests(suite):
            if isinstance(test, unittest.loader._FailedTest):
                tests.append(test)
            elif _class_of(test.id()) == opts.child or opts.child == "*":
                if shared.k_match(test.id(), opts.k):
                    tests.append(test)
    if opts.ids_file:
        with open(opts.ids_file, encoding="utf-8") as f:
            only = {line.strip() for line in f if line.strip()}
        tests = [t for t in tests if t.id() in only]
    emit({"ev": "collected", "ids": [t.id() for t in tests]})
    if opts.collect_only:
        return 0

    to_run = []
    for test in tests:
        other = others.get(getattr(type(test), "executor_type", None))
        hit = exclusions.match(test.id()) if opts.executors == "oxloop" else None
        if other is not None:
            emit(
                {
                    "ev": "result",
                    "id": test.id(),
                    "outcome": "not_applicable",
                    "duration": 0,
                    "summary": f"[executor_type is concurrent.futures.{other[0]}] {other[1]}",
                    "errors": [],
                }
            )
        elif hit and not opts.no_exclusions:
            _pattern, private, reason = hit
            emit(
                {
                    "ev": "result",
                    "id": test.id(),
                    "outcome": "excluded",
                    "duration": 0,
                    "summary": f"[reads {private}] {reason}",
                    "errors": [],
                }
            )
        else:
            to_run.append(test)
    result = CountingResult(emit, opts.test_timeout)
    result.before_test = refresh_constants
    unittest.TestSuite(to_run).run(result)
    emit({"ev": "done"})
    out.close()
    return 0


def _class_of(test_id: str) -> str:
    return test_id.rsplit(".", 1)[0]


# ---------------------------------------------------------------------------------------------
# Parent side
# ---------------------------------------------------------------------------------------------


@dataclasses.dataclass
class Record:
    id: str
    outcome: str  # passed / failed / skipped / excluded / not_applicable
    summary: str = ""
    details: str = ""
    duration: float = 0.0
    made: int = 0  # pools + Futures under test the test built


@dataclasses.dataclass
class ClassResult:
    key: str  # module.Class
    records: dict[str, Record] = dataclasses.field(default_factory=dict)
    crashes: list[str] = dataclasses.field(default_factory=list)
    fatal: str | None = None
    elapsed: float = 0.0

    @property
    def name(self) -> str:
        return self.key.rsplit(".", 1)[-1]


def _child_cmd(opts, cls: str, json_out: str, extra: list[str]) -> list[str]:
    cmd = [
        sys.executable,
        "-X",
        "faulthandler",
        os.path.abspath(__file__),
        "--child",
        cls,
        "--executors",
        opts.executors,
        "--json-out",
        json_out,
        "--test-timeout",
        str(opts.test_timeout),
    ]
    for k in opts.k or ():
        cmd += ["-k", k]
    if opts.no_exclusions:
        cmd.append("--no-exclusions")
    return cmd + extra


def _spawn(opts, cmd: list[str], log: str, timeout: float) -> tuple[int | None, bool]:
    """Runs a child in its own session; returns (status, timed_out)."""
    with open(log, "wb") as logf:
        proc = subprocess.Popen(
            cmd,
            stdout=logf,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=HERE,
            start_new_session=True,
        )
        timed_out = False
        try:
            rc = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            # SIGABRT first: faulthandler then dumps every thread's traceback to the log
            os.kill(proc.pid, signal.SIGABRT)
            try:
                rc = proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                rc = proc.wait()
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)  # what the child's own children left
    return rc, timed_out


def collect(opts, workdir: str) -> tuple[dict | None, list[str], str | None]:
    """(setup event, test ids, fatal message) from one collecting child."""
    json_out = os.path.join(workdir, "collect.jsonl")
    log = os.path.join(workdir, "collect.log")
    rc, _ = _spawn(opts, _child_cmd(opts, "*", json_out, ["--collect-only"]), log, 300)
    setup, ids, fatal, skipped = None, [], None, None
    for ev in shared._read_events(json_out):
        kind = ev.get("ev")
        if kind == "setup":
            setup = ev
        elif kind == "collected":
            ids = ev["ids"]
        elif kind == "fatal":
            fatal = ev["msg"]
        elif kind == "module_skipped":
            skipped = ev["reason"]
    if skipped:
        fatal = f"the tests skip themselves: {skipped}"
    if fatal is None and (rc != 0 or setup is None):
        fatal = f"collecting child failed (status {rc}):\n{shared._tail(log)}"
    return setup, ids, fatal


def run_class(opts, key: str, ids: list[str], workdir: str) -> ClassResult:
    res = ClassResult(key)
    t0 = time.monotonic()
    remaining_file: str | None = None
    attempt = 0
    safe = key.replace(".", "_")
    while True:
        attempt += 1
        json_out = os.path.join(workdir, f"{safe}.{attempt}.jsonl")
        log = os.path.join(workdir, f"{safe}.{attempt}.log")
        extra = ["--ids-file", remaining_file] if remaining_file else []
        rc, timed_out = _spawn(
            opts, _child_cmd(opts, key, json_out, extra), log, opts.class_timeout
        )
        started: str | None = None
        done = False
        for ev in shared._read_events(json_out):
            kind = ev.get("ev")
            if kind == "fatal":
                res.fatal = ev["msg"]
            elif kind == "start":
                started = ev["id"]
            elif kind == "result":
                errs = ev.get("errors") or []
                res.records[ev["id"]] = Record(
                    ev["id"],
                    ev["outcome"],
                    ev.get("summary") or "",
                    "\n".join(e["traceback"] for e in errs if e.get("traceback")),
                    ev.get("duration", 0.0),
                    ev.get("pools", 0) + ev.get("futures", 0),
                )
                if started == ev["id"]:
                    started = None
            elif kind == "fixture_error":
                fid = ev["description"]
                res.records[fid] = Record(fid, "failed", ev["summary"], ev.get("traceback", ""))
            elif kind == "fixture_skip":
                for tid in ids:
                    res.records.setdefault(tid, Record(tid, "skipped", ev["reason"]))
            elif kind == "done":
                done = True
        if res.fatal or done:
            for tid in ids:
                res.records.setdefault(
                    tid, Record(tid, "failed", "not run (class or module fixture failed)")
                )
            break
        why = shared._describe_death(rc, timed_out, log, opts.test_timeout)
        if timed_out:
            why = f"class timeout ({opts.class_timeout:g}s): child killed"
        if started is not None:
            res.records[started] = Record(started, "failed", f"CRASH: {why}", shared._tail(log, 60))
        res.crashes.append(f"{why} while running {started or '(between tests)'}")
        remaining = [t for t in ids if t not in res.records]
        if not remaining:
            if started is None:
                # every test reported, then the child hung or died (module
                # cleanup, interpreter exit): that is a failure too
                exit_id = f"{key} (after its tests)"
                res.records[exit_id] = Record(exit_id, "failed", f"CRASH: {why}", shared._tail(log))
            break
        if attempt > opts.max_restarts:
            for tid in remaining:
                res.records[tid] = Record(tid, "failed", f"not run: class crashed ({why})")
            break
        remaining_file = os.path.join(workdir, f"{safe}.{attempt}.remaining")
        with open(remaining_file, "w", encoding="utf-8") as f:
            f.write("\n".join(remaining) + "\n")
    res.elapsed = time.monotonic() - t0
    return res


def classify(rec: Record) -> str:
    """passed / failed / unproven / excluded / skipped / not_applicable"""
    if rec.outcome == "passed" and rec.made == 0:
        return "unproven"
    return rec.outcome


KINDS = ("passed", "failed", "unproven", "excluded", "skipped", "not_applicable")


def _counts(res: ClassResult) -> dict[str, int]:
    c = dict.fromkeys(KINDS, 0)
    for rec in res.records.values():
        c[classify(rec)] += 1
    if res.fatal:
        c["failed"] += 1
    return c


def _print_class(res: ClassResult) -> None:
    c = _counts(res)
    line = (
        f"{c['passed']:3} passed, {c['failed']:2} failed, {c['excluded']:2} excluded, "
        f"{c['skipped']:2} skipped"
    )
    if c["unproven"]:
        line += f", {c['unproven']} passed without building a pool under test"
    if c["not_applicable"]:
        line += f", {c['not_applicable']} not applicable to oxloop"
    print(f"{res.name:52} {line}  ({res.elapsed:.1f}s)", flush=True)
    if res.fatal:
        print(f"!!! {res.name}: FATAL: {res.fatal}", flush=True)
    for crash in res.crashes:
        print(f"!!! {res.name}: CRASH: {crash}", flush=True)


def _report(opts, results: list[ClassResult]) -> int:
    total = dict.fromkeys(KINDS, 0)
    failing: list[Record] = []
    for res in results:
        for k, v in _counts(res).items():
            total[k] += v
        if res.fatal:
            failing.append(Record(f"{res.key} (class)", "failed", res.fatal))
        failing.extend(r for r in res.records.values() if classify(r) == "failed")
    not_applicable: dict[str, list[str]] = {}
    for res in results:
        for rec in res.records.values():
            if classify(rec) == "not_applicable":
                not_applicable.setdefault(rec.summary, []).append(res.name)
    if not_applicable:
        print(f"\nNot applicable to oxloop ({total['not_applicable']} tests, not counted):")
        for why, names in not_applicable.items():
            print(f"  {', '.join(dict.fromkeys(names))}  --  {why}")
    if failing:
        print(f"\nFailing tests ({len(failing)}):")
        for rec in failing:
            print(f"  {rec.id}  --  {rec.summary}")
            if opts.verbose and rec.details:
                print("    " + rec.details.rstrip().replace("\n", "\n    "))
    if opts.json:
        with open(opts.json, "w", encoding="utf-8") as f:
            json.dump(
                {r.key: [dataclasses.asdict(x) for x in r.records.values()] for r in results},
                f,
                indent=1,
            )
    print()
    print(
        f"On {opts.executors}'s pools: {total['passed']} passed, {total['failed']} failed, "
        f"{total['excluded']} excluded (exclusions.py), {total['skipped']} skipped by unittest, "
        f"{total['unproven']} passed without building a pool under test (not counted), "
        f"{total['not_applicable']} not applicable to oxloop (not counted)"
    )
    print(f"{total['passed']} passed, {total['failed']} failed")
    return 0 if total["failed"] == 0 else 1


def _select_classes(opts, ids: list[str]) -> dict[str, list[str]]:
    by_class: dict[str, list[str]] = {}
    patterns = [p.strip() for p in (opts.classes or "").split(",") if p.strip()]
    for tid in ids:
        key = _class_of(tid)
        name = key.rsplit(".", 1)[-1]
        if patterns and not any(fnmatch.fnmatchcase(name, p) for p in patterns):
            continue
        by_class.setdefault(key, []).append(tid)
    return by_class


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--executors",
        choices=("oxloop", "stdlib"),
        default="oxloop",
        help="pools to test; 'stdlib' is the baseline (shows what fails for the environment)",
    )
    ap.add_argument(
        "--classes", help="comma-separated globs of test class names, e.g. 'ThreadPool*'"
    )
    ap.add_argument(
        "-k", action="append", default=[], help="only tests whose id contains/matches this"
    )
    ap.add_argument("-j", "--jobs", type=int, default=1, help="classes run in parallel")
    ap.add_argument("-v", "--verbose", action="store_true", help="print full tracebacks")
    ap.add_argument("--list-classes", action="store_true", help="list test classes and exit")
    ap.add_argument("--json", metavar="FILE", help="write all per-test results to FILE")
    ap.add_argument("--class-timeout", type=float, default=300.0, help="seconds one child may run")
    ap.add_argument("--test-timeout", type=float, default=60.0, help="seconds one test may run")
    ap.add_argument(
        "--max-restarts", type=int, default=3, help="children restarted per class after crashes"
    )
    ap.add_argument(
        "--no-exclusions", action="store_true", help="also run the tests in exclusions.py"
    )
    ap.add_argument("--keep-logs", metavar="DIR", help="keep child logs/JSON in DIR")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--json-out", help=argparse.SUPPRESS)
    ap.add_argument("--ids-file", help=argparse.SUPPRESS)
    ap.add_argument("--collect-only", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--preflight", action="store_true", help=argparse.SUPPRESS)
    opts = ap.parse_args(argv)
    if opts.child:
        return child_main(opts)

    sources, note = cpython_sources.locate(allow_fetch=True)
    if sources is None:
        print(
            f"UNAVAILABLE: CPython {cpython_sources.VERSION}'s test_concurrent_futures "
            f"could not be found ({note}); nothing was run"
        )
        print("0 passed, 0 failed")
        return 0
    workdir = opts.keep_logs or tempfile.mkdtemp(prefix="oxloop-cf-")
    os.makedirs(workdir, exist_ok=True)
    try:
        return _run(opts, sources, workdir)
    finally:
        if not opts.keep_logs:
            import shutil

            shutil.rmtree(workdir, ignore_errors=True)


def _run(opts, sources, workdir: str) -> int:
    setup, ids, fatal = collect(opts, workdir)
    if fatal:
        print(f"FATAL: the tests would not run on {opts.executors}'s pools: {fatal}")
        print("0 passed, 1 failed")
        return 2
    print(f"CPython {setup['python']} test_concurrent_futures from {setup['origin']}")
    print("pools under test: " + ", ".join(f"{k} = {v}" for k, v in setup["pools"].items()))
    by_class = _select_classes(opts, ids)
    if opts.list_classes:
        for key, tids in by_class.items():
            print(f"{key.rsplit('.', 1)[-1]:52} {len(tids):3} tests")
        return 0
    with _RunnerThreads(max_workers=max(1, opts.jobs)) as pool:
        futures = {k: pool.submit(run_class, opts, k, t, workdir) for k, t in by_class.items()}
        results = []
        for key in by_class:
            res = futures[key].result()
            results.append(res)
            _print_class(res)
    return _report(opts, results)


if __name__ == "__main__":
    sys.exit(main())
