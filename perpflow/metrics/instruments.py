"""Counters and histograms observed where the events happen, built from the catalogue.

They live in prometheus-client's process-wide registry, so the code that observes them (the order
gateway, the payout tracker, the wallet lane, the chain watcher) needs nothing injected; each
process serves that registry on its metrics port (``perpflow.metrics.endpoint``).
"""

from __future__ import annotations

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram

from perpflow.metrics import names
from perpflow.metrics.names import Kind, Metric

# Seconds: a hedge within tens of milliseconds is normal, seconds mean trouble.
FAST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
# Event -> payout: confirmations alone take tens of seconds on a real chain; an approval, hours.
SLOW_BUCKETS = (1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 4 * 3600, 24 * 3600)


def counter(spec: Metric, registry: CollectorRegistry = REGISTRY) -> Counter:
    assert spec.kind is Kind.COUNTER, spec
    return Counter(spec.name, spec.help, spec.labels, registry=registry)


def histogram(spec: Metric, buckets: tuple[float, ...], registry: CollectorRegistry = REGISTRY) -> Histogram:
    assert spec.kind is Kind.HISTOGRAM, spec
    return Histogram(spec.name, spec.help, spec.labels, buckets=buckets, registry=registry)


ORDERS_PLACED = counter(names.ORDERS_PLACED)
ORDERS_REJECTED = counter(names.ORDERS_REJECTED)
ORDERS_RETRIED = counter(names.ORDERS_RETRIED)
HEDGE_LATENCY = histogram(names.HEDGE_LATENCY, FAST_BUCKETS)
ACCOUNT_READ_FAILURES = counter(names.ACCOUNT_READ_FAILURES)
PAYOUT_LATENCY = histogram(names.PAYOUT_LATENCY, SLOW_BUCKETS)
WALLET_BROADCASTS = counter(names.WALLET_BROADCASTS)
PAYOUT_EVENTS = counter(names.PAYOUT_EVENTS)
