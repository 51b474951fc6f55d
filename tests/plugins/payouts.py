"""Shared harness of the payout tests (no tests here): a fresh guard owned by a fresh hot wallet
per test on the session anvil, the session dev server, a SQLite ledger, in-process workers.

The ``payouts`` fixture is the default ``open_payouts``; a module that needs another policy
(an approval threshold, more confirmations) opens its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pytest
from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.payouts import PayoutActivities
from activities.wallet import WalletActivities
from perpflow import names
from perpflow.alerts.notifier import Notifier
from perpflow.chain.client import ChainClient
from perpflow.chain.follower import FollowerConfig
from perpflow.chain.models import PositionLiquidated, UnsignedTx
from perpflow.chain.wallet import HotWallet
from perpflow.db.ledger import Ledger
from perpflow.db.payouts import PayoutRepository
from perpflow.devstack import chain_admin
from perpflow.payouts.book import PayoutBook
from perpflow.payouts.lane import WalletLane
from perpflow.payouts.models import PayoutInput, PayoutPolicy, PayoutRecord, PayoutState, PayoutStatus, Tier
from perpflow.payouts.tracker import PayoutTracker
from perpflow.payouts.watcher import ChainWatcher
from tests.plugins.chain import ETH, ChainEnv, new_wallet
from workflows.payout import LiquidationPayoutWorkflow

POOL_WEI = 10 * ETH


def make_policy(guard: str, wallet: str, chain_id: int, **overrides: Any) -> PayoutPolicy:
    base: dict[str, Any] = {
        "chain_id": chain_id,
        "guard_address": guard,
        "wallet_address": wallet,
        "confirmations": 1,
        "tx_confirmations": 1,
        "tiers": [
            Tier(above_leverage=Decimal(10), amount_eth=Decimal("0.02")),
            Tier(above_leverage=Decimal(5), amount_eth=Decimal("0.01")),
        ],
        "default_amount_eth": Decimal("0.005"),
        "per_user_daily_cap_eth": Decimal(1000),
        "daily_cap_eth": Decimal(100000),
        "stuck_after_s": 3,
        "check_max_wait_s": 2,
    }
    return PayoutPolicy(**{**base, **overrides})


@dataclass
class Payouts:
    chain: ChainEnv
    guard: ChainClient  # bound to this test's guard
    owner: HotWallet  # this test's hot wallet and guard owner
    reporter: HotWallet  # reports liquidations (a separate wallet: the owner's nonces are the lane's)
    users: list[str]
    ledger: Ledger
    repo: PayoutRepository
    client: Client
    task_queue: str
    policy: PayoutPolicy
    _stack: contextlib.AsyncExitStack = field(default_factory=contextlib.AsyncExitStack)

    async def liquidate(self, user: str | None = None, leverage_ratio: int = 1500) -> PositionLiquidated:
        return await chain_admin.liquidate(
            self.guard, self.reporter, user or self.users[0], leverage_ratio, ETH
        )

    async def liquidate_unmined(self, user: str, leverage_ratio: int = 1500) -> str:
        """Send a liquidation without waiting for its receipt (automine off); returns its hash."""
        data = self.guard.encode_guard_call("liquidate", user, leverage_ratio, ETH)
        tx = UnsignedTx(
            chain_id=await self.guard.chain_id(),
            nonce=await self.guard.pending_nonce(self.reporter.address),
            to=self.guard.guard_address,
            data=data,
            gas=100_000,
            fees=await self.guard.suggest_fees(),
        )
        return await self.guard.send_raw(self.reporter.sign(tx))

    async def burst(self, count: int, users: list[str] | None = None) -> list[str]:
        """`count` liquidations pipelined (one block each on automine); returns their tx hashes."""
        users = users or self.users
        nonce = await self.guard.pending_nonce(self.reporter.address)
        fees = await self.guard.suggest_fees()
        chain_id = await self.guard.chain_id()
        signed = []
        for i in range(count):
            data = self.guard.encode_guard_call("liquidate", users[i % len(users)], 300 + 100 * (i % 12), ETH)
            tx = UnsignedTx(
                chain_id=chain_id,
                nonce=nonce + i,
                to=self.guard.guard_address,
                data=data,
                gas=100_000,
                fees=fees,
            )
            signed.append(self.reporter.sign(tx))
        for each in signed:
            await self.guard.send_raw(each)
        await chain_admin.wait_for_receipt(self.guard, signed[-1].tx_hash, 30)
        return [each.tx_hash for each in signed]

    def workflow_id(self, ev: PositionLiquidated) -> str:
        return names.payout_id(self.policy.chain_id, ev.tx_hash, ev.log_index)

    async def start(
        self, ev: PositionLiquidated, policy: PayoutPolicy | None = None
    ) -> WorkflowHandle[Any, Any]:
        return await self.client.start_workflow(
            LiquidationPayoutWorkflow.run,
            PayoutInput(event=ev, policy=policy or self.policy),
            id=self.workflow_id(ev),
            task_queue=self.task_queue,
        )

    async def run_to_end(self, ev: PositionLiquidated, policy: PayoutPolicy | None = None) -> PayoutStatus:
        handle = await self.start(ev, policy)
        return await asyncio.wait_for(handle.result(), 60)  # type: ignore[no-any-return]

    def orchestrator_worker(self) -> Worker:
        tracker, book = PayoutTracker(self.guard, self.repo), PayoutBook(self.repo)
        acts = PayoutActivities(tracker, book, Notifier(self.repo.ledger))
        return Worker(
            self.client,
            task_queue=self.task_queue,
            workflows=[LiquidationPayoutWorkflow],
            activities=acts.all(),
        )

    def lane_worker(self) -> Worker:
        lane = WalletLane(self.guard, self.owner, self.repo, self.policy.chain_id)
        queue = names.wallet_queue(self.policy.chain_id, self.owner.address)
        return Worker(
            self.client,
            task_queue=queue,
            activities=WalletActivities(lane).all(),
            max_concurrent_activities=1,
        )

    async def start_workers(self, lane: bool = True) -> None:
        await self._stack.enter_async_context(self.orchestrator_worker())
        if lane:
            await self._stack.enter_async_context(self.lane_worker())

    def watcher(self) -> ChainWatcher:
        config = FollowerConfig(
            start_block=self.chain.deploy_block,
            ws_url=self.chain.node.ws_url,
            poll_interval_s=0.2,
            ws_safety_poll_s=1,
        )
        return ChainWatcher(
            self.client,
            self.guard,
            self.repo,
            self.policy,
            follower_config=config,
            task_queue=self.task_queue,
        )

    async def record(self, ev: PositionLiquidated) -> PayoutRecord:
        return await self.repo.get(self.workflow_id(ev))

    async def balance(self, user: str) -> int:
        return await self.guard.balance(user)


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 30, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what or check}")
        await asyncio.sleep(0.05)


async def new_guard(chain: ChainEnv, owner: HotWallet, users: int = 3) -> tuple[ChainClient, list[str]]:
    guard = await chain_admin.deploy(chain.guard, owner)
    await chain_admin.fund(guard, owner, POOL_WEI)
    addresses = [new_wallet().address for _ in range(users)]
    for user in addresses:
        await chain_admin.whitelist(guard, owner, user)
    return guard, addresses


@contextlib.asynccontextmanager
async def open_payouts(
    chain: ChainEnv, temporal_env: WorkflowEnvironment, sqlite_url: str, **policy: Any
) -> AsyncIterator[Payouts]:
    """A fresh hot wallet owning a fresh guard; workers are started by the test."""
    owner = await chain.funded_wallet()
    guard, users = await new_guard(chain, owner)
    reporter = await chain.funded_wallet()
    await chain_admin.set_reporter(guard, owner, reporter.address)
    ledger = Ledger(sqlite_url)
    chain_id = await guard.chain_id()
    env = Payouts(
        chain=chain,
        guard=guard,
        owner=owner,
        reporter=reporter,
        users=users,
        ledger=ledger,
        repo=PayoutRepository(ledger),
        client=temporal_env.client,
        task_queue=f"tq-payout-{uuid.uuid4()}",
        policy=make_policy(guard.guard_address, owner.address, chain_id, **policy),
    )
    try:
        yield env
    finally:
        await env._stack.aclose()
        await ledger.close()


__all__ = ["PayoutState", "Payouts", "eventually", "make_policy", "open_payouts"]


@pytest.fixture
async def payouts(
    chain: ChainEnv, temporal_env: WorkflowEnvironment, sqlite_url: str
) -> AsyncIterator[Payouts]:
    async with open_payouts(chain, temporal_env, sqlite_url) as env:
        yield env
