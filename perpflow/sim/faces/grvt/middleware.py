"""Per-request work around every ``/grvt/`` call: faults, the rate limit, GRVT's error bodies.

A malformed body (a field of the wrong type anywhere) is 1003, never a 500 with a traceback.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from aiohttp import web

from perpflow.sim.errors import Rejected
from perpflow.sim.faces.grvt import paths
from perpflow.sim.faces.grvt.errors import GrvtError, err, grvt_error
from perpflow.sim.faces.grvt.sessions import cookie_of
from perpflow.sim.faces.grvt.state import GrvtState, grvt_of
from perpflow.sim.faults import FaultKind, Faults
from perpflow.sim.http import json_error
from perpflow.sim.ratelimit import OverBudget

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
# ccxt's costs for GRVT (grvt-api.md §10) as weights against the venue's per-minute budget.
DEFAULT_WEIGHT = 20
WEIGHTS = {
    paths.LOGIN: 100,
    paths.CREATE_ORDER: 5,
    paths.td("cancel_order"): 5,
    paths.td("cancel_all_orders"): 50,
    paths.td("cancel_on_disconnect"): 100,
    paths.td("account_summary"): 40,
}
MARKET_WEIGHT = 4


async def _inject(faults: Faults, path: str) -> None:
    submits = path in paths.SUBMIT_PATHS
    latency = faults.take(FaultKind.LATENCY, path, submits=submits)
    if latency is not None:
        await asyncio.sleep(latency.latency_ms / 1000)
    if faults.take(FaultKind.HTTP_429, path, submits=submits) is not None:
        raise err(1006)
    failure = faults.take(FaultKind.HTTP_5XX, path, submits=submits)
    if failure is not None:
        raise GrvtError(1002, "Internal Server Error", failure.status)


def _charge(grvt: GrvtState, request: web.Request) -> None:
    session = grvt.sessions.get(cookie_of(request))
    key = f"acct:{session.account}" if session else f"ip:{request.remote}"
    weight = WEIGHTS.get(
        request.path, MARKET_WEIGHT if request.path.startswith(paths.MARKET_DATA) else DEFAULT_WEIGHT
    )
    try:
        grvt.venue.limiter.charge(key, weight)
    except OverBudget as exc:
        raise err(1006) from exc


@web.middleware
async def grvt_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    if not request.path.startswith(paths.PREFIX + "/") or request.method != "POST":
        return await handler(request)
    grvt = grvt_of(request)
    try:
        await _inject(grvt.venue.faults, request.path)
        _charge(grvt, request)
        response = await handler(request)
    except (GrvtError, Rejected) as exc:
        refusal = grvt_error(exc)
        return json_error(refusal.status, refusal.body())
    except (KeyError, TypeError, ValueError, AttributeError, ArithmeticError):
        refusal = err(1003)
        return json_error(refusal.status, refusal.body())
    if request.path in paths.SUBMIT_PATHS and grvt.venue.faults.take(
        FaultKind.DROP_RESPONSE, request.path, submits=True
    ):
        # Applied, but the client sees a transport error: the at-least-once case (grvt-api.md §11).
        if request.transport is not None:
            request.transport.abort()
        raise asyncio.CancelledError
    return response
