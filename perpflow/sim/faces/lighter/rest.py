"""Lighter's REST reads (lighter-api.md §9) over the engine, with the shapes the SDK parses."""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web

from perpflow.sim.engine import Engine
from perpflow.sim.enums import Side
from perpflow.sim.errors import Rejected, RejectReason
from perpflow.sim.faces.lighter import wire
from perpflow.sim.faces.lighter.auth import check_token, token_account
from perpflow.sim.faces.lighter.errors import api_key_not_found, bad_param
from perpflow.sim.faces.lighter.params import int_param, opt_int
from perpflow.sim.faces.lighter.state import lighter_of
from perpflow.sim.http import ok
from perpflow.sim.markets import MarketSpec, fixed, usdc_str

ALL_MARKETS = 255


def _engine(request: web.Request) -> Engine:
    return lighter_of(request).engine


def token(request: web.Request) -> str | None:
    return request.headers.get("Authorization") or request.query.get("auth")


def _markets(engine: Engine, request: web.Request) -> list[MarketSpec]:
    market_id = opt_int(request, "market_id")
    if market_id is None or market_id == ALL_MARKETS:
        return list(engine.markets.values())
    return [engine.market(market_id)]


def _market_summary(spec: MarketSpec) -> dict[str, Any]:
    return {
        "symbol": spec.symbol,
        "market_id": spec.market_id,
        "market_type": "perp",
        "base_asset_id": 0,
        "quote_asset_id": 3,
        "status": "active",
        "taker_fee": fixed(spec.taker_fee_ppm, 4),
        "maker_fee": fixed(spec.maker_fee_ppm, 4),
        "liquidation_fee": "1.0000",
        "min_base_amount": spec.size_str(spec.min_base_amount),
        "min_quote_amount": usdc_str(spec.min_quote_amount),
        "supported_size_decimals": spec.size_decimals,
        "supported_price_decimals": spec.price_decimals,
        "supported_quote_decimals": 6,
        "order_quote_limit": "",
        "is_maker_fee_enabled": spec.maker_fee_ppm > 0,
        "is_taker_fee_enabled": spec.taker_fee_ppm > 0,
    }


async def order_books(request: web.Request) -> web.Response:
    markets = _markets(_engine(request), request)
    return ok({"code": 200, "order_books": [_market_summary(s) for s in markets]})


async def order_book_details(request: web.Request) -> web.Response:
    engine = _engine(request)
    details = []
    for spec in _markets(engine, request):
        mark = engine.marks[spec.market_id]
        last = engine.trades[-1].price if engine.trades else mark
        oi = sum(
            p.size
            for a in engine.accounts.values()
            for m, p in a.positions.items()
            if m == spec.market_id and p.size > 0
        )
        details.append(
            {
                **_market_summary(spec),
                "size_decimals": spec.size_decimals,
                "price_decimals": spec.price_decimals,
                "quote_multiplier": 1,
                "default_initial_margin_fraction": spec.initial_margin_fraction,
                "min_initial_margin_fraction": spec.initial_margin_fraction,
                "maintenance_margin_fraction": spec.maintenance_margin_fraction,
                "closeout_margin_fraction": spec.maintenance_margin_fraction * 2 // 3,
                "last_trade_price": float(spec.price_str(last)),
                "daily_trades_count": 0,
                "daily_base_token_volume": 0.0,
                "daily_quote_token_volume": 0.0,
                "daily_price_low": float(spec.price_str(mark)),
                "daily_price_high": float(spec.price_str(mark)),
                "daily_price_change": 0.0,
                "open_interest": float(spec.size_str(oi)),
                "daily_chart": {},
                "market_config": {"market_margin_mode": 0, "force_reduce_only": False, "hidden": False},
                "mark_price": spec.price_str(mark),
                "index_price": spec.price_str(mark),
            }
        )
    return ok({"code": 200, "order_book_details": details, "spot_order_book_details": []})


async def order_book_orders(request: web.Request) -> web.Response:
    engine = _engine(request)
    market_id = int_param(request, "market_id")
    limit = int_param(request, "limit", 250)
    spec, book = engine.market(market_id), engine.books[market_id]
    asks = [wire.simple_order(spec, o) for o in book.asks.orders(limit)]
    bids = [wire.simple_order(spec, o) for o in book.bids.orders(limit)]
    return ok({"code": 200, "total_asks": len(asks), "asks": asks, "total_bids": len(bids), "bids": bids})


async def next_nonce(request: web.Request) -> web.Response:
    lighter = lighter_of(request)
    account = lighter.engine.account(int_param(request, "account_index")).index
    key = int_param(request, "api_key_index")
    if key not in lighter.keys.of(account):
        raise api_key_not_found()
    return ok({"code": 200, "nonce": lighter.keys.next_nonce(account, key)})


async def apikeys(request: web.Request) -> web.Response:
    lighter = lighter_of(request)
    account = lighter.engine.account(int_param(request, "account_index")).index
    public = lighter.keys.of(account)
    key = int_param(request, "api_key_index", ALL_MARKETS)
    keys = sorted(public) if key == ALL_MARKETS else [key]
    if any(k not in public for k in keys):
        raise api_key_not_found()
    rows = [
        {
            "account_index": account,
            "api_key_index": k,
            "nonce": lighter.keys.next_nonce(account, k),
            "public_key": public[k],
            "transaction_time": 0,
        }
        for k in keys
    ]
    return ok({"code": 200, "api_keys": rows})


