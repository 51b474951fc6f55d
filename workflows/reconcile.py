"""ReconcileWorkflow: one run of the exposure reconciler over every managed account of a venue.

Terminate runs no workflow code, so a terminated job can leave a resting order or a position that
nothing owns. A Schedule starts this every period: it reads each account's open orders and
positions, matches orders to their owners by client order index and positions to what live owners
answer to ``exposure`` (asked before and after the venue read), looks again after ``settle_s`` to
let a live owner's fills reach its state, and then acts on what is still orphaned, per account
policy, alerting once per orphan episode.
"""

from __future__ import annotations

import asyncio
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from perpflow import names
    from perpflow.alerts.models import Severity
    from perpflow.exposure import EXPOSURE_QUERY, Exposure
    from perpflow.models import AccountRef, AuditEntry
    from perpflow.orders import AccountQuery
    from perpflow.reconcile.judge import confirm, judge
    from perpflow.reconcile.models import (
        AccountObservation,
        AccountReport,
        AccountsQuery,
        ActionOutcome,
        AlertedOrphans,
        ClosedJob,
        JobRowsSweep,
        Judgement,
        OpenOrphan,
        Orphan,
        OrphanKind,
        OrphanSync,
        OwnersQuery,
        Policy,
        ReconcileInput,
        ReconcileReport,
    )
    from workflows.alerts import raise_alert
    from workflows.calls import (
        CLOSE_ENDED_JOB_ROWS,
        GET_OPEN_ORDERS,
        GET_POSITION,
        MARK_ORPHANS_ALERTED,
        RECONCILE_ACCOUNTS,
        RECONCILE_AUDIT,
        RECONCILE_OWNERS,
        SYNC_ORPHANS,
    )
    from workflows.commands import CommandLog, RejectsUnknownSignals
    from workflows.failures import root_cause
    from workflows.options import LEDGER, RECONCILE_READ
    from workflows.orphans import cancel_orphan, flatten_orphan, nothing_done
    from workflows.validation import FAIL_ON_INVALID_INPUT, parse_input

# Runs begun before it asked an account's owners once, after the venue read: a cycle's close
# landing between the read and their answer showed its position as unowned. After it each look
# asks them before the read too (one more activity per account and look); those runs replay.
OWNERS_BRACKET = "reconcile-owners-bracket"
# Runs begun before it left jobs' ledger rows alone; after it each run ends by closing the rows
# whose job's run ended without its final state (one more activity); those runs replay.
JOB_ROWS = "reconcile-job-rows"


