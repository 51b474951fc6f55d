"""Assemble the aiohttp app (Lighter REST + /stream + /_sim admin) and run it until a signal."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Awaitable, Callable

from aiohttp import web

from perpflow.sim import admin, errors, http_api
from perpflow.sim.errors import SimError
from perpflow.sim.faults import SEND_PATHS, FaultKind
from perpflow.sim.http_api import VENUE_KEY
from perpflow.sim.params import error
from perpflow.sim.venue import SimConfig, Venue
from perpflow.sim.ws import Hub

log = logging.getLogger(__name__)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class PortUnavailable(Exception):
    """The configured host:port cannot be bound (already taken, or not an address here)."""


def _limit_key(request: web.Request) -> str:
    account = request.query.get("account_index") or (
        request.query.get("value") if request.query.get("by", "index") == "index" else None
    )
    return f"acct:{account}" if account else f"ip:{request.remote}"


async def _inject(venue: Venue, request: web.Request) -> None:
    """Request-level faults that act before the handler runs."""
    path, faults = request.path, venue.faults
    latency = faults.take(FaultKind.LATENCY, path)
    if latency is not None:
        await asyncio.sleep(latency.latency_ms / 1000)
    if faults.take(FaultKind.HTTP_429, path) is not None:
        raise errors.too_many_requests()
    failure = faults.take(FaultKind.HTTP_5XX, path)
    if failure is not None:
        raise errors.internal_error(failure.status)
    if path in SEND_PATHS and faults.take(FaultKind.INVALID_NONCE, path) is not None:
        raise errors.invalid_nonce()


@web.middleware
async def lighter_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    if not request.path.startswith("/api/"):
        try:
            return await handler(request)
        except SimError as exc:
            return error(exc)
    venue = request.app[VENUE_KEY]
    try:
        await _inject(venue, request)
        if venue.limiter.budget is not None and request.path not in SEND_PATHS:
            venue.limiter.charge(_limit_key(request), request.path)
        response = await handler(request)
    except SimError as exc:
        return error(exc)
    if request.path in SEND_PATHS and venue.faults.take(FaultKind.DROP_RESPONSE, request.path):
        # The tx is applied; the client must see a transport error, so no bytes go back.
        if request.transport is not None:
            request.transport.abort()
        raise asyncio.CancelledError
    return response


def build_app(venue: Venue) -> web.Application:
    app = web.Application(middlewares=[lighter_middleware], client_max_size=4 * 1024 * 1024)
    hub = Hub(venue)
    app[VENUE_KEY] = venue
    app[admin.HUB_KEY] = hub
    http_api.add_routes(app)
    admin.add_routes(app)
    app.router.add_get("/stream", hub.handle)
    return app


async def serve(config: SimConfig, ready: Callable[[], None] | None = None) -> None:
    venue = Venue(config)
    app = build_app(venue)
    hub = app[admin.HUB_KEY]
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, config.host, config.port)
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        raise PortUnavailable(f"cannot listen on {config.host}:{config.port}: {exc.strerror or exc}") from exc
    tasks = [
        asyncio.create_task(c)
        for c in (hub.run_publisher(), hub.run_pings(), venue.run_price_path(), venue.run_expiry())
    ]
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(
        f"perpflow sim listening on http://{config.host}:{config.port} (ws /stream, admin /_sim)",
        file=sys.stderr,
        flush=True,
    )
    if ready is not None:
        ready()
    try:
        await stop.wait()
    finally:
        log.info("shutting down")
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await hub.drop_all()
        await runner.cleanup()
