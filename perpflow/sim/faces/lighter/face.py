"""Lighter's face: REST under ``/api/v1``, ``/`` and ``/info``, and the websocket ``/stream``."""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any

from aiohttp import web

from perpflow.sim.changes import Changes
from perpflow.sim.faces.lighter import admin, rest, send
from perpflow.sim.faces.lighter.middleware import lighter_middleware
from perpflow.sim.faces.lighter.state import STATE_KEY, LighterState
from perpflow.sim.faces.lighter.view import LighterView
from perpflow.sim.faces.lighter.ws import Hub
from perpflow.sim.venue import Venue


class LighterFace:
    def __init__(self, venue: Venue) -> None:
        self.state = LighterState(venue)
        self.hub = Hub(venue, self.state.keys)
        self.view = LighterView(venue, self.state.keys)

    def mount(self, app: web.Application) -> None:
        app[STATE_KEY] = self.state
        app.middlewares.append(lighter_middleware)
        for path, handler in rest.ROUTES:
            app.router.add_get(path, handler)
        for path, handler in send.ROUTES + admin.ROUTES:
            app.router.add_post(path, handler)
        app.router.add_get("/stream", self.hub.handle)

    def add_credentials(self, account: int, body: dict[str, Any]) -> None:
        admin.add_credentials(self.state.keys, account, body)

    async def publish(self, changes: Changes) -> None:
        await self.hub.publish(changes)

    def background(self) -> list[Coroutine[Any, Any, None]]:
        return [self.hub.run_pings()]

    async def drop_sockets(self, refuse_seconds: float = 0.0) -> int:
        return await self.hub.drop_all(refuse_seconds)

    def accept_sockets(self) -> None:
        self.hub.refuse_until = 0.0

    def reset(self) -> None:
        self.state.keys.reset()
        self.hub.reset()
