"""Wire enums, with the exact strings and integers Lighter uses (lighter-api.md §3, §10)."""

from __future__ import annotations

from enum import IntEnum, StrEnum


class TxType(IntEnum):
    CREATE_ORDER = 14
    CANCEL_ORDER = 15
    CANCEL_ALL = 16
    MODIFY_ORDER = 17
    UPDATE_LEVERAGE = 20
    UPDATE_MARGIN = 29


class OrderType(IntEnum):
    LIMIT = 0
    MARKET = 1
    STOP_LOSS = 2
    STOP_LOSS_LIMIT = 3
    TAKE_PROFIT = 4
    TAKE_PROFIT_LIMIT = 5

    @property
    def wire(self) -> str:
        return self.name.lower().replace("_", "-")


class TimeInForce(IntEnum):
    IOC = 0
    GTT = 1
    POST_ONLY = 2

    @property
    def wire(self) -> str:
        return _TIF_WIRE[self]


_TIF_WIRE = {
    TimeInForce.IOC: "immediate-or-cancel",
    TimeInForce.GTT: "good-till-time",
    TimeInForce.POST_ONLY: "post-only",
}


class CancelAllMode(IntEnum):
    IMMEDIATE = 0
    SCHEDULED = 1
    ABORT = 2


class OrderStatus(StrEnum):
    IN_PROGRESS = "in-progress"
    PENDING = "pending"
    OPEN = "open"
    FILLED = "filled"
    CANCELED = "canceled"
    CANCELED_POST_ONLY = "canceled-post-only"
    CANCELED_REDUCE_ONLY = "canceled-reduce-only"
    CANCELED_MARGIN = "canceled-margin-not-allowed"
    CANCELED_NO_LIQUIDITY = "canceled-not-enough-liquidity"
    CANCELED_SELF_TRADE = "canceled-self-trade"
    CANCELED_EXPIRED = "canceled-expired"

    @property
    def is_active(self) -> bool:
        return self in (OrderStatus.OPEN, OrderStatus.PENDING, OrderStatus.IN_PROGRESS)
