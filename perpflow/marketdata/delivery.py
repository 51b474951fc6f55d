"""Signals to workflows, at least once: each is retried with back-off until Temporal takes it,
and in the order they were handed over per workflow: a signal waits for the one before it to the
same workflow (sent at once, two could land the other way round, and a crossing's older price land
after a fill's newer one). Signals to different workflows go side by side.

A workflow that no longer runs cannot use the fact: that signal is dropped with a debug line,
and ``on_gone`` is told the workflow id (the service deactivates its watches, ``sweep.py``).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from perpflow.chain.backoff import Backoff
from perpflow.models import Model

log = logging.getLogger(__name__)

MAX_IN_FLIGHT = 64
# A connection that silently drops packets would otherwise hold a signal until HTTP/2 keepalive
# gives up (tens of seconds) before the retry.
SIGNAL_RPC_TIMEOUT = timedelta(seconds=5)


@dataclass
class Delivery:
    workflow_id: str
    signal: str
    payload: Model
    key: str  # fill id, crossing id or feed change, for logs
    kind: str  # "fill", "crossing" or "feed", for metrics
    seen_at: float = field(default_factory=time.perf_counter)
    on_done: Callable[[], None] | None = None


class Signaller:
    def __init__(
        self,
        client: Client,
        *,
        on_sent: Callable[[Delivery, float], None] | None = None,
        on_retry: Callable[[Delivery], None] | None = None,
        on_gone: Callable[[str], None] | None = None,
        retry_initial_s: float = 0.2,
        retry_max_s: float = 5.0,
    ) -> None:
        self.client = client
        self._on_sent, self._on_retry, self._on_gone = on_sent, on_retry, on_gone
        self._retry = (retry_initial_s, retry_max_s)
        self._gate = asyncio.Semaphore(MAX_IN_FLIGHT)
        self._tasks: set[asyncio.Task[None]] = set()
        self._last: dict[str, asyncio.Task[None]] = {}  # per workflow, the last signal handed over

    @property
    def pending(self) -> int:
        return len(self._tasks)

    def send(self, d: Delivery) -> None:
        before = self._last.get(d.workflow_id)
        task = asyncio.get_running_loop().create_task(self._deliver(d, before))
        self._tasks.add(task)
        self._last[d.workflow_id] = task
        task.add_done_callback(functools.partial(self._done, d.workflow_id))

    def _done(self, workflow_id: str, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if self._last.get(workflow_id) is task:
            del self._last[workflow_id]

    async def _deliver(self, d: Delivery, before: asyncio.Task[None] | None) -> None:
        if before is not None:
            await asyncio.wait([before])
        backoff = Backoff(*self._retry)
        async with self._gate:
            while True:
                handle = self.client.get_workflow_handle(d.workflow_id)
                try:
                    await handle.signal(d.signal, d.payload, rpc_timeout=SIGNAL_RPC_TIMEOUT)
                    break
                except RPCError as exc:
                    if exc.status is RPCStatusCode.NOT_FOUND:
                        log.debug(
                            "signal %s %s dropped: workflow %s not running", d.signal, d.key, d.workflow_id
                        )
                        if self._on_gone is not None:
                            self._on_gone(d.workflow_id)
                        break
                    reason = exc.status.name if exc.status else str(exc)
                except Exception as exc:  # anything else: retried too, the fact must not be lost
                    reason = f"{type(exc).__name__}: {exc}"
                if self._on_retry is not None:
                    self._on_retry(d)
                delay = backoff.next_delay()
                log.warning(
                    "signal %s %s to %s failed (%s); retry in %.1f s",
                    d.signal,
                    d.key,
                    d.workflow_id,
                    reason,
                    delay,
                )
                await asyncio.sleep(delay)
        if self._on_sent is not None:
            self._on_sent(d, time.perf_counter() - d.seen_at)
        if d.on_done is not None:
            d.on_done()

    async def flush(self) -> None:
        """Wait until every signal handed over so far is delivered or dropped."""
        if self._tasks:
            await asyncio.wait(set(self._tasks))

    async def drain(self, timeout: float) -> None:
        """At shutdown: give in-flight signals a moment, then cancel (the venue replays them)."""
        if self._tasks:
            _, late = await asyncio.wait(set(self._tasks), timeout=timeout)
            for task in late:
                task.cancel()
