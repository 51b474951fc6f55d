"""Payout failure paths on a real anvil: dropped and stuck txs, reorgs, refusals, the contract guard."""

from __future__ import annotations

import asyncio
import contextlib
from decimal import Decimal

import pytest
from sqlalchemy import delete

from perpflow.chain.errors import ContractRevert
from perpflow.chain.models import TxState
from perpflow.db.tables import Payout
from perpflow.devstack import chain_admin
from tests.plugins.chain import ETH
from tests.plugins.payouts import Payouts, PayoutState, eventually


async def first_hash(payouts: Payouts, workflow_id: str, count: int = 1) -> list[str]:
    hashes: list[str] = []

    async def stored() -> bool:
        nonlocal hashes
        with contextlib.suppress(Exception):
            hashes = (await payouts.repo.get(workflow_id)).tx_hashes
        return len(hashes) >= count

    await eventually(stored, 30, f"{count} stored tx hash(es)")
    return hashes


async def test_a_dropped_tx_is_rebroadcast_as_the_same_bytes(payouts: Payouts) -> None:
    ev = await payouts.liquidate()
    await payouts.chain.set_automine(False)
    await payouts.start_workers()
    handle = await payouts.start(ev, payouts.policy.model_copy(update={"stuck_after_s": 120}))
    [tx_hash] = await first_hash(payouts, handle.id)
    await eventually(lambda: _is(payouts, tx_hash, TxState.PENDING), 10, "tx pending")
    assert await payouts.chain.rpc("anvil_dropTransaction", tx_hash) == tx_hash
    await eventually(lambda: _is(payouts, tx_hash, TxState.PENDING), 15, "tx rebroadcast")
    await payouts.chain.mine(1)
    status = await handle.result()
    assert status.state is PayoutState.DONE
    rec = await payouts.repo.get(handle.id)
    assert rec.tx_hashes == [tx_hash] and rec.final_tx_hash == tx_hash


async def test_a_stuck_tx_is_replaced_by_a_fee_bump_and_only_one_hash_mines(payouts: Payouts) -> None:
    user = payouts.users[1]
    before = await payouts.balance(user)
    ev = await payouts.liquidate(user, leverage_ratio=600)
    await payouts.chain.set_automine(False)
    await payouts.start_workers()
    handle = await payouts.start(ev, payouts.policy.model_copy(update={"stuck_after_s": 1}))
    hashes = await first_hash(payouts, handle.id, count=2)
    await payouts.chain.mine(1)
    status = await handle.result()
    assert status.state is PayoutState.DONE
    rec = await payouts.repo.get(handle.id)
    mined = [h for h in rec.tx_hashes if await payouts.guard.receipt(h) is not None]
    assert len(rec.tx_hashes) >= len(hashes) >= 2
    assert mined == [rec.final_tx_hash]
    assert await payouts.balance(user) - before == ETH // 100


async def test_a_reorged_out_event_ends_reorged_without_payout(payouts: Payouts) -> None:
    user = payouts.users[0]
    before = await payouts.balance(user)
    ev = await payouts.liquidate(user)
    await payouts.start_workers()
    handle = await payouts.start(ev, payouts.policy.model_copy(update={"confirmations": 3}))
    await eventually(lambda: _row_exists(payouts, handle.id), 10, "payout row")
    await payouts.chain.rpc("anvil_reorg", 1, [])
    await payouts.chain.mine(3)
    status = await handle.result()
    assert status.state is PayoutState.REORGED, status
    assert "no longer canonical" in (status.reason or "")
    assert await payouts.balance(user) == before
    assert not await payouts.guard.paid(ev.liquidation_id)
    assert (await payouts.repo.get(handle.id)).state is PayoutState.REORGED


async def test_a_user_no_longer_whitelisted_is_ineligible_with_the_reason(payouts: Payouts) -> None:
    user = payouts.users[2]
    ev = await payouts.liquidate(user)
    await chain_admin.whitelist(payouts.guard, payouts.owner, user, allowed=False)
    await payouts.start_workers()
    status = await payouts.run_to_end(ev)
    assert status.state is PayoutState.INELIGIBLE
    assert status.reason == f"user {user} is not whitelisted"
    assert (await payouts.repo.get(status.workflow_id)).reason == status.reason


async def test_an_over_cap_event_is_ineligible_with_the_reason(payouts: Payouts) -> None:
    user = payouts.users[0]
    policy = payouts.policy.model_copy(update={"per_user_daily_cap_eth": Decimal("0.025")})
    await payouts.start_workers()
    first = await payouts.run_to_end(await payouts.liquidate(user, 1250), policy)
    second = await payouts.run_to_end(await payouts.liquidate(user, 1250), policy)
    assert first.state is PayoutState.DONE
    assert second.state is PayoutState.INELIGIBLE
    assert (second.reason or "").startswith("per-user daily cap")


async def test_a_second_execute_payout_for_the_same_id_is_rejected_by_the_contract(payouts: Payouts) -> None:
    await payouts.start_workers()
    ev = await payouts.liquidate()
    assert (await payouts.run_to_end(ev)).state is PayoutState.DONE
    data = payouts.guard.encode_guard_call(
        "executePayout", ev.user, ETH // 100, bytes.fromhex(ev.liquidation_id[2:])
    )
    with pytest.raises(ContractRevert) as raised:
        await chain_admin.transact(payouts.guard, payouts.owner, payouts.guard.guard_address, data)
    assert raised.value.reason.name == "AlreadyPaid"


async def test_a_restarted_workflow_start_for_a_paid_event_ends_done_without_sending(
    payouts: Payouts,
) -> None:
    await payouts.start_workers()
    ev = await payouts.liquidate()
    done = await payouts.run_to_end(ev)
    # The ledger lost the row (restored from an old backup) and the event is started again
    # under another id: the on-chain paid[] guard answers before anything is signed.
    async with payouts.ledger.session() as s:
        await s.execute(delete(Payout).where(Payout.workflow_id == done.workflow_id))
    handle = await payouts.client.start_workflow(
        "LiquidationPayoutWorkflow",
        {"event": ev.model_dump(mode="json"), "policy": payouts.policy.model_dump(mode="json")},
        id=f"{done.workflow_id}-again",
        task_queue=payouts.task_queue,
    )
    again = await asyncio.wait_for(handle.result(), 30)
    assert again["state"] == "DONE" and again["final_tx_hash"] == done.final_tx_hash
    assert again["tx_hashes"] == []


async def _is(payouts: Payouts, tx_hash: str, state: TxState) -> bool:
    return await payouts.guard.tx_state(tx_hash) is state


async def _row_exists(payouts: Payouts, workflow_id: str) -> bool:
    try:
        await payouts.repo.get(workflow_id)
    except Exception:
        return False
    return True
