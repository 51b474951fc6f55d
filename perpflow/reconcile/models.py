"""Payloads of the exposure reconciler: its input, what it observed, what it judged and did.

Pure data (no I/O): ``ReconcileWorkflow`` imports these freely.
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from typing import Self

from pydantic import AwareDatetime, Field, model_validator

from perpflow.exposure import Exposure
from perpflow.models import AccountRef, Model
from perpflow.orders import OrderAck
from perpflow.venues.types import PositionInfo


class Policy(StrEnum):
    """What the reconciler does about an account's orphans (it always alerts)."""

    ALERT = "alert"
    CANCEL_ORDERS = "cancel-orders"
    FLATTEN = "flatten"  # cancel-orders, and close orphan positions (reduce-only IOC)

    @property
    def cancels(self) -> bool:
        return self is not Policy.ALERT

    @property
    def flattens(self) -> bool:
        return self is Policy.FLATTEN


class ReconcileInput(Model):
    """One run over every managed account of one venue (the Schedule's input, plain JSON)."""

    venue: str = Field(default="lighter", min_length=1, max_length=32)
    default_policy: Policy = Policy.ALERT
    policies: dict[str, Policy] = Field(default_factory=dict)  # account name -> policy
    # The schedule's period: a run must confirm and act well within it.
    period_s: float = Field(default=30, ge=1, le=3600)
    # A suspected orphan is looked at again after this long and acted on only if unchanged: a live
    # owner whose fill has not reached its state yet settles in well under this.
    settle_s: float = Field(default=4, ge=0, le=60)
    max_slippage: Decimal = Field(default=Decimal("0.01"), gt=0, lt=Decimal("0.2"))
    dry_run: bool = False  # observe and report only: no alerts, no actions, no ledger writes
    accounts: list[str] | None = Field(default=None, min_length=1)  # only these names; None: all
    # Jobs' ledger rows left non-final by a run that ended (JobRowsSweep.grace_s): the venue's, not
    # only the accounts named above.
    job_grace_s: float = Field(default=60, ge=0, le=3600)

    @model_validator(mode="after")
    def _settle_within_period(self) -> Self:
        if self.settle_s * 2 >= self.period_s:
            raise ValueError(f"settle_s {self.settle_s:g} must be under half of period_s {self.period_s:g}")
        return self

    def policy_for(self, account: str) -> Policy:
        return self.policies.get(account, self.default_policy)


class OwnerStatus(StrEnum):
    """What the owner of an order is, as far as the reconciler can tell."""

    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELED = "canceled"
    TERMINATED = "terminated"
    TIMED_OUT = "timed_out"
    CONTINUED_AS_NEW = "continued_as_new"
    NOT_FOUND = "not_found"  # the ledger names a workflow Temporal no longer knows
    UNKNOWN_ORDER = "unknown_order"  # no ledger row: not placed by perpflow (a manual order)
    UNREACHABLE = "unreachable"  # Temporal did not answer: no judgement this run

    @property
    def orphans(self) -> bool:
        return self not in (OwnerStatus.RUNNING, OwnerStatus.UNREACHABLE)


class RunClose(StrEnum):
    """How a job's Temporal run ended when the job wrote no final ledger row of its own (terminated,
    timed out, reset, or its last write gave up): Temporal's close status by name, or NOT_FOUND when
    Temporal no longer knows the workflow (retention deleted it). The row keeps the last state the
    job wrote; this goes beside it (``closed_status``) and is what the gauges count the row as."""

    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELED = "CANCELED"
    TERMINATED = "TERMINATED"
    TIMED_OUT = "TIMED_OUT"
    NOT_FOUND = "NOT_FOUND"

    @classmethod
    def of(cls, status: OwnerStatus) -> RunClose | None:
        """None while the workflow may still write (running, or Temporal did not answer)."""
        return _RUN_CLOSES.get(status)


