"""Metrics and the status file, refreshed every ``interval_s`` from the service's counters.

Counters are copied from plain integers the hot path increments, so a book update costs no
Prometheus call at all. Telemetry reads the service's live collections; it knows nothing else
of the service.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

from perpflow.marketdata.delivery import Signaller
from perpflow.marketdata.feed import BookFeed
from perpflow.marketdata.metrics import Metrics
from perpflow.marketdata.models import WorkerStatus
from perpflow.marketdata.status import status_path, write_status
from perpflow.signals import FeedChanged
from perpflow.venues.feed import FeedStream

log = logging.getLogger(__name__)


class Telemetry:
    def __init__(
        self,
        metrics: Metrics,
        streams: Mapping[str, FeedStream],
        feeds: Mapping[str, BookFeed],
        signaller: Signaller,
        changes: Mapping[str, FeedChanged],
        *,
        state_dir: Path | None,
        interval_s: float,
    ) -> None:
        self.metrics, self.streams, self.feeds, self.signaller = metrics, streams, feeds, signaller
        self.changes = changes
        self.state_dir, self.interval_s = state_dir, interval_s
        self._seen: dict[tuple[str, str], int] = {}

    def on_state(self, stream: FeedStream) -> None:
        self.metrics.set_state(stream.name, stream.state)

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            self.write()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.interval_s)

    def status(self) -> WorkerStatus:
        return WorkerStatus(
            updated_at=datetime.now(UTC),
            streams=[s.status() for s in self.streams.values()],
            pending_signals=self.signaller.pending,
            feeds=list(self.changes.values()),
        )

    def _add(self, kind: str, key: str, total: int) -> int:
        delta = total - self._seen.get((kind, key), 0)
        self._seen[(kind, key)] = total
        return max(delta, 0)

    def write(self) -> None:
        m = self.metrics
        now = time.monotonic()
        for s in self.streams.values():
            m.messages.labels(s.name).inc(self._add("msg", s.name, s.messages))
            m.reconnects.labels(s.name).inc(self._add("rec", s.name, s.reconnects))
            if s.last_message:
                m.staleness.labels(s.name).set(now - s.last_message)
        for feed in self.feeds.values():
            m.book_updates.labels(feed.book.market).inc(self._add("upd", feed.book.market, feed.updates))
            m.book_gaps.labels(feed.book.market).inc(self._add("gap", feed.book.market, feed.gaps))
        m.pending_signals.set(self.signaller.pending)
        if self.state_dir is not None:
            try:
                write_status(status_path(self.state_dir), self.status())
            except OSError as exc:
                log.warning("status file not written: %s", exc)
