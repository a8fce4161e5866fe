#!/usr/bin/env python3
"""Run CPython's own asyncio test suite (``test.test_asyncio``) with oxloop as the event loop.

The suite is the one of the interpreter that runs this script (3.11 to 3.15): run it with
each version's python to test that version. Modules a version lacks (``ModuleSpec.since``)
are listed as not run; exclusions may hold only for some versions (``exclusions.py``).

Every module runs in its own child process (this same script with ``--child``), with a
per-module timeout, and inside it a per-test watchdog (faulthandler) so that a hanging test
is reported by name.  If a child dies (hang, segfault, abort) the test it was running is
reported as failed and the rest of the module is resumed in a new child (at most
``--max-restarts`` times; after that the remaining tests are reported as failed).

How the tests are made to use oxloop:

* the event loop policy is ``oxloop.EventLoopPolicy()`` and ``asyncio.EventLoop`` (3.13+, the
  default loop class that 3.14's tests name directly) is ``oxloop.Loop``;
  ``asyncio.set_event_loop_policy(None)``
  (called by every test_asyncio module's ``tearDownModule`` and by some ``tearDown``s) and
  the lazy ``asyncio.events._init_event_loop_policy`` are wrapped so that they re-install a
  fresh oxloop policy instead of the stdlib one;
* test classes that exist once per stdlib selector (``SelectEventLoopTests``,
  ``EPollEventLoopTests`` ...) are replaced by one synthesized ``Oxloop...Tests`` class whose
  loop factory returns ``oxloop.new_event_loop()`` (see ``ModuleSpec.synth``);
* adapters (all disabled by ``--no-adapters``): ``test_utils.TestCase.new_test_loop()``
  called without a virtual-time generator returns an oxloop loop instead of the stdlib
  ``TestLoop`` (used by most of test_futures/test_tasks; with the stdlib SelectorEventLoop
  substituted the same way every such test passes, so the substitution is sound; tests that
  poke at TestLoop/BaseEventLoop internals keep the TestLoop, see ``KEEP_TEST_LOOP``); the
  fixtures of test_runners and test_pep492 that build a mocked ``asyncio.BaseEventLoop`` for
  loop-agnostic tests build an oxloop loop instead; ``test_utils.TestCase.close_loop()``
  (harness code) tolerates loops without the private ``_default_executor``.

How the runner proves that oxloop was tested: ``run_forever``/``run_until_complete`` of the
oxloop loop class are wrapped (from here, oxloop itself is not modified) and every test
records whether an oxloop loop was run while it executed.  A test counts as passed only if
it did; tests that passed without running an oxloop loop (they built ``test_utils.TestLoop``,
a mocked ``BaseEventLoop``, a ``SelectorEventLoop`` ..., or built an oxloop loop but never ran
it) are counted separately as "passed only on stdlib loops" and do not count as passed.
Loop runs done by the harness's own cleanup (the adapted ``close_loop``) are not counted.

Tests listed in ``exclusions.py`` (stdlib-private internals, stdlib mocks, stdlib-only
classes; never "not implemented yet") are not run and are counted as excluded.

Usage::

    python tests/cpython/run_cpython_tests.py                  # default modules on oxloop
    python tests/cpython/run_cpython_tests.py --modules test_tasks,test_locks -k gather -v
    python tests/cpython/run_cpython_tests.py --all-known       # also modules needing subprocesses
    python tests/cpython/run_cpython_tests.py --loop asyncio    # baseline: stdlib loop

The last line of the output is ``N passed, N failed, N skipped`` (skipped = excluded +
skipped by unittest + passed only on stdlib loops); the exit code is 0 iff no test failed.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import faulthandler
import fnmatch
import functools
import importlib
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import unittest
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

HERE = os.path.dirname(os.path.abspath(__file__))
PKG = "test.test_asyncio"
LOOPS = ("oxloop", "asyncio", "uvloop")

# ---------------------------------------------------------------------------------------------
# Module table
# ---------------------------------------------------------------------------------------------

# EventLoopTestsMixin tests of test_events that need no transport (no sockets/pipes/ssl/
# subprocess transports); everything else of the mixin belongs to "test_events_transports".
EVENTS_NO_TRANSPORT = (
    "test_run_until_complete_nesting",
    "test_run_until_complete",
    "test_run_until_complete_stopped",
    "test_call_later",
    "test_call_soon",
    "test_call_soon_threadsafe",
    "test_call_soon_threadsafe_same_thread",
    "test_run_in_executor",
    "test_run_in_executor_cancel",
    "test_reader_callback",
    "test_writer_callback",
    "test_add_signal_handler",
    "test_signal_handling_while_selecting",
    "test_signal_handling_args",
    "test_internal_fds",
    "test_prompt_cancellation",
    "test_timeout_rounding",
    "test_remove_fds_after_closing",
    "test_add_fds_after_closing",
    "test_close_running_event_loop",
    "test_close",
)
# test_events classes that need transports (create_server ...).
EVENTS_TRANSPORT_CLASSES = ("TestServer",)
# test_events classes parametrized by stdlib selector; replaced by synthesized Oxloop classes.
STDLIB_LOOP_CLASSES = (
    "SelectEventLoopTests",
    "EPollEventLoopTests",
    "PollEventLoopTests",
    "KqueueEventLoopTests",
    "ProactorEventLoopTests",
)


@dataclasses.dataclass(frozen=True)
class Synth:
    """A test class synthesized in the test module: ``class name(*bases)`` whose
    ``factory`` method returns a loop of the loop under test.

    ``factory="setUp"`` is for stdlib classes that build their loop inline in ``setUp``
    (``self.loop = asyncio.SelectorEventLoop()``): the synthesized ``setUp`` runs the stdlib
    class's ``setUp`` (fixtures, files ...), closes the stdlib loop it built and replaces
    ``self.loop`` with a loop under test, registered like the original
    (``test_utils.TestCase.set_event_loop``: current loop None, closed at cleanup)."""

    name: str
    # dotted names resolved in the test module's namespace: the mixins of a stdlib class, or
    # the stdlib class itself when it defines tests of its own; a name starting with "?" is
    # left out when this Python's module lacks it
    bases: tuple[str, ...]
    factory: str  # e.g. "create_event_loop" or "new_loop", or "setUp" (see above)


@dataclasses.dataclass(frozen=True)
class ModuleSpec:
    key: str  # the name --modules takes
    module: str  # submodule of test.test_asyncio
    synth: tuple[Synth, ...] = ()
    drop_classes: tuple[str, ...] = ()  # stdlib-loop twins of the synthesized classes
    # select(class_name, method_name) -> bool: restrict a module to a part of it
    select: Callable[[str, str], bool] | None = None
    adapter: str | None = None  # name of a function in ADAPTERS
    note: str = ""
    # first CPython (major, minor) whose test.test_asyncio has the module
    since: tuple[int, int] = (3, 11)

    def available(self) -> bool:
        return sys.version_info[:2] >= self.since


def _events_base(cls: str, meth: str) -> bool:
    if cls == "OxloopEventLoopTests":
        return meth in EVENTS_NO_TRANSPORT
    return cls not in EVENTS_TRANSPORT_CLASSES and cls != "OxloopSubprocessTests"


def _events_transports(cls: str, meth: str) -> bool:
    if cls == "OxloopEventLoopTests":
        return meth not in EVENTS_NO_TRANSPORT
    return cls in EVENTS_TRANSPORT_CLASSES


def _events_subprocess(cls: str, meth: str) -> bool:
    return cls == "OxloopSubprocessTests" and meth.startswith("test_subprocess")


_EVENTS_SYNTH = (
    Synth(
        "OxloopEventLoopTests", ("EventLoopTestsMixin", "test_utils.TestCase"), "create_event_loop"
    ),
    Synth(
        "OxloopSubprocessTests",
        # 3.14 dropped UnixEventLoopTestsMixin ("?": optional); EventLoopTestsMixin (its base
        # before) gives the loop fixture
        (
            "?UnixEventLoopTestsMixin",
            "SubprocessTestsMixin",
            "EventLoopTestsMixin",
            "test_utils.TestCase",
        ),
        "create_event_loop",
    ),
)

SPECS: dict[str, ModuleSpec] = {}


def _add(spec: ModuleSpec) -> None:
    SPECS[spec.key] = spec


for _name in (
    "test_futures",
    "test_futures2",
    "test_tasks",
    "test_locks",
    "test_queues",
    "test_timeouts",
    "test_taskgroups",
    "test_context",
    "test_waitfor",
    "test_threads",
    "test_streams",
    "test_protocols",
    "test_transports",
):
    _add(ModuleSpec(_name, _name))
_add(
    ModuleSpec(
        "test_eager_task_factory",
        "test_eager_task_factory",
        since=(3, 12),
        note="asyncio.eager_task_factory / create_eager_task_factory on the loop's create_task",
    )
)
_add(
    ModuleSpec(
        "test_staggered",
        "test_staggered",
        since=(3, 13),
        note="asyncio.staggered.staggered_race in IsolatedAsyncioTestCase",
    )
)
_add(
    ModuleSpec(
        "test_graph",
        "test_graph",
        since=(3, 14),
        note="asyncio.capture_call_graph/print_call_graph of tasks run on the loop",
    )
)
_add(
    ModuleSpec(
        "test_free_threading",
        "test_free_threading",
        since=(3, 14),
        note="all_tasks/current_task and task factories under threads (C and Py tasks)",
    )
)
_add(
    ModuleSpec(
        "test_tools",
        "test_tools",
        since=(3, 14),
        note="python -m asyncio ps/pstree table and tree builders (pure functions)",
    )
)
_add(
    ModuleSpec(
        "test_server_context",
        "test_server_context",
        since=(3, 15),
        note="protocol callbacks run in the context of create_server/create_connection",
    )
)
_add(
    ModuleSpec(
        "test_runners",
        "test_runners",
        adapter="runners",
        note="BaseTest.new_loop (a mocked BaseEventLoop) returns an oxloop loop",
    )
)
_add(
    ModuleSpec(
        "test_pep492",
        "test_pep492",
        adapter="pep492",
        note="BaseTest.setUp (a mocked BaseEventLoop) builds an oxloop loop",
    )
)
_add(
    ModuleSpec(
        "test_sock_lowlevel",
        "test_sock_lowlevel",
        synth=(
            Synth(
                "OxloopSockTests",
                ("BaseSockTestsMixin", "test_utils.TestCase"),
                "create_event_loop",
            ),
        ),
        drop_classes=STDLIB_LOOP_CLASSES,
    )
)
_add(
    ModuleSpec(
        "test_events",
        "test_events",
        synth=_EVENTS_SYNTH,
        drop_classes=STDLIB_LOOP_CLASSES,
        select=_events_base,
        note="EventLoopTestsMixin without transports + loop-independent classes",
    )
)
_add(
    ModuleSpec(
        "test_events_transports",
        "test_events",
        synth=_EVENTS_SYNTH,
        drop_classes=STDLIB_LOOP_CLASSES,
        select=_events_transports,
        note="EventLoopTestsMixin TCP/UDP/Unix/SSL/pipe/pty tests + TestServer",
    )
)
_add(
    ModuleSpec(
        "test_events_subprocess",
        "test_events",
        synth=_EVENTS_SYNTH,
        drop_classes=STDLIB_LOOP_CLASSES,
        select=_events_subprocess,
        note="SubprocessTestsMixin",
    )
)
_add(
    ModuleSpec(
        "test_server",
        "test_server",
        synth=(
            # SelectorStartServerTests adds test_start_unix_server_1 to BaseStartServer
            Synth("OxloopStartServerTests", ("SelectorStartServerTests",), "new_loop"),
        ),
        drop_classes=("SelectorStartServerTests", "ProactorStartServerTests"),
    )
)
_add(
    ModuleSpec(
        "test_buffered_proto",
        "test_buffered_proto",
        synth=(
            Synth(
                "OxloopBufferedProtocolTests",
                ("BaseTestBufferedProtocol", "unittest.TestCase"),
                "new_loop",
            ),
        ),
        drop_classes=("BufferedProtocolSelectorTests", "BufferedProtocolProactorTests"),
    )
)
_add(
    ModuleSpec(
        "test_sendfile",
        "test_sendfile",
        synth=(
            Synth(
                "OxloopSendfileTests",
                ("SendfileTestsBase", "test_utils.TestCase"),
                "create_event_loop",
            ),
        ),
        drop_classes=STDLIB_LOOP_CLASSES,
    )
)

_add(
    ModuleSpec(
        "test_ssl",
        "test_ssl",
        note="TestSSL: TLS client/server over create_connection/create_server/start_tls",
    )
)
_add(
    ModuleSpec(
        "test_sslproto",
        "test_sslproto",
        synth=(
            Synth(
                "OxloopStartTLSTests",
                ("BaseStartTLS", "unittest.TestCase"),
                "new_loop",
            ),
        ),
        drop_classes=("SelectorStartTLSTests", "ProactorStartTLSTests"),
        note="BaseStartTLS on oxloop + SslProtoHandshakeTests",
    )
)
_add(
    ModuleSpec(
        "test_subprocess",
        "test_subprocess",
        note="SubprocessMixin under each child watcher (the policy's loop is oxloop)",
    )
)

_add(
    ModuleSpec(
        "test_unix_events",
        "test_unix_events",
        synth=(
            Synth(
                "OxloopUnixSocketTests",
                ("SelectorEventLoopUnixSocketTests",),
                "setUp",
            ),
        ),
        drop_classes=("SelectorEventLoopUnixSocketTests",),
        note="create_unix_server/connection checks on oxloop + TestFunctional",
    )
)
_add(
    ModuleSpec(
        "test_base_events",
        "test_base_events",
        synth=(
            # With --loop asyncio, test_check_thread and
            # test_asyncgen_finalization_by_gc_in_other_thread of this class hang: they replace
            # loop._write_to_self (the self-pipe wakeup of a real selector loop) with a mock,
            # which only the original's mocked selector tolerates. oxloop wakes itself through
            # its own waker, so on oxloop they test call_soon_threadsafe/asyncgen finalization
            # from another thread as written.
            Synth("OxloopBaseEventLoopTests", ("BaseEventLoopTests",), "setUp"),
            Synth(
                "OxloopNetworkTests",
                ("BaseEventLoopWithSelectorTests",),
                "setUp",
            ),
            Synth(
                "OxloopSockSendfileTests",
                ("BaseLoopSockSendfileTests",),
                "setUp",
            ),
        ),
        drop_classes=(
            "BaseEventLoopTests",
            "BaseEventLoopWithSelectorTests",
            "BaseLoopSockSendfileTests",
        ),
        note="BaseEventLoopTests + create_connection/server/datagram/sock_sendfile on oxloop",
    )
)

# What runs by default: everything that passes in full on oxloop.
DEFAULT_MODULES = (
    "test_futures",
    "test_futures2",
    "test_tasks",
    "test_eager_task_factory",
    "test_locks",
    "test_queues",
    "test_timeouts",
    "test_taskgroups",
    "test_staggered",
    "test_graph",
    "test_free_threading",
    "test_tools",
    "test_runners",
    "test_context",
    "test_pep492",
    "test_waitfor",
    "test_threads",
    "test_sock_lowlevel",
    "test_events",
    "test_server",
    "test_server_context",
    "test_sendfile",
    "test_buffered_proto",
    "test_protocols",
    "test_transports",
    "test_events_transports",
    "test_streams",
    "test_events_subprocess",
    "test_ssl",
    "test_sslproto",
    "test_subprocess",
    "test_unix_events",
    "test_base_events",
)
# Everything the runner knows how to run (--all-known): the defaults + the rest.
ALL_KNOWN_MODULES = DEFAULT_MODULES + tuple(k for k in SPECS if k not in DEFAULT_MODULES)


# ---------------------------------------------------------------------------------------------
# Child side: loop selection, policy, instrumentation, adapters, running one module
# ---------------------------------------------------------------------------------------------


class RunCounter:
    """Counts runs of loops of the loop-under-test (thread-safe enough: increments only)."""

    def __init__(self) -> None:
        self.count = 0
        self.suspended = threading.local()

    def note(self) -> None:
        if not getattr(self.suspended, "on", False):
            self.count += 1


RUNS = RunCounter()  # runs of a loop under test
BUILT = RunCounter()  # loops under test built through the policy or the runner's factory


class LoopUnderTest:
    """The loop implementation the tests are run on."""

    def __init__(self, kind: str) -> None:
        import asyncio

        self.kind = kind
        if kind == "oxloop":
            import oxloop

            self.module = oxloop
            self.new_loop = oxloop.new_event_loop
            self.policy_class = oxloop.EventLoopPolicy
            probe = oxloop.new_event_loop()
            self.loop_classes = tuple({type(probe), oxloop.Loop})
            probe.close()
        elif kind == "uvloop":
            import uvloop

            self.module = uvloop
            self.new_loop = uvloop.new_event_loop
            self.policy_class = uvloop.EventLoopPolicy
            self.loop_classes = (uvloop.Loop,)
        elif kind == "asyncio":
            # A marker subclass, so that loops built through the policy/factory can be told
            # apart from the stdlib loops some tests build on purpose.
            class BaselineLoop(asyncio.SelectorEventLoop):
                pass

            class BaselinePolicy(asyncio.DefaultEventLoopPolicy):
                _loop_factory = BaselineLoop

            for cls in (BaselineLoop, BaselinePolicy):
                cls.__module__ = "cpython_runner"
                cls.__qualname__ = cls.__name__

            self.module = asyncio
            self.new_loop = BaselineLoop
            self.policy_class = BaselinePolicy
            self.loop_classes = (BaselineLoop,)
        else:
            raise ValueError(kind)

    def is_target_loop(self, loop: object) -> bool:
        if self.kind == "oxloop":
            mod = type(loop).__module__ or ""
            return isinstance(loop, self.loop_classes) and mod.split(".")[0] == "oxloop"
        return isinstance(loop, self.loop_classes)

    def describe(self) -> str:
        cls = self.loop_classes[0]
        where = getattr(self.module, "__file__", "?")
        return f"{cls.__module__}.{cls.__qualname__} ({where})"


def _wrap_run_method(orig: Callable) -> Callable:
    @functools.wraps(orig)
    def wrapper(self, *args, **kwargs):
        RUNS.note()
        return orig(self, *args, **kwargs)

    wrapper.__oxloop_runner_wrapped__ = True
    return wrapper


def instrument(lut: LoopUnderTest) -> str:
    """Make every run of a loop of the loop under test bump RUNS.  Returns the method used."""
    names = ("run_forever", "run_until_complete")
    try:
        for cls in lut.loop_classes:
            for name in names:
                orig = getattr(cls, name)
                if not getattr(orig, "__oxloop_runner_wrapped__", False):
                    setattr(cls, name, _wrap_run_method(orig))
        return "wrapped run_forever/run_until_complete"
    except (TypeError, AttributeError):
        pass
    # Immutable (static/native) type: fall back to a profiler hook, which sees calls of both
    # Python functions and builtin methods.
    classes = lut.loop_classes

    def profiler(frame, event, arg):
        if event == "c_call":
            if getattr(arg, "__name__", None) in names and isinstance(
                getattr(arg, "__self__", None), classes
            ):
                RUNS.note()
        elif event == "call" and frame.f_code.co_name in names:
            if isinstance(frame.f_locals.get("self"), classes):
                RUNS.note()

    sys.setprofile(profiler)
    threading.setprofile(profiler)
    return "profiler hook (loop class is immutable)"


def instrument_creation(lut: LoopUnderTest) -> None:
    """Count loops built through the runner's factory and the policy (informational only)."""
    factory = lut.new_loop

    def new_loop():
        BUILT.note()
        return factory()

    lut.new_loop = new_loop
    orig = lut.policy_class.new_event_loop

    @functools.wraps(orig)
    def new_event_loop(self):
        BUILT.note()
        return orig(self)

    with contextlib.suppress(TypeError, AttributeError):
        lut.policy_class.new_event_loop = new_event_loop


