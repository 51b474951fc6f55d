"""Watches of workflows that no longer run: deactivated, so what only they asked for stops.

A workflow deactivates its watches when it ends cleanly; one terminated or failed leaves them
active for ever, and the service would follow their accounts (an account the venue does not know
never becomes healthy, and the dev stack waits for every stream) and signal a dead workflow.
Every ``sweep_every_s`` one visibility query (``BATCH`` ids a query) asks which of the workflows
with active watches on this venue are running; the watches of each other one are deactivated
once its own record (``describe``) confirms it has ended. A signal that comes back NOT_FOUND
deactivates that workflow's watches at once. Either way a watch registered less than
``sweep_grace_s`` ago is kept: its workflow may not be visible yet, or be a new run of the same
id. The next refresh then stops the account streams, bands and feed-state subscriptions that only
those watches asked for.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from perpflow.db.watches import Watches
from perpflow.marketdata.config import MarketDataConfig

log = logging.getLogger(__name__)

# Workflow ids per visibility query: keeps each query's text a few kB, far under the server's limit.
BATCH = 100


class WatchSweep:
    def __init__(
        self,
        client: Client,
        watches: Watches,
        config: MarketDataConfig,
        spawn: Callable[[Coroutine[Any, Any, None]], None],
    ) -> None:
        """``spawn`` runs a NOT_FOUND's deactivation in the background (the service's, cancelled
        at its shutdown)."""
        self.client, self.watches, self._spawn = client, watches, spawn
        self.venue = config.venue
        self.every_s, self.grace = config.sweep_every_s, timedelta(seconds=config.sweep_grace_s)
        self.sweeps = 0  # sweeps completed
        self._gone: set[str] = set()  # NOT_FOUND workflows whose deactivation is under way

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.sweep()
            except Exception as exc:  # Temporal or the ledger is down: the next sweep retries
                log.warning("watch sweep venue=%s failed: %s", self.venue, exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.every_s)

    async def sweep(self) -> None:
        before = self._cutoff()
        workflow_ids = await self.watches.registered_before(self.venue, before)
        running = await self._running(sorted(workflow_ids))
        for workflow_id in sorted(workflow_ids - running):
            if await self._ended(workflow_id):
                await self._deactivate(workflow_id, before, "workflow not running")
        self.sweeps += 1

    def gone(self, workflow_id: str) -> None:
        """A signal to ``workflow_id`` came back NOT_FOUND: its run has ended."""
        if workflow_id not in self._gone:
            self._gone.add(workflow_id)
            self._spawn(self._deactivate_gone(workflow_id))

    async def _deactivate_gone(self, workflow_id: str) -> None:
        try:
            await self._deactivate(workflow_id, self._cutoff(), "signal NOT_FOUND")
        except Exception as exc:  # the ledger is down: the sweep finds the workflow later
            log.warning("deactivating the watches of workflow %s failed: %s", workflow_id, exc)
        finally:
            self._gone.discard(workflow_id)

    async def _deactivate(self, workflow_id: str, before: datetime, why: str) -> None:
        count = await self.watches.deactivate_before([workflow_id], self.venue, before)
        if count:
            log.info(
                "deactivated %d watch(es) of workflow %s venue=%s: %s", count, workflow_id, self.venue, why
            )

    async def _running(self, workflow_ids: list[str]) -> set[str]:
        running: set[str] = set()
        for start in range(0, len(workflow_ids), BATCH):
            batch = workflow_ids[start : start + BATCH]
            ids = ", ".join(_quoted(i) for i in batch)
            query = f"WorkflowId IN ({ids}) AND ExecutionStatus = 'Running'"
            async for execution in self.client.list_workflows(query, page_size=len(batch)):
                running.add(execution.id)
        return running

    async def _ended(self, workflow_id: str) -> bool:
        """The workflow's own record confirms what the visibility query says: that store may lag,
        and matches no id with a ``"`` or ``\\`` (dev server 1.32). One call per ended workflow,
        whose watches are then gone."""
        try:
            described = await self.client.get_workflow_handle(workflow_id).describe()
        except RPCError as exc:
            if exc.status is RPCStatusCode.NOT_FOUND:
                return True
            raise
        return described.status is not WorkflowExecutionStatus.RUNNING

    def _cutoff(self) -> datetime:
        return datetime.now(UTC) - self.grace


def _quoted(value: str) -> str:
    """A string literal of Temporal's visibility query language."""
    escaped = value.replace("\\", "\\\\").replace("'", "\\'")
    return f"'{escaped}'"
