"""Pure price arithmetic for hedge cycles (deterministic: safe inside workflows)."""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from perpflow.venues.types import Book, MarketInfo, Side


def quantum(market: MarketInfo) -> Decimal:
    return Decimal(1).scaleb(-market.price_decimals)


def maker_price(book: Book, side: Side, depth: int) -> Decimal | None:
    """The price at depth N on our own side of the book (1 = the best bid/ask)."""
    levels = book.bids if side is Side.BUY else book.asks
    if not levels:
        return None
    return levels[min(depth, len(levels)) - 1].price


def worst_price(market: MarketInfo, side: Side, reference: Decimal, slippage: Decimal) -> Decimal:
    """The worst acceptable price of a market order, rounded onto the tick on the strict side."""
    if side is Side.BUY:
        return (reference * (1 + slippage)).quantize(quantum(market), rounding=ROUND_FLOOR)
    return (reference * (1 - slippage)).quantize(quantum(market), rounding=ROUND_CEILING)


def round_price(market: MarketInfo, price: Decimal) -> Decimal:
    return price.quantize(quantum(market))


def round_size_down(market: MarketInfo, size: Decimal) -> Decimal:
    return size.quantize(Decimal(1).scaleb(-market.size_decimals), rounding=ROUND_FLOOR)


def crossing_price(position: Decimal, cash: Decimal, pnl: Decimal) -> Decimal | None:
    """The mark at which a leg's floating PnL (position * mark + cash) equals ``pnl``."""
    if position == 0:
        return None
    price = (pnl - cash) / position
    return price if price > 0 else None