@workflow.defn(name="ReconcileWorkflow", failure_exception_types=FAIL_ON_INVALID_INPUT)
class ReconcileWorkflow(RejectsUnknownSignals):
    def __init__(self) -> None:
        self.commands = CommandLog("reconcile")  # it takes no signals: any is logged as rejected
        self.inp = ReconcileInput()
        self.reports: list[AccountReport] = []
        self.unknown: list[str] = []
        self.bracketed = False  # the owners are asked before the venue read as well as after

    @workflow.run
    async def run(self, raw: Any = None) -> ReconcileReport:
        inp = self.inp = parse_input(ReconcileInput, raw, names.Kind.RECONCILE)
        self.bracketed = workflow.patched(OWNERS_BRACKET)
        started = workflow.now()
        workflow.upsert_search_attributes(
            [names.KIND.value_set(names.Kind.RECONCILE), names.VENUE.value_set(inp.venue)]
        )
        await self._load_accounts()
        self._log("observing %d account(s) dry_run=%s", len(self.reports), inp.dry_run)
        await self._observe_and_confirm()
        alerted: list[str] = []
        resolved: list[str] = []
        closed: list[ClosedJob] = []
        if not inp.dry_run:
            await asyncio.gather(*(self._act_on(r) for r in self.reports if r.policy is not Policy.ALERT))
            alerted, resolved = await self._record()
            if workflow.patched(JOB_ROWS):
                closed = await self._close_ended_jobs()
        report = ReconcileReport(
            workflow_id=workflow.info().workflow_id,
            venue=inp.venue,
            dry_run=inp.dry_run,
            started_at=started,
            finished_at=workflow.now(),
            accounts=self.reports,
            alerted=alerted,
            resolved=resolved,
            unknown_accounts=self.unknown,
            closed_jobs=closed,
        )
        self._log("done orphans=%d alerted=%d resolved=%d", len(report.orphans), len(alerted), len(resolved))
        return report

    @workflow.query(name=EXPOSURE_QUERY)
    def exposure(self) -> Exposure:
        """It owns nothing that outlives it: its closes are reduce-only IOC orders, never resting."""
        return Exposure(workflow_id=workflow.info().workflow_id)

    # -- observe and judge -------------------------------------------------------------------------

    async def _load_accounts(self) -> None:
        managed = await RECONCILE_ACCOUNTS.run(AccountsQuery(venue=self.inp.venue))
        known = {a.name for a in managed.accounts}
        wanted = set(self.inp.accounts) if self.inp.accounts else known
        self.unknown = sorted((wanted | set(self.inp.policies)) - known)
        self.reports = [
            AccountReport(account=a, policy=self.inp.policy_for(a.name))
            for a in managed.accounts
            if a.name in wanted
        ]

    async def _observe_and_confirm(self) -> None:
        """Judge every account; look again at those with suspects and keep what held still."""
        first = await asyncio.gather(*(self._observe(r.account) for r in self.reports))
        for report, obs in zip(self.reports, first, strict=True):
            _judge(report, obs)
        suspects = [r for r in self.reports if r.judgement.orphans]
        if not suspects:
            return
        count = sum(len(r.judgement.orphans) for r in suspects)
        self._log("%d suspected orphan(s); looking again in %gs", count, self.inp.settle_s)
        if self.inp.settle_s > 0:
            await workflow.sleep(self.inp.settle_s)
        second = await asyncio.gather(*(self._observe(r.account) for r in suspects))
        for report, obs in zip(suspects, second, strict=True):
            earlier = report.judgement.orphans
            _judge(report, obs)
            report.judgement.orphans, report.unsettled = confirm(earlier, report.judgement.orphans)
            for orphan in report.judgement.orphans:
                self._log("orphan confirmed: %s (%s)", orphan.describe(), orphan.reason)

    async def _observe(self, account: AccountRef) -> AccountObservation:
        """The owners, the venue, then the owners again. Orders are judged by the later answer: an
        owner that ends in between leaves an order that is gone by the second look, never one
        judged owned that is not. Positions by either answer: one whose position moved during the
        read (a close landing) is explained by the answer before it or the one after."""
        if account.api_key_index is None:
            return AccountObservation(account=account, error="no API key index: no signer queue to read")
        queue = names.signer_read_queue(account.venue, account.account_index, account.api_key_index)
        query = AccountQuery(account_index=account.account_index)
        ask = OwnersQuery(venue=account.venue, account_index=account.account_index)
        try:
            before = await RECONCILE_OWNERS.run(ask) if self.bracketed else None
            orders, snap = await asyncio.gather(
                GET_OPEN_ORDERS.run(query, task_queue=queue, preset=RECONCILE_READ),
                GET_POSITION.run(query, task_queue=queue, preset=RECONCILE_READ),
            )
            resting = [o for o in orders.orders if not o.status.final]
            cois = [o.client_order_index for o in resting]
            owners = await RECONCILE_OWNERS.run(ask.model_copy(update={"client_order_indexes": cois}))
        except ActivityError as exc:
            workflow.logger.warning("reconcile could not read %s: %s", account.name, root_cause(exc))
            return AccountObservation(account=account, error=f"not read this run: {root_cause(exc)}")
        return AccountObservation(
            account=account, orders=resting, positions=snap.account.positions, owners=owners,
            owners_before=before,
        )  # fmt: skip

    # -- act -----------------------------------------------------------------------------------------

    async def _act_on(self, report: AccountReport) -> None:
        """Orders first: a position is closed only if no orphan order moved it while cancelled."""
        for orphan in report.judgement.orphans:
            if orphan.kind is OrphanKind.ORDER:
                outcome = await cancel_orphan(report, orphan)
            elif not report.policy.flattens:
                continue
            elif any(a.filled_since_seen for a in report.actions):
                outcome = nothing_done(
                    orphan, "an orphan order filled while cancelled: judged again next run"
                )
            else:
                outcome = await flatten_orphan(report, orphan, self.inp.max_slippage)
            report.actions.append(outcome)
            self._log("%s %s ok=%s: %s", outcome.action, orphan.key, outcome.ok, outcome.detail)
            await self._audit(report, orphan, outcome)

    # -- ledger and alerts ---------------------------------------------------------------------------

    async def _audit(self, report: AccountReport, orphan: Orphan, outcome: ActionOutcome) -> None:
        entry = AuditEntry(
            at=workflow.now(),
            actor=workflow.info().workflow_id,
            action=f"reconcile.{outcome.action}",
            target=f"{orphan.venue}:{orphan.account_index}:{orphan.market}",
            detail={
                "orphan": orphan.key,
                "reason": orphan.reason.value,
                "policy": report.policy.value,
                "ok": outcome.ok,
                "size": str(outcome.size),
                "detail": outcome.detail,
            },
        )
        await RECONCILE_AUDIT.run(entry)

    async def _record(self) -> tuple[list[str], list[str]]:
        """Open and resolve orphan episodes, then alert each new one once."""
        judged = [r for r in self.reports if not r.error]
        sync = OrphanSync(
            venue=self.inp.venue,
            workflow_id=workflow.info().workflow_id,
            at=workflow.now(),
            orphans=[o for r in judged for o in r.judgement.orphans],
            judged_orders=[r.account.account_index for r in judged],
            judged_positions=[r.account.account_index for r in judged if not r.judgement.deferred],
            unsettled=[k for r in self.reports for k in r.unsettled],
        )
        result = await SYNC_ORPHANS.run(sync)
        for row in result.to_alert:
            await self._alert(row)
        if result.to_alert:
            await MARK_ORPHANS_ALERTED.run(
                AlertedOrphans(ids=[r.id for r in result.to_alert], at=workflow.now())
            )
        return [r.orphan.key for r in result.to_alert], result.resolved

    async def _alert(self, row: OpenOrphan) -> None:
        orphan = row.orphan
        report = next(r for r in self.reports if r.account.account_index == orphan.account_index)
        done = [
            f"{a.action} {'ok' if a.ok else 'FAILED'} ({a.detail})"
            for a in report.actions
            if a.key == orphan.key
        ]
        detail = f"{orphan.describe()} [{orphan.reason}]; policy {report.policy}: " + (
            "; ".join(done) or "alerted only"
        )
        title = f"orphan {orphan.kind} on {orphan.account} {orphan.market}"
        await raise_alert(Severity.CRITICAL, title, detail, key=row.alert_key, preset=LEDGER)

    async def _close_ended_jobs(self) -> list[ClosedJob]:
        """The venue's jobs whose run ended without their final state get it from Temporal's close
        (alerted once each). Bookkeeping: a failure is logged, and the next run tries again."""
        sweep = JobRowsSweep(
            venue=self.inp.venue, workflow_id=workflow.info().workflow_id, grace_s=self.inp.job_grace_s
        )
        try:
            done = await CLOSE_ENDED_JOB_ROWS.run(sweep)
        except ActivityError as exc:
            self._log("could not close ended jobs' rows: %s", root_cause(exc))
            return []
        for job in done.closed:
            self._log("ledger row closed: %s", job.describe())
        return done.closed

    def _log(self, message: str, *args: object) -> None:
        workflow.logger.info("reconcile %s " + message, workflow.info().workflow_id, *args)


def _judge(report: AccountReport, obs: AccountObservation) -> None:
    report.error = obs.error
    report.judgement = judge(obs) if not obs.error else Judgement()
