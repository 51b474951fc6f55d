"""The local order book of one market: Decimal prices, absolute level sizes, cached best prices.

A delta carries the new total size of each changed level (``0`` removes it), so applying one
is a dict write; best bid/ask are cached and recomputed only when the best level goes away.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from perpflow.venues.feed import Level
from perpflow.venues.types import Book, BookLevel


class _Side:
    __slots__ = ("_best", "_dirty", "is_bid", "levels")

    def __init__(self, is_bid: bool) -> None:
        self.is_bid = is_bid
        self.levels: dict[Decimal, Decimal] = {}
        self._best: Decimal | None = None
        self._dirty = False

    def reset(self, levels: Iterable[Level]) -> None:
        self.levels = {p: s for p, s in levels if s}
        self._dirty = True

    def apply(self, changes: Iterable[Level]) -> None:
        """Absolute sizes per price; one loop, no call per level (this is the hot path)."""
        levels, is_bid = self.levels, self.is_bid
        best, dirty = self._best, self._dirty
        for price, size in changes:
            if not size:
                if levels.pop(price, None) is not None and price == best:
                    dirty = True
                continue
            levels[price] = size
            if not dirty and (best is None or (price > best if is_bid else price < best)):
                best = price
        self._best, self._dirty = best, dirty

    @property
    def best(self) -> Decimal | None:
        if self._dirty:
            if not self.levels:
                self._best = None
            else:
                self._best = max(self.levels) if self.is_bid else min(self.levels)
            self._dirty = False
        return self._best

    def top(self, depth: int) -> list[BookLevel]:
        prices = sorted(self.levels, reverse=self.is_bid)[:depth]
        return [BookLevel(price=p, size=self.levels[p]) for p in prices]


class LocalBook:
    def __init__(self, market: str) -> None:
        self.market = market
        self.bids = _Side(is_bid=True)
        self.asks = _Side(is_bid=False)

    def reset(self, bids: Iterable[Level], asks: Iterable[Level]) -> None:
        self.bids.reset(bids)
        self.asks.reset(asks)

    def apply(self, bids: Iterable[Level], asks: Iterable[Level]) -> None:
        self.bids.apply(bids)
        self.asks.apply(asks)

    @property
    def best_bid(self) -> Decimal | None:
        return self.bids.best

    @property
    def best_ask(self) -> Decimal | None:
        return self.asks.best

    @property
    def mid(self) -> Decimal | None:
        bid, ask = self.bids.best, self.asks.best
        if bid is None or ask is None:
            return None
        return (bid + ask) / 2

    def top(self) -> tuple[BookLevel | None, BookLevel | None]:
        bid, ask = self.bids.best, self.asks.best
        return (
            BookLevel(price=bid, size=self.bids.levels[bid]) if bid is not None else None,
            BookLevel(price=ask, size=self.asks.levels[ask]) if ask is not None else None,
        )

    def depth(self, levels: int = 20) -> Book:
        return Book(market=self.market, bids=self.bids.top(levels), asks=self.asks.top(levels))