def install_policy(lut: LoopUnderTest) -> None:
    """Install the loop-under-test's policy and keep it installed across resets to None."""
    import asyncio
    from asyncio import events

    orig_set = events.set_event_loop_policy

    def set_event_loop_policy(policy):
        if policy is None:
            policy = lut.policy_class()
        orig_set(policy)

    def _init_event_loop_policy():
        with events._lock:
            if events._event_loop_policy is None:
                events._event_loop_policy = lut.policy_class()

    events.set_event_loop_policy = set_event_loop_policy
    asyncio.set_event_loop_policy = set_event_loop_policy
    events._init_event_loop_policy = _init_event_loop_policy
    set_event_loop_policy(None)
    # asyncio.EventLoop (3.13+) is "the platform's default loop", what the policy's
    # new_event_loop() makes; 3.14's tests name it instead of going through the
    # deprecated policy (IsolatedAsyncioTestCase.loop_factory = asyncio.EventLoop,
    # asyncio.run(..., loop_factory=asyncio.EventLoop)). It is replaced before any test
    # module is imported, so class attributes pick up the loop under test.
    if hasattr(asyncio, "EventLoop"):
        asyncio.EventLoop = lut.loop_classes[0]
        sys.modules["asyncio.unix_events"].EventLoop = lut.loop_classes[0]


