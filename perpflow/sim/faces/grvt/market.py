"""Market-data calls under ``{md}/full/v1/`` (no auth): instruments, ticker, book, trades, and
the histories (``trade_history``, ``kline``, ``funding``), newest first with a cursor."""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web

from perpflow.sim.faces.grvt import history, paths, wire
from perpflow.sim.faces.grvt.body import decode_cursor, encode_cursor, json_body, limit_of, time_ns
from perpflow.sim.faces.grvt.errors import err
from perpflow.sim.faces.grvt.instruments import Instrument
from perpflow.sim.faces.grvt.state import GrvtState, grvt_of
from perpflow.sim.http import ok
from perpflow.sim.order import Trade

BOOK_DEPTHS = (10, 50, 100, 500)
STARTED_NS = time.time_ns()  # every instrument's create_time


async def instruments(request: web.Request) -> web.Response:
    body = await json_body(request)
    found = grvt_of(request).instruments.matching(body)
    return ok({"result": [i.wire(STARTED_NS) for i in found[: limit_of(body)]]})


async def all_instruments(request: web.Request) -> web.Response:
    return ok({"result": [i.wire(STARTED_NS) for i in grvt_of(request).instruments.by_name.values()]})


async def instrument(request: web.Request) -> web.Response:
    body = await json_body(request)
    return ok({"result": grvt_of(request).instruments.get(body.get("instrument")).wire(STARTED_NS)})


async def ticker(request: web.Request) -> web.Response:
    grvt, body = grvt_of(request), await json_body(request)
    inst, every = grvt.instruments.get(body.get("instrument")), grvt.funding_interval_ns
    return ok({"result": wire.ticker(inst, grvt.engine, funding_every_ns=every)})


async def mini(request: web.Request) -> web.Response:
    grvt, body = grvt_of(request), await json_body(request)
    inst, every = grvt.instruments.get(body.get("instrument")), grvt.funding_interval_ns
    return ok({"result": wire.ticker(inst, grvt.engine, funding_every_ns=every, mini=True)})


async def book(request: web.Request) -> web.Response:
    grvt, body = grvt_of(request), await json_body(request)
    inst = grvt.instruments.get(body.get("instrument"))
    depth = body.get("depth") or 10
    if depth not in BOOK_DEPTHS:
        raise err(3031)
    return ok({"result": wire.book(inst, grvt.engine, int(depth))})


def _trades_of(grvt: GrvtState, inst: Instrument) -> list[Trade]:
    """The instrument's trades on the engine's tape, oldest first."""
    market = inst.spec.market_id
    return [t for t in grvt.engine.trades if t.market_id == market]


def _with_cursor(body: dict[str, Any]) -> dict[str, Any]:
    """The query a cursor continues (it wins over the body's fields, except an explicit limit)."""
    if not body.get("cursor"):
        return body
    fields = {**body, **decode_cursor(body["cursor"])}
    if body.get("limit") is not None:
        fields["limit"] = body["limit"]
    return fields


def _window(fields: dict[str, Any], now_ns: int) -> history.Window:
    start, end = time_ns(fields, "start_time", 0), time_ns(fields, "end_time", now_ns)
    return history.Window(start, end, limit_of(fields))


def _cursor(fields: dict[str, Any], end_ns: int | None, **more: Any) -> str:
    """The next page's cursor: this query again, ending at ``end_ns`` ("" when nothing is left)."""
    if end_ns is None:
        return ""
    keep = {k: fields[k] for k in ("interval", "type", "start_time", "limit") if fields.get(k) is not None}
    return encode_cursor({**keep, "end_time": str(end_ns), **more})


async def trades(request: web.Request) -> web.Response:
    grvt, body = grvt_of(request), await json_body(request)
    inst = grvt.instruments.get(body.get("instrument"))
    mine = _trades_of(grvt, inst)[::-1][: limit_of(body)]
    return ok({"result": [wire.public_trade(inst, grvt.engine, t) for t in mine]})


async def trade_history(request: web.Request) -> web.Response:
    """Newest first between ``start_time`` and ``end_time``. The cursor names the trade to go on
    below, so trades made between pages shift nothing."""
    grvt, fields = grvt_of(request), _with_cursor(await json_body(request))
    inst = grvt.instruments.get(fields.get("instrument"))
    window = _window(fields, time.time_ns())
    below = int(fields.get("below_trade") or 0)
    chosen: list[Trade] = []
    cursor = ""
    for t in reversed(_trades_of(grvt, inst)):
        at = t.timestamp_ms * history.MS_NS
        if at > window.end_ns or (below and t.trade_id >= below):
            continue
        if at < window.start_ns:
            break
        if len(chosen) == window.limit:
            cursor = _cursor(fields, window.end_ns, below_trade=chosen[-1].trade_id)
            break
        chosen.append(t)
    return ok({"result": [wire.public_trade(inst, grvt.engine, t) for t in chosen], "next": cursor})


async def kline(request: web.Request) -> web.Response:
    """Candles of trades, marks, the index (the mark) or mids: ``history`` builds them."""
    grvt, fields = grvt_of(request), _with_cursor(await json_body(request))
    inst = grvt.instruments.get(fields.get("instrument"))
    step, kind = history.INTERVALS_NS.get(str(fields.get("interval"))), str(fields.get("type"))
    if step is None or kind not in history.SERIES_OF:
        raise err(1003)
    now = grvt.sample_prices()
    window = _window(fields, now)
    candles, more = grvt.tape.candles(
        kind, _trades_of(grvt, inst), market_id=inst.spec.market_id, step_ns=step, window=window, now_ns=now
    )
    result = [wire.candle(inst, c, step) for c in candles]
    return ok({"result": result, "next": _cursor(fields, more)})


async def funding(request: web.Request) -> web.Response:
    """Every funding time since the sim (re)started, at the rate it applies (zero)."""
    grvt, fields = grvt_of(request), _with_cursor(await json_body(request))
    inst = grvt.instruments.get(fields.get("instrument"))
    now, every, market = grvt.sample_prices(), grvt.funding_interval_ns, inst.spec.market_id
    since = grvt.tape.first_mark_ns(market)
    times, more = history.funding_times(since, every, _window(fields, now), now)
    result = [wire.funding_rate(inst, at, grvt.tape.mark_at(market, at), every) for at in times]
    return ok({"result": result, "next": _cursor(fields, more)})


ROUTES = (
    (paths.md("instruments"), instruments),
    (paths.md("all_instruments"), all_instruments),
    (paths.md("instrument"), instrument),
    (paths.md("ticker"), ticker),
    (paths.md("mini"), mini),
    (paths.md("book"), book),
    (paths.md("trade"), trades),
    (paths.md("trade_history"), trade_history),
    (paths.md("kline"), kline),
    (paths.md("funding"), funding),
)
