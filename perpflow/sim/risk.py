"""Pre-trade checks an accepted order passes before it meets the book: reduce-only and margin."""

from __future__ import annotations

from perpflow.sim.account import Account
from perpflow.sim.enums import Side
from perpflow.sim.order import Order


def clip_reduce_only(acct: Account, order: Order) -> bool:
    """Shrink a reduce-only order to the position it reduces; False if it reduces nothing."""
    size = acct.position(order.market_id).size
    reducible = size if order.side is Side.SELL else -size
    if reducible <= 0:
        return False
    if order.remaining > reducible:
        order.remaining = reducible
        order.initial = order.filled_base + reducible
    return True


def margin_ok(acct: Account, order: Order, marks: dict[int, int], imfs: dict[int, int]) -> bool:
    """Equity covers the initial margin of the worst-case exposure, this order included.

    The order counts as resting only for the check (inline: this runs for every order).
    """
    pos = acct.position(order.market_id)
    is_ask = order.side is Side.SELL
    if is_ask:
        pos.open_asks += order.remaining
    else:
        pos.open_bids += order.remaining
    try:
        return acct.equity(marks) >= acct.initial_margin(marks, imfs)
    finally:
        if is_ask:
            pos.open_asks -= order.remaining
        else:
            pos.open_bids -= order.remaining
