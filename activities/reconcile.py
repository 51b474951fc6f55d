"""The exposure reconciler's activities on the orchestrator queue: managed accounts, owners (the
ledger and Temporal), orphan episodes, the audit, and jobs' rows left unfinished by a run that
ended. Venue reads and actions run on signer queues."""

from __future__ import annotations

from collections.abc import Callable

from temporalio import activity
from temporalio.client import Client

from perpflow.alerts.notifier import Notifier
from perpflow.db.ledger import Ledger
from perpflow.db.reconcile import Orphans
from perpflow.models import AuditEntry
from perpflow.reconcile.models import (
    AccountsQuery,
    AlertedOrphans,
    ClosedJobs,
    JobRowsSweep,
    ManagedAccounts,
    OrphanSync,
    OrphanSyncResult,
    Owners,
    OwnersQuery,
)
from perpflow.reconcile.owners import OwnerFinder
from perpflow.reconcile.rows import RowCloser


class ReconcileActivities:
    def __init__(self, client: Client, ledger: Ledger, notifier: Notifier) -> None:
        self.ledger = ledger
        self.finder = OwnerFinder(client, ledger)
        self.orphans = Orphans(ledger)
        self.rows = RowCloser(self.finder, ledger, notifier)

    @activity.defn(name="reconcile_accounts")
    async def accounts(self, query: AccountsQuery) -> ManagedAccounts:
        return ManagedAccounts(accounts=await self.ledger.accounts(query.venue))

    @activity.defn(name="reconcile_owners")
    async def owners(self, query: OwnersQuery) -> Owners:
        return await self.finder.owners(query)

    @activity.defn(name="sync_orphans")
    async def sync_orphans(self, req: OrphanSync) -> OrphanSyncResult:
        result = await self.orphans.sync(req)
        opened, resolved = len(result.opened), len(result.resolved)
        activity.logger.info("orphans synced venue=%s opened=%d resolved=%d", req.venue, opened, resolved)
        return result

    @activity.defn(name="mark_orphans_alerted")
    async def mark_alerted(self, req: AlertedOrphans) -> None:
        await self.orphans.mark_alerted(req)

    @activity.defn(name="reconcile_audit")
    async def audit(self, entry: AuditEntry) -> None:
        await self.ledger.record_audit(entry)

    @activity.defn(name="close_ended_job_rows")
    async def close_ended_job_rows(self, req: JobRowsSweep) -> ClosedJobs:
        return await self.rows.sweep(req)

    def all(self) -> list[Callable[..., object]]:
        return [
            self.accounts, self.owners, self.sync_orphans, self.mark_alerted, self.audit,
            self.close_ended_job_rows,
        ]  # fmt: skip
