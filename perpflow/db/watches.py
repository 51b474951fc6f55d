"""Watches in the ledger: what each workflow wants the market-data worker to tell it.

A watch is named per workflow (unique ``(workflow_id, name)``): registering again updates it
and re-activates it, so an activity retry never leaves two watches for one intent. Its
``created_at`` is set at every registration: a workflow id's new run re-registering its watches
makes them young again, so the market-data worker's sweep (``perpflow.marketdata.sweep``) gives
them the grace a just-started workflow needs to become visible.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql import ColumnElement

from perpflow.db import tables as t
from perpflow.db.ledger import Ledger
from perpflow.marketdata.models import DeactivateWatches, Watch, WatchKind, WatchSet, WatchSpec
from perpflow.signals import Direction


def _spec_values(spec: WatchSpec) -> dict[str, object]:
    return {
        "kind": spec.kind.value,
        "venue": spec.venue,
        "market": spec.market,
        "account_index": spec.account_index,
        "client_order_index": spec.client_order_index,
        "level": spec.level,
        "direction": spec.direction.value if spec.direction else None,
        "hysteresis": spec.hysteresis,
        "reference_price": spec.reference_price,
        "signal_name": spec.signal,
        "wants_feed_state": spec.wants_feed_state,
        "fill_stands_in": spec.fill_stands_in,
        "active": True,
        "created_at": t.utcnow(),  # registered at: see the module's docstring
    }


def _watch(row: t.Watch) -> Watch:
    spec = WatchSpec(
        workflow_id=row.workflow_id,
        name=row.name or f"watch-{row.id}",
        kind=WatchKind(row.kind),
        venue=row.venue,
        market=row.market,
        account_index=row.account_index,
        client_order_index=row.client_order_index,
        level=row.level,
        direction=Direction(row.direction) if row.direction else None,
        hysteresis=row.hysteresis or 0,
        reference_price=row.reference_price,
        signal_name=row.signal_name,
        wants_feed_state=row.wants_feed_state,
        fill_stands_in=row.fill_stands_in,
    )
    return Watch(id=row.id, spec=spec)


class Watches:
    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger

    async def register(self, spec: WatchSpec) -> Watch:
        try:
            return await self._upsert(spec)
        except IntegrityError:
            return await self._upsert(spec)  # a concurrent registration of the same name won

    async def _upsert(self, spec: WatchSpec) -> Watch:
        async with self.ledger.session() as s:
            row = await s.scalar(
                select(t.Watch).where(t.Watch.workflow_id == spec.workflow_id, t.Watch.name == spec.name)
            )
            if row is None:
                row = t.Watch(workflow_id=spec.workflow_id, name=spec.name)
                s.add(row)
            for field, value in _spec_values(spec).items():
                setattr(row, field, value)
            await s.flush()
            return _watch(row)

    async def replace(self, watches: WatchSet) -> list[Watch]:
        """The workflow's active watches become exactly ``watches.specs``, in one transaction."""
        try:
            return await self._replace(watches)
        except IntegrityError:
            return await self._replace(watches)  # a concurrent registration of the same name won

    async def _replace(self, watches: WatchSet) -> list[Watch]:
        async with self.ledger.session() as s:
            query = select(t.Watch).where(t.Watch.workflow_id == watches.workflow_id)
            rows = {row.name: row for row in (await s.scalars(query)).all()}
            for row in rows.values():
                row.active = False
            kept = []
            for spec in watches.specs:
                row = rows.get(spec.name) or t.Watch(workflow_id=spec.workflow_id, name=spec.name)
                s.add(row)
                for field, value in _spec_values(spec).items():  # active again
                    setattr(row, field, value)
                kept.append(row)
            await s.flush()
            return [_watch(row) for row in kept]

    async def deactivate(self, req: DeactivateWatches) -> int:
        query = update(t.Watch).where(t.Watch.workflow_id == req.workflow_id, t.Watch.active.is_(True))
        if req.names is not None:
            query = query.where(t.Watch.name.in_(req.names))
        async with self.ledger.session() as s:
            result = await s.execute(query.values(active=False))
            return int(getattr(result, "rowcount", 0) or 0)

    async def registered_before(self, venue: str, before: datetime) -> set[str]:
        """The workflows with an active watch on ``venue`` registered before ``before``."""
        query = select(t.Watch.workflow_id).distinct().where(*_active_before(venue, before))
        async with self.ledger.session() as s:
            return set((await s.scalars(query)).all())

    async def deactivate_before(self, workflow_ids: Collection[str], venue: str, before: datetime) -> int:
        """Deactivate the active watches on ``venue`` of ``workflow_ids`` registered before
        ``before`` (one registered since may be a new run's of the same id); their count."""
        query = update(t.Watch).where(t.Watch.workflow_id.in_(workflow_ids), *_active_before(venue, before))
        async with self.ledger.session() as s:
            result = await s.execute(query.values(active=False))
            return int(getattr(result, "rowcount", 0) or 0)

    async def active(self, venue: str | None = None) -> list[Watch]:
        query = select(t.Watch).where(t.Watch.active.is_(True)).order_by(t.Watch.id)
        if venue is not None:
            query = query.where(t.Watch.venue == venue)
        async with self.ledger.session() as s:
            rows = (await s.scalars(query)).all()
        return [_watch(r) for r in rows]

    async def stamps(self, venue: str) -> dict[int, datetime]:
        """Each active watch on ``venue``: its id and when it was last registered."""
        query = select(t.Watch.id, t.Watch.created_at).where(t.Watch.active.is_(True), t.Watch.venue == venue)
        async with self.ledger.session() as s:
            return {row.id: row.created_at for row in await s.execute(query)}

    async def by_ids(self, ids: Collection[int]) -> list[tuple[Watch, datetime]]:
        """These watches as they are now, each with when it was last registered."""
        query = select(t.Watch).where(t.Watch.id.in_(ids))
        async with self.ledger.session() as s:
            rows = (await s.scalars(query)).all()
        return [(_watch(r), r.created_at) for r in rows]


class ActiveWatches:
    """The active watches of one venue, kept between reads: each read asks for every active
    watch's id and registration time only, and reads in full the watches registered (or
    registered again, which changes the time) since the last read. With a hundred grids' ladders
    watched, reading them all every second was most of the market-data worker's time."""

    def __init__(self, watches: Watches, venue: str) -> None:
        self.watches, self.venue = watches, venue
        self._known: dict[int, tuple[Watch, datetime]] = {}

    async def read(self) -> list[Watch]:
        stamps = await self.watches.stamps(self.venue)
        known = {i: seen for i, seen in self._known.items() if i in stamps}
        fresh = [i for i, at in stamps.items() if i not in known or known[i][1] != at]
        if fresh:
            known.update((w.id, (w, at)) for w, at in await self.watches.by_ids(fresh))
        self._known = known
        return [known[i][0] for i in sorted(stamps) if i in known]


def _active_before(venue: str, before: datetime) -> tuple[ColumnElement[bool], ...]:
    return (t.Watch.active.is_(True), t.Watch.venue == venue, t.Watch.created_at < before)
