"""Fills from the venue feed's account streams -> the owning workflow, as ``order_filled`` signals.

Ownership comes from the ``orders`` table (the intent is written before the order is sent, so
a fill of ours always finds its row) or from an ORDER watch, which may name its own signal.
Every fill is claimed in the fill log first, so the same fill arriving from an update, a
reconnect snapshot and a REST backfill is routed once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Collection
from decimal import Decimal

from perpflow.chain.backoff import Backoff
from perpflow.db.orders import Orders
from perpflow.marketdata.delivery import Delivery
from perpflow.marketdata.fill_log import FillLog
from perpflow.marketdata.models import Watch
from perpflow.signals import ORDER_FILLED, OrderFilled
from perpflow.venues.base import VenueName
from perpflow.venues.types import VenueFill

log = logging.getLogger(__name__)

Owner = tuple[str, str]  # (workflow id, signal name)
OrderKey = tuple[int, int]  # (account index, client order index)
KEEP_OWNERS = 100_000  # orders whose owner is kept in memory, far more than ever rest at once


class FillRouter:
    def __init__(
        self,
        orders: Orders,
        fill_log: FillLog,
        send: Callable[[Delivery], None],
        venue: VenueName,
        mid: Callable[[str], Decimal | None] = lambda market: None,
    ) -> None:
        """``mid``: a market's mid now, carried by the fill (``OrderFilled.mid``)."""
        self.orders, self.fill_log, self._send, self.venue = orders, fill_log, send, venue
        self._mid = mid
        self.order_watches: dict[OrderKey, Owner] = {}
        # Positive only (a miss is re-read), oldest dropped first: the ledger answers for those.
        self._owners: dict[OrderKey, Owner] = {}
        self._read_upto: int | None = None  # the last order row read ahead
        self.routed = 0
        self.ignored = 0

    def sync_watches(self, watches: list[Watch]) -> None:
        self.order_watches = {
            (w.spec.account_index, w.spec.client_order_index): (w.spec.workflow_id, w.spec.signal)
            for w in watches
            if w.spec.account_index is not None and w.spec.client_order_index is not None
        }

    async def read_ahead(self, accounts: Collection[int]) -> None:
        """The owners of the orders claimed since the last read, before their fills come: a fill
        then goes out without a ledger round trip (one claimed since is looked up as before)."""
        owners, self._read_upto = await self.orders.owners_since(self.venue, accounts, self._read_upto)
        for key, workflow_id in owners.items():
            self._remember(key, (workflow_id, ORDER_FILLED))

    def _remember(self, key: OrderKey, owner: Owner) -> None:
        self._owners[key] = owner
        if len(self._owners) > KEEP_OWNERS:
            del self._owners[next(iter(self._owners))]

    async def on_fills(self, account_index: int, fills: list[VenueFill]) -> None:
        for f in fills:
            if f.client_order_index and self.fill_log.claim(f.fill_id):
                await self._route(account_index, f)

    async def _route(self, account_index: int, f: VenueFill) -> None:
        try:
            owner = await self._owner(account_index, f.client_order_index)
        except BaseException:
            self.fill_log.release(f.fill_id)
            raise
        if owner is None:
            self.ignored += 1
            self.fill_log.done(account_index, f.fill_id)
            log.debug("fill %s coi=%d is not a perpflow order", f.fill_id, f.client_order_index)
            return
        workflow_id, signal = owner
        self.routed += 1
        log.info("fill %s coi=%d -> %s", f.fill_id, f.client_order_index, workflow_id)
        self._send(
            Delivery(
                workflow_id=workflow_id,
                signal=signal,
                payload=_payload(self.venue, account_index, f, self._mid(f.market)),
                key=f.fill_id,
                kind="fill",
                on_done=lambda: self.fill_log.done(account_index, f.fill_id),
            )
        )

    async def _owner(self, account_index: int, coi: int) -> Owner | None:
        key = (account_index, coi)
        owner = self.order_watches.get(key) or self._owners.get(key)
        if owner is not None:
            return owner
        backoff = Backoff(0.1, 5.0)
        while True:
            try:
                record = await self.orders.by_client_index(self.venue, account_index, coi)
                break
            except Exception as exc:  # the ledger is down: the fill waits, it is never dropped
                delay = backoff.next_delay()
                log.warning("ledger lookup coi=%d failed (%s); retry in %.1f s", coi, exc, delay)
                await asyncio.sleep(delay)
        if record is None:
            return None
        owner = (record.intent.workflow_id, ORDER_FILLED)
        self._remember(key, owner)
        return owner


def _payload(venue: VenueName, account_index: int, f: VenueFill, mid: Decimal | None) -> OrderFilled:
    return OrderFilled(
        fill_id=f.fill_id,
        venue=venue,
        account_index=account_index,
        market=f.market,
        client_order_index=f.client_order_index,
        order_index=f.order_index,
        side=f.side,
        price=f.price,
        size=f.size,
        fee=f.fee,
        is_maker=f.is_maker,
        at=f.at,
        mid=mid,
    )
