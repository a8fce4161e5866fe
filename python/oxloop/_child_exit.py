"""Learning that a child process exited, without asyncio's child watchers.

Python 3.14 removed the child watchers (`asyncio.get_child_watcher()` and the
policy's watcher); a loop waits for the children it started itself. On
Linux a pidfd becomes readable when its process exits, so the loop watches
it like any other fd and reaps the child in that callback. Where
`os.pidfd_open` is missing or refused (old kernels, some sandboxes), a
thread blocks in `waitpid` instead.
"""

from __future__ import annotations

import logging
import os
import threading

logger = logging.getLogger("asyncio")

# What asyncio reports when the child was reaped by someone else first.
_UNKNOWN_RETURNCODE = 255


def watch(loop, pid, callback, *args):
    """Call `callback(pid, returncode, *args)` once child `pid` exited.

    With a pidfd the callback runs in the loop's thread; from the fallback
    thread it is called there, so it must be thread-safe (oxloop's is
    `call_soon_threadsafe`)."""
    try:
        pidfd = os.pidfd_open(pid)
    except (AttributeError, OSError):
        thread = threading.Thread(
            target=_wait_in_thread,
            args=(loop, pid, callback, args),
            name=f"oxloop-waitpid-{pid}",
            daemon=True,
        )
        thread.start()
        return
    loop.add_reader(pidfd, _reap_ready, loop, pid, pidfd, callback, args)


def _reap_ready(loop, pid, pidfd, callback, args):
    """Reader callback: the pidfd says the child exited."""
    loop.remove_reader(pidfd)
    os.close(pidfd)
    callback(pid, _reap(pid), *args)


def _wait_in_thread(loop, pid, callback, args):
    returncode = _reap(pid)
    if loop.is_closed():
        logger.warning("Loop %r that handles pid %r is closed", loop, pid)
        return
    callback(pid, returncode, *args)


def _reap(pid):
    """waitpid(pid) and the child's returncode, as Popen.returncode has it."""
    try:
        _, status = os.waitpid(pid, 0)
    except ChildProcessError:
        logger.warning(
            "child process pid %d exit status already read: will report returncode %d",
            pid,
            _UNKNOWN_RETURNCODE,
        )
        return _UNKNOWN_RETURNCODE
    try:
        return os.waitstatus_to_exitcode(status)
    except ValueError:
        return status
