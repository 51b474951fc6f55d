"""What an operator can get wrong from the CLI or the Web UI, on the real dev server: a start with
no input, ``null``, an array or a scalar fails the workflow at once, naming what it takes, and
stays findable by its kind; unknown and malformed signals are kept as rejected commands."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest
from pydantic import BaseModel
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowFailureError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from perpflow.grid.book import GridSessionInput
from perpflow.hedge.fleet import FleetInput
from perpflow.hedge.models import CycleParams, CycleStatus, HedgeCycleInput, LegAccount
from perpflow.models import HealthCheckInput
from perpflow.names import Kind
from perpflow.payouts.models import PayoutInput
from perpflow.reconcile.models import ReconcileInput
from perpflow.venues.types import Side
from tests.plugins.marketdata import eventually
from workflows.registry import ALL_WORKFLOWS
from workflows.validation import INVALID_INPUT

# Every registered workflow type: its PerpflowKind and the input it takes. A type missing here
# fails its test by name.
INPUTS: dict[str, tuple[Kind, type[BaseModel]]] = {
    "GridSessionWorkflow": (Kind.GRID_SESSION, GridSessionInput),
    "HealthCheckWorkflow": (Kind.HEALTH, HealthCheckInput),
    "HedgeCycleWorkflow": (Kind.HEDGE_CYCLE, HedgeCycleInput),
    "HedgeFleetWorkflow": (Kind.HEDGE_FLEET, FleetInput),
    "LiquidationPayoutWorkflow": (Kind.PAYOUT, PayoutInput),
    "ReconcileWorkflow": (Kind.RECONCILE, ReconcileInput),
}
TYPES = [getattr(cls, "__temporal_workflow_definition").name for cls in ALL_WORKFLOWS]
NO_INPUT = object()
BAD_INPUTS = {"no input": NO_INPUT, "null": None, "an array": [1], "a scalar": 5}


@pytest.fixture(scope="module")
async def queue(temporal_env: WorkflowEnvironment) -> AsyncIterator[str]:
    """Every workflow, no activities: none of these tests gets as far as an activity."""
    name = f"operator-input-{uuid.uuid4()}"
    async with Worker(temporal_env.client, task_queue=name, workflows=ALL_WORKFLOWS):
        yield name


async def start_raw(client: Client, workflow_type: str, raw: Any, queue: str) -> Any:
    wid = f"bad-input-{uuid.uuid4().hex[:12]}"
    if raw is NO_INPUT:
        return await client.start_workflow(workflow_type, id=wid, task_queue=queue)
    return await client.start_workflow(workflow_type, raw, id=wid, task_queue=queue)


@pytest.mark.parametrize("bad", list(BAD_INPUTS), ids=list(BAD_INPUTS))
@pytest.mark.parametrize("workflow_type", TYPES)
async def test_bad_start_input_fails_the_workflow_naming_what_it_takes_and_its_kind_finds_it(
    temporal_env: WorkflowEnvironment, queue: str, workflow_type: str, bad: str
) -> None:
    kind, model = INPUTS[workflow_type]
    client = temporal_env.client
    handle = await start_raw(client, workflow_type, BAD_INPUTS[bad], queue)
    with pytest.raises(WorkflowFailureError) as failure:
        await handle.result()
    cause = failure.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == INVALID_INPUT, cause
    assert f"{workflow_type} takes a JSON object" in cause.message
    required = [name for name, f in model.model_fields.items() if f.is_required()]
    assert all(f'"{name}"' in cause.message for name in required), (required, cause.message)
    assert (await handle.describe()).status is WorkflowExecutionStatus.FAILED
    query = f'PerpflowKind="{kind}" AND ExecutionStatus="Failed" AND WorkflowId="{handle.id}"'

    async def listed() -> bool:
        return [w.id async for w in client.list_workflows(query)] == [handle.id]

    await eventually(listed, f"{handle.id} in the list of failed {kind} workflows", 15)


def a_cycle() -> HedgeCycleInput:
    return HedgeCycleInput(
        fleet="ops",
        pair="p",
        seq=0,
        market="ETH",
        maker=LegAccount(account_index=901, api_key_index=1),
        taker=LegAccount(account_index=902, api_key_index=1),
        maker_side=Side.BUY,
        params=CycleParams(size=Decimal("0.05")),
    )


async def test_unknown_and_misaddressed_signals_and_a_malformed_pause_are_kept_as_rejected_commands(
    temporal_env: WorkflowEnvironment, queue: str
) -> None:
    """The cycle waits for its first activity (nobody serves it here) and takes signals meanwhile."""
    client = temporal_env.client
    handle = await client.start_workflow(
        "HedgeCycleWorkflow", a_cycle(), id=f"signals-{uuid.uuid4().hex[:12]}", task_queue=queue
    )
    try:
        await handle.signal("pauze", {"by": "ops"})
        await handle.signal("kill")  # a fleet command, sent to a cycle
        await handle.signal("pause", {"by": "ops", "resaon": "typo"})

        async def three_rejected() -> bool:
            status: CycleStatus = await handle.query("status", result_type=CycleStatus)
            return len(status.rejected_commands) == 3

        await eventually(three_rejected, "three rejected commands", 15)
        status: CycleStatus = await handle.query("status", result_type=CycleStatus)
        rejected = {r.name: r.error for r in status.rejected_commands}
        assert set(rejected) == {"pauze", "kill", "pause"}
        assert "unknown signal 'pauze'" in rejected["pauze"]
        assert "unknown signal 'kill'" in rejected["kill"]
        assert "resaon" in rejected["pause"]  # the field, not just "1 validation error"
        assert not status.paused
    finally:
        await handle.terminate("test over")
