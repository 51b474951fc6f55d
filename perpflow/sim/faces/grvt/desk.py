"""The face's order desk: accepted orders into the engine, cancels, and lookups by either id.

GRVT acknowledges a create with ``order_id "0x00"`` and ``PENDING``; the outcome shows on the
order's state and the websocket streams. A byte-identical resend of a signed order is ignored
(answered with the same acknowledgement, no second order) unless its client_order_id is still
active, which is 2012 first (grvt-api.md §5, §12).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from functools import partial
from typing import Any

from perpflow.sim.enums import CancelReason, OrderKind, Side, TimeInForce
from perpflow.sim.errors import Rejected, RejectReason
from perpflow.sim.faces.grvt import wire
from perpflow.sim.faces.grvt.errors import err
from perpflow.sim.faces.grvt.instruments import Instrument
from perpflow.sim.faces.grvt.intake import Intake, check_notional, check_reduce_only
from perpflow.sim.faces.grvt.records import FACE_ONLY_BASE, OrderRecord
from perpflow.sim.order import NewOrder, Order
from perpflow.sim.venue import Venue

RECORDS_KEPT = 200_000
DIGESTS_KEPT = 200_000
MAX_CANCEL_TTL_MS = 5000
DEFAULT_CANCEL_TTL_MS = 1000  # "0" asks for the venue's default, which the spec leaves unnamed


class OrderDesk:
    def __init__(self, venue: Venue) -> None:
        self.venue = venue
        self.records: OrderedDict[int, OrderRecord] = OrderedDict()
        self.pending: dict[tuple[int, int], OrderRecord] = {}  # deferred while paused
        self.face_only: dict[int, list[OrderRecord]] = {}  # ended by the face, per account
        self.cancel_intents: dict[tuple[int, int], float] = {}  # (account, cid) -> monotonic deadline
        self._digests: OrderedDict[str, int] = OrderedDict()
        self._next_face_only = FACE_ONLY_BASE

    # ---- create ---------------------------------------------------------------------------
    def create(self, intake: Intake) -> dict[str, Any]:
        engine = self.venue.engine
        check_reduce_only(engine, intake)
        check_notional(engine, intake)
        acct = engine.account(intake.account)
        if (
            intake.client_order_id in acct.by_client
            or (intake.account, intake.client_order_id) in self.pending
        ):
            raise err(2012)
        rec = OrderRecord(
            order_index=0,
            account=intake.account,
            sub_account_id=intake.sub_account_id,
            client_order_id=intake.client_order_id,
            instrument=intake.instrument,
            tif=intake.tif,
            is_market=intake.is_market,
            request=intake.request,
            create_time_ns=time.time_ns(),
        )
        if self._seen(intake.signed.digest):
            return self.ack(rec)  # a duplicate: acknowledged, ignored
        if self.venue.paused:
            self.pending[(rec.account, rec.client_order_id)] = rec
            self.venue.defer(partial(self._apply, rec, intake))
        else:
            self._apply(rec, intake)
        return self.ack(rec)

    def ack(self, rec: OrderRecord) -> dict[str, Any]:
        body = wire.order(rec.instrument, rec.sub_account_id, rec, None)
        body["order_id"] = "0x00"
        body["state"] = wire.order_state(rec.instrument, _pending_view(rec), None)
        return body

    def _seen(self, digest: str) -> bool:
        if digest in self._digests:
            return True
        self._digests[digest] = 1
        if len(self._digests) > DIGESTS_KEPT:
            self._digests.popitem(last=False)
        return False

    def _apply(self, rec: OrderRecord, intake: Intake) -> None:
        self.pending.pop((rec.account, rec.client_order_id), None)
        if rec.outcome is not None:  # cancelled while it waited
            self._end_face_only(rec, *rec.outcome)
            return
        if intake.tif == "FILL_OR_KILL" and self._fillable(intake) < intake.lots:
            self._end_face_only(rec, "CANCELLED", "FOK_CANCEL")
            return
        try:
            order = self.venue.engine.submit(intake.account, self._new_order(intake))
        except Rejected as exc:
            reason = (
                "OVERLAPPING_CLIENT_ORDER_ID"
                if exc.reason is RejectReason.DUPLICATE_CLIENT_ORDER
                else "UNSPECIFIED"
            )
            self._end_face_only(rec, "REJECTED", reason)
            return
        rec.engine, rec.order_index = order, order.order_index
        self._keep(rec)
        wanted_dead = self.cancel_intents.pop((rec.account, rec.client_order_id), 0.0) > time.monotonic()
        if wanted_dead and order.status.is_active:
            self.venue.engine.cancel(order)

    def _end_face_only(self, rec: OrderRecord, status: str, reason: str) -> None:
        rec.order_index, self._next_face_only = self._next_face_only, self._next_face_only + 1
        rec.outcome, rec.update_time_ns = (status, reason), time.time_ns()
        self._keep(rec)
        self.face_only.setdefault(rec.account, []).append(rec)
        self.venue.engine.dirty_accounts.add(rec.account)

    def _keep(self, rec: OrderRecord) -> None:
        self.records[rec.order_index] = rec
        if len(self.records) > RECORDS_KEPT:
            self.records.popitem(last=False)

    def _new_order(self, intake: Intake) -> NewOrder:
        side = Side.BUY if intake.is_buy else Side.SELL
        if intake.is_market:
            kind, tif, price = (
                OrderKind.MARKET,
                TimeInForce.IMMEDIATE_OR_CANCEL,
                self._worst_price(intake, side),
            )
        else:
            kind, price = OrderKind.LIMIT, intake.ticks
            tif = {
                "GOOD_TILL_TIME": TimeInForce.POST_ONLY if intake.post_only else TimeInForce.GOOD_TILL_TIME,
            }.get(intake.tif, TimeInForce.IMMEDIATE_OR_CANCEL)
        resting = tif in (TimeInForce.GOOD_TILL_TIME, TimeInForce.POST_ONLY)
        return NewOrder(
            market_id=intake.instrument.spec.market_id,
            client_order_index=intake.client_order_id,
            base_amount=intake.lots,
            price=price,
            side=side,
            kind=kind,
            tif=tif,
            reduce_only=intake.reduce_only,
            expiry_ms=intake.signed.expiration_ns // 1_000_000 if resting else 0,
            nonce=intake.signed.nonce,
        )

    def _worst_price(self, intake: Intake, side: Side) -> int:
        """A market order's price limit: far through the book, as its notional still allows."""
        engine, spec = self.venue.engine, intake.instrument.spec
        book, mark = engine.books[spec.market_id], engine.marks[spec.market_id]
        if side is Side.BUY:
            return 2 * max(mark, book.asks.best() or 0)
        floor = -(-spec.min_quote_amount // intake.lots)
        return max(1, floor, min(mark, book.bids.best() or mark) // 2)

    def _fillable(self, intake: Intake) -> int:
        """What a fill-or-kill could take now: other accounts' live orders at its price or better."""
        engine = self.venue.engine
        side = Side.SELL if intake.is_buy else Side.BUY
        price = intake.ticks or self._worst_price(intake, side.opposite)
        book_side, now, total = engine.books[intake.instrument.spec.market_id].side(side), engine.clock(), 0
        for level_price in book_side.iter_prices():
            if level_price > price if intake.is_buy else level_price < price:
                break
            for o in book_side.levels[level_price].orders:
                if o.account != intake.account and not (o.expiry_ms and o.expiry_ms <= now):
                    total += o.remaining
        return total

    # ---- lookups and cancels --------------------------------------------------------------
    def find(
        self, account: int, order_index: int | None, cid: int | None
    ) -> tuple[OrderRecord | None, Order | None]:
        """An order of ``account`` by id, or by client order id: active first, then pending, then the
        most recent ended one (ids are only unique among active orders)."""
        engine = self.venue.engine
        if order_index:
            rec = self.records.get(order_index)
            o = engine.orders.get(order_index)
            if o is not None and o.account == account:
                return rec, o
            return (
                (rec, None)
                if rec is not None and rec.account == account and rec.engine is None
                else (None, None)
            )
        assert cid is not None
        o = engine.account(account).by_client.get(cid)
        if o is not None:
            return self.records.get(o.order_index), o
        if (account, cid) in self.pending:
            return self.pending[(account, cid)], None
        for rec, o in self.ended(account):
            if (o.client_order_index if o is not None else rec.client_order_id if rec else None) == cid:
                return rec, o
        return None, None

    def ended(self, account: int) -> list[tuple[OrderRecord | None, Order | None]]:
        """The account's ended orders, newest first (engine history and the face's own)."""
        engine = self.venue.engine
        out: list[tuple[int, tuple[OrderRecord | None, Order | None]]] = [
            (o.updated_ms * 1_000_000, (self.records.get(o.order_index), o))
            for o in engine.inactive.get(account, ())
        ]
        out += [(r.update_time_ns, (r, None)) for r in self.face_only.get(account, [])]
        out.sort(key=lambda pair: pair[0], reverse=True)
        return [pair[1] for pair in out]

    def cancel(self, account: int, order_index: int | None, cid: int | None, ttl_ms: object) -> None:
        rec, o = self.find(account, order_index, cid)
        if o is not None and o.status.is_active:
            self.venue.engine.cancel(o)
            return
        if rec is not None and rec.engine is None and rec.outcome is None:  # waiting while paused
            rec.outcome = ("CANCELLED", "CLIENT_CANCEL")
            return
        if cid is not None and ttl_ms not in (None, ""):
            ttl = int(str(ttl_ms)) // 100 * 100 or DEFAULT_CANCEL_TTL_MS
            if ttl > MAX_CANCEL_TTL_MS:
                raise err(2301)
            self.cancel_intents[(account, cid)] = time.monotonic() + ttl / 1000
            return
        raise err(1004)

    def cancel_all(self, account: int, instruments: list[Instrument]) -> None:
        engine = self.venue.engine
        markets = {i.spec.market_id for i in instruments}
        for o in list(engine.account(account).open_orders.values()):
            if o.market_id in markets:
                engine.deactivate(o, CancelReason.CLIENT_ALL)
        for rec in [r for (a, _), r in self.pending.items() if a == account]:
            if rec.instrument.spec.market_id in markets:
                rec.outcome = ("CANCELLED", "CLIENT_BULK_CANCEL")

    def reset(self) -> None:
        self.records.clear()
        self.pending.clear()
        self.face_only.clear()
        self.cancel_intents.clear()
        self._digests.clear()


def _pending_view(rec: OrderRecord) -> OrderRecord:
    """The record as its acknowledgement shows it: nothing decided yet."""
    return OrderRecord(
        0, rec.account, rec.sub_account_id, rec.client_order_id, rec.instrument, rec.tif,
        rec.is_market, rec.request, rec.create_time_ns,
    )  # fmt: skip
