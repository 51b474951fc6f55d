"""Hedge cycle and fleet payloads, states and their transition table."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Literal

from pydantic import AwareDatetime, ConfigDict, Field, model_validator

from perpflow.hedge.tally import Role, Tally
from perpflow.models import Model, RejectedCommand
from perpflow.orders import OrderAck
from perpflow.signals import OrderFilled
from perpflow.venues.base import VenueName
from perpflow.venues.types import MarketInfo, Side


class CycleState(StrEnum):
    QUOTING = "QUOTING"
    HEDGING = "HEDGING"
    HOLDING = "HOLDING"
    CLOSING = "CLOSING"
    DONE = "DONE"
    UNWINDING = "UNWINDING"
    UNWOUND = "UNWOUND"
    FAILED = "FAILED"
    STOPPED = "STOPPED"
    CANCELLING = "CANCELLING"  # a Temporal cancel: own orders cancelled, own legs closing
    CANCELLED = "CANCELLED"

    @property
    def final(self) -> bool:
        return self in _FINAL


S = CycleState
_FINAL = frozenset({S.DONE, S.UNWOUND, S.FAILED, S.STOPPED, S.CANCELLED})
TRANSITIONS: dict[CycleState, frozenset[CycleState]] = {
    S.QUOTING: frozenset({S.HEDGING, S.HOLDING, S.DONE, S.STOPPED, S.UNWINDING, S.CANCELLING}),
    S.HEDGING: frozenset({S.QUOTING, S.HOLDING, S.UNWINDING, S.CLOSING, S.CANCELLING}),
    S.HOLDING: frozenset({S.CLOSING, S.CANCELLING}),
    S.CLOSING: frozenset({S.DONE, S.FAILED, S.CANCELLING}),
    S.UNWINDING: frozenset({S.UNWOUND, S.FAILED, S.CANCELLING}),
    S.CANCELLING: frozenset({S.CANCELLED, S.FAILED}),
    S.DONE: frozenset(),
    S.UNWOUND: frozenset(),
    S.FAILED: frozenset(),
    S.STOPPED: frozenset(),
    S.CANCELLED: frozenset(),
}


class LegAccount(Model):
    """One account of a cycle, and where it trades: ``venue`` and ``market`` default to the
    cycle's (every one-venue cycle), and are set for a leg on another venue (a cross-venue cycle:
    the maker quoting on one venue, the hedge on the other)."""

    model_config = ConfigDict(extra="forbid", frozen=True)  # hashable: legs key dicts

    account_index: int = Field(ge=0)
    api_key_index: int = Field(ge=0, le=254)
    venue: VenueName | None = None
    market: str | None = Field(default=None, min_length=1)


def check_legs(maker: LegAccount, taker: LegAccount, venue: VenueName) -> None:
    """Two accounts, each on a known market (``venue``: where a leg without its own trades)."""
    if maker.account_index == taker.account_index:
        # Even on two venues: the cycle's fills, positions and exposure tell legs apart by index.
        raise ValueError("maker and taker must be different accounts (different account indexes)")
    for role, leg in (("maker", maker), ("taker", taker)):
        if leg.venue not in (None, venue) and leg.market is None:
            raise ValueError(
                f"the {role} leg trades on {leg.venue}, not the cycle's venue {venue}: name its market there"
            )


class CycleParams(Model):
    """What an operator may adjust between steps (``adjust`` update)."""

    size: Decimal = Field(gt=0)
    depth: int = Field(default=1, ge=1, le=50)
    maker_timeout_s: float = Field(default=10, gt=0, le=3600)
    max_requotes: int = Field(default=5, ge=0, le=1000)
    hold_s: float = Field(default=30, ge=0, le=7 * 86400)
    stop_loss_usd: Decimal | None = Field(default=None, gt=0)
    take_profit_usd: Decimal | None = Field(default=None, gt=0)
    max_slippage: Decimal = Field(default=Decimal("0.01"), gt=0, lt=Decimal("0.5"))
    close_mode: Literal["maker_then_market", "market"] = "maker_then_market"
    close_maker_timeout_s: float = Field(default=5, gt=0, le=3600)
    hedge_deadline_s: float = Field(default=30, gt=0, le=3600)
    poll_s: float = Field(default=2, ge=0.2, le=60)
    # While holding, stop-loss / take-profit arrive as the market-data worker's price_crossed
    # signals; this slow look at the book is only the safety net (and bounds history: a 7-day
    # hold stays far below Temporal's event limit).
    safety_poll_s: float = Field(default=600, ge=0.2, le=3600)


class HedgeCycleInput(Model):
    fleet: str
    pair: str
    seq: int = Field(ge=0)
    venue: VenueName = VenueName.LIGHTER
    market: str
    maker: LegAccount
    taker: LegAccount
    maker_side: Side
    params: CycleParams
    carry: CycleProgress | None = None  # set by continue-as-new while holding

    @model_validator(mode="after")
    def _two_accounts(self) -> HedgeCycleInput:
        check_legs(self.maker, self.taker, self.venue)
        return self

    def venue_of(self, leg: LegAccount) -> VenueName:
        return leg.venue or self.venue

    def market_of(self, leg: LegAccount) -> str:
        return leg.market or self.market

    @property
    def cross(self) -> bool:
        """The legs trade on two markets (two venues): two books, two markets' rules."""
        where = [(self.venue_of(leg), self.market_of(leg)) for leg in (self.maker, self.taker)]
        return where[0] != where[1]