# -- adapters ----------------------------------------------------------------------------------


def _patch_close_loop(lut: LoopUnderTest) -> None:
    """test_utils.TestCase.close_loop() is harness code that reads loop._default_executor, a
    BaseEventLoop private attribute.  For loops without it, shut the default executor down
    through the public API instead.  Loop runs done by this cleanup are not counted."""
    from test.test_asyncio import utils as test_utils

    orig = test_utils.TestCase.close_loop

    def close_loop(loop):
        RUNS.suspended.on = True
        try:
            if hasattr(loop, "_default_executor"):
                return orig(loop)
            if not loop.is_closed():
                loop.run_until_complete(loop.shutdown_default_executor())
            loop.close()
        finally:
            RUNS.suspended.on = False

    test_utils.TestCase.close_loop = staticmethod(close_loop)


# Tests whose gen-less test loop stays a stdlib TestLoop under the substitution below, because
# the test uses BaseEventLoop internals of it.  (fnmatch pattern on the test id -> why)
KEEP_TEST_LOOP = {
    "*.test_futures.*.test_future_exception_never_retrieved*": (
        "check_future_exception_never_retrieved() asserts on a mock of asyncio.base_events.logger"
    ),
    "*.test_tasks.*.test_log_destroyed_pending_task": (
        "calls loop._run_once() and reads loop._ready"
    ),
    **{
        f"*.test_tasks.*GatherTests.{name}": "GatherTestsBase._run_loop() polls loop._ready"
        for name in (
            "test_success",
            "test_result_exception_success",
            "test_one_exception",
            "test_return_exceptions",
            "test_constructor_empty_sequence_use_running_loop",
            "test_constructor_empty_sequence_use_global_loop",
            "test_constructor_homogenous_futures",
            "test_one_cancellation",
            "test_result_exception_one_cancellation",
            "test_duplicate_coroutines",
            "test_issue46672",
        )
    },
}


