"""ChainWatcher: PositionLiquidated logs -> one LiquidationPayoutWorkflow each, cursor after.

A Temporal *client* (not a worker). The follower delivers at least once (restart, reorg rewind);
the workflow id is the event's business key (recorded in the ledger with the event's block hash
before the start) and the start refuses a second run, so a replayed event is a no-op, while a
reorg that re-included the event in another block starts that inclusion's own workflow. The
cursor is persisted only after every start of its batch succeeded.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator
from datetime import UTC, datetime
from typing import cast

from temporalio.client import Client
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import WorkflowAlreadyStartedError

from perpflow import names
from perpflow.chain.client import ChainClient
from perpflow.chain.follower import FollowerConfig, LogBatch, LogFollower
from perpflow.chain.models import PositionLiquidated
from perpflow.metrics.instruments import PAYOUT_EVENTS
from perpflow.payouts.book import PayoutBook
from perpflow.payouts.ledger import PayoutLedger
from perpflow.payouts.models import PayoutInput, PayoutPolicy, PayoutState

log = logging.getLogger(__name__)

WORKFLOW_TYPE = "LiquidationPayoutWorkflow"
START_ATTRIBUTES = TypedSearchAttributes(
    [
        SearchAttributePair(names.KIND, names.Kind.PAYOUT),
        SearchAttributePair(names.CYCLE_STATE, PayoutState.CONFIRMING),
    ]
)
# Starts in flight at once: enough to keep the dev server busy, bounded for a burst of thousands.
START_CONCURRENCY = 16


def cursor_name(chain_id: int, guard_address: str) -> str:
    return f"payouts-{chain_id}-{guard_address.lower()}"


class ChainWatcher:
    def __init__(
        self,
        client: Client,
        chain: ChainClient,
        repo: PayoutLedger,
        policy: PayoutPolicy,
        *,
        follower_config: FollowerConfig,
        task_queue: str = names.ORCHESTRATOR_QUEUE,
    ) -> None:
        self.client, self.chain, self.repo, self.policy = client, chain, repo, policy
        self.book = PayoutBook(repo)
        self.follower_config, self.task_queue = follower_config, task_queue
        self.name = cursor_name(policy.chain_id, policy.guard_address)
        self.started = 0  # new workflows (duplicates not counted)
        self._gate = asyncio.Semaphore(START_CONCURRENCY)

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Follow until `stop` is set (or forever); transport errors are retried by the follower."""
        cursor = await self.repo.load_cursor(self.name)
        follower = LogFollower(self.chain, cursor, self.follower_config)
        log.info("watcher starting cursor=%s guard=%s", cursor, self.policy.guard_address)
        follow = asyncio.create_task(self._follow(follower))
        waiter = asyncio.create_task((stop or asyncio.Event()).wait())
        try:
            done, _ = await asyncio.wait({follow, waiter}, return_when=asyncio.FIRST_COMPLETED)
            if follow in done:
                follow.result()  # re-raise what killed the follower
        finally:
            for task in (follow, waiter):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def _follow(self, follower: LogFollower) -> None:
        batches_gen = cast(AsyncGenerator[LogBatch, None], follower.run())
        async with contextlib.aclosing(batches_gen) as batches:
            async for batch in batches:
                await self.handle(batch)

    async def handle(self, batch: LogBatch) -> None:
        if batch.reorg is not None:
            log.warning("watcher rewound reason=%s to=%s", batch.reorg.reason, batch.cursor.block_number)
        await asyncio.gather(*(self.start(ev) for ev in batch.events))
        # Ledger writes run to their end even when the watcher is cancelled: a unit of work cut off
        # mid-rollback leaves its connection holding SQLite's write lock for every other writer.
        await asyncio.shield(self.repo.save_cursor(self.name, self.policy.chain_id, batch.cursor))
        if batch.events:
            log.info("watcher batch events=%d cursor=%s", len(batch.events), batch.cursor.block_number)

    async def start(self, event: PositionLiquidated) -> bool:
        """Start the event's workflow; False if it exists (running or finished): a no-op."""
        async with self._gate:
            claim = self.book.claim(self.policy.chain_id, event, datetime.now(UTC))
            workflow_id = await asyncio.shield(claim)
            try:
                await self.client.start_workflow(
                    WORKFLOW_TYPE,
                    PayoutInput(event=event, policy=self.policy),
                    id=workflow_id,
                    task_queue=self.task_queue,
                    id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                    id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                    search_attributes=START_ATTRIBUTES,  # listed in the UI from the first moment
                )
            except WorkflowAlreadyStartedError:
                log.info("payout already started workflow_id=%s", workflow_id)
                return False
        self.started += 1
        PAYOUT_EVENTS.labels(str(self.policy.chain_id)).inc()
        log.info(
            "payout started workflow_id=%s block=%s user=%s", workflow_id, event.block_number, event.user
        )
        return True
