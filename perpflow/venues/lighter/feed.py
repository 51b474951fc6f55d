"""Lighter's market data as a ``VenueFeed``: ``order_book/{m}`` and ``account_all/{a}`` streams.

One socket carries every watched book; each account has its own socket through that account's
proxy. The ``account_all`` subscribe answer lists the account's recent trades, so fills made
while the socket was down come again after the reconnect. An account's stream is connected (and
its consumer's REST backfill starts) once that answer is in: the subscription is live by then.
"""

from __future__ import annotations

import asyncio

import aiohttp

from perpflow.venues.feed import BookStream, FeedStream, OnBook, OnFills, StreamHooks
from perpflow.venues.lighter import wire
from perpflow.venues.lighter.rest import LighterRest
from perpflow.venues.lighter.stream import AnsweredStream, Stream, ws_url
from perpflow.venues.types import Book, Proxy, VenueFill


class LighterBooks(Stream):
    def __init__(self, name: str, feed: LighterFeed, on_update: OnBook, hooks: StreamHooks) -> None:
        super().__init__(name, feed.ws_url, feed.session, self._on_message, hooks)
        self._rest, self._on_update = feed.rest, on_update

    def _on_message(self, msg: wire.Msg) -> None:
        if wire.is_book(msg):
            self._on_update(wire.book_update(msg, self._rest.symbol_of))

    async def watch(self, markets: set[str]) -> None:
        ids = (self._rest.market_id(m) for m in markets)
        await self.set_channels({f"order_book/{i}" for i in ids if i is not None})


class LighterAccount(AnsweredStream):
    """Connected once ``subscribed/account_all`` (the account's recent trades) is in."""

    def __init__(
        self,
        name: str,
        feed: LighterFeed,
        account_index: int,
        on_fills: OnFills,
        hooks: StreamHooks,
        *,
        proxy: Proxy | None,
    ) -> None:
        super().__init__(name, feed.ws_url, feed.session, self._on_message, hooks, proxy=proxy)
        self.account_index, self._rest, self._on_fills = account_index, feed.rest, on_fills
        self.channels = {f"account_all/{account_index}"}

    def _on_message(self, msg: wire.Msg) -> None:
        name, _ = wire.channel(msg)
        if name != "account_all":
            return
        fills = [
            wire.fill(t, self.account_index, self._rest.symbol_of(int(t["market_id"])))
            for t in wire.account_trades(msg)
        ]
        if fills:
            self._on_fills(fills)


class LighterFeed:
    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")
        self.ws_url = ws_url(self.url)
        self._session: aiohttp.ClientSession | None = None
        self._rest: LighterRest | None = None

    @property
    def session(self) -> aiohttp.ClientSession:
        assert self._session is not None, "start() the feed first"
        return self._session

    @property
    def rest(self) -> LighterRest:
        assert self._rest is not None, "start() the feed first"
        return self._rest

    async def start(self, stop: asyncio.Event) -> None:
        # Proxies are per account and explicit: never pick one up from the environment. One socket
        # per watched account stays open for good: no pool limit (aiohttp's default of 100 left the
        # 100th account's stream, and then every REST read, waiting for a free connection).
        connector = aiohttp.TCPConnector(limit=0)
        self._session = aiohttp.ClientSession(connector=connector, trust_env=False)
        self._rest = LighterRest(self.url, self._session)
        await self._rest.start(stop)

    async def close(self) -> None:
        if self._rest is not None:
            await self._rest.close()
        if self._session is not None:
            await self._session.close()

    def has_market(self, market: str) -> bool:
        return self.rest.market_id(market) is not None

    def books(self, name: str, on_update: OnBook, hooks: StreamHooks) -> BookStream:
        return LighterBooks(name, self, on_update, hooks)

    def account(
        self, name: str, account_index: int, proxy: Proxy | None, on_fills: OnFills, hooks: StreamHooks
    ) -> FeedStream:
        return LighterAccount(name, self, account_index, on_fills, hooks, proxy=proxy)

    async def book(self, market: str) -> Book:
        return await self.rest.book(market)

    async def recent_fills(
        self, account_index: int, market: str, proxy: Proxy | None, limit: int
    ) -> list[VenueFill]:
        trades = await self.rest.recent_trades(market, limit, proxy)
        return [wire.fill(t, account_index, market) for t in trades if wire.involves(t, account_index)]
