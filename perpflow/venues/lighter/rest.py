"""The REST side Lighter's feed needs: the market list, book snapshots for re-syncs, recent trades.

Markets and books come through the venue adapter (``LighterVenue``); recent trades are public
and read with plain aiohttp, through the account's proxy when backfilling that account.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import aiohttp

from perpflow.chain.backoff import Backoff
from perpflow.venues.errors import TransportError
from perpflow.venues.lighter.client import LighterVenue
from perpflow.venues.lighter.wire import Msg
from perpflow.venues.types import Book, MarketInfo, Proxy
from perpflow.venues.websocket import proxy_args

log = logging.getLogger(__name__)

# Enough levels for every price a band or a hedge looks at; the snapshot is only a re-sync.
SNAPSHOT_DEPTH = 60
REQUEST_TIMEOUT_S = 10.0


class LighterRest:
    def __init__(self, url: str, session: aiohttp.ClientSession) -> None:
        self.url = url.rstrip("/")
        self._session = session
        self._venue = LighterVenue(self.url, 0)
        self._by_id: dict[int, MarketInfo] = {}
        self._by_symbol: dict[str, MarketInfo] = {}

    async def start(self, stop: asyncio.Event) -> None:
        """Load the market list, retrying with back-off until the venue answers (or ``stop``)."""
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
        await self._venue.close()

    def symbol_of(self, market_id: int) -> str:
        info = self._by_id.get(market_id)
        return info.symbol if info is not None else str(market_id)

    def market_id(self, symbol: str) -> int | None:
        info = self._by_symbol.get(symbol)
        return info.market_id if info is not None else None

    async def book(self, symbol: str) -> Book:
        return await self._venue.book(symbol, SNAPSHOT_DEPTH)

    async def recent_trades(self, symbol: str, limit: int, proxy: Proxy | None = None) -> list[Msg]:
        market_id = self.market_id(symbol)
        if market_id is None:
            return []
        url, auth = proxy_args(proxy)
        try:
            async with self._session.get(
                f"{self.url}/api/v1/recentTrades",
                params={"market_id": str(market_id), "limit": str(limit)},
                proxy=url,
                proxy_auth=auth,
                timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S),
            ) as resp:
                resp.raise_for_status()
                body = await resp.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise TransportError(f"recent trades of {symbol}: {exc}") from exc
        trades: list[Msg] = body.get("trades") or []
        return trades
