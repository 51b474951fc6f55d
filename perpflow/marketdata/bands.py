"""Price bands: edge-triggered crossings with hysteresis, evaluated on every book update.

An UP band fires when the price reaches ``level`` while armed, then disarms; it re-arms only
once the price is back below ``level - hysteresis``. DOWN is the mirror image. A price hovering
at the level therefore produces one crossing, not one per tick.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from perpflow.marketdata.models import Watch
from perpflow.signals import Direction


@dataclass(frozen=True)
class Crossing:
    watch: Watch
    price: Decimal


class Band:
    __slots__ = ("armed", "direction", "hysteresis", "level", "watch")

    def __init__(self, watch: Watch) -> None:
        spec = watch.spec
        assert spec.level is not None and spec.direction is not None
        self.watch = watch
        self.level = spec.level
        self.direction = spec.direction
        self.hysteresis = spec.hysteresis
        # None: not known yet; the first price (or the workflow's reference price) decides.
        self.armed: bool | None = None
        if spec.reference_price is not None:
            self.armed = self._before(spec.reference_price)

    def _before(self, price: Decimal) -> bool:
        """Whether ``price`` is on the side the crossing starts from."""
        return price < self.level if self.direction is Direction.UP else price > self.level

    def _reached(self, price: Decimal) -> bool:
        return price >= self.level if self.direction is Direction.UP else price <= self.level

    def _rearm_at(self, price: Decimal) -> bool:
        if self.direction is Direction.UP:
            return price < self.level - self.hysteresis
        return price > self.level + self.hysteresis

    def observe(self, price: Decimal) -> bool:
        """Feed one price; True exactly when this price completes a crossing."""
        if self.armed is None:
            self.armed = self._before(price)
            return False
        if self.armed:
            if self._reached(price):
                self.armed = False
                return True
            return False
        if self._rearm_at(price):
            self.armed = True
        return False


class MarketBands:
    """All bands of one market; ``evaluate`` is cheap when the price did not move."""

    def __init__(self) -> None:
        self.bands: dict[int, Band] = {}
        self._last: Decimal | None = None

    def sync(self, watches: Iterable[Watch]) -> None:
        """Adopt the current watch set, keeping the arming state of bands that did not change."""
        fresh: dict[int, Band] = {}
        for w in watches:
            old = self.bands.get(w.id)
            fresh[w.id] = old if old is not None and old.watch == w else Band(w)
        self.bands = fresh
        self._last = None  # new bands need to see the current price

    def evaluate(self, price: Decimal | None) -> list[Crossing]:
        if price is None or price == self._last or not self.bands:
            return []
        self._last = price
        return [Crossing(b.watch, price) for b in self.bands.values() if b.observe(price)]
