"""lighter-sdk response models -> perpflow venue types (parsed once, Decimal prices)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from perpflow.venues.lighter import constants as c
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


def _dec(value: Any, default: str = "0") -> Decimal:
    return Decimal(str(value)) if value not in (None, "") else Decimal(default)


def market(detail: Any) -> MarketInfo:
    imf = detail.default_initial_margin_fraction
    return MarketInfo(
        symbol=detail.symbol,
        market_id=int(detail.market_id),
        size_decimals=int(detail.size_decimals),
        price_decimals=int(detail.price_decimals),
        min_base_amount=_dec(detail.min_base_amount),
        min_quote_amount=_dec(detail.min_quote_amount),
        # Lighter gives margin fractions in basis points of 1/10000 (500 = 5 %).
        initial_margin_fraction=_dec(imf, "500") / 10_000,
        taker_fee=_dec(getattr(detail, "taker_fee", None)),
        maker_fee=_dec(getattr(detail, "maker_fee", None)),
    )


def levels(orders: list[Any] | None) -> list[BookLevel]:
    """Resting orders aggregated per price, in the venue's order (best first)."""
    out: list[BookLevel] = []
    for o in orders or []:
        price, size = _dec(o.price), _dec(o.remaining_base_amount)
        if out and out[-1].price == price:
            out[-1] = BookLevel(price=price, size=out[-1].size + size)
        elif size > 0:
            out.append(BookLevel(price=price, size=size))
    return out


def status(word: str) -> OrderStatus:
    if word == "filled":
        return OrderStatus.FILLED
    if word.startswith("canceled"):
        return OrderStatus.CANCELED
    if word == "pending":
        return OrderStatus.PENDING
    return OrderStatus.OPEN


def order(o: Any, symbol: str) -> VenueOrder:
    return VenueOrder(
        market=symbol,
        order_index=int(o.order_index),
        client_order_index=int(o.client_order_index),
        side=Side.SELL if o.is_ask else Side.BUY,
        price=_dec(o.price),
        size=_dec(o.initial_base_amount),
        filled_size=_dec(o.filled_base_amount),
        filled_quote=_dec(o.filled_quote_amount),
        remaining_size=_dec(o.remaining_base_amount),
        status=status(str(o.status)),
        reason=str(o.status),
        reduce_only=bool(o.reduce_only),
    )


def fill(t: Any, account_index: int, symbol: str) -> VenueFill:
    seller = int(t.ask_account_id) == account_index
    side = Side.SELL if seller else Side.BUY
    is_maker = bool(t.is_maker_ask) if seller else not bool(t.is_maker_ask)
    fee = getattr(t, "maker_fee" if is_maker else "taker_fee", None)
    return VenueFill(
        # Both sides of a trade may be ours (two accounts); the side keeps fill ids distinct.
        fill_id=f"{c.VENUE}-{t.trade_id}-{side.value}",
        market=symbol,
        order_index=int(t.ask_id if seller else t.bid_id),
        client_order_index=int((t.ask_client_id if seller else t.bid_client_id) or 0),
        side=side,
        price=_dec(t.price),
        size=_dec(t.size),
        fee=_dec(fee),
        is_maker=is_maker,
        at=datetime.fromtimestamp(int(t.timestamp) / 1000, tz=UTC),
    )


def signed_size(position: Any, sign: Any) -> Decimal:
    """A position's signed size: Lighter sends the size unsigned and ``sign`` -1 for a short."""
    return _dec(position) * (1 if int(sign or 1) >= 0 else -1)


def account(a: Any, symbols: dict[int, str]) -> AccountState:
    positions = []
    for p in a.positions or []:
        size = signed_size(p.position, p.sign)
        positions.append(
            PositionInfo(
                market=symbols.get(int(p.market_id), str(p.symbol)),
                size=size,
                avg_entry_price=_dec(p.avg_entry_price),
                unrealized_pnl=_dec(p.unrealized_pnl),
                realized_pnl=_dec(p.realized_pnl),
            )
        )
    return AccountState(
        account_index=int(a.index if a.index is not None else a.account_index),
        collateral=_dec(a.collateral),
        available_balance=_dec(a.available_balance),
        positions=positions,
    )
