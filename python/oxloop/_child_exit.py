"""Learning that a child process exited, without asyncio's child watchers.

Python 3.14 removed the child watchers (`asyncio.get_child_watcher()` and the
policy's watcher); a loop waits for the children it started itself. On
Linux a pidfd becomes readable when its process exits, so the loop watches
it like any other fd. Where `os.pidfd_open` is missing or refused (old
kernels, some sandboxes), a thread blocks in `waitid(WNOWAIT)` instead,
which sees the exit without reaping the child.

Either way the child is reaped in the loop's thread, and its exit published
in the same callback (gh-127049): until then its pid stays a zombie, so
`send_signal()`/`kill()` can never reach a process that reused the pid.
"""

from __future__ import annotations

import logging
import os
import threading

logger = logging.getLogger("asyncio")

# What asyncio reports when the child was reaped by someone else first.
_UNKNOWN_RETURNCODE = 255


def watch(loop, pid, callback, *args):
    """Call `callback(pid, returncode, *args)` in the loop's thread once child
    `pid` exited, right after reaping it."""
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
    loop.add_reader(pidfd, _pidfd_ready, loop, pid, pidfd, callback, args)


def _pidfd_ready(loop, pid, pidfd, callback, args):
    """Reader callback: the pidfd says the child exited."""
    loop.remove_reader(pidfd)
    os.close(pidfd)
    _reap_and_publish(pid, callback, args)


def _wait_in_thread(loop, pid, callback, args):
    waitid = getattr(os, "waitid", None)
    if waitid is not None:
        try:
            waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)
        except ChildProcessError:
            pass  # reaped elsewhere: _reap says so
        except OSError:
            waitid = None  # not usable here: block in waitpid below
    if waitid is None:
        # Reaps in this thread: the pid is free before the loop publishes the exit.
        returncode = _reap(pid)
        _publish_from_thread(loop, pid, lambda: callback(pid, returncode, *args))
        return
    _publish_from_thread(loop, pid, lambda: _reap_and_publish(pid, callback, args))


def _publish_from_thread(loop, pid, publish):
    try:
        loop.call_soon_threadsafe(publish)
    except RuntimeError:  # the loop was closed meanwhile
        logger.warning("Loop %r that handles pid %r is closed", loop, pid)
        _reap_quietly(pid)


def _reap_and_publish(pid, callback, args):
    callback(pid, _reap(pid), *args)


def _reap_quietly(pid):
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


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
