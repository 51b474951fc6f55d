"""New-head notifications: a `newHeads` websocket subscription with reconnect, or nothing.

The watcher only wakes the follower early; correctness never depends on it (anvil_rollback and
evm_revert emit no head at all), so the follower also polls, faster while the socket is down.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping

from web3 import AsyncWeb3, WebSocketProvider

from perpflow.chain.backoff import Backoff

log = logging.getLogger(__name__)


class HeadWatcher:
    def __init__(
        self, ws_url: str | None, backoff: Backoff | None = None, request_timeout_s: float = 10.0
    ) -> None:
        self.ws_url = ws_url
        self._backoff = backoff or Backoff()
        self._request_timeout_s = request_timeout_s
        self._event = asyncio.Event()
        self._seq = 0
        self._task: asyncio.Task[None] | None = None
        self.connected = False
        self.latest: int | None = None
        self.connects = 0

    @property
    def seq(self) -> int:
        """Bumped on every notification (and on every (re)connect, when heads may have been missed)."""
        return self._seq

    def _bump(self) -> None:
        self._seq += 1
        self._event.set()

    def start(self) -> None:
        if self.ws_url is not None and self._task is None:
            self._task = asyncio.create_task(self._run(self.ws_url), name="perpflow-newheads")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self.connected = False

    async def wait_for_change(self, seen: int, timeout_s: float) -> bool:
        """Waits until `seq` moves past `seen`; False on timeout. No lost wake-ups: the check and
        the clear happen without an await in between."""
        if self._seq != seen:
            return True
        self._event.clear()
        try:
            await asyncio.wait_for(self._event.wait(), timeout_s)
        except TimeoutError:
            return self._seq != seen
        return True

    async def _run(self, url: str) -> None:
        while True:
            try:
                await self._subscribe_and_listen(url)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # any failure means: reconnect later, poll meanwhile
                log.warning("newHeads subscription to %s lost: %s", url, type(exc).__name__)
            finally:
                self.connected = False
            delay = self._backoff.next_delay()
            log.info("newHeads reconnect attempt=%s in %.2fs", self._backoff.attempt, delay)
            await asyncio.sleep(delay)

    async def _subscribe_and_listen(self, url: str) -> None:
        # One connection attempt per call: back-off and jitter are ours, not web3's fixed 1.75x.
        provider = WebSocketProvider(url, max_connection_retries=1, request_timeout=self._request_timeout_s)
        async with AsyncWeb3(provider) as w3:
            await w3.eth.subscribe("newHeads")
            self.connected, self.connects = True, self.connects + 1
            self._backoff.reset()
            log.info("newHeads subscribed url=%s", url)
            self._bump()  # heads may have been missed while disconnected
            async for message in w3.socket.process_subscriptions():
                result = message.get("result")
                if isinstance(result, Mapping) and "number" in result:
                    self.latest = int(result["number"])
                self._bump()
