"""What the status report says, read from the ledger: positions, PnL, hedge cycles, grid sessions,
payouts and open alerts over a period (the last 24 hours by default).

Read-only, across aggregates: each part is one query over its table, so a report costs a few
queries whatever the ledger's size (every query is bounded by the period or by open rows).
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import or_, select

from perpflow.alerts.models import AlertRole, OutboxEntry, Severity
from perpflow.db import tables as t
from perpflow.db.alerts import AlertOutbox
from perpflow.db.ledger import Ledger
from perpflow.db.reconcile import Orphans
from perpflow.hedge.models import CycleState
from perpflow.models import Model
from perpflow.payouts.models import PayoutState

PERIOD = timedelta(hours=24)
# Lists in the report stop here (the counts above them stay whole).
MAX_LINES = 20
_FINAL_CYCLES = {s.value for s in CycleState if s.final}
_FINAL_PAYOUTS = {s.value for s in PayoutState if s.final}


class PositionLine(Model):
    owner: str  # the workflow (grid session, failed cycle) or "ledger" for the positions table
    venue: str
    account: str
    market: str
    size: Decimal


class CycleLine(Model):
    workflow_id: str
    market: str
    state: str
    realized_pnl: Decimal
    note: str = ""


class CycleStats(Model):
    by_state: dict[str, int]
    ended: int
    running: int
    realized_pnl: Decimal  # net of fees, of the cycles that ended in the period
    fees: Decimal
    problems: list[CycleLine]  # failed in the period, or left with open exposure


class GridLine(Model):
    name: str
    market: str
    state: str
    fills: int
    realized_profit: Decimal
    fees: Decimal
    funding: Decimal
    position: Decimal
    stop_reason: str | None

    @property
    def net(self) -> Decimal:
        return self.realized_profit - self.fees - self.funding


class PayoutLine(Model):
    workflow_id: str
    state: str
    amount_eth: Decimal | None
    reason: str | None


class PayoutStats(Model):
    by_state: dict[str, int]
    paid: int
    paid_eth: Decimal
    attention: list[PayoutLine]  # awaiting approval, or failed in the period


class AlertLine(Model):
    at: datetime
    severity: Severity
    title: str
    source: str
    note: str = ""


class AlertStats(Model):
    by_severity: dict[str, int]
    repeats: int  # counted in a summary instead of sent
    undelivered: list[AlertLine]  # a channel failed them and has not taken them since
    recent: list[AlertLine]  # warnings and critical ones of the period, newest first


class StatusSnapshot(Model):
    at: datetime
    since: datetime
    positions: list[PositionLine]
    cycles: CycleStats
    grids: list[GridLine]
    payouts: PayoutStats
    orphans: list[str]
    alerts: AlertStats

    @property
    def realized(self) -> Decimal:
        """Realised PnL net of fees and funding: the cycles ended in the period, and the listed grid
        sessions to date (a session's row holds its totals, not a day's)."""
        grids = sum((g.net for g in self.grids), Decimal(0))
        return self.cycles.realized_pnl + grids


async def snapshot(ledger: Ledger, now: datetime | None = None, period: timedelta = PERIOD) -> StatusSnapshot:
    at = now or datetime.now(UTC)
    since = at - period
    async with ledger.session() as s:
        cycles = (await s.scalars(_live_or_since(t.HedgeCycle, since))).all()
        grids = (await s.scalars(_live_or_since(t.GridSession, since))).all()
        payouts = (await s.scalars(_payouts(since))).all()
        ledger_positions = (await s.scalars(select(t.Position).where(t.Position.size != 0))).all()
    orphans = await Orphans(ledger).open()
    outbox = AlertOutbox(ledger)
    recent, undelivered = await outbox.entries(since=since), await outbox.undelivered()
    grid_lines = [_grid(g) for g in grids]
    positions = [_position("ledger", p, p.size) for p in ledger_positions]
    positions += [_position(g.workflow_id, g, g.position) for g in grids if g.position and g.ended_at is None]
    positions += [p for c in cycles for p in _exposure(c)]
    return StatusSnapshot(
        at=at,
        since=since,
        positions=positions[:MAX_LINES],
        cycles=_cycle_stats(cycles, since),
        grids=grid_lines[:MAX_LINES],
        payouts=_payout_stats(payouts, since),
        orphans=[o.orphan.describe() for o in orphans][:MAX_LINES],
        alerts=_alert_stats(recent, undelivered),
    )


def _position(owner: str, row: Any, size: Decimal) -> PositionLine:
    return PositionLine(
        owner=owner, venue=row.venue, account=str(row.account_index), market=row.market, size=size
    )


def _live_or_since(table: Any, since: datetime) -> Any:
    return (
        select(table).where(or_(table.ended_at.is_(None), table.ended_at >= since)).order_by(table.started_at)
    )


def _payouts(since: datetime) -> Any:
    live = t.Payout.state.not_in(_FINAL_PAYOUTS)
    return select(t.Payout).where(or_(live, t.Payout.updated_at >= since)).order_by(t.Payout.created_at)


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def _state(row: Any) -> str:
    """A job's state; one whose run ended without writing its final one, Temporal's close status."""
    return str(row.closed_status or row.state)


def _ended(cycle: Any) -> bool:
    return cycle.state in _FINAL_CYCLES or cycle.closed_status is not None


def _cycle_stats(rows: Any, since: datetime) -> CycleStats:
    ended = [c for c in rows if _ended(c) and c.ended_at and _aware(c.ended_at) >= since]
    problems = [
        CycleLine(workflow_id=c.workflow_id, market=c.market, state=_state(c), realized_pnl=c.realized_pnl,
                  note=(c.result or {}).get("reason", "") or _closed_note(c))
        for c in rows if c.state == CycleState.FAILED.value or c.closed_status or _open(c)
    ]  # fmt: skip
    return CycleStats(
        by_state=dict(Counter(_state(c) for c in rows)),
        ended=len(ended),
        running=sum(1 for c in rows if not _ended(c)),
        realized_pnl=sum((c.realized_pnl for c in ended), Decimal(0)),
        fees=sum((c.fees for c in ended), Decimal(0)),
        problems=problems[:MAX_LINES],
    )


def _closed_note(cycle: Any) -> str:
    return f"run ended {cycle.closed_status} while {cycle.state}" if cycle.closed_status else ""


def _open(cycle: Any) -> dict[str, Decimal]:
    exposure = (cycle.result or {}).get("open_exposure") or {}
    return {account: Decimal(str(size)) for account, size in exposure.items() if Decimal(str(size))}


def _exposure(cycle: Any) -> list[PositionLine]:
    return [PositionLine(owner=cycle.workflow_id, account=account, size=size, **_leg(cycle, account))
            for account, size in _open(cycle).items()]  # fmt: skip


def _leg(cycle: Any, account: str) -> dict[str, str]:
    """A cross-venue cycle's hedge leg trades on its own venue and market; every other leg (and a
    row without the taker's) on the maker's."""
    if account == str(cycle.taker_account) and cycle.taker_venue is not None:
        return {"venue": cycle.taker_venue, "market": cycle.taker_market}
    return {"venue": cycle.venue, "market": cycle.market}


def _grid(g: Any) -> GridLine:
    return GridLine(name=g.name, market=g.market, state=_state(g), fills=g.fill_count,
                    realized_profit=g.realized_profit, fees=g.fees, funding=g.funding, position=g.position,
                    stop_reason=g.stop_reason)  # fmt: skip


def _payout_stats(rows: Any, since: datetime) -> PayoutStats:
    paid = [p for p in rows if p.state == PayoutState.DONE.value and _aware(p.updated_at) >= since]
    attention = [
        PayoutLine(workflow_id=p.workflow_id, state=p.state, reason=p.reason,
                   amount_eth=None if p.amount_wei is None else p.amount_wei / Decimal(10**18))
        for p in rows if p.state in (PayoutState.AWAITING_APPROVAL.value, PayoutState.FAILED.value)
    ]  # fmt: skip
    return PayoutStats(
        by_state=dict(Counter(p.state for p in rows)),
        paid=len(paid),
        paid_eth=sum((p.amount_wei or Decimal(0) for p in paid), Decimal(0)) / Decimal(10**18),
        attention=attention[:MAX_LINES],
    )


def _alert_stats(recent: list[OutboxEntry], undelivered: list[OutboxEntry]) -> AlertStats:
    alerts = [e for e in recent if e.role in (None, AlertRole.LEAD, AlertRole.REPEAT)]
    loud = [
        e
        for e in reversed(alerts)
        if e.alert.severity is not Severity.INFO and e.role is not AlertRole.REPEAT
    ]
    failing = [e for e in undelivered if e.last_error and e.role is not AlertRole.REPORT]
    return AlertStats(
        by_severity=dict(Counter(e.alert.severity.value for e in alerts)),
        repeats=sum(1 for e in alerts if e.role is AlertRole.REPEAT),
        undelivered=[_line(e, e.last_error or "") for e in failing][:MAX_LINES],
        recent=[_line(e) for e in loud][:MAX_LINES],
    )


def _line(e: OutboxEntry, note: str = "") -> AlertLine:
    return AlertLine(at=e.created_at, severity=e.alert.severity, title=e.alert.title, source=e.alert.source,
                     note=note)  # fmt: skip
