"""ChainClient against anvil: send-error mapping, rebroadcast, fee-bump replacement, log ranges."""

from __future__ import annotations

import pytest

from perpflow.chain.errors import AlreadyImported, NonceTooLow, ReplacementUnderpriced
from perpflow.chain.fees import bump_fees
from perpflow.chain.models import Eip1559Fees, SignedTx, TxState, liquidation_id
from perpflow.devstack.chain_admin import wait_for_receipt
from tests.plugins.chain import ETH, ChainEnv


async def _sign_payout(
    env: ChainEnv, lid: str, nonce: int | None = None, fees: Eip1559Fees | None = None
) -> SignedTx:
    tx = env.guard.build_payout_tx(
        chain_id=await env.guard.chain_id(),
        user=env.users[0],
        amount_wei=ETH,
        liquidation_id=lid,
        nonce=await env.guard.pending_nonce(env.owner.address) if nonce is None else nonce,
        fees=fees or await env.guard.suggest_fees(),
    )
    return env.owner.sign(tx)


LID = liquidation_id("0x" + "11" * 32, 0)


async def test_resending_mined_tx_raises_nonce_too_low(chain: ChainEnv) -> None:
    signed = await _sign_payout(chain, LID)
    await chain.guard.send_raw(signed)
    await wait_for_receipt(chain.guard, signed.tx_hash, 5)
    with pytest.raises(NonceTooLow) as err:
        await chain.guard.send_raw(signed)
    assert err.value.code == -32003
    assert (await chain.guard.receipt(signed.tx_hash)).succeeded  # the stored hash tells the truth


async def test_resending_pending_tx_raises_already_imported(chain: ChainEnv) -> None:
    await chain.set_automine(False)
    signed = await _sign_payout(chain, LID)
    assert await chain.guard.send_raw(signed) == signed.tx_hash
    assert await chain.guard.receipt(signed.tx_hash) is None
    assert await chain.guard.tx_state(signed.tx_hash) is TxState.PENDING
    with pytest.raises(AlreadyImported):
        await chain.guard.send_raw(signed)
    assert await chain.guard.latest_nonce(chain.owner.address) == signed.nonce
    assert await chain.guard.pending_nonce(chain.owner.address) == signed.nonce + 1
    await chain.mine()
    assert await chain.guard.tx_state(signed.tx_hash) is TxState.MINED


async def test_same_nonce_same_fees_other_payload_raises_replacement_underpriced(chain: ChainEnv) -> None:
    await chain.set_automine(False)
    first = await _sign_payout(chain, LID)
    await chain.guard.send_raw(first)
    other = await _sign_payout(chain, liquidation_id("0x" + "22" * 32, 0), nonce=first.nonce, fees=first.fees)
    with pytest.raises(ReplacementUnderpriced):
        await chain.guard.send_raw(other)


async def test_dropped_tx_rebroadcast_as_same_raw_bytes_mines(chain: ChainEnv) -> None:
    await chain.set_automine(False)
    signed = await _sign_payout(chain, LID)
    await chain.guard.send_raw(signed)
    await chain.rpc("anvil_dropTransaction", signed.tx_hash)
    assert await chain.guard.tx_state(signed.tx_hash) is TxState.UNKNOWN
    assert await chain.guard.send_raw(signed) == signed.tx_hash  # the stored raw tx, not a re-sign
    await chain.mine()
    receipt = await chain.guard.receipt(signed.tx_hash)
    assert receipt is not None and receipt.succeeded
    assert await chain.guard.paid(LID)


async def test_fee_bump_replacement_mines_exactly_one_of_the_two_hashes(chain: ChainEnv) -> None:
    await chain.set_automine(False)
    stuck = await _sign_payout(chain, LID)
    await chain.guard.send_raw(stuck)
    bumped = await _sign_payout(chain, LID, nonce=stuck.nonce, fees=bump_fees(stuck.fees))
    assert bumped.tx_hash != stuck.tx_hash
    await chain.guard.send_raw(bumped)
    await chain.mine()
    assert await chain.guard.receipt(stuck.tx_hash) is None
    assert await chain.guard.tx_state(stuck.tx_hash) is TxState.UNKNOWN
    receipt = await chain.guard.receipt(bumped.tx_hash)
    assert receipt is not None and receipt.succeeded and len(receipt.payouts) == 1
    with pytest.raises(NonceTooLow):  # the replaced tx can never land later
        await chain.guard.send_raw(stuck)


async def test_get_logs_chunks_and_clamps_to_head(chain: ChainEnv) -> None:
    signed = await chain.burst_liquidations(5, chain.users[0])
    head = await chain.guard.head_number()
    events = await chain.guard.get_liquidations(chain.deploy_block, head + 100, chunk=2)
    assert [e.tx_hash for e in events] == [s.tx_hash for s in signed]
    assert await chain.guard.get_liquidations(head + 1) == []  # beyond the head: empty, not an error


async def test_block_hash_beyond_head_is_none(chain: ChainEnv) -> None:
    head = await chain.guard.head_number()
    assert await chain.guard.block_hash(head) is not None
    assert await chain.guard.block_hash(head + 5) is None


async def test_suggested_fees_follow_base_fee(chain: ChainEnv) -> None:
    fees = await chain.guard.suggest_fees()
    base = await chain.guard.base_fee()
    assert fees.max_fee_per_gas == 2 * base + fees.max_priority_fee_per_gas
