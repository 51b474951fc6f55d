"""What the GRVT face remembers of prices, for ``kline`` and ``funding`` (grvt-api.md §7).

The engine keeps its trades but only the current mark and book. The face therefore samples each
market's mark and book mid on every publishing tick (``--book-interval-ms``, 50 ms) and before it
answers a history call, keeping a point whenever one moved. Trade candles come from the engine's
trade tape; mark candles (the index is the mark here) and mid candles come from these samples.
The sim charges no funding: its funding history is the instrument's schedule at rate zero, with
the mark in force at each funding time.

Everything here is in engine integers (ns, ticks, lots, micro-USDC); ``wire`` renders it.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from perpflow.sim.engine import Engine
from perpflow.sim.order import Trade

NS_PER_S = 10**9
MS_NS = 1_000_000
_MINUTE, _HOUR, _DAY = 60 * NS_PER_S, 3600 * NS_PER_S, 86400 * NS_PER_S
# GRVT's candle intervals (the SDK's CandlestickInterval). Buckets start on multiples of the
# interval since the epoch, so weeks start on Thursdays [inferred: GRVT does not say].
INTERVALS_NS = {
    "CI_1_M": _MINUTE,
    "CI_3_M": 3 * _MINUTE,
    "CI_5_M": 5 * _MINUTE,
    "CI_15_M": 15 * _MINUTE,
    "CI_30_M": 30 * _MINUTE,
    "CI_1_H": _HOUR,
    "CI_2_H": 2 * _HOUR,
    "CI_4_H": 4 * _HOUR,
    "CI_6_H": 6 * _HOUR,
    "CI_8_H": 8 * _HOUR,
    "CI_12_H": 12 * _HOUR,
    "CI_1_D": _DAY,
    "CI_3_D": 3 * _DAY,
    "CI_5_D": 5 * _DAY,
    "CI_1_W": 7 * _DAY,
    "CI_2_W": 14 * _DAY,
    "CI_3_W": 21 * _DAY,
    "CI_4_W": 28 * _DAY,
}
# Candle type -> the sampled series it reads (None: the trade tape). The sim's index is its mark.
SERIES_OF = {"TRADE": None, "MARK": "MARK", "INDEX": "MARK", "MID": "MID"}
# Per market and series; a price path ticking every second fills this in about two days.
POINTS_KEPT = 200_000


@dataclass(frozen=True, slots=True)
class Window:
    """One page of a reverse-chronological look-up: times from ``end_ns`` back to ``start_ns``."""

    start_ns: int  # 0: as far back as remembered
    end_ns: int  # inclusive; the newest candle's open time (or funding time) is at most this
    limit: int


@dataclass(frozen=True, slots=True)
class Candle:
    open_ns: int
    open: int  # ticks
    high: int
    low: int
    close: int
    volume: int = 0  # lots traded in the interval, whatever the candle's price type
    notional: int = 0  # micro-USDC
    trades: int = 0


class Series:
    """One market's sampled prices, oldest first; a point only where the value changed."""

    __slots__ = ("times", "values")

    def __init__(self) -> None:
        self.times: list[int] = []
        self.values: list[int] = []

    def add(self, at_ns: int, value: int) -> None:
        if self.values and self.values[-1] == value:
            return
        self.times.append(at_ns)
        self.values.append(value)
        if len(self.times) > 2 * POINTS_KEPT:
            del self.times[:POINTS_KEPT], self.values[:POINTS_KEPT]

    def at(self, at_ns: int) -> int | None:
        """The value in force at ``at_ns`` (None before the first point)."""
        i = bisect_right(self.times, at_ns)
        return self.values[i - 1] if i else None

    def within(self, lo_ns: int, hi_ns: int) -> list[int]:
        """Values that took effect in [lo, hi)."""
        return self.values[bisect_left(self.times, lo_ns) : bisect_left(self.times, hi_ns)]


