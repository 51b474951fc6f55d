"""What placing one order and placing a batch share: the signer's account, the claim, the risk gate,
the look-up before any resend, and the ledger's moves around a send."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from decimal import Decimal

from perpflow.orders.errors import OrderPending
from perpflow.orders.ledger import Claimed, OrderLedger, OrderRecord
from perpflow.orders.models import OrderAck, OrderIntent
from perpflow.orders.status import OrderState
from perpflow.risk import GLOBAL_SCOPE, RiskLimits, TradingState, account_scope, check_order
from perpflow.venues.base import SignedTx, Venue
from perpflow.venues.errors import InsufficientMargin, InvalidNonce, InvalidOrder
from perpflow.venues.types import VenueOrder

log = logging.getLogger(__name__)


def _resendable(record: OrderRecord, now: datetime) -> SignedTx | None:
    """The record's stored bytes, if the venue still takes them again."""
    tx = record.signed
    return tx if tx is not None and tx.resend_until is not None and now < tx.resend_until else None


class Placing:
    """One signer's account on one venue, its ledger of orders (and of trading states) and its risk
    limits."""

    def __init__(self, venue: Venue, orders: OrderLedger, limits: RiskLimits) -> None:
        self.venue = venue
        self.orders = orders
        self.limits = limits

    def serve(self, account_index: int) -> None:
        if account_index != self.venue.account_index:
            raise InvalidOrder(f"this signer serves account {self.venue.account_index}, not {account_index}")

    @contextlib.asynccontextmanager
    async def position_meanwhile(self, market: str) -> AsyncIterator[asyncio.Future[Decimal]]:
        """The venue's position in ``market``, read while the caller claims (signs, stores): awaited
        for the risk verdict before any send, cancelled if the caller ends without one."""
        position = asyncio.ensure_future(self.venue.position(market))
        try:
            yield position
        finally:
            position.cancel()
            await asyncio.gather(position, return_exceptions=True)

    async def claim(self, intents: Sequence[OrderIntent]) -> Claimed:
        """The intents claimed (one account's), with the strictest trading state over their account
        read by the claim itself: the risk gate's ledger read costs no round trip of its own."""
        first = intents[0]
        return await self.orders.claim_all(
            intents, (GLOBAL_SCOPE, account_scope(first.venue, first.account_index))
        )

    def check(self, intent: OrderIntent, state: TradingState, position: Decimal) -> None:
        check_order(
            market=intent.market,
            side=intent.side,
            size=intent.size,
            price=intent.price,
            reduce_only=intent.reduce_only,
            position=position,
            limits=self.limits,
            state=state,
        )

    async def earlier_send(self, record: OrderRecord, found: VenueOrder | None) -> OrderAck | None:
        """An earlier attempt sent this intent: what the venue holds of it (``found``), if anything."""
        key = record.intent.key
        if found is not None:
            await self.orders.mark_seen(key, found)
            log.info("order %s already on the venue as %s", key, found.order_index)
            return record.ack(found, sent_now=False)
        assert record.submitted_at is not None
        waited = (datetime.now(UTC) - record.submitted_at).total_seconds()
        if waited < self.venue.indexing_grace_s:
            raise OrderPending(f"order {key} sent {waited:.1f} s ago is not visible yet")
        log.warning("order %s never reached the venue; sending it again", key)
        return None

    async def signed(self, records: Sequence[OrderRecord]) -> list[SignedTx]:
        """The bytes to send: signed once, so the ones an earlier attempt stored go again as they
        are while the venue takes them (GRVT drops a repeat as a duplicate, whereas a new signature
        on another day is a new order). Otherwise all are signed now, together (consecutive nonces)."""
        now = datetime.now(UTC)
        kept = [tx for record in records if (tx := _resendable(record, now)) is not None]
        if len(kept) == len(records):
            for record in records:
                log.info("order %s: its stored signed bytes go again", record.intent.key)
            return kept
        return await self.venue.sign_batch([r.spec() for r in records])

    async def unsignable(self, record: OrderRecord, exc: InvalidOrder) -> OrderAck:
        """The venue cannot sign it as specified (a price or size it cannot represent): refused
        before any send, for good, so its row is not left an intent the reconciler waits on."""
        if record.status.may_become(OrderState.REJECTED):
            await self.orders.mark_rejected(record.intent.key, str(exc))
        log.info("order %s refused unsigned: %s", record.intent.key, exc)
        return record.refused(exc, sent_now=False)

    async def unsent(self, records: Sequence[OrderRecord], exc: Exception) -> None:
        """Refused before execution (bad nonce, 429): nothing exists on the venue; sent again later."""
        await asyncio.gather(*(self.orders.mark_unsent(r.intent.key, type(exc).__name__) for r in records))
        if isinstance(exc, InvalidNonce):
            await self.venue.refresh_nonce()

    async def placed(self, record: OrderRecord, found: VenueOrder | None) -> OrderAck:
        """Sent just now: recorded as the venue shows it (one write, no "sent" before it), or as
        sent while it does not show yet. Cancelled for margin raises."""
        key = record.intent.key
        if found is None:
            await self.orders.mark_sent(key)
        else:
            await self.orders.mark_seen(key, found)
            if self.venue.refused_for_margin(found):
                raise InsufficientMargin(f"order {key} {found.reason}")
        return record.ack(found, sent_now=True)
