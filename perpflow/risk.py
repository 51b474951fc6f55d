"""Pre-trade risk: pure checks over limits and trading states (no I/O here).

A denial is a business decision, so it is never retried: ``RiskRejected`` is non-retryable.
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum

from pydantic import Field

from perpflow.config import ConfigModel
from perpflow.errors import PerpflowError
from perpflow.venues.types import Side


class TradingState(StrEnum):
    ACTIVE = "active"
    REDUCING = "reducing"  # only reduce-only orders (and cancels)
    HALTED = "halted"  # only cancels

    @property
    def severity(self) -> int:
        return {"active": 0, "reducing": 1, "halted": 2}[self.value]


GLOBAL_SCOPE = "global"


def account_scope(venue: str, account_index: int) -> str:
    return f"{venue}:{account_index}"


class RiskRejected(PerpflowError):
    """The order breaks a risk rule; the message says which."""


class RiskLimits(ConfigModel):
    max_order_notional: Decimal = Field(default=Decimal(100_000), gt=0)
    max_position: Decimal = Field(default=Decimal(1_000), gt=0)  # base units, per market and account
    max_position_by_market: dict[str, Decimal] = Field(default_factory=dict)
    allowed_markets: list[str] | None = None  # None: every market the venue lists

    def position_limit(self, market: str) -> Decimal:
        return self.max_position_by_market.get(market, self.max_position)


def strictest(*states: TradingState) -> TradingState:
    return max(states, key=lambda s: s.severity)


def check_order(
    *,
    market: str,
    side: Side,
    size: Decimal,
    price: Decimal,
    reduce_only: bool,
    position: Decimal,
    limits: RiskLimits,
    state: TradingState,
) -> None:
    """Raise ``RiskRejected`` if the order may not be sent; ``position`` is signed."""
    if state is TradingState.HALTED:
        raise RiskRejected("trading is HALTED: only cancels are allowed")
    if state is TradingState.REDUCING and not reduce_only:
        raise RiskRejected("trading is REDUCING: only reduce-only orders are allowed")
    if limits.allowed_markets is not None and market not in limits.allowed_markets:
        raise RiskRejected(f"market {market} is not in the allowed markets {limits.allowed_markets}")
    notional = size * price
    if notional > limits.max_order_notional:
        raise RiskRejected(f"order notional {notional} exceeds the limit {limits.max_order_notional}")
    after = position + side.sign * size
    limit = limits.position_limit(market)
    if not reduce_only and abs(after) > limit and abs(after) > abs(position):
        raise RiskRejected(f"{market} position would be {after}, beyond the limit {limit}")
