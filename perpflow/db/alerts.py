"""AlertOutbox: alerts to deliver, written with their audit row, claimed by delivery loops.

A key is recorded once, ever: a second send of it (a retried activity) writes nothing, neither
an outbox row nor an audit row. A delivery loop claims due rows by moving their next attempt a
lease ahead in the statement that checks they are still due, so two loops never post one row at
the same time, and a loop that dies mid-post leaves its rows to be retried when the lease ends.

Each channel's progress on a row is its own row in ``alert_deliveries``: a channel that took the
alert is never sent it again, one that is down is retried alone on its own back-off, and the
outbox row is delivered once every channel it goes to took it. ``alert_repeats`` says what a row
is to the loop (``AlertRole``): the lead of a repeat window, a repeat counted and not sent, a
window's summary, or the daily report. Summary and report rows are written without audit rows:
they are not new alerts.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, ForeignKey, Index, String, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from perpflow.alerts.models import Alert, AlertRole, ChannelState, OutboxEntry, Severity
from perpflow.db import tables as t
from perpflow.db.ledger import Ledger

# Audit targets are 200 characters; the outbox keeps the full source.
_TARGET_LEN = 200
_ERROR_LEN = 1000
# A summary names this many of its repeats' sources, then how many more.
_SUMMARY_SOURCES = 5


class AlertChannelDelivery(t.Base):
    """One channel's progress on one outbox row (migration 0011)."""

    __tablename__ = "alert_deliveries"

    alert_id: Mapped[int] = mapped_column(ForeignKey("alert_outbox.id", ondelete="CASCADE"), primary_key=True)
    channel: Mapped[str] = mapped_column(String(64), primary_key=True)
    attempts: Mapped[int]
    next_attempt_at: Mapped[datetime]
    delivered_at: Mapped[datetime | None]
    last_error: Mapped[str | None]


class AlertRepeat(t.Base):
    """What an outbox row is to the delivery loop; alerts get theirs when a loop first takes them."""

    __tablename__ = "alert_repeats"
    __table_args__ = (Index("ix_alert_repeats_group", "repeat_group", "created_at"),)

    alert_id: Mapped[int] = mapped_column(ForeignKey("alert_outbox.id", ondelete="CASCADE"), primary_key=True)
    role: Mapped[str] = mapped_column(String(16))
    # A hash of severity and title (titles are unbounded; an index on them is not): None for
    # summaries and reports, which never lead nor repeat.
    repeat_group: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime]  # the alert's, for the window's lookup
    lead_id: Mapped[int | None] = mapped_column(ForeignKey("alert_outbox.id", ondelete="CASCADE"))


@dataclass(frozen=True)
class ChannelOutcome:
    """One channel's send in one round: ``error`` None when it took the alert."""

    channel: str
    error: str | None
    retry_at: datetime


@dataclass(frozen=True)
class RepeatTally:
    count: int
    first_at: datetime | None
    last_at: datetime | None
    sources: list[str]
    last_detail: str


def repeat_group(alert: Alert) -> str:
    return hashlib.sha256(f"{alert.severity}\n{alert.title}".encode()).hexdigest()[:32]


def summary_key(lead_key: str) -> str:
    return f"{lead_key}/repeats"


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _entry(r: t.AlertOutbox, side: AlertRepeat | None = None) -> OutboxEntry:
    alert = Alert(severity=Severity(r.severity), source=r.source, title=r.title, detail=r.detail, key=r.key)
    return OutboxEntry(
        id=r.id,
        alert=alert,
        created_at=_aware(r.created_at),
        attempts=r.attempts,
        next_attempt_at=_aware(r.next_attempt_at),
        delivered_at=None if r.delivered_at is None else _aware(r.delivered_at),
        last_error=r.last_error,
        role=None if side is None else AlertRole(side.role),
        lead_id=None if side is None else side.lead_id,
    )


def _state(r: AlertChannelDelivery) -> ChannelState:
    delivered = None if r.delivered_at is None else _aware(r.delivered_at)
    return ChannelState(channel=r.channel, attempts=r.attempts, next_attempt_at=_aware(r.next_attempt_at),
                        delivered_at=delivered, last_error=r.last_error)  # fmt: skip


