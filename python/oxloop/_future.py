"""`oxloop._future.Future`: the `concurrent.futures.Future` both oxloop pools return.

It is a subclass, so `isinstance(f, concurrent.futures.Future)` holds and
`concurrent.futures.wait`/`as_completed`, `asyncio.wrap_future` and every
method behave as the stdlib's. What differs is the cost: the state lives in
slots, the `threading.Condition`, the waiter list and the callback list are
made only when something needs them (a thread that blocks in `result()`,
`wait`, `as_completed`, `repr`), and the methods are Rust (`_core`), with
lock-free fast paths while no `Condition` exists. The reasoning is in
`src/executors/future.rs`.
"""

from __future__ import annotations

from concurrent.futures import _base

from . import _core

__all__ = ["Future"]


class Future(_base.Future):
    """Represents the result of an asynchronous computation."""

    __slots__ = (
        "_state",
        "_result",
        "_exception",
        "_lazy_condition",
        "_lazy_waiters",
        "_lazy_callbacks",
    )

    def __init__(self):
        """Initializes the future. Should not be called by clients."""
        self._state = _base.PENDING
        self._result = None
        self._exception = None
        self._lazy_condition = None
        self._lazy_waiters = None
        self._lazy_callbacks = None


_core.install_future_class(Future)
