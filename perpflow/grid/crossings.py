"""Where the price is watched for a running ladder: the range's edges (the range stop and the
recenter) and every level, both ways.

Every level, not only those whose placement waits on the price: fills alone leave the session's
price stale wherever the price moves without filling (through levels whose order has filled, or
whose one slot holds the other side's order), and a post-only order placed at a stale price may
already cross the book; the venue cancels it after acknowledging it open, so the level stays
empty until the next reconcile. Measured on the real stack (bench_grid_history): with fills and
edges only, such cancels left levels empty; with every level, the price the session plans with
stays within a level of the market's.

A crossing's name (``L3-down``) keeps its price for the ladder it was set for, so a set sent
again names the same watches.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from perpflow.grid.config import GridConfig
from perpflow.grid.levels import GridLevel
from perpflow.models import Model
from perpflow.signals import Direction
from perpflow.venues.types import MarketInfo


class Crossing(Model):
    name: str
    price: Decimal
    direction: Direction


def crossings(
    levels: list[GridLevel], config: GridConfig, market: MarketInfo, *, band: bool = True
) -> list[Crossing]:
    """``band=False``: without the activation band's crossings, as sessions begun before watch sets
    registered them (one activity each: their histories hold that many)."""
    c, tick = config, Decimal(1).scaleb(-market.price_decimals)
    # A level's crossings are a tick past it: a buy there may rest once the price is above it, a
    # sell once it is below (a fill leaves the price exactly on the level).
    found = [
        Crossing(name=f"L{lv.index}-{way.value}", price=lv.price + (tick if way is Direction.UP else -tick),
                 direction=way)
        for lv in levels
        for way in Direction
    ]  # fmt: skip
    for pct in [c.rebuild_trigger_pct] + ([c.stop.outside_range_pct] if c.stop.outside_range_pct else []):
        for name, price in (
            (f"below-{pct}", c.lower * (1 - pct / 100)),
            (f"above-{pct}", c.upper * (1 + pct / 100)),
        ):
            found += [Crossing(name=f"{name}-{way.value}", price=price, direction=way) for way in Direction]
    if band and c.activation_band_pct is not None:
        for level in levels:
            found += _band_edges(level, c.activation_band_pct, tick)
    return found


def _band_edges(level: GridLevel, band: Decimal, tick: Decimal) -> list[Crossing]:
    """Where ``level`` enters and leaves the activation band (``ladder.in_band``), each way: with
    the price above it (in while the price is at most level / (1 - band %)) and below it (in while
    the price is at least level / (1 + band %)), on the tick on the side each crossing means."""
    above = (level.price / (1 - band / 100)).quantize(tick, ROUND_FLOOR)
    below = (level.price / (1 + band / 100)).quantize(tick, ROUND_CEILING)
    name, up, down = f"L{level.index}-band", Direction.UP, Direction.DOWN
    return [
        Crossing(name=f"{name}-above-leave", price=above + tick, direction=up),
        Crossing(name=f"{name}-above-enter", price=above, direction=down),
        Crossing(name=f"{name}-below-leave", price=below - tick, direction=down),
        Crossing(name=f"{name}-below-enter", price=below, direction=up),
    ]
