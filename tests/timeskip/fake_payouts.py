"""The payout workflow's chain, wallet lane and ledger in memory, behind activities registered
under the real names: the test decides whether the event is confirmed, the pool can pay and the
receipt has come, and may hold the wallet lane's send in flight."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from temporalio import activity
from temporalio.client import Client
from temporalio.worker import Worker

from perpflow import names
from perpflow.payouts import models as m
from workflows.calls import (
    AWAIT_TX,
    BUMP_PAYOUT,
    CHECK_EVENT,
    NOTIFY_PAYOUT,
    RECORD_PAYOUT_STATE,
    SEND_PAYOUT,
)

# A waiting check answers "not yet" after this long (real time): a running activity stops the
# time-skipping server's clock.
WAIT_CAP_S = 1.0

TX_HASH = "0x" + "ab" * 32


@dataclass
class FakePayoutChain:
    """Eligibility and the pool, the wallet lane and receipts, the payout ledger and notices."""

    pool_ok: bool = True
    event_confirmed: bool = True  # False: the event's confirmations are still to come
    confirmed: bool = False  # the payout's receipt
    calls: list[tuple[str, Any]] = field(default_factory=list)
    states: list[m.PayoutState] = field(default_factory=list)
    notices: list[m.Notice] = field(default_factory=list)
    sends: list[m.SendRequest] = field(default_factory=list)
    lane_gate: asyncio.Event | None = None  # set: the lane's send waits for it

    @activity.defn(name=CHECK_EVENT.name)
    async def check_event(self, req: m.CheckEventRequest) -> m.CheckEventResult:
        self.calls.append((CHECK_EVENT.name, req))
        if not self.event_confirmed:
            await self._wait_for(lambda: self.event_confirmed, req.wait)
            return m.CheckEventResult(outcome=m.CheckOutcome.PENDING, confirmations=0)
        if not self.pool_ok:
            return m.CheckEventResult(outcome=m.CheckOutcome.POOL_LOW, confirmations=5, reason="pool too low")
        return m.CheckEventResult(outcome=m.CheckOutcome.ELIGIBLE, confirmations=5)

    @activity.defn(name=AWAIT_TX.name)
    async def await_tx(self, req: m.AwaitTxRequest) -> m.AwaitTxResult:
        self.calls.append((AWAIT_TX.name, req))
        await self._wait_for(lambda: self.confirmed, req.wait)
        if self.confirmed:
            return m.AwaitTxResult(outcome=m.TxOutcome.CONFIRMED, tx_hash=TX_HASH)
        return m.AwaitTxResult(outcome=m.TxOutcome.PENDING, tx_hash=TX_HASH)

    @activity.defn(name=RECORD_PAYOUT_STATE.name)
    async def record_state(self, req: m.RecordStateRequest) -> None:
        self.calls.append((RECORD_PAYOUT_STATE.name, req))
        self.states.append(req.state)

    @activity.defn(name=NOTIFY_PAYOUT.name)
    async def notify(self, notice: m.Notice) -> None:
        self.calls.append((NOTIFY_PAYOUT.name, notice))
        self.notices.append(notice)

    @activity.defn(name=SEND_PAYOUT.name)
    async def send_payout(self, req: m.SendRequest) -> m.SendResult:
        self.calls.append((SEND_PAYOUT.name, req))
        if self.lane_gate is not None:
            await self.lane_gate.wait()
        self.sends.append(req)
        return m.SendResult(outcome=m.SendOutcome.SENT, tx_hash=TX_HASH, nonce=len(self.sends) - 1)

    @activity.defn(name=BUMP_PAYOUT.name)
    async def bump_payout(self, req: m.SendRequest) -> m.SendResult:
        self.calls.append((BUMP_PAYOUT.name, req))
        return m.SendResult(outcome=m.SendOutcome.SENT, tx_hash=TX_HASH, nonce=len(self.sends) - 1)

    def called(self, name: str) -> list[Any]:
        return [arg for called, arg in self.calls if called == name]

    @staticmethod
    async def _wait_for(done: Callable[[], bool], wait: bool) -> None:
        """A waiting call waits a little (real time), as the real one polls the node."""
        deadline = asyncio.get_running_loop().time() + (WAIT_CAP_S if wait else 0)
        while not done() and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.02)


@asynccontextmanager
async def payout_workers(
    client: Client, queue: str, chain: FakePayoutChain, policy: m.PayoutPolicy, workflows: Sequence[type]
) -> AsyncIterator[None]:
    """The workflow's queue (its local activities and waits too) and the wallet's lane queue."""
    async with (
        Worker(
            client,
            task_queue=queue,
            workflows=list(workflows),
            activities=[chain.check_event, chain.await_tx, chain.record_state, chain.notify],
        ),
        Worker(
            client,
            task_queue=names.wallet_queue(policy.chain_id, policy.wallet_address),
            activities=[chain.send_payout, chain.bump_payout],
            max_concurrent_activities=1,
        ),
    ):
        yield
