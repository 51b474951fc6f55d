"""Admin API under ``/_sim``: accounts and keys, prices, pause/resume, state, reset, faults."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from aiohttp import web

from perpflow.sim import wire
from perpflow.sim.errors import SimError
from perpflow.sim.faults import FaultKind, parse_fault
from perpflow.sim.http_api import VENUE_KEY
from perpflow.sim.markets import to_micro, usdc_str
from perpflow.sim.params import ok
from perpflow.sim.venue import Venue
from perpflow.sim.ws import Hub

HUB_KEY = web.AppKey("hub", Hub)


def _venue(request: web.Request) -> Venue:
    return request.app[VENUE_KEY]


async def _body(request: web.Request) -> dict[str, Any]:
    if not request.can_read_body:
        return {}
    data = await request.json()
    if not isinstance(data, dict):
        raise SimError(21501, "admin body must be a JSON object")
    return data


def _decimal(value: Any, name: str) -> Decimal:
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError) as exc:
        raise SimError(21501, f"invalid {name}") from exc


def _clean_key(public_key: str) -> str:
    # /apikeys must serve the key without 0x, or check_client reports a mismatch (§2).
    key = public_key.removeprefix("0x")
    if len(key) != 80:
        raise SimError(21136, "invalid PublicKey, update the sdk to the latest version")
    return key


async def create_account(request: web.Request) -> web.Response:
    body = await _body(request)
    venue = _venue(request)
    acct = venue.engine.create_account(to_micro(_decimal(body.get("collateral", "0"), "collateral")))
    for index, key in (body.get("api_keys") or {}).items():
        acct.api_keys[int(index)] = _clean_key(str(key))
    return ok({"account_index": acct.index, "l1_address": acct.l1_address})


async def add_api_key(request: web.Request) -> web.Response:
    body = await _body(request)
    acct = _venue(request).engine.account(int(request.match_info["account"]))
    index = int(body["api_key_index"])
    acct.api_keys[index] = _clean_key(str(body["public_key"]))
    acct.nonces.setdefault(index, 0)
    return ok({"account_index": acct.index, "api_key_index": index})


async def fund(request: web.Request) -> web.Response:
    body = await _body(request)
    engine = _venue(request).engine
    index = int(request.match_info["account"])
    engine.fund(index, to_micro(_decimal(body["amount"], "amount")))
    return ok({"account_index": index, "collateral": usdc_str(engine.account(index).collateral)})


async def set_price(request: web.Request) -> web.Response:
    body = await _body(request)
    venue = _venue(request)
    market_id = int(request.match_info["market"])
    if market_id not in venue.engine.markets:
        raise SimError(21602, "invalid market index")
    venue.set_price(market_id, _decimal(body["price"], "price"))
    return ok({"market_id": market_id, "price": str(venue.prices[market_id])})


async def set_volatility(request: web.Request) -> web.Response:
    body = await _body(request)
    _venue(request).set_volatility(float(body["volatility"]))
    return ok({"volatility": float(body["volatility"])})


async def pause(request: web.Request) -> web.Response:
    _venue(request).pause()
    return ok({"paused": True})


async def resume(request: web.Request) -> web.Response:
    _venue(request).resume()
    return ok({"paused": False})


async def reset(request: web.Request) -> web.Response:
    await request.app[HUB_KEY].drop_all()
    _venue(request).reset()
    return ok({"reset": True})


async def inject_fault(request: web.Request) -> web.Response:
    body = await _body(request)
    venue = _venue(request)
    try:
        fault = parse_fault(body)
    except (KeyError, ValueError) as exc:
        raise SimError(21501, f"invalid fault: {exc}") from exc
    if fault.kind is FaultKind.PARTIAL_FILL:
        venue.engine.partial_fill_ratio = fault.ratio
        venue.engine.partial_fill_budget = fault.count or 1
    elif fault.kind is FaultKind.WS_DROP:
        dropped = await request.app[HUB_KEY].drop_all(float(body.get("seconds", 0)))
        return ok({"kind": fault.kind.value, "dropped": dropped})
    else:
        venue.faults.add(fault)
    return ok({"kind": fault.kind.value, "active": venue.faults.describe()})


async def clear_faults(request: web.Request) -> web.Response:
    venue = _venue(request)
    venue.faults.clear()
    venue.engine.partial_fill_budget = 0
    return ok({"active": []})


async def configure(request: web.Request) -> web.Response:
    body = await _body(request)
    venue = _venue(request)
    if "rate_limit_per_minute" in body:
        limit = body["rate_limit_per_minute"]
        venue.limiter.configure(None if limit is None else int(limit))
    return ok({"rate_limit_per_minute": venue.limiter.budget})


async def state(request: web.Request) -> web.Response:
    venue = _venue(request)
    engine = venue.engine
    accounts = []
    for acct in engine.accounts.values():
        accounts.append(
            {
                **wire.detailed_account(engine, acct),
                "deposits": usdc_str(acct.deposits),
                "fees_paid": usdc_str(acct.fees_paid),
                "is_market_maker": acct.is_market_maker,
                "api_keys": {str(k): v for k, v in acct.api_keys.items()},
                "nonces": {str(k): v for k, v in acct.nonces.items()},
                "open_orders": [
                    wire.order(engine.markets[o.market_id], o) for o in acct.open_orders.values()
                ],
            }
        )
    markets = {
        str(m): {
            "symbol": s.symbol,
            "price": str(venue.prices[m]),
            "mark": s.price_str(engine.marks[m]),
            "book": wire.book_snapshot(engine, m, depth=50),
        }
        for m, s in engine.markets.items()
    }
    trades = [wire.trade(engine.markets[t.market_id], t) for t in engine.trades]
    return ok(
        {
            "paused": venue.paused,
            "markets": markets,
            "accounts": accounts,
            "trades": trades,
            "fees_collected": usdc_str(engine.fees_collected),
            "faults": venue.faults.describe(),
        }
    )


async def health(request: web.Request) -> web.Response:
    return ok({"ok": True})


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/_sim/health", health)
    r.add_get("/_sim/state", state)
    r.add_post("/_sim/accounts", create_account)
    r.add_post("/_sim/accounts/{account}/api_keys", add_api_key)
    r.add_post("/_sim/accounts/{account}/fund", fund)
    r.add_post("/_sim/markets/{market}/price", set_price)
    r.add_post("/_sim/volatility", set_volatility)
    r.add_post("/_sim/pause", pause)
    r.add_post("/_sim/resume", resume)
    r.add_post("/_sim/reset", reset)
    r.add_post("/_sim/faults", inject_fault)
    r.add_delete("/_sim/faults", clear_faults)
    r.add_post("/_sim/config", configure)
