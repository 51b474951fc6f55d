"""The activities the workflows call: one table of names, argument and result types and presets.

A workflow calls an activity only through its entry here, never by a bare name string nor by
importing an ``activities`` module (that would load venue clients and the database into workflow
code)::

    ack = await PLACE_ORDER.run(intent, task_queue=queue)            # the entry's own preset
    handle = PLACE_ORDER.start(intent, task_queue=queue, schedule_to_close_timeout=left)
    await SEND_ALERT.run(alert, preset=LEDGER)                        # another preset
    result = await SOME_ENTRY.run_local(request)                      # as a local activity

``preset`` picks another named preset of ``workflows.options``; keyword options replace single
options of the preset. A new activity is one line here, under the name it registers with
``@activity.defn(name=...)``: ``tests/unit/test_activity_table.py`` checks every entry against the
activity of that name (same argument and result types).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from perpflow.alerts.models import Alert
    from perpflow.grid.models import GridFills, GridRecord
    from perpflow.hedge.models import CycleRecord
    from perpflow.marketdata.models import (
        DeactivatedWatches,
        DeactivateWatches,
        Watch,
        WatchSet,
        WatchSetResult,
        WatchSpec,
    )
    from perpflow.models import AuditEntry, ComponentReport, HealthCheckRequest
    from perpflow.orders import (
        AccountQuery,
        AccountSnapshot,
        AwaitFill,
        BookQuery,
        BookSnapshot,
        MarketQuery,
        OpenOrders,
        OrderAck,
        OrderAcks,
        OrderBatch,
        OrderIntent,
        OrderRef,
    )
    from perpflow.payouts import models as payout
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
    from perpflow.venues.types import MarketInfo
    from workflows.options import (
        BESIDE,
        CHAIN_TX,
        LEDGER,
        ORDER,
        PAYOUT_LOCAL,
        PAYOUT_WAIT,
        PROBE,
        RECONCILE_READ,
        VENUE_READ,
    )

ArgT = TypeVar("ArgT")
ResultT = TypeVar("ResultT")


@dataclass(frozen=True)
class Activity(Generic[ArgT, ResultT]):
    name: str
    arg: type[ArgT]
    result: type[ResultT] | None  # None: the activity returns nothing
    preset: Mapping[str, Any]

    def start(
        self,
        arg: ArgT,
        *,
        task_queue: str | None = None,
        preset: Mapping[str, Any] | None = None,
        **options: Any,
    ) -> workflow.ActivityHandle[ResultT]:
        return workflow.start_activity(
            self.name,
            arg,
            task_queue=task_queue,
            result_type=self.result,
            **self._options(preset, options),
        )

    async def run(
        self,
        arg: ArgT,
        *,
        task_queue: str | None = None,
        preset: Mapping[str, Any] | None = None,
        **options: Any,
    ) -> ResultT:
        return await self.start(arg, task_queue=task_queue, preset=preset, **options)

    async def run_local(
        self, arg: ArgT, *, preset: Mapping[str, Any] | None = None, **options: Any
    ) -> ResultT:
        return await workflow.execute_local_activity(  # type: ignore[no-any-return]
            self.name, arg, result_type=self.result, **self._options(preset, options)
        )

    def _options(self, preset: Mapping[str, Any] | None, options: Mapping[str, Any]) -> dict[str, Any]:
        return {**(self.preset if preset is None else preset), **options}


# -- the venue, through a signer's queues (orders on the send queue, reads on the read queue) ------
PLACE_ORDER = Activity("place_order", OrderIntent, OrderAck, ORDER)
PLACE_ORDERS = Activity("place_orders", OrderBatch, OrderAcks, ORDER)
CANCEL_ORDER = Activity("cancel_order", OrderRef, OrderAck, ORDER)
AWAIT_FILL = Activity("await_fill", AwaitFill, OrderAck, VENUE_READ)
GET_POSITION = Activity("get_position", AccountQuery, AccountSnapshot, VENUE_READ)
GET_OPEN_ORDERS = Activity("get_open_orders", AccountQuery, OpenOrders, VENUE_READ)
GET_ORDER = Activity("get_order", OrderRef, OrderAck, VENUE_READ)

# -- public market data, on the orchestrator's queue ---------------------------------------------
GET_MARKET = Activity("get_market", MarketQuery, MarketInfo, VENUE_READ)
GET_BOOK_TOP = Activity("get_book_top", BookQuery, BookSnapshot, VENUE_READ)

# -- the market-data worker's price watches ------------------------------------------------------
REGISTER_WATCH = Activity("register_watch", WatchSpec, Watch, BESIDE)
SET_WATCHES = Activity("set_watches", WatchSet, WatchSetResult, BESIDE)
DEACTIVATE_WATCHES = Activity("deactivate_watches", DeactivateWatches, DeactivatedWatches, BESIDE)

# -- the ledger and alerts -----------------------------------------------------------------------
RECORD_CYCLE: Activity[CycleRecord, None] = Activity("record_cycle", CycleRecord, None, BESIDE)
SEND_ALERT: Activity[Alert, None] = Activity("send_alert", Alert, None, BESIDE)
RECORD_GRID_SESSION: Activity[GridRecord, None] = Activity("record_grid_session", GridRecord, None, BESIDE)
RECORD_GRID_FILLS: Activity[GridFills, None] = Activity("record_grid_fills", GridFills, None, BESIDE)

# -- the exposure reconciler ---------------------------------------------------------------------
RECONCILE_ACCOUNTS = Activity("reconcile_accounts", AccountsQuery, ManagedAccounts, RECONCILE_READ)
RECONCILE_OWNERS = Activity("reconcile_owners", OwnersQuery, Owners, RECONCILE_READ)
SYNC_ORPHANS = Activity("sync_orphans", OrphanSync, OrphanSyncResult, LEDGER)
MARK_ORPHANS_ALERTED: Activity[AlertedOrphans, None] = Activity(
    "mark_orphans_alerted", AlertedOrphans, None, LEDGER
)
RECONCILE_AUDIT: Activity[AuditEntry, None] = Activity("reconcile_audit", AuditEntry, None, LEDGER)
# Bookkeeping after the run's actions, bounded as its reads: a run never waits on it, the next retries.
CLOSE_ENDED_JOB_ROWS = Activity("close_ended_job_rows", JobRowsSweep, ClosedJobs, RECONCILE_READ)

# -- health ----------------------------------------------------------------------------------------
CHECK_COMPONENT = Activity("check_component", HealthCheckRequest, ComponentReport, PROBE)

# -- liquidation payouts: waits and records on the orchestrator, sends in the wallet's nonce lane --
CHECK_EVENT = Activity("payout_check_event", payout.CheckEventRequest, payout.CheckEventResult, PAYOUT_WAIT)
AWAIT_TX = Activity("payout_await_tx", payout.AwaitTxRequest, payout.AwaitTxResult, PAYOUT_WAIT)
RECORD_PAYOUT_STATE: Activity[payout.RecordStateRequest, None] = Activity(
    "payout_record_state", payout.RecordStateRequest, None, PAYOUT_LOCAL
)
NOTIFY_PAYOUT: Activity[payout.Notice, None] = Activity("payout_notify", payout.Notice, None, PAYOUT_LOCAL)
SEND_PAYOUT = Activity("wallet_send_payout", payout.SendRequest, payout.SendResult, CHAIN_TX)
BUMP_PAYOUT = Activity("wallet_bump_payout", payout.SendRequest, payout.SendResult, CHAIN_TX)
