"""One GRVT websocket (JSON-RPC at ``/ws/full``): its cookie, subscriptions, keep-alive, sequence
numbers and error frames.

The trade socket authenticates by the session cookie and account header on the upgrade request;
the session is renewed before every reconnect (GRVT's SDK reconnects with whatever cookie it holds,
possibly an expired one), and a connection whose session falls due is replaced by a fresh one
rather than left to die at the expiry. Supervision (back-off, staleness, states) is
``SupervisedSocket``'s.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from typing import Any

import aiohttp

from perpflow.venues.errors import VenueError
from perpflow.venues.feed import StreamHooks
from perpflow.venues.grvt.auth import Session
from perpflow.venues.types import Proxy
from perpflow.venues.websocket import StreamError, SupervisedSocket

Msg = dict[str, Any]
# (message, first on its selector since the subscribe, the selector's previous sequence number)
OnFeed = Callable[[Msg, bool, int | None], bool]

# GRVT answers a text "ping" with 1003 (malformed): the answer is the keep-alive we want.
MALFORMED = 1003


def subscribe(request_id: int, stream: str, selectors: list[str], method: str = "subscribe") -> str:
    params = {"stream": stream, "selectors": selectors}
    return json.dumps({"jsonrpc": "2.0", "method": method, "params": params, "id": request_id})


def error_of(msg: Msg) -> tuple[int, str] | None:
    """A JSON-RPC error (``{"error": {code, message}}``) or a legacy one (``{code, message}``)."""
    err = msg.get("error")
    if isinstance(err, dict):
        return int(err.get("code") or 0), str(err.get("message", ""))
    if "code" in msg and "message" in msg and "feed" not in msg:
        return int(msg.get("code") or 0), str(msg.get("message", ""))
    return None


class GrvtSocket(SupervisedSocket):
    def __init__(
        self,
        name: str,
        url: str,
        session: aiohttp.ClientSession,
        on_feed: OnFeed,
        hooks: StreamHooks,
        *,
        proxy: Proxy | None = None,
        auth: Session | None = None,
    ) -> None:
        super().__init__(name, url, session, hooks, proxy=proxy)
        self.on_feed, self.auth = on_feed, auth
        self.subscriptions: dict[str, set[str]] = {}  # stream -> selectors
        self._ids = itertools.count(1)
        self._seq: dict[tuple[str, str], int] = {}  # this connection's last number per selector
        self._connects = 0

    async def upgrade_headers(self) -> dict[str, str]:
        if self.auth is None:
            return {}
        try:
            if self._connects > 0:
                await self.auth.login()
            self._connects += 1
            return await self.auth.headers()
        except VenueError as exc:
            raise StreamError(f"grvt login: {exc}") from exc

    async def set_selectors(self, stream: str, selectors: set[str]) -> None:
        """Subscribe to new selectors and drop old ones, now if connected, else at the next connect."""
        old = self.subscriptions.get(stream, set())
        self.subscriptions[stream] = set(selectors)
        ws = self.live
        if ws is None:
            return
        if selectors - old:
            await ws.send_str(subscribe(next(self._ids), stream, sorted(selectors - old)))
        if old - selectors:
            await ws.send_str(subscribe(next(self._ids), stream, sorted(old - selectors), "unsubscribe"))
            for sel in old - selectors:
                self._seq.pop((stream, sel), None)

    async def greet(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self._seq.clear()
        for stream, selectors in sorted(self.subscriptions.items()):
            if selectors:
                await ws.send_str(subscribe(next(self._ids), stream, sorted(selectors)))

    async def keep_alive(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        if self.auth is not None and self.auth.due():
            # Reconnect on a fresh cookie before this one expires (a fill made meanwhile comes
            # back with the reconnect's backfill).
            self.planned_disconnect()
            await ws.close()
            return
        await ws.send_str("ping")

    async def on_text(self, ws: aiohttp.ClientWebSocketResponse, text: str) -> bool:
        try:
            msg = json.loads(text)
        except ValueError:
            return True  # "pong" and the like
        if not isinstance(msg, dict):
            return True
        if "feed" in msg:
            key = (str(msg.get("stream")), str(msg.get("selector")))
            last = self._seq.get(key)
            self._seq[key] = int(msg.get("sequence_number") or 0)
            return self.on_feed(msg, last is None, last)
        error = error_of(msg)
        if error is not None and error[0] != MALFORMED:
            raise StreamError(f"grvt {error[0]}: {error[1]}")
        return True
