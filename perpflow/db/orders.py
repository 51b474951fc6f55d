"""Order intents in the ledger: written before submission, one client order index per key.

Order states move only along ``perpflow.orders.status.TRANSITIONS``: each write is one UPDATE
that matches the states allowed to precede it, so a racing writer can never step back or skip.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Collection, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import bindparam, func, literal, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import Row
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.dml import ReturningInsert, Update

from perpflow.db import tables as t
from perpflow.db.fast import column_defaults
from perpflow.db.ledger import Ledger
from perpflow.db.risk import STATES, RiskStates, strictest_of
from perpflow.errors import PerpflowError
from perpflow.orders.errors import IllegalTransition, IntentConflict
from perpflow.orders.ledger import Claimed, OrderRecord
from perpflow.orders.models import OrderIntent
from perpflow.orders.status import OrderState, sources
from perpflow.risk import TradingState
from perpflow.venues.base import SignedTx, VenueName
from perpflow.venues.types import OrderKind, Side, TimeInForce, VenueOrder

log = logging.getLogger(__name__)

# Client order indexes live below 2^48 on Lighter; starting high keeps ours recognisable.
CLIENT_INDEX_BASE = 1_000_000


def _aware(at: datetime | None) -> datetime | None:
    return at.replace(tzinfo=UTC) if at is not None and at.tzinfo is None else at


def _record(row: t.Order | Row[Any]) -> OrderRecord:
    assert row.client_order_index is not None
    intent = OrderIntent(
        key=row.idempotency_key,
        workflow_id=row.workflow_id,
        venue=VenueName(row.venue),
        account_index=row.account_index,
        market=row.market,
        side=Side(row.side),
        kind=OrderKind(row.order_type),
        tif=TimeInForce(row.time_in_force),
        size=row.size,
        price=row.price if row.price is not None else Decimal(0),
        reduce_only=row.reduce_only,
    )
    return OrderRecord(
        intent=intent,
        client_order_index=row.client_order_index,
        status=OrderState(row.status),
        reason=row.reason,
        order_index=row.venue_order_index,
        nonce=row.nonce,
        submitted_at=_aware(row.submitted_at),
        signed=_signed(row),
    )


def _values(intent: OrderIntent) -> dict[str, object]:
    """The order row's columns an intent fixes."""
    return {
        "idempotency_key": intent.key, "workflow_id": intent.workflow_id, "venue": intent.venue.value,
        "account_index": intent.account_index, "market": intent.market, "side": intent.side.value,
        "order_type": intent.kind.value, "time_in_force": intent.tif.value,
        "reduce_only": intent.reduce_only, "price": intent.price, "size": intent.size,
    }  # fmt: skip


@functools.cache
def _claim_statement(names: tuple[str, ...]) -> ReturningInsert[Any]:
    """Postgres's claim in one insert of ``names`` (bound by name): the row id drawn from its
    sequence once and the client order index derived from it; a key claimed already inserts
    nothing. The row comes back with the trading states set over the scopes bound as ``scopes``
    (``trading_states``, NULL where none is): the risk gate's read, in the same statement. Built
    once, bound per intent."""
    sequence = func.pg_get_serial_sequence(t.Order.__tablename__, "id")
    drawn = select(func.nextval(sequence).label("id")).cte()
    columns_of = t.Order.__table__.c
    columns = select(
        drawn.c.id,
        drawn.c.id + CLIENT_INDEX_BASE,
        *(bindparam(n, type_=columns_of[n].type) for n in names),
    )
    states = STATES.subquery()
    return (
        pg_insert(t.Order)
        .from_select(["id", "client_order_index", *names], columns)
        .on_conflict_do_nothing(index_elements=[t.Order.idempotency_key])
        .returning(
            *columns_of, select(func.array_agg(states.c.state)).scalar_subquery().label("trading_states")
        )
    )


def _signed(row: t.Order | Row[Any]) -> SignedTx | None:
    """The signed order stored before its send; rows from before 0012 have none."""
    if row.tx_info is None or row.tx_type is None or row.nonce is None or row.api_key_index is None:
        return None
    return SignedTx(
        tx_type=row.tx_type,
        tx_info=row.tx_info,
        tx_hash=row.tx_hash or "",
        nonce=row.nonce,
        api_key_index=row.api_key_index,
        resend_until=_aware(row.resend_until),
    )


