"""What `python -m oxloop --stats` prints: a summary of a loop's metrics
(a table and terminal histograms) at exit, and a one-line summary for
`--stats-interval`."""

from __future__ import annotations

import sys
import threading
from typing import Any

# Histogram bins: upper bounds in seconds, the last bin is everything above.
_BOUNDS = (1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0)
_LABELS = ("< 10 us", "< 100 us", "< 1 ms", "< 10 ms", "< 100 ms", "< 1 s", ">= 1 s")
_BAR_WIDTH = 40


def _ms(seconds: float) -> str:
    if seconds < 1e-3:
        return f"{seconds * 1e6:.1f} us"
    return f"{seconds * 1e3:.3f} ms"


def _histogram(title: str, cumulative: list[int], total: int) -> list[str]:
    counts = [b - a for a, b in zip([0, *cumulative], [*cumulative, total], strict=True)]
    lines = [title]
    widest = max(counts) if counts and max(counts) else 1
    for label, n in zip(_LABELS, counts, strict=True):
        bar = "#" * round(_BAR_WIDTH * n / widest)
        share = 100.0 * n / total if total else 0.0
        lines.append(f"  {label:>8} | {bar:<{_BAR_WIDTH}} {n:>10,} {share:5.1f}%")
    return lines


def summary(m: Any, title: str = "oxloop --stats") -> str:
    """A loop's figures as a table and two histograms."""
    lag = m.lag
    wall = m.poll_seconds + m.callback_seconds
    busy = 100.0 * m.callback_seconds / wall if wall > 0 else 0.0
    lines = [
        title,
        f"  {'iterations':<18}{m.iterations:>14,}",
        f"  {'callbacks':<18}{m.callbacks:>14,}",
        f"  {'pending':<18}{m.pending:>14,}",
        f"  {'poll seconds':<18}{m.poll_seconds:>14.3f}   waiting in the poller",
        f"  {'callback seconds':<18}{m.callback_seconds:>14.3f}   running callbacks "
        f"({busy:.1f}% busy)",
        f"  {'lag p50':<18}{_ms(lag['p50']):>14}",
        f"  {'lag p90':<18}{_ms(lag['p90']):>14}",
        f"  {'lag p99':<18}{_ms(lag['p99']):>14}",
        f"  {'lag max':<18}{_ms(lag['max']):>14}   (lag: last minute)",
        "  slowest callbacks:",
    ]
    for s in m.slowest:
        lines.append(f"  {_ms(s['seconds']):>14}  {s['name']}  {s['where']}")
    if not m.slowest:
        lines.append("  (none)")
    lines += _histogram("callback durations", m.callback_counts(list(_BOUNDS)), m.callbacks)
    window = m.lag_counts([*_BOUNDS, float("inf")])
    lines += _histogram("lag (callbacks and timers, last minute)", window[:-1], window[-1])
    return "\n".join(lines)


def one_line(previous: Any, current: Any, seconds: float) -> str:
    """The last interval in one line: turns, callbacks, busy share, lag."""
    callbacks = current.callbacks - previous.callbacks
    busy = current.callback_seconds - previous.callback_seconds
    lag = current.lag
    top = current.slowest[0] if current.slowest else None
    slowest = f" slowest {top['name']} {_ms(top['seconds'])}" if top else ""
    return (
        f"oxloop: {current.iterations - previous.iterations:,} turns "
        f"{callbacks:,} callbacks {100.0 * busy / seconds:.1f}% busy "
        f"pending {current.pending:,} lag p99 {_ms(lag['p99'])} max {_ms(lag['max'])}"
        f"{slowest}"
    )


class IntervalPrinter(threading.Thread):
    """Prints `one_line` for the newest loop to stderr every `seconds`.

    Reading a loop's metrics from this thread is safe: `metrics()` is a
    method call made holding the GIL, which serialises it with the loop."""

    def __init__(self, seconds: float, loops: Any) -> None:
        super().__init__(name="oxloop-stats", daemon=True)
        self._seconds = seconds
        self._loops = loops
        self._stop = threading.Event()

    def run(self) -> None:
        previous: dict[int, Any] = {}
        while not self._stop.wait(self._seconds):
            found = self._loops.loops()
            if not found:
                continue
            loop = found[-1]
            current = loop.metrics()
            before = previous.get(id(loop), current)
            if before is current:
                before = _Zero()
            print(one_line(before, current, self._seconds), file=sys.stderr, flush=True)
            previous = {id(loop): current}

    def stop(self) -> None:
        self._stop.set()


class _Zero:
    """A snapshot of nothing, for the first interval."""

    iterations = 0
    callbacks = 0
    callback_seconds = 0.0
