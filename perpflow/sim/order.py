"""Engine-side order and trade records (integers only; each face renders them)."""

from __future__ import annotations

from dataclasses import dataclass

from perpflow.sim.enums import CancelReason, OrderKind, OrderStatus, Side, TimeInForce

# Order indexes start at 2**48, above every client order index a face accepts, so one number
# can name either (Lighter's cancel and modify rely on that).
ORDER_INDEX_BASE = 1 << 48


@dataclass(slots=True, eq=False)
class Order:
    order_index: int
    client_order_index: int  # 0 = none
    market_id: int
    account: int
    side: Side
    price: int
    initial: int
    kind: OrderKind
    tif: TimeInForce
    reduce_only: bool
    trigger_price: int
    expiry_ms: int
    nonce: int  # the signed request's nonce, as the face received it
    created_ms: int
    remaining: int = 0
    filled_base: int = 0
    filled_quote: int = 0
    status: OrderStatus = OrderStatus.ACCEPTED
    cancel_reason: CancelReason | None = None
    updated_ms: int = 0
    version: int = 1  # modify bumps it

    def __post_init__(self) -> None:
        self.remaining = self.initial
        self.updated_ms = self.created_ms


@dataclass(slots=True, frozen=True)
class NewOrder:
    """An order as a face asks for it, before the engine accepts it."""

    market_id: int
    client_order_index: int
    base_amount: int
    price: int
    side: Side
    kind: OrderKind
    tif: TimeInForce
    reduce_only: bool = False
    trigger_price: int = 0
    expiry_ms: int = 0
    nonce: int = 0

    def accept(self, order_index: int, account: int, now_ms: int) -> Order:
        return Order(
            order_index=order_index,
            client_order_index=self.client_order_index,
            market_id=self.market_id,
            account=account,
            side=self.side,
            price=self.price,
            initial=self.base_amount,
            kind=self.kind,
            tif=self.tif,
            reduce_only=self.reduce_only,
            trigger_price=self.trigger_price,
            expiry_ms=self.expiry_ms,
            nonce=self.nonce,
            created_ms=now_ms,
        )


@dataclass(slots=True, frozen=True)
class Trade:
    trade_id: int
    ref: str  # the face's name for the request that took liquidity (Lighter: its tx hash)
    market_id: int
    size: int
    price: int
    ask_id: int
    bid_id: int
    ask_client_id: int
    bid_client_id: int
    ask_account: int
    bid_account: int
    maker_side: Side
    timestamp_ms: int
    taker_fee: int
    maker_fee: int
    taker_position_before: int
    maker_position_before: int

    @property
    def usd_amount(self) -> int:
        return self.size * self.price
