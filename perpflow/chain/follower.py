"""LogFollower: PositionLiquidated events from a cursor, in bounded ranges, reorg-aware.

Delivery is at-least-once. The follower yields `LogBatch`es; the consumer handles the events and
THEN persists `batch.cursor` (ledger `chain_cursors`). A crash in between, or a reorg rewind,
re-delivers events, so the consumer dedupes by `event.key` = (tx_hash, log_index) — the payout
workflow id is built from that key, so a duplicate start is rejected by Temporal anyway.
Confirmations are not waited for here (events are yielded up to the head); the payout workflow
waits for them and re-checks the event's block hash before paying.

Reorg detection (anvil never sends `removed` logs): at every step the stored cursor hash is
compared with the canonical hash at that height, and a head below the cursor is a rollback.
Either way the cursor rewinds `reorg_rewind_blocks` below the divergence and rescans. A reorg
deeper than that depth is not detected below the rewind point: set it above the workflow's
confirmation depth.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import AsyncIterator

from pydantic import BaseModel, ConfigDict, Field

from perpflow.chain.artifact import POSITION_LIQUIDATED, event_topic
from perpflow.chain.backoff import Backoff
from perpflow.chain.client import DEFAULT_LOG_CHUNK, ChainClient
from perpflow.chain.decode import decode_position_liquidated, to_hex
from perpflow.chain.errors import ChainTransportError
from perpflow.chain.heads import HeadWatcher
from perpflow.chain.models import ChainCursor, PositionLiquidated

log = logging.getLogger(__name__)


class FollowerConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    start_block: int = Field(
        default=0, ge=0, description="first block to scan without a cursor (deploy block)"
    )
    chunk_size: int = Field(default=DEFAULT_LOG_CHUNK, gt=0)
    reorg_rewind_blocks: int = Field(default=12, ge=0)
    ws_url: str | None = None
    # Without a socket we poll at this pace; with one, only as a safety net because rollbacks
    # (anvil_rollback, evm_revert) and a silently dead subscription produce no notification.
    poll_interval_s: float = Field(default=1.0, gt=0)
    ws_safety_poll_s: float = Field(default=5.0, gt=0)
    reconnect_initial_s: float = Field(default=0.5, gt=0)
    reconnect_max_s: float = Field(default=30.0, gt=0)


class ReorgReason(enum.StrEnum):
    HASH_MISMATCH = "hash_mismatch"
    ROLLBACK = "rollback"


class ReorgDetected(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    reason: ReorgReason
    old_cursor: ChainCursor
    new_cursor: ChainCursor
    head: int


class LogBatch(BaseModel):
    """Events of blocks (old cursor, cursor]; persist `cursor` after handling `events`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    events: tuple[PositionLiquidated, ...]
    cursor: ChainCursor
    head: int
    reorg: ReorgDetected | None = None

    @property
    def caught_up(self) -> bool:
        return self.cursor.block_number >= self.head


