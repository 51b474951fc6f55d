"""An in-memory exchange behind the ``Venue`` protocol, built only from perpflow's neutral venue
types: no SDK, no HTTP, nothing of Lighter.

It is what a new venue folder would hold, in one module: registered with one registry line at test
time, it serves the real order activities. ``VenueName`` lists the venues perpflow ships and a test
cannot add to it, so the in-memory venue answers to the name of the registry slot it takes. One
account per instance, a fixed touch per market (the rest of the market), orders indexed the
moment they are accepted.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal

from perpflow.venues import scaling
from perpflow.venues.base import SignedTx, VenueAccess, VenueAdapter, VenueName
from perpflow.venues.errors import AuthError, InvalidNonce, InvalidOrder, TransportError
from perpflow.venues.feed import VenueFeed
from perpflow.venues.types import (
    AccountState,
    Book,
    BookLevel,
    MarketInfo,
    OrderKind,
    OrderSpec,
    OrderStatus,
    PositionInfo,
    Side,
    TimeInForce,
    VenueFill,
    VenueOrder,
)

CREATE_ORDER = 1
MARGIN_REFUSED = "canceled-no-margin"
ETH = MarketInfo(
    symbol="ETH",
    market_id=0,
    size_decimals=4,
    price_decimals=2,
    min_base_amount=Decimal("0.001"),
    min_quote_amount=Decimal(1),
)
TOUCH = {"ETH": (Decimal(1999), Decimal(2001))}  # best bid, best ask
TOUCH_SIZE = Decimal(100)


class MemoryVenue:
    indexing_grace_s = 0.0
    max_batch = 10

    def __init__(self, name: VenueName, access: VenueAccess) -> None:
        self.name = name
        self.url = access.url
        self.account_index = access.account_index
        self.api_key_index = access.api_key_index
        self.collateral = Decimal(100_000)
        self.lose_next_answer = False  # the next submit is applied, but its answer never arrives
        self._expected_nonce = 0
        self._order_ids = itertools.count(1)
        self._orders: dict[int, VenueOrder] = {}
        self._fills: list[VenueFill] = []
        self._positions: dict[str, PositionInfo] = {}

    async def close(self) -> None:
        pass

    async def markets(self) -> list[MarketInfo]:
        return [ETH]

    async def market(self, symbol: str) -> MarketInfo:
        if symbol != ETH.symbol:
            raise InvalidOrder(f"the in-memory venue has no market {symbol!r}")
        return ETH

    async def book(self, symbol: str, depth: int = 20) -> Book:
        bid, ask = TOUCH[(await self.market(symbol)).symbol]
        return Book(
            market=symbol,
            bids=[BookLevel(price=bid, size=TOUCH_SIZE)],
            asks=[BookLevel(price=ask, size=TOUCH_SIZE)],
        )

    async def sign_order(self, spec: OrderSpec) -> SignedTx:
        (signed,) = await self.sign_batch([spec])
        return signed

    async def sign_batch(self, specs: Sequence[OrderSpec]) -> list[SignedTx]:
        if self.api_key_index is None:
            raise AuthError("this in-memory venue has no key: it cannot sign")
        for spec in specs:
            scaling.order_ticks(await self.market(spec.market), spec.size, spec.price)
        return [self._signed(spec, self._expected_nonce + i) for i, spec in enumerate(specs)]

    def _signed(self, spec: OrderSpec, nonce: int) -> SignedTx:
        assert self.api_key_index is not None
        body = spec.model_dump_json()
        digest = hashlib.sha256(f"{nonce}:{body}".encode()).hexdigest()
        return SignedTx(CREATE_ORDER, body, digest, nonce, self.api_key_index)

    async def submit(self, tx: SignedTx) -> None:
        if tx.nonce != self._expected_nonce:
            raise InvalidNonce(f"memory: nonce {tx.nonce}, expected {self._expected_nonce}")
        self._expected_nonce += 1
        self._accept(OrderSpec.model_validate_json(tx.tx_info))
        if self.lose_next_answer:
            self.lose_next_answer = False
            raise TransportError(f"memory: the answer to {tx.tx_hash} was lost")

    async def submit_batch(self, txs: Sequence[SignedTx]) -> None:
        for tx in txs:
            await self.submit(tx)

    async def refresh_nonce(self) -> int:
        return self._expected_nonce

    def _accept(self, spec: OrderSpec) -> None:
        bid, ask = TOUCH[spec.market]
        touch = ask if spec.side is Side.BUY else bid
        crosses = spec.price >= ask if spec.side is Side.BUY else spec.price <= bid
        order = VenueOrder(
            market=spec.market,
            order_index=next(self._order_ids),
            client_order_index=spec.client_order_index,
            side=spec.side,
            price=spec.price,
            size=spec.size,
            filled_size=Decimal(0),
            remaining_size=spec.size,
            status=OrderStatus.OPEN,
            reason="open",
            reduce_only=spec.reduce_only,
        )
        if spec.size * spec.price > self.collateral:
            order = _ended(order, MARGIN_REFUSED)
        elif crosses and spec.tif is TimeInForce.POST_ONLY:
            order = _ended(order, "canceled-post-only")
        elif crosses:
            order = self._fill(order, touch)
        elif spec.kind is OrderKind.MARKET or spec.tif is TimeInForce.IOC:
            order = _ended(order, "canceled-not-filled")
        self._orders[order.order_index] = order

    def _fill(self, order: VenueOrder, price: Decimal) -> VenueOrder:
        self._fills.append(
            VenueFill(
                fill_id=f"memory-{len(self._fills) + 1}",
                market=order.market,
                order_index=order.order_index,
                client_order_index=order.client_order_index,
                side=order.side,
                price=price,
                size=order.size,
                is_maker=False,
                at=datetime.now(UTC),
            )
        )
        held = self._positions.get(
            order.market, PositionInfo(market=order.market, size=Decimal(0), avg_entry_price=Decimal(0))
        )
        size = held.size + order.side.sign * order.size
        adds = held.size == 0 or (held.size > 0) == (order.side is Side.BUY)
        entry = (abs(held.size) * held.avg_entry_price + order.size * price) / abs(size) if adds else price
        self._positions[order.market] = held.model_copy(update={"size": size, "avg_entry_price": entry})
        return order.model_copy(
            update={
                "filled_size": order.size,
                "filled_quote": order.size * price,
                "remaining_size": Decimal(0),
                "status": OrderStatus.FILLED,
                "reason": "filled",
            }
        )

    async def _open(self, symbol: str, index: int) -> VenueOrder:
        """An open order by the venue's index or our client order index."""
        for order in await self.open_orders(symbol):
            if index in (order.order_index, order.client_order_index):
                return order
        raise InvalidOrder(f"memory: no open order {index} on {symbol}")

    async def cancel(self, symbol: str, order_index: int) -> None:
        order = await self._open(symbol, order_index)
        self._orders[order.order_index] = _ended(order, "canceled")

    async def cancel_all(self, symbol: str | None = None) -> None:
        for order in await self.open_orders(symbol):
            await self.cancel(order.market, order.order_index)

    async def modify(self, symbol: str, order_index: int, size: Decimal, price: Decimal) -> None:
        order = await self._open(symbol, order_index)
        remaining = size - order.filled_size
        self._orders[order.order_index] = order.model_copy(
            update={"size": size, "price": price, "remaining_size": remaining}
        )

    async def order_by_client_index(self, symbol: str, client_order_index: int) -> VenueOrder | None:
        found = [o for o in await self.orders_by_client_index(client_order_index) if o.market == symbol]
        return found[-1] if found else None

    async def order_just_sent(self, symbol: str, client_order_index: int) -> VenueOrder | None:
        return await self.order_by_client_index(symbol, client_order_index)

    async def orders_by_client_index(self, client_order_index: int) -> list[VenueOrder]:
        return [o for o in self._orders.values() if o.client_order_index == client_order_index]

    async def open_orders(self, symbol: str | None = None) -> list[VenueOrder]:
        return [
            o
            for o in self._orders.values()
            if o.status is OrderStatus.OPEN and (symbol is None or o.market == symbol)
        ]

    async def account(self) -> AccountState:
        held = [p for p in self._positions.values() if p.size != 0]
        return AccountState(
            account_index=self.account_index,
            collateral=self.collateral,
            available_balance=self.collateral,
            positions=held,
        )

    async def position(self, symbol: str) -> Decimal:
        return (await self.account()).position(symbol).size

    async def fills(
        self, symbol: str | None = None, cursor: str | None = None, limit: int = 100
    ) -> tuple[list[VenueFill], str | None]:
        start = int(cursor or 0)
        page = [
            (i, f) for i, f in enumerate(self._fills) if i >= start and (symbol is None or f.market == symbol)
        ][:limit]
        return [f for _, f in page], str(page[-1][0] + 1) if page else cursor

    def refused_for_margin(self, order: VenueOrder) -> bool:
        return order.reason == MARGIN_REFUSED


def _ended(order: VenueOrder, reason: str) -> VenueOrder:
    return order.model_copy(update={"status": OrderStatus.CANCELED, "reason": reason})


def _no_feed(url: str) -> VenueFeed:
    raise NotImplementedError(f"the in-memory venue streams no market data ({url})")


def adapter(name: VenueName) -> VenueAdapter:
    """The in-memory venue's registry entry, answering to ``name``."""
    return VenueAdapter(build=functools.partial(MemoryVenue, name), feed=_no_feed, tiers=frozenset())
