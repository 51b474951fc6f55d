"""Price-time matching: what an incoming (taker) order meets next on the opposite side.

Pure: it reads the book and decides; the engine applies each step before asking for the next.
"""

from __future__ import annotations

from dataclasses import dataclass

from perpflow.sim.book import BookSide
from perpflow.sim.enums import CancelReason
from perpflow.sim.order import Order


# Not frozen: these are made on the hot path, and frozen dataclasses are slower to build.
@dataclass(slots=True)
class Fill:
    maker: Order
    qty: int
    price: int


@dataclass(slots=True)
class Withdrawal:
    """A resting order that leaves the book untraded before the taker goes on."""

    maker: Order
    reason: CancelReason


def next_match(opposite: BookSide, taker: Order, now: int, max_fill: int) -> Fill | Withdrawal | None:
    """The taker's next step at no worse than its price, or None when it stops matching."""
    if taker.remaining <= 0 or max_fill <= 0 or not opposite.crosses(taker.price):
        return None
    price = opposite.best()
    assert price is not None
    maker = opposite.levels[price].orders[0]
    if maker.expiry_ms and maker.expiry_ms <= now:
        return Withdrawal(maker, CancelReason.EXPIRED)
    if maker.account == taker.account:
        # Self-trade prevention expires the maker, as Lighter does by default.
        return Withdrawal(maker, CancelReason.SELF_TRADE)
    return Fill(maker, min(taker.remaining, maker.remaining, max_fill), price)
