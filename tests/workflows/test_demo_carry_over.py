"""make run on a state dir kept from an earlier run: Temporal still has the earlier stack's demo grid
sessions running, but their sim is gone (each stack starts an empty one). The demo ends those and
keeps a session this stack started (a restarted demo process)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from temporalio.client import WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from perpflow.devstack.demo_grid import end_carried_over


async def test_a_session_from_an_earlier_stack_is_ended_and_one_of_this_stack_is_kept(
    temporal_env: WorkflowEnvironment, task_queue: str
) -> None:
    client = temporal_env.client
    # No worker polls this queue: the run stays RUNNING, as a session whose workers are gone.
    handle = await client.start_workflow(
        "GridSessionWorkflow", id=f"grid-demo-{uuid.uuid4()}", task_queue=task_queue
    )
    started = (await handle.describe()).start_time

    await end_carried_over(client, handle.id, stack_started=started - timedelta(seconds=5))
    assert (await handle.describe()).status is WorkflowExecutionStatus.RUNNING

    await end_carried_over(client, handle.id, stack_started=started + timedelta(seconds=1))
    described = await handle.describe()
    assert described.status is WorkflowExecutionStatus.TERMINATED

    await end_carried_over(
        client, f"grid-none-{uuid.uuid4()}", stack_started=datetime.now(UTC)
    )  # none: nothing
