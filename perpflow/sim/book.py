"""One market's limit order book: price levels in price-time priority.

Each side keeps a sorted list of prices (bisect) and a dict price -> Level holding a FIFO of
orders and the level total, so the best price and depth snapshots are cheap. Every change to a
level total is recorded in ``changed`` for the websocket delta publisher.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections import deque
from collections.abc import Iterator

from perpflow.sim.order import Order


class Level:
    __slots__ = ("orders", "total")

    def __init__(self) -> None:
        self.orders: deque[Order] = deque()
        self.total = 0


class BookSide:
    def __init__(self, is_ask: bool) -> None:
        self.is_ask = is_ask
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
        return iter(self.prices) if self.is_ask else reversed(self.prices)

    def depth(self, limit: int) -> list[tuple[int, int, list[Order]]]:
        out: list[tuple[int, int, list[Order]]] = []
        for price in self.iter_prices():
            level = self.levels[price]
            out.append((price, level.total, list(level.orders)))
            if len(out) >= limit:
                break
        return out


class OrderBook:
    def __init__(self, market_id: int) -> None:
        self.market_id = market_id
        self.asks = BookSide(is_ask=True)
        self.bids = BookSide(is_ask=False)
        # (is_ask, price) of every level whose total changed since the publisher last looked.
        self.changed: set[tuple[bool, int]] = set()

    def side(self, is_ask: bool) -> BookSide:
        return self.asks if is_ask else self.bids

    def rest(self, order: Order) -> None:
        self.side(order.is_ask).add(order)
        self.changed.add((order.is_ask, order.price))

    def reduce(self, order: Order, qty: int) -> None:
        """Take ``qty`` off a resting order's level (a fill); drops the order when exhausted."""
        side = self.side(order.is_ask)
        level = side.levels[order.price]
        level.total -= qty
        if order.remaining == 0:
            level.orders.remove(order)
            if not level.orders:
                side.remove_price(order.price)
        self.changed.add((order.is_ask, order.price))

    def unlink(self, order: Order) -> None:
        """Remove a resting order (cancel, expiry, modify)."""
        side = self.side(order.is_ask)
        level = side.levels[order.price]
        level.orders.remove(order)
        level.total -= order.remaining
        if not level.orders:
            side.remove_price(order.price)
        self.changed.add((order.is_ask, order.price))

    def level_total(self, is_ask: bool, price: int) -> int:
        level = self.side(is_ask).levels.get(price)
        return 0 if level is None else level.total
