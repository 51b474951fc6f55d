"""One price level of a grid: the quantities it owes each side, what it holds, and its one order.

A level rests at most one order at a time. Each placement gets the next generation of the level,
and its business key ``{session}/L{index}-g{generation}``: the order gateway maps a key to one
client order index, so a retried or replayed placement is the same order, never a second one.

Quantities follow the grid's one rule: a fill of q on a level's side owes q on the opposite side
at the adjacent level (a buy's sell one level up, a sell's buy one level down). What a level's
fills opened is its ``hold``; the session's position is the sum of the holds.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from pydantic import AwareDatetime, Field

from perpflow import names
from perpflow.models import Model
from perpflow.venues.types import Side


class LevelState(StrEnum):
    """The state of the level's current (or last) order."""

    IDLE = "IDLE"  # never placed since the ladder was built
    PLACING = "PLACING"  # key issued, the place activity under way
    OPEN = "OPEN"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    CANCELLING = "CANCELLING"
    FILLED = "FILLED"
    CANCELLED = "CANCELLED"
    FAILED = "FAILED"  # refused before it rested (post-only would cross, margin, risk)

    @property
    def free(self) -> bool:
        """No order of the level can be resting: the next generation may be placed."""
        return self in _FREE

    @property
    def live(self) -> bool:
        return not self.free


L = LevelState
_FREE = frozenset({L.IDLE, L.FILLED, L.CANCELLED, L.FAILED})
_ENDED = frozenset({L.FILLED, L.CANCELLED})
TRANSITIONS: dict[LevelState, frozenset[LevelState]] = {
    L.IDLE: frozenset({L.PLACING}),
    # The acknowledgement may already say filled (a fill raced it) or cancelled (post-only).
    L.PLACING: frozenset({L.OPEN, L.PARTIALLY_FILLED, L.FAILED}) | _ENDED,
    L.OPEN: frozenset({L.PARTIALLY_FILLED, L.CANCELLING}) | _ENDED,
    L.PARTIALLY_FILLED: frozenset({L.PARTIALLY_FILLED, L.CANCELLING}) | _ENDED,
    L.CANCELLING: _ENDED,
    L.FILLED: frozenset({L.PLACING}),
    L.CANCELLED: frozenset({L.PLACING}),
    L.FAILED: frozenset({L.PLACING}),
}


class IllegalLevelTransition(RuntimeError):
    """A level state change the table forbids: a bug in the session's bookkeeping."""


class GridLevel(Model):
    index: int = Field(ge=0)
    price: Decimal = Field(gt=0)
    size: Decimal = Field(gt=0)  # the ladder's size of this level (base)
    state: LevelState = LevelState.IDLE
    generation: int = 0  # the next placement's generation; the current order's is one less
    owed_buy: Decimal = Decimal(0)  # to buy at this price, the resting order's remainder included
    owed_sell: Decimal = Decimal(0)
    hold: Decimal = Decimal(0)  # signed position this level's fills opened
    hold_cost: Decimal = Decimal(0)  # signed quote paid for the hold: hold x its average price
    side: Side | None = None  # the current (or last) order's
    order_size: Decimal = Decimal(0)
    client_order_index: int | None = None
    filled: Decimal = Decimal(0)  # of the current order
    # Since when the venue has shown the current order neither resting nor ended (None: it has).
    unseen_since: AwareDatetime | None = None

    def move_to(self, state: LevelState) -> None:
        if state not in TRANSITIONS[self.state]:
            raise IllegalLevelTransition(f"level {self.index}: {self.state} -> {state}")
        self.state = state

    def owed(self, side: Side) -> Decimal:
        return self.owed_buy if side is Side.BUY else self.owed_sell

    def owe(self, side: Side, qty: Decimal) -> None:
        if side is Side.BUY:
            self.owed_buy = max(Decimal(0), self.owed_buy + qty)
        else:
            self.owed_sell = max(Decimal(0), self.owed_sell + qty)

    def step(self) -> str:
        """The business step of the current order (the one last placed)."""
        return f"L{self.index}-g{self.generation - 1}"

    def key(self, session: str) -> str:
        return names.order_key(session, self.step())

    def place(self, side: Side, size: Decimal) -> None:
        """Write-ahead: the level holds its new order's key before the place activity starts."""
        self.move_to(LevelState.PLACING)
        self.generation += 1
        self.side, self.order_size, self.filled, self.client_order_index = side, size, Decimal(0), None
        self.unseen_since = None

    def unseen(self, at: datetime, lost_after_s: float) -> bool:
        """The venue showed the current order neither resting nor ended, at ``at``: True once it
        has not shown it for ``lost_after_s``."""
        if self.unseen_since is None:
            self.unseen_since = at
        return (at - self.unseen_since).total_seconds() >= lost_after_s

    def open_hold(self, qty: Decimal, price: Decimal) -> None:
        """``qty`` signed: this level's fill opened (or added to) its hold at ``price``."""
        self.hold += qty
        self.hold_cost += qty * price

    def close_hold(self, qty: Decimal, price: Decimal) -> tuple[Decimal, Decimal]:
        """Close up to ``qty`` (unsigned) of the hold at ``price``: (closed, profit realised)."""
        closed = min(qty, abs(self.hold))
        if closed == 0:
            return Decimal(0), Decimal(0)
        sign = 1 if self.hold > 0 else -1
        avg = self.hold_cost / self.hold
        self.hold -= sign * closed
        self.hold_cost = self.hold * avg if self.hold else Decimal(0)
        return closed, sign * closed * (price - avg)

    def unrealized(self, mark: Decimal) -> Decimal:
        return self.hold * mark - self.hold_cost
