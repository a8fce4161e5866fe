"""A Prometheus collector for an oxloop loop's metrics.

    from prometheus_client import REGISTRY
    from oxloop.prometheus import LoopCollector
    loop.set_metrics(True)
    REGISTRY.register(LoopCollector(loop))

Needs `prometheus_client` (`pip install oxloop[prometheus]`). Each scrape
takes one `loop.metrics()` snapshot. What it exposes (with `namespace`
"oxloop" and the `labels` given, e.g. `{"loop": "main"}`):

- `oxloop_loop_iterations_total` (counter): loop turns;
- `oxloop_callbacks_total` (counter): callbacks run;
- `oxloop_poll_seconds_total` (counter): seconds waiting in the poller;
- `oxloop_callback_seconds_total` (counter): seconds running callbacks;
- `oxloop_pending_handles` (gauge): handles waiting;
- `oxloop_callback_duration_seconds` (histogram): callback durations;
- `oxloop_lag_seconds` (summary): how late callbacks and timers start;
  quantiles 0.5/0.9/0.99 over the last minute, `_count`/`_sum` since the
  last reset;
- `oxloop_lag_max_seconds` (gauge): the largest lag of the last minute;
- `oxloop_slowest_callback_seconds` (gauge): the slowest callbacks since
  the last reset, labelled `callback` and `where`.

Counters restart from zero after `loop.reset_metrics()`, which Prometheus
treats as a counter reset.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

__all__ = ["DURATION_BUCKETS", "LoopCollector"]

# Upper bounds (seconds) of the callback-duration histogram's buckets.
DURATION_BUCKETS = (
    0.00001, 0.00005, 0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0,
)  # fmt: skip

_QUANTILES = (("0.5", "p50"), ("0.9", "p90"), ("0.99", "p99"))


class LoopCollector(Collector):
    """Exposes `loop.metrics()` to a `prometheus_client` registry."""

    def __init__(
        self,
        loop: Any,
        *,
        namespace: str = "oxloop",
        labels: Mapping[str, str] | None = None,
    ) -> None:
        self._loop = loop
        self._ns = namespace
        self._labels = dict(labels or {})

    def _name(self, name: str) -> str:
        return f"{self._ns}_{name}" if self._ns else name

    def collect(self) -> Iterator[Metric]:
        m = self._loop.metrics()
        keys = list(self._labels)
        values = list(self._labels.values())

        def counter(name: str, doc: str, value: float, unit: str = "") -> Metric:
            family = CounterMetricFamily(self._name(name), doc, labels=keys, unit=unit)
            family.add_metric(values, value)
            return family

        def gauge(name: str, doc: str, value: float, unit: str = "") -> Metric:
            family = GaugeMetricFamily(self._name(name), doc, labels=keys, unit=unit)
            family.add_metric(values, value)
            return family

        yield counter("loop_iterations", "Event loop turns.", m.iterations)
        yield counter("callbacks", "Callbacks run by the event loop.", m.callbacks)
        yield counter(
            "poll_seconds", "Seconds the loop waited in the poller.", m.poll_seconds, "seconds"
        )
        yield counter(
            "callback_seconds", "Seconds the loop ran callbacks.", m.callback_seconds, "seconds"
        )
        yield gauge("pending_handles", "Handles waiting to run.", m.pending)

        durations = HistogramMetricFamily(
            self._name("callback_duration_seconds"),
            "How long callbacks ran.",
            labels=keys,
            unit="seconds",
        )
        counts = m.callback_counts(list(DURATION_BUCKETS))
        buckets = [(repr(b), c) for b, c in zip(DURATION_BUCKETS, counts, strict=True)]
        buckets.append(("+Inf", m.callbacks))
        durations.add_metric(values, buckets, m.callback_seconds)
        yield durations

        lag = m.lag
        summary = Metric(
            self._name("lag_seconds"),
            "How late callbacks and timers started; quantiles over the last minute.",
            "summary",
            unit="seconds",
        )
        for q, key in _QUANTILES:
            summary.add_sample(summary.name, {**self._labels, "quantile": q}, lag[key])
        summary.add_sample(summary.name + "_count", dict(self._labels), m.lag_count)
        summary.add_sample(summary.name + "_sum", dict(self._labels), m.lag_sum)
        yield summary
        yield gauge("lag_max_seconds", "The largest lag of the last minute.", lag["max"], "seconds")

        slowest = GaugeMetricFamily(
            self._name("slowest_callback_seconds"),
            "The slowest callbacks since the last reset.",
            labels=[*keys, "callback", "where"],
            unit="seconds",
        )
        for s in m.slowest:
            slowest.add_metric([*values, s["name"], s["where"]], s["seconds"])
        yield slowest
