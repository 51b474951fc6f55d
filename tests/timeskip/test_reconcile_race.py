"""The exposure reconciler racing a fleet's cycles, on the time-skipping server: the real
ReconcileWorkflow, fake activities under their real names.

The race the operator chaos run found: a look reads the venue's positions, then asks the live owners
what they own. A cycle whose close lands between the two shows on the venue as still open and in its
answer as owning nothing, with no order in flight any more: an unowned position. With a fleet's fast
cycles, the next cycle can be caught the same way at the look after ``settle_s``, and the false
orphan is confirmed and alerted. Asking the owners before the venue read too explains it."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from decimal import Decimal

import pytest
from temporalio import activity
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from perpflow import names
from perpflow.alerts.models import Alert
from perpflow.exposure import Exposure, OwnedPosition
from perpflow.models import AccountRef, AuditEntry
from perpflow.orders import AccountQuery, AccountSnapshot, OpenOrders
from perpflow.reconcile.models import (
    AccountsQuery,
    AlertedOrphans,
    LiveOwner,
    ManagedAccounts,
    OpenOrphan,
    OrphanKind,
    OrphanSync,
    OrphanSyncResult,
    Owners,
    OwnersQuery,
    Policy,
    ReconcileInput,
    ReconcileReport,
)
from perpflow.venues.types import AccountState, PositionInfo
from workflows.reconcile import ReconcileWorkflow

D = Decimal
SIZE = D("0.05")  # each cycle's position
ZERO = D(0)


@dataclass
class RacingFleet:
    """One account a fleet's cycles trade on, timed the unlucky way: each cycle holds SIZE; its
    close lands on the venue just after the reconciler reads the venue's positions; once the closed
    cycle has answered that it owns nothing, the next cycle is holding SIZE. ``by_hand``: a
    position no workflow owns, beside the cycles."""

    account: AccountRef
    by_hand: Decimal = ZERO
    cycle: int = 0
    holding: bool = True
    owner_answers: list[Decimal] = field(default_factory=list)
    synced: list[OrphanSync] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)

    @activity.defn(name="get_position")
    async def get_position(self, q: AccountQuery) -> AccountSnapshot:
        seen = self.by_hand + (SIZE if self.holding else 0)
        self.holding = False  # the cycle's close lands, right after the read
        position = PositionInfo(market="ETH", size=seen, avg_entry_price=D(2000))
        state = AccountState(
            account_index=q.account_index, collateral=D(10000), available_balance=D(10000),
            positions=[position] if seen else [],
        )  # fmt: skip
        return AccountSnapshot(account=state)

    @activity.defn(name="get_open_orders")
    async def get_open_orders(self, q: AccountQuery) -> OpenOrders:
        return OpenOrders(orders=[])

    @activity.defn(name="reconcile_owners")
    async def owners(self, q: OwnersQuery) -> Owners:
        wid = f"hedge-race-0-p-{self.cycle}"
        held = [OwnedPosition(venue="lighter", account_index=q.account_index, market="ETH", size=SIZE)]
        exposure = Exposure(workflow_id=wid, positions=held if self.holding else [])
        self.owner_answers.append(SIZE if self.holding else D(0))
        if not self.holding:  # it has told the reconciler: the next cycle fills and holds
            self.cycle, self.holding = self.cycle + 1, True
        return Owners(orders=[], live=[LiveOwner(workflow_id=wid, exposure=exposure)], in_flight={})

    @activity.defn(name="reconcile_accounts")
    async def accounts(self, q: AccountsQuery) -> ManagedAccounts:
        return ManagedAccounts(accounts=[self.account])

    @activity.defn(name="sync_orphans")
    async def sync_orphans(self, req: OrphanSync) -> OrphanSyncResult:
        self.synced.append(req)
        rows = [
            OpenOrphan(id=i, orphan=o, opened_at=req.at, opened_by=req.workflow_id)
            for i, o in enumerate(req.orphans, start=len(self.synced) * 100)
        ]
        return OrphanSyncResult(opened=rows, to_alert=rows, resolved=[])

    @activity.defn(name="mark_orphans_alerted")
    async def mark_alerted(self, req: AlertedOrphans) -> None:
        pass

    @activity.defn(name="reconcile_audit")
    async def audit(self, entry: AuditEntry) -> None:
        pass

    @activity.defn(name="send_alert")
    async def send_alert(self, alert: Alert) -> None:
        self.alerts.append(alert)

    def orchestrator(self) -> list[Callable[..., object]]:
        return [self.accounts, self.owners, self.sync_orphans, self.mark_alerted, self.audit, self.send_alert]


@dataclass
class RaceRig:
    env: WorkflowEnvironment
    queue: str
    fleet: RacingFleet

    async def reconcile(self) -> ReconcileReport:
        name = self.fleet.account.name
        inp = ReconcileInput(policies={name: Policy.ALERT}, settle_s=4)
        report: ReconcileReport = await self.env.client.execute_workflow(
            "ReconcileWorkflow", inp, id=f"reconcile-lighter-race-{uuid.uuid4().hex[:8]}",
            task_queue=self.queue, result_type=ReconcileReport,
        )  # fmt: skip
        return report


@pytest.fixture
async def race(skipping_env: WorkflowEnvironment) -> AsyncIterator[RaceRig]:
    index = 1000 + uuid.uuid4().int % 10**6
    account = AccountRef(name=f"race-{index}", venue="lighter", account_index=index, api_key_index=2)
    fleet = RacingFleet(account)
    rig = RaceRig(skipping_env, f"ts-reconcile-{uuid.uuid4()}", fleet)
    client = skipping_env.client
    reads = names.signer_read_queue("lighter", index, 2)
    async with AsyncExitStack() as stack:
        workflows = Worker(
            client, task_queue=rig.queue, workflows=[ReconcileWorkflow], activities=fleet.orchestrator()
        )
        await stack.enter_async_context(workflows)
        await stack.enter_async_context(
            Worker(client, task_queue=reads, activities=[fleet.get_position, fleet.get_open_orders])
        )
        yield rig


async def test_a_cycle_closing_during_each_venue_read_is_never_an_orphan(race: RaceRig) -> None:
    report = await race.reconcile()
    assert (report.orphans, report.alerted, race.fleet.alerts) == ([], [], [])
    [acct] = report.accounts
    assert (acct.error, acct.judgement.deferred, acct.unsettled) == ("", "", [])
    [view] = acct.judgement.positions
    # The venue read showed the position; the answer before it owned it, the one after did not.
    assert (view.venue_size, view.owned, view.orphan_size, view.answers) == (SIZE, SIZE, 0, [SIZE, 0])
    assert view.owners == ["hedge-race-0-p-0"]
    [sync] = race.fleet.synced
    assert (sync.orphans, sync.judged_positions) == ([], [race.fleet.account.account_index])


async def test_a_position_by_hand_beside_the_racing_cycles_is_the_orphan_and_only_it(race: RaceRig) -> None:
    race.fleet.by_hand = D("0.02")
    report = await race.reconcile()
    [orphan] = report.orphans
    assert (orphan.kind, orphan.size) == (OrphanKind.POSITION, D("0.02"))
    [alert] = race.fleet.alerts
    assert "orphan position 0.02 " in alert.detail
    # Two looks (the second after settle_s), each asking the owners before and after the read.
    assert race.fleet.owner_answers == [SIZE, 0, SIZE, 0]
