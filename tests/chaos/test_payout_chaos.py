"""Crashes around the money: a SIGKILLed wallet worker, an anvil restarted from its state file.

The wallet worker runs as a real subprocess with the key in its environment only, through
``tests/chaos/faulty_wallet.py``, whose crash point SIGKILLs it once at a chosen step of the lane.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import yaml
from temporalio.testing import WorkflowEnvironment

from perpflow.chain.client import ChainClient
from perpflow.chain.models import TxState
from perpflow.db.ledger import Ledger
from perpflow.db.payouts import PayoutRepository
from perpflow.devstack import chain_admin
from perpflow.devstack.anvil import AnvilConfig, AnvilNode
from perpflow.devstack.ports import free_port
from perpflow.payouts.config import CONFIG_ENV
from tests.plugins.chain import ETH, ChainEnv, new_wallet, state_file_holds
from tests.plugins.payouts import Payouts, PayoutState, eventually, make_policy, new_guard

KEY_ENV = "PERPFLOW_TEST_WALLET_KEY"


def write_config(payouts: Payouts, rpc_url: str, path: Path) -> Path:
    config = {
        "chain": {
            "chain_id": payouts.policy.chain_id,
            "rpc_url": rpc_url,
            "guard_address": payouts.guard.guard_address,
        },
        "wallet": {"address": payouts.owner.address, "key": f"env:{KEY_ENV}"},
        "timing": {"confirmations": 1, "tx_confirmations": 1},
    }
    path.write_text(yaml.safe_dump(config))
    return path


class WalletProcess:
    def __init__(
        self, payouts: Payouts, temporal_env: WorkflowEnvironment, sqlite_url: str, tmp: Path
    ) -> None:
        self.log = tmp / "wallet.log"
        self.env = {
            **os.environ,
            "PERPFLOW_TEMPORAL_ADDRESS": temporal_env.client.service_client.config.target_host,
            "PERPFLOW_TEMPORAL_NAMESPACE": temporal_env.client.namespace,
            "PERPFLOW_STATE_DIR": str(tmp),
            "DATABASE_URL": sqlite_url,
            CONFIG_ENV: str(write_config(payouts, payouts.guard.rpc_url, tmp / "payouts.yaml")),
            KEY_ENV: payouts.owner._key.get_secret_value(),
        }
        self.proc: subprocess.Popen[bytes] | None = None

    def start_killed_once_at(self, point: str, marker: Path) -> None:
        """The wallet worker, SIGKILLed right after `point` unless `marker` exists (it writes it)."""
        command = [sys.executable, "-m", "tests.chaos.faulty_wallet", point, str(marker)]
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(command, env=self.env, stdout=out, stderr=subprocess.STDOUT)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def wallet_process(
    payouts: Payouts, temporal_env: WorkflowEnvironment, sqlite_url: str, tmp_path: Path
) -> Iterator[WalletProcess]:
    process = WalletProcess(payouts, temporal_env, sqlite_url, tmp_path)
    yield process
    process.stop()


@pytest.mark.parametrize("point", ["after_store", "after_broadcast"])
async def test_a_wallet_worker_killed_mid_send_pays_exactly_once(
    payouts: Payouts, wallet_process: WalletProcess, tmp_path: Path, point: str
) -> None:
    await payouts.start_workers(lane=False)
    user = payouts.users[0]
    before = await payouts.balance(user)
    nonce_before = await payouts.guard.latest_nonce(payouts.owner.address)
    marker = tmp_path / f"killed-{point}"
    wallet_process.start_killed_once_at(point, marker)
    handle = await payouts.start(await payouts.liquidate(user, 1250))
    assert wallet_process.proc is not None
    await asyncio.to_thread(wallet_process.proc.wait, 30)
    assert wallet_process.proc.returncode == -signal.SIGKILL and marker.exists()
    stored = await payouts.repo.get(handle.id)
    [tx_hash] = stored.tx_hashes
    expected = TxState.UNKNOWN if point == "after_store" else TxState.MINED
    assert await payouts.guard.tx_state(tx_hash) is expected
    wallet_process.start_killed_once_at(point, marker)  # the marker exists: no second kill
    final = await asyncio.wait_for(handle.result(), 60)
    assert final.state is PayoutState.DONE
    rec = await payouts.repo.get(handle.id)
    assert rec.tx_hashes == [tx_hash] and rec.final_tx_hash == tx_hash  # same bytes, same nonce
    assert await payouts.balance(user) - before == 2 * ETH // 100
    assert await payouts.guard.latest_nonce(payouts.owner.address) == nonce_before + 1
    key = payouts.owner._key.get_secret_value().lower().removeprefix("0x")
    assert key not in wallet_process.log.read_text().lower()


@pytest.fixture
async def own_anvil(tmp_path: Path) -> AsyncIterator[AnvilNode]:
    node = AnvilNode(AnvilConfig(port=free_port(), state_file=tmp_path / "anvil-state.json")).start()
    yield node
    node.stop(graceful=False)


async def test_anvil_restarted_from_its_state_file_and_everything_continues(
    own_anvil: AnvilNode, temporal_env: WorkflowEnvironment, sqlite_url: str, chain_session: ChainEnv
) -> None:
    client = ChainClient(own_anvil.http_url)
    ledger = Ledger(sqlite_url)
    owner, reporter = new_wallet(), new_wallet()
    node_env = ChainEnv(
        node=own_anvil, guard=client, owner=owner, deploy_block=await client.head_number() + 1
    )
    for wallet in (owner, reporter):
        await node_env.rpc("anvil_setBalance", wallet.address, hex(100 * ETH))
    guard, users = await new_guard(node_env, owner)
    await chain_admin.set_reporter(guard, owner, reporter.address)
    payouts = Payouts(
        chain=node_env, guard=guard, owner=owner, reporter=reporter, users=users, ledger=ledger,
        repo=PayoutRepository(ledger), client=temporal_env.client,
        task_queue=f"tq-anvil-{own_anvil.config.port}",
        policy=make_policy(guard.guard_address, owner.address, await guard.chain_id()),
    )  # fmt: skip
    await payouts.start_workers()
    watcher = payouts.watcher()
    stop = asyncio.Event()
    task = asyncio.create_task(watcher.run(stop))
    try:
        await payouts.burst(3)
        await eventually(lambda: _done(payouts, 3), 30, "3 payouts before the restart")
        await node_env.set_automine(False)
        pending = await payouts.liquidate_unmined(users[0])
        await node_env.rpc("evm_mine")  # the event mines; its payout is sent and stays pending
        await eventually(lambda: _pending_payout(payouts), 20, "a pending payout tx")
        head = await client.head_number()
        assert own_anvil.config.state_file is not None
        async with asyncio.timeout(10):
            while not state_file_holds(own_anvil.config.state_file, head):  # the event's block
                await asyncio.sleep(0.05)
        own_anvil.stop(graceful=True)
        own_anvil.start()  # same port, same state file, automine on again
        await eventually(lambda: _done(payouts, 4), 60, "the pending payout after the restart")
        await payouts.burst(3)
        await eventually(lambda: _done(payouts, 7), 60, "3 more payouts after the restart")
    finally:
        stop.set()
        await task
        await payouts._stack.aclose()  # the workers, before the ledger they write to
        await ledger.close()
    rows = [r for r in await payouts.repo.recent(10_000) if r.wallet == owner.address]
    nonces = sorted(r.nonce or 0 for r in rows)
    assert nonces == list(range(nonces[0], nonces[0] + 7))
    assert pending in {r.event_tx_hash for r in rows}
    for row in rows:
        assert await guard.paid(_lid(row.event_tx_hash, row.event_log_index))


async def _done(payouts: Payouts, count: int) -> bool:
    rows = [r for r in await payouts.repo.recent(10_000) if r.user_address in payouts.users]
    return len(rows) == count and all(r.state is PayoutState.DONE for r in rows)


async def _pending_payout(payouts: Payouts) -> bool:
    for row in await payouts.repo.recent(10_000):
        if row.user_address in payouts.users and row.tx_hashes and row.state is not PayoutState.DONE:
            return await payouts.guard.tx_state(row.tx_hashes[-1]) is TxState.PENDING
    return False


def _lid(tx_hash: str, log_index: int) -> str:
    from perpflow.chain.models import liquidation_id

    return liquidation_id(tx_hash, log_index)