@dataclass(frozen=True)
class Placement:
    """An order being placed: what the tally needs to count its fills once it is acknowledged."""

    key: str
    leg: LegAccount
    role: Role
    side: Side
    fee_rate: Decimal  # fraction of notional


class CycleProgress(Model):
    """Everything a cycle knows, in one model: continue-as-new carries it whole, except the
    run-time flags at the end (a continued run starts holding, its watches still registered)."""

    params: CycleParams | None = None  # the input's, as adjusted since
    market: MarketInfo | None = None  # the maker leg's market (and the taker's, on one market)
    taker_market: MarketInfo | None = None  # a cross-venue cycle's hedge market
    tally: Tally = Field(default_factory=Tally)
    orders: list[str] = Field(default_factory=list)  # every order's key, in placement order
    hedges: int = 0
    hold_until: AwareDatetime | None = None  # None until the maker leg is hedged and holding
    last_mark: Decimal | None = None  # the maker market's
    taker_mark: Decimal | None = None  # a cross-venue cycle's hedge market's
    reason: str = ""
    paused: bool = False
    stop_requested: bool = False
    rejected_commands: list[RejectedCommand] = Field(default_factory=list)

    state: CycleState = Field(default=CycleState.QUOTING, exclude=True)
    flatten_requested: bool = Field(default=False, exclude=True)
    wake: bool = Field(default=False, exclude=True)  # a fill or a price crossing to look at now
    # The venue's time of the oldest maker fill not hedged yet (a signal's), for the hedge latency.
    fill_at: AwareDatetime | None = Field(default=None, exclude=True)
    levels_stale: bool = Field(default=True, exclude=True)  # stop-loss / take-profit watches to (re)register
    unmatched: list[OrderFilled] = Field(default_factory=list, exclude=True)  # fills before their order

    def resume(self, carried: CycleProgress) -> None:
        """A continued run: what the last run knew, holding, its watches still registered."""
        for name, field in type(self).model_fields.items():
            if not field.exclude:
                setattr(self, name, getattr(carried, name))
        self.state, self.levels_stale = CycleState.HOLDING, False

    def move_to(self, state: CycleState) -> bool:
        """Enter ``state`` by the transition table; True when it is a change."""
        if state is self.state:
            return False
        if state not in TRANSITIONS[self.state]:
            raise RuntimeError(f"illegal transition {self.state} -> {state}")
        self.state = state
        return True

    def track(self, placed: Placement, ack: OrderAck) -> None:
        """A placed order: counted from now on, with the fills signalled before it was known."""
        if placed.key not in self.orders:
            self.orders.append(placed.key)
        coi, account = ack.client_order_index, placed.leg.account_index
        self.tally.track(coi, placed.key, placed.role, account, placed.side, fee_rate=placed.fee_rate)
        self.apply(ack)
        waiting, self.unmatched = self.unmatched, []
        for fill in waiting:
            self.count(fill)

    def apply(self, ack: OrderAck) -> None:
        """An order's cumulative fill and status, as the venue reported it."""
        if ack.client_order_index in self.tally.orders:
            self.tally.polled(ack.client_order_index, ack.filled_size, ack.filled_quote, ack.status.final)

    def count(self, fill: OrderFilled) -> None:
        """A fill signal: counted once (the tally drops repeats), held until its order is tracked."""
        if fill.client_order_index not in self.tally.orders:
            self.unmatched.append(fill)
            return
        if self.tally.signalled(fill.client_order_index, fill.fill_id, fill.size, fill.price, fill.fee):
            self.wake = True
            if self.fill_at is None and self.tally.orders[fill.client_order_index].role is Role.MAKER:
                self.fill_at = fill.at

    def own_positions(self, legs: tuple[LegAccount, LegAccount]) -> dict[LegAccount, Decimal]:
        """What this cycle's own fills hold on each leg (never the account's other exposure)."""
        return {leg: size for leg in legs if (size := self.tally.position(leg.account_index)) != 0}