async def account(request: web.Request) -> web.Response:
    engine = _engine(request)
    by, value = request.query.get("by", "index"), request.query.get("value", "")
    if by == "index":
        acct = engine.account(int_param(request, "value"))
    else:
        found = [a for a in engine.accounts.values() if wire.l1_address(a.index) == value.lower()]
        if not found:
            raise Rejected(RejectReason.ACCOUNT_NOT_FOUND)
        acct = found[0]
    return ok({"code": 200, "total": 1, "accounts": [wire.detailed_account(engine, acct)]})


def _private_account(request: web.Request) -> int:
    index = opt_int(request, "account_index")
    if index is None:
        index = token_account(token(request))
    if index is None:
        raise bad_param("account_index")
    lighter = lighter_of(request)
    check_token(lighter.engine, lighter.keys, token(request), index)
    return index


async def account_active_orders(request: web.Request) -> web.Response:
    engine = _engine(request)
    index = _private_account(request)
    market_id = opt_int(request, "market_id")
    orders = [
        o for o in engine.account(index).open_orders.values() if market_id in (None, ALL_MARKETS, o.market_id)
    ]
    return ok({"code": 200, "orders": [wire.order(engine.markets[o.market_id], o) for o in orders]})


async def account_inactive_orders(request: web.Request) -> web.Response:
    engine = _engine(request)
    index = _private_account(request)
    limit = int_param(request, "limit", 100)
    market_id = opt_int(request, "market_id")
    ask_filter = opt_int(request, "ask_filter")
    out = []
    for o in reversed(engine.inactive[index]):
        if market_id not in (None, ALL_MARKETS, o.market_id):
            continue
        if ask_filter in (0, 1) and (o.side is Side.SELL) != bool(ask_filter):
            continue
        out.append(wire.order(engine.markets[o.market_id], o))
        if len(out) >= limit:
            break
    return ok({"code": 200, "orders": out, "next_cursor": None})


async def account_orders(request: web.Request) -> web.Response:
    """Latest order per requested client order index: the open one, else the newest inactive."""
    engine = _engine(request)
    index = _private_account(request)
    raw = request.query.get("client_order_indexes", "")
    wanted = [int(x) for x in raw.replace("[", "").replace("]", "").split(",") if x.strip()][:20]
    acct = engine.account(index)
    out = []
    for coi in wanted:
        order = acct.by_client.get(coi) or next(
            (o for o in reversed(engine.inactive[index]) if o.client_order_index == coi), None
        )
        if order is not None:
            out.append(wire.order(engine.markets[order.market_id], order))
    return ok({"code": 200, "orders": out})


async def trades(request: web.Request) -> web.Response:
    engine = _engine(request)
    limit = int_param(request, "limit", 100)
    account_index = opt_int(request, "account_index")
    market_id = opt_int(request, "market_id")
    order_index = opt_int(request, "order_index")
    if account_index is not None and account_index >= 0:
        check_token(engine, lighter_of(request).keys, token(request), account_index)
        source = engine.account_trades.get(account_index, ())
    else:
        source = engine.trades
    ascending = request.query.get("sort_dir") == "asc"
    out = []
    for t in source if ascending else reversed(source):
        if market_id not in (None, ALL_MARKETS, t.market_id) or order_index not in (None, t.ask_id, t.bid_id):
            continue
        out.append(wire.trade(engine.markets[t.market_id], t))
        if len(out) >= limit:
            break
    return ok({"code": 200, "trades": out, "next_cursor": None})


async def recent_trades(request: web.Request) -> web.Response:
    engine = _engine(request)
    market_id = int_param(request, "market_id")
    limit = int_param(request, "limit", 100)
    spec = engine.market(market_id)
    out = []
    for t in reversed(engine.trades):
        if t.market_id == market_id:
            out.append(wire.trade(spec, t))
            if len(out) >= limit:
                break
    return ok({"code": 200, "trades": out})


async def root(request: web.Request) -> web.Response:
    return ok({"status": 200, "network_id": 1, "timestamp": int(time.time())})


async def info(request: web.Request) -> web.Response:
    return ok({"contract_address": "0x" + "0" * 40})


ROUTES = (
    ("/api/v1/orderBooks", order_books),
    ("/api/v1/orderBookDetails", order_book_details),
    ("/api/v1/orderBookOrders", order_book_orders),
    ("/api/v1/nextNonce", next_nonce),
    ("/api/v1/apikeys", apikeys),
    ("/api/v1/account", account),
    ("/api/v1/accountActiveOrders", account_active_orders),
    ("/api/v1/accountInactiveOrders", account_inactive_orders),
    ("/api/v1/accountOrders", account_orders),
    ("/api/v1/trades", trades),
    ("/api/v1/recentTrades", recent_trades),
    ("/", root),
    ("/info", info),
)