class PriceTape:
    def __init__(self) -> None:
        self.series: dict[tuple[int, str], Series] = {}
        self.started_ns = 0

    def reset(self, engine: Engine, now_ns: int) -> None:
        self.series.clear()
        self.started_ns = now_ns
        self.record(engine, now_ns)

    def record(self, engine: Engine, now_ns: int) -> None:
        for market_id, book in engine.books.items():
            self._series(market_id, "MARK").add(now_ns, engine.marks[market_id])
            bid, ask = book.bids.best(), book.asks.best()
            if bid is not None and ask is not None:
                self._series(market_id, "MID").add(now_ns, (bid + ask) // 2)

    def _series(self, market_id: int, kind: str) -> Series:
        key = (market_id, kind)
        found = self.series.get(key)
        if found is None:
            found = self.series[key] = Series()
        return found

    def first_mark_ns(self, market_id: int) -> int:
        """Since when the market's mark is remembered (the reset, or the oldest point kept)."""
        return self._series(market_id, "MARK").times[0]

    def mark_at(self, market_id: int, at_ns: int) -> int:
        """The mark in force at ``at_ns``, no earlier than ``first_mark_ns``."""
        mark = self._series(market_id, "MARK").at(at_ns)
        assert mark is not None, "asked for a mark before the tape began"
        return mark

    def candles(
        self, kind: str, trades: list[Trade], *, market_id: int, step_ns: int, window: Window, now_ns: int
    ) -> tuple[list[Candle], int | None]:
        """Newest first, and the open time to continue from (None: nothing older)."""
        series = SERIES_OF[kind]
        if series is None:
            return trade_candles(trades, step_ns, window)
        return sampled_candles(self._series(market_id, series), trades, step_ns, window, now_ns)


def _bucket(at_ns: int, step_ns: int) -> int:
    return at_ns // step_ns * step_ns


def _newest_first(trades: list[Trade], step_ns: int, window: Window) -> Iterator[tuple[int, Trade]]:
    """(bucket, trade) from ``window.end_ns``'s bucket back to ``window.start_ns``'s."""
    first = _bucket(window.start_ns, step_ns)
    for t in reversed(trades):
        bucket = _bucket(t.timestamp_ms * MS_NS, step_ns)
        if bucket > window.end_ns:
            continue
        if bucket < first:
            return
        yield bucket, t


def trade_candles(trades: list[Trade], step_ns: int, window: Window) -> tuple[list[Candle], int | None]:
    """Candles of the intervals that had trades (GRVT: "a new Kline ... if it exists")."""
    buckets: dict[int, list[Trade]] = {}
    for bucket, t in _newest_first(trades, step_ns, window):
        if bucket not in buckets:
            if len(buckets) == window.limit:
                return [_of_trades(b, ts) for b, ts in buckets.items()], bucket
            buckets[bucket] = []
        buckets[bucket].append(t)
    return [_of_trades(b, ts) for b, ts in buckets.items()], None


def _of_trades(open_ns: int, newest_first: list[Trade]) -> Candle:
    prices = [t.price for t in newest_first]
    volume, notional = _volume(newest_first)
    return Candle(open_ns, prices[-1], max(prices), min(prices), prices[0], volume, notional, len(prices))


def _volume(trades: Iterable[Trade]) -> tuple[int, int]:
    volume = notional = 0
    for t in trades:
        volume += t.size
        notional += t.usd_amount
    return volume, notional


def sampled_candles(
    series: Series, trades: list[Trade], step_ns: int, window: Window, now_ns: int
) -> tuple[list[Candle], int | None]:
    """One candle per interval from the first sample to now: a price exists at every moment."""
    if not series.times:
        return [], None
    lowest = max(_bucket(series.times[0], step_ns), _bucket(window.start_ns, step_ns))
    bucket = _bucket(min(window.end_ns, now_ns), step_ns)
    opens: list[int] = []
    while bucket >= lowest:
        if len(opens) == window.limit:
            break
        opens.append(bucket)
        bucket -= step_ns
    more = bucket if bucket >= lowest and opens else None
    if not opens:
        return [], None
    traded = _traded(trades, step_ns, Window(opens[-1], opens[0], len(opens)))
    return [_of_samples(series, b, step_ns, traded.get(b, (0, 0, 0))) for b in opens], more


def _traded(trades: list[Trade], step_ns: int, window: Window) -> dict[int, tuple[int, int, int]]:
    """Lots, notional and count of trades per bucket."""
    out: dict[int, tuple[int, int, int]] = {}
    for bucket, t in _newest_first(trades, step_ns, window):
        volume, notional, count = out.get(bucket, (0, 0, 0))
        out[bucket] = (volume + t.size, notional + t.usd_amount, count + 1)
    return out


def _of_samples(series: Series, open_ns: int, step_ns: int, traded: tuple[int, int, int]) -> Candle:
    inside = series.within(open_ns, open_ns + step_ns)
    first = series.at(open_ns)
    opening = first if first is not None else inside[0]  # sampling began inside this interval
    close = series.at(open_ns + step_ns - 1)
    assert close is not None
    prices = [opening, *inside]
    return Candle(open_ns, opening, max(prices), min(prices), close, *traded)


def funding_times(since_ns: int, every_ns: int, window: Window, now_ns: int) -> tuple[list[int], int | None]:
    """Funding times (multiples of ``every_ns``) since ``since_ns``, newest first, and the one to
    continue from."""
    lowest = max(-(-since_ns // every_ns), -(-window.start_ns // every_ns)) * every_ns
    at = _bucket(min(window.end_ns, now_ns), every_ns)
    out: list[int] = []
    while at >= lowest and len(out) < window.limit:
        out.append(at)
        at -= every_ns
    return out, at if at >= lowest else None