def _patches_stdlib_loop(test) -> bool:
    """True if the test method is decorated with mock.patch() of something in
    asyncio.base_events (e.g. its logger): it observes the stdlib loop's plumbing."""
    meth = getattr(test, getattr(test, "_testMethodName", ""), None)
    for patching in getattr(meth, "patchings", ()):
        try:
            target = patching.getter()
        except Exception:  # noqa: BLE001
            continue
        name = getattr(target, "__name__", "") + "." + getattr(target, "__module__", "")
        if "asyncio.base_events" in name:
            return True
    return False


def _substitute_test_loop(lut: LoopUnderTest) -> None:
    """test_utils.TestCase.new_test_loop() without a time generator builds a TestLoop: a
    BaseEventLoop whose fake clock stays at 0 and on which timers cannot fire.  Tests that
    use it need nothing but a loop, so build a loop under test instead (validated: with the
    stdlib SelectorEventLoop substituted, all of them pass).  With a generator (virtual time)
    the stdlib TestLoop is kept, as it is for KEEP_TEST_LOOP and for tests that mock.patch
    asyncio.base_events."""
    from test.test_asyncio import utils as test_utils

    orig = test_utils.TestCase.new_test_loop

    def new_test_loop(self, gen=None):
        tid = self.id()
        if (
            gen is not None
            or _patches_stdlib_loop(self)
            or any(fnmatch.fnmatchcase(tid, p) for p in KEEP_TEST_LOOP)
        ):
            return orig(self, gen)
        loop = lut.new_loop()
        self.set_event_loop(loop)
        return loop

    test_utils.TestCase.new_test_loop = new_test_loop


def _adapt_runners(mod, lut: LoopUnderTest) -> None:
    """test_runners.BaseTest.new_loop builds a mocked asyncio.BaseEventLoop and records that
    shutdown_asyncgens() ran (checked in tearDown).  Build a loop under test instead."""

    def new_loop(self):
        loop = lut.new_loop()
        orig_shutdown = loop.shutdown_asyncgens

        async def shutdown_asyncgens():
            loop.shutdown_ag_run = True
            return await orig_shutdown()

        try:
            loop.shutdown_ag_run = False
            loop.shutdown_asyncgens = shutdown_asyncgens
        except AttributeError:
            # No instance __dict__: use a subclass carrying the same instrumentation.
            loop.close()

            class _RunnersTestLoop(type(loop)):
                shutdown_ag_run = False

                async def shutdown_asyncgens(self):
                    self.shutdown_ag_run = True
                    return await super().shutdown_asyncgens()

            loop = _RunnersTestLoop()
        return loop

    mod.BaseTest.new_loop = new_loop


def _adapt_pep492(mod, lut: LoopUnderTest) -> None:
    """test_pep492.BaseTest.setUp builds a mocked asyncio.BaseEventLoop; the tests themselves
    only need some loop.  Build a loop under test instead."""
    from test.test_asyncio import utils as test_utils

    def setUp(self):
        test_utils.TestCase.setUp(self)
        self.loop = lut.new_loop()
        self.set_event_loop(self.loop)

    mod.BaseTest.setUp = setUp


