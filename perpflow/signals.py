"""Facts the market-data worker signals into workflows (past tense), and their names.

Workflow handlers take these payloads loosely (a dict) and validate inside, so a malformed
signal is recorded as rejected instead of being dropped by the converter.
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum

from pydantic import AwareDatetime, Field

from perpflow.models import Model
from perpflow.venues.types import Side

ORDER_FILLED = "order_filled"
PRICE_CROSSED = "price_crossed"
FEED_CHANGED = "feed_changed"


class OrderFilled(Model):
    """One fill increment of one of a workflow's orders. ``fill_id`` is unique per fill and side."""

    fill_id: str
    venue: str
    account_index: int
    market: str
    client_order_index: int
    order_index: int
    side: Side
    price: Decimal = Field(gt=0)
    size: Decimal = Field(gt=0)
    fee: Decimal = Decimal(0)
    is_maker: bool
    at: AwareDatetime
    # The market's mid when the market-data worker routed the fill (None: it keeps no book there).
    mid: Decimal | None = None

    def market_price(self) -> Decimal:
        """Where the market is, as far as this fill tells: its mid when that is at or past the
        fill's price the way a maker fill moves it (a buy fills as the price falls to it), else the
        fill's price (a mid read before the move, or a taker's fill)."""
        mid = self.mid
        if mid is None or not self.is_maker:
            return self.price
        past = mid <= self.price if self.side is Side.BUY else mid >= self.price
        return mid if past else self.price


class Direction(StrEnum):
    UP = "up"  # the price rose through the level
    DOWN = "down"


class PriceCrossed(Model):
    watch_id: int
    venue: str
    market: str
    level: Decimal
    direction: Direction
    price: Decimal
    at: AwareDatetime


class FeedState(StrEnum):
    UP = "up"  # connected, and what the outage hid (fills, the book) is caught up
    DOWN = "down"  # disconnected or stale: fills and crossings may be late


class FeedChanged(Model):
    """One of the worker's streams went down, or is up again and caught up: the fills it missed
    were signalled before this. ``epoch`` grows with every change the worker reports, across its
    restarts: keep the highest per ``stream`` and ignore a signal at or below it (a duplicate,
    or one overtaken by a later change). A new ``up`` epoch is a reconnect to reconcile after."""

    venue: str
    stream: str  # "books", or "account-{index}" for an account's fills
    account_index: int | None = None  # None: the book stream, every watched market of the venue
    state: FeedState
    since: AwareDatetime
    epoch: int
