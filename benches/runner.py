"""Run measurements in fresh child processes and collect the results.

Each (loop, workload) repetition is a new `python bench_child.py run ...` process with a
timeout; a crash, a non-zero exit, a timeout or a failed self-check becomes an error with a
one-line reason instead of stopping the run.
"""

import json
import signal
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from statistics import median

from bench_child import RESULT_MARKER

CHILD = Path(__file__).resolve().with_name("bench_child.py")


@dataclass
class ChildResult:
    ok: bool
    data: dict
    error: str = ""
    unavailable: bool = False


@dataclass
class Cell:
    """All repetitions of one (loop, workload)."""

    rates: list[float] = field(default_factory=list)  # ops/s of each successful repetition
    errors: list[str] = field(default_factory=list)
    attempts: int = 0

    @property
    def best(self) -> float | None:
        return max(self.rates) if self.rates else None

    @property
    def median(self) -> float | None:
        return median(self.rates) if self.rates else None


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else ""


def _signal_name(returncode: int) -> str:
    try:
        return signal.Signals(-returncode).name
    except ValueError:
        return f"signal {-returncode}"


def run_child(args: list[str], timeout: float) -> ChildResult:
    """Run bench_child.py with `args`; never raises for a failing child."""
    cmd = [sys.executable, str(CHILD), *args]
    try:
        proc = subprocess.run(
            cmd,
            check=False,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        return ChildResult(False, {}, f"timed out after {timeout:g} s")
    data = None
    for line in proc.stdout.splitlines():
        if line.startswith(RESULT_MARKER):
            data = json.loads(line[len(RESULT_MARKER) :])
    if data is not None and not data.get("ok"):
        return ChildResult(False, data, data.get("error", "failed"), bool(data.get("unavailable")))
    if proc.returncode != 0 or data is None:
        if proc.returncode < 0:
            reason = f"killed by {_signal_name(proc.returncode)}"
        else:
            reason = f"exit code {proc.returncode}"
        detail = _last_line(proc.stderr)
        return ChildResult(False, data or {}, f"{reason}: {detail}" if detail else reason)
    return ChildResult(True, data)


@dataclass
class Probe:
    available: bool
    version: str = ""
    error: str = ""


def probe_loop(name: str, timeout: float) -> Probe:
    result = run_child(["probe", name], timeout)
    if result.ok:
        return Probe(True, version=result.data.get("version", "unknown"))
    return Probe(False, error=result.error)


def run_matrix(
    loops: list[str],
    workloads: list[tuple[str, int]],
    repeat: int,
    timeout: float,
    progress: Callable[[str], None],
) -> dict[tuple[str, str], Cell]:
    """Measure every (loop, workload) `repeat` times, one child process per measurement.

    Repetitions are interleaved: repetition r runs every workload on every loop before
    repetition r + 1 starts, and the loop order rotates each repetition, so slow machine
    drift is spread over all loops alike.
    """
    cells = {(loop, name): Cell() for loop in loops for name, _ in workloads}
    total = repeat * len(cells)
    done = 0
    for rep in range(repeat):
        shift = rep % len(loops) if loops else 0
        order = loops[shift:] + loops[:shift]
        for name, n in workloads:
            for loop in order:
                cell = cells[(loop, name)]
                cell.attempts += 1
                result = run_child(["run", loop, name, str(n)], timeout)
                done += 1
                if result.ok:
                    rate = result.data["ops"] / max(result.data["seconds"], 1e-9)
                    cell.rates.append(rate)
                    status = f"{rate:,.0f} ops/s"
                else:
                    cell.errors.append(result.error)
                    status = f"error: {result.error}"
                progress(f"[{done}/{total}] rep {rep + 1} {name} {loop}: {status}")
    return cells
