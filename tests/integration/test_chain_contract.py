"""LeverageGuard on a real anvil: whitelist, liquidation events, exactly-once payouts, access control."""

from __future__ import annotations

import pytest

from perpflow.chain.client import PAYOUT_GAS_LIMIT
from perpflow.chain.errors import ContractRevert
from perpflow.chain.models import RevertKind, SignedTx, liquidation_id
from perpflow.chain.wallet import HotWallet
from perpflow.devstack import chain_admin
from tests.plugins.chain import ETH, POOL_WEI, ChainEnv, new_wallet


async def _signed_payout(
    env: ChainEnv, user: str, amount: int, lid: str, signer: HotWallet | None = None
) -> SignedTx:
    wallet = signer or env.owner
    tx = env.guard.build_payout_tx(
        chain_id=await env.guard.chain_id(),
        user=user,
        amount_wei=amount,
        liquidation_id=lid,
        nonce=await env.guard.pending_nonce(wallet.address),
        fees=await env.guard.suggest_fees(),
    )
    return wallet.sign(tx)


async def _payout(env: ChainEnv, user: str, amount: int, lid: str, signer: HotWallet | None = None):
    signed = await _signed_payout(env, user, amount, lid, signer)
    await env.guard.send_raw(signed)
    return await chain_admin.wait_for_receipt(env.guard, signed.tx_hash, 5)


async def test_whitelist_is_set_and_revoked_by_owner(chain: ChainEnv) -> None:
    user = new_wallet().address
    assert await chain.guard.is_whitelisted(user) is False
    await chain_admin.whitelist(chain.guard, chain.owner, user)
    assert await chain.guard.is_whitelisted(user) is True
    await chain_admin.whitelist(chain.guard, chain.owner, user, allowed=False)
    assert await chain.guard.is_whitelisted(user) is False


async def test_whitelist_by_stranger_reverts_not_owner(chain: ChainEnv) -> None:
    stranger = await chain.funded_wallet()
    with pytest.raises(ContractRevert) as err:
        await chain_admin.whitelist(chain.guard, stranger, stranger.address)
    assert err.value.reason.name == "NotOwner"


async def test_liquidate_emits_position_liquidated(chain: ChainEnv) -> None:
    user = chain.users[0]
    event = await chain_admin.liquidate(chain.guard, chain.owner, user, 2500, 3 * ETH)
    assert (event.user, event.leverage_ratio, event.liquidation_amount_wei) == (user, 2500, 3 * ETH)
    assert str(event.leverage) == "25"
    assert event.address == chain.guard.guard_address
    logs = await chain.guard.get_liquidations(event.block_number, event.block_number)
    assert logs == [event]


async def test_liquidate_requires_whitelisted_user_and_authorised_reporter(chain: ChainEnv) -> None:
    with pytest.raises(ContractRevert) as err:
        await chain_admin.liquidate(chain.guard, chain.owner, new_wallet().address, 1000, ETH)
    assert err.value.reason.name == "NotWhitelisted"
    reporter = await chain.funded_wallet()
    with pytest.raises(ContractRevert) as err:
        await chain_admin.liquidate(chain.guard, reporter, chain.users[0], 1000, ETH)
    assert err.value.reason.name == "NotReporter"
    assert err.value.reason.args == (reporter.address,)
    await chain_admin.set_reporter(chain.guard, chain.owner, reporter.address)
    event = await chain_admin.liquidate(chain.guard, reporter, chain.users[0], 1000, ETH)
    assert event.user == chain.users[0]


async def test_payout_pays_user_and_records_paid(chain: ChainEnv) -> None:
    user = chain.users[1]
    event = await chain_admin.liquidate(chain.guard, chain.owner, user, 1500, ETH)
    lid = event.liquidation_id
    before = await chain.guard.balance(user)
    receipt = await _payout(chain, user, 2 * ETH, lid)
    assert receipt.succeeded
    assert receipt.gas_used < PAYOUT_GAS_LIMIT * 2 // 3  # keep the fixed limit's margin honest
    assert await chain.guard.balance(user) == before + 2 * ETH
    assert await chain.guard.pool_balance() == POOL_WEI - 2 * ETH
    assert await chain.guard.paid(lid) is True
    (payout,) = receipt.payouts
    assert (payout.user, payout.amount_wei, payout.liquidation_id) == (user, 2 * ETH, lid)
    assert await chain.guard.get_payouts(receipt.block_number) == [payout]


async def test_second_payout_for_same_id_reverts_already_paid(chain: ChainEnv) -> None:
    user = chain.users[0]
    lid = liquidation_id("0x" + "ab" * 32, 3)
    assert (await _payout(chain, user, ETH, lid)).succeeded
    data = chain.guard.encode_guard_call("executePayout", user, ETH, bytes.fromhex(lid[2:]))
    with pytest.raises(ContractRevert) as err:  # estimate (what build_transaction would do) refuses
        await chain.guard.estimate_gas(chain.owner.address, chain.guard.guard_address, data)
    assert (err.value.reason.name, err.value.reason.args) == ("AlreadyPaid", (lid,))
    second = await _payout(chain, user, ETH, lid)  # fixed gas: mined, reverted, nonce consumed
    assert not second.succeeded and second.payouts == ()
    reason = await chain.guard.revert_reason(second.tx_hash)
    assert reason is not None
    assert (reason.kind, reason.name, reason.args) == (RevertKind.CUSTOM, "AlreadyPaid", (lid,))
    assert await chain.guard.pool_balance() == POOL_WEI - ETH


async def test_payout_by_non_owner_reverts_not_owner(chain: ChainEnv) -> None:
    stranger = await chain.funded_wallet()
    receipt = await _payout(chain, chain.users[0], ETH, liquidation_id("0x" + "01" * 32, 0), signer=stranger)
    assert not receipt.succeeded
    reason = await chain.guard.revert_reason(receipt.tx_hash)
    assert reason is not None and reason.name == "NotOwner"


async def test_payout_larger_than_pool_reverts_insufficient_balance(chain: ChainEnv) -> None:
    receipt = await _payout(chain, chain.users[0], POOL_WEI + 1, liquidation_id("0x" + "02" * 32, 0))
    reason = await chain.guard.revert_reason(receipt.tx_hash)
    assert reason is not None
    assert (reason.name, reason.args) == ("InsufficientBalance", (POOL_WEI, POOL_WEI + 1))
    assert await chain.guard.paid(liquidation_id("0x" + "02" * 32, 0)) is False


async def test_payout_to_non_whitelisted_user_reverts(chain: ChainEnv) -> None:
    outsider = new_wallet().address
    receipt = await _payout(chain, outsider, ETH, liquidation_id("0x" + "03" * 32, 0))
    reason = await chain.guard.revert_reason(receipt.tx_hash)
    assert reason is not None and (reason.name, reason.args) == ("NotWhitelisted", (outsider,))


async def test_revert_reason_of_successful_tx_is_none(chain: ChainEnv) -> None:
    receipt = await chain_admin.whitelist(chain.guard, chain.owner, new_wallet().address)
    assert await chain.guard.revert_reason(receipt.tx_hash) is None
