"""Gauges computed at scrape time by a coroutine on the process's event loop, cached briefly.

Prometheus scrapes on prometheus-client's HTTP thread; the ledger, the venue and the node are
reached with the process's async clients on its event loop. ``ScrapeTime.collect`` runs the source's
``read`` there and waits for it (bounded), at most once per ``ttl_s`` however many scrapers ask:
a scrape stays cheap, the values are never older than the cache. A read that fails or times out
keeps the last values and counts a failure, so a slow ledger never fails the whole scrape.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Coroutine, Iterable, Iterator
from typing import Any

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric as Family
from prometheus_client.registry import Collector

from perpflow.metrics import names
from perpflow.metrics.instruments import counter
from perpflow.metrics.names import Metric

log = logging.getLogger(__name__)

REFRESH_FAILURES = counter(names.REFRESH_FAILURES)

Read = Callable[[], Coroutine[Any, Any, list[Family]]]


def gauge(spec: Metric) -> GaugeMetricFamily:
    """An empty family of the catalogue's gauge ``spec``, for a read to fill."""
    assert spec.kind is names.Kind.GAUGE, spec
    return GaugeMetricFamily(spec.name, spec.help, labels=list(spec.labels))


def filled(spec: Metric, rows: Iterable[tuple[Iterable[object], float]]) -> GaugeMetricFamily:
    family = gauge(spec)
    for labels, value in rows:
        family.add_metric([str(v) for v in labels], float(value))
    return family


class ScrapeTime(Collector):
    def __init__(
        self,
        source: str,
        read: Read,
        loop: asyncio.AbstractEventLoop,
        *,
        ttl_s: float = 5.0,
        timeout_s: float = 5.0,  # within a scrape's own timeout (10 s by default)
    ) -> None:
        self.source, self.read, self.loop = source, read, loop
        self.ttl_s, self.timeout_s = ttl_s, timeout_s
        self._families: list[Family] = []
        self._read_at = float("-inf")
        self._lock = threading.Lock()
        REFRESH_FAILURES.labels(source)

    def describe(self) -> list[Family]:
        # Registering must not read: the default registry collects at registration otherwise.
        return []

    def collect(self) -> Iterator[Family]:
        with self._lock:
            if time.monotonic() - self._read_at >= self.ttl_s and not self._on_loop():
                self._refresh()
            families = list(self._families)
        yield from families

    def _on_loop(self) -> bool:
        """Called on the loop's own thread (a test's in-process scrape): waiting would deadlock."""
        try:
            return asyncio.get_running_loop() is self.loop
        except RuntimeError:
            return False

    def _refresh(self) -> None:
        future = asyncio.run_coroutine_threadsafe(self.read(), self.loop)
        try:
            self._families = future.result(self.timeout_s)
        except Exception as exc:
            future.cancel()
            REFRESH_FAILURES.labels(self.source).inc()
            log.warning("metrics of %s not read: %s", self.source, str(exc) or type(exc).__name__)
        self._read_at = time.monotonic()
