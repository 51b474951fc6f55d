"""close_ended_job_rows on the real dev server and each ledger backend: which rows it closes, with
what, and when it waits. The workflows are real executions of the jobs' types on a queue nobody
polls: Temporal keeps them running until they are terminated, as it would a job whose worker is
down."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from temporalio.client import WorkflowHandle
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from activities.reconcile import ReconcileActivities
from perpflow import names
from perpflow.alerts.notifier import Notifier
from perpflow.db import tables as t
from perpflow.db.grid import GridSessions
from perpflow.db.ledger import Ledger
from perpflow.grid.config import GridConfig
from perpflow.grid.models import GridRecord, GridState
from perpflow.reconcile.models import ClosedJobs, JobKind, JobRowsSweep, RunClose

CONFIG = GridConfig.model_validate({
    "name": "eth", "account": {"account_index": 7, "api_key_index": 3}, "market": "ETH",
    "lower": "2800", "upper": "3200", "levels": 21, "size": "0.05",
})  # fmt: skip


async def session(env: WorkflowEnvironment, ledger: Ledger, state: GridState) -> WorkflowHandle[Any, Any]:
    """A grid session's workflow in Temporal and its row, started an hour ago as far as the row says."""
    name = f"rows-{uuid.uuid4().hex[:8]}"
    wid = names.grid_session_id(name)
    handle = await env.client.start_workflow(
        "GridSessionWorkflow", CONFIG.model_copy(update={"name": name}), id=wid, task_queue=f"idle-{wid}"
    )
    rec = GridRecord(
        workflow_id=wid, name=name, venue="lighter", market="ETH", account_index=7, state=state, config=CONFIG
    )
    await GridSessions(ledger).save(rec)
    async with ledger.session() as s:
        hour_ago = datetime.now(UTC) - timedelta(hours=1)
        await s.execute(
            update(t.GridSession).where(t.GridSession.workflow_id == wid).values(started_at=hour_ago)
        )
    return handle


async def sweep(env: WorkflowEnvironment, ledger: Ledger, grace_s: float) -> ClosedJobs:
    acts = ReconcileActivities(env.client, ledger, Notifier(ledger))
    req = JobRowsSweep(venue="lighter", workflow_id="reconcile-lighter-test", grace_s=grace_s)
    result: ClosedJobs = await ActivityEnvironment().run(acts.close_ended_job_rows, req)
    return result


async def closed_status(ledger: Ledger, wid: str) -> str | None:
    async with ledger.session() as s:
        return await s.scalar(select(t.GridSession.closed_status).where(t.GridSession.workflow_id == wid))


async def test_a_run_closed_within_the_grace_waits_and_one_gone_from_temporal_is_not_found(
    temporal_env: WorkflowEnvironment, ledger: Ledger
) -> None:
    running = await session(temporal_env, ledger, GridState.RUNNING)
    killed = await session(temporal_env, ledger, GridState.STOPPING)
    await killed.terminate("operator pressed terminate")
    # A row whose workflow Temporal does not know (deleted by retention, or another cluster's).
    rec = GridRecord(workflow_id="grid-gone", name="gone", venue="lighter", market="ETH", account_index=7,
                     state=GridState.PAUSED, config=CONFIG)  # fmt: skip
    await GridSessions(ledger).save(rec)

    waiting = await sweep(temporal_env, ledger, grace_s=60)
    assert waiting.closed == []  # the row of the gone one is too young, the kill too recent
    assert await closed_status(ledger, killed.id) is None

    done = await sweep(temporal_env, ledger, grace_s=0)
    got = {(j.kind, j.workflow_id, j.state, j.closed) for j in done.closed}
    assert got == {
        (JobKind.GRID_SESSION, killed.id, "STOPPING", RunClose.TERMINATED),
        (JobKind.GRID_SESSION, "grid-gone", "PAUSED", RunClose.NOT_FOUND),
    }
    assert [await closed_status(ledger, w) for w in (running.id, killed.id, "grid-gone")] == [
        None, "TERMINATED", "NOT_FOUND",
    ]  # fmt: skip
    assert (await sweep(temporal_env, ledger, grace_s=0)).closed == []
    warnings = [e for e in await ledger.audit_log() if e.action == "alert.warning"]
    assert sorted(str(e.detail["title"]).split()[1] for e in warnings) == sorted([killed.id, "grid-gone"])
    await running.terminate("test over")
