"""Loop metrics, Python side: naming callbacks for the slowest list, and
turning metrics on for new loops (`OXLOOP_METRICS=1`, `python -m oxloop --stats`).

The figures themselves are recorded by the Rust core (`loop.metrics()`).
"""

from __future__ import annotations

import functools
import os
from asyncio import futures
from collections.abc import Callable
from typing import Any

# Set by `python -m oxloop --stats`: called with every new loop.
_on_new_loop: Callable[[Any], None] | None = None


def _place(code: Any) -> str:
    if code is None:
        return "<builtin>"
    return f"{code.co_filename}:{code.co_firstlineno}"


def describe_callback(callback: Any) -> tuple[str, str]:
    """(name, where) of a callback: its qualname and `file:line` of its
    definition; for a task's step, its coroutine's."""
    owner = getattr(callback, "__self__", None)
    if futures.isfuture(owner) and hasattr(owner, "get_coro"):
        coro = owner.get_coro()
        name = getattr(coro, "__qualname__", None) or owner.get_name()
        code = getattr(coro, "cr_code", None) or getattr(coro, "gi_code", None)
        return str(name), _place(code)
    func = callback
    while isinstance(func, functools.partial):
        func = func.func
    func = getattr(func, "__func__", func)
    name = (
        getattr(func, "__qualname__", None)
        or getattr(func, "__name__", None)
        or type(func).__qualname__
    )
    return str(name), _place(getattr(func, "__code__", None))


def enabled_by_environment() -> bool:
    """Whether `OXLOOP_METRICS` asks for metrics (set, and not 0/false/no/off)."""
    value = os.environ.get("OXLOOP_METRICS", "").strip().lower()
    return value not in ("", "0", "false", "no", "off")


def new_loop_created(loop: Any) -> None:
    """Called by `Loop.__init__`: turns metrics on if the environment or
    `--stats` asks for them."""
    hook = _on_new_loop
    if hook is not None:
        loop.set_metrics(True)
        hook(loop)
    elif enabled_by_environment():
        loop.set_metrics(True)


class LoopRegistry:
    """Loops made while `--stats` is on, oldest first. Held strongly: the
    summary at exit reads loops that `asyncio.run` already closed and let go."""

    def __init__(self) -> None:
        self._loops: list[Any] = []

    def add(self, loop: Any) -> None:
        self._loops.append(loop)

    def loops(self) -> list[Any]:
        return list(self._loops)
