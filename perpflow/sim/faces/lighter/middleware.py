"""Per-request work around every ``/api/`` handler: faults, the rate limit, Lighter's error bodies."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from aiohttp import web

from perpflow.sim.errors import Rejected
from perpflow.sim.faces.lighter import errors
from perpflow.sim.faces.lighter.errors import LighterError, lighter_error
from perpflow.sim.faces.lighter.params import error
from perpflow.sim.faces.lighter.ratelimit import charge, limit_key
from perpflow.sim.faces.lighter.send import SEND_PATHS
from perpflow.sim.faces.lighter.state import lighter_of
from perpflow.sim.faults import FaultKind, Faults

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


async def _inject(faults: Faults, path: str) -> None:
    """Request-level faults that act before the handler runs."""
    submits = path in SEND_PATHS
    latency = faults.take(FaultKind.LATENCY, path, submits=submits)
    if latency is not None:
        await asyncio.sleep(latency.latency_ms / 1000)
    if faults.take(FaultKind.HTTP_429, path, submits=submits) is not None:
        raise errors.too_many_requests()
    failure = faults.take(FaultKind.HTTP_5XX, path, submits=submits)
    if failure is not None:
        raise errors.internal_error(failure.status)
    if submits and faults.take(FaultKind.INVALID_NONCE, path, submits=True) is not None:
        raise errors.invalid_nonce()


@web.middleware
async def lighter_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    if not request.path.startswith("/api/"):
        return await handler(request)
    venue = lighter_of(request).venue
    try:
        await _inject(venue.faults, request.path)
        if venue.limiter.budget is not None and request.path not in SEND_PATHS:
            charge(request, limit_key(request))
        response = await handler(request)
    except (LighterError, Rejected) as exc:
        return error(lighter_error(exc))
    if request.path in SEND_PATHS and venue.faults.take(FaultKind.DROP_RESPONSE, request.path, submits=True):
        # The tx is applied; the client must see a transport error, so no bytes go back.
        if request.transport is not None:
            request.transport.abort()
        raise asyncio.CancelledError
    return response
