"""Decimal <-> the venue's scaled integers, refusing anything the market cannot represent.

Silent rounding of a price or size is how a bot ends up with an order it never meant.
"""

from __future__ import annotations

from decimal import Decimal

from perpflow.venues.errors import Unrepresentable
from perpflow.venues.types import MarketInfo


def to_ticks(value: Decimal, decimals: int, what: str, market: str) -> int:
    scaled = value.scaleb(decimals)
    if scaled != scaled.to_integral_value():
        raise Unrepresentable(f"{market} {what} {value} has more than {decimals} decimals")
    return int(scaled)


def base_amount(market: MarketInfo, size: Decimal) -> int:
    return to_ticks(size, market.size_decimals, "size", market.symbol)


def price_ticks(market: MarketInfo, price: Decimal) -> int:
    return to_ticks(price, market.price_decimals, "price", market.symbol)


def check_minimums(market: MarketInfo, size: Decimal, price: Decimal) -> None:
    if size < market.min_base_amount:
        raise Unrepresentable(f"{market.symbol} size {size} is below the minimum {market.min_base_amount}")
    if size * price < market.min_quote_amount:
        raise Unrepresentable(
            f"{market.symbol} notional {size * price} is below the minimum {market.min_quote_amount}"
        )


def order_ticks(market: MarketInfo, size: Decimal, price: Decimal) -> tuple[int, int]:
    """An order's size and price in the market's integers, if the market can take it at all."""
    ticks = base_amount(market, size), price_ticks(market, price)
    check_minimums(market, size, price)
    return ticks
