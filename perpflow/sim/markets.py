"""Market specifications and the integer <-> wire-string conversions.

Inside the engine prices are integer ticks, sizes integer lots and money integer micro-USDC.
Every market has ``size_decimals + price_decimals == 6`` (Lighter's quote_multiplier 1), so
``price_ticks * size_lots`` is a notional in micro-USDC with no rescaling on the hot path.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

USDC_DECIMALS = 6
# Initial margin fractions are in units of 0.01 % (500 = 5 % = 20x), as in orderBookDetails.
MARGIN_FRACTION_SCALE = 10_000
# Fees are in parts per million of notional (Lighter quotes "0.0000" percentages).
FEE_SCALE = 1_000_000


@dataclass(frozen=True, slots=True)
class MarketSpec:
    market_id: int
    symbol: str
    size_decimals: int
    price_decimals: int
    min_base_amount: int  # lots
    min_quote_amount: int  # micro-USDC
    initial_margin_fraction: int
    maintenance_margin_fraction: int
    start_price: Decimal
    taker_fee_ppm: int = 0
    maker_fee_ppm: int = 0

    def __post_init__(self) -> None:
        if self.size_decimals + self.price_decimals != USDC_DECIMALS:
            raise ValueError(f"{self.symbol}: size_decimals + price_decimals must be {USDC_DECIMALS}")

    def price_str(self, ticks: int) -> str:
        return fixed(ticks, self.price_decimals)

    def size_str(self, lots: int) -> str:
        return fixed(lots, self.size_decimals)

    def to_ticks(self, price: Decimal) -> int:
        return int((price * (10**self.price_decimals)).to_integral_value())


def fixed(value: int, decimals: int) -> str:
    """``value / 10**decimals`` with exactly ``decimals`` digits (the SDK strips the dot)."""
    sign = "-" if value < 0 else ""
    digits = str(abs(value)).rjust(decimals + 1, "0")
    if decimals == 0:
        return sign + digits
    return f"{sign}{digits[:-decimals]}.{digits[-decimals:]}"


def usdc_str(micro: int) -> str:
    return fixed(micro, USDC_DECIMALS)


def to_micro(amount: Decimal) -> int:
    return int((amount * (10**USDC_DECIMALS)).to_integral_value())


# Parameters as on Lighter mainnet (lighter-api.md §12); ids match Lighter's market indexes.
DEFAULT_MARKETS: tuple[MarketSpec, ...] = (
    MarketSpec(0, "ETH", 4, 2, 50, 10_000_000, 500, 120, Decimal("3000")),
    MarketSpec(1, "BTC", 5, 1, 20, 10_000_000, 500, 120, Decimal("100000")),
    MarketSpec(2, "SOL", 3, 3, 50, 10_000_000, 1000, 250, Decimal("150")),
)


def select_markets(symbols: list[str] | None) -> tuple[MarketSpec, ...]:
    if not symbols:
        return DEFAULT_MARKETS
    wanted = {s.strip().upper() for s in symbols if s.strip()}
    chosen = tuple(m for m in DEFAULT_MARKETS if m.symbol in wanted)
    unknown = wanted - {m.symbol for m in chosen}
    if unknown:
        raise ValueError(f"unknown market(s): {', '.join(sorted(unknown))}")
    return chosen
