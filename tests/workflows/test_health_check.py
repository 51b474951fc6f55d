"""HealthCheckWorkflow on a real dev server with a real worker and both ledgers."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from temporalio.client import Client, WorkflowFailureError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.health import HealthActivities
from perpflow.db.ledger import Ledger
from perpflow.db.migrate import head_revision
from perpflow.health import ledger_probe
from perpflow.models import Component, HealthCheckInput, HealthReport
from workflows.health import HealthCheckWorkflow


@pytest.fixture
async def worker_client(
    temporal_env: WorkflowEnvironment, ledger: Ledger, task_queue: str
) -> AsyncIterator[Client]:
    health = HealthActivities({Component.LEDGER: [ledger_probe(ledger)]})
    async with Worker(
        temporal_env.client,
        task_queue=task_queue,
        workflows=[HealthCheckWorkflow],
        activities=[health.check_component],
    ):
        yield temporal_env.client


async def test_health_check_reports_a_migrated_ledger_healthy(worker_client: Client, task_queue: str) -> None:
    report = await worker_client.execute_workflow(
        HealthCheckWorkflow.run, HealthCheckInput(), id=f"health-{uuid.uuid4()}", task_queue=task_queue
    )
    assert report.healthy
    [ledger] = report.components
    assert ledger.component == "ledger"
    assert f"schema {head_revision()}" in ledger.detail


async def test_health_check_reports_an_unconfigured_component_unhealthy(
    worker_client: Client, task_queue: str
) -> None:
    report = await worker_client.execute_workflow(
        HealthCheckWorkflow.run,
        HealthCheckInput(components=[Component.LEDGER, Component.CHAIN]),
        id=f"health-{uuid.uuid4()}",
        task_queue=task_queue,
    )
    assert not report.healthy
    assert [c.healthy for c in report.components] == [True, False]


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"bogus": 1}, "bogus"),
        ({"timeout_seconds": -5}, "timeout_seconds"),
        ({"components": "ledger-ish"}, "components"),
    ],
)
async def test_bad_start_input_fails_the_workflow_naming_the_field(
    worker_client: Client, task_queue: str, payload: dict[str, object], field: str
) -> None:
    # A plain dict is what `temporal workflow start --input '{...}'` sends: untyped JSON.
    handle = await worker_client.start_workflow(
        "HealthCheckWorkflow",
        payload,
        id=f"health-{uuid.uuid4()}",
        task_queue=task_queue,
        result_type=HealthReport,
    )
    with pytest.raises(WorkflowFailureError) as failure:
        await handle.result()
    assert field in str(failure.value.cause)
