"""oxloop's own wait for child processes (`_child_exit.py`), used from Python 3.14.

3.14 removed asyncio's child watchers; oxloop then watches a pidfd on the loop, or
blocks a thread in waitpid where pidfds are unavailable. Both paths are exercised
here on every version (before 3.14 subprocesses go through the policy's watcher,
which test_subprocess.py and CPython's test_subprocess cover).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import oxloop
import pytest
from oxloop import _child_exit


def wait_for_exit(code, monkeypatch=None, no_pidfd=False):
    """Start `python -c code`, watch it with _child_exit.watch on an oxloop loop,
    return what the callback got and the threads involved."""
    if no_pidfd:
        monkeypatch.delattr(os, "pidfd_open", raising=False)

    async def main():
        loop = asyncio.get_running_loop()
        proc = subprocess.Popen([sys.executable, "-c", code])
        done = loop.create_future()

        def on_exit(pid, returncode, tag):
            # The pidfd path calls this in the loop's thread, the fallback in its own.
            loop.call_soon_threadsafe(done.set_result, (pid == proc.pid, returncode, tag))

        _child_exit.watch(loop, proc.pid, on_exit, "tag")
        result = await asyncio.wait_for(done, 30)
        proc.returncode = result[1]  # reaped by the watcher, not by Popen
        return result

    return oxloop.run(main())


@pytest.mark.skipif(not hasattr(os, "pidfd_open"), reason="no os.pidfd_open here")
@pytest.mark.parametrize("code, returncode", [("pass", 0), ("raise SystemExit(3)", 3)])
def test_pidfd_reports_the_exit_status(code, returncode):
    assert wait_for_exit(code) == (True, returncode, "tag")


@pytest.mark.parametrize("code, returncode", [("pass", 0), ("raise SystemExit(5)", 5)])
def test_thread_fallback_reports_the_exit_status(code, returncode, monkeypatch):
    assert wait_for_exit(code, monkeypatch, no_pidfd=True) == (True, returncode, "tag")


def test_killed_child_reports_the_negative_signal(monkeypatch):
    code = "import os, signal; os.kill(os.getpid(), signal.SIGKILL)"
    assert wait_for_exit(code) == (True, -9, "tag")


def test_child_reaped_elsewhere_reports_255(caplog):
    async def main():
        loop = asyncio.get_running_loop()
        proc = subprocess.Popen([sys.executable, "-c", "pass"])
        proc.wait()  # reaped before the watcher gets to it
        done = loop.create_future()
        _child_exit._wait_in_thread(
            loop, proc.pid, lambda pid, rc: loop.call_soon_threadsafe(done.set_result, rc), ()
        )
        return await done

    assert oxloop.run(main()) == 255
    assert "already read" in caplog.text
