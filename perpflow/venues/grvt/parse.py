"""grvt-pysdk's response dataclasses (or websocket feeds read the same way) -> perpflow venue types.

Functions read attributes, so a websocket feed's dict goes through ``SimpleNamespace`` and REST
and websocket fills share one id scheme.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from perpflow.venues.grvt import constants as c
from perpflow.venues.grvt.signing import client_order_index
from perpflow.venues.types import (
    AccountState,
    BookLevel,
    MarketInfo,
    OrderStatus,
    PositionInfo,
    Side,
    VenueFill,
    VenueOrder,
)

# GRVT's order ids are 128-bit; perpflow's order index is a 63-bit integer (the ledger's BIGINT).
# Ours is a hash of the id with bit 62 set: always above every client order index (< 2^48), so a
# cancel can tell the two apart.
ORDER_INDEX_FLAG = 1 << 62

_STATUS = {
    "PENDING": OrderStatus.PENDING,
    "OPEN": OrderStatus.OPEN,
    "FILLED": OrderStatus.FILLED,
    "REJECTED": OrderStatus.CANCELED,
    "CANCELLED": OrderStatus.CANCELED,
}


def _dec(value: Any, default: str = "0") -> Decimal:
    return Decimal(str(value)) if value not in (None, "") else Decimal(default)


def _word(value: Any) -> str:
    return str(value.value if isinstance(value, Enum) else value)


def _decimals(step: Decimal) -> int:
    return max(0, -int(step.normalize().as_tuple().exponent))


def order_index(order_id: str | None) -> int:
    """0 for the placeholder create_order answers with before the engine assigns the id."""
    if order_id is None or order_id in c.PLACEHOLDER_IDS:
        return 0
    digest = hashlib.blake2b(order_id.lower().encode(), digest_size=8).digest()
    return ORDER_INDEX_FLAG | (int.from_bytes(digest, "big") & (ORDER_INDEX_FLAG - 1))


def market(inst: Any) -> MarketInfo:
    tick, min_size = _dec(inst.tick_size), _dec(inst.min_size)
    return MarketInfo(
        symbol=inst.instrument,
        market_id=int(str(inst.instrument_hash), 16),
        size_decimals=_decimals(min_size),
        price_decimals=_decimals(tick),
        min_base_amount=min_size,
        min_quote_amount=_dec(getattr(inst, "min_notional", None)),
    )


def levels(raw: list[Any] | None) -> list[BookLevel]:
    return [BookLevel(price=_dec(lv.price), size=_dec(lv.size)) for lv in raw or [] if _dec(lv.size) > 0]


def _first(values: list[Any] | None) -> Decimal:
    return _dec(values[0]) if values else Decimal(0)


def order(o: Any) -> VenueOrder:
    leg, state = o.legs[0], o.state
    status = _word(state.status) if state is not None else "PENDING"
    reason = _word(state.reject_reason) if state is not None and state.reject_reason else ""
    filled = _first(state.traded_size) if state is not None else Decimal(0)
    size = _dec(leg.size)
    remaining = _first(state.book_size) if state is not None and state.book_size else size - filled
    avg = _first(state.avg_fill_price) if state is not None else Decimal(0)
    return VenueOrder(
        market=leg.instrument,
        order_index=order_index(o.order_id),
        client_order_index=client_order_index(int(o.metadata.client_order_id)),
        side=Side.BUY if leg.is_buying_asset else Side.SELL,
        price=_dec(leg.limit_price),
        size=size,
        filled_size=filled,
        filled_quote=filled * avg,
        remaining_size=remaining if _STATUS.get(status) is not OrderStatus.FILLED else Decimal(0),
        status=_STATUS.get(status, OrderStatus.OPEN),
        reason=reason if reason and reason != "UNSPECIFIED" else status.lower(),
        reduce_only=bool(o.reduce_only),
    )


def _at(ns: Any) -> datetime:
    return datetime.fromtimestamp(int(ns) / 1e9, tz=UTC)


def fill(f: Any) -> VenueFill:
    side = Side.BUY if f.is_buyer else Side.SELL
    return VenueFill(
        # Both sides of a trade may be ours (two sub-accounts); the side keeps fill ids distinct.
        fill_id=f"{c.VENUE}-{f.trade_id}-{side.value}",
        market=f.instrument,
        order_index=order_index(f.order_id),
        client_order_index=client_order_index(int(f.client_order_id or 0)),
        side=side,
        price=_dec(f.price),
        size=_dec(f.size),
        fee=_dec(f.fee),
        is_maker=not f.is_taker,
        at=_at(f.event_time),
    )


def position(p: Any) -> PositionInfo:
    return PositionInfo(
        market=p.instrument,
        size=_dec(p.size),
        avg_entry_price=_dec(p.entry_price),
        unrealized_pnl=_dec(p.unrealized_pnl),
        realized_pnl=_dec(p.realized_pnl),
    )


def account(summary: Any, positions: list[Any]) -> AccountState:
    return AccountState(
        account_index=int(summary.sub_account_id),
        collateral=_dec(summary.total_equity),
        available_balance=_dec(summary.available_balance),
        positions=[position(p) for p in positions if _dec(p.size) != 0],
    )
