"""A grid session's config: one validated model, from YAML for the CLI or raw JSON for Temporal.

  name: eth-range
  venue: lighter
  account: {account_index: 7, api_key_index: 3}
  market: ETH
  lower: "2800"   upper: "3200"   levels: 21   spacing: arithmetic
  size: "0.05"    size_unit: base   mode: neutral

Every check names the field it refuses, so a bad start fails at once with a clear message.
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum

from pydantic import Field, model_validator

from perpflow.config import ConfigModel
from perpflow.hedge.models import LegAccount
from perpflow.venues.base import VenueName


class Spacing(StrEnum):
    ARITHMETIC = "arithmetic"  # equal price steps
    GEOMETRIC = "geometric"  # equal ratios


class SizeUnit(StrEnum):
    BASE = "base"  # size is the base amount of every level
    QUOTE = "quote"  # size is the notional of every level: base = size / level price


class GridMode(StrEnum):
    NEUTRAL = "neutral"  # buys below the price, sells above, the nearest level left as the gap
    LONG = "long"  # every level but the top buys; sells only close what was bought
    SHORT = "short"  # every level but the bottom sells; buys only close what was sold


class StopAction(StrEnum):
    """What a stop leaves behind (also the CLI's --flatten | --keep-position | --keep-orders)."""

    FLATTEN = "flatten"  # cancel the session's orders, close the session's position
    KEEP_POSITION = "keep_position"  # cancel the session's orders, leave the position
    KEEP_ORDERS = "keep_orders"  # leave the orders resting and the position as it is


class RebuildPolicy(StrEnum):
    NEVER = "never"  # out of range the grid waits for the price (the range stop may end it)
    RECENTER = "recenter"  # out of range past rebuild_trigger_pct: rebuild around the price


class StopConditions(ConfigModel):
    outside_range_pct: Decimal | None = Field(default=Decimal(1), gt=0, le=100)
    stop_loss_usd: Decimal | None = Field(default=None, gt=0)  # on PnL net of fees and funding
    take_profit_usd: Decimal | None = Field(default=None, gt=0)
    max_duration_s: float | None = Field(default=None, gt=0)
    max_position: Decimal | None = Field(default=None, gt=0)  # |session position| in base
    action: StopAction = StopAction.FLATTEN  # a stop signal without its own choice, a Temporal cancel


class GridConfig(ConfigModel):
    name: str = Field(min_length=1, max_length=60)
    venue: VenueName = VenueName.LIGHTER
    account: LegAccount
    market: str = Field(min_length=1)
    lower: Decimal = Field(gt=0)
    upper: Decimal = Field(gt=0)
    levels: int = Field(ge=2, le=500)
    spacing: Spacing = Spacing.ARITHMETIC
    size: Decimal = Field(gt=0)
    size_unit: SizeUnit = SizeUnit.BASE
    mode: GridMode = GridMode.NEUTRAL
    post_only: bool = True
    max_open_orders_per_side: int = Field(default=10, ge=1, le=500)
    # Only levels within this % of the price rest on the venue; None: every level.
    activation_band_pct: Decimal | None = Field(default=None, gt=0, le=100)
    stop: StopConditions = Field(default_factory=StopConditions)
    rebuild: RebuildPolicy = RebuildPolicy.NEVER
    rebuild_trigger_pct: Decimal = Field(default=Decimal("0.5"), gt=0, le=100)
    flatten_slippage: Decimal = Field(default=Decimal("0.01"), gt=0, lt=Decimal("0.5"))
    # History stays bounded: a run continues as new after this many fills.
    fills_per_run: int = Field(default=300, ge=10, le=5000)
    reconcile_every_s: float = Field(default=60, ge=1, le=3600)
    # Fills arrive as signals; this slow look at the session's orders is only the safety net.
    safety_poll_s: float = Field(default=300, ge=1, le=3600)

    @model_validator(mode="after")
    def _coherent(self) -> GridConfig:
        if self.upper <= self.lower:
            raise ValueError(f"upper ({self.upper}) must be above lower ({self.lower})")
        range_stop = self.stop.outside_range_pct
        recenters = self.rebuild is RebuildPolicy.RECENTER and range_stop is not None
        if recenters and range_stop is not None and range_stop <= self.rebuild_trigger_pct:
            raise ValueError(
                f"stop.outside_range_pct ({range_stop}) must exceed rebuild_trigger_pct "
                f"({self.rebuild_trigger_pct}): the range stop would end the grid before it rebuilds"
            )
        return self

    def adjusted(self, change: Adjust) -> GridConfig:
        """This config with ``change`` applied, validated whole (an incoherent result raises)."""
        updates = change.model_dump(exclude_none=True, exclude={"by", "reason"})
        return type(self).model_validate({**self.model_dump(), **updates})


class Adjust(ConfigModel):
    """An operator's change of the ladder (the ``adjust`` update); omitted fields stay as they are."""

    lower: Decimal | None = Field(default=None, gt=0)
    upper: Decimal | None = Field(default=None, gt=0)
    levels: int | None = Field(default=None, ge=2, le=500)
    spacing: Spacing | None = None
    size: Decimal | None = Field(default=None, gt=0)
    size_unit: SizeUnit | None = None
    max_open_orders_per_side: int | None = Field(default=None, ge=1, le=500)
    activation_band_pct: Decimal | None = Field(default=None, gt=0, le=100)
    by: str | None = Field(default=None, max_length=100)  # who, and why: logged with the rebuild
    reason: str | None = Field(default=None, max_length=500)

    @model_validator(mode="after")
    def _something(self) -> Adjust:
        if not self.model_dump(exclude_none=True, exclude={"by", "reason"}):
            raise ValueError("adjust changes nothing: give at least one field")
        return self
