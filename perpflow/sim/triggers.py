"""Orders waiting for their trigger, released when the mark price crosses it."""

from __future__ import annotations

from perpflow.sim.enums import OrderKind, Side
from perpflow.sim.order import Order

_STOPS = frozenset({OrderKind.STOP_MARKET, OrderKind.STOP_LIMIT})


def _due(order: Order, mark: int) -> bool:
    # A stop sells when the price falls to the trigger (buys when it rises); take-profit mirrors it.
    rising = (order.side is Side.SELL) != (order.kind in _STOPS)
    return mark >= order.trigger_price if rising else mark <= order.trigger_price


class TriggerBook:
    def __init__(self) -> None:
        self._pending: dict[int, dict[int, Order]] = {}

    def add(self, order: Order) -> None:
        self._pending.setdefault(order.market_id, {})[order.order_index] = order

    def remove(self, order: Order) -> None:
        self._pending.get(order.market_id, {}).pop(order.order_index, None)

    def fire(self, market_id: int, mark: int) -> list[Order]:
        pending = self._pending.get(market_id)
        if not pending:
            return []
        due = [o for o in pending.values() if _due(o, mark)]
        for order in due:
            del pending[order.order_index]
        return due