class Orders:
    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger

    async def claim(self, intent: OrderIntent) -> OrderRecord:
        """The record for ``intent.key``, created with its client order index if new."""
        return (await self.claim_all([intent], ())).records[0]

    async def claim_all(self, intents: Sequence[OrderIntent], scopes: Collection[str]) -> Claimed:
        """``claim`` for a batch (a grid's ladder) in one transaction: one look-up of the keys an
        earlier attempt claimed, one insert of the rest, one read of the trading states over
        ``scopes``. A concurrent claim of one of them (the insert conflicts) falls back to claiming
        each alone. A batch of one (a grid's refill, a hedge) is one statement on Postgres."""
        if len(intents) == 1:
            claimed = await self._claim_one(intents[0], scopes)
        else:
            try:
                claimed = await self._claim_together(intents, scopes)
            except IntegrityError:
                records = [await self.claim(intent) for intent in intents]
                claimed = Claimed(records=records, state=await self._strictest(scopes))
        for record, intent in zip(claimed.records, intents, strict=True):
            if not record.intent.same_order_as(intent):
                raise IntentConflict(f"key {intent.key} already names a different order")
        return claimed

    async def _claim_one(self, intent: OrderIntent, scopes: Collection[str]) -> Claimed:
        """The insert comes first: a new intent, the hot path, spends no round trip on a look-up,
        nor on Postgres one on the trading states (the insert returns them)."""
        if self.ledger.backend == "postgresql":
            record, states = await self._insert_pg(intent, scopes)
        else:
            record, states = await self._insert(intent), None
        record = record or await self.get(intent.key)  # claimed before (a retry), or by a concurrent claim
        if record is None:
            raise PerpflowError(f"order intent {intent.key} neither inserted nor found")
        state = strictest_of(states) if states is not None else await self._strictest(scopes)
        return Claimed(records=[record], state=state)

    async def _insert_pg(
        self, intent: OrderIntent, scopes: Collection[str]
    ) -> tuple[OrderRecord | None, list[str] | None]:
        """One statement, committed on its own: the record and the states set over ``scopes``, or
        (None, None) if the key is claimed already."""
        values = _values(intent)
        values |= column_defaults(t.Order.__table__, values)  # it may run without the engine
        done = await self.ledger.one(_claim_statement(tuple(values)), {**values, "scopes": list(scopes)})
        if not done.rows:
            return None, None
        row = done.rows[0]
        return _record(row), row.trading_states or []

    async def _insert(self, intent: OrderIntent) -> OrderRecord | None:
        """SQLite's claim: the insert, then the client order index from the row id, in one
        transaction. None if the key is claimed already."""
        try:
            async with self.ledger.session() as s:
                row = t.Order(**_values(intent))
                s.add(row)
                await s.flush()
                row.client_order_index = CLIENT_INDEX_BASE + row.id
                return _record(row)
        except IntegrityError:
            return None

    async def _claim_together(self, intents: Sequence[OrderIntent], scopes: Collection[str]) -> Claimed:
        """A batch's claim and the trading states, in one transaction."""
        async with self.ledger.session() as s:
            query = select(t.Order).where(t.Order.idempotency_key.in_([i.key for i in intents]))
            rows = {row.idempotency_key: row for row in (await s.scalars(query)).all()}
            new = [t.Order(**_values(i)) for i in intents if i.key not in rows]
            s.add_all(new)
            await s.flush()
            for row in new:
                row.client_order_index = CLIENT_INDEX_BASE + row.id
                rows[row.idempotency_key] = row
            states = (await s.scalars(STATES, {"scopes": list(scopes)})).all() if scopes else []
            return Claimed(records=[_record(rows[i.key]) for i in intents], state=strictest_of(states))

    async def _strictest(self, scopes: Collection[str]) -> TradingState:
        return await RiskStates(self.ledger).strictest(*scopes) if scopes else TradingState.ACTIVE

    async def get(self, key: str) -> OrderRecord | None:
        async with self.ledger.session() as s:
            row = await s.scalar(select(t.Order).where(t.Order.idempotency_key == key))
            return _record(row) if row is not None else None

    async def owners_since(
        self, venue: str, accounts: Collection[int], after_id: int | None
    ) -> tuple[dict[tuple[int, int], str], int]:
        """(account, client order index) -> owning workflow id of these accounts' orders claimed
        after row ``after_id`` (None: none yet, only where the rows end), and the last row id read."""
        async with self.ledger.session() as s:
            if after_id is None:
                return {}, await s.scalar(select(func.max(t.Order.id))) or 0
            query = select(t.Order.id, t.Order.account_index, t.Order.client_order_index, t.Order.workflow_id)
            rows = (
                await s.execute(
                    query.where(
                        t.Order.id > after_id,
                        t.Order.venue == venue,
                        t.Order.account_index.in_(list(accounts)),
                    )
                )
            ).all()
        owners = {(account, coi): wid for _, account, coi, wid in rows if coi is not None}
        return owners, max((row.id for row in rows), default=after_id)

    async def by_client_index(
        self, venue: str, account_index: int, client_order_index: int
    ) -> OrderRecord | None:
        async with self.ledger.session() as s:
            row = await s.scalar(
                select(t.Order).where(
                    t.Order.venue == venue,
                    t.Order.account_index == account_index,
                    t.Order.client_order_index == client_order_index,
                )
            )
            return _record(row) if row is not None else None

    async def keys_by_client_index(
        self, venue: str, account_index: int, client_order_indexes: Collection[int]
    ) -> dict[int, str]:
        """The business key of each of these orders perpflow placed (others are absent)."""
        if not client_order_indexes:
            return {}
        async with self.ledger.session() as s:
            rows = await s.execute(
                select(t.Order.client_order_index, t.Order.idempotency_key).where(
                    t.Order.venue == venue,
                    t.Order.account_index == account_index,
                    t.Order.client_order_index.in_(list(client_order_indexes)),
                )
            )
        return {coi: key for coi, key in rows if coi is not None}

    async def mark_submitting(self, key: str, tx: SignedTx) -> None:
        """The signed bytes stored, committed before the send (write-ahead): from here on a retry
        must look before it sends again, and a resend repeats these bytes while the venue takes them."""
        await self._move(key, OrderState.SUBMITTING, _submitting(tx, datetime.now(UTC)))

    async def mark_all_submitting(self, signed: Sequence[tuple[str, SignedTx]]) -> None:
        """``mark_submitting`` for a chunk of a batch, by key, in one transaction (on Postgres in one
        round trip). If one of them may not move, each is marked alone: the ones moved move again
        (to the state they are in), and the one refused raises as ``mark_submitting`` does."""
        if len(signed) == 1:
            await self.mark_submitting(*signed[0])
            return
        now = datetime.now(UTC)
        values = [_submitting(tx, now) for _, tx in signed]
        move = _move_statement(OrderState.SUBMITTING, tuple(sorted(values[0])))
        moves = [_move_params(key, v, now) for (key, _), v in zip(signed, values, strict=True)]
        if await self.ledger.many(move, moves) == len(moves):
            return
        for key, tx in signed:
            await self.mark_submitting(key, tx)

    async def mark_unsent(self, key: str, reason: str) -> None:
        """The venue refused the send outright (bad nonce, 429): nothing of it exists there. The
        signed bytes stay: the next send repeats them while the venue takes them (sign once)."""
        await self._move(key, OrderState.INTENT, {"reason": reason, "submitted_at": None})

    async def mark_rejected(self, key: str, reason: str) -> None:
        await self._move(key, OrderState.REJECTED, {"reason": reason})

    async def mark_sent(self, key: str) -> None:
        """The venue took the send (a look-up may already have seen the order: then it is old news)."""
        await self._move(key, OrderState.SUBMITTED, {}, observed=True)

    async def mark_seen(self, key: str, order: VenueOrder) -> None:
        """What a look-up found on the venue; a report older than the ledger's is dropped."""
        found = {
            "reason": order.reason,
            "venue_order_index": order.order_index,
            "filled_size": order.filled_size,
        }
        await self._move(key, OrderState.seen(order.status), found, observed=True)

    async def _move(
        self, key: str, state: OrderState, values: Mapping[str, object], *, observed: bool = False
    ) -> None:
        """One UPDATE guarded by the states that may precede ``state``. A refused move raises, unless
        it is a fact ``observed`` on the venue that the ledger has already moved past."""
        move = _move_statement(state, tuple(sorted(values)))
        done = await self.ledger.one(move, _move_params(key, values, datetime.now(UTC)))
        if done.rowcount == 1:
            return
        async with self.ledger.statements() as c:
            current = await c.scalar(select(t.Order.status).where(t.Order.idempotency_key == key))
        if current is None:
            raise PerpflowError(f"no order intent {key}")
        if observed and OrderState(current).passed(state):
            log.debug("order %s is %s already: dropped an older report of %s", key, current, state)
            return
        raise IllegalTransition(f"order {key} may not go from {current} to {state}")


