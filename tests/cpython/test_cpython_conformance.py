"""pytest wrapper: CPython's own asyncio test suite must pass on oxloop.

One pytest test per module of ``run_cpython_tests.DEFAULT_MODULES``; each runs the runner in a
subprocess and fails if any CPython test failed (or crashed, or ran on something else than
oxloop).  Environment knobs:

``OXLOOP_CPYTHON_MODULES``
    comma-separated module keys to run instead of the defaults, or ``all-known``;
``OXLOOP_CPYTHON_ARGS``
    extra arguments for the runner, e.g. ``--loop asyncio`` or ``-k gather``.
"""

from __future__ import annotations

import importlib.util
import os
import shlex
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
RUNNER = os.path.join(HERE, "run_cpython_tests.py")


def _load_runner():
    name = "oxloop_cpython_runner"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, RUNNER)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


runner = _load_runner()


def _modules() -> list[str]:
    env = os.environ.get("OXLOOP_CPYTHON_MODULES", "").strip()
    if env == "all-known":
        return list(runner.ALL_KNOWN_MODULES)
    if env:
        return [m.strip() for m in env.split(",") if m.strip()]
    return list(runner.DEFAULT_MODULES)


@pytest.mark.parametrize("module", _modules())
def test_cpython_asyncio_module(module: str) -> None:
    spec = runner.SPECS[module]
    if not spec.available():
        pytest.skip(f"{module} is not in this Python's test.test_asyncio (since {spec.since})")
    extra = shlex.split(os.environ.get("OXLOOP_CPYTHON_ARGS", ""))
    cmd = [sys.executable, RUNNER, "--modules", module, *extra]
    # per child 300 s by default, restarted at most 3 times after crashes
    proc = subprocess.run(
        cmd,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=4 * 300 + 120,
    )
    out = proc.stdout + proc.stderr
    last = out.strip().splitlines()[-1] if out.strip() else ""
    if proc.returncode != 0:
        pytest.fail(f"{module}: {last}\n{out}", pytrace=False)
    assert " 0 failed" in f" {last}", out
