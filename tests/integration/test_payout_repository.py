"""PayoutRepository on both ledger backends: one row per event, the nonce lane, moves, the cursor."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from perpflow.chain.models import ChainCursor, PositionLiquidated, SignedTx
from perpflow.db.ledger import Ledger
from perpflow.db.payouts import PayoutRepository
from perpflow.payouts.errors import DuplicatePayoutEvent, IllegalTransition
from perpflow.payouts.models import NewPayout, PayoutMove, PayoutState

WALLET = "0x000000000000000000000000000000000000dEaD"
USER = "0x0000000000000000000000000000000000000001"


def event(i: int) -> PositionLiquidated:
    return PositionLiquidated(
        address="0x0000000000000000000000000000000000000002", tx_hash=f"0x{i:064x}", log_index=0,
        block_number=10 + i, block_hash=f"0x{i + 1000:064x}", user=USER, leverage_ratio=1250,
        liquidation_amount_wei=10**18,
    )  # fmt: skip


def signed(nonce: int) -> SignedTx:
    fees = {"max_fee_per_gas": 3 * 10**9, "max_priority_fee_per_gas": 10**9}
    return SignedTx(tx_hash=f"0x{nonce + 77:064x}", raw_tx="0x02", sender=WALLET, nonce=nonce, fees=fees)  # type: ignore[arg-type]


async def test_rows_nonces_exposure_and_cursor(ledger: Ledger) -> None:
    repo = PayoutRepository(ledger)
    now = datetime.now(UTC)
    for i in range(3):
        new = NewPayout(workflow_id=f"wf-{i}", chain_id=1, event=event(i), at=now)
        assert (await repo.record_detected(new)).state is PayoutState.CONFIRMING
        assert (await repo.record_detected(new)).workflow_id == f"wf-{i}"  # idempotent
        await repo.move(f"wf-{i}", PayoutMove(state=PayoutState.CHECKING, amount_wei=2 * 10**16))
    with pytest.raises(DuplicatePayoutEvent):
        await repo.record_detected(NewPayout(workflow_id="wf-other", chain_id=1, event=event(0), at=now))
    first = await repo.allocate_and_store("wf-0", 1, WALLET, 5, signed)
    second = await repo.allocate_and_store("wf-1", 1, WALLET, None, signed)
    assert (first.nonce, second.nonce) == (5, 6)
    rec = await repo.get("wf-1")
    assert rec.state is PayoutState.SENDING and rec.nonce == 6 and rec.tx_hashes == [second.tx_hash]
    exp = await repo.exposure(USER, now - timedelta(hours=1), WALLET, exclude="wf-2")
    assert (exp.user_today, exp.all_today, exp.in_flight) == (4 * 10**16, 4 * 10**16, 4 * 10**16)
    done = PayoutMove(state=PayoutState.DONE, final_tx_hash=first.tx_hash, gas_used=50_000, block_number=99)
    await repo.move("wf-0", done)
    await repo.move("wf-0", done)  # a retry writes the same move again
    with pytest.raises(IllegalTransition):
        await repo.move("wf-0", PayoutMove(state=PayoutState.FAILED))
    assert [r.workflow_id for r in await repo.recent(state=PayoutState.DONE)] == ["wf-0"]
    assert await repo.load_cursor("c") is None
    await repo.save_cursor("c", 1, ChainCursor(block_number=7, block_hash=f"0x{7:064x}"))
    await repo.save_cursor("c", 1, ChainCursor(block_number=9))
    assert await repo.load_cursor("c") == ChainCursor(block_number=9)
