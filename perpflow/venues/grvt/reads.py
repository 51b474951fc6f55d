"""GRVT's reads: instruments, books, open orders, the account and its fills (REST, via the SDK)."""

from __future__ import annotations

import asyncio
from decimal import Decimal

from pysdk import grvt_raw_types as t

from perpflow.venues.errors import InvalidOrder
from perpflow.venues.grvt import parse
from perpflow.venues.grvt.rest import GrvtRest
from perpflow.venues.types import AccountState, Book, MarketInfo, VenueFill, VenueOrder

# Book depths GRVT serves (3031 for any other).
DEPTHS = (10, 50, 100, 500)
FILLS_PAGE = 500
# Pages of fill history read for one ``fills`` call (newest first at GRVT; we return oldest first).
FILL_PAGES = 10


def book_depth(depth: int) -> int:
    return next((d for d in DEPTHS if d >= depth), DEPTHS[-1])


def _place(fill: VenueFill) -> tuple[int, str]:
    """Where a fill sorts: fills of one taker execution share their event time."""
    return int(fill.at.timestamp() * 1_000_000) * 1000, fill.fill_id


def fill_cursor(fill: VenueFill) -> str:
    ns, fill_id = _place(fill)
    return f"{ns}/{fill_id}"


def after(fill: VenueFill, cursor: str | None) -> bool:
    if cursor is None:
        return True
    ns, _, fill_id = cursor.partition("/")
    return _place(fill) > (int(ns), fill_id)


class GrvtReads:
    account_index: int

    def __init__(self, rest: GrvtRest) -> None:
        self.rest = rest
        self._instruments: dict[str, t.Instrument] = {}
        self._markets: dict[str, MarketInfo] = {}
        self._order_ids: dict[int, str] = {}  # our order index -> GRVT's 128-bit order id

    async def markets(self) -> list[MarketInfo]:
        if not self._markets:
            req = t.ApiGetFilteredInstrumentsRequest(kind=[t.Kind.PERPETUAL], is_active=True, limit=1000)
            resp = await self.rest.call(self.rest.get_filtered_instruments_v1(req))
            for inst in resp.result:
                self._instruments[inst.instrument] = inst
                self._markets[inst.instrument] = parse.market(inst)
        return list(self._markets.values())

    async def instrument(self, symbol: str) -> t.Instrument:
        await self.markets()
        try:
            return self._instruments[symbol]
        except KeyError:
            raise InvalidOrder(f"grvt has no instrument {symbol!r}") from None

    async def market(self, symbol: str) -> MarketInfo:
        await self.instrument(symbol)
        return self._markets[symbol]

    async def book(self, symbol: str, depth: int = 20) -> Book:
        await self.instrument(symbol)
        req = t.ApiOrderbookLevelsRequest(instrument=symbol, depth=book_depth(depth))
        resp = await self.rest.call(self.rest.orderbook_levels_v1(req))
        bids, asks = parse.levels(resp.result.bids), parse.levels(resp.result.asks)
        return Book(market=symbol, bids=bids[:depth], asks=asks[:depth])

    async def open_orders(self, symbol: str | None = None) -> list[VenueOrder]:
        req = t.ApiOpenOrdersRequest(sub_account_id=str(self.account_index))
        resp = await self.rest.call(self.rest.open_orders_v1(req))
        out = []
        for o in resp.result:
            order = parse.order(o)
            if order.order_index:
                self._order_ids[order.order_index] = o.order_id
            if symbol is None or order.market == symbol:
                out.append(order)
        return out

    async def account(self) -> AccountState:
        sub = str(self.account_index)
        summary, positions = await asyncio.gather(
            self.rest.call(self.rest.sub_account_summary_v1(t.ApiSubAccountSummaryRequest(sub))),
            self.rest.call(self.rest.positions_v1(t.ApiPositionsRequest(sub))),
        )
        return parse.account(summary.result, positions.result)

    async def position(self, symbol: str) -> Decimal:
        """One request: the positions alone, without the account summary."""
        positions = await self.rest.call(
            self.rest.positions_v1(t.ApiPositionsRequest(str(self.account_index)))
        )
        return sum((parse.position(p).size for p in positions.result if p.instrument == symbol), Decimal(0))

    async def fills(
        self, symbol: str | None = None, cursor: str | None = None, limit: int = 100
    ) -> tuple[list[VenueFill], str | None]:
        """Our fills oldest first after ``cursor``; returns the cursor for the next page."""
        start = cursor.partition("/")[0] if cursor else None
        page: str | None = None
        found: list[VenueFill] = []
        for _ in range(FILL_PAGES):
            req = t.ApiFillHistoryRequest(
                sub_account_id=str(self.account_index), start_time=start, limit=FILLS_PAGE, cursor=page
            )
            resp = await self.rest.call(self.rest.fill_history_v1(req))
            found += [parse.fill(f) for f in resp.result]
            page = resp.next or None
            if page is None or not resp.result:
                break
        mine = sorted(
            (f for f in found if (symbol is None or f.market == symbol) and after(f, cursor)),
            key=_place,
        )[:limit]
        return mine, (fill_cursor(mine[-1]) if mine else cursor)
