"""Reference-price paths: a seeded random walk, a CSV replay, or manual (moves only when told)."""

from __future__ import annotations

import csv
import math
import random
from decimal import Decimal
from pathlib import Path
from typing import Protocol


class PricePath(Protocol):
    def step(self, market_id: int, current: Decimal, dt: float) -> Decimal | None:
        """The next reference price, or None to leave it unchanged."""


class ManualPath:
    def step(self, market_id: int, current: Decimal, dt: float) -> Decimal | None:
        return None


class RandomWalk:
    """Geometric Brownian steps; ``volatility`` is the stdev of log returns per sqrt(second)."""

    def __init__(self, seed: int, volatility: float) -> None:
        self._rng = random.Random(seed)
        self.volatility = volatility

    def step(self, market_id: int, current: Decimal, dt: float) -> Decimal | None:
        shock = self._rng.gauss(0.0, 1.0) * self.volatility * math.sqrt(dt)
        return current * Decimal(repr(math.exp(shock)))


class CsvReplay:
    """Replays ``timestamp,price`` rows, one per tick, for every market scaled to its start price.

    One file drives all markets: each market follows the file's relative moves from its own
    start price, so a single recorded ETH path can animate BTC and SOL too.
    """

    def __init__(self, path: Path) -> None:
        self._prices = _read_prices(path)
        self._pos: dict[int, int] = {}
        self._anchor: dict[int, Decimal] = {}

    def step(self, market_id: int, current: Decimal, dt: float) -> Decimal | None:
        i = self._pos.get(market_id, 0)
        if i >= len(self._prices):
            return None
        anchor = self._anchor.setdefault(market_id, current / self._prices[0])
        self._pos[market_id] = i + 1
        return self._prices[i] * anchor


def _read_prices(path: Path) -> list[Decimal]:
    prices: list[Decimal] = []
    with path.open(newline="") as fh:
        for row in csv.reader(fh):
            if len(row) < 2 or not row[1].strip() or not _is_number(row[1]):
                continue  # header or blank line
            prices.append(Decimal(row[1].strip()))
    if not prices:
        raise ValueError(f"{path}: no (timestamp, price) rows")
    return prices


def _is_number(text: str) -> bool:
    try:
        Decimal(text.strip())
    except ArithmeticError:
        return False
    return True
