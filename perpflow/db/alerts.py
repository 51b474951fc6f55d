"""AlertOutbox: alerts to deliver, written with their audit row, claimed by delivery loops.

A key is recorded once, ever: a second send of it (a retried activity) writes nothing, neither
an outbox row nor an audit row. A delivery loop claims due rows by moving their next attempt a
lease ahead in the statement that checks they are still due, so two loops never post one row at
the same time, and a loop that dies mid-post leaves its rows to be retried when the lease ends.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, func, select, update
from sqlalchemy.exc import IntegrityError

from perpflow.alerts.models import Alert, OutboxEntry, Severity
from perpflow.db import tables as t
from perpflow.db.ledger import Ledger

# Audit targets are 200 characters; the outbox keeps the full source.
_TARGET_LEN = 200
_ERROR_LEN = 1000


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _entry(r: t.AlertOutbox) -> OutboxEntry:
    alert = Alert(severity=Severity(r.severity), source=r.source, title=r.title, detail=r.detail, key=r.key)
    return OutboxEntry(
        id=r.id,
        alert=alert,
        created_at=_aware(r.created_at),
        attempts=r.attempts,
        next_attempt_at=_aware(r.next_attempt_at),
        delivered_at=None if r.delivered_at is None else _aware(r.delivered_at),
        last_error=r.last_error,
    )


def _due(now: datetime) -> ColumnElement[bool]:
    return t.AlertOutbox.delivered_at.is_(None) & (t.AlertOutbox.next_attempt_at <= now)


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
                s.add(_row(alert, alert.key, now))
                await s.flush()  # the unique key: a second send of it stops here
                s.add(_audit(alert, alert.key, now))
        except IntegrityError:
            if await self.get(alert.key) is None:
                raise  # not the key: a real error
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
            return sorted((_entry(r) for r in rows), key=lambda e: e.id)

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
            row = await s.scalar(select(t.AlertOutbox).where(t.AlertOutbox.key == key))
            return None if row is None else _entry(row)

    async def entries(self, source: str | None = None) -> list[OutboxEntry]:
        query = select(t.AlertOutbox).order_by(t.AlertOutbox.id)
        if source is not None:
            query = query.where(t.AlertOutbox.source == source)
        async with self.ledger.session() as s:
            return [_entry(r) for r in (await s.scalars(query)).all()]

    async def _set(self, entry_id: int, **values: Any) -> None:
        # Never undoes a delivery: another loop may have delivered the row after our lease ended.
        query = update(t.AlertOutbox).where(
            t.AlertOutbox.id == entry_id, t.AlertOutbox.delivered_at.is_(None)
        )
        async with self.ledger.session() as s:
            await s.execute(query.values(**values))


def _row(alert: Alert, key: str, now: datetime) -> t.AlertOutbox:
    return t.AlertOutbox(
        key=key,
        severity=alert.severity.value,
        source=alert.source,
        title=alert.title,
        detail=alert.detail,
        created_at=now,
        attempts=0,
        next_attempt_at=now,
    )


def _audit(alert: Alert, key: str, now: datetime) -> t.Audit:
    return t.Audit(
        at=now,
        actor="perpflow",
        action=f"alert.{alert.severity}",
        target=alert.source[:_TARGET_LEN],
        detail={"title": alert.title, "detail": alert.detail, "key": key},
    )
