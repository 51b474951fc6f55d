"""The reconciler closes the ledger rows of jobs whose run ended without their final state, on the
real dev server with the Postgres ledger: a grid session and a hedge cycle, each looked at while it
runs (untouched) and after an operator terminated it (its row gets Temporal's close status and close
time, the gauges stop counting it live, one alert)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from perpflow import names
from perpflow.db import tables as t
from perpflow.db.ledger import Ledger
from perpflow.grid.levels import LevelState
from perpflow.grid.models import GridStatus
from perpflow.hedge.models import CycleState
from perpflow.metrics.ledger import LedgerGauges
from perpflow.reconcile.models import ClosedJob, JobKind, ReconcileInput, ReconcileReport, RunClose
from perpflow.venues.types import Side
from tests.plugins.grid import Ladder, grid_orchestrator, until
from tests.plugins.hedge import HedgeRig, record_history, signer_workers
from tests.plugins.marketdata import md_config, running
from tests.plugins.venues import new_account, venue_for
from tests.workflows.test_reconcile import reconcile_worker
from workers.orchestrator import LEDGER_WORDS


@dataclass
class Sweeper:
    client: Client
    queue: str
    ledger: Ledger

    async def run(self, record: str | None = None) -> ReconcileReport:
        """One reconcile run of the venue with no grace: every row is old enough to judge."""
        inp = ReconcileInput(settle_s=0, job_grace_s=0)
        handle = await self.client.start_workflow(
            "ReconcileWorkflow", inp, id=f"reconcile-rows-{uuid.uuid4().hex[:8]}", task_queue=self.queue,
            result_type=ReconcileReport, execution_timeout=timedelta(seconds=60),
        )  # fmt: skip
        report: ReconcileReport = await handle.result()
        if record:
            await record_history(handle, record)
        return report

    async def row(self, table: Any, workflow_id: str) -> Any:
        async with self.ledger.session() as s:
            return await s.scalar(select(table).where(table.workflow_id == workflow_id))

    async def gauge(self, name: str) -> dict[tuple[str, ...], float]:
        families = await LedgerGauges(self.ledger.engine, LEDGER_WORDS).read()
        family = next(f for f in families if f.name == name)
        return {tuple(s.labels.values()): s.value for s in family.samples}

    async def alerts(self, workflow_id: str) -> list[str]:
        return [
            str(e.detail["title"])
            for e in await self.ledger.audit_log(500)
            if e.action == "alert.warning" and workflow_id in str(e.detail["title"])
        ]


@pytest.fixture
async def sweeper(
    temporal_env: WorkflowEnvironment, hedge_rig: HedgeRig, pg_ledger: Ledger
) -> AsyncIterator[Sweeper]:
    queue = f"reconcile-{uuid.uuid4()}"
    async with await reconcile_worker(temporal_env, pg_ledger, hedge_rig.public, queue):
        yield Sweeper(temporal_env.client, queue, pg_ledger)


async def test_a_grid_session_terminated_gets_its_row_closed_terminated_and_leaves_the_live_count(
    sweeper: Sweeper, hedge_rig: HedgeRig, pg_ledger: Ledger, tmp_path: Path
) -> None:
    client, sim = hedge_rig.client, hedge_rig.sim
    account = await new_account(sim)
    venue = venue_for(sim, account)
    ladder = await Ladder.around_the_book(hedge_rig.public)
    config = ladder.config(f"rows-{uuid.uuid4().hex[:6]}", account, stop={"outside_range_pct": 50})
    queue = f"grid-{uuid.uuid4()}"
    try:
        async with AsyncExitStack() as stack:
            await stack.enter_async_context(running(md_config(sim, tmp_path), client, pg_ledger))
            for worker in (
                grid_orchestrator(client, queue, hedge_rig.public, pg_ledger, tmp_path),
                *signer_workers(client, venue, account, pg_ledger),
            ):
                await stack.enter_async_context(worker)
            handle = await client.start_workflow(
                "GridSessionWorkflow", config, id=names.grid_session_id(config["name"]), task_queue=queue,
                result_type=GridStatus,
            )  # fmt: skip
            await until(
                handle, lambda s: sum(r.state is LevelState.OPEN for r in s.levels) == 6, "the ladder"
            )

            live = await sweeper.run()
            assert live.closed_jobs == []
            row = await sweeper.row(t.GridSession, handle.id)
            assert (row.state, row.closed_status, row.ended_at) == ("RUNNING", None, None)
            assert (await sweeper.gauge("perpflow_grid_sessions"))[("RUNNING",)] == 1

            await handle.terminate("operator pressed terminate")
            closed = (await handle.describe()).close_time
            report = await sweeper.run("reconcile_closed_job_rows")
    finally:
        for order in await venue.open_orders("ETH"):  # the orphans are the exposure reconciler's tests'
            await venue.cancel("ETH", order.order_index)
        await venue.close()

    assert closed is not None
    assert report.closed_jobs == [
        ClosedJob(
            kind=JobKind.GRID_SESSION, workflow_id=handle.id, state="RUNNING", closed=RunClose.TERMINATED,
            closed_at=closed,
        )
    ]  # fmt: skip
    row = await sweeper.row(t.GridSession, handle.id)
    assert (row.state, row.closed_status) == ("RUNNING", "TERMINATED")
    assert row.ended_at.replace(tzinfo=closed.tzinfo) == closed
    sessions = await sweeper.gauge("perpflow_grid_sessions")
    assert (sessions[("RUNNING",)], sessions[("TERMINATED",)]) == (0, 1)
    assert not any((await sweeper.gauge("perpflow_grid_position")).values())
    assert len(await sweeper.alerts(handle.id)) == 1

    again = await sweeper.run()
    assert again.closed_jobs == []
    assert len(await sweeper.alerts(handle.id)) == 1  # once per row


async def test_a_hedge_cycle_terminated_gets_its_row_closed_and_a_running_one_is_untouched(
    sweeper: Sweeper, hedge_rig: HedgeRig
) -> None:
    rig = hedge_rig
    handle = await rig.start(rig.cycle(Side.BUY, maker_timeout_s=300, depth=3))
    await rig.quoting(handle)

    live = await sweeper.run()
    assert live.closed_jobs == []
    row = await sweeper.row(t.HedgeCycle, handle.id)
    assert (row.state, row.closed_status, row.ended_at) == (CycleState.QUOTING.value, None, None)
    assert (await sweeper.gauge("perpflow_hedge_cycles"))[("test", "QUOTING")] == 1
    assert await sweeper.gauge("perpflow_hedge_pair_account")  # the pair counts as live

    await handle.terminate("operator pressed terminate")
    desc = await handle.describe()
    assert desc.status is WorkflowExecutionStatus.TERMINATED
    report = await sweeper.run()
    [job] = report.closed_jobs
    assert (job.kind, job.workflow_id, job.state, job.closed, job.closed_at) == (
        JobKind.HEDGE_CYCLE, handle.id, "QUOTING", RunClose.TERMINATED, desc.close_time,
    )  # fmt: skip
    row = await sweeper.row(t.HedgeCycle, handle.id)
    assert (row.state, row.closed_status) == ("QUOTING", "TERMINATED")
    cycles = await sweeper.gauge("perpflow_hedge_cycles")
    assert (cycles[("test", "QUOTING")], cycles[("test", "TERMINATED")]) == (0, 1)
    assert await sweeper.gauge("perpflow_hedge_pair_account") == {}
    assert len(await sweeper.alerts(handle.id)) == 1
    for order in await rig.maker_venue.open_orders("ETH"):
        await rig.maker_venue.cancel("ETH", order.order_index)