ADAPTERS: dict[str, Callable] = {"runners": _adapt_runners, "pep492": _adapt_pep492}


def _has(mod, dotted: str) -> bool:
    try:
        _resolve(mod, dotted)
    except AttributeError:
        return False
    return True


def _resolve(mod, dotted: str):
    obj = mod
    for part in dotted.split("."):
        obj = getattr(obj, part)
    return obj


def _inline_loop_setup(stdlib_class: type, lut: LoopUnderTest) -> Callable:
    """A setUp for a subclass of stdlib_class, whose setUp builds a stdlib loop inline: run
    it, then swap that loop for a loop under test."""

    def setUp(self):
        stdlib_class.setUp(self)
        self.loop.close()
        self.loop = lut.new_loop()
        self.set_event_loop(self.loop)

    return setUp


def prepare_module(spec: ModuleSpec, lut: LoopUnderTest, adapters: bool):
    mod = importlib.import_module(f"{PKG}.{spec.module}")
    for synth in spec.synth:
        try:
            bases = tuple(
                _resolve(mod, b.lstrip("?"))
                for b in synth.bases
                if not b.startswith("?") or _has(mod, b[1:])
            )
        except AttributeError:
            continue  # e.g. UnixEventLoopTestsMixin on Windows

        if synth.factory == "setUp":
            factory = _inline_loop_setup(bases[0], lut)
        else:

            def factory(self):
                return lut.new_loop()

        cls = type(
            synth.name,
            bases,
            {
                synth.factory: factory,
                "__module__": mod.__name__,
                "__qualname__": synth.name,
            },
        )
        setattr(mod, synth.name, cls)
    for name in spec.drop_classes:
        if hasattr(mod, name):
            delattr(mod, name)
    if adapters and spec.adapter:
        ADAPTERS[spec.adapter](mod, lut)
    return mod


def iter_tests(suite):
    for item in suite:
        if isinstance(item, unittest.TestSuite):
            yield from iter_tests(item)
        else:
            yield item


def k_match(test_id: str, patterns: list[str]) -> bool:
    if not patterns:
        return True
    for pat in patterns:
        if any(c in pat for c in "*?["):
            if fnmatch.fnmatchcase(test_id, pat) or fnmatch.fnmatchcase(test_id, f"*{pat}*"):
                return True
        elif pat in test_id:
            return True
    return False


def _summary(exc_type, exc_value, tb=None) -> str:
    """One line: the exception, plus where it was raised when its message says little."""
    lines = traceback.format_exception_only(exc_type, exc_value)
    text = "".join(lines).strip().splitlines()
    line = text[-1] if text else exc_type.__name__
    # assertion messages often continue with a multi-line diff; keep the first line
    if exc_type is not None and issubclass(exc_type, AssertionError) and len(text) > 1:
        line = text[0]
    if tb is not None and not (exc_type and issubclass(exc_type, AssertionError)):
        frames = traceback.extract_tb(tb)
        if frames:
            last = frames[-1]
            line += f"  [in {last.name}, {os.path.basename(last.filename)}:{last.lineno}]"
    return line[:300]


def _selftest_crash(test_id: str) -> None:
    """For testing the runner itself: CPYTHON_RUNNER_SELFTEST_CRASH="<glob>=abort|segv|hang"
    makes the child crash or hang when a matching test starts."""
    spec = os.environ.get("CPYTHON_RUNNER_SELFTEST_CRASH")
    if not spec or "=" not in spec:
        return
    pattern, how = spec.rsplit("=", 1)
    if not fnmatch.fnmatchcase(test_id, pattern):
        return
    if how == "abort":
        os.abort()
    elif how == "segv":
        import ctypes

        ctypes.string_at(0)
    elif how == "hang":
        while True:
            time.sleep(1)


class JsonResult(unittest.TestResult):
    """Streams one JSON line per test event to the parent."""

    def __init__(self, emit, test_timeout: float) -> None:
        super().__init__()
        self.emit = emit
        self.test_timeout = test_timeout
        self.cur: dict | None = None

    def startTest(self, test):
        super().startTest(test)
        self.cur = {
            "id": test.id(),
            "errors": [],
            "skip": None,
            "t0": time.monotonic(),
            "runs0": RUNS.count,
            "built0": BUILT.count,
        }
        self.emit({"ev": "start", "id": test.id()})
        if self.test_timeout > 0:
            faulthandler.dump_traceback_later(self.test_timeout, exit=True)
        _selftest_crash(test.id())

    def stopTest(self, test):
        faulthandler.cancel_dump_traceback_later()
        super().stopTest(test)
        cur, self.cur = self.cur, None
        if cur is None:
            return
        if cur["errors"]:
            outcome = "failed"
        elif cur["skip"] is not None:
            outcome = "skipped"
        else:
            outcome = "passed"
        self.emit(
            {
                "ev": "result",
                "id": cur["id"],
                "outcome": outcome,
                "ran": RUNS.count > cur["runs0"],
                "built": BUILT.count > cur["built0"],
                "duration": round(time.monotonic() - cur["t0"], 3),
                "summary": cur["errors"][0]["summary"] if cur["errors"] else cur["skip"],
                "errors": cur["errors"],
            }
        )

    def _record(self, test, err, kind: str, prefix: str = "") -> None:
        tb = self._exc_info_to_string(err, test)
        entry = {"kind": kind, "summary": prefix + _summary(*err), "traceback": tb}
        if self.cur is not None and (test.id() == self.cur["id"] or prefix):
            self.cur["errors"].append(entry)
        else:
            # setUpClass/tearDownModule... (an _ErrorHolder, outside any test)
            self.emit(
                {"ev": "fixture_error", "id": str(test.id()), "description": str(test), **entry}
            )

    def addError(self, test, err):
        super().addError(test, err)
        self._record(test, err, "error")

    def addFailure(self, test, err):
        super().addFailure(test, err)
        self._record(test, err, "failure")

    def addSubTest(self, test, subtest, err):
        super().addSubTest(test, subtest, err)
        if err is not None:
            desc = subtest._subDescription()
            self._record(test, err, "subtest", prefix=f"{desc}: ")

    def addSkip(self, test, reason):
        super().addSkip(test, reason)
        if self.cur is not None and test.id() == self.cur["id"]:
            self.cur["skip"] = reason
        elif self.cur is None:
            # setUpClass/setUpModule raised SkipTest: the tests of the class are not run
            self.emit({"ev": "fixture_skip", "description": str(test), "reason": reason})

    def addExpectedFailure(self, test, err):
        super().addExpectedFailure(test, err)

    def addUnexpectedSuccess(self, test):
        super().addUnexpectedSuccess(test)
        if self.cur is not None:
            self.cur["errors"].append(
                {"kind": "unexpected-success", "summary": "unexpected success", "traceback": ""}
            )


