"""The built-in market maker: one account quoting a symmetric ladder around the reference price.

Re-quoting cancels the old ladder and places the new one as ordinary limit orders, so when the
reference moves through a user's resting order the new quote crosses it and it fills at the
user's price, as it would on a real venue when the market trades through a level.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from perpflow.sim.engine import Engine
from perpflow.sim.enums import OrderKind, Side, TimeInForce
from perpflow.sim.markets import to_micro
from perpflow.sim.order import NewOrder

MM_ACCOUNT_INDEX = 1
# Enough collateral that the maker never constrains anything; it is exempt from margin anyway.
MM_COLLATERAL = to_micro(Decimal(10) ** 12)


@dataclass(frozen=True, slots=True)
class LadderConfig:
    levels: int = 10
    half_spread_bps: Decimal = Decimal("1")
    step_bps: Decimal = Decimal("2")
    level_notional: Decimal = Decimal("50000")  # USDC per level and side


class MarketMaker:
    def __init__(self, engine: Engine, ladder: LadderConfig | None = None) -> None:
        self.engine = engine
        self.ladder = ladder or LadderConfig()
        self.account = engine.create_account(MM_COLLATERAL, index=MM_ACCOUNT_INDEX, market_maker=True)
        self.enabled = True

    def requote_all(self) -> None:
        for market_id in self.engine.markets:
            self.requote(market_id)

    def requote(self, market_id: int) -> None:
        if not self.enabled:
            return
        engine = self.engine
        engine.cancel_all(self.account.index, market_id)
        ref = engine.marks[market_id]
        spec = engine.markets[market_id]
        lot_notional = ref  # micro-USDC for one lot at the reference price
        size = max(spec.min_base_amount, int(to_micro(self.ladder.level_notional) // max(lot_notional, 1)))
        for i in range(self.ladder.levels):
            offset_bps = self.ladder.half_spread_bps + self.ladder.step_bps * i
            delta = max(1 + i, int(Decimal(ref) * offset_bps / Decimal(10_000)))
            # Bids first: after an upward jump they sweep stale user asks before new asks exist.
            self._quote(market_id, ref - delta, size, Side.BUY)
        for i in range(self.ladder.levels):
            offset_bps = self.ladder.half_spread_bps + self.ladder.step_bps * i
            delta = max(1 + i, int(Decimal(ref) * offset_bps / Decimal(10_000)))
            self._quote(market_id, ref + delta, size, Side.SELL)

    def _quote(self, market_id: int, price: int, size: int, side: Side) -> None:
        if price <= 0:
            return
        req = NewOrder(market_id, 0, size, price, side, OrderKind.LIMIT, TimeInForce.GOOD_TILL_TIME)
        self.engine.submit(self.account.index, req)
