"""One supervised Lighter websocket: connect, subscribe, ping, detect staleness, back off, reconnect.

The connection knows channels, not meaning: each text frame is decoded once and handed to
``on_message``; ``hooks.on_connected`` runs after every (re)subscribe so consumers can re-sync.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime

import aiohttp

from perpflow.chain.backoff import Backoff
from perpflow.venues.feed import StreamHooks, StreamState, StreamStatus
from perpflow.venues.lighter.wire import Msg
from perpflow.venues.types import Proxy

log = logging.getLogger(__name__)


class StreamError(Exception):
    """The venue refused or broke the stream (an ``error`` frame, a refused subscription)."""


_CLOSING = (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR)


class Stream:
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
        self.name, self.url, self.session, self.on_message = name, url, session, on_message
        self.hooks, self.options, self.proxy = hooks, hooks.options, proxy
        self.channels: set[str] = set()
        self.state = StreamState.STOPPED
        self.since = datetime.now(UTC)
        self.last_message = 0.0
        self.messages = 0
        self.reconnects = 0
        self.failures = 0
        self.error = ""
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._backoff = Backoff(self.options.backoff_initial_s, self.options.backoff_max_s)

    # -- state ----------------------------------------------------------------------------------

    def _set(self, state: StreamState, error: str = "") -> None:
        if state is self.state and error == self.error:
            return
        self.state, self.error, self.since = state, error, datetime.now(UTC)
        level = logging.ERROR if state is StreamState.FAILED else logging.INFO
        log.log(level, "stream %s %s%s", self.name, state.value, f" error={error}" if error else "")
        if self.hooks.on_state is not None:
            self.hooks.on_state(self)

    def status(self) -> StreamStatus:
        age = time.monotonic() - self.last_message if self.last_message else None
        return StreamStatus(
            name=self.name,
            state=self.state,
            since=self.since,
            last_message_age_s=age,
            reconnects=self.reconnects,
            failures_in_row=self.failures,
            error=self.error,
        )

    # -- channels -------------------------------------------------------------------------------

    async def set_channels(self, channels: set[str]) -> None:
        """Subscribe to new channels and drop old ones now if connected, else at the next connect."""
        added, removed = channels - self.channels, self.channels - channels
        self.channels = set(channels)
        if self._ws is None or self._ws.closed or self.state is not StreamState.CONNECTED:
            return
        for ch in sorted(added):
            await self._ws.send_str(json.dumps({"type": "subscribe", "channel": ch}))
        for ch in sorted(removed):
            await self._ws.send_str(json.dumps({"type": "unsubscribe", "channel": ch}))

    # -- supervision ----------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            started = time.monotonic()
            try:
                await self._connect_and_read(stop)
                error = "closed by the venue"
            except (aiohttp.ClientError, OSError, TimeoutError, StreamError, ValueError) as exc:
                error = f"{type(exc).__name__}: {exc}"
            finally:
                self._ws = None
            if stop.is_set():
                break
            await self._back_off(stop, error, up_for=time.monotonic() - started)
        self._set(StreamState.STOPPED)

    async def _back_off(self, stop: asyncio.Event, error: str, *, up_for: float) -> None:
        if up_for >= self.options.stable_after_s:
            self._backoff.reset()
            self.failures = 0
        self.failures += 1
        self.reconnects += 1
        failed = self.failures >= self.options.alert_after_failures
        self._set(StreamState.FAILED if failed else StreamState.BACKING_OFF, error)
        delay = self._backoff.next_delay()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=delay)

    async def _connect_and_read(self, stop: asyncio.Event) -> None:
        self._set(StreamState.CONNECTING, self.error)
        proxy, auth = proxy_args(self.proxy)
        timeout = aiohttp.ClientWSTimeout(ws_receive=None, ws_close=2.0)
        async with asyncio.timeout(self.options.connect_timeout_s):
            ws = await self.session.ws_connect(
                self.url, proxy=proxy, proxy_auth=auth, autoping=True, heartbeat=None, timeout=timeout
            )
        async with ws:
            self._ws = ws
            async with asyncio.timeout(self.options.connect_timeout_s):
                await self._handshake(ws)
            self.last_message = time.monotonic()
            self._set(StreamState.CONNECTED)
            if self.hooks.on_connected is not None:
                await self.hooks.on_connected()
            pinger = asyncio.create_task(self._ping(ws))
            try:
                await self._read(ws, stop)
            finally:
                pinger.cancel()

    async def _handshake(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        first = await ws.receive()
        if first.type is not aiohttp.WSMsgType.TEXT or json.loads(first.data).get("type") != "connected":
            raise StreamError(f"expected 'connected', got {first.type.name} {str(first.data)[:100]}")
        for ch in sorted(self.channels):
            await ws.send_str(json.dumps({"type": "subscribe", "channel": ch}))

    async def _ping(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        while not ws.closed:
            await asyncio.sleep(self.options.ping_interval_s)
            with contextlib.suppress(ConnectionError, RuntimeError):
                await ws.send_str('{"type":"ping"}')

    async def _read(self, ws: aiohttp.ClientWebSocketResponse, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                frame = await ws.receive(timeout=self.options.stale_after_s)
            except TimeoutError:
                self._set(StreamState.STALE, f"no message for {self.options.stale_after_s:g} s")
                return
            if not await self._handle(ws, frame):
                return

    async def close(self) -> None:
        """Drop the connection: ``run`` reconnects, or returns if ``stop`` is set."""
        ws = self._ws
        if ws is not None and not ws.closed:
            await ws.close()

    async def _handle(self, ws: aiohttp.ClientWebSocketResponse, frame: aiohttp.WSMessage) -> bool:
        if frame.type is not aiohttp.WSMsgType.TEXT:
            return frame.type not in _CLOSING
        self.last_message = time.monotonic()
        self.messages += 1
        msg = json.loads(frame.data)
        kind = msg.get("type")
        if kind == "ping":
            await ws.send_str('{"type":"pong"}')
        elif kind == "error":
            raise StreamError(str(msg.get("error")))
        elif kind == "shutdown":
            # The venue's planned disconnect (24 h sessions): reconnect now, it is not a failure.
            log.info("stream %s venue announced shutdown", self.name)
            self._backoff.reset()
            self.failures = 0
            return False
        elif kind not in ("pong", "unsubscribed"):
            self.on_message(msg)
        return True


def proxy_args(proxy: Proxy | None) -> tuple[str | None, aiohttp.BasicAuth | None]:
    """aiohttp's ``proxy`` and ``proxy_auth`` arguments for an account's proxy."""
    if proxy is None:
        return None, None
    auth = None
    if proxy.username:
        secret = proxy.password.get_secret_value() if proxy.password else ""
        auth = aiohttp.BasicAuth(proxy.username, secret)
    return proxy.url, auth
