"""The event loops under test: how to import each one, build a loop and read its version.

Only the child process (bench_child.py) imports the loop packages; the parent never does, so
one loop's import side effects cannot leak into another loop's measurements.
"""

import asyncio
import importlib
import importlib.metadata

# Order matters: it is the row order in the report.
LOOP_NAMES = ("oxloop", "asyncio", "uvloop", "rloop")

# Variants run only when named with --loops: oxloop with its metrics on.
EXTRA_LOOPS = ("oxloop-metrics",)

# Loop used as the denominator of the ratio column, in order of preference.
BASELINES = ("uvloop", "asyncio")


def new_loop(name: str) -> asyncio.AbstractEventLoop:
    """Import loop package `name` and return a new event loop from it (ImportError if absent)."""
    if name == "asyncio":
        return asyncio.new_event_loop()
    if name == "oxloop-metrics":
        return importlib.import_module("oxloop").new_event_loop(metrics=True)
    if name not in LOOP_NAMES:
        raise ValueError(f"unknown loop {name!r}")
    module = importlib.import_module(name)
    return module.new_event_loop()


def version(name: str) -> str:
    """Version string of loop `name`; call only after `new_loop(name)` succeeded."""
    if name == "asyncio":
        import platform

        return f"stdlib (Python {platform.python_version()})"
    module = importlib.import_module(name.removesuffix("-metrics"))
    found = getattr(module, "__version__", None)
    if found is None:
        try:
            found = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            found = "unknown"
    return str(found)
