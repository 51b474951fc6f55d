"""The ladder: level prices on the market's tick, sizes on its lot, the sides a fresh grid starts
with, and which levels may rest an order now (activation band, orders per side, nearest first)."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Decimal
from itertools import pairwise

from perpflow.grid.config import GridConfig, GridMode, SizeUnit, Spacing
from perpflow.grid.errors import LadderError
from perpflow.grid.levels import GridLevel
from perpflow.venues.base import VenueName
from perpflow.venues.types import MarketInfo, Side


def _quantum(decimals: int) -> Decimal:
    return Decimal(1).scaleb(-decimals)


def level_prices(config: GridConfig, market: MarketInfo) -> list[Decimal]:
    """``levels`` prices from lower to upper, both bounds exact, the rest rounded to the tick."""
    tick = _quantum(market.price_decimals)
    lower, upper, n = config.lower, config.upper, config.levels
    for name, bound in (("lower", lower), ("upper", upper)):
        if bound.quantize(tick) != bound:
            raise LadderError(f"{market.symbol} {name} {bound} is not on the tick {tick}")
    if config.spacing is Spacing.ARITHMETIC:
        step = (upper - lower) / (n - 1)
        raw = [lower + step * i for i in range(n)]
    else:
        ratio = (upper / lower) ** (Decimal(1) / (n - 1))
        raw = [lower * ratio**i for i in range(n)]
    prices = [lower, *(p.quantize(tick, ROUND_HALF_EVEN) for p in raw[1:-1]), upper]
    for below, above in pairwise(prices):
        if above <= below:
            raise LadderError(
                f"{market.symbol}: {n} levels between {lower} and {upper} are closer than the tick {tick}"
            )
        # A round trip pays the maker fee twice (fees are in percent of notional).
        if market.maker_fee and (above - below) / below * 100 <= 2 * market.maker_fee:
            raise LadderError(
                f"{market.symbol}: the step {below} -> {above} does not cover twice the maker fee "
                f"({market.maker_fee} %)"
            )
    return prices


def lot(config: GridConfig, market: MarketInfo) -> Decimal:
    """The market's size step: Lighter's is its size decimals; GRVT's is its minimum size (the
    market info's ``min_base_amount``), which need not be a power of ten (0.005)."""
    if config.venue is VenueName.GRVT and market.min_base_amount > 0:
        return market.min_base_amount
    return _quantum(market.size_decimals)


def level_size(config: GridConfig, market: MarketInfo, price: Decimal, on_lot: bool = True) -> Decimal:
    """The base size of a level at ``price``; at least the market's minimums. A base size must be
    a multiple of the lot (never cut silently); a quote size is rounded down to the lot.
    ``on_lot=False`` is the old rule (down to the size decimals), kept for sessions begun with it."""
    raw = config.size if config.size_unit is SizeUnit.BASE else config.size / price
    size = raw.quantize(_quantum(market.size_decimals), ROUND_DOWN)
    minimum = f"the market's lot is {lot(config, market)}, minimum {market.min_base_amount} base, " \
        f"{market.min_quote_amount} quote"  # fmt: skip
    if on_lot:
        size -= size % lot(config, market)
        if config.size_unit is SizeUnit.BASE and size != config.size:
            raise LadderError(
                f"{market.symbol}: size {config.size} base is not a multiple of the lot ({minimum})"
            )
    if size <= 0 or size < market.min_base_amount or size * price < market.min_quote_amount:
        raise LadderError(
            f"{market.symbol}: size {config.size} {config.size_unit} gives {size} at {price}, below the "
            f"market's minimum ({minimum})"
        )
    return size


def gap_index(prices: list[Decimal], mark: Decimal) -> int:
    """The level nearest the price (the lower one on a tie): a neutral grid's gap."""
    return min(range(len(prices)), key=lambda i: (abs(prices[i] - mark), i))


def build(
    config: GridConfig, market: MarketInfo, mark: Decimal, first_generation: int = 0, on_lot: bool = True
) -> list[GridLevel]:
    """A fresh ladder at ``mark``, owing each level's entry side as the mode says; sizes as
    ``level_size`` says."""
    prices = level_prices(config, market)
    top, gap = len(prices) - 1, gap_index(prices, mark)
    levels = []
    for i, price in enumerate(prices):
        level = GridLevel(
            index=i, price=price, size=level_size(config, market, price, on_lot), generation=first_generation
        )
        side = _entry_side(config.mode, i, top, gap)
        if side is not None:
            level.owe(side, level.size)
        levels.append(level)
    return levels


def _entry_side(mode: GridMode, i: int, top: int, gap: int) -> Side | None:
    if mode is GridMode.LONG:
        return Side.BUY if i < top else None
    if mode is GridMode.SHORT:
        return Side.SELL if i > 0 else None
    if i == gap:
        return None
    return Side.BUY if i < gap else Side.SELL


def placeable(side: Side, price: Decimal, mark: Decimal) -> bool:
    """A resting order never crosses the price: buys below it, sells above it."""
    return price < mark if side is Side.BUY else price > mark


def in_band(price: Decimal, mark: Decimal, band_pct: Decimal | None) -> bool:
    return band_pct is None or abs(price - mark) / mark * 100 <= band_pct


def nearest(levels: Iterable[GridLevel], mark: Decimal, count: int) -> list[GridLevel]:
    """The ``count`` levels nearest the price (the lower one first on a tie)."""
    return sorted(levels, key=lambda lv: (abs(lv.price - mark), lv.index))[: max(count, 0)]
