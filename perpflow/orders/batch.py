"""Placing a batch of orders (a grid's ladder): each intent exactly once, as ``place`` places one,
sent in the venue's batch transactions of at most ``max_batch`` orders on consecutive nonces.

Every intent is claimed first, the trading state read by the claim itself; those an earlier attempt
sent are looked up, not sent again. The risk gate is read once and holds each order to the position
its side's earlier orders would leave if they all filled. Each chunk is signed (or its stored bytes
taken again), stored, then sent: a bad nonce refreshes it and re-signs what is not sent yet; a
chunk the venue refuses whole goes again one order at a time, so a refusal is its own order's
(``OrderAck.refusal``) and the others are placed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Sequence
from decimal import Decimal
from typing import TypeVar

from perpflow.orders.errors import OrderPending
from perpflow.orders.ledger import OrderRecord
from perpflow.orders.models import OrderAck, OrderAcks, OrderBatch
from perpflow.orders.placing import Placing
from perpflow.orders.status import OrderState
from perpflow.risk import RiskRejected, TradingState
from perpflow.venues.base import SignedTx
from perpflow.venues.errors import InsufficientMargin, InvalidNonce, InvalidOrder, RateLimited
from perpflow.venues.types import Side, VenueOrder

log = logging.getLogger(__name__)
T = TypeVar("T")

# Bad nonces in a row before the batch gives up (the activity's retry starts afresh).
NONCE_ATTEMPTS = 3
# Ledger writes at once per batch: well within the ledger's connection pool (perpflow.db.engine).
LEDGER_WRITES_AT_ONCE = 5


async def _each(calls: Sequence[Awaitable[T]]) -> list[T]:
    """Every call's result, in order, a few at a time."""
    gate = asyncio.Semaphore(LEDGER_WRITES_AT_ONCE)

    async def one(call: Awaitable[T]) -> T:
        async with gate:
            return await call

    return await asyncio.gather(*(one(call) for call in calls))


def _rejected(record: OrderRecord) -> bool:
    """Refused as specified by an earlier attempt: refused again, never sent again."""
    return record.status is OrderState.REJECTED