def child_main(args) -> int:
    import exclusions

    out = open(args.json_out, "a", buffering=1, encoding="utf-8")

    def emit(obj) -> None:
        out.write(json.dumps(obj) + "\n")
        out.flush()

    faulthandler.enable()
    try:
        lut = LoopUnderTest(args.loop)
    except Exception as exc:  # noqa: BLE001 - report anything, e.g. ImportError
        emit({"ev": "fatal", "msg": f"cannot load loop {args.loop!r}: {type(exc).__name__}: {exc}"})
        return 3
    how = instrument(lut)
    install_policy(lut)

    import asyncio

    probe = asyncio.new_event_loop()
    ok = lut.is_target_loop(probe)
    probe_type = f"{type(probe).__module__}.{type(probe).__qualname__}"
    probe.close()
    asyncio.set_event_loop(None)
    emit(
        {
            "ev": "setup",
            "loop": lut.describe(),
            "probe": probe_type,
            "instrument": how,
            "python": sys.version.split()[0],
        }
    )
    instrument_creation(lut)
    if not ok:
        emit(
            {
                "ev": "fatal",
                "msg": f"asyncio.new_event_loop() returned {probe_type}, not a {args.loop} loop",
            }
        )
        return 3
    if args.preflight:
        return 0

    exclusions.validate()
    spec = SPECS[args.child]
    if args.adapters:
        _patch_close_loop(lut)
    if args.adapters and args.substitute_test_loop:
        _substitute_test_loop(lut)
    try:
        mod = prepare_module(spec, lut, args.adapters)
        suite = unittest.defaultTestLoader.loadTestsFromModule(mod)
    except unittest.SkipTest as exc:
        emit({"ev": "module_skipped", "reason": str(exc)})
        return 0
    tests = []
    for test in iter_tests(suite):
        tid = test.id()
        if isinstance(test, unittest.loader._FailedTest):
            tests.append(test)
            continue
        if spec.select is not None:
            parts = tid.split(".")
            if not spec.select(parts[-2], parts[-1]):
                continue
        if not k_match(tid, args.k):
            continue
        tests.append(test)
    only = None
    if args.ids_file:
        with open(args.ids_file, encoding="utf-8") as f:
            only = {line.strip() for line in f if line.strip()}
        tests = [t for t in tests if t.id() in only]
    emit({"ev": "collected", "ids": [t.id() for t in tests]})
    if args.collect_only:
        return 0

    to_run = []
    for test in tests:
        hit = None if args.no_exclusions else exclusions.match(test.id())
        if hit:
            pattern, category, reason = hit
            emit(
                {
                    "ev": "result",
                    "id": test.id(),
                    "outcome": "excluded",
                    "ran": False,
                    "duration": 0,
                    "summary": f"[{category}] {reason}",
                    "errors": [],
                }
            )
        else:
            to_run.append(test)

    result = JsonResult(emit, args.test_timeout)
    unittest.TestSuite(to_run).run(result)
    emit({"ev": "done"})
    out.close()
    return 0


# ---------------------------------------------------------------------------------------------
# Parent side
# ---------------------------------------------------------------------------------------------


@dataclasses.dataclass
class TestRecord:
    id: str
    outcome: str  # passed / failed / skipped / excluded
    ran: bool = False
    summary: str = ""
    details: str = ""
    duration: float = 0.0
    built: bool = False  # an oxloop loop was built (maybe never run) during the test


@dataclasses.dataclass
class ModuleResult:
    key: str
    records: dict[str, TestRecord] = dataclasses.field(default_factory=dict)
    crashes: list[str] = dataclasses.field(default_factory=list)
    fatal: str | None = None
    note: str = ""
    elapsed: float = 0.0
    logs: list[str] = dataclasses.field(default_factory=list)


def _read_events(path: str) -> list[dict]:
    events = []
    try:
        with open(path, encoding="utf-8") as f:
            for line in f:
                line = line.strip()
                if line:
                    try:
                        events.append(json.loads(line))
                    except json.JSONDecodeError:
                        pass  # a line cut by a crash
    except FileNotFoundError:
        pass
    return events


def _tail(path: str, n: int = 40) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return "".join(f.readlines()[-n:])
    except FileNotFoundError:
        return ""


def _child_cmd(opts, key: str, json_out: str, extra: list[str]) -> list[str]:
    cmd = [
        sys.executable,
        "-X",
        "faulthandler",
        os.path.abspath(__file__),
        "--child",
        key,
        "--loop",
        opts.loop,
        "--json-out",
        json_out,
        "--test-timeout",
        str(opts.test_timeout),
    ]
    for k in opts.k or ():
        cmd += ["-k", k]
    if not opts.adapters:
        cmd.append("--no-adapters")
    if opts.no_exclusions:
        cmd.append("--no-exclusions")
    if not opts.substitute_test_loop:
        cmd.append("--no-substitute-test-loop")
    return cmd + extra


def _describe_death(rc: int | None, timed_out: bool, log: str, test_timeout: float) -> str:
    if timed_out:
        return "module timeout: child killed"
    if rc is not None and rc < 0:
        try:
            return f"child killed by {signal.Signals(-rc).name}"
        except ValueError:
            return f"child killed by signal {-rc}"
    if re.search(r"^Timeout \(\d+:\d\d:\d\d\)!", _tail(log, 400), re.M):
        return f"hang: per-test timeout ({test_timeout:g}s) expired"
    return f"child exited with status {rc} without finishing"


