"""Points ``concurrent.futures``' executor names at the pools under test, and counts them.

CPython's tests reach the pools three ways: the mixins' ``executor_type`` (bound when the
test module is imported), ``futures.ThreadPoolExecutor(...)`` in test bodies, and
``from concurrent.futures import ThreadPoolExecutor`` in code they run in a fresh
interpreter (``assert_python_ok('-c', ...)``). Setting the package's attributes before the
test module is imported covers the first two; the third runs ``subprocess_prelude()``
first (the runner prepends it to the ``-c`` code).

Every pool under test that is built is counted (``POOLS``), and so is every oxloop
``Future`` the runner substitutes into ``FutureTests`` (``FUTURES``): a test that built
neither proves nothing about oxloop.
"""

from __future__ import annotations

import functools
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
EXECUTOR_NAMES = ("ThreadPoolExecutor", "ProcessPoolExecutor")

# Pools of ``concurrent.futures`` that oxloop does not replace: the tests of a class whose
# ``executor_type`` is one of them exercise the stdlib pool, so they are not applicable to
# oxloop (reported apart, neither passed nor failed). Name -> why.
NOT_REPLACED = {
    "InterpreterPoolExecutor": (
        "3.14's pool of subinterpreters (concurrent.futures.interpreter); oxloop provides "
        "thread and process pools only, so these tests would run stdlib's pool"
    ),
}


def not_replaced() -> dict[type, tuple[str, str]]:
    """The stdlib pools this interpreter has that oxloop does not replace: class ->
    (name, reason)."""
    import concurrent.futures as cf

    found: dict[type, tuple[str, str]] = {}
    for name, reason in NOT_REPLACED.items():
        try:
            cls = getattr(cf, name)
        except (AttributeError, ImportError):  # 3.11-3.13, or no _interpreters module
            continue
        found[cls] = (name, reason)
    return found


class Counter:
    def __init__(self) -> None:
        self.count = 0


POOLS = Counter()  # pools under test built
FUTURES = Counter()  # oxloop Futures built by the tests' own `Future()` calls


def _counting_init(cls: type, counter: Counter) -> None:
    original = cls.__init__
    if getattr(original, "_counts_for_runner", False):
        return

    @functools.wraps(original)
    def __init__(self, *args, **kwargs):
        counter.count += 1
        original(self, *args, **kwargs)

    __init__._counts_for_runner = True  # type: ignore[attr-defined]
    cls.__init__ = __init__


def pool_classes(executors: str) -> dict[str, type]:
    if executors == "oxloop":
        import oxloop

        return {name: getattr(oxloop, name) for name in EXECUTOR_NAMES}
    from concurrent.futures import process, thread

    return {
        "ThreadPoolExecutor": thread.ThreadPoolExecutor,
        "ProcessPoolExecutor": process.ProcessPoolExecutor,
    }


def install(executors: str = "oxloop", count: bool = True) -> dict[str, type]:
    """``concurrent.futures.ThreadPoolExecutor``/``ProcessPoolExecutor`` become the
    pools under test (stdlib's own with ``executors="stdlib"``); returns them."""
    import concurrent.futures as cf

    classes = pool_classes(executors)
    for name, cls in classes.items():
        setattr(cf, name, cls)
        if count:
            _counting_init(cls, POOLS)
    return classes


def count_futures(future_class: type) -> None:
    _counting_init(future_class, FUTURES)


def subprocess_prelude(executors: str, extra_path: list[str]) -> str:
    """One line of Python that makes a fresh interpreter (even ``python -I``) use the pools
    under test: it puts the runner's directories first on ``sys.path`` and installs them."""
    paths = [*extra_path, HERE]
    return (
        f"import sys; sys.path[:0] = {paths!r}; "
        f"import pool_substitution; pool_substitution.install({executors!r}, count=False)\n"
    )


if __name__ == "__main__":
    install(sys.argv[1] if len(sys.argv) > 1 else "oxloop")