_RUN_CLOSES = {
    OwnerStatus.COMPLETED: RunClose.COMPLETED,
    OwnerStatus.FAILED: RunClose.FAILED,
    OwnerStatus.CANCELED: RunClose.CANCELED,
    OwnerStatus.TERMINATED: RunClose.TERMINATED,
    OwnerStatus.TIMED_OUT: RunClose.TIMED_OUT,
    OwnerStatus.NOT_FOUND: RunClose.NOT_FOUND,
}


class OrphanKind(StrEnum):
    ORDER = "order"
    POSITION = "position"


class OrphanReason(StrEnum):
    OWNER_TERMINATED = "owner-terminated"
    OWNER_CLOSED = "owner-closed"  # completed, failed, cancelled or timed out with the order open
    OWNER_NOT_FOUND = "owner-not-found"
    UNKNOWN_ORDER = "unknown-order"
    UNOWNED_POSITION = "unowned-position"  # venue size minus what live owners own


# -- activity payloads -------------------------------------------------------------------------


class AccountsQuery(Model):
    venue: str


class ManagedAccounts(Model):
    accounts: list[AccountRef]


class OwnersQuery(Model):
    venue: str
    account_index: int
    client_order_indexes: list[int] = Field(default_factory=list)


class OrderOwner(Model):
    client_order_index: int
    workflow_id: str | None
    status: OwnerStatus


class LiveOwner(Model):
    """A running workflow with orders on the account, and what it says it owns."""

    workflow_id: str
    exposure: Exposure | None  # None: its ``exposure`` query failed (``error`` says why)
    error: str = ""


class Owners(Model):
    orders: list[OrderOwner]
    live: list[LiveOwner]
    # Orders on the account, by workflow, sent (or being sent) and not yet seen settled: the
    # position may be moving under them, whoever placed them.
    in_flight: dict[str, list[int]] = Field(default_factory=dict)


class AccountObservation(Model):
    account: AccountRef
    orders: list[OrderAck] = Field(default_factory=list)
    positions: list[PositionInfo] = Field(default_factory=list)
    owners: Owners | None = None  # asked after the venue was read
    # Asked before the venue was read (None: not asked, a run begun on the build before): a close
    # landing during the read shows on the venue as still open and in the later answer as gone.
    owners_before: Owners | None = None
    error: str = ""  # set when the account could not be read this run


# -- judgement ---------------------------------------------------------------------------------


class Orphan(Model):
    key: str  # stable identity across runs: one ledger row per episode of this key
    kind: OrphanKind
    reason: OrphanReason
    venue: str
    account: str
    account_index: int
    market: str
    size: Decimal  # order: remaining size; position: signed orphan size
    client_order_index: int | None = None
    order_index: int | None = None
    owner: str | None = None
    owner_status: OwnerStatus | None = None

    def describe(self) -> str:
        where = f"{self.account} ({self.venue} {self.account_index}) {self.market}"
        size = f"{self.size.normalize():f}"
        if self.kind is OrphanKind.POSITION:
            return f"orphan position {size} on {where}: no live workflow owns it"
        owner = f"owner {self.owner} {self.owner_status}" if self.owner else "no perpflow owner"
        return f"orphan order coi {self.client_order_index} ({size} left) on {where}: {owner}"


class OrderView(Model):
    market: str
    client_order_index: int
    order_index: int | None
    remaining_size: Decimal
    filled_size: Decimal
    owner: str | None
    owner_status: OwnerStatus
    orphan: bool


class PositionView(Model):
    market: str
    venue_size: Decimal
    # What live owners own: of their answers before and after the venue read, the one nearer the
    # venue size (the later on a tie).
    owned: Decimal
    # 0 when either answer explains the venue size, or when the two lie on either side of it (it
    # was what owners owned at some moment between them); otherwise the smaller of the two gaps.
    orphan_size: Decimal
    owners: list[str] = Field(default_factory=list)
    answers: list[Decimal] = Field(default_factory=list)  # each answer's sum, in the order asked


