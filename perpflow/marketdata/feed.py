"""One market's book feed: snapshot, in-order deltas, and a REST re-snapshot on any gap.

On (re)connect the book waits for the snapshot its subscription starts with and fetches nothing
over REST: that snapshot is the whole book, numbered, and the deltas chain from it on the same
ordered socket, so a REST one would only race the stream it duplicates (docs/grvt-adapter.md,
market data).

Continuity: an update's ``prev_seq`` must equal the previous update's ``seq``. On a gap the
feed buffers deltas, fetches a REST snapshot, installs it and replays the buffer. Deltas carry
absolute level sizes and arrive in order, so replaying those received after the fetch began
over a snapshot taken after that moment leaves every level at its latest value.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from enum import StrEnum

from perpflow.marketdata.book import LocalBook
from perpflow.venues.feed import BookUpdate
from perpflow.venues.types import Book

log = logging.getLogger(__name__)

# A REST snapshot that cannot be had within this many deltas: give up and resubscribe instead.
MAX_BUFFERED = 5_000

Snapshotter = Callable[[str], Awaitable[Book]]


class FeedState(StrEnum):
    AWAITING_SNAPSHOT = "awaiting_snapshot"  # (re)connected, the subscribe snapshot is coming
    LIVE = "live"
    RESYNCING = "resyncing"  # gap seen, REST snapshot in flight, deltas buffered


class BookFeed:
    def __init__(
        self,
        book: LocalBook,
        snapshot: Snapshotter,
        *,
        on_update: Callable[[LocalBook], None] | None = None,
        on_gap: Callable[[LocalBook], None] | None = None,
        on_give_up: Callable[[], None] | None = None,
    ) -> None:
        self.book = book
        self.state = FeedState.AWAITING_SNAPSHOT
        self.seq: int | None = None
        self.updates = 0
        self.gaps = 0
        self._snapshot = snapshot
        self._on_update, self._on_gap, self._on_give_up = on_update, on_gap, on_give_up
        self._buffer: list[BookUpdate] = []
        self._task: asyncio.Task[None] | None = None

    @property
    def live(self) -> bool:
        return self.state is FeedState.LIVE

    def expect_snapshot(self) -> None:
        """The connection is new: nothing before its subscribe snapshot is trusted."""
        self._cancel_resync()
        self.state, self.seq = FeedState.AWAITING_SNAPSHOT, None

    def apply(self, msg: BookUpdate) -> None:
        if msg.snapshot:
            self._cancel_resync()
            self.book.reset(msg.bids, msg.asks)
            self.state, self.seq = FeedState.LIVE, msg.seq
        elif self.state is FeedState.RESYNCING:
            self._buffer_delta(msg)
            return
        elif self.state is FeedState.AWAITING_SNAPSHOT:
            return
        elif self.seq is not None and msg.prev_seq != self.seq:
            self._gap(msg)
            return
        else:
            self.book.apply(msg.bids, msg.asks)
            self.seq = msg.seq
        self.updates += 1
        if self._on_update is not None:
            self._on_update(self.book)

    def _buffer_delta(self, msg: BookUpdate) -> None:
        self._buffer.append(msg)
        if len(self._buffer) > MAX_BUFFERED:
            log.warning("book %s resync buffer full; resubscribing", self.book.market)
            self.expect_snapshot()
            if self._on_give_up is not None:
                self._on_give_up()

    def _gap(self, msg: BookUpdate) -> None:
        self.gaps += 1
        log.warning(
            "book %s gap expected prev_seq=%s got=%d; resnapshot via REST",
            self.book.market,
            self.seq,
            msg.prev_seq,
        )
        if self._on_gap is not None:
            self._on_gap(self.book)
        self.state, self._buffer = FeedState.RESYNCING, [msg]
        self._task = asyncio.get_running_loop().create_task(self._resync())

    async def _resync(self) -> None:
        try:
            snap = await self._snapshot(self.book.market)
        except Exception as exc:
            # The stream is still up but our book is not: a fresh subscription re-syncs it.
            log.warning("book %s REST snapshot failed (%s); resubscribing", self.book.market, exc)
            self.expect_snapshot()
            if self._on_give_up is not None:
                self._on_give_up()
            return
        self.book.reset(((lv.price, lv.size) for lv in snap.bids), ((lv.price, lv.size) for lv in snap.asks))
        buffered, self._buffer = self._buffer, []
        for delta in buffered:
            self.book.apply(delta.bids, delta.asks)
        self.seq = buffered[-1].seq if buffered else None
        self.state, self._task = FeedState.LIVE, None
        log.info("book %s resynced replayed=%d seq=%s", self.book.market, len(buffered), self.seq)
        if self._on_update is not None:
            self._on_update(self.book)

    def _cancel_resync(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None
        self._buffer = []
