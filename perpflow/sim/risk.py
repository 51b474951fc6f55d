"""Checks an accepted order passes before it meets the book (reduce-only, margin), and the room a
reduce-only order has at each trade: it never grows |position|, only moves it toward zero."""

from __future__ import annotations

from perpflow.sim.account import Account
from perpflow.sim.enums import Side
from perpflow.sim.order import Order


def reducible(acct: Account, order: Order) -> int:
    """How much ``order`` could trade now and only reduce its account's position (0: nothing)."""
    size = acct.position(order.market_id).size
    return max(0, size if order.side is Side.SELL else -size)


def clip_reduce_only(acct: Account, order: Order) -> bool:
    """Shrink a reduce-only order to the position it reduces; False if it reduces nothing."""
    reducible_now = reducible(acct, order)
    if reducible_now <= 0:
        return False
    if order.remaining > reducible_now:
        order.remaining = reducible_now
        order.initial = order.filled_base + reducible_now
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
