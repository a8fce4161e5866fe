"""`python -m oxloop script.py [args...]` or `python -m oxloop -m module [args...]`.

Installs oxloop's event loop policy, then runs the script or module as
`__main__`, with `sys.argv` as if it had been run directly. The policy is
what every way a program makes its loop goes through (`asyncio.run`,
`asyncio.Runner()`, `asyncio.new_event_loop()`); on Python 3.14, which
deprecated policies, it is installed without the warning `oxloop.install()`
gives, since the program itself uses no deprecated API.
"""

from __future__ import annotations

import os
import runpy
import sys

import oxloop
from oxloop import _policy

USAGE = "usage: python -m oxloop script.py [args...] | -m module [args...]"


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE, file=sys.stderr if not argv else sys.stdout)
        return 2 if not argv else 0
    _policy.set_policy(oxloop.EventLoopPolicy())
    if argv[0] == "-m":
        if len(argv) < 2:
            print(USAGE, file=sys.stderr)
            return 2
        module = argv[1]
        sys.argv = [module, *argv[2:]]
        runpy.run_module(module, run_name="__main__", alter_sys=True)
        return 0
    path = argv[0]
    sys.argv = list(argv)
    # Like `python script.py`: the script's directory comes first on sys.path.
    sys.path[0] = os.path.dirname(os.path.abspath(path))
    runpy.run_path(path, run_name="__main__")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
