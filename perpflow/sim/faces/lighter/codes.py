"""Lighter's numbers and words for the engine's terms (lighter-api.md §3, §10)."""

from __future__ import annotations

from enum import IntEnum

from perpflow.sim.enums import CancelReason, OrderKind, OrderStatus, TimeInForce
from perpflow.sim.order import Order


class TxType(IntEnum):
    CREATE_ORDER = 14
    CANCEL_ORDER = 15
    CANCEL_ALL = 16
    MODIFY_ORDER = 17
    UPDATE_LEVERAGE = 20
    UPDATE_MARGIN = 29


class CancelAllMode(IntEnum):
    IMMEDIATE = 0
    SCHEDULED = 1
    ABORT = 2


ORDER_KINDS = {
    0: OrderKind.LIMIT,
    1: OrderKind.MARKET,
    2: OrderKind.STOP_MARKET,
    3: OrderKind.STOP_LIMIT,
    4: OrderKind.TAKE_PROFIT_MARKET,
    5: OrderKind.TAKE_PROFIT_LIMIT,
}
KIND_WORDS = {
    OrderKind.LIMIT: "limit",
    OrderKind.MARKET: "market",
    OrderKind.STOP_MARKET: "stop-loss",
    OrderKind.STOP_LIMIT: "stop-loss-limit",
    OrderKind.TAKE_PROFIT_MARKET: "take-profit",
    OrderKind.TAKE_PROFIT_LIMIT: "take-profit-limit",
}
TIMES_IN_FORCE = {
    0: TimeInForce.IMMEDIATE_OR_CANCEL,
    1: TimeInForce.GOOD_TILL_TIME,
    2: TimeInForce.POST_ONLY,
}
TIF_WORDS = {
    TimeInForce.IMMEDIATE_OR_CANCEL: "immediate-or-cancel",
    TimeInForce.GOOD_TILL_TIME: "good-till-time",
    TimeInForce.POST_ONLY: "post-only",
}
_STATUS_WORDS = {
    OrderStatus.ACCEPTED: "in-progress",
    OrderStatus.WAITING_TRIGGER: "pending",
    OrderStatus.OPEN: "open",
    OrderStatus.FILLED: "filled",
}
_CANCEL_WORDS = {
    CancelReason.CLIENT: "canceled",
    CancelReason.CLIENT_ALL: "canceled",
    CancelReason.SCHEDULED_ALL: "canceled",
    CancelReason.UNFILLED: "canceled",
    CancelReason.NO_LIQUIDITY: "canceled-not-enough-liquidity",
    CancelReason.POST_ONLY: "canceled-post-only",
    CancelReason.REDUCE_ONLY: "canceled-reduce-only",
    CancelReason.REDUCE_ONLY_LIMIT: "canceled-reduce-only",
    CancelReason.MARGIN: "canceled-margin-not-allowed",
    CancelReason.SELF_TRADE: "canceled-self-trade",
    CancelReason.EXPIRED: "canceled-expired",
}


def status_word(order: Order) -> str:
    if order.cancel_reason is not None:
        return _CANCEL_WORDS[order.cancel_reason]
    return _STATUS_WORDS[order.status]
