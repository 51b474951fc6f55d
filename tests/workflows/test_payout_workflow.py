"""LiquidationPayoutWorkflow on a real dev server, real anvil and a real ledger."""

from __future__ import annotations

from tests.plugins.chain import ETH
from tests.plugins.payouts import Payouts, PayoutState


async def test_one_event_pays_the_tiered_amount_once_and_records_the_tx(payouts: Payouts) -> None:
    await payouts.start_workers()
    user = payouts.users[0]
    before = await payouts.balance(user)
    ev = await payouts.liquidate(user, leverage_ratio=1250)  # 12.5x -> top tier
    status = await payouts.run_to_end(ev)
    assert status.state is PayoutState.DONE, status
    assert await payouts.balance(user) - before == 2 * ETH // 100
    rec = await payouts.record(ev)
    assert rec.state is PayoutState.DONE
    assert rec.final_tx_hash == status.final_tx_hash == rec.tx_hashes[-1]
    assert rec.gas_used and rec.block_number and rec.nonce is not None
    assert await payouts.guard.paid(ev.liquidation_id)
