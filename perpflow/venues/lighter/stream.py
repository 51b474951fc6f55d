"""One Lighter websocket: its greeting, its subscriptions, its pings and control frames.

The connection knows channels, not meaning: each data frame is decoded once and handed to
``on_message``. Supervision (back-off, staleness, states) is ``SupervisedSocket``'s.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import aiohttp

from perpflow.venues.feed import StreamHooks
from perpflow.venues.lighter.wire import Msg
from perpflow.venues.types import Proxy
from perpflow.venues.websocket import StreamError, SupervisedSocket


def ws_url(url: str) -> str:
    """The venue's websocket beside its REST API (one host, ``/stream``)."""
    base = url.rstrip("/")
    return base.replace("https://", "wss://", 1).replace("http://", "ws://", 1) + "/stream"


# Frames that only keep the connection's bookkeeping: nothing for the consumer.
_QUIET = ("pong", "unsubscribed")


class Stream(SupervisedSocket):
    def __init__(
        self,
        name: str,
        url: str,
        session: aiohttp.ClientSession,
        on_message: Callable[[Msg], None],
        hooks: StreamHooks,
        *,
        proxy: Proxy | None = None,
    ) -> None:
        super().__init__(name, url, session, hooks, proxy=proxy)
        self.on_message = on_message
        self.channels: set[str] = set()

    async def set_channels(self, channels: set[str]) -> None:
        """Subscribe to new channels and drop old ones now if connected, else at the next connect."""
        added, removed = channels - self.channels, self.channels - channels
        self.channels = set(channels)
        ws = self.live
        if ws is None:
            return
        for ch in sorted(added):
            await ws.send_str(json.dumps(self.subscription(ch)))
        for ch in sorted(removed):
            await ws.send_str(json.dumps({"type": "unsubscribe", "channel": ch}))

    async def greet(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        first = await ws.receive()
        if first.type is not aiohttp.WSMsgType.TEXT or json.loads(first.data).get("type") != "connected":
            raise StreamError(f"expected 'connected', got {first.type.name} {str(first.data)[:100]}")
        for ch in sorted(self.channels):
            await ws.send_str(json.dumps(self.subscription(ch)))

    def subscription(self, channel: str) -> Msg:
        """The subscribe frame of one channel (a private channel's carries the auth token)."""
        return {"type": "subscribe", "channel": channel}

    async def keep_alive(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        # Lighter closes sockets that stay silent for 2 min, and a quiet book sends nothing.
        await ws.send_str('{"type":"ping"}')

    async def on_text(self, ws: aiohttp.ClientWebSocketResponse, text: str) -> bool:
        msg = json.loads(text)
        kind = msg.get("type")
        if kind == "ping":
            await ws.send_str('{"type":"pong"}')
        elif kind == "error":
            raise StreamError(str(msg.get("error")))
        elif kind == "shutdown":
            # The venue's planned disconnect (24 h sessions): reconnect now.
            self.planned_disconnect()
            return False
        elif kind not in _QUIET:
            self.on_message(msg)
        return True


class AnsweredStream(Stream):
    """A stream that is connected (``on_connected`` fires) only once the venue has answered each of
    its subscriptions: its first message on a channel (``subscribed/...``) says the channel is live.
    That message, like any other read meanwhile, goes to ``on_text`` then."""

    _unconfirmed: frozenset[str] = frozenset()  # the channels not answered yet on this connection

    async def greet(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        await super().greet(ws)
        self._unconfirmed = frozenset(self.channels)

    def awaiting(self) -> bool:
        return bool(self._unconfirmed)

    async def on_answer(self, ws: aiohttp.ClientWebSocketResponse, text: str) -> bool:
        msg = json.loads(text)
        if msg.get("type") == "error":
            raise StreamError(str(msg.get("error")))
        if str(msg.get("type", "")).startswith("subscribed/"):
            self._unconfirmed -= {str(msg.get("channel", "")).replace(":", "/")}
        return False
