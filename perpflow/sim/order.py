"""Engine-side order and trade records (integers only; wire.py renders them)."""

from __future__ import annotations

from dataclasses import dataclass, field

from perpflow.sim.enums import OrderStatus, OrderType, TimeInForce

# Lighter's order indexes live at or above 2**48 so they never collide with client indexes.
ORDER_INDEX_BASE = 1 << 48
MAX_CLIENT_ORDER_INDEX = (1 << 48) - 1


@dataclass(slots=True, eq=False)
class Order:
    order_index: int
    client_order_index: int
    market_id: int
    account: int
    is_ask: bool
    price: int
    initial: int
    type: OrderType
    tif: TimeInForce
    reduce_only: bool
    trigger_price: int
    expiry_ms: int
    nonce: int
    created_ms: int
    remaining: int = 0
    filled_base: int = 0
    filled_quote: int = 0
    status: OrderStatus = OrderStatus.IN_PROGRESS
    updated_ms: int = 0
    version: int = 1  # modify bumps it; L2TxAttributes "8" must match when given

    def __post_init__(self) -> None:
        self.remaining = self.initial
        self.updated_ms = self.created_ms

    @property
    def resting(self) -> bool:
        return self.status is OrderStatus.OPEN


@dataclass(slots=True, frozen=True)
class Trade:
    trade_id: int
    tx_hash: str
    market_id: int
    size: int
    price: int
    ask_id: int
    bid_id: int
    ask_client_id: int
    bid_client_id: int
    ask_account: int
    bid_account: int
    is_maker_ask: bool
    timestamp_ms: int
    taker_fee: int
    maker_fee: int
    taker_position_before: int
    maker_position_before: int
    extra: dict[str, int] = field(default_factory=dict)

    @property
    def usd_amount(self) -> int:
        return self.size * self.price
