"""Lighter's request weights against the venue's per-account budget (lighter-api.md §13)."""

from __future__ import annotations

from aiohttp import web

from perpflow.sim.faces.lighter.errors import too_many_requests
from perpflow.sim.faces.lighter.state import lighter_of
from perpflow.sim.ratelimit import OverBudget

DEFAULT_WEIGHT = 300
WEIGHTS = {
    "/api/v1/sendTx": 6,
    "/api/v1/sendTxBatch": 6,
    "/api/v1/nextNonce": 6,
    "/api/v1/accountInactiveOrders": 100,
    "/api/v1/apikeys": 150,
    "/api/v1/trades": 600,
    "/api/v1/recentTrades": 600,
}


def charge(request: web.Request, key: str) -> None:
    """Spend the request's weight from ``key``'s budget, or answer Lighter's 429."""
    try:
        lighter_of(request).venue.limiter.charge(key, WEIGHTS.get(request.path, DEFAULT_WEIGHT))
    except OverBudget as exc:
        raise too_many_requests() from exc


def limit_key(request: web.Request) -> str:
    """Reads are charged to the account the query names, else to the caller's address."""
    account = request.query.get("account_index") or (
        request.query.get("value") if request.query.get("by", "index") == "index" else None
    )
    return f"acct:{account}" if account else f"ip:{request.remote}"
