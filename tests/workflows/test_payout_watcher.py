"""The chain watcher: every event becomes exactly one payout, across bursts and restarts."""

from __future__ import annotations

import asyncio

from temporalio.testing import WorkflowEnvironment

from perpflow import names
from perpflow.chain.models import UnsignedTx
from perpflow.payouts.models import PayoutRecord
from perpflow.payouts.watcher import ChainWatcher
from tests.plugins.chain import ChainEnv
from tests.plugins.payouts import Payouts, PayoutState, eventually, open_payouts


async def run_watcher(watcher: ChainWatcher) -> tuple[asyncio.Task[None], asyncio.Event]:
    stop = asyncio.Event()
    return asyncio.create_task(watcher.run(stop)), stop


async def mine_payouts(payouts: Payouts) -> list[PayoutRecord]:
    rows = await payouts.repo.recent(limit=10_000)
    return [r for r in rows if r.wallet == payouts.owner.address or r.user_address in payouts.users]


async def all_done(payouts: Payouts, count: int) -> bool:
    rows = await mine_payouts(payouts)
    return len(rows) == count and all(r.state is PayoutState.DONE for r in rows)


async def runs_per_workflow(payouts: Payouts) -> dict[str, int]:
    runs: dict[str, int] = {}
    query = f'WorkflowType="LiquidationPayoutWorkflow" AND TaskQueue="{payouts.task_queue}"'
    async for wf in payouts.client.list_workflows(query):
        runs[wf.id] = runs.get(wf.id, 0) + 1
    return runs


def assert_consecutive_nonces(rows: list[PayoutRecord]) -> None:
    nonces = sorted(r.nonce for r in rows if r.nonce is not None)
    assert len(nonces) == len(rows)
    assert nonces == list(range(nonces[0], nonces[0] + len(rows))), nonces


async def test_a_burst_of_50_events_becomes_50_payouts_with_consecutive_nonces(payouts: Payouts) -> None:
    await payouts.start_workers()
    task, stop = await run_watcher(payouts.watcher())
    try:
        hashes = await payouts.burst(50)
        await eventually(lambda: all_done(payouts, 50), 90, "50 payouts DONE")
    finally:
        stop.set()
        await task
    rows = await mine_payouts(payouts)
    assert {r.event_tx_hash for r in rows} == set(hashes)
    assert_consecutive_nonces(rows)
    assert all(len(r.tx_hashes) == 1 for r in rows)
    last = max(r.nonce or 0 for r in rows)
    assert await payouts.guard.latest_nonce(payouts.owner.address) == last + 1  # all mined, none else


async def test_a_watcher_restarted_mid_burst_misses_none_and_starts_none_twice(payouts: Payouts) -> None:
    await payouts.start_workers()
    first = payouts.watcher()
    task, stop = await run_watcher(first)
    burst = asyncio.create_task(payouts.burst(30))
    await eventually(lambda: asyncio.sleep(0, first.started >= 5), 30, "first starts")
    task.cancel()  # killed mid-burst: no orderly stop, the cursor is wherever it was
    await asyncio.gather(task, return_exceptions=True)
    hashes = await burst
    second = payouts.watcher()
    task, stop = await run_watcher(second)
    try:
        await eventually(lambda: all_done(payouts, 30), 90, "30 payouts DONE")
    finally:
        stop.set()
        await task
    runs = await runs_per_workflow(payouts)
    assert len(runs) == 30 and set(runs.values()) == {1}
    rows = await mine_payouts(payouts)
    assert {r.event_tx_hash for r in rows} == set(hashes)
    assert_consecutive_nonces(rows)
    # Restarting from the saved cursor again replays nothing new.
    third = payouts.watcher()
    task, stop = await run_watcher(third)
    await payouts.chain.mine(1)  # an empty block: its cursor passes it once it has looked at all
    head = await payouts.guard.head_number()
    await eventually(lambda: _cursor_at(payouts, third, head), 20, "the third watcher caught up")
    stop.set()
    await task
    assert third.started == 0


async def test_an_event_reincluded_by_a_reorg_is_paid_once_under_its_own_id(
    chain: ChainEnv, temporal_env: WorkflowEnvironment, sqlite_url: str
) -> None:
    async with open_payouts(chain, temporal_env, sqlite_url, confirmations=3) as payouts:
        user = payouts.users[0]
        before = await payouts.balance(user)
        await payouts.start_workers()
        task, stop = await run_watcher(payouts.watcher())
        try:
            [tx_hash] = await payouts.burst(1, [user])
            first_id = names.payout_id(payouts.policy.chain_id, tx_hash, 0)
            await eventually(lambda: _has_row(payouts, first_id), 20, "first inclusion's row")
            # The liquidation's block is replaced by one holding the same tx and a transfer (so
            # another hash): the event is re-included, its first inclusion is gone.
            raw = await payouts.chain.rpc("eth_getRawTransactionByHash", tx_hash)
            await payouts.chain.rpc("anvil_reorg", 1, [[raw, 0], [await _a_transfer(payouts), 0]])
            await payouts.chain.mine(3)
            rows = await _settled_rows_of(payouts, tx_hash)
        finally:
            stop.set()
            await task
    by_id = {r.workflow_id: r for r in rows}
    assert by_id.pop(first_id).state is PayoutState.REORGED
    [(second_id, second)] = by_id.items()
    receipt = await payouts.guard.receipt(tx_hash)
    assert receipt is not None
    assert second_id == names.payout_id(payouts.policy.chain_id, tx_hash, 0, reincluded_in=receipt.block_hash)
    assert second.state is PayoutState.DONE and len(second.tx_hashes) == 1
    assert await payouts.balance(user) - before == second.amount_wei  # paid once, by the second


async def _a_transfer(payouts: Payouts) -> str:
    sender = await payouts.chain.funded_wallet()
    tx = UnsignedTx(
        chain_id=payouts.policy.chain_id,
        nonce=0,
        to=payouts.users[1],
        value=1,
        gas=21_000,
        fees=await payouts.guard.suggest_fees(),
    )
    return sender.sign(tx).raw_tx


async def _cursor_at(payouts: Payouts, watcher: ChainWatcher, block: int) -> bool:
    cursor = await payouts.repo.load_cursor(watcher.name)
    return cursor is not None and cursor.block_number >= block


async def _has_row(payouts: Payouts, workflow_id: str) -> bool:
    return any(r.workflow_id == workflow_id for r in await payouts.repo.recent(limit=10_000))


async def _settled_rows_of(payouts: Payouts, tx_hash: str) -> list[PayoutRecord]:
    async def settled() -> bool:
        rows = [r for r in await payouts.repo.recent(limit=10_000) if r.event_tx_hash == tx_hash]
        return len(rows) == 2 and all(r.state.final for r in rows)

    await eventually(settled, 60, "both inclusions settled")
    return [r for r in await payouts.repo.recent(limit=10_000) if r.event_tx_hash == tx_hash]
