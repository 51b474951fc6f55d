"""The REST side the streams need: market ids, book snapshots for re-syncs, recent trades.

Books come through the venue adapter (``LighterVenue.book``); recent trades are public and
read with plain aiohttp, through the account's proxy when backfilling that account.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import aiohttp

from perpflow.chain.backoff import Backoff
from perpflow.venues.lighter.client import LighterVenue, Proxy
from perpflow.venues.types import Book, MarketInfo

log = logging.getLogger(__name__)

# Enough levels for every price a band or a hedge looks at; the snapshot is only a re-sync.
SNAPSHOT_DEPTH = 60
REQUEST_TIMEOUT_S = 10.0


class VenueRest:
    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")
        self._venue: LighterVenue | None = None
        self._session: aiohttp.ClientSession | None = None
        self._by_id: dict[int, MarketInfo] = {}
        self._by_symbol: dict[str, MarketInfo] = {}

    async def start(self, session: aiohttp.ClientSession, stop: asyncio.Event) -> None:
        """Load the market list, retrying with back-off until the venue answers (or ``stop``)."""
        self._session = session
        self._venue = LighterVenue(self.url, 0)
        backoff = Backoff(1.0, 30.0)
        while not stop.is_set():
            try:
                markets = await self._venue.markets()
                break
            except Exception as exc:
                delay = backoff.next_delay()
                log.warning("venue %s markets unavailable (%s); retry in %.1f s", self.url, exc, delay)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=delay)
        else:
            return
        self._by_id = {m.market_id: m for m in markets}
        self._by_symbol = {m.symbol: m for m in markets}
        log.info("venue %s markets=%s", self.url, ",".join(sorted(self._by_symbol)))

    async def close(self) -> None:
        if self._venue is not None:
            await self._venue.close()

    def symbol_of(self, market_id: int) -> str:
        info = self._by_id.get(market_id)
        return info.symbol if info is not None else str(market_id)

    def market_id(self, symbol: str) -> int | None:
        info = self._by_symbol.get(symbol)
        return info.market_id if info is not None else None

    @staticmethod
    def proxy(url: str | None) -> Proxy | None:
        return Proxy(url=url) if url else None

    async def book(self, symbol: str) -> Book:
        assert self._venue is not None
        return await self._venue.book(symbol, SNAPSHOT_DEPTH)

    async def recent_trades(
        self, market_id: int, limit: int, proxy: Proxy | None = None
    ) -> list[dict[str, Any]]:
        assert self._session is not None
        auth = None
        if proxy is not None and proxy.username:
            secret = proxy.password.get_secret_value() if proxy.password else ""
            auth = aiohttp.BasicAuth(proxy.username, secret)
        async with self._session.get(
            f"{self.url}/api/v1/recentTrades",
            params={"market_id": str(market_id), "limit": str(limit)},
            proxy=proxy.url if proxy is not None else None,
            proxy_auth=auth,
            timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S),
        ) as resp:
            resp.raise_for_status()
            body = await resp.json(content_type=None)
        trades: list[dict[str, Any]] = body.get("trades") or []
        return trades
