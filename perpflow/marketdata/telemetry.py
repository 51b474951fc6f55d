"""Metrics and the status file, refreshed every ``status_interval_s`` from the service's counters.

Counters are copied from plain integers the hot path increments, so a book update costs no
Prometheus call at all.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import TYPE_CHECKING

from perpflow.marketdata.status import status_path, write_status
from perpflow.marketdata.stream import Stream

if TYPE_CHECKING:
    from perpflow.marketdata.service import MarketDataService

log = logging.getLogger(__name__)


class Telemetry:
    def __init__(self, service: MarketDataService) -> None:
        self.service = service
        self._seen: dict[tuple[str, str], int] = {}

    def on_state(self, stream: Stream) -> None:
        self.service.metrics.set_state(stream.name, stream.state)

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            self.write()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.service.config.status_interval_s)

    def _add(self, kind: str, key: str, total: int) -> int:
        delta = total - self._seen.get((kind, key), 0)
        self._seen[(kind, key)] = total
        return max(delta, 0)

    def write(self) -> None:
        svc, m = self.service, self.service.metrics
        now = time.monotonic()
        for s in svc.streams.values():
            m.messages.labels(s.name).inc(self._add("msg", s.name, s.messages))
            m.reconnects.labels(s.name).inc(self._add("rec", s.name, s.reconnects))
            if s.last_message:
                m.staleness.labels(s.name).set(now - s.last_message)
        for feed in svc.feeds.values():
            m.book_updates.labels(feed.book.market).inc(self._add("upd", feed.book.market, feed.updates))
            m.book_gaps.labels(feed.book.market).inc(self._add("gap", feed.book.market, feed.gaps))
        m.pending_signals.set(svc.signaller.pending)
        if svc.config.state_dir is not None:
            try:
                write_status(status_path(svc.config.state_dir), svc.status())
            except OSError as exc:
                log.warning("status file not written: %s", exc)
