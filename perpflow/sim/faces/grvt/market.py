"""Market-data calls under ``{md}/full/v1/`` (no auth): instruments, ticker, book, trades."""

from __future__ import annotations

import time

from aiohttp import web

from perpflow.sim.faces.grvt import paths, wire
from perpflow.sim.faces.grvt.body import json_body, limit_of, page
from perpflow.sim.faces.grvt.errors import err
from perpflow.sim.faces.grvt.state import grvt_of
from perpflow.sim.http import ok

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
    return ok({"result": wire.ticker(grvt.instruments.get(body.get("instrument")), grvt.engine)})


async def mini(request: web.Request) -> web.Response:
    grvt, body = grvt_of(request), await json_body(request)
    return ok({"result": wire.ticker(grvt.instruments.get(body.get("instrument")), grvt.engine, mini=True)})


async def book(request: web.Request) -> web.Response:
    grvt, body = grvt_of(request), await json_body(request)
    inst = grvt.instruments.get(body.get("instrument"))
    depth = body.get("depth") or 10
    if depth not in BOOK_DEPTHS:
        raise err(3031)
    return ok({"result": wire.book(inst, grvt.engine, int(depth))})


async def trades(request: web.Request) -> web.Response:
    grvt, body = grvt_of(request), await json_body(request)
    inst = grvt.instruments.get(body.get("instrument"))
    mine = [t for t in reversed(grvt.engine.trades) if t.market_id == inst.spec.market_id]
    return ok({"result": [wire.public_trade(inst, grvt.engine, t) for t in mine[: limit_of(body)]]})


async def trade_history(request: web.Request) -> web.Response:
    grvt, body = grvt_of(request), await json_body(request)
    inst = grvt.instruments.get(body.get("instrument"))
    mine = [t for t in reversed(grvt.engine.trades) if t.market_id == inst.spec.market_id]
    chosen, cursor = page(mine, body)
    return ok({"result": [wire.public_trade(inst, grvt.engine, t) for t in chosen], "next": cursor})


ROUTES = (
    (paths.md("instruments"), instruments),
    (paths.md("all_instruments"), all_instruments),
    (paths.md("instrument"), instrument),
    (paths.md("ticker"), ticker),
    (paths.md("mini"), mini),
    (paths.md("book"), book),
    (paths.md("trade"), trades),
    (paths.md("trade_history"), trade_history),
)
