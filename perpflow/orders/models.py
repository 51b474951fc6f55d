"""Payloads of the order activities (one model in, one out)."""

from __future__ import annotations

from decimal import Decimal

from pydantic import AwareDatetime, Field, model_validator

from perpflow.models import Model
from perpflow.venues.base import VenueName
from perpflow.venues.types import (
    AccountState,
    Book,
    OrderKind,
    OrderStatus,
    Side,
    TimeInForce,
    VenueFill,
    VenueOrder,
)


class OrderIntent(Model):
    """What a workflow wants placed. ``key`` makes it one order however often it is retried."""

    key: str = Field(min_length=3, max_length=300)  # names.order_key(workflow_id, step)
    workflow_id: str
    venue: VenueName = VenueName.LIGHTER
    account_index: int = Field(ge=0)
    market: str
    side: Side
    kind: OrderKind = OrderKind.LIMIT
    tif: TimeInForce = TimeInForce.GTT
    size: Decimal = Field(gt=0)
    price: Decimal = Field(gt=0)  # limit price, or the worst acceptable price of a market order
    reduce_only: bool = False
    # The maker fill this order hedges (the venue's time of it): the signer measures the hedge
    # latency from it. Not part of the order: the ledger does not keep it.
    hedges_fill_at: AwareDatetime | None = None

    def same_order_as(self, other: OrderIntent) -> bool:
        apart = {"key", "hedges_fill_at"}
        return self.model_dump(exclude=apart) == other.model_dump(exclude=apart)


class OrderAck(Model):
    key: str
    market: str
    client_order_index: int
    order_index: int | None = None
    status: OrderStatus
    reason: str = ""
    filled_size: Decimal = Decimal(0)
    filled_quote: Decimal = Decimal(0)
    remaining_size: Decimal = Decimal(0)
    sent_now: bool  # False when an earlier attempt had already placed it
    # In a batch: the failure place_order would have ended with (its type's name), this order's alone.
    refusal: str = ""
    # The venue shows no such order, resting or ended: what the ledger recorded answered (an order
    # not indexed yet, or one the venue no longer knows).
    unseen: bool = False

    @classmethod
    def of(cls, order: VenueOrder, key: str = "", *, sent_now: bool = False) -> OrderAck:
        return cls(
            key=key, market=order.market, client_order_index=order.client_order_index,
            order_index=order.order_index, status=order.status, reason=order.reason,
            filled_size=order.filled_size, filled_quote=order.filled_quote,
            remaining_size=order.remaining_size, sent_now=sent_now,
        )  # fmt: skip


# Orders one place_orders call carries: a ladder of a few hundred levels, sent in the venue's batches.
MAX_BATCH_INTENTS = 500


class OrderBatch(Model):
    """Orders for one account and market, placed together; each intent exactly once by its key."""

    intents: list[OrderIntent] = Field(min_length=1, max_length=MAX_BATCH_INTENTS)

    @model_validator(mode="after")
    def _one_account_and_market(self) -> OrderBatch:
        first = self.intents[0]
        where = {(i.venue, i.account_index, i.market) for i in self.intents}
        if where != {(first.venue, first.account_index, first.market)}:
            raise ValueError("a batch's intents are all for one venue, account and market")
        if len({i.key for i in self.intents}) != len(self.intents):
            raise ValueError("a batch's intents have distinct keys")
        return self


class OrderAcks(Model):
    acks: list[OrderAck]  # one per intent, in the batch's order


class OrderRef(Model):
    """An order of ours, by the client order index perpflow gave it (or the venue's index)."""

    account_index: int
    market: str
    client_order_index: int | None = None
    order_index: int | None = None

    @property
    def index(self) -> int:
        ref = self.order_index if self.order_index is not None else self.client_order_index
        if ref is None:
            raise ValueError("an order reference needs client_order_index or order_index")
        return ref


class CancelAll(Model):
    account_index: int
    market: str | None = None  # None: every market


class Modify(Model):
    order: OrderRef
    size: Decimal = Field(gt=0)
    price: Decimal = Field(gt=0)


class AccountQuery(Model):
    account_index: int
    market: str | None = None


class OpenOrders(Model):
    orders: list[OrderAck]


class BookQuery(Model):
    market: str
    depth: int = Field(default=10, ge=1, le=100)


class MarketQuery(Model):
    market: str


class AwaitFill(Model):
    """Wait (heartbeating) until the order fills beyond ``known_filled`` or ends, or time is up."""

    order: OrderRef
    known_filled: Decimal = Decimal(0)
    timeout_s: float = Field(gt=0, le=3600)
    poll_s: float = Field(default=1.0, gt=0, le=60)


class BookSnapshot(Model):
    book: Book


class AccountSnapshot(Model):
    account: AccountState


class FillsQuery(Model):
    account_index: int
    market: str | None = None
    cursor: str | None = None


class FillsPage(Model):
    fills: list[VenueFill]
    cursor: str | None


class NonceState(Model):
    account_index: int
    api_key_index: int
    next_nonce: int
