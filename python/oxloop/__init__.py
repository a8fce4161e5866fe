"""oxloop: a drop-in asyncio event loop implemented in Rust.

Switch a program to it with one of:

    oxloop.run(main())
    oxloop.install(); asyncio.run(main())
    asyncio.run(main(), loop_factory=oxloop.new_event_loop)   # Python 3.12+
    asyncio.Runner(loop_factory=oxloop.new_event_loop)
    python -m oxloop app.py
"""

from __future__ import annotations

import asyncio as _asyncio
import sys as _sys
import warnings as _warnings

from . import _policy
from ._core import Handle, MetricsSnapshot, TimerHandle
from ._executors import ProcessPoolExecutor, ThreadPoolExecutor
from ._loop import Loop
from ._policy import EventLoopPolicy

__all__ = [
    "EventLoopPolicy",
    "Handle",
    "Loop",
    "MetricsSnapshot",
    "ProcessPoolExecutor",
    "ThreadPoolExecutor",
    "TimerHandle",
    "install",
    "new_event_loop",
    "run",
]

__version__ = "0.1.0"


def new_event_loop(*, metrics: bool = False) -> Loop:
    """Return a new oxloop event loop; with `metrics=True` it records where
    its time goes from the start (see `Loop.metrics()`)."""
    loop = Loop()
    if metrics:
        loop.set_metrics(True)
    return loop


def install() -> None:
    """Make asyncio create oxloop loops (sets the event loop policy).

    Python 3.14 deprecated asyncio's event loop policies, through which this
    works, so there it warns (once per call) and suggests what does not need
    them: `oxloop.run(main())` or `asyncio.run(main(),
    loop_factory=oxloop.new_event_loop)`. It still works until asyncio drops
    policies."""
    if _sys.version_info >= (3, 14):
        _warnings.warn(
            "oxloop.install() sets an asyncio event loop policy, and asyncio deprecated "
            "policies in Python 3.14; use oxloop.run(main()) or "
            "asyncio.run(main(), loop_factory=oxloop.new_event_loop) instead",
            DeprecationWarning,
            stacklevel=2,
        )
    _policy.set_policy(EventLoopPolicy())


def run(main, *, debug=None):
    """Run coroutine `main` on a new oxloop loop and return its result,
    with the semantics of `asyncio.run` (the loop is closed afterwards)."""
    with _asyncio.Runner(debug=debug, loop_factory=new_event_loop) as runner:
        return runner.run(main)
