"""What the gateway keeps in the ledger: one record per intent, moved only along the state table.

``perpflow.db.orders.Orders`` is the one implementation; the gateway (with the steps ``placing``
and ``batch`` share with it) is its one caller of the ``mark_*`` writers, so the order's state has
one writer.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Protocol

from pydantic import AwareDatetime

from perpflow.models import Model
from perpflow.orders.models import OrderAck, OrderIntent
from perpflow.orders.status import OrderState
from perpflow.risk import TradingState
from perpflow.venues.base import SignedTx
from perpflow.venues.types import OrderSpec, OrderStatus, VenueOrder


class OrderRecord(Model):
    intent: OrderIntent
    client_order_index: int
    status: OrderState
    reason: str | None = None
    order_index: int | None = None
    nonce: int | None = None
    submitted_at: AwareDatetime | None = None
    # The signed order as last stored before a send (kept after a refused send: the same bytes go
    # next time while the venue takes them); None before the first signature.
    signed: SignedTx | None = None

    def spec(self) -> OrderSpec:
        """The order as the venue signs it."""
        intent = self.intent
        return OrderSpec(
            market=intent.market,
            client_order_index=self.client_order_index,
            side=intent.side,
            kind=intent.kind,
            tif=intent.tif,
            size=intent.size,
            price=intent.price,
            reduce_only=intent.reduce_only,
        )

    def refused(self, exc: Exception, *, sent_now: bool) -> OrderAck:
        """Refused as place_order would have failed: never live on the venue."""
        return OrderAck(
            key=self.intent.key,
            market=self.intent.market,
            client_order_index=self.client_order_index,
            status=OrderStatus.CANCELED,
            reason=str(exc),
            sent_now=sent_now,
            refusal=type(exc).__name__,
        )

    def ack(self, found: VenueOrder | None, *, sent_now: bool) -> OrderAck:
        """The venue's view of the order if it has one, else a pending order of the full size."""
        if found is not None:
            return OrderAck.of(found, self.intent.key, sent_now=sent_now)
        return OrderAck(
            key=self.intent.key,
            market=self.intent.market,
            client_order_index=self.client_order_index,
            status=OrderStatus.PENDING,
            remaining_size=self.intent.size,
            sent_now=sent_now,
            unseen=True,
        )


class Claimed(Model):
    """Intents claimed together, and the trading state the risk gate holds them to: the strictest
    over the scopes the claim was asked to read, read with the claim itself."""

    records: list[OrderRecord]
    state: TradingState


class OrderLedger(Protocol):
    async def claim(self, intent: OrderIntent) -> OrderRecord:
        """The record for ``intent.key``, created with its client order index if new."""
        ...

    async def claim_all(self, intents: Sequence[OrderIntent], scopes: Collection[str]) -> Claimed:
        """``claim`` for each intent of a batch, in their order, and the strictest trading state over
        ``scopes`` read in the same round trip (the risk gate's read: no older than the claim, and
        no round trip of its own before a send)."""
        ...

    async def by_client_index(
        self, venue: str, account_index: int, client_order_index: int
    ) -> OrderRecord | None: ...

    async def keys_by_client_index(
        self, venue: str, account_index: int, client_order_indexes: Collection[int]
    ) -> dict[int, str]: ...

    async def mark_submitting(self, key: str, tx: SignedTx) -> None:
        """The signed bytes stored, committed before the send: from here on a retry must look
        before it sends again, and a resend repeats these bytes while the venue takes them."""
        ...

    async def mark_all_submitting(self, signed: Sequence[tuple[str, SignedTx]]) -> None:
        """``mark_submitting`` for each (key, signed order) of a chunk, in one round trip."""
        ...

    async def mark_unsent(self, key: str, reason: str) -> None:
        """The venue refused the send outright (bad nonce, 429): nothing of it exists there. The
        signed bytes stay: the next send repeats them while the venue takes them."""
        ...

    async def mark_rejected(self, key: str, reason: str) -> None: ...

    async def mark_sent(self, key: str) -> None: ...

    async def mark_seen(self, key: str, order: VenueOrder) -> None:
        """What a look-up found on the venue; a report older than the ledger's is dropped."""
        ...
