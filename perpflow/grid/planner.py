"""What a running ladder should rest now: per side, the levels nearest the price that owe an order
there, inside the activation band, at most ``max_open_orders_per_side``; cancels before creates.

Each placement is written ahead on its level (PLACING, next generation, its key) before the
workflow sends it, so a replay or retry sends the same key and the gateway finds the same order.
"""

from __future__ import annotations

from decimal import ROUND_DOWN, Decimal

from perpflow.grid import ladder
from perpflow.grid.config import GridConfig
from perpflow.grid.levels import GridLevel, LevelState
from perpflow.grid.models import Cancel, Placement, Plan
from perpflow.venues.types import MarketInfo, Side, TimeInForce

_RESTING = (LevelState.OPEN, LevelState.PARTIALLY_FILLED)


def order_size(market: MarketInfo, owed: Decimal, price: Decimal) -> Decimal | None:
    """What the level can place of what it owes: down to the lot, None below the minimums (it
    waits for more: partial fills add up)."""
    size = owed.quantize(Decimal(1).scaleb(-market.size_decimals), ROUND_DOWN)
    if size <= 0 or size < market.min_base_amount or size * price < market.min_quote_amount:
        return None
    return size


def ladder_plan(levels: list[GridLevel], config: GridConfig, market: MarketInfo, session: str,
                mark: Decimal) -> Plan:  # fmt: skip
    plan = Plan()
    for side in Side:
        _side_plan(plan, levels, side, config=config, market=market, session=session, mark=mark)
    return plan


def _side_plan(
    plan: Plan,
    levels: list[GridLevel],
    side: Side,
    *,
    config: GridConfig,
    market: MarketInfo,
    session: str,
    mark: Decimal,
) -> None:
    band = config.activation_band_pct
    live = [lv for lv in levels if lv.state.live and lv.side is side]
    leaving = [lv for lv in live if lv.state in _RESTING and not ladder.in_band(lv.price, mark, band)]
    candidates = [
        lv for lv in levels
        if lv.state.free and ladder.placeable(side, lv.price, mark) and ladder.in_band(lv.price, mark, band)
        and order_size(market, lv.owed(side), lv.price) is not None
    ]  # fmt: skip
    staying = [lv for lv in live if lv.index not in {x.index for x in leaving}]
    keep = ladder.nearest(staying + candidates, mark, config.max_open_orders_per_side)
    kept = {lv.index for lv in keep}
    leaving += [lv for lv in staying if lv.index not in kept and lv.state in _RESTING]
    for level in leaving:
        level.move_to(LevelState.CANCELLING)
        assert level.client_order_index is not None  # resting orders were acknowledged
        plan.cancel.append(Cancel(client_order_index=level.client_order_index, level=level.index))
    room = config.max_open_orders_per_side - len(live)  # a cancelled order's slot frees once it ends
    tif = TimeInForce.POST_ONLY if config.post_only else TimeInForce.GTT
    new = {lv.index for lv in candidates}
    for level in [lv for lv in keep if lv.index in new][: max(room, 0)]:
        size = order_size(market, level.owed(side), level.price)
        assert size is not None
        level.place(side, size)
        plan.place.append(
            Placement(
                key=level.key(session), level=level.index, side=side, price=level.price, size=size, tif=tif
            )
        )


def cancel_all(levels: list[GridLevel]) -> Plan:
    """Cancel every resting order of the ladder (a stop, a rebuild)."""
    plan = Plan()
    for level in levels:
        if level.state in _RESTING:
            level.move_to(LevelState.CANCELLING)
            assert level.client_order_index is not None
            plan.cancel.append(Cancel(client_order_index=level.client_order_index, level=level.index))
    return plan
