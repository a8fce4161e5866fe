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
    """Make asyncio create oxloop loops (sets the event loop policy)."""
    _asyncio.set_event_loop_policy(EventLoopPolicy())


def run(main, *, debug=None):
    """Run coroutine `main` on a new oxloop loop and return its result,
    with the semantics of `asyncio.run` (the loop is closed afterwards)."""
    with _asyncio.Runner(debug=debug, loop_factory=new_event_loop) as runner:
        return runner.run(main)
