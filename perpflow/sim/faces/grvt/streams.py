"""GRVT's websocket streams and how a subscription's selector is read (grvt-api.md §9).

A feed message echoes the selector exactly as subscribed: the SDK dispatches on the full string.
"""

from __future__ import annotations

from dataclasses import dataclass

from perpflow.sim.faces.grvt.errors import err
from perpflow.sim.faces.grvt.instruments import Instrument, Instruments
from perpflow.sim.faces.grvt.keys import UINT64

MARKET_STREAMS = frozenset(
    {"v1.mini.s", "v1.mini.d", "v1.ticker.s", "v1.ticker.d", "v1.book.s", "v1.book.d", "v1.trade"}
)
TRADE_STREAMS = frozenset({"v1.order", "v1.state", "v1.fill", "v1.position", "v1.cancel"})
RATES = {
    "v1.mini.s": {200, 500, 1000, 5000},
    "v1.mini.d": {0, 50, 100, 200, 500, 1000, 5000},
    "v1.ticker.s": {500, 1000, 5000},
    "v1.ticker.d": {100, 200, 500, 1000, 5000},
    "v1.book.s": {500, 1000},
    "v1.book.d": {50, 100, 500, 1000},
    "v1.trade": {50, 200, 500, 1000},  # the trade stream's secondary is a limit, not a rate
}
BOOK_DEPTHS = {10, 50, 100, 500}


@dataclass(frozen=True, slots=True)
class Selector:
    stream: str
    text: str  # as subscribed, echoed on every feed message
    instrument: Instrument | None  # None: every instrument of the sub-account
    account: int | None = None  # trade streams
    depth: int = 0  # v1.book.s
    base: str | None = None  # trade streams' {sub}-{kind}-{base}-{quote} form

    def covers(self, inst: Instrument) -> bool:
        if self.instrument is not None:
            return self.instrument is inst
        return self.base in (None, "", inst.base)


def _int(text: str, code: int) -> int:
    if not text.isdigit():
        raise err(code)
    return int(text)


def market_selector(stream: str, text: str, insts: Instruments) -> Selector:
    primary, at, secondary = text.partition("@")
    if not at:
        raise err(1101)
    if primary not in insts.by_name:
        raise err(3000)
    rate, _, depth = secondary.partition("-")
    if _int(rate, 3030) not in RATES[stream]:
        raise err(3030)
    if stream == "v1.book.s" and _int(depth, 3031) not in BOOK_DEPTHS:
        raise err(3031)
    return Selector(stream, text, insts.get(primary), depth=int(depth or 0))


def trade_selector(stream: str, text: str, insts: Instruments, account_of_sub: dict[str, int]) -> Selector:
    parts = text.split("-")
    sub = parts[0]
    if not sub.isdigit() or int(sub) >= UINT64:
        raise err(3020)
    account = account_of_sub.get(sub)
    if account is None:
        raise err(1001)
    if len(parts) == 2:
        return Selector(stream, text, insts.get(parts[1]), account)
    if len(parts) == 4:
        return Selector(stream, text, None, account, base=parts[2])
    if len(parts) == 1:
        return Selector(stream, text, None, account)
    raise err(1101)
