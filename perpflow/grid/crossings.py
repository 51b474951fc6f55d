"""Where the price must be watched for a running ladder: the prices at which what the planner may
do changes without a fill telling it.

A fill already carries the price to the session, and a ladder's nearest resting orders are the
first thing a moving price meets, so most moves need no crossing at all. What does:

- the range's edges (the range stop and the recenter), always, both ways;
- a level that owes a side it cannot place yet (a buy at or above the price, a sell at or below
  it): the tick past its price, where it becomes placeable ("the level re-arms when the price
  returns");
- with an activation band, the price where an owing level enters the band and where a resting
  order leaves it.

Each crossing is named for what it is (``L3-buy-placeable``), so its price never changes for the
ladder it was set for and a re-registration of the same name is the same watch.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from perpflow.grid import ladder
from perpflow.grid.config import GridConfig
from perpflow.grid.levels import GridLevel, LevelState
from perpflow.models import Model
from perpflow.signals import Direction
from perpflow.venues.types import MarketInfo, Side

_RESTING = (LevelState.OPEN, LevelState.PARTIALLY_FILLED)


class Crossing(Model):
    name: str
    price: Decimal
    direction: Direction


def crossings(
    levels: list[GridLevel], config: GridConfig, market: MarketInfo, mark: Decimal
) -> list[Crossing]:
    tick = Decimal(1).scaleb(-market.price_decimals)
    found = _edges(config)
    for level in levels:
        for side in Side:
            found += _level(level, side, config.activation_band_pct, mark, tick)
    return found


def _edges(config: GridConfig) -> list[Crossing]:
    c = config
    found = []
    for pct in [c.rebuild_trigger_pct] + ([c.stop.outside_range_pct] if c.stop.outside_range_pct else []):
        for name, price in (
            (f"below-{pct}", c.lower * (1 - pct / 100)),
            (f"above-{pct}", c.upper * (1 + pct / 100)),
        ):
            found += [Crossing(name=f"{name}-{way.value}", price=price, direction=way) for way in Direction]
    return found


def _level(
    level: GridLevel, side: Side, band: Decimal | None, mark: Decimal, tick: Decimal
) -> list[Crossing]:
    name = f"L{level.index}-{side.value}"
    below = side is Side.BUY  # where the side's orders rest: buys below the price, sells above
    if level.state in _RESTING and level.side is side:
        if band is None:
            return []  # the price meets the order first: its fill tells
        # It leaves the band once the price is farther than band % from it.
        price = _on_tick(_band_edge(level, band, below), tick, up=not below) + (tick if below else -tick)
        return [
            Crossing(name=f"{name}-leave", price=price, direction=Direction.UP if below else Direction.DOWN)
        ]
    if not level.state.free or level.owed(side) <= 0:
        return []
    if not ladder.placeable(side, level.price, mark):
        price = level.price + tick if below else level.price - tick
        return [
            Crossing(
                name=f"{name}-placeable", price=price, direction=Direction.UP if below else Direction.DOWN
            )
        ]
    if band is not None and not ladder.in_band(level.price, mark, band):
        price = _on_tick(_band_edge(level, band, below), tick, up=not below)
        return [
            Crossing(name=f"{name}-enter", price=price, direction=Direction.DOWN if below else Direction.UP)
        ]
    return []


def _band_edge(level: GridLevel, band: Decimal, below: bool) -> Decimal:
    """The price at which ``level`` is exactly ``band`` % away (``ladder.in_band``'s boundary)."""
    return level.price / (1 - band / 100) if below else level.price / (1 + band / 100)


def _on_tick(price: Decimal, tick: Decimal, *, up: bool) -> Decimal:
    return price.quantize(tick, ROUND_CEILING if up else ROUND_FLOOR)