class Judgement(Model):
    """One account's observation judged: views for people, orphans for the ledger and actions."""

    orders: list[OrderView] = Field(default_factory=list)
    positions: list[PositionView] = Field(default_factory=list)
    orphans: list[Orphan] = Field(default_factory=list)
    # Why positions were not judged this run (an owner's state unknown); orders still were.
    deferred: str = ""


# -- actions, ledger and report ----------------------------------------------------------------


class ActionKind(StrEnum):
    CANCEL_ORDER = "cancel-order"
    FLATTEN = "flatten"
    NONE = "none"  # the policy allowed an action the orphan does not admit (the detail says why)


class ActionOutcome(Model):
    key: str
    action: ActionKind
    ok: bool
    detail: str
    size: Decimal = Decimal(0)  # the remaining size cancelled, or the size the close filled
    filled_since_seen: Decimal = Decimal(0)  # a cancelled order's fills after it was observed


class OrphanSync(Model):
    """A run's confirmed orphans, and the scopes it judged (the others keep their rows open)."""

    venue: str
    workflow_id: str
    at: AwareDatetime
    orphans: list[Orphan]
    judged_orders: list[int]  # account indexes whose open orders were judged
    judged_positions: list[int]  # account indexes whose positions were judged
    unsettled: list[str] = Field(default_factory=list)  # keys seen changing: neither open nor resolved


class OpenOrphan(Model):
    id: int
    orphan: Orphan
    opened_at: AwareDatetime
    opened_by: str
    alerted_at: AwareDatetime | None = None

    @property
    def alert_key(self) -> str:
        """One alert per episode: the row, not the orphan's key, which a later episode reuses."""
        return f"reconcile-orphan-{self.id}"


class OrphanSyncResult(Model):
    opened: list[OpenOrphan]
    to_alert: list[OpenOrphan]  # open, and no alert delivered yet (opened now, or a failed earlier alert)
    resolved: list[str]


class AlertedOrphans(Model):
    ids: list[int]
    at: AwareDatetime


class JobKind(StrEnum):
    """The jobs whose ledger row the reconciler closes when their run ended without it."""

    GRID_SESSION = "grid-session"
    HEDGE_CYCLE = "hedge-cycle"


class JobRowsSweep(Model):
    """Close the rows of a venue's jobs whose run Temporal closed without their final write."""

    venue: str
    workflow_id: str  # the reconcile run: the alerts' source
    # A row or a close younger than this is left for the next run: a just-started job's row may
    # precede its workflow's visibility, and a write in flight at terminate lands within it.
    grace_s: float


class ClosedJob(Model):
    kind: JobKind
    workflow_id: str
    state: str  # the last state the job wrote itself, kept in the row
    closed: RunClose
    closed_at: AwareDatetime  # Temporal's close time (NOT_FOUND: when it was found gone)

    def describe(self) -> str:
        at = f"{self.closed_at:%Y-%m-%d %H:%M:%S %Z}"
        return f"{self.kind} {self.workflow_id} ended {self.closed} at {at} while {self.state}, no final row"


class ClosedJobs(Model):
    closed: list[ClosedJob] = Field(default_factory=list)
    unreachable: list[str] = Field(default_factory=list)  # Temporal did not answer: next run


class AccountReport(Model):
    account: AccountRef
    policy: Policy
    judgement: Judgement = Field(default_factory=Judgement)
    unsettled: list[str] = Field(default_factory=list)
    actions: list[ActionOutcome] = Field(default_factory=list)
    error: str = ""


class ReconcileReport(Model):
    workflow_id: str
    venue: str
    dry_run: bool
    started_at: AwareDatetime
    finished_at: AwareDatetime
    accounts: list[AccountReport]
    alerted: list[str] = Field(default_factory=list)  # orphan keys alerted by this run
    resolved: list[str] = Field(default_factory=list)
    unknown_accounts: list[str] = Field(default_factory=list)  # named in the input, not in the ledger
    closed_jobs: list[ClosedJob] = Field(default_factory=list)  # rows this run gave a final state

    @property
    def orphans(self) -> list[Orphan]:
        return [o for a in self.accounts for o in a.judgement.orphans]
