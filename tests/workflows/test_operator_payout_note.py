"""`perpflow payouts approve --note` keeps the note: in the payout's status, its ledger row and
the audit entry of the decision, the way the approver's name is kept."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest
from temporalio.testing import WorkflowEnvironment
from typer.testing import CliRunner

from perpflow.cli.payouts import payouts_app
from perpflow.payouts.models import PayoutStatus
from tests.plugins.chain import ChainEnv
from tests.plugins.payouts import Payouts, PayoutState, eventually, open_payouts

NOTE = "ticket OPS-42: checked the liquidation by hand"


@pytest.fixture
async def payouts(
    chain: ChainEnv, temporal_env: WorkflowEnvironment, sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Payouts]:
    # 12.5x pays 0.02 ETH, above the 0.015 threshold: the payout waits for an operator.
    async with open_payouts(chain, temporal_env, sqlite_url, approval_threshold_eth=Decimal("0.015")) as env:
        client = temporal_env.client
        monkeypatch.setenv("PERPFLOW_TEMPORAL_ADDRESS", client.service_client.config.target_host)
        monkeypatch.setenv("PERPFLOW_TEMPORAL_NAMESPACE", client.namespace)
        yield env


async def cli(*args: str) -> str:
    """Run `perpflow payouts ARGS` as an operator would (its own event loop, in a thread)."""
    result = await asyncio.to_thread(CliRunner().invoke, payouts_app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


async def test_approve_with_a_note_keeps_it_in_the_status_the_ledger_row_and_the_audit(
    payouts: Payouts,
) -> None:
    await payouts.start_workers()
    handle = await payouts.start(await payouts.liquidate(payouts.users[0], 1250))

    async def awaiting() -> bool:
        status: PayoutStatus = await handle.query("status", result_type=PayoutStatus)
        return status.state is PayoutState.AWAITING_APPROVAL

    await eventually(awaiting, 20, "AWAITING_APPROVAL")
    output = await cli("approve", handle.id, "--by", "alice", "--note", NOTE)
    assert f"approved by alice: {NOTE}" in " ".join(output.split())
    final: PayoutStatus = await asyncio.wait_for(handle.result(), 30)
    assert final.state is PayoutState.DONE
    assert (final.decided_by, final.decision_note) == ("alice", NOTE)
    assert final.reason == f"approved by alice: {NOTE}"
    row = await payouts.repo.get(handle.id)
    assert (row.approved_by, row.reason) == ("alice", f"approved by alice: {NOTE}")
    audit = [a for a in await payouts.ledger.audit_log(limit=50) if a.target == handle.id]
    assert [(a.actor, a.action, a.detail) for a in audit if a.action == "payout.approve"] == [
        ("alice", "payout.approve", {"reason": f"approved by alice: {NOTE}"})
    ]


async def test_reject_with_a_note_keeps_it_in_the_status_and_the_ledger_row(payouts: Payouts) -> None:
    await payouts.start_workers()
    handle = await payouts.start(await payouts.liquidate(payouts.users[1], 1250))

    async def awaiting() -> bool:
        status: PayoutStatus = await handle.query("status", result_type=PayoutStatus)
        return status.state is PayoutState.AWAITING_APPROVAL

    await eventually(awaiting, 20, "AWAITING_APPROVAL")
    await cli("reject", handle.id, "--by", "bob", "--note", NOTE)
    final: PayoutStatus = await asyncio.wait_for(handle.result(), 30)
    assert (final.state, final.decided_by, final.decision_note) == (PayoutState.REJECTED, "bob", NOTE)
    row = await payouts.repo.get(handle.id)
    assert (row.state, row.reason) == (PayoutState.REJECTED, f"rejected by bob: {NOTE}")
