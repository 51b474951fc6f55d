"""One supervised websocket, whatever the venue: connect, greet, read, detect staleness, back off
with jitter, reconnect, and say which state it is in.

A venue's stream subclasses it with what only the venue knows: how to greet it (log in,
subscribe), what keeps a quiet connection talking, and what its frames mean.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from abc import ABC, abstractmethod
from datetime import UTC, datetime

import aiohttp

from perpflow.chain.backoff import Backoff
from perpflow.venues.feed import StreamHooks, StreamState, StreamStatus
from perpflow.venues.types import Proxy

log = logging.getLogger(__name__)


class StreamError(Exception):
    """The venue refused or broke the stream (an error frame, a refused subscription)."""


_CLOSING = (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR)


class SupervisedSocket(ABC):
    def __init__(
        self,
        name: str,
        url: str,
        session: aiohttp.ClientSession,
        hooks: StreamHooks,
        *,
        proxy: Proxy | None = None,
    ) -> None:
        self.name, self.url, self.session, self.proxy = name, url, session, proxy
        self.hooks, self.options = hooks, hooks.options
        self.state = StreamState.STOPPED
        self.since = datetime.now(UTC)
        self.last_message = 0.0
        self.messages = 0
        self.reconnects = 0
        self.failures = 0
        self.error = ""
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._backoff = Backoff(self.options.backoff_initial_s, self.options.backoff_max_s)

    # -- what the venue's stream says -----------------------------------------------------------

    @abstractmethod
    async def greet(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        """Everything between the socket opening and the first data frame (raise ``StreamError``)."""

    def awaiting(self) -> bool:
        """Whether the venue has yet to answer what ``greet`` sent (a subscription it has not
        confirmed): the connection is not connected, and ``on_connected`` does not fire, before."""
        return False

    async def on_answer(self, ws: aiohttp.ClientWebSocketResponse, text: str) -> bool:
        """A frame read while ``awaiting``: True if it was consumed as an answer, False to hand it to
        ``on_text`` once connected. A refusal raises ``StreamError``."""
        return False

    @abstractmethod
    async def keep_alive(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        """Send one frame that makes a quiet venue answer."""

    async def upgrade_headers(self) -> dict[str, str]:
        """Headers of the upgrade request (a venue's session cookie); called before every connect."""
        return {}

    @abstractmethod
    async def on_text(self, ws: aiohttp.ClientWebSocketResponse, text: str) -> bool:
        """Handle one text frame; False ends this connection (``run`` reconnects)."""

    # -- state ----------------------------------------------------------------------------------

    @property
    def live(self) -> aiohttp.ClientWebSocketResponse | None:
        """The open connection, once greeted."""
        ws = self._ws
        return ws if ws is not None and not ws.closed and self.state is StreamState.CONNECTED else None

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

    def planned_disconnect(self) -> None:
        """The venue announced this disconnect: the reconnect is not a failure."""
        log.info("stream %s venue announced shutdown", self.name)
        self._backoff.reset()
        self.failures = 0

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
            headers = await self.upgrade_headers()
            ws = await self.session.ws_connect(
                self.url, proxy=proxy, proxy_auth=auth, autoping=True, heartbeat=None, timeout=timeout,
                headers=headers,
            )  # fmt: skip
        async with ws:
            self._ws = ws
            async with asyncio.timeout(self.options.connect_timeout_s):
                await self.greet(ws)
                held = await self._answers(ws)
            self.last_message = time.monotonic()
            self._set(StreamState.CONNECTED)
            if self.hooks.on_connected is not None:
                await self.hooks.on_connected()
            pinger = asyncio.create_task(self._ping(ws))
            try:
                for text in held:
                    if not await self.on_text(ws, text):
                        return
                await self._read(ws, stop)
            finally:
                pinger.cancel()

    async def _answers(self, ws: aiohttp.ClientWebSocketResponse) -> list[str]:
        """Read until the venue has answered the greeting; the data frames read meanwhile, kept
        for ``on_text`` after ``on_connected`` (so a consumer that readies itself there misses none)."""
        held: list[str] = []
        while self.awaiting():
            frame = await ws.receive()
            if frame.type in _CLOSING:
                raise StreamError(f"closed before the venue answered the greeting ({ws.close_code})")
            if frame.type is aiohttp.WSMsgType.TEXT:
                self.messages += 1
                if not await self.on_answer(ws, frame.data):
                    held.append(frame.data)
        return held

    async def _ping(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        while not ws.closed:
            await asyncio.sleep(self.options.ping_interval_s)
            with contextlib.suppress(ConnectionError, RuntimeError):
                await self.keep_alive(ws)

    async def _read(self, ws: aiohttp.ClientWebSocketResponse, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                frame = await ws.receive(timeout=self.options.stale_after_s)
            except TimeoutError:
                self._set(StreamState.STALE, f"no message for {self.options.stale_after_s:g} s")
                return
            if frame.type is not aiohttp.WSMsgType.TEXT:
                if frame.type in _CLOSING:
                    return
                continue
            self.last_message = time.monotonic()
            self.messages += 1
            if not await self.on_text(ws, frame.data):
                return

    async def close(self) -> None:
        """Drop the connection: ``run`` reconnects, or returns if ``stop`` is set."""
        ws = self._ws
        if ws is not None and not ws.closed:
            await ws.close()


def proxy_args(proxy: Proxy | None) -> tuple[str | None, aiohttp.BasicAuth | None]:
    """aiohttp's ``proxy`` and ``proxy_auth`` arguments for an account's proxy."""
    if proxy is None:
        return None, None
    auth = None
    if proxy.username:
        secret = proxy.password.get_secret_value() if proxy.password else ""
        auth = aiohttp.BasicAuth(proxy.username, secret)
    return proxy.url, auth
