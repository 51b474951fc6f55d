"""LogFollower against anvil: bursts, restart from cursor, reorgs, rollbacks, ws heads and polling."""

from __future__ import annotations

import asyncio
import contextlib
import itertools

from perpflow.chain.follower import FollowerConfig, LogBatch, LogFollower, ReorgReason
from perpflow.chain.models import ChainCursor, PositionLiquidated
from perpflow.devstack.ports import free_port
from tests.plugins.chain import ChainEnv


def _config(env: ChainEnv, **overrides: object) -> FollowerConfig:
    values: dict[str, object] = {"start_block": env.deploy_block, "chunk_size": 7, "reorg_rewind_blocks": 3}
    values.update(overrides)
    return FollowerConfig.model_validate(values)


async def _drain(follower: LogFollower) -> list[LogBatch]:
    return [batch async for batch in follower.catch_up()]


def _events(batches: list[LogBatch]) -> list[PositionLiquidated]:
    return [e for b in batches for e in b.events]


async def test_burst_of_50_events_is_seen_once_in_bounded_ranges(chain: ChainEnv) -> None:
    signed = await chain.burst_liquidations(50, chain.users[0])
    follower = LogFollower(chain.guard, None, _config(chain))
    batches = await _drain(follower)
    events = _events(batches)
    assert [e.tx_hash for e in events] == [s.tx_hash for s in signed]
    assert len({e.key for e in events}) == 50
    ends = [chain.deploy_block - 1] + [b.cursor.block_number for b in batches]
    assert all(0 < hi - lo <= 7 for lo, hi in itertools.pairwise(ends))  # bounded ranges
    assert follower.cursor.block_number == await chain.guard.head_number()
    assert (await follower.step()).events == ()  # nothing new: nothing again


async def test_restart_from_persisted_cursor_sees_the_rest(chain: ChainEnv) -> None:
    first = await chain.burst_liquidations(10, chain.users[0])
    follower = LogFollower(chain.guard, None, _config(chain))
    seen = _events(await _drain(follower))
    persisted = follower.cursor.model_dump_json()  # what the ledger would store
    second = await chain.burst_liquidations(10, chain.users[1])
    restarted = LogFollower(chain.guard, ChainCursor.model_validate_json(persisted), _config(chain))
    seen += _events(await _drain(restarted))
    assert [e.tx_hash for e in seen] == [s.tx_hash for s in first + second]


async def test_anvil_reorg_is_detected_and_rescanned(chain: ChainEnv) -> None:
    kept = await chain.burst_liquidations(3, chain.users[0])
    follower = LogFollower(chain.guard, None, _config(chain))
    before = {e.tx_hash: e for e in _events(await _drain(follower))}
    old_cursor = follower.cursor
    # Replace the last 2 blocks: the first one's tx is re-included (same hash, new block); the
    # last one's is dropped (re-including it alone would leave a nonce gap).
    await chain.rpc("evm_increaseTime", 5)  # else a same-second rebuild can repeat a block hash
    await chain.rpc("anvil_reorg", 2, [[kept[1].raw_tx, 0]])
    batches = await _drain(follower)
    reorg = batches[0].reorg
    assert reorg is not None and reorg.reason is ReorgReason.HASH_MISMATCH
    assert reorg.old_cursor == old_cursor
    assert reorg.new_cursor.block_number == old_cursor.block_number - 3
    rescanned = {e.tx_hash: e for e in _events(batches)}
    assert kept[2].tx_hash not in rescanned  # reorged out
    assert kept[1].tx_hash in rescanned  # re-delivered: the consumer dedupes by key
    assert rescanned[kept[1].tx_hash].block_hash != before[kept[1].tx_hash].block_hash
    assert kept[0].tx_hash in rescanned  # inside the rewind depth: delivered again, same block
    assert await chain.guard.receipt(kept[2].tx_hash) is None
    assert follower.cursor.block_hash == await chain.guard.block_hash(follower.cursor.block_number)


async def test_rollback_below_cursor_rewinds_and_sees_new_chain(chain: ChainEnv) -> None:
    snapshot = await chain.rpc("evm_snapshot")
    await chain.burst_liquidations(4, chain.users[0])
    follower = LogFollower(chain.guard, None, _config(chain))
    _events(await _drain(follower))
    assert await chain.rpc("evm_revert", snapshot) is True  # head moves back, no notification
    replacement = await chain.burst_liquidations(2, chain.users[1])
    assert await chain.guard.head_number() < follower.cursor.block_number
    batches = await _drain(follower)
    assert batches[0].reorg is not None and batches[0].reorg.reason is ReorgReason.ROLLBACK
    assert [e.tx_hash for e in _events(batches)] == [s.tx_hash for s in replacement]


async def test_anvil_rollback_with_stale_cursor_beyond_head(chain: ChainEnv) -> None:
    await chain.burst_liquidations(3, chain.users[0])
    follower = LogFollower(chain.guard, None, _config(chain))
    await _drain(follower)
    await chain.rpc("anvil_rollback", 2)
    batch = await follower.step()  # no BlockOutOfRange error: the rollback is handled
    assert batch.reorg is not None and batch.reorg.reason is ReorgReason.ROLLBACK
    assert follower.cursor.block_number <= await chain.guard.head_number()


async def _collect(follower: LogFollower, want: int, timeout_s: float) -> list[PositionLiquidated]:
    events: list[PositionLiquidated] = []
    async with asyncio.timeout(timeout_s), contextlib.aclosing(follower.run()) as batches:
        async for batch in batches:
            events += batch.events
            if len(events) >= want:
                break
    return events


async def test_websocket_new_heads_wake_the_follower(chain: ChainEnv) -> None:
    # Polling is made useless (60 s): only the newHeads subscription can deliver in time.
    config = _config(chain, ws_url=chain.node.ws_url, poll_interval_s=60, ws_safety_poll_s=60)
    follower = LogFollower(chain.guard, ChainCursor(block_number=await chain.guard.head_number()), config)
    task = asyncio.create_task(_collect(follower, 3, timeout_s=10))
    async with asyncio.timeout(5):
        while not follower.heads.connected:
            await asyncio.sleep(0.01)
    await asyncio.sleep(0.05)  # let the follower go idle on the socket
    signed = await chain.burst_liquidations(3, chain.users[0])
    events = await task
    assert [e.tx_hash for e in events] == [s.tx_hash for s in signed]
    assert follower.heads.latest is not None and follower.heads.connects == 1
    assert not follower.heads.connected  # stopped with the generator


async def test_polling_fallback_when_websocket_is_unavailable(chain: ChainEnv) -> None:
    dead_ws = f"ws://127.0.0.1:{free_port()}"
    config = _config(
        chain, ws_url=dead_ws, poll_interval_s=0.02, reconnect_initial_s=0.01, reconnect_max_s=0.05
    )
    follower = LogFollower(chain.guard, ChainCursor(block_number=await chain.guard.head_number()), config)
    task = asyncio.create_task(_collect(follower, 4, timeout_s=10))
    async with asyncio.timeout(5):
        while follower.heads._backoff.attempt < 1:  # running, and the socket refused once
            await asyncio.sleep(0.01)
    signed = await chain.burst_liquidations(4, chain.users[0])
    events = await task
    assert [e.tx_hash for e in events] == [s.tx_hash for s in signed]
    assert follower.heads.connects == 0
    assert follower.heads._backoff.attempt >= 1  # kept retrying the socket meanwhile
