"""The market-data service: streams, books, bands and fills, driven by the ledger's watches.

A Temporal client only, speaking to one venue through its ``VenueFeed`` (a process streaming
several venues runs a service per venue, ``perpflow.marketdata.venues``). ``run(stop)`` keeps
one book stream (every watched market) and one account stream per account (through that
account's proxy), re-reads the ledger every ``refresh_interval_s`` and signals workflows on
fills and band crossings, never per tick, and those that ask when a stream goes down or is up
again and caught up. Watches of workflows that no longer run are swept (``sweep.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import Coroutine
from datetime import UTC, datetime
from decimal import Decimal
from functools import partial
from typing import Any

from temporalio.client import Client

from perpflow.db.ledger import Ledger
from perpflow.db.orders import Orders
from perpflow.db.watches import ActiveWatches, Watches
from perpflow.marketdata.bands import Crossing, MarketBands
from perpflow.marketdata.book import LocalBook
from perpflow.marketdata.config import MarketDataConfig
from perpflow.marketdata.delivery import Delivery, Signaller
from perpflow.marketdata.feed import BookFeed
from perpflow.marketdata.fill_log import FillLog, fill_log_path
from perpflow.marketdata.fills import FillRouter
from perpflow.marketdata.hold import CrossingHold
from perpflow.marketdata.liveness import BOOKS, Liveness, account_of, account_stream
from perpflow.marketdata.metrics import Metrics
from perpflow.marketdata.models import Watch, WatchKind
from perpflow.marketdata.sweep import WatchSweep
from perpflow.marketdata.telemetry import Source, Telemetry
from perpflow.signals import FeedState, PriceCrossed
from perpflow.venues.errors import VenueError
from perpflow.venues.feed import (
    BookStream,
    BookUpdate,
    FeedStream,
    OnConnected,
    StreamHooks,
    StreamState,
    VenueFeed,
)
from perpflow.venues.types import Proxy, VenueFill

log = logging.getLogger(__name__)


class MarketDataService:
    def __init__(
        self,
        config: MarketDataConfig,
        source: VenueFeed,
        client: Client,
        ledger: Ledger,
        metrics: Metrics | None = None,
        *,
        telemetry: Telemetry | None = None,
    ) -> None:
        """``telemetry``: shared with the other venues' services of the process, which runs it;
        without one the service keeps and runs its own."""
        self.config, self.source, self.ledger = config, source, ledger
        self.metrics = metrics or Metrics()
        self.watches = Watches(ledger)
        self.active = ActiveWatches(self.watches, config.venue)
        self.feeds: dict[str, BookFeed] = {}
        self.bands: dict[str, MarketBands] = defaultdict(MarketBands)
        self.streams: dict[str, FeedStream] = {}
        state_dir = config.state_dir
        self.fill_log = FillLog(fill_log_path(state_dir, config.venue) if state_dir else None)
        self.sweep = WatchSweep(client, self.watches, config, self._spawn)
        self.signaller = Signaller(client, on_sent=self._sent, on_retry=self._retry, on_gone=self.sweep.gone)
        self.hold = CrossingHold(self.signaller.send, config.crossing_hold_s)
        self.router = FillRouter(Orders(ledger), self.fill_log, self.hold.fill, config.venue, self._mid)
        self.liveness = Liveness(config.venue, self.signaller.send)
        self._own_telemetry = telemetry is None
        self.telemetry = telemetry or Telemetry(
            self.metrics, state_dir=state_dir, interval_s=config.status_interval_s
        )
        self._seen_by = Source(config.venue, self.streams, self.feeds, self.signaller, self.liveness.current)
        self.telemetry.add(self._seen_by)
        self.ready = asyncio.Event()  # set after the first refresh subscribed everything
        self._books: BookStream | None = None
        self._books_catching_up = False  # connected, some book's snapshot still to come
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._stops: dict[str, asyncio.Event] = {}
        self._locks: dict[int, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._background: set[asyncio.Task[None]] = set()

    # -- lifecycle ------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        try:
            await self.source.start(stop)
            if stop.is_set():
                return
            self._books = self.source.books(BOOKS, self._on_book, self._hooks(self._books_connected))
            self._start_stream(self._books)
            telemetry = [self.telemetry.run(stop)] if self._own_telemetry else []
            await asyncio.gather(self._refresh_loop(stop), self.sweep.run(stop), *telemetry)
        finally:
            await self._shutdown()

    async def _shutdown(self) -> None:
        for name in list(self.streams):
            await self._stop_stream(name)
        self.hold.flush()
        await self.signaller.drain(timeout=2.0)
        for task in list(self._background):
            task.cancel()
        await self.fill_log.close()
        self.telemetry.write()
        await self.source.close()

    def _hooks(self, on_connected: OnConnected) -> StreamHooks:
        return StreamHooks(on_connected, self._on_state, self.config.stream)

    def _on_state(self, stream: FeedStream) -> None:
        self.telemetry.on_state(self._seen_by, stream)
        if stream.state is not StreamState.CONNECTED:
            self._feed(stream.name, FeedState.DOWN)

    def _feed(self, stream: str, state: FeedState) -> None:
        if self.liveness.set(stream, state):
            self.telemetry.write()  # at once: a workflow registering a watch reads the state there

    def _start_stream(self, stream: FeedStream) -> None:
        self._feed(stream.name, FeedState.DOWN)  # until connected and caught up
        stop = self._stops[stream.name] = asyncio.Event()
        self.streams[stream.name] = stream
        self._tasks[stream.name] = asyncio.create_task(stream.run(stop))

    async def _stop_stream(self, name: str) -> None:
        self._stops.pop(name).set()
        stream = self.streams.pop(name)
        await stream.close()
        task = self._tasks.pop(name)
        with contextlib.suppress(asyncio.CancelledError):
            await task

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # -- configuration from the ledger ----------------------------------------------------------

    async def _refresh_loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.refresh()
                self.ready.set()
            except Exception as exc:  # the ledger is down: keep streaming with what we have
                log.warning("refresh from the ledger failed: %s", exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.config.refresh_interval_s)

    async def refresh(self) -> None:
        venue = self.config.venue
        watches = await self.active.read()
        accounts = {a.account_index: a.proxy_url for a in await self.ledger.accounts(venue)}
        for w in watches:
            if w.spec.account_index is not None:
                accounts.setdefault(w.spec.account_index, None)
        markets = set(self.config.markets) | {w.spec.market for w in watches}
        await self._sync_books(markets)
        self._sync_bands(watches)
        self.router.sync_watches([w for w in watches if w.spec.kind is WatchKind.ORDER])
        await self._sync_accounts(accounts)
        await self.router.read_ahead(accounts)
        self.liveness.sync_watches(watches)

    async def _sync_books(self, markets: set[str]) -> None:
        books = self._books
        assert books is not None
        for market in markets:
            if market not in self.feeds and self.source.has_market(market):
                self.feeds[market] = BookFeed(
                    LocalBook(market),
                    self.source.book,
                    on_update=self._evaluate,
                    on_give_up=lambda: self._spawn(books.close()),
                )
        await books.watch({m for m in self.feeds if m in markets})

    def _sync_bands(self, watches: list[Watch]) -> None:
        by_market: dict[str, list[Watch]] = defaultdict(list)
        for w in watches:
            if w.spec.kind is WatchKind.BAND:
                by_market[w.spec.market].append(w)
        for market in set(self.bands) | set(by_market):
            current = self.bands[market]
            if {w.id: w for w in by_market.get(market, [])} != {i: b.watch for i, b in current.bands.items()}:
                current.sync(by_market.get(market, []))
                book = self.book(market)
                if book is not None:
                    self._evaluate(book)

    async def _sync_accounts(self, accounts: dict[int, str | None]) -> None:
        for index, proxy_url in accounts.items():
            name = account_stream(index)
            if name not in self.streams:
                proxy = self.config.proxies.get(index) or (Proxy(url=proxy_url) if proxy_url else None)
                hooks = self._hooks(partial(self._account_connected, index, proxy))
                on_fills = partial(self._on_fills, index)
                self._start_stream(self.source.account(name, index, proxy, on_fills, hooks))
        for name in list(self.streams):
            gone = account_of(name)
            if gone is not None and gone not in accounts:
                await self._stop_stream(name)

    # -- books and bands ------------------------------------------------------------------------

    def book(self, market: str) -> LocalBook | None:
        feed = self.feeds.get(market)
        return feed.book if feed is not None and feed.live else None

    def _mid(self, market: str) -> Decimal | None:
        book = self.book(market)
        return book.mid if book is not None else None

    async def _books_connected(self) -> None:
        for feed in self.feeds.values():
            feed.expect_snapshot()
        self._books_catching_up = True
        self._books_caught_up()

    def _on_book(self, update: BookUpdate) -> None:
        feed = self.feeds.get(update.market)
        if feed is not None:
            feed.apply(update)
            if self._books_catching_up:
                self._books_caught_up()

    def _books_caught_up(self) -> None:
        """The book stream is up again once every book (there is one per watch's market) has its
        snapshot."""
        if self.feeds and all(feed.live for feed in self.feeds.values()):
            self._books_catching_up = False
            self._feed(BOOKS, FeedState.UP)

    def _evaluate(self, book: LocalBook) -> None:
        bands = self.bands.get(book.market)
        if bands is not None and bands.bands:
            for crossing in bands.evaluate(book.mid):
                self._signal_crossing(crossing)

    def _signal_crossing(self, c: Crossing) -> None:
        spec = c.watch.spec
        assert spec.level is not None and spec.direction is not None
        payload = PriceCrossed(
            watch_id=c.watch.id,
            venue=spec.venue,
            market=spec.market,
            level=spec.level,
            direction=spec.direction,
            price=c.price,
            at=datetime.now(UTC),
        )
        log.info(
            "watch %d %s crossed %s at %s -> %s",
            c.watch.id,
            spec.market,
            spec.level,
            c.price,
            spec.workflow_id,
        )
        key = f"cross-{c.watch.id}-{payload.at.timestamp():.3f}"
        delivery = Delivery(spec.workflow_id, spec.signal, payload, key=key, kind="crossing")
        self.hold.crossing(delivery, spec.fill_stands_in)

    # -- accounts and fills ---------------------------------------------------------------------

    def _on_fills(self, account_index: int, fills: list[VenueFill]) -> None:
        self._spawn(self._route(account_index, fills))

    async def _route(self, account_index: int, fills: list[VenueFill]) -> None:
        # One message at a time per account: fills are claimed in arrival order.
        async with self._locks[account_index]:
            await self.router.on_fills(account_index, fills)

    async def _account_connected(self, account_index: int, proxy: Proxy | None) -> None:
        """Fills made while we were away: the feed may replay some on connect, and a REST
        backfill of each watched market's recent trades covers the rest."""
        self._spawn(self._catch_up(account_index, proxy))

    async def _catch_up(self, account_index: int, proxy: Proxy | None) -> None:
        """Backfill, deliver what it found, then say the account's stream is up: a workflow that
        reconciles on ``up`` has the outage's fills already (a failed backfill is logged, and
        left to that reconcile). A drop meanwhile leaves it to the next connection's catch-up."""
        name = account_stream(account_index)
        stream = self.streams[name]
        connection = stream.reconnects
        await self._backfill(account_index, proxy)
        await self.signaller.flush()
        same = self.streams.get(name) is stream and stream.reconnects == connection
        if same and stream.state is StreamState.CONNECTED:
            self._feed(name, FeedState.UP)

    async def _backfill(self, account_index: int, proxy: Proxy | None) -> None:
        for market in list(self.feeds):
            try:
                fills = await self.source.recent_fills(
                    account_index, market, proxy, self.config.backfill_limit
                )
            except VenueError as exc:
                log.warning("backfill account=%d market=%s failed: %s", account_index, market, exc)
                continue
            if fills:
                await self._route(account_index, fills)

    # -- telemetry hooks --------------------------------------------------------------------------

    def _sent(self, d: Delivery, latency_s: float) -> None:
        self.metrics.signals.labels(d.kind).inc()
        self.metrics.signal_latency.labels(d.kind).observe(latency_s)

    def _retry(self, d: Delivery) -> None:
        self.metrics.signal_retries.labels(d.kind).inc()
