"""Ledger rows their job never finished. A grid session or hedge cycle writes its row's final state
itself; a run that ends without running that code (terminated, timed out, reset away, its last write
given up) leaves the row in its last state, and the gauges would count it live for ever. The
reconciler asks Temporal about every such row of its venue and marks the ended ones with the run's
close status (``closed_status``) and close time (``ended_at``), alerting once per row."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

from perpflow.alerts.models import Alert, Severity
from perpflow.alerts.notifier import Notifier
from perpflow.db.jobs import JobRows, OpenRow
from perpflow.db.ledger import Ledger
from perpflow.reconcile.models import ClosedJob, ClosedJobs, JobRowsSweep, OwnerStatus, RunClose
from perpflow.reconcile.owners import OwnerFinder

log = logging.getLogger(__name__)


class RowCloser:
    def __init__(self, finder: OwnerFinder, ledger: Ledger, notifier: Notifier) -> None:
        self.finder = finder  # its describes, a few at a time
        self.rows = JobRows(ledger)
        self.notifier = notifier

    async def sweep(self, req: JobRowsSweep) -> ClosedJobs:
        now = datetime.now(UTC)
        settled = now - timedelta(seconds=req.grace_s)
        rows = await self.rows.unfinished(req.venue, started_before=settled)
        runs = await asyncio.gather(*(self.finder.run(row.workflow_id) for row in rows))
        out = ClosedJobs()
        for row, run in zip(rows, runs, strict=True):
            closed = RunClose.of(run.status)
            if run.status is OwnerStatus.UNREACHABLE:
                out.unreachable.append(row.workflow_id)
            elif closed is not None and (run.closed_at is None or run.closed_at < settled):
                job = ClosedJob(
                    kind=row.kind, workflow_id=row.workflow_id, state=row.state, closed=closed,
                    closed_at=run.closed_at or now,
                )  # fmt: skip
                if await self._close(row, job, req.workflow_id):
                    out.closed.append(job)
        return out

    async def _close(self, row: OpenRow, job: ClosedJob, source: str) -> bool:
        # The alert first: it is keyed by the row and the run's close, so a retry after the row was
        # closed finds it recorded, where an alert after the close could be lost with the attempt.
        at = "gone" if job.closed is RunClose.NOT_FOUND else f"{job.closed_at:%Y%m%dT%H%M%S}"
        await self.notifier.send(
            Alert(
                severity=Severity.WARNING,
                source=source,
                title=f"{job.kind} {job.workflow_id} ended {job.closed} without its final state",
                detail=f"{job.describe()}; its ledger row is marked {job.closed}, no longer live",
                key=f"job-closed-{job.workflow_id}-{at}",
            )
        )
        if not await self.rows.close(row, job.closed, job.closed_at):
            return False
        log.warning("ledger row closed: %s", job.describe())
        return True
