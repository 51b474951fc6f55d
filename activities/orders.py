"""Order activities on a signer queue: one venue API key, one slot, exactly one order per intent.

``place_order`` records the intent (and its client order index) before it submits; every retry
first looks the order up on the venue by that index and sends only if the venue never saw it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

from temporalio import activity
from temporalio.exceptions import ApplicationError

from perpflow.db.orders import IntentConflict, OrderRecord, Orders
from perpflow.db.risk import RiskStates
from perpflow.errors import PerpflowError
from perpflow.orders import (
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
    OrderIntent,
    OrderRef,
)
from perpflow.risk import GLOBAL_SCOPE, RiskLimits, RiskRejected, account_scope, check_order
from perpflow.venues.errors import (
    AuthError,
    InsufficientMargin,
    InvalidNonce,
    InvalidOrder,
    RateLimited,
    VenueError,
)
from perpflow.venues.lighter import constants as c
from perpflow.venues.lighter.client import LighterVenue
from perpflow.venues.types import OrderSpec, OrderStatus, VenueOrder

HEARTBEAT_EVERY_S = 2.0
_FINAL = (InsufficientMargin, InvalidOrder, RiskRejected, AuthError, IntentConflict)


class OrderPending(VenueError):
    """Sent moments ago and not visible yet: look again later rather than send twice."""


class OrderNotFound(PerpflowError):
    """Neither the ledger nor the venue knows this order."""


@contextmanager
def typed_failures() -> Iterator[None]:
    """Business failures end the activity; a 429 retries after the venue's back-off."""
    try:
        yield
    except RateLimited as exc:
        raise ApplicationError(
            str(exc), type="RateLimited", next_retry_delay=timedelta(seconds=exc.retry_after)
        ) from None
    except _FINAL as exc:
        raise ApplicationError(str(exc), type=type(exc).__name__, non_retryable=True) from None


def ack(record: OrderRecord, order: VenueOrder | None, *, sent_now: bool) -> OrderAck:
    if order is None:
        return OrderAck(
            key=record.intent.key,
            market=record.intent.market,
            client_order_index=record.client_order_index,
            status=OrderStatus.PENDING,
            remaining_size=record.intent.size,
            sent_now=sent_now,
        )
    return OrderAck.of(order, record.intent.key, sent_now=sent_now)