class Adjust(Model):
    """Changes for the steps not yet taken; omitted fields stay as they are."""

    size: Decimal | None = Field(default=None, gt=0)
    depth: int | None = Field(default=None, ge=1, le=50)
    maker_timeout_s: float | None = Field(default=None, gt=0, le=3600)
    hold_s: float | None = Field(default=None, ge=0, le=7 * 86400)
    stop_loss_usd: Decimal | None = Field(default=None, gt=0)
    take_profit_usd: Decimal | None = Field(default=None, gt=0)


class Leg(Model):
    """One account's side of the cycle, as the cycle's own fills add up."""

    account_index: int
    position: Decimal  # signed
    cash: Decimal  # signed quote flow: - for buys, + for sells
    venue: str = ""
    market: str = ""


class CycleStatus(Model):
    workflow_id: str
    state: CycleState
    paused: bool
    stop_requested: bool
    params: CycleParams
    maker: Leg
    taker: Leg
    maker_filled: Decimal
    hedged: Decimal
    orders: list[str]
    last_mark: Decimal | None = None  # the maker market's
    taker_mark: Decimal | None = None  # the hedge market's, when it is another
    realized_pnl: Decimal = Decimal(0)  # net of fees
    fees: Decimal = Decimal(0)
    reason: str = ""
    rejected_commands: list[RejectedCommand] = Field(default_factory=list)


class CycleResult(Model):
    workflow_id: str
    state: CycleState
    reason: str
    maker_filled: Decimal
    hedged: Decimal
    realized_pnl: Decimal  # net of fees
    fees: Decimal
    open_exposure: dict[str, Decimal] = Field(default_factory=dict)  # account index -> signed size left


class CycleRecord(Model):
    """The ledger's row of a cycle, written at every state change."""

    workflow_id: str
    fleet: str
    pair: str
    seq: int
    venue: str  # the maker leg's
    market: str
    maker_account: int
    taker_account: int
    # A cross-venue cycle's hedge leg (None: it trades where the maker does).
    taker_venue: str | None = None
    taker_market: str | None = None
    state: CycleState
    realized_pnl: Decimal = Decimal(0)
    fees: Decimal = Decimal(0)
    result: CycleResult | None = None
