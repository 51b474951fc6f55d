"""The approval gate (updates with validators, the operator's name recorded, escalation) and
the private key's absence from every history and log line."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment

from perpflow.payouts.models import ApprovalDecision, PayoutStatus
from tests.plugins.chain import ETH, ChainEnv
from tests.plugins.payouts import Payouts, PayoutState, eventually, open_payouts


@pytest.fixture
async def payouts(
    chain: ChainEnv, temporal_env: WorkflowEnvironment, sqlite_url: str
) -> AsyncIterator[Payouts]:
    # 12.5x pays 0.02 ETH, above the 0.015 threshold; 3x pays 0.005, below it.
    threshold = Decimal("0.015")
    async with open_payouts(chain, temporal_env, sqlite_url, approval_threshold_eth=threshold) as env:
        yield env


async def status(handle: WorkflowHandle[Any, Any]) -> PayoutStatus:
    return await handle.query("status", result_type=PayoutStatus)  # type: ignore[no-any-return]


async def awaiting(handle: WorkflowHandle[Any, Any]) -> None:
    async def check() -> bool:
        return (await status(handle)).state is PayoutState.AWAITING_APPROVAL

    await eventually(check, 20, "AWAITING_APPROVAL")


async def test_a_large_payout_waits_for_approval_and_records_the_operator(payouts: Payouts) -> None:
    await payouts.start_workers()
    user = payouts.users[0]
    before = await payouts.balance(user)
    handle = await payouts.start(await payouts.liquidate(user, 1250))
    await awaiting(handle)
    assert await payouts.balance(user) == before
    decided = await handle.execute_update("approve", ApprovalDecision(by="alice"), result_type=PayoutStatus)
    assert decided.decided_by == "alice"
    final = await asyncio.wait_for(handle.result(), 30)
    assert final.state is PayoutState.DONE
    assert await payouts.balance(user) - before == 2 * ETH // 100
    assert (await payouts.repo.get(handle.id)).approved_by == "alice"
    audit = await payouts.ledger.audit_log(limit=50)
    assert any(a.actor == "alice" and a.action == "payout.approve" and a.target == handle.id for a in audit)


async def test_a_rejected_payout_pays_nothing_and_a_second_decision_is_refused(payouts: Payouts) -> None:
    await payouts.start_workers()
    user = payouts.users[1]
    before = await payouts.balance(user)
    handle = await payouts.start(await payouts.liquidate(user, 1250))
    await awaiting(handle)
    with pytest.raises(WorkflowUpdateFailedError):  # the validator wants a name
        await handle.execute_update("approve", {"by": ""})
    await handle.execute_update("reject", ApprovalDecision(by="bob", note="duplicate claim"))
    final = await asyncio.wait_for(handle.result(), 30)
    assert final.state is PayoutState.REJECTED
    assert final.reason == "rejected by bob: duplicate claim"
    assert await payouts.balance(user) == before
    assert (await payouts.repo.get(handle.id)).state is PayoutState.REJECTED


async def test_an_update_to_a_payout_not_awaiting_approval_is_rejected_by_the_validator(
    payouts: Payouts,
) -> None:
    await payouts.start_workers()
    handle = await payouts.start(await payouts.liquidate(payouts.users[2], 300))  # small: no gate
    final = await asyncio.wait_for(handle.result(), 30)
    assert final.state is PayoutState.DONE and not final.needs_approval
    with pytest.raises(Exception, match=r"not awaiting approval|already completed"):
        await handle.execute_update("approve", ApprovalDecision(by="mallory"))


async def test_an_approval_timeout_escalates_and_the_payout_still_waits(payouts: Payouts) -> None:
    await payouts.start_workers()
    policy = payouts.policy.model_copy(update={"approval_timeout_s": 1})
    handle = await payouts.start(await payouts.liquidate(payouts.users[0], 1250), policy)

    async def escalated() -> bool:
        return (await status(handle)).escalated

    await eventually(escalated, 20, "escalation")
    assert (await status(handle)).state is PayoutState.AWAITING_APPROVAL
    audit = await payouts.ledger.audit_log(limit=50)
    assert any(
        a.action == "alert.warning" and a.target == handle.id and a.detail["title"] == "payout escalation"
        for a in audit
    )
    await handle.execute_update("approve", ApprovalDecision(by="carol"))
    assert (await asyncio.wait_for(handle.result(), 30)).state is PayoutState.DONE


async def test_the_private_key_never_appears_in_histories_or_logs(
    payouts: Payouts, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    await payouts.start_workers()
    handles = [await payouts.start(await payouts.liquidate(payouts.users[0], r)) for r in (300, 1250)]
    await awaiting(handles[1])
    await handles[1].execute_update("approve", ApprovalDecision(by="alice"))
    for handle in handles:
        assert (await asyncio.wait_for(handle.result(), 30)).state is PayoutState.DONE
    key = payouts.owner._key.get_secret_value().lower().removeprefix("0x")
    texts = [(await h.fetch_history()).to_json().lower() for h in handles]
    texts.append(caplog.text.lower())
    texts += [repr(r.__dict__).lower() for r in caplog.records]
    assert len(texts[0]) > 1000 and "payout" in caplog.text
    assert not [t for t in texts if key in t]