def run_module(opts, key: str, workdir: str) -> ModuleResult:
    res = ModuleResult(key, note=SPECS[key].note)
    t0 = time.monotonic()
    collected: list[str] | None = None
    remaining_file: str | None = None
    attempt = 0
    skipped_fixtures: list[tuple[str, str]] = []
    while True:
        attempt += 1
        json_out = os.path.join(workdir, f"{key}.{attempt}.jsonl")
        log = os.path.join(workdir, f"{key}.{attempt}.log")
        res.logs.append(log)
        extra = ["--ids-file", remaining_file] if remaining_file else []
        timed_out = False
        with open(log, "wb") as logf:
            proc = subprocess.Popen(
                _child_cmd(opts, key, json_out, extra),
                stdout=logf,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=HERE,
                start_new_session=True,
            )
            try:
                rc = proc.wait(timeout=opts.module_timeout)
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
                os.killpg(proc.pid, signal.SIGKILL)  # leftovers of the child's own subprocesses
        events = _read_events(json_out)
        started: str | None = None
        done = False
        for ev in events:
            kind = ev.get("ev")
            if kind == "fatal":
                res.fatal = ev["msg"]
            elif kind == "module_skipped":
                res.note = f"module skipped: {ev['reason']}"
                done = True
            elif kind == "collected" and collected is None:
                collected = ev["ids"]
            elif kind == "start":
                started = ev["id"]
            elif kind == "result":
                errs = ev.get("errors") or []
                details = "\n".join(e["traceback"] for e in errs if e.get("traceback"))
                res.records[ev["id"]] = TestRecord(
                    ev["id"],
                    ev["outcome"],
                    ev.get("ran", False),
                    ev.get("summary") or "",
                    details,
                    ev.get("duration", 0.0),
                    ev.get("built", False),
                )
                if started == ev["id"]:
                    started = None
            elif kind == "fixture_error":
                fid = ev["description"]
                res.records[fid] = TestRecord(
                    fid, "failed", False, ev["summary"], ev.get("traceback", "")
                )
            elif kind == "fixture_skip":
                skipped_fixtures.append((ev["description"], ev["reason"]))
            elif kind == "done":
                done = True
        if res.fatal:
            break
        if done:
            # Tests never reported (e.g. their setUpClass failed) are failures.
            for tid in collected or ():
                if tid in res.records:
                    continue
                owner = tid.rsplit(".", 1)[0]  # module.Class
                skip = [
                    r
                    for d, r in skipped_fixtures
                    if f"({owner})" in d or f"({owner.rsplit('.', 1)[0]})" in d
                ]
                if skip:
                    res.records[tid] = TestRecord(tid, "skipped", False, skip[0])
                else:
                    res.records[tid] = TestRecord(
                        tid, "failed", False, "not run (class or module fixture failed)"
                    )
            break
        # The child died.
        why = _describe_death(rc, timed_out, log, opts.test_timeout)
        if collected is None:
            res.fatal = f"{why} before collecting tests (see log)\n{_tail(log)}"
            break
        if started is not None:
            res.records[started] = TestRecord(
                started, "failed", False, f"CRASH: {why}", _tail(log, 60)
            )
        res.crashes.append(f"{why} while running {started or '(between tests)'}")
        remaining = [t for t in collected if t not in res.records]
        if not remaining:
            break
        if attempt > opts.max_restarts:
            for tid in remaining:
                res.records[tid] = TestRecord(
                    tid, "failed", False, f"not run: module crashed ({why})"
                )
            res.crashes.append(
                f"gave up after {attempt} children: {len(remaining)} tests "
                "reported as failed without running"
            )
            break
        remaining_file = os.path.join(workdir, f"{key}.{attempt}.remaining")
        with open(remaining_file, "w", encoding="utf-8") as f:
            f.write("\n".join(remaining) + "\n")
    res.elapsed = time.monotonic() - t0
    return res


def preflight(opts, workdir: str) -> tuple[dict | None, str | None]:
    json_out = os.path.join(workdir, "preflight.jsonl")
    cmd = _child_cmd(opts, "test_context", json_out, ["--preflight"])
    proc = subprocess.run(
        cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL, cwd=HERE, timeout=120
    )
    setup = None
    for ev in _read_events(json_out):
        if ev.get("ev") == "fatal":
            return setup, ev["msg"]
        if ev.get("ev") == "setup":
            setup = ev
    if proc.returncode != 0 or setup is None:
        return (
            setup,
            f"preflight child failed (status {proc.returncode}):\n{proc.stdout}{proc.stderr}",
        )
    return setup, None


def classify(opts, rec: TestRecord) -> str:
    """passed / failed / stdlib_only / excluded / skipped"""
    if rec.outcome == "passed":
        if rec.ran or opts.loop == "asyncio":
            return "passed"
        return "stdlib_only"
    return rec.outcome


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--modules", help="comma-separated module keys (default: the default set)")
    ap.add_argument(
        "--all-known",
        action="store_true",
        help="run every module the runner knows (defaults + transport modules)",
    )
    ap.add_argument("--list-modules", action="store_true", help="list module keys and exit")
    ap.add_argument(
        "-k",
        action="append",
        default=[],
        help="only tests whose id contains this (or matches this glob); repeatable",
    )
    ap.add_argument("-v", "--verbose", action="store_true", help="print full tracebacks")
    ap.add_argument("--list-failures", metavar="FILE", help="write failing test ids to FILE")
    ap.add_argument("--json", metavar="FILE", help="write all per-test results as JSON to FILE")
    ap.add_argument(
        "--loop",
        choices=LOOPS,
        default="oxloop",
        help="loop to test; 'asyncio' is the stdlib baseline (validates the runner)",
    )
    ap.add_argument("-j", "--jobs", type=int, default=1, help="modules run in parallel")
    ap.add_argument(
        "--module-timeout",
        type=float,
        default=300.0,
        help="seconds one child process may run (default 300)",
    )
    ap.add_argument(
        "--test-timeout",
        type=float,
        default=60.0,
        help="seconds one test may run before it is killed (default 60)",
    )
    ap.add_argument(
        "--max-restarts",
        type=int,
        default=3,
        help="children restarted after crashes per module before giving up",
    )
    ap.add_argument(
        "--no-adapters",
        dest="adapters",
        action="store_false",
        help="run the tests unadapted: no oxloop loops substituted into "
        "test_utils' new_test_loop() nor test_runners/test_pep492 fixtures, "
        "test_utils.TestCase.close_loop not patched",
    )
    ap.add_argument(
        "--no-substitute-test-loop",
        dest="substitute_test_loop",
        action="store_false",
        help="keep the stdlib TestLoop that test_utils.TestCase.new_test_loop() "
        "builds without a time generator (by default a loop under test)",
    )
    ap.add_argument(
        "--no-exclusions", action="store_true", help="also run the tests listed in exclusions.py"
    )
    ap.add_argument("--collect-only", action="store_true", help="list test ids and exit")
    ap.add_argument("--keep-logs", metavar="DIR", help="keep child logs/JSON in DIR")
    # child-only options
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--json-out", help=argparse.SUPPRESS)
    ap.add_argument("--ids-file", help=argparse.SUPPRESS)
    ap.add_argument("--preflight", action="store_true", help=argparse.SUPPRESS)
    opts = ap.parse_args(argv)

    if opts.child:
        return child_main(opts)

    if opts.list_modules:
        for key in ALL_KNOWN_MODULES:
            tag = "default" if key in DEFAULT_MODULES else "all-known"
            spec = SPECS[key]
            since = "" if spec.since <= (3, 11) else f"[{_version(spec.since)}+] "
            print(f"{key:26} {tag:9} {since}{spec.note}")
        return 0
    if opts.modules:
        keys = [m.strip() for m in opts.modules.split(",") if m.strip()]
    elif opts.all_known:
        keys = list(ALL_KNOWN_MODULES)
    else:
        keys = list(DEFAULT_MODULES)
    unknown = [k for k in keys if k not in SPECS]
    if unknown:
        ap.error(f"unknown module(s) {unknown}; known: {', '.join(ALL_KNOWN_MODULES)}")
    # The runner tests the interpreter that runs it, with that interpreter's own
    # test.test_asyncio: modules newer than it are left out (and said so).
    absent = [k for k in keys if not SPECS[k].available()]
    keys = [k for k in keys if SPECS[k].available()]
    for key in absent:
        print(
            f"{key:23} not in CPython {_version(sys.version_info[:2])}'s test.test_asyncio "
            f"(since {_version(SPECS[key].since)}): not run"
        )

    workdir = opts.keep_logs or tempfile.mkdtemp(prefix="oxloop-cpython-")
    os.makedirs(workdir, exist_ok=True)
    try:
        return _run(opts, keys, workdir)
    finally:
        if not opts.keep_logs:
            import shutil

            shutil.rmtree(workdir, ignore_errors=True)


