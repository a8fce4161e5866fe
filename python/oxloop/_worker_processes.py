"""`ProcessPoolExecutor._processes`: the pool's worker processes by pid.

`concurrent.futures` keeps a dict (pid -> `multiprocessing.Process`) that
its manager thread updates; programs read it to count, inspect or
terminate the workers. oxloop's workers are tracked in Rust, so this is a
read-only mapping that asks the pool each time it is used: it stays
current for as long as it is held, as the stdlib's dict does.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator, Mapping
from typing import Any


class WorkerProcesses(Mapping[int, Any]):
    """A live, read-only view: pid -> `multiprocessing.Process` of every
    worker that has not exited. Empty once the pool is gone."""

    __slots__ = ("_pool",)

    def __init__(self, pool: Any) -> None:
        # Weak: the pool owns its view; a strong reference back would keep
        # a dropped pool (whose workers should then stop) alive until the
        # cycle collector runs.
        self._pool = weakref.ref(pool)

    def _current(self) -> dict[int, Any]:
        pool = self._pool()
        if pool is None:
            return {}
        return {process.pid: process for process in pool._worker_processes()}

    def __getitem__(self, pid: int) -> Any:
        return self._current()[pid]

    def __iter__(self) -> Iterator[int]:
        return iter(self._current())

    def __len__(self) -> int:
        return len(self._current())

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._current()!r})"
