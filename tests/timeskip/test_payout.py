"""LiquidationPayoutWorkflow with its chain, wallet lane and ledger faked under their real names:
a pool too low to pay, and a Temporal cancel before and after the payout is broadcast."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from temporalio.client import WorkflowExecutionStatus, WorkflowFailureError, WorkflowHandle
from temporalio.exceptions import CancelledError
from temporalio.testing import WorkflowEnvironment

from perpflow import names
from perpflow.chain.models import PositionLiquidated
from perpflow.payouts import models as m
from tests.timeskip.conftest import terminate_running, until
from tests.timeskip.fake_payouts import FakePayoutChain, payout_workers
from workflows.calls import CHECK_EVENT, SEND_PAYOUT
from workflows.payout import LiquidationPayoutWorkflow

S = m.PayoutState
POOL_RECHECK_S = 60.0
POLICY = m.PayoutPolicy(
    chain_id=31337,
    guard_address="0x" + "11" * 20,
    wallet_address="0x" + "22" * 20,
    tiers=[m.Tier(above_leverage=Decimal(10), amount_eth=Decimal("0.02"))],
    default_amount_eth=Decimal("0.005"),
    per_user_daily_cap_eth=Decimal(1),
    daily_cap_eth=Decimal(100),
    pool_recheck_s=POOL_RECHECK_S,
)


class PayoutRig:
    def __init__(self, env: WorkflowEnvironment, chain: FakePayoutChain, queue: str) -> None:
        self.env, self.chain, self.queue = env, chain, queue
        self.started: list[str] = []

    async def start(self) -> WorkflowHandle[Any, m.PayoutStatus]:
        tx_hash = "0x" + uuid.uuid4().hex * 2
        event = PositionLiquidated(
            address=POLICY.guard_address, tx_hash=tx_hash, log_index=0, block_number=7,
            block_hash="0x" + "cd" * 32, user="0x" + "33" * 20, leverage_ratio=1500,
            liquidation_amount_wei=10**18,
        )  # fmt: skip
        wid = names.payout_id(POLICY.chain_id, tx_hash, 0)
        self.started.append(wid)
        return await self.env.client.start_workflow(
            "LiquidationPayoutWorkflow",
            m.PayoutInput(event=event, policy=POLICY),
            id=wid,
            task_queue=self.queue,
            result_type=m.PayoutStatus,
        )

    async def status(self, handle: WorkflowHandle[Any, Any]) -> m.PayoutStatus:
        result: m.PayoutStatus = await handle.query("status", result_type=m.PayoutStatus)
        return result

    async def until_status(
        self, handle: WorkflowHandle[Any, Any], check: Callable[[m.PayoutStatus], bool], what: str
    ) -> m.PayoutStatus:
        async def there() -> m.PayoutStatus | None:
            status = await self.status(handle)
            return status if check(status) else None

        result: m.PayoutStatus = await until(there, what)
        return result

    async def in_state(self, handle: WorkflowHandle[Any, Any], state: m.PayoutState) -> m.PayoutStatus:
        return await self.until_status(handle, lambda s: s.state is state, f"payout state {state}")

    def alerts(self) -> list[m.Notice]:
        return [n for n in self.chain.notices if n.kind == "alert"]


@pytest.fixture
async def payout_rig(skipping_env: WorkflowEnvironment) -> AsyncIterator[PayoutRig]:
    chain = FakePayoutChain()
    rig = PayoutRig(skipping_env, chain, f"ts-payout-{uuid.uuid4()}")
    async with payout_workers(skipping_env.client, rig.queue, chain, POLICY, [LiquidationPayoutWorkflow]):
        yield rig
        await terminate_running(skipping_env.client, rig.started)


async def test_pool_too_low_alerts_once_waits_and_pays_when_refilled(payout_rig: PayoutRig) -> None:
    chain = payout_rig.chain
    chain.pool_ok, chain.confirmed = False, True
    handle = await payout_rig.start()
    await until(payout_rig.alerts, "the pool-low alert")
    await payout_rig.env.sleep(timedelta(seconds=POOL_RECHECK_S * 10))  # ten rechecks' worth of time
    assert len(chain.called(CHECK_EVENT.name)) >= 10
    assert len(payout_rig.alerts()) == 1
    assert chain.sends == []
    assert (await payout_rig.status(handle)).state is S.CONFIRMING
    chain.pool_ok = True
    status = await handle.result()
    assert status.state is S.DONE, status
    assert len(chain.sends) == 1 and status.final_tx_hash is not None
    assert len(payout_rig.alerts()) == 1


async def test_cancel_before_sending_ends_cancelled_and_never_calls_the_wallet_lane(
    payout_rig: PayoutRig,
) -> None:
    payout_rig.chain.pool_ok = False
    handle = await payout_rig.start()
    await until(payout_rig.alerts, "waiting for the pool")
    await handle.cancel()
    with pytest.raises(WorkflowFailureError) as failure:
        await handle.result()
    assert isinstance(failure.value.cause, CancelledError), failure.value.cause
    assert (await handle.describe()).status is WorkflowExecutionStatus.CANCELED
    assert (await payout_rig.status(handle)).state is S.CANCELLED
    assert payout_rig.chain.states[-1] is S.CANCELLED
    assert payout_rig.chain.called(SEND_PAYOUT.name) == []


async def test_cancel_while_confirmations_are_awaited_ends_cancelled_with_the_ledger_row_and_sends_nothing(
    payout_rig: PayoutRig,
) -> None:
    payout_rig.chain.event_confirmed = False
    handle = await payout_rig.start()
    await until(
        lambda: len(payout_rig.chain.called(CHECK_EVENT.name)) >= 2, "the confirmations wait under way"
    )
    await handle.cancel()
    with pytest.raises(WorkflowFailureError) as failure:
        await handle.result()
    assert isinstance(failure.value.cause, CancelledError), failure.value.cause
    assert payout_rig.chain.called(SEND_PAYOUT.name) == []
    assert (await payout_rig.status(handle)).state is S.CANCELLED
    assert payout_rig.chain.states[-1:] == [S.CANCELLED]


async def test_cancel_while_the_receipt_is_awaited_keeps_tracking_to_the_receipt_says_so_and_ends_done(
    payout_rig: PayoutRig,
) -> None:
    chain = payout_rig.chain
    handle = await payout_rig.start()
    await payout_rig.in_state(handle, S.CONFIRMING_TX)
    await handle.cancel()

    async def says_so_or_ended() -> bool:
        unsent = "cannot be unsent" in ((await payout_rig.status(handle)).reason or "")
        return unsent or (await handle.describe()).status is not WorkflowExecutionStatus.RUNNING

    await until(says_so_or_ended, "the payout saying it tracks on, or ending")
    tracking = await payout_rig.status(handle)
    assert (tracking.state, (await handle.describe()).status) == (
        S.CONFIRMING_TX,
        WorkflowExecutionStatus.RUNNING,
    )
    assert "cannot be unsent" in (tracking.reason or "")
    chain.confirmed = True
    status = await handle.result()
    assert (await handle.describe()).status is WorkflowExecutionStatus.COMPLETED
    assert status.state is S.DONE, status
    assert "cannot be unsent" in (status.reason or "")
    assert len(chain.called(SEND_PAYOUT.name)) == 1


async def test_cancel_during_the_wallet_send_waits_for_the_lane_then_tracks_to_done(
    payout_rig: PayoutRig,
) -> None:
    chain = payout_rig.chain
    chain.lane_gate = asyncio.Event()
    handle = await payout_rig.start()
    await until(lambda: chain.called(SEND_PAYOUT.name), "the send in the wallet lane")
    await handle.cancel()
    chain.lane_gate.set()
    chain.confirmed = True
    status = await handle.result()
    assert status.state is S.DONE, status
    assert status.tx_hashes == [status.final_tx_hash]
    assert len(chain.sends) == 1