def _version(v: tuple[int, ...]) -> str:
    return ".".join(str(n) for n in v)


def _run(opts, keys: list[str], workdir: str) -> int:
    setup, fatal = preflight(opts, workdir)
    if fatal:
        print("=" * 78)
        print(f"FATAL: the tests would not run on {opts.loop}: {fatal}")
        print("=" * 78)
        print("0 passed, 1 failed")
        return 2
    print(f"CPython {setup['python']} test.test_asyncio on {setup['loop']}")
    print(
        f"asyncio.new_event_loop() -> {setup['probe']}; loop runs detected by {setup['instrument']}"
    )
    if opts.collect_only:
        for key in keys:
            json_out = os.path.join(workdir, f"{key}.collect.jsonl")
            subprocess.run(
                _child_cmd(opts, key, json_out, ["--collect-only"]),
                stdin=subprocess.DEVNULL,
                cwd=HERE,
                capture_output=True,
            )
            for ev in _read_events(json_out):
                if ev.get("ev") == "collected":
                    print("\n".join(ev["ids"]))
        return 0

    with ThreadPoolExecutor(max_workers=max(1, opts.jobs)) as pool:
        futures = {key: pool.submit(run_module, opts, key, workdir) for key in keys}
        results = []
        for key in keys:
            res = futures[key].result()
            results.append(res)
            _print_module(opts, res)
    return _report(opts, results)


def _counts(opts, res: ModuleResult) -> dict[str, int]:
    c = dict.fromkeys(("passed", "failed", "stdlib_only", "excluded", "skipped"), 0)
    for rec in res.records.values():
        c[classify(opts, rec)] += 1
    if res.fatal:
        c["failed"] += 1
    return c


def _print_module(opts, res: ModuleResult) -> None:
    c = _counts(opts, res)
    unrun = [r for r in res.records.values() if r.outcome == "passed" and not r.ran]
    built = sum(1 for r in unrun if r.built)
    if opts.loop == "asyncio":
        extra = f"  [would not count on oxloop: {len(unrun)} never ran a policy-made loop]"
        line = (
            f"{c['passed']:4} passed, {c['failed']:3} failed, {c['excluded']:2} excluded, "
            f"{c['skipped']:2} skipped{extra}"
        )
    else:
        extra = f" ({built} built one, never ran it)" if built else ""
        line = (
            f"{c['passed']:4} passed, {c['failed']:3} failed, {c['excluded']:2} excluded, "
            f"{c['skipped']:2} skipped, {c['stdlib_only']:3} passed without running an "
            f"{opts.loop} loop{extra}"
        )
    print(f"{res.key:23} {line}  ({res.elapsed:.1f}s)", flush=True)
    if res.fatal:
        print(f"!!! {res.key}: FATAL: {res.fatal}", flush=True)
    for crash in res.crashes:
        print(f"!!! {res.key}: CRASH: {crash}", flush=True)


def _report(opts, results: list[ModuleResult]) -> int:
    total = dict.fromkeys(("passed", "failed", "stdlib_only", "excluded", "skipped"), 0)
    failing: list[TestRecord] = []
    for res in results:
        for k, v in _counts(opts, res).items():
            total[k] += v
        if res.fatal:
            failing.append(TestRecord(f"{res.key} (module)", "failed", False, res.fatal))
        failing.extend(r for r in res.records.values() if r.outcome == "failed")

    crashed = [r for r in results if r.crashes or r.fatal]
    if crashed:
        print()
        print("!" * 78)
        for res in crashed:
            for crash in res.crashes:
                print(f"!!! CRASH in {res.key}: {crash}")
            if res.fatal:
                print(f"!!! FATAL in {res.key}: {res.fatal.splitlines()[0]}")
        print("!" * 78)

    if failing:
        print(f"\nFailing tests ({len(failing)}):")
        for rec in failing:
            print(f"  {rec.id}  --  {rec.summary}")
            if opts.verbose and rec.details:
                print("    " + rec.details.rstrip().replace("\n", "\n    "))
    if opts.list_failures:
        with open(opts.list_failures, "w", encoding="utf-8") as f:
            f.write("".join(f"{rec.id}\n" for rec in failing))
    if opts.json:
        with open(opts.json, "w", encoding="utf-8") as f:
            json.dump(
                {
                    res.key: {
                        "crashes": res.crashes,
                        "fatal": res.fatal,
                        "tests": [dataclasses.asdict(r) for r in res.records.values()],
                    }
                    for res in results
                },
                f,
                indent=1,
            )

    print()
    skipped = total["excluded"] + total["skipped"] + total["stdlib_only"]
    if opts.loop == "asyncio":
        print(
            f"Baseline on the stdlib loop: {total['passed']} passed, {total['failed']} failed, "
            f"{total['excluded']} excluded, {total['skipped']} skipped by unittest"
        )
    else:
        print(
            f"On {opts.loop}: {total['passed']} passed with an {opts.loop} loop running, "
            f"{total['failed']} failed; not counted as passed: {total['stdlib_only']} passed "
            f"only on stdlib loops, {total['excluded']} excluded (exclusions.py), "
            f"{total['skipped']} skipped by unittest"
        )
    print(f"{total['passed']} passed, {total['failed']} failed, {skipped} skipped")
    return 0 if total["failed"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
