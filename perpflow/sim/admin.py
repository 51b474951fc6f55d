"""Admin API under ``/_sim``: accounts, prices, pause/resume, state, reset, faults.

It speaks the engine's terms and reaches the faces only through ``Face``; each face registers
the credentials its protocol signs with (and may mount its own ``/_sim`` routes for them).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from decimal import Decimal, InvalidOperation
from typing import Any

from aiohttp import web

from perpflow.sim.errors import AdminError, Rejected
from perpflow.sim.face import Face
from perpflow.sim.faults import FaultKind, parse_fault
from perpflow.sim.http import admin_body, json_error, ok
from perpflow.sim.markets import to_micro, usdc_str
from perpflow.sim.venue import Venue

VENUE_KEY = web.AppKey("venue", Venue)
FACES_KEY = web.AppKey("faces", list[Face])
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def admin_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    if not request.path.startswith("/_sim/"):
        return await handler(request)
    try:
        return await handler(request)
    except (AdminError, Rejected) as exc:
        return json_error(400, {"message": str(exc)})


def _venue(request: web.Request) -> Venue:
    return request.app[VENUE_KEY]


def _faces(request: web.Request) -> list[Face]:
    return request.app[FACES_KEY]


def _decimal(value: Any, name: str) -> Decimal:
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError) as exc:
        raise AdminError(f"invalid {name}") from exc


async def create_account(request: web.Request) -> web.Response:
    body = await admin_body(request)
    engine = _venue(request).engine
    acct = engine.create_account(to_micro(_decimal(body.get("collateral", "0"), "collateral")))
    for face in _faces(request):
        face.add_credentials(acct.index, body)
    return ok({"account_index": acct.index})


async def fund(request: web.Request) -> web.Response:
    body = await admin_body(request)
    engine = _venue(request).engine
    index = int(request.match_info["account"])
    engine.fund(index, to_micro(_decimal(body["amount"], "amount")))
    return ok({"account_index": index, "collateral": usdc_str(engine.account(index).collateral)})


async def set_price(request: web.Request) -> web.Response:
    body = await admin_body(request)
    venue = _venue(request)
    market_id = venue.engine.market(int(request.match_info["market"])).market_id
    venue.set_price(market_id, _decimal(body["price"], "price"))
    return ok({"market_id": market_id, "price": str(venue.prices[market_id])})


async def set_volatility(request: web.Request) -> web.Response:
    body = await admin_body(request)
    _venue(request).set_volatility(float(body["volatility"]))
    return ok({"volatility": float(body["volatility"])})


async def pause(request: web.Request) -> web.Response:
    _venue(request).pause()
    return ok({"paused": True})


async def resume(request: web.Request) -> web.Response:
    _venue(request).resume()
    return ok({"paused": False})


async def _drop_sockets(request: web.Request, refuse_seconds: float = 0.0) -> int:
    return sum([await face.drop_sockets(refuse_seconds) for face in _faces(request)])


async def reset(request: web.Request) -> web.Response:
    await _drop_sockets(request)
    _venue(request).reset()
    for face in _faces(request):
        face.reset()
    return ok({"reset": True})


async def inject_fault(request: web.Request) -> web.Response:
    body = await admin_body(request)
    venue = _venue(request)
    try:
        fault = parse_fault(body)
    except (KeyError, ValueError) as exc:
        raise AdminError(f"invalid fault: {exc}") from exc
    if fault.kind is FaultKind.PARTIAL_FILL:
        venue.engine.partial_fill_ratio = fault.ratio
        venue.engine.partial_fill_budget = fault.count or 1
    elif fault.kind is FaultKind.WS_DROP:
        dropped = await _drop_sockets(request, float(body.get("seconds", 0)))
        return ok({"kind": fault.kind.value, "dropped": dropped})
    else:
        venue.faults.add(fault)
    return ok({"kind": fault.kind.value, "active": venue.faults.describe()})


async def clear_faults(request: web.Request) -> web.Response:
    venue = _venue(request)
    venue.faults.clear()
    venue.engine.partial_fill_budget = 0
    for face in _faces(request):
        face.accept_sockets()  # a ws_drop's refusal ends with the rest
    return ok({"active": []})


async def configure(request: web.Request) -> web.Response:
    body = await admin_body(request)
    venue = _venue(request)
    if "rate_limit_per_minute" in body:
        limit = body["rate_limit_per_minute"]
        venue.limiter.configure(None if limit is None else int(limit))
    return ok({"rate_limit_per_minute": venue.limiter.budget})


async def state(request: web.Request) -> web.Response:
    venue = _venue(request)
    engine = venue.engine
    view = _faces(request)[0].view
    accounts = [
        {
            **view.account(acct),
            "deposits": usdc_str(acct.deposits),
            "fees_paid": usdc_str(acct.fees_paid),
            "is_market_maker": acct.is_market_maker,
        }
        for acct in engine.accounts.values()
    ]
    markets = {
        str(m): {
            "symbol": s.symbol,
            "price": str(venue.prices[m]),
            "mark": s.price_str(engine.marks[m]),
            "book": view.book(m),
        }
        for m, s in engine.markets.items()
    }
    return ok(
        {
            "paused": venue.paused,
            "markets": markets,
            "accounts": accounts,
            "trades": [view.trade(t) for t in engine.trades],
            "fees_collected": usdc_str(engine.fees_collected),
            "faults": venue.faults.describe(),
        }
    )


async def health(request: web.Request) -> web.Response:
    return ok({"ok": True})


def mount(app: web.Application, venue: Venue, faces: list[Face]) -> None:
    app[VENUE_KEY] = venue
    app[FACES_KEY] = faces
    app.middlewares.append(admin_errors)
    r = app.router
    r.add_get("/_sim/health", health)
    r.add_get("/_sim/state", state)
    r.add_post("/_sim/accounts", create_account)
    r.add_post("/_sim/accounts/{account}/fund", fund)
    r.add_post("/_sim/markets/{market}/price", set_price)
    r.add_post("/_sim/volatility", set_volatility)
    r.add_post("/_sim/pause", pause)
    r.add_post("/_sim/resume", resume)
    r.add_post("/_sim/reset", reset)
    r.add_post("/_sim/faults", inject_fault)
    r.add_delete("/_sim/faults", clear_faults)
    r.add_post("/_sim/config", configure)