class OrderActivities:
    def __init__(self, venue: LighterVenue, orders: Orders, risk: RiskStates, limits: RiskLimits) -> None:
        self.venue = venue
        self.orders = orders
        self.risk = risk
        self.limits = limits

    def _check_account(self, account_index: int) -> None:
        if account_index != self.venue.account_index:
            raise InvalidOrder(f"this signer serves account {self.venue.account_index}, not {account_index}")

    @activity.defn(name="place_order")
    async def place_order(self, intent: OrderIntent) -> OrderAck:
        with typed_failures():
            self._check_account(intent.account_index)
            # The risk check's reads (risk states, the venue's position) overlap the claim and the
            # signature, so a hedge reaches the venue sooner; nothing is sent before its verdict.
            risk = asyncio.ensure_future(self._risk_check(intent))
            try:
                record = await self.orders.claim(intent)
                if record.submitted_at is not None:
                    seen = await self._look_for_earlier_send(record)
                    if seen is not None:
                        return seen
                return await self._send(record, risk)
            finally:
                risk.cancel()
                await asyncio.gather(risk, return_exceptions=True)

    async def _look_for_earlier_send(self, record: OrderRecord) -> OrderAck | None:
        """An earlier attempt sent this intent: return what the venue holds, if anything."""
        found = await self.venue.order_by_client_index(record.intent.market, record.client_order_index)
        if found is not None:
            await self.orders.mark_seen(record.intent.key, found)
            activity.logger.info("order %s already on the venue as %s", record.intent.key, found.order_index)
            return ack(record, found, sent_now=False)
        assert record.submitted_at is not None
        waited = (datetime.now(UTC) - record.submitted_at).total_seconds()
        if waited < c.INDEXING_GRACE_SECONDS:
            raise OrderPending(f"order {record.intent.key} sent {waited:.1f} s ago is not visible yet")
        activity.logger.warning("order %s never reached the venue; sending it again", record.intent.key)
        return None

    async def _risk_check(self, intent: OrderIntent) -> None:
        state = await self.risk.strictest(GLOBAL_SCOPE, account_scope(intent.venue, intent.account_index))
        position = (await self.venue.account()).position(intent.market).size
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

    async def _send(self, record: OrderRecord, risk: asyncio.Future[None]) -> OrderAck:
        intent = record.intent
        spec = OrderSpec(
            market=intent.market,
            client_order_index=record.client_order_index,
            side=intent.side,
            kind=intent.kind,
            tif=intent.tif,
            size=intent.size,
            price=intent.price,
            reduce_only=intent.reduce_only,
        )
        # A denied order's signed tx is dropped unsent; nonces only advance on a successful send.
        _, signed = await asyncio.gather(risk, self.venue.sign_order(spec))
        await self.orders.mark_submitting(
            intent.key, api_key_index=signed.api_key_index, nonce=signed.nonce, tx_hash=signed.tx_hash
        )
        try:
            await self.venue.submit(signed)
        except (InvalidNonce, RateLimited) as exc:
            # Refused before execution: nothing exists on the venue; the retry sends afresh.
            await self.orders.mark_unsent(intent.key, type(exc).__name__)
            if isinstance(exc, InvalidNonce):
                await self.venue.refresh_nonce()
            raise
        except (InsufficientMargin, InvalidOrder) as exc:
            await self.orders.mark_rejected(intent.key, str(exc))
            raise
        await self.orders.mark_sent(intent.key)
        found = await self.venue.order_by_client_index(intent.market, record.client_order_index)
        if found is not None:
            await self.orders.mark_seen(intent.key, found)
            if found.reason in c.MARGIN_STATUSES:
                raise InsufficientMargin(f"order {intent.key} {found.reason}")
        activity.logger.info(
            "order %s sent coi=%d nonce=%d", intent.key, record.client_order_index, signed.nonce
        )
        return ack(record, found, sent_now=True)

    @activity.defn(name="get_order")
    async def get_order(self, ref: OrderRef) -> OrderAck:
        with typed_failures():
            self._check_account(ref.account_index)
            return await self._current(ref)

    async def _lookup(self, ref: OrderRef) -> tuple[OrderRecord | None, VenueOrder | None]:
        """The ledger's record and the venue's order, read together."""
        coi = ref.client_order_index
        if coi is None:
            return None, None
        record, found = await asyncio.gather(
            self.orders.by_client_index(self.venue.name, ref.account_index, coi),
            self.venue.order_by_client_index(ref.market, coi),
        )
        return record, found

    def _ack(self, ref: OrderRef, record: OrderRecord | None, found: VenueOrder | None) -> OrderAck:
        if record is not None:
            return ack(record, found, sent_now=False)
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

    @activity.defn(name="cancel_order")
    async def cancel_order(self, ref: OrderRef) -> OrderAck:
        """Cancel and return the order's final state; cancelling a filled order is not an error."""
        with typed_failures():
            self._check_account(ref.account_index)
            current = await self._current(ref)
            if current.status in (OrderStatus.OPEN, OrderStatus.PENDING):
                # A cancel that races a fill or expiry is refused; the lookup below tells which.
                with contextlib.suppress(InvalidOrder):
                    await self.venue.cancel(ref.market, ref.index)
                current = await self._current(ref)
            return current

    @activity.defn(name="cancel_all")
    async def cancel_all(self, req: CancelAll) -> OpenOrders:
        with typed_failures():
            self._check_account(req.account_index)
            await self.venue.cancel_all(req.market)
            return await self._open(req.market)

    @activity.defn(name="modify_order")
    async def modify_order(self, req: Modify) -> OrderAck:
        with typed_failures():
            self._check_account(req.order.account_index)
            await self.venue.modify(req.order.market, req.order.index, req.size, req.price)
            return await self._current(req.order)

    @activity.defn(name="refresh_nonce")
    async def refresh_nonce(self, req: AccountQuery) -> NonceState:
        with typed_failures():
            self._check_account(req.account_index)
            nonce = await self.venue.refresh_nonce()
            assert self.venue.api_key_index is not None
            return NonceState(
                account_index=req.account_index, api_key_index=self.venue.api_key_index, next_nonce=nonce
            )

    @activity.defn(name="get_open_orders")
    async def get_open_orders(self, req: AccountQuery) -> OpenOrders:
        with typed_failures():
            self._check_account(req.account_index)
            return await self._open(req.market)

    async def _open(self, market: str | None) -> OpenOrders:
        orders = await self.venue.open_orders(market)
        return OpenOrders(orders=[OrderAck.of(o) for o in orders])

    @activity.defn(name="get_position")
    async def get_position(self, req: AccountQuery) -> AccountSnapshot:
        with typed_failures():
            self._check_account(req.account_index)
            return AccountSnapshot(account=await self.venue.account())

    @activity.defn(name="get_fills")
    async def get_fills(self, req: FillsQuery) -> FillsPage:
        with typed_failures():
            self._check_account(req.account_index)
            fills, cursor = await self.venue.fills(req.market, req.cursor)
            return FillsPage(fills=fills, cursor=cursor or req.cursor)

    @activity.defn(name="await_fill")
    async def await_fill(self, req: AwaitFill) -> OrderAck:
        """The polling safety net beside the market-data worker's fill signals."""
        with typed_failures():
            self._check_account(req.order.account_index)
            deadline = time.monotonic() + req.timeout_s
            while True:
                record, found = await self._lookup(req.order)
                current = self._ack(req.order, record, found)
                if (
                    current.filled_size > req.known_filled
                    or current.status.final
                    or time.monotonic() >= deadline
                ):
                    await self._seen(record, found)  # once per answer, not once per poll
                    return current
                pause = min(req.poll_s, max(0.0, deadline - time.monotonic()))
                await _heartbeating_sleep(pause, str(current.filled_size))

    def send_activities(self) -> list[Callable[..., object]]:
        """The ones that spend nonces: served from the key's one-slot queue."""
        return [self.place_order, self.cancel_order, self.cancel_all, self.modify_order, self.refresh_nonce]

    def read_activities(self) -> list[Callable[..., object]]:
        """Private reads (auth tokens, no nonces): served concurrently from the key's read queue."""
        return [self.get_order, self.get_open_orders, self.get_position, self.get_fills, self.await_fill]

    def all(self) -> list[Callable[..., object]]:
        return self.send_activities() + self.read_activities()


async def _heartbeating_sleep(seconds: float, details: str) -> None:
    """Sleep, heartbeating every HEARTBEAT_EVERY_S: a slow poll (poll_s up to 60 s) must not look
    like a dead worker to a heartbeat timeout of a few seconds."""
    end = time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        activity.heartbeat(details)
        await asyncio.sleep(min(left, HEARTBEAT_EVERY_S))
