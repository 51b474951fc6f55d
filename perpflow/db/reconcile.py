"""The exposure reconciler's ledger: orphan episodes, and who owns which order on an account."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime

from sqlalchemy import Select, and_, not_, or_, select, update

from perpflow.db import tables as t
from perpflow.db.ledger import Ledger
from perpflow.orders.status import IN_FLIGHT, OrderState
from perpflow.reconcile.models import (
    AlertedOrphans,
    OpenOrphan,
    Orphan,
    OrphanKind,
    OrphanReason,
    OrphanSync,
    OrphanSyncResult,
    OwnerStatus,
)

_CHUNK = 500  # ids per IN (...) list: far below every backend's bound-parameter limit


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def _chunks(items: list[str]) -> Iterable[list[str]]:
    for i in range(0, len(items), _CHUNK):
        yield items[i : i + _CHUNK]


class OrderOwnership:
    """Who placed which order: the orders table read by venue, account and client order index."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger

    async def owners_of(self, venue: str, account_index: int, cois: list[int]) -> dict[int, str]:
        """The workflow id behind each client order index the ledger knows."""
        if not cois:
            return {}
        query = select(t.Order.client_order_index, t.Order.workflow_id).where(
            t.Order.venue == venue,
            t.Order.account_index == account_index,
            t.Order.client_order_index.in_(cois),
        )
        async with self.ledger.session() as s:
            rows = (await s.execute(query)).all()
        return {coi: wid for coi, wid in rows if coi is not None}

    async def workflows_on(self, venue: str, account_index: int, among: Iterable[str]) -> set[str]:
        """Which of these workflows have ever had an order on the account."""
        found: set[str] = set()
        for chunk in _chunks(sorted(set(among))):
            query = (
                select(t.Order.workflow_id)
                .distinct()
                .where(t.Order.venue == venue, t.Order.account_index == account_index)
                .where(t.Order.workflow_id.in_(chunk))
            )
            async with self.ledger.session() as s:
                found.update((await s.scalars(query)).all())
        return found

    async def in_flight(
        self,
        venue: str,
        account_index: int,
        *,
        live: set[str],
        live_since: datetime,
        ended_since: datetime,
        unsent_since: datetime,
    ) -> dict[str, list[int]]:
        """Orders on the account sent (or being sent) and not yet seen settled: a live owner's since
        ``live_since``, any other's since ``ended_since`` (its last send is soon over or never). An
        intent never sent counts only since ``unsent_since``: nothing of it is on the venue, and
        its next send is written ``submitting`` first, which counts again."""
        never_sent = and_(t.Order.status == OrderState.INTENT.value, t.Order.submitted_at.is_(None))
        query = select(t.Order.workflow_id, t.Order.client_order_index, t.Order.updated_at).where(
            t.Order.venue == venue,
            t.Order.account_index == account_index,
            t.Order.status.in_([state.value for state in IN_FLIGHT]),
            t.Order.updated_at >= min(live_since, ended_since),
            or_(not_(never_sent), t.Order.updated_at >= unsent_since),
        )
        async with self.ledger.session() as s:
            rows = (await s.execute(query)).all()
        out: dict[str, list[int]] = defaultdict(list)
        for wid, coi, at in rows:
            if coi is not None and (wid in live or _aware(at) >= ended_since):
                out[wid].append(coi)
        return dict(out)


def _orphan(row: t.ReconcileOrphan) -> OpenOrphan:
    orphan = Orphan(
        key=row.key, kind=OrphanKind(row.kind), reason=OrphanReason(row.reason), venue=row.venue,
        account=row.account_name, account_index=row.account_index, market=row.market, size=row.size,
        client_order_index=row.client_order_index, order_index=row.order_index,
        owner=row.owner_workflow_id,
        owner_status=OwnerStatus(row.owner_status) if row.owner_status else None,
    )  # fmt: skip
    return OpenOrphan(
        id=row.id,
        orphan=orphan,
        opened_at=_aware(row.opened_at),
        opened_by=row.opened_by,
        alerted_at=_aware(row.alerted_at) if row.alerted_at else None,
    )


def _fill(row: t.ReconcileOrphan, o: Orphan) -> None:
    row.kind, row.reason, row.venue, row.market = o.kind.value, o.reason.value, o.venue, o.market
    row.account_name, row.account_index, row.size = o.account, o.account_index, o.size
    row.client_order_index, row.order_index = o.client_order_index, o.order_index
    row.owner_workflow_id = o.owner
    row.owner_status = o.owner_status.value if o.owner_status else None


class Orphans:
    """Orphan episodes: opened when first confirmed, resolved when a run judges them gone."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger

    async def sync(self, req: OrphanSync) -> OrphanSyncResult:
        seen = {o.key for o in req.orphans}
        keep = seen | set(req.unsettled)
        judged = {OrphanKind.ORDER: set(req.judged_orders), OrphanKind.POSITION: set(req.judged_positions)}
        async with self.ledger.session() as s:
            rows = (await s.scalars(self._open_query(req.venue))).all()
            current = {r.key: r for r in rows}
            opened: list[t.ReconcileOrphan] = []
            for orphan in req.orphans:
                row = current.get(orphan.key)
                if row is None:
                    row = t.ReconcileOrphan(key=orphan.key, opened_at=req.at, opened_by=req.workflow_id)
                    s.add(row)
                    current[orphan.key] = row
                    opened.append(row)
                _fill(row, orphan)
                row.last_seen_at = req.at
            resolved = []
            for row in rows:
                if row.key not in keep and row.account_index in judged[OrphanKind(row.kind)]:
                    row.resolved_at, row.resolved_by = req.at, req.workflow_id
                    resolved.append(row.key)
            await s.flush()
            live = [current[k] for k in sorted(seen)]
            return OrphanSyncResult(
                opened=[_orphan(r) for r in opened],
                to_alert=[_orphan(r) for r in live if r.alerted_at is None],
                resolved=resolved,
            )

    async def mark_alerted(self, req: AlertedOrphans) -> None:
        if not req.ids:
            return
        async with self.ledger.session() as s:
            await s.execute(
                update(t.ReconcileOrphan)
                .where(t.ReconcileOrphan.id.in_(req.ids), t.ReconcileOrphan.alerted_at.is_(None))
                .values(alerted_at=req.at)
            )

    async def open(self, venue: str | None = None) -> list[OpenOrphan]:
        async with self.ledger.session() as s:
            rows = (await s.scalars(self._open_query(venue))).all()
        return [_orphan(r) for r in rows]

    @staticmethod
    def _open_query(venue: str | None) -> Select[t.ReconcileOrphan]:
        query = select(t.ReconcileOrphan).where(t.ReconcileOrphan.resolved_at.is_(None))
        if venue is not None:
            query = query.where(t.ReconcileOrphan.venue == venue)
        return query.order_by(t.ReconcileOrphan.id)
