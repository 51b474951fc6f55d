"""The engine's markets as GRVT instruments, and GRVT's decimal strings <-> engine integers.

GRVT names perpetuals ``{BASE}_USDT_Perp``. The SDK signs sizes scaled by the ``base_decimals``
and the ``instrument_hash`` this face serves (grvt-api.md §5), so both come from here only.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from perpflow.sim.faces.grvt.errors import err
from perpflow.sim.markets import MarketSpec, fixed, usdc_str

BASE_DECIMALS = 9  # GRVT's size scale for signing (BTC, ETH: 9)
QUOTE_DECIMALS = 6
PRICE_SCALE = 10**9  # limit prices are signed with 9 decimals whatever the tick
# GRVT's currency codes (the SDK's GrvtCurrency) make the visible hash layout 0x{quote}{base}{kind}.
CURRENCY_CODES = {"USDT": 3, "ETH": 4, "BTC": 5}
OTHER_BASE_CODE = 0x20  # + market id, for bases GRVT's table does not list
PERPETUAL = 1


@dataclass(frozen=True, slots=True)
class Instrument:
    name: str
    spec: MarketSpec

    @property
    def base(self) -> str:
        return self.spec.symbol

    @property
    def hash(self) -> str:
        base = CURRENCY_CODES.get(self.base, OTHER_BASE_CODE + self.spec.market_id)
        return f"0x{CURRENCY_CODES['USDT']:02x}{base:02x}{PERPETUAL:02x}"

    def price_str(self, ticks: int) -> str:
        return self.spec.price_str(ticks)

    def size_str(self, lots: int) -> str:
        return self.spec.size_str(lots)

    def lots(self, size: object) -> int:
        """A leg's size in lots: 2065 if finer than a lot, 2062 below the minimum."""
        value = _decimal(size)
        scaled = value * (10**self.spec.size_decimals)
        if scaled != scaled.to_integral_value():
            raise err(2065)
        lots = int(scaled)
        if lots < self.spec.min_base_amount:
            raise err(2062)
        return lots

    def ticks(self, price: object) -> int:
        """A limit price in ticks: 2064 if off the tick grid, 2021 if not positive."""
        scaled = _decimal(price) * (10**self.spec.price_decimals)
        if scaled != scaled.to_integral_value():
            raise err(2064)
        if scaled <= 0:
            raise err(2021)
        return int(scaled)

    def wire(self, create_time_ns: int) -> dict[str, object]:
        spec = self.spec
        return {
            "instrument": self.name,
            "instrument_hash": self.hash,
            "base": self.base,
            "quote": "USDT",
            "kind": "PERPETUAL",
            "venues": ["ORDERBOOK", "RFQ"],
            "settlement_period": "PERPETUAL",
            "base_decimals": BASE_DECIMALS,
            "quote_decimals": QUOTE_DECIMALS,
            "tick_size": fixed(1, spec.price_decimals),
            "min_size": spec.size_str(spec.min_base_amount),
            "create_time": str(create_time_ns),
            "max_position_size": "1000000.0",
            "min_notional": usdc_str(spec.min_quote_amount),
            "funding_interval_hours": 8,
            "adjusted_funding_rate_cap": "0.3",
            "adjusted_funding_rate_floor": "-0.3",
        }


def _decimal(value: object) -> Decimal:
    if value is None or isinstance(value, bool):
        raise err(1003)
    try:
        return Decimal(str(value))
    except InvalidOperation as exc:
        raise err(1003) from exc


def name_of(spec: MarketSpec) -> str:
    return f"{spec.symbol}_USDT_Perp"


class Instruments:
    def __init__(self, markets: Iterable[MarketSpec]) -> None:
        self.by_name = {name_of(s): Instrument(name_of(s), s) for s in markets}
        self.by_market = {i.spec.market_id: i for i in self.by_name.values()}

    def get(self, name: object) -> Instrument:
        instrument = self.by_name.get(str(name))
        if instrument is None:
            raise err(3000)
        return instrument

    def matching(self, body: dict[str, object]) -> list[Instrument]:
        """The ``kind``/``base``/``quote`` filter of list requests: absent or empty means all."""
        kinds, bases, quotes = (_names(body.get(k)) for k in ("kind", "base", "quote"))
        if (kinds and "PERPETUAL" not in kinds) or (quotes and "USDT" not in quotes):
            return []
        return [i for i in self.by_name.values() if not bases or i.base in bases]


def _names(value: object) -> list[str]:
    if value in (None, ""):
        return []
    if isinstance(value, list):
        return [str(v) for v in value]
    return [str(value)]
