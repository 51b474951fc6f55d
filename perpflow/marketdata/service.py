"""The market-data service: streams, books, bands and fills, driven by the ledger's watches.

A Temporal client only. ``run(stop)`` keeps one book stream (every watched market) and one
account stream per account (through that account's proxy), re-reads the ledger every
``refresh_interval_s`` and signals workflows on fills and band crossings, never per tick.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import Coroutine
from datetime import UTC, datetime
from functools import partial
from typing import Any

import aiohttp
from temporalio.client import Client

from perpflow.db.ledger import Ledger
from perpflow.db.orders import Orders
from perpflow.db.watches import Watches
from perpflow.marketdata import wire
from perpflow.marketdata.bands import Crossing, MarketBands
from perpflow.marketdata.book import LocalBook
from perpflow.marketdata.config import MarketDataConfig
from perpflow.marketdata.delivery import Delivery, Signaller
from perpflow.marketdata.feed import BookFeed
from perpflow.marketdata.fill_log import FillLog
from perpflow.marketdata.fills import FillRouter
from perpflow.marketdata.metrics import Metrics
from perpflow.marketdata.models import Watch, WatchKind, WorkerStatus
from perpflow.marketdata.stream import Stream
from perpflow.marketdata.telemetry import Telemetry
from perpflow.marketdata.venue_rest import VenueRest
from perpflow.signals import PriceCrossed

log = logging.getLogger(__name__)

BOOKS = "books"


class MarketDataService:
    def __init__(
        self, config: MarketDataConfig, client: Client, ledger: Ledger, metrics: Metrics | None = None
    ) -> None:
        self.config, self.ledger = config, ledger
        self.metrics = metrics or Metrics()
        self.watches = Watches(ledger)
        self.feeds: dict[int, BookFeed] = {}
        self.bands: dict[str, MarketBands] = defaultdict(MarketBands)
        self.streams: dict[str, Stream] = {}
        state_dir = config.state_dir
        self.fill_log = FillLog(state_dir / "marketdata-fills.json" if state_dir else None)
        self.signaller = Signaller(client, on_sent=self._sent, on_retry=self._retry)
        self.rest = VenueRest(config.rest_url)
        self.router = FillRouter(Orders(ledger), self.fill_log, self.signaller.send, self.rest.symbol_of)
        self.telemetry = Telemetry(self)
        self.ready = asyncio.Event()  # set after the first refresh subscribed everything
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._stops: dict[str, asyncio.Event] = {}
        self._locks: dict[int, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._background: set[asyncio.Task[None]] = set()
        self._session: aiohttp.ClientSession | None = None

    # -- lifecycle ------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        # Proxies are per account and explicit: never pick one up from the environment.
        self._session = aiohttp.ClientSession(trust_env=False)
        try:
            await self.rest.start(self._session, stop)
            if stop.is_set():
                return
            self._start_stream(Stream(BOOKS, self.config.ws_url, self._on_book, self._books_connected))
            loops = [self._refresh_loop(stop), self.telemetry.run(stop)]
            await asyncio.gather(*loops)
        finally:
            await self._shutdown()

    async def _shutdown(self) -> None:
        for name in list(self.streams):
            await self._stop_stream(name)
        await self.signaller.drain(timeout=2.0)
        for task in list(self._background):
            task.cancel()
        await self.fill_log.close()
        self.telemetry.write()
        await self.rest.close()
        if self._session is not None:
            await self._session.close()

    def _start_stream(self, stream: Stream) -> None:
        stream.options = self.config.stream
        stream.on_state = self.telemetry.on_state
        stop = self._stops[stream.name] = asyncio.Event()
        self.streams[stream.name] = stream
        assert self._session is not None
        self._tasks[stream.name] = asyncio.create_task(stream.run(self._session, stop))

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
        watches = await self.watches.active(self.config.venue)
        accounts = {a.account_index: a.proxy_url for a in await self.ledger.accounts(self.config.venue)}
        for w in watches:
            if w.spec.account_index is not None:
                accounts.setdefault(w.spec.account_index, None)
        markets = set(self.config.markets) | {w.spec.market for w in watches}
        await self._sync_books(markets)
        self._sync_bands(watches)
        self.router.sync_watches([w for w in watches if w.spec.kind is WatchKind.ORDER])
        await self._sync_accounts(accounts)

    async def _sync_books(self, markets: set[str]) -> None:
        for symbol in markets:
            market_id = self.rest.market_id(symbol)
            if market_id is not None and market_id not in self.feeds:
                self.feeds[market_id] = BookFeed(
                    LocalBook(symbol, market_id),
                    self.rest.book,
                    on_update=self._evaluate,
                    on_give_up=lambda: self._spawn(self.streams[BOOKS].close()),
                )
        wanted = {f"order_book/{m}" for m, f in self.feeds.items() if f.book.market in markets}
        await self.streams[BOOKS].set_channels(wanted)

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
            name = f"account-{index}"
            if name not in self.streams:
                proxy = self.config.proxies.get(index) or self.rest.proxy(proxy_url)
                stream = Stream(
                    name,
                    self.config.ws_url,
                    self._on_account,
                    on_connected=partial(self._account_connected, index),
                    proxy=proxy,
                )
                stream.channels = {f"account_all/{index}"}
                self._start_stream(stream)
        for name in [n for n in self.streams if n.startswith("account-")]:
            if int(name.removeprefix("account-")) not in accounts:
                await self._stop_stream(name)

    # -- books and bands ------------------------------------------------------------------------

    def book(self, market: str) -> LocalBook | None:
        for feed in self.feeds.values():
            if feed.book.market == market and feed.live:
                return feed.book
        return None

    async def _books_connected(self) -> None:
        for feed in self.feeds.values():
            feed.expect_snapshot()

    def _on_book(self, msg: wire.Msg) -> None:
        if msg.get("type", "").endswith("order_book"):
            parsed = wire.book_message(msg)
            feed = self.feeds.get(parsed.market_id)
            if feed is not None:
                feed.apply(parsed)

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
        self.signaller.send(Delivery(spec.workflow_id, spec.signal, payload, key=key, kind="crossing"))

    # -- accounts and fills ---------------------------------------------------------------------

    def _on_account(self, msg: wire.Msg) -> None:
        name, arg = wire.channel(msg)
        if name == "account_all":
            trades = wire.account_trades(msg)
            if trades:
                self._spawn(self._route(int(arg), trades))

    async def _route(self, account_index: int, trades: list[wire.Msg]) -> None:
        # One message at a time per account: fills are claimed in arrival order.
        async with self._locks[account_index]:
            await self.router.on_trades(account_index, trades)

    async def _account_connected(self, account_index: int) -> None:
        """Fills made while we were away: the subscribe snapshot has the account's recent trades,
        and a REST backfill of each watched market's recent trades covers the rest."""
        self._spawn(self._backfill(account_index))

    async def _backfill(self, account_index: int) -> None:
        stream = self.streams.get(f"account-{account_index}")
        proxy = stream.proxy if stream is not None else None
        for feed in list(self.feeds.values()):
            try:
                trades = await self.rest.recent_trades(feed.book.market_id, self.config.backfill_limit, proxy)
            except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
                log.warning("backfill account=%d market=%s failed: %s", account_index, feed.book.market, exc)
                continue
            mine = [t for t in trades if wire.involves(t, account_index)]
            if mine:
                await self._route(account_index, mine)

    # -- telemetry hooks --------------------------------------------------------------------------

    def _sent(self, d: Delivery, latency_s: float) -> None:
        self.metrics.signals.labels(d.kind).inc()
        self.metrics.signal_latency.labels(d.kind).observe(latency_s)

    def _retry(self, d: Delivery) -> None:
        self.metrics.signal_retries.labels(d.kind).inc()

    def status(self) -> WorkerStatus:
        return WorkerStatus(
            updated_at=datetime.now(UTC),
            streams=[s.status() for s in self.streams.values()],
            pending_signals=self.signaller.pending,
        )
