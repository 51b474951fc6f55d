"""Grid session payloads: the session's states and their table, what a plan asks the workflow to
do, the status query's table, and the ledger's rows."""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum

from pydantic import AwareDatetime, Field

from perpflow.grid.config import GridConfig
from perpflow.grid.levels import LevelState
from perpflow.models import Model, RejectedCommand
from perpflow.venues.types import OrderKind, Side, TimeInForce


class GridState(StrEnum):
    """The ``GridState`` search attribute's values."""

    RUNNING = "RUNNING"
    PAUSED = "PAUSED"  # nothing new is placed; resting orders stay and their fills count
    REBUILDING = "REBUILDING"  # cancelling the old ladder's orders, then the new ladder
    STOPPING = "STOPPING"  # cancelling (and flattening) as the stop's action says
    STOPPED = "STOPPED"
    FAILED = "FAILED"

    @property
    def final(self) -> bool:
        return self in (GridState.STOPPED, GridState.FAILED)


G = GridState
TRANSITIONS: dict[GridState, frozenset[GridState]] = {
    G.RUNNING: frozenset({G.PAUSED, G.REBUILDING, G.STOPPING, G.FAILED}),
    G.PAUSED: frozenset({G.RUNNING, G.REBUILDING, G.STOPPING, G.FAILED}),
    G.REBUILDING: frozenset({G.RUNNING, G.STOPPING, G.FAILED}),
    G.STOPPING: frozenset({G.STOPPED, G.FAILED}),
    G.STOPPED: frozenset(),
    G.FAILED: frozenset(),
}


class StopReason(StrEnum):
    RANGE_EXIT = "RANGE_EXIT"
    STOP_LOSS = "STOP_LOSS"
    TAKE_PROFIT = "TAKE_PROFIT"
    TIME_LIMIT = "TIME_LIMIT"
    MAX_POSITION = "MAX_POSITION"
    OPERATOR = "OPERATOR"  # a stop or flatten signal
    CANCELLED = "CANCELLED"  # a Temporal cancel


class Placement(Model):
    """An order to place. The level already holds its key (write-ahead): place it under that key."""

    key: str
    level: int | None  # None: the stop's flatten order
    side: Side
    price: Decimal
    size: Decimal
    kind: OrderKind = OrderKind.LIMIT
    tif: TimeInForce = TimeInForce.POST_ONLY
    reduce_only: bool = False


class Cancel(Model):
    client_order_index: int
    level: int | None  # None: an order of this session that no level owns any more


class Plan(Model):
    """What to do now: the cancels first, then the placements (each already written ahead)."""

    cancel: list[Cancel] = Field(default_factory=list)
    place: list[Placement] = Field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.cancel or self.place)


class PositionAudit(Model):
    expected: Decimal  # the sum of the level holds
    actual: Decimal  # the venue's position of the account in the market
    drift: Decimal  # actual - expected: another session's, a manual trade, or a fill not seen yet


class ReconcileReport(Model):
    adopted: list[int] = Field(default_factory=list)  # client order indexes a level took back
    cancel: list[Cancel] = Field(default_factory=list)  # this session's orphans: cancel them
    look_up: list[int] = Field(default_factory=list)  # ours, gone from the venue: read how they ended
    foreign: int = 0  # open orders of other sessions or manual ones, left alone
    audit: PositionAudit


class GridPnl(Model):
    realized: Decimal = Decimal(0)  # grid profit of the closed round trips, before fees
    fees: Decimal = Decimal(0)
    funding: Decimal = Decimal(0)  # paid (negative when received)
    round_trips: int = 0

    def net(self, unrealized: Decimal) -> Decimal:
        return self.realized - self.fees - self.funding + unrealized


class LevelRow(Model):
    index: int
    price: Decimal
    side: Side | None
    state: LevelState
    client_order_index: int | None
    order_size: Decimal
    filled: Decimal
    owed_buy: Decimal
    owed_sell: Decimal
    hold: Decimal


class GridStatus(Model):
    workflow_id: str
    name: str
    state: GridState
    frozen: bool  # the venue feed is down: nothing new is placed
    version: int
    mark: Decimal | None
    position: Decimal
    pnl: GridPnl
    unrealized: Decimal
    net_pnl: Decimal
    fills: int
    stop_reason: StopReason | None
    levels: list[LevelRow]
    lost_orders: int = 0  # level orders the venue stopped showing, counted as cancelled
    # Signals the session could not take (a misspelled name, a bad payload), the latest last.
    rejected_commands: list[RejectedCommand] = Field(default_factory=list)


class GridRecord(Model):
    """The ledger's row of a session, written at its state changes."""

    workflow_id: str
    name: str
    venue: str
    market: str
    account_index: int
    state: GridState
    config: GridConfig
    version: int = 0
    position: Decimal = Decimal(0)
    realized_profit: Decimal = Decimal(0)
    fees: Decimal = Decimal(0)
    funding: Decimal = Decimal(0)
    fill_count: int = 0
    stop_reason: StopReason | None = None
    # The session's key (names.grid_session_key): a start under the same name has another one.
    session: str = ""


class GridFillRecord(Model):
    """One fill a session counted (a polled increment gets a ``poll:`` id), written once."""

    workflow_id: str
    fill_id: str
    level: int | None
    client_order_index: int
    side: Side
    price: Decimal
    size: Decimal
    fee: Decimal = Decimal(0)
    realized: Decimal = Decimal(0)
    at: AwareDatetime


class GridFills(Model):
    """The fills a session hands to the ledger at once (``GridBook.take_records``)."""

    fills: list[GridFillRecord]
