"""Hedge fleet payloads: pairs of accounts cycling on one market (or each leg on its own venue's
market: cross-venue pairs), and the fleet's state."""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum

from pydantic import Field, model_validator

from perpflow.hedge.models import CycleParams, CycleResult, LegAccount, check_legs
from perpflow.models import Model, RejectedCommand
from perpflow.venues.base import VenueName
from perpflow.venues.types import Side


class FleetMode(StrEnum):
    ACTIVE = "ACTIVE"
    PAUSED = "PAUSED"  # no new cycles; open ones go on
    STOPPING = "STOPPING"  # open cycles finish, no new ones, then STOPPED
    REDUCING = "REDUCING"  # daily loss limit hit: open cycles finish, then HALTED
    HALTED = "HALTED"  # killed or loss limit: every cycle flattened / finished
    STOPPED = "STOPPED"
    COMPLETED = "COMPLETED"  # every pair ran its configured number of cycles
    CANCELLED = "CANCELLED"  # a Temporal cancel: every running cycle cancelled cleanly


class PairSpec(Model):
    name: str
    maker: LegAccount  # a leg's venue and market default to the fleet's
    taker: LegAccount
    maker_side: Side | None = None  # None: alternate long and short, cycle after cycle


class FleetCarry(Model):
    """What a fleet carries across continue-as-new."""

    epoch: str = ""  # when the fleet first started: part of every cycle id of this run
    seq: dict[str, int] = Field(default_factory=dict)
    day: str = ""
    day_realized: Decimal = Decimal(0)
    total_realized: Decimal = Decimal(0)
    cycles: int = 0
    mode: FleetMode = FleetMode.ACTIVE
    failed_pairs: list[str] = Field(default_factory=list)
    reason: str = ""


class FleetInput(Model):
    name: str
    venue: VenueName = VenueName.LIGHTER
    market: str
    pairs: list[PairSpec] = Field(min_length=1, max_length=50)
    cycle: CycleParams
    pause_between_s: float = Field(default=2, ge=0, le=86400)
    max_cycles_per_pair: int | None = Field(default=None, ge=1)
    daily_loss_limit_usd: Decimal | None = Field(default=None, gt=0)
    cycles_per_run: int = Field(default=200, ge=1)  # then continue-as-new, bounding history
    carry: FleetCarry = Field(default_factory=FleetCarry)

    @model_validator(mode="after")
    def _accounts_once(self) -> FleetInput:
        seen: set[tuple[VenueName, int]] = set()
        for pair in self.pairs:
            try:
                check_legs(pair.maker, pair.taker, self.venue)
            except ValueError as exc:
                raise ValueError(f"pair {pair.name}: {exc}") from None
            for leg in (pair.maker, pair.taker):
                account = (leg.venue or self.venue, leg.account_index)
                if account in seen:
                    raise ValueError(
                        f"{account[0]} account {leg.account_index} is in two pairs: "
                        "it would trade in two cycles"
                    )
                seen.add(account)
        if len({p.name for p in self.pairs}) != len(self.pairs):
            raise ValueError("pair names must be unique")
        return self


class PairStatus(Model):
    name: str
    running: str | None = None
    cycles: int = 0
    last: CycleResult | None = None


class FleetStatus(Model):
    name: str
    mode: FleetMode
    reason: str = ""
    epoch: str = ""  # this run's part of every cycle id
    pairs: list[PairStatus]
    day: str
    day_realized: Decimal
    total_realized: Decimal
    cycles: int
    rejected_commands: list[RejectedCommand]


class FleetResult(Model):
    name: str
    mode: FleetMode
    cycles: int
    total_realized: Decimal
    failed_pairs: list[str]
    reason: str = ""  # why it ended: stopped by whom, killed, loss limit, a pair failed
