"""`python -m oxloop [--stats [--stats-interval S]] script.py [args...]`,
or `... -m module [args...]`.

Installs oxloop's event loop policy, then runs the script or module as
`__main__`, with `sys.argv` as if it had been run directly. With `--stats`,
every oxloop loop the program makes records metrics, and a summary of each
is printed to stderr at exit (Ctrl+C included); `--stats-interval S` also
prints a one-line summary every S seconds.
"""

from __future__ import annotations

import os
import runpy
import sys

import oxloop

from . import _metrics, _stats_report

USAGE = (
    "usage: python -m oxloop [--stats [--stats-interval S]] script.py [args...]"
    " | ... -m module [args...]"
)


def _print_summaries(loops: _metrics.LoopRegistry) -> None:
    found = loops.loops()
    for i, loop in enumerate(found, 1):
        title = "oxloop --stats" + (f": loop {i} of {len(found)}" if len(found) > 1 else "")
        print(_stats_report.summary(loop.metrics(), title), file=sys.stderr, flush=True)


def _run(argv: list[str]) -> int:
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


def main(argv: list[str]) -> int:
    stats = False
    interval = None
    while argv and argv[0] in ("--stats", "--stats-interval"):
        if argv[0] == "--stats":
            stats = True
            argv = argv[1:]
            continue
        try:
            interval = float(argv[1])
        except (IndexError, ValueError):
            print(USAGE, file=sys.stderr)
            return 2
        if not interval > 0:
            print(USAGE, file=sys.stderr)
            return 2
        stats = True
        argv = argv[2:]
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE, file=sys.stderr if not argv else sys.stdout)
        return 2 if not argv else 0
    oxloop.install()
    if not stats:
        return _run(argv)
    loops = _metrics.LoopRegistry()
    _metrics._on_new_loop = loops.add
    printer = _stats_report.IntervalPrinter(interval, loops) if interval else None
    if printer is not None:
        printer.start()
    try:
        return _run(argv)
    finally:
        if printer is not None:
            printer.stop()
        _print_summaries(loops)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
