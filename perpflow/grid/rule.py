"""The grid's one rule, on a ladder of levels: a fill of q on a level owes q on the opposite side at
the adjacent level, and closes what that level held first (a round trip's profit).

Pure functions over the levels and the PnL; every quantity is base, every price quote.
"""

from __future__ import annotations

from decimal import Decimal

from perpflow.grid.levels import GridLevel
from perpflow.grid.models import GridPnl
from perpflow.venues.types import Side


def adjacent(levels: list[GridLevel], level: GridLevel, side: Side) -> GridLevel | None:
    """Where a fill of ``side`` on ``level`` is closed: one level up for a buy, down for a sell."""
    i = level.index + (1 if side is Side.BUY else -1)
    return levels[i] if 0 <= i < len(levels) else None


def level_fill(
    levels: list[GridLevel], level: GridLevel, side: Side, qty: Decimal, price: Decimal, *, pnl: GridPnl
) -> Decimal:
    """A fill of ``qty`` at ``price`` on ``level``'s ``side``; returns the profit it realised."""
    level.owe(side, -qty)
    target = adjacent(levels, level, side)
    if target is None:
        level.open_hold(side.sign * qty, price)
        return Decimal(0)
    closed, profit = Decimal(0), Decimal(0)
    if target.hold * side.sign < 0:  # a sell closes the long below it, a buy the short above it
        closed, profit = target.close_hold(qty, price)
        pnl.realized += profit
        pnl.round_trips += 1
    if qty > closed:
        level.open_hold(side.sign * (qty - closed), price)
    target.owe(side.opposite, qty)
    return profit


def loose_fill(levels: list[GridLevel], side: Side, qty: Decimal, price: Decimal, pnl: GridPnl) -> Decimal:
    """A fill no level placed (the stop's flatten, an order of an older ladder): it closes the
    holds of the other sign nearest its price, and what is left is held by the nearest level."""
    profit = Decimal(0)
    left = qty
    for level in sorted(levels, key=lambda lv: (abs(lv.price - price), lv.index)):
        if left == 0:
            break
        if level.hold * side.sign < 0:
            closed, gained = level.close_hold(left, price)
            left -= closed
            profit += gained
    pnl.realized += profit
    if left:
        nearest = min(levels, key=lambda lv: (abs(lv.price - price), lv.index))
        nearest.open_hold(side.sign * left, price)
    return profit


def carry(levels: list[GridLevel], position: Decimal, cost: Decimal, mark: Decimal) -> None:
    """Give a rebuilt ladder the position the old one held, as if its nearest entries had filled
    at the old average price: each such level holds its share and owes its exit."""
    if position == 0:
        return
    side = Side.BUY if position > 0 else Side.SELL
    avg, left = cost / position, abs(position)
    entries = [
        lv
        for lv in levels
        if lv.owed(side) > 0 and (lv.price < mark if side is Side.BUY else lv.price > mark)
    ]
    for level in sorted(entries, key=lambda lv: (abs(lv.price - mark), lv.index)):
        qty = min(left, level.owed(side))
        level_fill(levels, level, side, qty, avg, pnl=GridPnl())
        left -= qty
        if left == 0:
            return
    loose_fill(levels, side, left, avg, GridPnl())
