"""Pytest plugin: one real anvil per session on a free port, a deployed and funded LeverageGuard,
and per-test isolation by evm_snapshot / evm_revert. Keys are generated at run time and funded
with anvil_setBalance: no private key is ever committed.

Load with `pytest_plugins = ["tests.plugins.chain"]` (or `-p tests.plugins.chain`).
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from perpflow.chain.client import ChainClient
from perpflow.chain.models import SignedTx, UnsignedTx
from perpflow.chain.wallet import HotWallet
from perpflow.devstack import chain_admin
from perpflow.devstack.anvil import AnvilConfig, AnvilNode, AnvilNotFound, find_anvil
from perpflow.devstack.chain_admin import new_wallet
from perpflow.devstack.ports import free_port

ETH = 10**18
POOL_WEI = 100 * ETH
WALLET_BALANCE_WEI = 1_000 * ETH


@dataclass
class ChainEnv:
    """What a chain test gets: a node, a client bound to the deployed guard, its owner."""

    node: AnvilNode
    guard: ChainClient
    owner: HotWallet
    deploy_block: int
    users: list[str] = field(default_factory=list)

    async def rpc(self, method: str, *params: object) -> object:
        async with chain_admin.DevNode(self.node.http_url) as node:
            return await node.call(method, *params)

    async def funded_wallet(self, balance_wei: int = WALLET_BALANCE_WEI) -> HotWallet:
        wallet = new_wallet()
        await self.rpc("anvil_setBalance", wallet.address, hex(balance_wei))
        return wallet

    async def set_automine(self, on: bool) -> None:
        await self.rpc("evm_setAutomine", on)

    async def mine(self, blocks: int = 1) -> None:
        await self.rpc("anvil_mine", hex(blocks))

    async def mine_now(self) -> None:
        """One block stamped with the wall clock (or just after the head, if that is ahead): a
        fresh head as a live chain has, whatever snapshots, reverts and time jumps came before."""
        head = await self.guard.w3.eth.get_block("latest")
        await self.rpc("evm_setNextBlockTimestamp", max(int(time.time()), int(head["timestamp"]) + 1))
        await self.mine()

    async def sign_liquidation(
        self, user: str, leverage_ratio: int = 1500, amount_wei: int = ETH, nonce: int | None = None
    ) -> SignedTx:
        data = self.guard.encode_guard_call("liquidate", user, leverage_ratio, amount_wei)
        tx = UnsignedTx(
            chain_id=await self.guard.chain_id(),
            nonce=await self.guard.pending_nonce(self.owner.address) if nonce is None else nonce,
            to=self.guard.guard_address,
            data=data,
            gas=100_000,
            fees=await self.guard.suggest_fees(),
        )
        return self.owner.sign(tx)

    async def burst_liquidations(self, count: int, user: str) -> list[SignedTx]:
        """`count` liquidations pipelined with a local nonce counter (one block each on automine)."""
        nonce = await self.guard.pending_nonce(self.owner.address)
        signed = [await self.sign_liquidation(user, 1000 + i, ETH, nonce + i) for i in range(count)]
        for tx in signed:
            await self.guard.send_raw(tx)
        await chain_admin.wait_for_receipt(self.guard, signed[-1].tx_hash, 10)
        return signed


@pytest.fixture(scope="session")
def anvil_node() -> Iterator[AnvilNode]:
    try:
        find_anvil()
    except AnvilNotFound as exc:
        pytest.skip(f"anvil binary absent, run scripts/bootstrap.sh (npm ci): {exc}")
    node = AnvilNode(AnvilConfig(port=free_port())).start()
    yield node
    node.stop(graceful=False)  # SIGKILL: instant, no state to keep


@pytest.fixture(scope="session")
async def chain_session(anvil_node: AnvilNode) -> AsyncIterator[ChainEnv]:
    client = ChainClient(anvil_node.http_url)
    owner = new_wallet()
    async with chain_admin.DevNode(anvil_node.http_url) as node:
        await node.set_balance(owner.address, WALLET_BALANCE_WEI)
    deploy_block = await client.head_number() + 1
    guard = await chain_admin.deploy(client, owner)
    await chain_admin.fund(guard, owner, POOL_WEI)
    users = [new_wallet().address for _ in range(3)]
    for user in users:
        await chain_admin.whitelist(guard, owner, user)
    env = ChainEnv(node=anvil_node, guard=guard, owner=owner, deploy_block=deploy_block, users=users)
    yield env
    await client.close()


@pytest.fixture
async def chain(chain_session: ChainEnv) -> AsyncIterator[ChainEnv]:
    """The session chain, rolled back to its post-deploy state after the test."""
    snapshot = await chain_session.rpc("evm_snapshot")
    yield chain_session
    # The pool emptied first (evm_revert leaves it alone): automine turned back on over a pending
    # tx mines it, possibly only after the revert, on top of the next test's starting state.
    await chain_session.rpc("anvil_dropAllTransactions")
    await chain_session.set_automine(True)  # undo test-only mining changes
    assert await chain_session.rpc("evm_revert", snapshot) is True


def state_file_holds(state_file: Path, block: int) -> bool:
    """Anvil's --state file (rewritten every --state-interval) holds ``block``: a SIGKILL keeps it."""
    try:
        best = json.loads(state_file.read_text())["best_block_number"]
    except (OSError, ValueError, KeyError):  # not written yet, or caught mid-write
        return False
    return (int(best, 16) if isinstance(best, str) else int(best)) >= block
