"""One GRVT websocket (JSON-RPC at ``/ws/full``): its cookie, subscriptions, keep-alive, sequence
numbers and error frames.

The trade socket authenticates by the session cookie and account header on the upgrade request;
the session is renewed before every reconnect (GRVT's SDK reconnects with whatever cookie it holds,
possibly an expired one), and a connection whose session falls due is replaced by a fresh one
rather than left to die at the expiry. The connection counts as connected (and ``on_connected``,
the consumer's backfill, fires) only once the venue has answered every subscribe sent on connect:
before that the subscription may not be live, and a fill made then would reach neither a backfill
read at once nor the socket. Supervision (back-off, staleness, states) is ``SupervisedSocket``'s.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from typing import Any

import aiohttp

from perpflow.venues.errors import VenueError
from perpflow.venues.feed import StreamHooks, StreamState
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
        self._subscribed: dict[str, set[str]] = {}  # what this connection has asked for
        self._unanswered: dict[int, str] = {}  # greet's subscribe ids the venue has not answered
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
        """Subscribe to new selectors and drop old ones, now if connected (or greeting the venue:
        then it must hear of them too), else at the next connect."""
        self.subscriptions[stream] = set(selectors)
        ws = self._ws
        if ws is not None and not ws.closed and self.state in (StreamState.CONNECTING, StreamState.CONNECTED):
            request = await self._sync(ws, stream)
            if request is not None and self.state is StreamState.CONNECTING:
                self._unanswered[request] = stream  # still greeting: up only once this is answered too

    async def _sync(self, ws: aiohttp.ClientWebSocketResponse, stream: str) -> int | None:
        """Send what ``stream``'s selectors changed by on this connection; the subscribe's id."""
        want, had = self.subscriptions.get(stream, set()), self._subscribed.get(stream, set())
        self._subscribed[stream] = set(want)
        request = None
        if want - had:
            request = next(self._ids)
            await ws.send_str(subscribe(request, stream, sorted(want - had)))
        if had - want:
            await ws.send_str(subscribe(next(self._ids), stream, sorted(had - want), "unsubscribe"))
            for sel in had - want:
                self._seq.pop((stream, sel), None)
        return request

    async def greet(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        """Subscribe to every selector; the connection is up once the venue has answered each."""
        self._seq.clear()
        self._subscribed.clear()
        self._unanswered.clear()
        for stream in sorted(self.subscriptions):
            request = await self._sync(ws, stream)
            if request is not None:
                self._unanswered[request] = stream

    def awaiting(self) -> bool:
        return bool(self._unanswered)

    async def on_answer(self, ws: aiohttp.ClientWebSocketResponse, text: str) -> bool:
        """A subscribe's answer (``{"result": {stream, subs, …}, "id"}``) or refusal; feed messages
        wait for ``on_text``."""
        try:
            msg = json.loads(text)
        except ValueError:
            return True
        if not isinstance(msg, dict) or "feed" in msg:
            return False
        request = msg.get("id")
        stream = self._unanswered.pop(request, None) if isinstance(request, int) else None
        error = error_of(msg)
        if error is not None and (stream is not None or error[0] != MALFORMED):
            what = f"grvt subscribe {stream}" if stream is not None else "grvt"
            raise StreamError(f"{what} {error[0]}: {error[1]}")
        return True

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
