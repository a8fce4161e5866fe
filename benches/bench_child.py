"""Child process: measure one (loop, workload) once, or probe whether a loop is available.

    python benches/bench_child.py probe LOOP
    python benches/bench_child.py run LOOP WORKLOAD N

The result is one line on stdout, `RESULT_MARKER` followed by JSON, so that anything a loop
itself prints cannot be mistaken for it:
    probe: {"ok": true, "version": "..."} or {"ok": false, "error": "..."}
    run:   {"ok": true, "ops": int, "seconds": float} or {"ok": false, "error": "..."}
A run whose loop cannot be imported reports {"ok": false, "unavailable": true, ...}.
"""

import asyncio
import json
import sys
import traceback

import loops
from workloads import WORKLOADS

RESULT_MARKER = "@@loop_bench@@ "

# Before the timed run, the workload runs once at this fraction of N on a separate, throw-away
# loop of the same kind, so that first-use costs (imports, allocator growth) are not timed.
WARMUP_FRACTION = 0.1


def _emit(result: dict) -> None:
    sys.stdout.write(RESULT_MARKER + json.dumps(result) + "\n")
    sys.stdout.flush()


def _reason(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}".strip().rstrip(":")
    return text.splitlines()[0] if text else type(exc).__name__


def _new_loop_or_report(name: str) -> asyncio.AbstractEventLoop | None:
    try:
        return loops.new_loop(name)
    except Exception as exc:  # noqa: BLE001 - ImportError, or a broken package: report it
        _emit({"ok": False, "unavailable": True, "error": _reason(exc)})
        return None


def probe(name: str) -> int:
    loop = _new_loop_or_report(name)
    if loop is None:
        return 0
    loop.close()
    _emit({"ok": True, "version": loops.version(name)})
    return 0


def _run_on_fresh_loop(name: str, workload: str, n: int) -> tuple[int, float]:
    loop = loops.new_loop(name)
    asyncio.set_event_loop(loop)
    try:
        return WORKLOADS[workload].run(loop, n)
    finally:
        asyncio.set_event_loop(None)
        loop.close()


def run(name: str, workload: str, n: int) -> int:
    first = _new_loop_or_report(name)
    if first is None:
        return 0
    first.close()
    try:
        _run_on_fresh_loop(name, workload, max(1, int(n * WARMUP_FRACTION)))
        ops, seconds = _run_on_fresh_loop(name, workload, n)
    except BaseException as exc:  # noqa: BLE001 - any failure becomes an error cell
        traceback.print_exc()
        _emit({"ok": False, "error": _reason(exc)})
        return 1
    _emit({"ok": True, "ops": ops, "seconds": seconds})
    return 0


def main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[0] == "probe":
        return probe(argv[1])
    if len(argv) == 4 and argv[0] == "run":
        return run(argv[1], argv[2], int(argv[3]))
    sys.stderr.write(__doc__ or "")
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
