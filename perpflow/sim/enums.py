"""The engine's own terms for orders; each face translates them to and from its venue's words."""

from __future__ import annotations

from enum import StrEnum


class Side(StrEnum):
    BUY = "buy"
    SELL = "sell"

    @property
    def opposite(self) -> Side:
        return Side.SELL if self is Side.BUY else Side.BUY


class OrderKind(StrEnum):
    LIMIT = "limit"
    MARKET = "market"
    STOP_MARKET = "stop_market"
    STOP_LIMIT = "stop_limit"
    TAKE_PROFIT_MARKET = "take_profit_market"
    TAKE_PROFIT_LIMIT = "take_profit_limit"

    @property
    def is_triggered(self) -> bool:
        return self in _RELEASED_AS

    @property
    def released_as(self) -> OrderKind:
        """What a triggered order becomes when its trigger price is crossed."""
        return _RELEASED_AS[self]


_RELEASED_AS = {
    OrderKind.STOP_MARKET: OrderKind.MARKET,
    OrderKind.TAKE_PROFIT_MARKET: OrderKind.MARKET,
    OrderKind.STOP_LIMIT: OrderKind.LIMIT,
    OrderKind.TAKE_PROFIT_LIMIT: OrderKind.LIMIT,
}


class TimeInForce(StrEnum):
    GOOD_TILL_TIME = "good_till_time"
    IMMEDIATE_OR_CANCEL = "immediate_or_cancel"
    POST_ONLY = "post_only"  # good till time, cancelled instead of taking


class OrderStatus(StrEnum):
    ACCEPTED = "accepted"  # validated, not yet through the book
    WAITING_TRIGGER = "waiting_trigger"
    OPEN = "open"
    FILLED = "filled"
    CANCELED = "canceled"  # see the order's CancelReason

    @property
    def is_active(self) -> bool:
        return self in (OrderStatus.OPEN, OrderStatus.WAITING_TRIGGER, OrderStatus.ACCEPTED)


class CancelReason(StrEnum):
    CLIENT = "client"
    CLIENT_ALL = "client_all"
    SCHEDULED_ALL = "scheduled_all"  # a cancel-all the account armed for later
    UNFILLED = "unfilled"  # the rest of an immediate-or-cancel or market order
    NO_LIQUIDITY = "no_liquidity"  # a market order that found nothing to take
    POST_ONLY = "post_only"  # a post-only order that would have taken
    REDUCE_ONLY = "reduce_only"  # a reduce-only order with nothing to reduce when placed
    REDUCE_ONLY_LIMIT = "reduce_only_limit"  # a reduce-only order's part beyond the position, at a trade
    MARGIN = "margin"
    SELF_TRADE = "self_trade"  # the resting side of a trade with oneself
    EXPIRED = "expired"
