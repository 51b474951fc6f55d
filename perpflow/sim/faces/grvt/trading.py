"""Trading calls under ``{td}/full/v1/`` (cookie auth): orders, fills, positions, the account.

Each handler is also what a JSON-RPC call over ``/ws/full`` runs (``v1/create_order`` etc.),
so they take the session and body and return the REST body; ``ROUTES`` wraps them for HTTP.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from perpflow.sim.faces.grvt import intake, paths, wire
from perpflow.sim.faces.grvt.body import json_body, page
from perpflow.sim.faces.grvt.errors import MESSAGES, GrvtError, err
from perpflow.sim.faces.grvt.records import parse_order_id
from perpflow.sim.faces.grvt.sessions import Session
from perpflow.sim.faces.grvt.state import GrvtState, grvt_of
from perpflow.sim.faults import FaultKind
from perpflow.sim.http import ok

Json = dict[str, Any]
Call = Callable[[GrvtState, Session, Json], Json]
MAX_COUNTDOWN_MS = 300_000
MIN_COUNTDOWN_MS = 1000  # up to this, a countdown disarms the switch


def _account(grvt: GrvtState, session: Session, body: Json) -> int:
    return intake.owned_account(grvt.keys, session, body.get("sub_account_id"))


def create_order(grvt: GrvtState, session: Session, body: Json) -> Json:
    checked = intake.check(body, session, grvt.keys, grvt.instruments, grvt.chain_id)
    fault = grvt.venue.faults.take(FaultKind.REJECT_ORDERS, paths.CREATE_ORDER, submits=True)
    if fault is not None:
        # A code the venue knows keeps its HTTP status (2090 max open orders is a 429).
        code = fault.code or 2080
        refusal = err(code if code in MESSAGES else 2080)
        raise GrvtError(code, fault.message or refusal.message, refusal.status)
    return {"result": grvt.desk.create(checked)}


def _ids(body: Json) -> tuple[int | None, int | None]:
    order_index = parse_order_id(body.get("order_id")) if body.get("order_id") else None
    if order_index is None and body.get("client_order_id") in (None, ""):
        raise err(3021)
    cid = None if order_index else intake.client_order_id(body.get("client_order_id"))
    return order_index, cid


def cancel_order(grvt: GrvtState, session: Session, body: Json) -> Json:
    account = _account(grvt, session, body)
    order_index, cid = _ids(body)
    grvt.desk.cancel(account, order_index, cid, body.get("time_to_live_ms"))
    return {"result": {"ack": True}}


def cancel_all_orders(grvt: GrvtState, session: Session, body: Json) -> Json:
    account = _account(grvt, session, body)
    grvt.desk.cancel_all(account, grvt.instruments.matching(body))
    return {"result": {"ack": True}}


def cancel_on_disconnect(grvt: GrvtState, session: Session, body: Json) -> Json:
    account = _account(grvt, session, body)
    countdown = int(str(body.get("countdown_time") or 0))
    if countdown > MAX_COUNTDOWN_MS:
        raise err(6000)
    acct = grvt.engine.account(account)
    armed = countdown > MIN_COUNTDOWN_MS
    acct.cancel_all_at_ms = grvt.engine.clock() + countdown // 1000 * 1000 if armed else 0
    return {"result": {"ack": True}}


def get_order(grvt: GrvtState, session: Session, body: Json) -> Json:
    account = _account(grvt, session, body)
    rec, o = grvt.desk.find(account, *_ids(body))
    if rec is None and o is None:
        raise err(1004)
    inst = rec.instrument if rec else grvt.instruments.by_market[o.market_id]  # type: ignore[union-attr]
    return {"result": wire.order(inst, grvt.keys.sub_account_id(account), rec, o)}


def open_orders(grvt: GrvtState, session: Session, body: Json) -> Json:
    account = _account(grvt, session, body)
    sub = grvt.keys.sub_account_id(account)
    chosen = {i.spec.market_id: i for i in grvt.instruments.matching(body)}
    found = [
        wire.order(chosen[o.market_id], sub, grvt.desk.records.get(o.order_index), o)
        for o in grvt.engine.account(account).open_orders.values()
        if o.market_id in chosen
    ]
    found += [
        wire.order(r.instrument, sub, r, None)
        for (a, _), r in grvt.desk.pending.items()
        if a == account and r.instrument.spec.market_id in chosen
    ]
    return {"result": found}


def order_history(grvt: GrvtState, session: Session, body: Json) -> Json:
    account = _account(grvt, session, body)
    sub = grvt.keys.sub_account_id(account)
    chosen = {i.spec.market_id for i in grvt.instruments.matching(body)}
    ended = []
    for rec, o in grvt.desk.ended(account):
        inst = rec.instrument if rec else grvt.instruments.by_market[o.market_id]  # type: ignore[union-attr]
        if inst.spec.market_id in chosen:
            ended.append(wire.order(inst, sub, rec, o))
    result, cursor = page(ended, body)
    return {"result": result, "next": cursor}


def fill_history(grvt: GrvtState, session: Session, body: Json) -> Json:
    account = _account(grvt, session, body)
    sub, engine = grvt.keys.sub_account_id(account), grvt.engine
    wanted = {i.spec.market_id for i in _instrument_filter(grvt, body)}
    start, end = int(body.get("start_time") or 0), int(body.get("end_time") or 0)
    fills = []
    for t in reversed(engine.account_trades.get(account, ())):
        ns = t.timestamp_ms * wire.MS_NS
        if t.market_id in wanted and ns >= start and (not end or ns <= end):
            mine = t.bid_id if t.bid_account == account else t.ask_id
            rec = grvt.desk.records.get(mine)
            inst = grvt.instruments.by_market[t.market_id]
            fills.append(wire.fill(inst, engine, sub, account, t, signer=rec.signer if rec else ""))
    result, cursor = page(fills, body)
    return {"result": result, "next": cursor}


def _instrument_filter(grvt: GrvtState, body: Json) -> list[Any]:
    if body.get("instrument"):
        return [grvt.instruments.get(body["instrument"])]
    return grvt.instruments.matching(body)


def positions(grvt: GrvtState, session: Session, body: Json) -> Json:
    account = _account(grvt, session, body)
    acct, sub = grvt.engine.account(account), grvt.keys.sub_account_id(account)
    chosen = {i.spec.market_id for i in grvt.instruments.matching(body)}
    all_positions = wire.positions(grvt.instruments, grvt.engine, sub, acct)
    by_name = grvt.instruments.by_name
    return {"result": [p for p in all_positions if by_name[p["instrument"]].spec.market_id in chosen]}


def account_summary(grvt: GrvtState, session: Session, body: Json) -> Json:
    account = _account(grvt, session, body)
    acct, sub = grvt.engine.account(account), grvt.keys.sub_account_id(account)
    return {"result": wire.sub_account(grvt.instruments, grvt.engine, sub, acct)}


CALLS: dict[str, Call] = {
    "create_order": create_order,
    "cancel_order": cancel_order,
    "cancel_all_orders": cancel_all_orders,
    "cancel_on_disconnect": cancel_on_disconnect,
    "order": get_order,
    "open_orders": open_orders,
    "order_history": order_history,
    "fill_history": fill_history,
    "positions": positions,
    "account_summary": account_summary,
}


def _http(call: Call) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handler(request: web.Request) -> web.Response:
        grvt = grvt_of(request)
        session = grvt.sessions.require(request)
        return ok(call(grvt, session, await json_body(request)))

    return handler


ROUTES = tuple((paths.td(name), _http(call)) for name, call in CALLS.items())
