"""Venue-neutral data: markets, books, orders, fills, positions. Decimal everywhere."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from pydantic import AwareDatetime, Field, SecretStr

from perpflow.models import Model


@dataclass(frozen=True)
class Proxy:
    """The HTTP proxy an account's traffic goes through (REST and websockets alike)."""

    url: str
    username: str | None = None
    password: SecretStr | None = None


class Side(StrEnum):
    BUY = "buy"
    SELL = "sell"

    @property
    def opposite(self) -> Side:
        return Side.SELL if self is Side.BUY else Side.BUY

    @property
    def sign(self) -> int:
        return 1 if self is Side.BUY else -1


class OrderKind(StrEnum):
    LIMIT = "limit"
    MARKET = "market"  # IOC bounded by a worst price


class TimeInForce(StrEnum):
    GTT = "gtt"
    POST_ONLY = "post_only"
    IOC = "ioc"


class OrderStatus(StrEnum):
    """Lifecycle as perpflow sees it; ``reason`` on an order keeps the venue's own word."""

    PENDING = "pending"  # submitted, not (yet) visible on the venue
    OPEN = "open"
    FILLED = "filled"
    CANCELED = "canceled"

    @property
    def final(self) -> bool:
        return self in (OrderStatus.FILLED, OrderStatus.CANCELED)


class MarketInfo(Model):
    symbol: str
    market_id: int
    size_decimals: int
    price_decimals: int
    min_base_amount: Decimal
    min_quote_amount: Decimal
    initial_margin_fraction: Decimal = Decimal("0.05")
    taker_fee: Decimal = Decimal(0)
    maker_fee: Decimal = Decimal(0)


class BookLevel(Model):
    price: Decimal
    size: Decimal


class Book(Model):
    market: str
    bids: list[BookLevel]  # best first
    asks: list[BookLevel]  # best first

    @property
    def best_bid(self) -> Decimal | None:
        return self.bids[0].price if self.bids else None

    @property
    def best_ask(self) -> Decimal | None:
        return self.asks[0].price if self.asks else None

    @property
    def mid(self) -> Decimal | None:
        if self.best_bid is None or self.best_ask is None:
            return None
        return (self.best_bid + self.best_ask) / 2


class VenueOrder(Model):
    market: str
    order_index: int
    client_order_index: int
    side: Side
    price: Decimal
    size: Decimal
    filled_size: Decimal
    filled_quote: Decimal = Decimal(0)  # sum of size x price over the fills
    remaining_size: Decimal
    status: OrderStatus
    reason: str = ""  # the venue's status word, e.g. "canceled-post-only"
    reduce_only: bool = False


class VenueFill(Model):
    fill_id: str
    market: str
    order_index: int
    client_order_index: int
    side: Side
    price: Decimal
    size: Decimal
    fee: Decimal = Decimal(0)
    is_maker: bool
    at: AwareDatetime


class PositionInfo(Model):
    market: str
    size: Decimal  # signed: positive long, negative short
    avg_entry_price: Decimal
    unrealized_pnl: Decimal = Decimal(0)
    realized_pnl: Decimal = Decimal(0)


class AccountState(Model):
    account_index: int
    collateral: Decimal
    available_balance: Decimal
    positions: list[PositionInfo] = Field(default_factory=list)

    def position(self, market: str) -> PositionInfo:
        for p in self.positions:
            if p.market == market:
                return p
        return PositionInfo(market=market, size=Decimal(0), avg_entry_price=Decimal(0))


class OrderSpec(Model):
    """An order as the venue layer submits it (the client order index is already fixed)."""

    market: str
    client_order_index: int = Field(gt=0, lt=2**48)
    side: Side
    kind: OrderKind
    tif: TimeInForce
    size: Decimal = Field(gt=0)
    price: Decimal = Field(gt=0)  # limit price, or the worst acceptable price of a market order
    reduce_only: bool = False
    expiry: AwareDatetime | None = None