def _submitting(tx: SignedTx, at: datetime) -> dict[str, object]:
    """The columns a move to SUBMITTING sets: the signed order, and when it was stored."""
    return {
        "api_key_index": tx.api_key_index, "nonce": tx.nonce, "tx_hash": tx.tx_hash,
        "tx_type": tx.tx_type, "tx_info": tx.tx_info, "resend_until": tx.resend_until,
        "submitted_at": at,
    }  # fmt: skip


def _move_params(key: str, values: Mapping[str, object], at: datetime) -> dict[str, object]:
    """What ``_move_statement`` binds: the key, and each value as ``new_{name}``."""
    return {"order_key": key, "new_updated_at": at, **{f"new_{name}": v for name, v in values.items()}}


@functools.cache
def _move_statement(state: OrderState, names: tuple[str, ...]) -> Update:
    """The guarded UPDATE to ``state`` setting ``names`` (bound as ``new_{name}``): built once each."""
    columns_of = t.Order.__table__.c
    sets = {name: bindparam(f"new_{name}", type_=columns_of[name].type) for name in (*names, "updated_at")}
    return (
        update(t.Order)
        .where(
            t.Order.idempotency_key == bindparam("order_key"),
            # Bound one by one, not as one expanding list: executemany takes no expanding binds.
            t.Order.status.in_([literal(prior.value) for prior in sorted(sources(state))]),
        )
        .values(**sets, status=state.value)
    )
