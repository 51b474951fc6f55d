"""GRVT's face: edge, trades and market-data hosts under ``/grvt/`` on the sim's port."""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any

from aiohttp import web

from perpflow.sim.changes import Changes
from perpflow.sim.faces.grvt import admin, market, paths, trading
from perpflow.sim.faces.grvt.auth import login
from perpflow.sim.faces.grvt.middleware import grvt_middleware
from perpflow.sim.faces.grvt.state import STATE_KEY, GrvtState
from perpflow.sim.faces.grvt.view import GrvtView
from perpflow.sim.faces.grvt.ws import Hub
from perpflow.sim.venue import Venue


class GrvtFace:
    def __init__(self, venue: Venue) -> None:
        self.state = GrvtState(venue)
        self.hub = Hub(self.state)
        self.view = GrvtView(self.state)

    def mount(self, app: web.Application) -> None:
        app[STATE_KEY] = self.state
        app[admin.HUB_KEY] = self.hub
        app.middlewares.append(grvt_middleware)
        app.router.add_post(paths.LOGIN, login)
        for path, handler in market.ROUTES + trading.ROUTES + admin.ROUTES:
            app.router.add_post(path, handler)
        for host, prefix in (("md", paths.MARKET_DATA), ("td", paths.TRADES)):
            for suffix in ("/ws", "/ws/full"):
                app.router.add_get(prefix + suffix, self.hub.handler(host))

    def add_credentials(self, account: int, body: dict[str, Any]) -> None:
        admin.add_credentials(self.state.keys, account, body)

    async def publish(self, changes: Changes) -> None:
        self.state.sample_prices()  # every publishing tick: the marks and mids kline remembers
        await self.hub.publish(changes)

    def background(self) -> list[Coroutine[Any, Any, None]]:
        return [self.hub.run_session_sweep()]

    async def drop_sockets(self, refuse_seconds: float = 0.0) -> int:
        return await self.hub.drop_all(refuse_seconds)

    def accept_sockets(self) -> None:
        self.hub.refuse_until = 0.0

    def reset(self) -> None:
        self.state.reset()
        self.hub.reset()
