"""Metrics and the status file, refreshed every ``interval_s`` from the services' counters.

Counters are copied from plain integers the hot path increments, so a book update costs no
Prometheus call at all. Telemetry reads each service's live collections (a ``Source`` per venue:
one process may stream several venues into one status file and one registry); it knows nothing
else of the services.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from perpflow.marketdata.delivery import Signaller
from perpflow.marketdata.feed import BookFeed
from perpflow.marketdata.metrics import Metrics
from perpflow.marketdata.models import WorkerStatus
from perpflow.marketdata.status import status_path, write_status
from perpflow.signals import FeedChanged
from perpflow.venues.base import VenueName
from perpflow.venues.feed import FeedStream, StreamStatus

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Source:
    """One venue's service as telemetry reads it: the collections the service keeps current."""

    venue: VenueName
    streams: Mapping[str, FeedStream]
    feeds: Mapping[str, BookFeed]
    signaller: Signaller
    changes: Mapping[str, FeedChanged]  # stream -> its last feed change (carries the venue)

    def label(self, name: str) -> str:
        """A stream's or a market's name in the metrics and the status file's stream list:
        Lighter's bare (its dashboards and alert rules came first), another venue's prefixed with
        the venue ("grvt/books"), so two venues' ``books`` streams never share a series."""
        return name if self.venue is VenueName.LIGHTER else f"{self.venue.value}/{name}"


class Telemetry:
    def __init__(self, metrics: Metrics, *, state_dir: Path | None, interval_s: float) -> None:
        self.metrics, self.state_dir, self.interval_s = metrics, state_dir, interval_s
        self.sources: list[Source] = []
        self._seen: dict[tuple[str, str], int] = {}

    def add(self, source: Source) -> None:
        if any(s.venue is source.venue for s in self.sources):
            raise ValueError(f"telemetry already reads a {source.venue} service")
        self.sources.append(source)

    def on_state(self, source: Source, stream: FeedStream) -> None:
        self.metrics.set_state(source.label(stream.name), stream.state)

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            self.write()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.interval_s)

    def status(self) -> WorkerStatus:
        return WorkerStatus(
            updated_at=datetime.now(UTC),
            streams=[
                _named(s.status(), src.label(s.name)) for src in self.sources for s in src.streams.values()
            ],
            pending_signals=sum(src.signaller.pending for src in self.sources),
            feeds=[change for src in self.sources for change in src.changes.values()],
        )

    def _add(self, kind: str, key: str, total: int) -> int:
        delta = total - self._seen.get((kind, key), 0)
        self._seen[(kind, key)] = total
        return max(delta, 0)

    def write(self) -> None:
        m = self.metrics
        now = time.monotonic()
        for src in self.sources:
            for s in src.streams.values():
                name = src.label(s.name)
                m.messages.labels(name).inc(self._add("msg", name, s.messages))
                m.reconnects.labels(name).inc(self._add("rec", name, s.reconnects))
                if s.last_message:
                    m.staleness.labels(name).set(now - s.last_message)
            for feed in src.feeds.values():
                market = src.label(feed.book.market)
                m.book_updates.labels(market).inc(self._add("upd", market, feed.updates))
                m.book_gaps.labels(market).inc(self._add("gap", market, feed.gaps))
        m.pending_signals.set(sum(src.signaller.pending for src in self.sources))
        if self.state_dir is not None:
            try:
                write_status(status_path(self.state_dir), self.status())
            except OSError as exc:
                log.warning("status file not written: %s", exc)


def _named(status: StreamStatus, name: str) -> StreamStatus:
    return status if status.name == name else status.model_copy(update={"name": name})
