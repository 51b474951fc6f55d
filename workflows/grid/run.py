"""One run of a grid session: its book (carried whole through continue-as-new), what the run
knows beside it (the feed, the mark, what woke it), and the bookkeeping every step shares: the
``GridState`` search attribute, ledger rows beside the orders, and the end."""

from __future__ import annotations

import asyncio
from datetime import datetime
from decimal import Decimal
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from perpflow import names
    from perpflow.grid.book import GridBook
    from perpflow.grid.config import GridConfig, StopAction
    from perpflow.grid.models import GridStatus, Placement, StopReason
    from perpflow.marketdata.models import DeactivateWatches
    from perpflow.models import RejectedCommand
    from perpflow.orders import OrderAck
    from perpflow.signals import FeedChanged, FeedState, OrderFilled, PriceCrossed
    from workflows.calls import DEACTIVATE_WATCHES, RECORD_GRID_FILLS, RECORD_GRID_SESSION
    from workflows.grid.deadlines import OFF_THE_CLOCK, ClockDeadlines, Deadlines, TimerDeadlines
    from workflows.options import BESIDE, LEDGER

# Sessions begun before watch sets registered a band both ways at every level, one activity each;
# their runs keep doing so (their histories replay), later runs set watches (workflows.grid.watch).
WATCH_SETS = "grid-watch-sets"

# A crossing older than the last one taken (its ``at``, the market-data worker's clock) is not
# taken: signals sent apart may land out of order (a retried one after a later one), and an older
# price taken last leaves the session planning at a price the market has left.
PRICES_IN_ORDER = "grid-prices-in-order"

# Fill rows go to the ledger in batches of this many (or at a reconcile, a continue-as-new, the end).
FILL_BATCH = 20


