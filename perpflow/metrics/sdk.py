"""The Temporal SDK's own metrics, forwarded into this process's registry.

The SDK's Prometheus exporter (``PrometheusConfig``) would need a second port per process, beside
prometheus-client's; instead the SDK runtime writes into a ``MetricBuffer``, drained here (every
second, and at each scrape) into counters, gauges and histograms served with perpflow's own. Names
are the SDK's (``temporal_…``; custom ones from ``workflow.metric_meter()`` as given) with
durations in seconds and ``_seconds`` appended, as the exporter's ``unit_suffix`` and
``durations_as_seconds`` would have them.

Must be installed (``install``) before the process's first Temporal client connects: clients use
the default runtime, which is created once.
"""

from __future__ import annotations

import bisect
import logging
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString
from temporalio.runtime import (
    BUFFERED_METRIC_KIND_COUNTER,
    BUFFERED_METRIC_KIND_GAUGE,
    BufferedMetricUpdate,
    MetricBuffer,
    MetricBufferDurationFormat,
    Runtime,
    TelemetryConfig,
)

log = logging.getLogger(__name__)

# Tens of thousands of updates per second would be a very busy worker; drained every second.
BUFFER_SIZE = 100_000
DRAIN_EVERY_S = 1.0
# Task latencies: a few milliseconds when healthy, seconds when a queue backs up.
SECONDS_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)
COUNT_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)

Labels = tuple[tuple[str, str], ...]


@dataclass
class _Histogram:
    bounds: Sequence[float]
    counts: list[int]
    total: float = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.total += value

    def buckets(self) -> list[tuple[str, float]]:
        out, running = [], 0
        for bound, count in zip([*self.bounds, float("inf")], self.counts, strict=True):
            running += count
            out.append((floatToGoString(bound), float(running)))  # type: ignore[no-untyped-call]
        return out


@dataclass
class _Family:
    name: str
    help: str
    kind: int
    seconds: bool
    values: dict[Labels, float] = field(default_factory=dict)
    histograms: dict[Labels, _Histogram] = field(default_factory=dict)

    def apply(self, labels: Labels, value: float) -> None:
        if self.kind == BUFFERED_METRIC_KIND_COUNTER:
            self.values[labels] = self.values.get(labels, 0.0) + value
        elif self.kind == BUFFERED_METRIC_KIND_GAUGE:
            self.values[labels] = value
        else:
            hist = self.histograms.get(labels)
            if hist is None:
                bounds = SECONDS_BUCKETS if self.seconds else COUNT_BUCKETS
                hist = self.histograms[labels] = _Histogram(bounds, [0] * (len(bounds) + 1))
            hist.observe(value)

    def families(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily | HistogramMetricFamily]:
        names = sorted({k for labels in [*self.values, *self.histograms] for k, _ in labels})
        if self.kind == BUFFERED_METRIC_KIND_COUNTER:
            fam: CounterMetricFamily | GaugeMetricFamily = CounterMetricFamily(
                self.name, self.help, labels=names
            )
        elif self.kind == BUFFERED_METRIC_KIND_GAUGE:
            fam = GaugeMetricFamily(self.name, self.help, labels=names)
        else:
            hist = HistogramMetricFamily(self.name, self.help, labels=names)
            for labels, h in self.histograms.items():
                hist.add_metric(_values(labels, names), h.buckets(), h.total)
            yield hist
            return
        for labels, value in self.values.items():
            fam.add_metric(_values(labels, names), value)
        yield fam


def _values(labels: Labels, names: list[str]) -> list[str]:
    given = dict(labels)
    return [given.get(n, "") for n in names]


class SdkMetrics(Collector):
    """A prometheus-client collector over the SDK runtime's metric buffer."""

    def __init__(self, buffer_size: int = BUFFER_SIZE) -> None:
        self.buffer = MetricBuffer(buffer_size, MetricBufferDurationFormat.SECONDS)
        self._families: dict[str, _Family] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()

    def runtime(self) -> Runtime:
        # service_name would be the same word on every series; the process is Prometheus's job label.
        return Runtime(telemetry=TelemetryConfig(metrics=self.buffer, attach_service_name=False))

    def drain(self) -> None:
        with self._lock:
            for update in self.buffer.retrieve_updates():
                self._apply(update)

    def _apply(self, update: BufferedMetricUpdate) -> None:
        metric = update.metric
        family = self._families.get(metric.name)
        if family is None:
            seconds = metric.unit == "s"
            name = (
                f"{metric.name}_seconds" if seconds and not metric.name.endswith("_seconds") else metric.name
            )
            family = _Family(name, metric.description or metric.name, metric.kind, seconds)
            self._families[metric.name] = family
        labels = tuple(sorted((k, str(v)) for k, v in update.attributes.items()))
        family.apply(labels, float(update.value))

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily | HistogramMetricFamily]:
        self.drain()
        with self._lock:
            families = [f for family in self._families.values() for f in family.families()]
        yield from families

    def start_draining(self) -> None:
        """Drain every second on a daemon thread, so the buffer never fills between scrapes."""
        threading.Thread(target=self._drain_loop, name="perpflow-sdk-metrics", daemon=True).start()

    def stop(self) -> None:
        self._stop.set()

    def _drain_loop(self) -> None:
        while not self._stop.wait(DRAIN_EVERY_S):
            try:
                self.drain()
            except Exception:
                log.exception("draining the SDK's metric buffer failed")


def install(sdk: SdkMetrics) -> None:
    """Make ``sdk``'s runtime the default one every Temporal client of this process uses."""
    Runtime.set_default(sdk.runtime(), error_if_already_set=False)
    sdk.start_draining()
