"""Sizes both legs of a cycle can trade, by each leg's market: its lot (size step) and minimums.

On one market both legs share them. Across venues they differ (GRVT's ETH lot is 0.001, Lighter's
0.0001): a maker quote is sized on the coarser lot and above both minimums, so a quote that fills
in full is hedged in full; a part fill may leave less than the hedge market's lot or minimum
unhedged until more of the quote fills. Pure and deterministic: used inside workflows.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal

from perpflow.venues.types import MarketInfo


def round_down(size: Decimal, decimals: int) -> Decimal:
    return size.quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_FLOOR)


def tradable(market: MarketInfo, size: Decimal, price: Decimal | None) -> bool:
    """At least the market's minimum size and, when the price is known, its minimum notional."""
    if size < market.min_base_amount:
        return False
    return price is None or size * price >= market.min_quote_amount


@dataclass(frozen=True)
class LegMarkets:
    maker: MarketInfo
    taker: MarketInfo

    def quote(self, size: Decimal, price: Decimal | None = None) -> Decimal:
        """A maker quote of up to ``size``: on both lots, or 0 when either market would refuse it
        (or its hedge). ``price`` None: minimum sizes only."""
        size = round_down(size, min(self.maker.size_decimals, self.taker.size_decimals))
        return size if tradable(self.maker, size, price) and tradable(self.taker, size, price) else Decimal(0)

    def hedge(self, need: Decimal, price: Decimal | None = None) -> Decimal:
        """The part of ``need`` one hedge order can carry on the taker's market, or 0."""
        size = round_down(need, self.taker.size_decimals)
        return size if tradable(self.taker, size, price) else Decimal(0)

    def smallest_quote(self) -> Decimal:
        """The smallest size both markets take (their notional minimums aside)."""
        return max(self.maker.min_base_amount, self.taker.min_base_amount)