class LogFollower:
    def __init__(
        self, client: ChainClient, cursor: ChainCursor | None, config: FollowerConfig | None = None
    ) -> None:
        self.client = client
        self.config = config or FollowerConfig()
        self._floor = self.config.start_block - 1
        self._cursor = cursor or ChainCursor(block_number=self._floor)
        self._last_yielded = self._cursor
        self.heads = HeadWatcher(
            self.config.ws_url, Backoff(self.config.reconnect_initial_s, self.config.reconnect_max_s)
        )
        self._topic = event_topic(POSITION_LIQUIDATED)

    @property
    def cursor(self) -> ChainCursor:
        return self._cursor

    async def step(self) -> LogBatch:
        """One bounded scan: reorg check, then at most `chunk_size` blocks up to the head."""
        head = await self.client.head_number()
        reorg = await self._check_reorg(self._cursor, head)
        if reorg is not None:
            self._cursor = reorg.new_cursor
        if self._cursor.block_number >= head:
            return LogBatch(events=(), cursor=self._cursor, head=head, reorg=reorg)
        lo = self._cursor.block_number + 1
        hi = min(head, lo + self.config.chunk_size - 1)
        scanned = await self._scan(lo, hi)
        if scanned is None:  # the chain moved under the scan: the next step re-checks from the cursor
            return LogBatch(events=(), cursor=self._cursor, head=head, reorg=reorg)
        events, self._cursor = scanned
        return LogBatch(events=events, cursor=self._cursor, head=head, reorg=reorg)

    async def _scan(self, lo: int, hi: int) -> tuple[tuple[PositionLiquidated, ...], ChainCursor] | None:
        # Pin the range by its last block's hash before and after eth_getLogs: if it did not
        # change, none of its ancestors did (hash chain), so the logs belong to one fork.
        hi_hash = await self.client.block_hash(hi)
        logs = [
            lg
            async for _, _, chunk in self.client.iter_log_chunks(self._topic, lo, hi, chunk=hi - lo + 1)
            for lg in chunk
        ]
        stable = hi_hash is not None and await self.client.block_hash(hi) == hi_hash
        stable = stable and await self._cursor_still_canonical()
        if not stable or any(
            int(lg["blockNumber"]) == hi and to_hex(lg["blockHash"]) != hi_hash for lg in logs
        ):
            log.info("chain moved during scan %s-%s; rescanning", lo, hi)
            return None
        events = tuple(decode_position_liquidated(lg) for lg in logs)
        return events, ChainCursor(block_number=hi, block_hash=hi_hash)

    async def _cursor_still_canonical(self) -> bool:
        cur = self._cursor
        return cur.block_hash is None or await self.client.block_hash(cur.block_number) == cur.block_hash

    async def _check_reorg(self, cursor: ChainCursor, head: int) -> ReorgDetected | None:
        if cursor.block_number > head:
            reason, diverged_at = ReorgReason.ROLLBACK, head
        elif (
            cursor.block_hash is not None
            and await self.client.block_hash(cursor.block_number) != cursor.block_hash
        ):
            reason, diverged_at = ReorgReason.HASH_MISMATCH, cursor.block_number
        else:
            return None
        number = max(self._floor, diverged_at - self.config.reorg_rewind_blocks)
        new_hash = await self.client.block_hash(number) if number >= 0 else None
        new_cursor = ChainCursor(block_number=number, block_hash=new_hash)
        log.warning(
            "reorg detected reason=%s cursor=%s head=%s rewind_to=%s",
            reason,
            cursor.block_number,
            head,
            number,
        )
        return ReorgDetected(reason=reason, old_cursor=cursor, new_cursor=new_cursor, head=head)

    async def catch_up(self) -> AsyncIterator[LogBatch]:
        """Steps until the cursor reaches the head seen by the last step (no waiting)."""
        while True:
            batch = await self.step()
            yield batch
            if batch.caught_up:
                return

    async def run(self) -> AsyncIterator[LogBatch]:
        """Follows forever. Yields every batch that moved the cursor or found a reorg.

        Use with `contextlib.aclosing(...)` so the websocket task stops with the generator.
        Transport errors are retried here with back-off; everything else propagates.
        """
        self.heads.start()
        errors = Backoff(self.config.reconnect_initial_s, self.config.reconnect_max_s)
        try:
            while True:
                seen = self.heads.seq
                try:
                    batch = await self.step()
                except ChainTransportError as exc:
                    delay = errors.next_delay()
                    log.warning("follower step failed: %s; retry in %.2fs", exc, delay)
                    await self.heads.wait_for_change(seen, delay)
                    continue
                errors.reset()
                if batch.events or batch.reorg is not None or batch.cursor != self._last_yielded:
                    self._last_yielded = batch.cursor
                    yield batch
                if batch.caught_up:
                    await self.heads.wait_for_change(seen, self._idle_wait())
        finally:
            await self.heads.stop()

    def _idle_wait(self) -> float:
        return self.config.ws_safety_poll_s if self.heads.connected else self.config.poll_interval_s