class GridRun:
    def __init__(self, book: GridBook, *, carried: bool, rejected: list[RejectedCommand]) -> None:
        self.book = book
        self.rejected = rejected  # the session's rejected commands, carried through continue-as-new
        self.price: Decimal | None = book.mark
        self.price_at: datetime | None = None  # the last crossing's time taken
        self.prices_in_order = workflow.patched(PRICES_IN_ORDER)
        self.wake = False  # a fill, a crossing, a feed change or a command: plan again now
        self.feed_up = True
        self.epochs: dict[str, int] = {}  # the highest feed_changed epoch per stream
        self.feed: dict[str, FeedState] = {}
        self.reconcile_due = True  # at start, after a reconnect (and every reconcile_every_s)
        self.refused = 0  # placements refused in a row: the next ones wait longer
        # Whether this run has heard the feed's state yet; the last watch set under way.
        self.feed_known = False
        self.watching: asyncio.Future[object] | None = None
        self.watch_sets = workflow.patched(WATCH_SETS)
        off_the_clock = workflow.patched(OFF_THE_CLOCK)
        self.deadlines: Deadlines = TimerDeadlines(book) if off_the_clock else ClockDeadlines(book)
        # Before WATCH_SETS: the ladder version the watches were registered for.
        self.watched_version = book.version if carried else -1
        # Placements under way: a cancel waits for them, so no order is sent unseen.
        self.inflight: dict[str, tuple[Placement, asyncio.Task[dict[str, OrderAck | None]]]] = {}
        self.recorder: asyncio.Task[None] | None = None
        self.fill_writer: asyncio.Task[None] | None = None
        self.beside: list[asyncio.Future[Any]] = []
        self.state = book.state
        self.lost = book.lost_orders

    @property
    def config(self) -> GridConfig:
        return self.book.config

    @property
    def mark(self) -> Decimal:
        """The last price seen: a fill's, a crossing's, or the book's at a reconcile."""
        assert self.book.mark is not None
        return self.price or self.book.mark

    def send_queue(self) -> str:
        a = self.config.account
        return names.signer_queue(self.config.venue, a.account_index, a.api_key_index)

    def read_queue(self) -> str:
        a = self.config.account
        return names.signer_read_queue(self.config.venue, a.account_index, a.api_key_index)

    # -- what the market-data worker tells ----------------------------------------------------------

    def filled(self, fill: OrderFilled) -> None:
        """A fill signal, counted once by the book (a repeat changes nothing); one that beat its
        order's acknowledgement waits in the book, and its price is the market's already (its mid
        when that is past the fill: the crossing the move made may come folded into the fill)."""
        if self.book.on_fill(fill) or fill in self.book.unmatched:
            self.price = fill.market_price()

    def priced(self, crossed: PriceCrossed) -> None:
        if self.prices_in_order:
            if self.price_at is not None and crossed.at < self.price_at:
                return
            self.price_at = crossed.at
        self.price = crossed.price

    def stop(self, reason: StopReason, action: StopAction | None = None) -> None:
        """Begin the stop (once), after a fresh look at the venue: the flatten is sized from it."""
        if self.book.stop(reason, action):
            self.reconcile_due = True

    # -- the feed ----------------------------------------------------------------------------------

    def seed_feed(self, feed_up: bool | None, changes: list[FeedChanged]) -> None:
        """What a watch registration said of the feed (None: the worker does not say)."""
        for change in changes:
            self.feed_changed(change)
        if feed_up is not None and not changes:
            self.feed_up = feed_up

    def feed_changed(self, change: FeedChanged) -> None:
        """Newest change per stream wins; a stream back up after being down is a reconnect."""
        if change.epoch <= self.epochs.get(change.stream, -1):
            return
        was = self.feed.get(change.stream)
        self.epochs[change.stream], self.feed[change.stream] = change.epoch, change.state
        self.feed_up = all(state is FeedState.UP for state in self.feed.values())
        if change.state is FeedState.UP and was is not FeedState.UP:
            self.reconcile_due = True
        self.wake = True

    # -- bookkeeping beside the orders -------------------------------------------------------------

    def noted(self) -> None:
        """After any step: a state change goes to the search attribute and the ledger; orders the
        venue stopped showing, to the log."""
        if self.book.lost_orders > self.lost:
            workflow.logger.warning(
                "grid %s: %d orders the venue no longer shows, resting or ended, counted cancelled",
                self.book.workflow_id, self.book.lost_orders - self.lost,
            )  # fmt: skip
            self.lost = self.book.lost_orders
        if self.book.state is self.state:
            return
        workflow.logger.info("grid %s %s -> %s", self.book.workflow_id, self.state, self.book.state)
        self.state = self.book.state
        workflow.upsert_search_attributes([names.GRID_STATE.value_set(self.state.value)])
        self.record()

    def record(self, final: bool = False) -> None:
        """The session's row, in order, beside the trading; the final one retries until written."""
        rec, previous = self.book.record(), self.recorder

        async def write() -> None:
            if previous is not None:
                await asyncio.gather(previous, return_exceptions=True)
            await RECORD_GRID_SESSION.run(rec, preset=LEDGER if final else BESIDE)

        self.recorder = asyncio.ensure_future(write())

    def record_fills(self, at_least: int = FILL_BATCH) -> None:
        """The fill rows waiting, handed to the ledger once ``at_least`` have gathered (one write
        at a time: what gathers meanwhile goes in the next)."""
        if len(self.book.records) < at_least or (self.fill_writer and not self.fill_writer.done()):
            return
        self.fill_writer = asyncio.ensure_future(
            RECORD_GRID_FILLS.run(self.book.take_records(), preset=LEDGER)
        )

    async def flush(self) -> None:
        """Write what waits and wait for the writes under way (a cancel does not interrupt them)."""
        while True:
            self.record_fills(at_least=1)
            pending = [t for t in (self.recorder, self.fill_writer, *self.beside) if t and not t.done()]
            if not pending:
                break
            await asyncio.shield(asyncio.gather(*pending, return_exceptions=True))
        self.beside = []

    async def end(self) -> GridStatus:
        """STOPPED: watches released, the final row written; the status as the result."""
        self.book.finish()
        self.noted()
        wid = self.book.workflow_id
        self.beside.append(DEACTIVATE_WATCHES.start(DeactivateWatches(workflow_id=wid)))
        self.record(final=True)
        await self.flush()
        return self.book.status()
