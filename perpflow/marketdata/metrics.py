"""Prometheus metrics of the market-data worker, on their own registry (one per service).

Per-message counters are resolved to their label child once per stream, so the hot path pays
one locked add per message.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from perpflow.venues.feed import StreamState

_STATES = list(StreamState)
# The kinds of delivery (``Delivery.kind``): each signal counter starts at zero for every one.
SIGNAL_KINDS = ("fill", "crossing", "feed")
# Fill -> signal accepted by Temporal: milliseconds matter, seconds mean an outage.
LATENCY_BUCKETS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


class Metrics:
    def __init__(self) -> None:
        self.registry = r = CollectorRegistry()
        stream, market, kind = ["stream"], ["market"], ["kind"]
        self.messages = Counter("perpflow_md_messages", "Websocket messages received", stream, registry=r)
        self.reconnects = Counter("perpflow_md_reconnects", "Stream reconnect attempts", stream, registry=r)
        self.state = Gauge(
            "perpflow_md_stream_state", "1 for the stream's current state", ["stream", "state"], registry=r
        )
        self.staleness = Gauge(
            "perpflow_md_stream_staleness_seconds",
            "Seconds since the stream's last message",
            ["stream"],
            registry=r,
        )
        self.book_updates = Counter("perpflow_md_book_updates", "Book messages applied", market, registry=r)
        self.book_gaps = Counter(
            "perpflow_md_book_gaps", "Sequence gaps (REST resnapshots)", market, registry=r
        )
        self.signals = Counter("perpflow_md_signals", "Signals accepted by Temporal", kind, registry=r)
        self.signal_retries = Counter(
            "perpflow_md_signal_retries", "Signal attempts that failed", kind, registry=r
        )
        self.signal_latency = Histogram(
            "perpflow_md_signal_latency_seconds",
            "From the message that carried the fact to Temporal accepting the signal",
            kind,
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.pending_signals = Gauge("perpflow_md_pending_signals", "Signals not yet accepted", registry=r)
        for k in SIGNAL_KINDS:
            for labelled in (self.signals, self.signal_retries, self.signal_latency):
                labelled.labels(k)

    def set_state(self, stream: str, state: StreamState) -> None:
        for s in _STATES:
            self.state.labels(stream, s.value).set(1 if s is state else 0)

    def serve(self, port: int, host: str = "127.0.0.1") -> None:
        """This registry alone; the worker serves it with the rest (perpflow.metrics.endpoint)."""
        start_http_server(port, addr=host, registry=self.registry)
