"""Accounts and positions, in integers (lots, ticks, micro-USDC).

A position keeps its signed size and signed cost basis (``entry_quote``; positive for longs).
Closing releases basis pro rata, so ``cash == realised - entry_quote`` holds per account and the
sum of ``realised - entry_quote`` over all accounts is exactly zero after any sequence of trades.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from perpflow.sim.enums import Side
from perpflow.sim.markets import MARGIN_FRACTION_SCALE
from perpflow.sim.order import Order


def _pro_rata(total: int, part: int, whole: int) -> int:
    """``total * part / whole`` truncated toward zero (Python's // floors negatives)."""
    q = abs(total) * part // whole
    return q if total >= 0 else -q


@dataclass(slots=True)
class Position:
    size: int = 0  # signed lots
    entry_quote: int = 0  # signed micro-USDC cost basis
    realised: int = 0
    open_bids: int = 0  # lots resting on the bid side
    open_asks: int = 0
    open_orders: int = 0
    imf: int = 0  # 0 = market default; faces set it when the account changes its leverage

    def apply(self, signed_qty: int, price: int) -> int:
        """Trade ``signed_qty`` lots (positive = buy) at ``price``; returns the realised PnL."""
        realised = 0
        if self.size and (self.size > 0) != (signed_qty > 0):
            closed = min(abs(signed_qty), abs(self.size))
            released = _pro_rata(self.entry_quote, closed, abs(self.size))
            c = closed if self.size > 0 else -closed
            realised = price * c - released
            self.entry_quote -= released
            self.size -= c
            signed_qty += c
        if signed_qty:
            self.entry_quote += price * signed_qty
            self.size += signed_qty
        self.realised += realised
        return realised

    def unrealised(self, mark: int) -> int:
        return self.size * mark - self.entry_quote

    def exposure(self) -> int:
        """Worst-case |position| if every resting order on one side fills."""
        return max(abs(self.size + self.open_bids), abs(self.size - self.open_asks))


@dataclass(slots=True)
class Account:
    index: int
    collateral: int = 0
    deposits: int = 0
    fees_paid: int = 0
    is_market_maker: bool = False
    positions: dict[int, Position] = field(default_factory=dict)
    by_client: dict[int, Order] = field(default_factory=dict)  # open orders by client index
    open_orders: dict[int, Order] = field(default_factory=dict)  # open orders by order index
    cancel_all_at_ms: int = 0  # a scheduled cancel-all (dead man's switch); 0 = none

    def position(self, market_id: int) -> Position:
        pos = self.positions.get(market_id)
        if pos is None:
            pos = self.positions[market_id] = Position()
        return pos

    def settle(self, market_id: int, signed_qty: int, price: int, fee: int) -> int:
        """Trade ``signed_qty`` lots and pay ``fee``; returns the signed position size before."""
        pos = self.position(market_id)
        before = pos.size
        self.collateral += pos.apply(signed_qty, price) - fee
        self.fees_paid += fee
        return before

    def realised(self) -> int:
        return sum(p.realised for p in self.positions.values())

    def equity(self, marks: dict[int, int]) -> int:
        return self.collateral + sum(p.unrealised(marks[m]) for m, p in self.positions.items())

    def initial_margin(self, marks: dict[int, int], imfs: dict[int, int]) -> int:
        total = 0
        for m, p in self.positions.items():
            imf = p.imf or imfs[m]
            total += p.exposure() * marks[m] * imf // MARGIN_FRACTION_SCALE
        return total

    def track_resting(self, order: Order, delta: int) -> None:
        pos = self.position(order.market_id)
        if order.side is Side.SELL:
            pos.open_asks += delta
        else:
            pos.open_bids += delta
