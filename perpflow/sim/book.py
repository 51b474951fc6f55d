"""One market's limit order book: price levels in price-time priority.

Each side keeps a sorted list of prices (bisect) and a dict price -> Level holding a FIFO of
orders and the level total, so the best price and depth snapshots are cheap. Every change to a
level total is recorded in ``changed`` for the faces' book-delta publishers.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections import deque
from collections.abc import Iterator

from perpflow.sim.enums import Side
from perpflow.sim.order import Order


class Level:
    __slots__ = ("orders", "total")

    def __init__(self) -> None:
        self.orders: deque[Order] = deque()
        self.total = 0


class BookSide:
    def __init__(self, side: Side) -> None:
        self.is_ask = side is Side.SELL
        self.levels: dict[int, Level] = {}
        self.prices: list[int] = []  # ascending on both sides

    def best(self) -> int | None:
        if not self.prices:
            return None
        return self.prices[0] if self.is_ask else self.prices[-1]

    def crosses(self, limit: int) -> bool:
        """True if a taker on the other side with ``limit`` would trade against this side."""
        best = self.best()
        if best is None:
            return False
        return best <= limit if self.is_ask else best >= limit

    def add(self, order: Order) -> None:
        level = self.levels.get(order.price)
        if level is None:
            level = self.levels[order.price] = Level()
            insort(self.prices, order.price)
        level.orders.append(order)
        level.total += order.remaining

    def remove_price(self, price: int) -> None:
        del self.levels[price]
        i = bisect_left(self.prices, price)
        del self.prices[i]

    def iter_prices(self) -> Iterator[int]:
        """Best price first."""
        return iter(self.prices) if self.is_ask else reversed(self.prices)

    def depth(self, limit: int) -> list[tuple[int, int]]:
        """``(price, total)`` of the best ``limit`` levels."""
        out: list[tuple[int, int]] = []
        for price in self.iter_prices():
            out.append((price, self.levels[price].total))
            if len(out) >= limit:
                break
        return out

    def orders(self, limit: int) -> list[Order]:
        """The first ``limit`` orders in priority order."""
        out: list[Order] = []
        for price in self.iter_prices():
            out.extend(self.levels[price].orders)
            if len(out) >= limit:
                break
        return out[:limit]


class OrderBook:
    def __init__(self, market_id: int) -> None:
        self.market_id = market_id
        self.asks = BookSide(Side.SELL)
        self.bids = BookSide(Side.BUY)
        # (side, price) of every level whose total changed since the publishers last looked.
        self.changed: set[tuple[Side, int]] = set()

    def side(self, side: Side) -> BookSide:
        return self.asks if side is Side.SELL else self.bids

    def rest(self, order: Order) -> None:
        self.side(order.side).add(order)
        self.changed.add((order.side, order.price))

    def reduce(self, order: Order, qty: int) -> None:
        """Take ``qty`` off a resting order's level (a fill); drops the order when exhausted."""
        side = self.side(order.side)
        level = side.levels[order.price]
        level.total -= qty
        if order.remaining == 0:
            level.orders.remove(order)
            if not level.orders:
                side.remove_price(order.price)
        self.changed.add((order.side, order.price))

    def unlink(self, order: Order) -> None:
        """Remove a resting order (cancel, expiry, modify)."""
        side = self.side(order.side)
        level = side.levels[order.price]
        level.orders.remove(order)
        level.total -= order.remaining
        if not level.orders:
            side.remove_price(order.price)
        self.changed.add((order.side, order.price))

    def level_total(self, side: Side, price: int) -> int:
        level = self.side(side).levels.get(price)
        return 0 if level is None else level.total
