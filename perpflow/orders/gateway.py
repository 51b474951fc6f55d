"""The exactly-once order gateway: one signer's orders on one venue account.

An intent is claimed in the ledger (its client order index fixed once) before anything is signed;
the signed transaction itself is stored before it is sent; a retry first looks the order up on the
venue by that index, and sends again only if the venue has not seen it once its indexing grace is
over: the stored bytes as they are where the venue takes them again, else signed anew. Every order
state the ledger holds is written from here, through the steps ``placing`` shares with ``batch``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from decimal import Decimal

from perpflow.orders import observe
from perpflow.orders.batch import BatchPlacement
from perpflow.orders.errors import OrderNotFound
from perpflow.orders.ledger import OrderRecord
from perpflow.orders.models import (
    AccountQuery,
    AccountSnapshot,
    AwaitFill,
    CancelAll,
    FillsPage,
    FillsQuery,
    Modify,
    NonceState,
    OpenOrders,
    OrderAck,
    OrderAcks,
    OrderBatch,
    OrderIntent,
    OrderRef,
)
from perpflow.orders.placing import Placing
from perpflow.orders.status import OrderState
from perpflow.risk import TradingState
from perpflow.venues.errors import InsufficientMargin, InvalidNonce, InvalidOrder, RateLimited
from perpflow.venues.types import OrderStatus, VenueOrder

log = logging.getLogger(__name__)

# await_fill polls up to 60 s apart against a heartbeat timeout of a few seconds.
HEARTBEAT_EVERY_S = 2.0


class OrderGateway(Placing):
    """Every order operation of one signer: its own account only, each call one payload in, one out."""

    async def place(self, intent: OrderIntent) -> OrderAck:
        try:
            ack = await self._place(intent)
        except BaseException as exc:
            observe.failed(intent, exc)
            raise
        observe.acked(intent, ack)
        return ack

    async def _place(self, intent: OrderIntent) -> OrderAck:
        self.serve(intent.account_index)
        # The venue's position is read meanwhile: the claim, the signature and the store; the trading
        # state comes with the claim. So a hedge reaches the venue sooner; nothing is sent before the
        # verdict on both.
        async with self.position_meanwhile(intent.market) as position:
            claimed = await self.claim([intent])
            (record,) = claimed.records
            if record.status is OrderState.REJECTED and record.submitted_at is None:
                raise InvalidOrder(f"order {intent.key} refused unsigned: {record.reason}")
            if record.submitted_at is not None:
                found = await self.venue.order_by_client_index(intent.market, record.client_order_index)
                seen = await self.earlier_send(record, found)
                if seen is not None:
                    return seen
            return await self._send(record, claimed.state, position)

    async def place_batch(self, batch: OrderBatch) -> OrderAcks:
        """Each intent exactly once, as ``place`` places one, in the venue's batch transactions."""
        try:
            acks = await BatchPlacement(self).place(batch)
        except BaseException as exc:
            observe.failed(batch.intents[0], exc)
            raise
        for intent, ack in zip(batch.intents, acks.acks, strict=True):
            observe.acked(intent, ack)
        return acks

    async def _send(self, record: OrderRecord, state: TradingState, position: Awaitable[Decimal]) -> OrderAck:
        intent = record.intent
        try:
            (signed,) = await self.signed([record])
        except InvalidOrder as exc:
            await self.unsignable(record, exc)  # never sent: refused for good
            raise
        await self.orders.mark_submitting(intent.key, signed)
        try:
            self.check(intent, state, await position)  # the verdict, before the send
        except BaseException as exc:
            # Denied, or no verdict (a read failed, the activity was cancelled): never sent, so the
            # intent goes back to claimed. The next attempt is checked again and sends at once,
            # without waiting out the venue's indexing grace. Nonces only advance on a send.
            await asyncio.shield(self.orders.mark_unsent(intent.key, type(exc).__name__))
            raise
        try:
            await self.venue.submit(signed)
        except (InvalidNonce, RateLimited) as exc:
            await self.unsent([record], exc)
            raise
        except (InsufficientMargin, InvalidOrder) as exc:
            await self.orders.mark_rejected(intent.key, str(exc))
            raise
        # Only a cheap look: not showing yet is pending; the full look-up waits for a retry. Until
        # ``placed`` records what it found, the row says SUBMITTING: a retry looks before it sends.
        found = await self.venue.order_just_sent(intent.market, record.client_order_index)
        ack = await self.placed(record, found)
        log.info("order %s sent coi=%d nonce=%d", intent.key, record.client_order_index, signed.nonce)
        return ack

    async def order(self, ref: OrderRef) -> OrderAck:
        self.serve(ref.account_index)
        return await self._current(ref)

    async def _lookup(self, ref: OrderRef) -> tuple[OrderRecord | None, VenueOrder | None]:
        """The ledger's record and the venue's order, read together."""
        coi = ref.client_order_index
        if coi is None:
            return None, None
        return await asyncio.gather(
            self.orders.by_client_index(self.venue.name, ref.account_index, coi),
            self.venue.order_by_client_index(ref.market, coi),
        )

    @staticmethod
    def _ack(ref: OrderRef, record: OrderRecord | None, found: VenueOrder | None) -> OrderAck:
        if record is not None:
            return record.ack(found, sent_now=False)
        if found is None:
            raise OrderNotFound(f"no order {ref.index} on {ref.market} for account {ref.account_index}")
        return OrderAck.of(found)

    async def _seen(self, record: OrderRecord | None, found: VenueOrder | None) -> None:
        if record is not None and found is not None:
            await self.orders.mark_seen(record.intent.key, found)

    async def _current(self, ref: OrderRef) -> OrderAck:
        record, found = await self._lookup(ref)
        await self._seen(record, found)
        return self._ack(ref, record, found)

    async def cancel(self, ref: OrderRef) -> OrderAck:
        """Cancel and return the order's final state; cancelling a filled order is not an error."""
        self.serve(ref.account_index)
        current = await self._current(ref)
        if current.status in (OrderStatus.OPEN, OrderStatus.PENDING):
            # A cancel that races a fill or expiry is refused; the look-up below tells which.
            with contextlib.suppress(InvalidOrder):
                await self.venue.cancel(ref.market, ref.index)
            current = await self._current(ref)
        return current

    async def cancel_all(self, req: CancelAll) -> OpenOrders:
        self.serve(req.account_index)
        await self.venue.cancel_all(req.market)
        return await self._open(req.market)

    async def modify(self, req: Modify) -> OrderAck:
        self.serve(req.order.account_index)
        await self.venue.modify(req.order.market, req.order.index, req.size, req.price)
        return await self._current(req.order)

    async def refresh_nonce(self, req: AccountQuery) -> NonceState:
        self.serve(req.account_index)
        nonce = await self.venue.refresh_nonce()
        assert self.venue.api_key_index is not None
        return NonceState(
            account_index=req.account_index, api_key_index=self.venue.api_key_index, next_nonce=nonce
        )

    async def open_orders(self, req: AccountQuery) -> OpenOrders:
        self.serve(req.account_index)
        return await self._open(req.market)

    async def _open(self, market: str | None) -> OpenOrders:
        """The account's open orders, each with its business key where perpflow placed it (a
        workflow tells its own orders by key; a manual order has none)."""
        orders = await self.venue.open_orders(market)
        keys = await self.orders.keys_by_client_index(
            self.venue.name, self.venue.account_index, [o.client_order_index for o in orders]
        )
        return OpenOrders(orders=[OrderAck.of(o, keys.get(o.client_order_index, "")) for o in orders])

    async def position(self, req: AccountQuery) -> AccountSnapshot:
        self.serve(req.account_index)
        return AccountSnapshot(account=await self.venue.account())

    async def fills(self, req: FillsQuery) -> FillsPage:
        self.serve(req.account_index)
        fills, cursor = await self.venue.fills(req.market, req.cursor)
        return FillsPage(fills=fills, cursor=cursor or req.cursor)

    async def await_fill(self, req: AwaitFill, heartbeat: Callable[[str], None]) -> OrderAck:
        """Poll until the order fills beyond ``known_filled``, ends, or time is up: the safety net
        beside the market-data worker's fill signals."""
        self.serve(req.order.account_index)
        deadline = time.monotonic() + req.timeout_s
        while True:
            record, found = await self._lookup(req.order)
            current = self._ack(req.order, record, found)
            if current.filled_size > req.known_filled or current.status.final or time.monotonic() >= deadline:
                await self._seen(record, found)  # once per answer, not once per poll
                return current
            pause = min(req.poll_s, max(0.0, deadline - time.monotonic()))
            await _heartbeating_sleep(pause, heartbeat, str(current.filled_size))


async def _heartbeating_sleep(seconds: float, heartbeat: Callable[[str], None], details: str) -> None:
    """Sleep, heartbeating every HEARTBEAT_EVERY_S: a slow poll must not look like a dead worker."""
    end = time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        heartbeat(details)
        await asyncio.sleep(min(left, HEARTBEAT_EVERY_S))