def _due(now: datetime) -> ColumnElement[bool]:
    return t.AlertOutbox.delivered_at.is_(None) & (t.AlertOutbox.next_attempt_at <= now)


def _with_roles() -> Any:
    return select(t.AlertOutbox, AlertRepeat).outerjoin(AlertRepeat, AlertRepeat.alert_id == t.AlertOutbox.id)


class AlertOutbox:
    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger

    async def enqueue(self, alert: Alert, now: datetime) -> bool:
        """Record a keyed alert and its audit row in one transaction, due at once.

        False, and nothing written, when the key was recorded before."""
        if alert.key is None:
            raise ValueError("an outbox alert needs its key")
        try:
            async with self.ledger.session() as s:
                s.add(_row(alert, alert.key, now, now))
                await s.flush()  # the unique key: a second send of it stops here
                s.add(_audit(alert, alert.key, now))
        except IntegrityError:
            if await self.get(alert.key) is None:
                raise  # not the key: a real error
            return False
        return True

    async def enqueue_report(self, alert: Alert, now: datetime) -> bool:
        """The day's report row (its key names the day), no audit row; False when already there."""
        assert alert.key is not None
        try:
            async with self.ledger.session() as s:
                row = _row(alert, alert.key, now, now)
                s.add(row)
                await s.flush()
                s.add(AlertRepeat(alert_id=row.id, role=AlertRole.REPORT.value, created_at=now))
        except IntegrityError:
            if await self.get(alert.key) is None:
                raise
            return False
        return True

    async def claim_due(self, now: datetime, lease: timedelta, limit: int) -> list[OutboxEntry]:
        """Up to ``limit`` due rows, each counted as one more attempt and hidden until the lease ends."""
        # SKIP LOCKED (PostgreSQL; SQLite writes one at a time): loops claiming at the same moment
        # take different rows instead of queueing on the same ones.
        oldest = (
            select(t.AlertOutbox.id)
            .where(_due(now))
            .order_by(t.AlertOutbox.next_attempt_at, t.AlertOutbox.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        claim = (
            update(t.AlertOutbox)
            .where(t.AlertOutbox.id.in_(oldest), _due(now))
            .values(attempts=t.AlertOutbox.attempts + 1, next_attempt_at=now + lease)
            .returning(t.AlertOutbox)
            .execution_options(synchronize_session=False)
        )
        async with self.ledger.session() as s:
            rows = (await s.scalars(claim)).all()
            sides = await _sides(s, [r.id for r in rows])
            return sorted((_entry(r, sides.get(r.id)) for r in rows), key=lambda e: e.id)

    async def classify(self, entry: OutboxEntry, window: timedelta, now: datetime) -> AlertRole:
        """Lead or repeat, decided once per alert: a repeat when a lead of its severity and title
        was raised less than ``window`` before it, and that lead's summary is not stamped yet (a
        straggler never goes uncounted: it leads instead). A repeat is done at once, and its
        lead's summary row is written, due when the window ends."""
        if entry.role is not None:
            return entry.role
        group = repeat_group(entry.alert)
        async with self.ledger.session() as s:
            lead = None if window <= timedelta(0) else await _open_lead(s, group, entry, window)
            role = AlertRole.LEAD if lead is None else AlertRole.REPEAT
            lead_id, at = None if lead is None else lead.id, entry.created_at
            s.add(
                AlertRepeat(
                    alert_id=entry.id, role=role.value, repeat_group=group, created_at=at, lead_id=lead_id
                )
            )
            if lead is not None:
                await s.execute(_done(entry.id, now))
                await _ensure_summary(s, self.ledger.backend, lead, window, now)
        return role

    async def stamp_summary(self, entry: OutboxEntry, window: timedelta) -> Alert:
        """A summary's text, counted once from its lead's repeats and kept (retries send the same)."""
        if entry.lead_id is None:
            return entry.alert
        async with self.ledger.session() as s:
            row, lead = await s.get(t.AlertOutbox, entry.id), await s.get(t.AlertOutbox, entry.lead_id)
            assert row is not None and lead is not None  # the summary row references its lead
            if row.detail:  # stamped by an earlier try (this loop's or another's)
                return _entry(row).alert
            tally = await _tally(s, entry.lead_id)
            alert = summary_alert(_entry(lead).alert, tally, window, entry.alert.key)
            row.title, row.detail = alert.title, alert.detail
        return alert

    async def channel_states(self, entry_id: int) -> dict[str, ChannelState]:
        query = select(AlertChannelDelivery).where(AlertChannelDelivery.alert_id == entry_id)
        async with self.ledger.session() as s:
            return {r.channel: _state(r) for r in (await s.scalars(query)).all()}

    async def record(
        self, entry_id: int, targets: Sequence[str], outcomes: Sequence[ChannelOutcome], now: datetime
    ) -> bool:
        """Write each channel's outcome; the row is delivered once every target took it (True),
        else due again when its first still-pending channel is. Channels not among ``targets``
        (removed from the configuration) no longer hold it back."""
        async with self.ledger.session() as s:
            query = select(AlertChannelDelivery).where(AlertChannelDelivery.alert_id == entry_id)
            rows = {r.channel: r for r in (await s.scalars(query)).all()}
            for o in outcomes:
                row = rows.get(o.channel)
                if row is None:
                    row = rows[o.channel] = AlertChannelDelivery(
                        alert_id=entry_id, channel=o.channel, attempts=0
                    )
                    s.add(row)
                row.attempts += 1
                row.last_error, row.next_attempt_at = o.error and o.error[:_ERROR_LEN], o.retry_at
                row.delivered_at = now if o.error is None else None
            pending = [rows[c] for c in targets if c not in rows or rows[c].delivered_at is None]
            values: dict[str, Any] = {"delivered_at": now} if not pending else {
                "next_attempt_at": min(r.next_attempt_at for r in pending)
            }  # fmt: skip
            errors = "; ".join(o.error for o in outcomes if o.error)
            if errors:
                values["last_error"] = errors[:_ERROR_LEN]
            await s.execute(_guarded(entry_id).values(**values))
        return not pending

    async def delivered(self, entry_id: int, at: datetime) -> None:
        await self._set(entry_id, delivered_at=at)

    async def failed(self, entry_id: int, error: str, retry_at: datetime) -> None:
        await self._set(entry_id, last_error=error[:_ERROR_LEN], next_attempt_at=retry_at)

    async def next_due(self) -> datetime | None:
        """When the earliest undelivered row is due (None: nothing left to deliver)."""
        query = select(func.min(t.AlertOutbox.next_attempt_at)).where(t.AlertOutbox.delivered_at.is_(None))
        async with self.ledger.session() as s:
            at = await s.scalar(query)
        return None if at is None else _aware(at)

    async def get(self, key: str) -> OutboxEntry | None:
        async with self.ledger.session() as s:
            found = (await s.execute(_with_roles().where(t.AlertOutbox.key == key))).first()
            return None if found is None else _entry(*found)

    async def entries(self, source: str | None = None, since: datetime | None = None) -> list[OutboxEntry]:
        query = _with_roles().order_by(t.AlertOutbox.id)
        if source is not None:
            query = query.where(t.AlertOutbox.source == source)
        if since is not None:
            query = query.where(t.AlertOutbox.created_at >= since)
        async with self.ledger.session() as s:
            return [_entry(*found) for found in (await s.execute(query)).all()]

    async def undelivered(self) -> list[OutboxEntry]:
        query = _with_roles().where(t.AlertOutbox.delivered_at.is_(None)).order_by(t.AlertOutbox.id)
        async with self.ledger.session() as s:
            return [_entry(*found) for found in (await s.execute(query)).all()]

    async def _set(self, entry_id: int, **values: Any) -> None:
        async with self.ledger.session() as s:
            await s.execute(_guarded(entry_id).values(**values))


def _guarded(entry_id: int) -> Any:
    # Never undoes a delivery: another loop may have delivered the row after our lease ended.
    return update(t.AlertOutbox).where(t.AlertOutbox.id == entry_id, t.AlertOutbox.delivered_at.is_(None))


def _done(entry_id: int, now: datetime) -> Any:
    return _guarded(entry_id).values(delivered_at=now)


async def _sides(s: AsyncSession, ids: list[int]) -> dict[int, AlertRepeat]:
    if not ids:
        return {}
    rows = (await s.scalars(select(AlertRepeat).where(AlertRepeat.alert_id.in_(ids)))).all()
    return {r.alert_id: r for r in rows}


async def _open_lead(
    s: AsyncSession, group: str, entry: OutboxEntry, window: timedelta
) -> t.AlertOutbox | None:
    query = (
        select(t.AlertOutbox)
        .join(AlertRepeat, AlertRepeat.alert_id == t.AlertOutbox.id)
        .where(
            AlertRepeat.repeat_group == group,
            AlertRepeat.role == AlertRole.LEAD.value,
            AlertRepeat.created_at > entry.created_at - window,
            AlertRepeat.created_at <= entry.created_at,
            AlertRepeat.alert_id != entry.id,
        )
        .order_by(AlertRepeat.created_at.desc(), AlertRepeat.alert_id.desc())
        .limit(1)
    )
    lead = await s.scalar(query)
    if lead is None:
        return None
    summary = await s.scalar(select(t.AlertOutbox).where(t.AlertOutbox.key == summary_key(lead.key)))
    return None if summary is not None and summary.detail else lead


async def _ensure_summary(
    s: AsyncSession, backend: str, lead: t.AlertOutbox, window: timedelta, now: datetime
) -> None:
    # The title and detail are written when it is first sent: the window's count is final then.
    values = {"key": summary_key(lead.key), "severity": lead.severity, "source": lead.source,
              "title": lead.title, "detail": "", "created_at": now, "attempts": 0,
              "next_attempt_at": _aware(lead.created_at) + window}  # fmt: skip
    insert = pg_insert if backend == "postgresql" else sqlite_insert
    # Another loop may write it first: the unique key keeps one.
    statement = insert(t.AlertOutbox).values(**values).on_conflict_do_nothing(index_elements=["key"])
    summary_id = await s.scalar(statement.returning(t.AlertOutbox.id))
    if summary_id is not None:
        s.add(AlertRepeat(alert_id=summary_id, role=AlertRole.SUMMARY.value, created_at=now, lead_id=lead.id))


async def _tally(s: AsyncSession, lead_id: int) -> RepeatTally:
    repeats = (
        select(t.AlertOutbox)
        .join(AlertRepeat, AlertRepeat.alert_id == t.AlertOutbox.id)
        .where(AlertRepeat.lead_id == lead_id, AlertRepeat.role == AlertRole.REPEAT.value)
        .order_by(t.AlertOutbox.created_at, t.AlertOutbox.id)
    )
    rows = (await s.scalars(repeats)).all()
    sources = list(dict.fromkeys(r.source for r in rows))
    return RepeatTally(
        count=len(rows),
        first_at=_aware(rows[0].created_at) if rows else None,
        last_at=_aware(rows[-1].created_at) if rows else None,
        sources=sources,
        last_detail=rows[-1].detail if rows else "",
    )


def summary_alert(lead: Alert, tally: RepeatTally, window: timedelta, key: str | None) -> Alert:
    minutes = f"{window.total_seconds() / 60:g} min"
    named = ", ".join(tally.sources[:_SUMMARY_SOURCES])
    more = len(tally.sources) - _SUMMARY_SOURCES
    span = ""
    if tally.first_at is not None and tally.last_at is not None:
        span = f" from {tally.first_at:%H:%M:%S} to {tally.last_at:%H:%M:%S} UTC"
    detail = (
        f"{tally.count} more '{lead.title}' alert(s) ({lead.severity}){span} were counted, not sent one "
        f"by one: alerts of one severity and title within {minutes} of one sent are repeats. "
        f"Sources: {named}{f' and {more} more' if more > 0 else ''}. Latest: {tally.last_detail or '-'}"
    )
    title = f"{lead.title}: {tally.count} more in {minutes}"
    return Alert(severity=lead.severity, source=lead.source, title=title, detail=detail, key=key)


def _row(alert: Alert, key: str, now: datetime, due: datetime) -> t.AlertOutbox:
    return t.AlertOutbox(
        key=key,
        severity=alert.severity.value,
        source=alert.source,
        title=alert.title,
        detail=alert.detail,
        created_at=now,
        attempts=0,
        next_attempt_at=due,
    )


def _audit(alert: Alert, key: str, now: datetime) -> t.Audit:
    return t.Audit(
        at=now,
        actor="perpflow",
        action=f"alert.{alert.severity}",
        target=alert.source[:_TARGET_LEN],
        detail={"title": alert.title, "detail": alert.detail, "key": key},
    )