class BatchPlacement:
    """One ``place_batch`` call: the acks so far, and the orders sent now."""

    def __init__(self, placing: Placing) -> None:
        self.placing = placing
        self.venue = placing.venue
        self.orders = placing.orders
        self.acks: dict[str, OrderAck] = {}
        self.sent: list[OrderRecord] = []

    async def place(self, batch: OrderBatch) -> OrderAcks:
        first = batch.intents[0]
        self.placing.serve(first.account_index)
        async with self.placing.position_meanwhile(first.market) as position:
            claimed = await self.placing.claim(batch.intents)
            fresh, pending = await self._earlier_sends(claimed.records)
            await self._send(self._within_risk(fresh, claimed.state, await position), self.venue.max_batch)
        await self._seen_after_send()
        log.info("batch of %d on %s: %d sent now", len(batch.intents), first.market, len(self.sent))
        if pending:
            raise pending[0]
        return OrderAcks(acks=[self.acks[intent.key] for intent in batch.intents])

    async def _earlier_sends(
        self, records: Sequence[OrderRecord]
    ) -> tuple[list[OrderRecord], list[OrderPending]]:
        """Acks what an earlier attempt placed or met a refusal for; returns what is still to send,
        and what may yet show. Intents claimed just now (a first attempt) are only passed on: no
        look-up, nor any other await, stands between their claim and their signature."""
        earlier = [r for r in records if r.submitted_at is not None or _rejected(r)]
        found = await self._find([r for r in earlier if not _rejected(r)])
        looked = await _each([self._earlier_send(r, found.get(r.client_order_index)) for r in earlier])
        done = {r.intent.key for r, outcome in zip(earlier, looked, strict=True) if outcome is not None}
        fresh = [record for record in records if record.intent.key not in done]
        return fresh, [outcome for outcome in looked if isinstance(outcome, OrderPending)]

    async def _earlier_send(
        self, record: OrderRecord, found: VenueOrder | None
    ) -> OrderAck | OrderPending | None:
        """A record sent or refused before. None: to send again."""
        key = record.intent.key
        if _rejected(record):
            ack: OrderAck | None = record.refused(InvalidOrder(f"refused: {record.reason}"), sent_now=False)
        else:
            try:
                ack = await self.placing.earlier_send(record, found)
            except OrderPending as exc:
                return exc
            if found is not None and self.venue.refused_for_margin(found):
                ack = record.refused(InsufficientMargin(f"order {key} {found.reason}"), sent_now=False)
        if ack is not None:
            self.acks[key] = ack
        return ack

    def _within_risk(
        self, records: Sequence[OrderRecord], state: TradingState, position: Decimal
    ) -> list[OrderRecord]:
        """Each order as ``place`` checks it, against the position the batch's earlier orders of its
        side would leave if they all filled."""
        after = {Side.BUY: position, Side.SELL: position}
        passed = []
        for record in records:
            intent = record.intent
            try:
                self.placing.check(intent, state, after[intent.side])
            except RiskRejected as exc:
                self.acks[intent.key] = record.refused(exc, sent_now=False)
                continue
            after[intent.side] += intent.side.sign * intent.size
            passed.append(record)
        return passed

    async def _send(self, records: Sequence[OrderRecord], size: int) -> None:
        """In chunks of ``size``, one after the other: each chunk's nonces follow the last one's."""
        rest, bad_nonces = list(records), 0
        while rest:
            chunk, rest = rest[:size], rest[size:]
            try:
                await self._send_chunk(chunk)
            except InvalidNonce:
                bad_nonces += 1
                if bad_nonces >= NONCE_ATTEMPTS:
                    raise
                rest = chunk + rest  # the nonce is refreshed: re-signed from it

    async def _send_chunk(self, chunk: Sequence[OrderRecord]) -> None:
        signed = await self._signed(chunk)
        if not signed:
            return
        records, txs = [r for r, _ in signed], [tx for _, tx in signed]
        await self.orders.mark_all_submitting([(r.intent.key, tx) for r, tx in signed])
        try:
            await (self.venue.submit(txs[0]) if len(txs) == 1 else self.venue.submit_batch(txs))
        except (InvalidNonce, RateLimited) as exc:
            await self.placing.unsent(records, exc)
            raise
        except (InsufficientMargin, InvalidOrder) as exc:
            if len(records) > 1:
                await self.placing.unsent(records, exc)  # refused whole: find whose refusal it is
                await self._send(records, 1)
                return
            await self.orders.mark_rejected(records[0].intent.key, str(exc))
            self.acks[records[0].intent.key] = records[0].refused(exc, sent_now=False)
            return
        self.sent.extend(records)  # recorded once the look-up after the send tells what it found

    async def _signed(self, chunk: Sequence[OrderRecord]) -> list[tuple[OrderRecord, SignedTx]]:
        try:
            txs = await self.placing.signed(chunk)
        except InvalidOrder as exc:
            if len(chunk) > 1:
                return await self._signed_apart(chunk, exc)
            self.acks[chunk[0].intent.key] = await self.placing.unsignable(chunk[0], exc)
            return []
        return list(zip(chunk, txs, strict=True))

    async def _signed_apart(
        self, chunk: Sequence[OrderRecord], exc: InvalidOrder
    ) -> list[tuple[OrderRecord, SignedTx]]:
        """The orders the venue cannot sign (a price or size it cannot represent) are refused alone;
        the rest are signed together."""
        for record in chunk:
            await self._signed([record])
        rest = [r for r in chunk if r.intent.key not in self.acks]
        if len(rest) == len(chunk):
            raise exc
        return await self._signed(rest) if rest else []

    async def _seen_after_send(self) -> None:
        found = await self._find(self.sent, just_sent=True)
        await _each([self._seen(record, found.get(record.client_order_index)) for record in self.sent])

    async def _seen(self, record: OrderRecord, found: VenueOrder | None) -> None:
        try:
            ack = await self.placing.placed(record, found)
        except InsufficientMargin as exc:
            ack = record.refused(exc, sent_now=True)
        self.acks[record.intent.key] = ack

    async def _find(
        self, records: Sequence[OrderRecord], *, just_sent: bool = False
    ) -> dict[int, VenueOrder]:
        """What the venue shows of these orders, by client order index: one read of the market's
        open orders, then a look-up of each one not among them (filled, cancelled, not yet visible).
        Orders ``just_sent`` are looked up one by one only once the venue shows some of them: before
        it has indexed the batch each look-up would miss, at a request apiece (they stay pending);
        and then by the venue's cheap look-up, as a miss only means "pending" there."""
        wanted = {r.client_order_index for r in records}
        if not wanted:
            return {}
        market = records[0].intent.market
        found: dict[int, VenueOrder] = {}
        if len(wanted) > 1:
            opened = await self.venue.open_orders(market)
            found = {o.client_order_index: o for o in opened if o.client_order_index in wanted}
            if just_sent and not found:
                return found
        missing = sorted(wanted - found.keys())
        look = self.venue.order_just_sent if just_sent else self.venue.order_by_client_index
        looked = await asyncio.gather(*(look(market, coi) for coi in missing))
        found.update({coi: order for coi, order in zip(missing, looked, strict=True) if order is not None})
        return found
