"""Order activities on a signer queue (one venue API key, one slot): shims over the order gateway."""

from __future__ import annotations

from collections.abc import Callable

from temporalio import activity

from activities.failures import typed_failures
from perpflow.orders import models as m
from perpflow.orders.gateway import OrderGateway
from perpflow.orders.ledger import OrderLedger
from perpflow.risk import RiskLimits
from perpflow.venues.base import Venue


class OrderActivities:
    def __init__(self, venue: Venue, orders: OrderLedger, limits: RiskLimits) -> None:
        self.gateway = OrderGateway(venue, orders, limits)

    @activity.defn(name="place_order")
    async def place_order(self, intent: m.OrderIntent) -> m.OrderAck:
        return await typed_failures(self.gateway.place(intent))

    @activity.defn(name="place_orders")
    async def place_orders(self, batch: m.OrderBatch) -> m.OrderAcks:
        return await typed_failures(self.gateway.place_batch(batch))

    @activity.defn(name="get_order")
    async def get_order(self, ref: m.OrderRef) -> m.OrderAck:
        return await typed_failures(self.gateway.order(ref))

    @activity.defn(name="cancel_order")
    async def cancel_order(self, ref: m.OrderRef) -> m.OrderAck:
        return await typed_failures(self.gateway.cancel(ref))

    @activity.defn(name="cancel_all")
    async def cancel_all(self, req: m.CancelAll) -> m.OpenOrders:
        return await typed_failures(self.gateway.cancel_all(req))

    @activity.defn(name="modify_order")
    async def modify_order(self, req: m.Modify) -> m.OrderAck:
        return await typed_failures(self.gateway.modify(req))

    @activity.defn(name="refresh_nonce")
    async def refresh_nonce(self, req: m.AccountQuery) -> m.NonceState:
        return await typed_failures(self.gateway.refresh_nonce(req))

    @activity.defn(name="get_open_orders")
    async def get_open_orders(self, req: m.AccountQuery) -> m.OpenOrders:
        return await typed_failures(self.gateway.open_orders(req))

    @activity.defn(name="get_position")
    async def get_position(self, req: m.AccountQuery) -> m.AccountSnapshot:
        return await typed_failures(self.gateway.position(req))

    @activity.defn(name="get_fills")
    async def get_fills(self, req: m.FillsQuery) -> m.FillsPage:
        return await typed_failures(self.gateway.fills(req))

    @activity.defn(name="await_fill")
    async def await_fill(self, req: m.AwaitFill) -> m.OrderAck:
        return await typed_failures(self.gateway.await_fill(req, activity.heartbeat))

    def send_activities(self) -> list[Callable[..., object]]:
        """The ones that spend nonces: served from the key's one-slot queue."""
        placing: list[Callable[..., object]] = [self.place_order, self.place_orders]
        return [*placing, self.cancel_order, self.cancel_all, self.modify_order, self.refresh_nonce]

    def read_activities(self) -> list[Callable[..., object]]:
        """Private reads (auth tokens, no nonces): served concurrently from the key's read queue."""
        return [self.get_order, self.get_open_orders, self.get_position, self.get_fills, self.await_fill]

    def all(self) -> list[Callable[..., object]]:
        return self.send_activities() + self.read_activities()
