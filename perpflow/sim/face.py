"""What the server needs from a face: one venue protocol spoken over the shared engine.

Faces live in ``perpflow/sim/faces/<venue>/``; the server lists them, the admin API reaches
them through this protocol only, and no face imports another.
"""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any, Protocol

from aiohttp import web

from perpflow.sim.account import Account
from perpflow.sim.changes import Changes
from perpflow.sim.order import Trade

Json = dict[str, Any]


class StateView(Protocol):
    """How ``GET /_sim/state`` shows accounts, trades and books (the first face's shapes)."""

    def account(self, acct: Account) -> Json: ...

    def trade(self, trade: Trade) -> Json: ...

    def book(self, market_id: int) -> Json: ...


class Face(Protocol):
    @property
    def view(self) -> StateView: ...

    def mount(self, app: web.Application) -> None:
        """Add the face's routes (its own ``/_sim`` ones included) and request middleware."""

    def add_credentials(self, account: int, body: Json) -> None:
        """Register the credentials a ``POST /_sim/accounts`` body names in this face's fields."""

    async def publish(self, changes: Changes) -> None:
        """Push one batch of engine changes to the face's subscribers."""

    def background(self) -> list[Coroutine[Any, Any, None]]:
        """Tasks that run while the server serves (pings, session expiry)."""

    async def drop_sockets(self, refuse_seconds: float = 0.0) -> int:
        """Close every websocket, refuse new ones for ``refuse_seconds``; returns how many closed."""

    def accept_sockets(self) -> None:
        """Take new websockets again at once (the faults are cleared)."""

    def reset(self) -> None:
        """Forget per-account protocol state (keys, nonces, sessions) after the venue's reset."""
