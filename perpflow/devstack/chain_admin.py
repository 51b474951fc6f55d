"""The dev chain's admin side for `perpflow dev`, tests and benches: the node's control methods
(anvil_*, evm_*), receipt waits, and the guard's set-up (deploy, fund, whitelist, liquidations).

These estimate gas and wait for the receipt: fine for set-up, NOT the exactly-once payout path
(that one signs with a fixed gas limit and stores the raw tx first, see client.build_payout_tx).
"""

from __future__ import annotations

import asyncio
from typing import Any

from eth_account import Account
from pydantic import SecretStr

from perpflow.chain.artifact import load_artifact
from perpflow.chain.client import ChainClient
from perpflow.chain.decode import decode_revert
from perpflow.chain.errors import ChainError, ContractRevert, ReceiptTimeout
from perpflow.chain.jsonrpc import JsonRpc, RpcError
from perpflow.chain.models import PositionLiquidated, TxReceipt, UnsignedTx
from perpflow.chain.wallet import HotWallet

# Estimates are exact for the state they ran on; 20% covers storage that turns warm/cold in between.
GAS_MARGIN_NUM, GAS_MARGIN_DEN = 6, 5
ADMIN_RECEIPT_TIMEOUT_S = 30.0
CONTROL_TIMEOUT_S = 10.0
# A local node mines in milliseconds: poll its receipts often.
RECEIPT_POLL_S = 0.01


class DevNode:
    """A dev node's control methods (anvil_*, evm_*), each posted once."""

    def __init__(self, url: str) -> None:
        self._rpc = JsonRpc(url, timeout_s=CONTROL_TIMEOUT_S, retries=0)

    async def call(self, method: str, *params: Any) -> Any:
        try:
            return await self._rpc.call(method, list(params), idempotent=False)
        except RpcError as exc:
            raise ChainError(f"{method} failed: {exc.message}") from None

    async def set_balance(self, address: str, wei: int) -> None:
        await self.call("anvil_setBalance", address, hex(wei))

    async def close(self) -> None:
        await self._rpc.close()

    async def __aenter__(self) -> DevNode:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


def new_wallet() -> HotWallet:
    """A throwaway wallet, its key generated now (fund it with ``DevNode.set_balance``)."""
    return HotWallet(SecretStr(Account.create().key.to_0x_hex()))


async def wait_for_receipt(
    client: ChainClient, tx_hash: str, timeout_s: float, poll_s: float = RECEIPT_POLL_S
) -> TxReceipt:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        receipt = await client.receipt(tx_hash)
        if receipt is not None:
            return receipt
        if asyncio.get_running_loop().time() >= deadline:
            raise ReceiptTimeout(f"no receipt for {tx_hash} within {timeout_s}s")
        await asyncio.sleep(poll_s)


async def transact(
    client: ChainClient, wallet: HotWallet, to: str | None, data: str = "0x", value: int = 0
) -> TxReceipt:
    """Estimate, sign, send, wait; raises ContractRevert (decoded) if it reverts."""
    gas = await client.estimate_gas(wallet.address, to, data, value)
    tx = UnsignedTx(
        chain_id=await client.chain_id(),
        nonce=await client.pending_nonce(wallet.address),
        to=to,
        data=data,
        value=value,
        gas=gas * GAS_MARGIN_NUM // GAS_MARGIN_DEN,
        fees=await client.suggest_fees(),
    )
    signed = wallet.sign(tx)
    await client.send_raw(signed)
    receipt = await wait_for_receipt(client, signed.tx_hash, ADMIN_RECEIPT_TIMEOUT_S)
    if not receipt.succeeded:
        reason = await client.revert_reason(signed.tx_hash)
        raise ContractRevert(reason or decode_revert(None), tx_hash=signed.tx_hash)
    return receipt


async def deploy(client: ChainClient, owner: HotWallet) -> ChainClient:
    """Deploys LeverageGuard owned by `owner`; returns a client bound to the new address."""
    receipt = await transact(client, owner, None, load_artifact().bytecode)
    if receipt.contract_address is None:
        raise ChainError(f"deploy tx {receipt.tx_hash} created no contract")
    return client.with_guard(receipt.contract_address)


async def fund(client: ChainClient, wallet: HotWallet, amount_wei: int) -> TxReceipt:
    return await transact(client, wallet, client.guard_address, value=amount_wei)


async def whitelist(client: ChainClient, owner: HotWallet, user: str, allowed: bool = True) -> TxReceipt:
    data = client.encode_guard_call("setWhitelisted", client.w3.to_checksum_address(user), allowed)
    return await transact(client, owner, client.guard_address, data)


async def set_reporter(
    client: ChainClient, owner: HotWallet, reporter: str, allowed: bool = True
) -> TxReceipt:
    data = client.encode_guard_call("setReporter", client.w3.to_checksum_address(reporter), allowed)
    return await transact(client, owner, client.guard_address, data)


async def liquidate(
    client: ChainClient, reporter: HotWallet, user: str, leverage_ratio: int, liquidation_amount_wei: int
) -> PositionLiquidated:
    """Reports a liquidation (what the position system does in production); returns the event."""
    data = client.encode_guard_call(
        "liquidate", client.w3.to_checksum_address(user), leverage_ratio, liquidation_amount_wei
    )
    receipt = await transact(client, reporter, client.guard_address, data)
    if len(receipt.liquidations) != 1:
        raise ChainError(f"liquidate tx {receipt.tx_hash} emitted {len(receipt.liquidations)} events")
    return receipt.liquidations[0]
