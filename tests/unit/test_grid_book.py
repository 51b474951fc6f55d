"""A grid session's book: what it places, how fills re-arm the ladder, stops, rebuilds, reconciles,
and the invariants of a long random walk (every fill owes exactly one opposite order one level
away; the position is the sum of the holds; no key is ever placed twice)."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from perpflow.grid.book import KEEP_REJECTED, GridBook, GridSessionInput
from perpflow.grid.config import Adjust, GridConfig, StopAction
from perpflow.grid.levels import LevelState
from perpflow.grid.models import GridState, Placement, Plan, StopReason
from perpflow.grid.orders import LOST_AFTER_S
from perpflow.models import RejectedCommand
from perpflow.orders import OrderAck
from perpflow.signals import OrderFilled
from perpflow.venues.types import MarketInfo, OrderKind, OrderStatus, Side

T0 = datetime(2026, 11, 30, 12, tzinfo=UTC)
ETH = MarketInfo(
    symbol="ETH", market_id=0, size_decimals=4, price_decimals=2,
    min_base_amount=Decimal("0.005"), min_quote_amount=Decimal(10), maker_fee=Decimal("0.002"),
)  # fmt: skip
SESSION = "grid-g-20261130t120000000"


def config(**changes: Any) -> GridConfig:
    base: dict[str, Any] = {
        "name": "g", "account": {"account_index": 7, "api_key_index": 3}, "market": "ETH",
        "lower": "2800", "upper": "3200", "levels": 5, "size": "0.05",
    }  # fmt: skip
    return GridConfig.model_validate({**base, **changes})


def book(mark: str = "3010", **changes: Any) -> GridBook:
    return GridBook.start(session=SESSION, workflow_id="grid-g", config=config(**changes), market=ETH,
                          mark=Decimal(mark), now=T0)  # fmt: skip


class Venue:
    """Just enough of a venue: acks the placements, fills them, tells what rests."""

    def __init__(self, b: GridBook) -> None:
        self.b = b
        self.next_coi = 1000
        self.orders: dict[int, dict[str, Any]] = {}
        self.keys: list[str] = []
        self.fill_seq = 0

    def run(self, plan: Plan) -> None:
        for cancel in plan.cancel:
            o = self.orders[cancel.client_order_index]
            if o["status"] is OrderStatus.OPEN:
                o["status"] = OrderStatus.CANCELED
            self.b.apply(self.ack(cancel.client_order_index), T0)
        for p in plan.place:
            self.place(p)

    def place(self, p: Placement) -> int:
        assert p.key not in self.keys, f"key {p.key} placed twice"
        self.keys.append(p.key)
        coi = self.next_coi = self.next_coi + 1
        self.orders[coi] = {"key": p.key, "side": p.side, "price": p.price, "size": p.size,
                            "filled": Decimal(0), "status": OrderStatus.OPEN}  # fmt: skip
        self.b.placed(p.key, self.ack(coi), T0)
        return coi

    def ack(self, coi: int) -> OrderAck:
        o = self.orders[coi]
        return OrderAck(key=o["key"], market="ETH", client_order_index=coi, status=o["status"],
                        filled_size=o["filled"], filled_quote=o["filled"] * o["price"],
                        remaining_size=o["size"] - o["filled"], sent_now=True)  # fmt: skip

    def fill(self, coi: int, size: Decimal | None = None) -> OrderFilled:
        o = self.orders[coi]
        qty = size if size is not None else o["size"] - o["filled"]
        o["filled"] += qty
        if o["filled"] == o["size"]:
            o["status"] = OrderStatus.FILLED
        self.fill_seq += 1
        return OrderFilled(fill_id=f"f{self.fill_seq}", venue="lighter", account_index=7, market="ETH",
                           client_order_index=coi, order_index=coi, side=o["side"], price=o["price"],
                           size=qty, fee=qty * o["price"] * Decimal("0.00002"), is_maker=True,
                           at=T0)  # fmt: skip

    def open(self) -> list[OrderAck]:
        return [self.ack(c) for c, o in self.orders.items() if o["status"] is OrderStatus.OPEN]

    def coi_at(self, price: str) -> int:
        return next(
            c
            for c, o in self.orders.items()
            if o["price"] == Decimal(price) and o["status"] is OrderStatus.OPEN
        )


def placed(plan: Plan) -> list[tuple[Side, Decimal, Decimal]]:
    return [(p.side, p.price, p.size) for p in plan.place]


def test_a_fresh_neutral_grid_rests_buys_below_and_sells_above_written_ahead_once() -> None:
    b = book()
    plan = b.plan(Decimal(3010), feed_up=True)
    assert placed(plan) == [
        (Side.BUY, 2900, Decimal("0.05")), (Side.BUY, 2800, Decimal("0.05")),
        (Side.SELL, 3100, Decimal("0.05")), (Side.SELL, 3200, Decimal("0.05")),
    ]  # fmt: skip
    assert [p.key for p in plan.place] == [f"{SESSION}/L{i}-g0" for i in (1, 0, 3, 4)]
    assert b.intent(plan.place[0]).model_dump(include={"workflow_id", "account_index", "tif"}) == {
        "workflow_id": "grid-g", "account_index": 7, "tif": "post_only"}  # fmt: skip
    assert not b.plan(Decimal(3010), feed_up=True), "placing levels are not placed again"


def test_the_nearest_levels_rest_first_and_the_band_keeps_far_ones_virtual() -> None:
    b = book(levels=9, max_open_orders_per_side=2)
    assert [p.price for p in b.plan(Decimal(3010), feed_up=True).place] == [2950, 2900, 3050, 3100]
    b = book(levels=9, activation_band_pct="3")
    assert [p.price for p in b.plan(Decimal(3010), feed_up=True).place] == [2950, 3050, 3100]


def test_a_fill_re_arms_the_opposite_level_with_the_filled_quantity_then_the_filled_level() -> None:
    b = book()
    v = Venue(b)
    v.run(b.plan(Decimal(3010), feed_up=True))
    buy = v.coi_at("2900")
    assert b.on_fill(v.fill(buy, Decimal("0.02")))  # partial: the sell one level up gets 0.02
    assert b.levels[1].state is LevelState.PARTIALLY_FILLED
    plan = b.plan(Decimal(2900), feed_up=True)
    assert placed(plan) == [(Side.SELL, 3000, Decimal("0.02"))]
    v.run(plan)
    assert b.on_fill(v.fill(buy))
    assert b.levels[1].state is LevelState.FILLED and b.position == Decimal("0.05")
    v.run(b.plan(Decimal(2890), feed_up=True))  # 3000 still rests its 0.02: the rest waits its turn
    assert b.levels[2].owed_sell == Decimal("0.05")
    assert b.on_fill(v.fill(v.coi_at("3000")))
    assert placed(b.plan(Decimal(3000), feed_up=True)) == [(Side.BUY, 2900, Decimal("0.02"))]
    assert b.pnl.realized == Decimal("2.00") and b.pnl.round_trips == 1


def test_a_fill_seen_by_signal_and_by_look_up_counts_once_and_one_before_its_ack_waits() -> None:
    b = book()
    v = Venue(b)
    plan = b.plan(Decimal(3010), feed_up=True)
    first = plan.place[0]
    coi = v.next_coi + 1
    v.orders[coi] = {"key": first.key, "side": first.side, "price": first.price, "size": first.size,
                     "filled": Decimal(0), "status": OrderStatus.OPEN}  # fmt: skip
    early = v.fill(coi, Decimal("0.01"))
    assert not b.on_fill(early)  # before the ack: held
    v.next_coi = coi
    b.placed(first.key, v.ack(coi), T0)  # the ack already shows that 0.01
    assert b.position == Decimal("0.01") and b.fills == 1
    assert not b.on_fill(early)
    b.apply(v.ack(coi), T0)
    assert b.position == Decimal("0.01")
    assert [r.fill_id for r in b.take_records().fills] == [f"poll:{coi}:0.01"]
    assert b.take_records().fills == []


def test_frozen_places_nothing_and_says_so() -> None:
    b = book()
    assert not b.plan(Decimal(3010), feed_up=False)
    assert b.status().frozen
    assert b.plan(Decimal(3010), feed_up=True).place


def test_pause_holds_new_orders_until_resume() -> None:
    b = book()
    assert b.pause() and not b.pause()
    assert not b.plan(Decimal(3010), feed_up=True)
    assert b.resume()
    assert len(b.plan(Decimal(3010), feed_up=True).place) == 4


@pytest.mark.parametrize("action", list(StopAction))
def test_each_stop_action_leaves_what_it_says(action: StopAction) -> None:
    b = book()
    v = Venue(b)
    v.run(b.plan(Decimal(3010), feed_up=True))
    b.on_fill(v.fill(v.coi_at("2900")))
    v.run(b.plan(Decimal(2900), feed_up=True))
    assert b.stop(StopReason.OPERATOR, action) and not b.stop(StopReason.STOP_LOSS)
    plan = b.plan(Decimal(2900), feed_up=False)  # a stop goes out even while frozen
    if action is StopAction.KEEP_ORDERS:
        assert not plan and b.settled
    else:
        assert len(plan.cancel) == 4 and not plan.place
        v.run(plan)
        assert not v.open()
        flatten = b.plan(Decimal(2900), feed_up=True)
        if action is StopAction.FLATTEN:
            (order,) = flatten.place
            assert (order.side, order.size, order.kind, order.reduce_only) == (
                Side.SELL, Decimal("0.05"), OrderKind.MARKET, True)  # fmt: skip
            assert order.price == Decimal("2871.00")
            assert not b.settled
            coi = v.place(order)
            b.on_fill(v.fill(coi))
            assert b.position == 0
        else:
            assert not flatten and b.position == Decimal("0.05")
        assert b.settled
    b.finish()
    assert b.state is GridState.STOPPED


def test_stop_conditions() -> None:
    b = book(
        stop={"outside_range_pct": "1", "max_duration_s": 60, "stop_loss_usd": "5", "max_position": "0.04"}
    )
    assert b.check_stop(Decimal(3000)) is None
    assert b.check_stop(Decimal(2771)) is StopReason.RANGE_EXIT
    assert b.check_stop(Decimal(2773)) is None
    assert b.check_stop(Decimal(3000), time_up=True) is StopReason.TIME_LIMIT
    b.levels[1].open_hold(Decimal("0.05"), Decimal(2900))
    assert b.check_stop(Decimal(2850)) is StopReason.MAX_POSITION
    assert b.check_stop(Decimal(2780)) is StopReason.STOP_LOSS
    b = book(stop={"take_profit_usd": "1"})
    b.pnl.realized = Decimal(2)
    assert b.check_stop(Decimal(3000)) is StopReason.TAKE_PROFIT


def test_adjust_rebuilds_once_with_new_keys_and_carries_the_position() -> None:
    b = book()
    v = Venue(b)
    v.run(b.plan(Decimal(3010), feed_up=True))
    b.on_fill(v.fill(v.coi_at("2900")))
    new = b.adjusted(Adjust(lower=Decimal(2850), upper=Decimal(3050), levels=5))
    assert b.request_rebuild(new) and not b.request_rebuild(new)
    assert b.state is GridState.REBUILDING
    v.run(b.plan(Decimal(2900), feed_up=True))
    assert not v.open() and b.settled
    b.rebuilt(Decimal(2960))
    assert (b.state, b.version, b.position) == (GridState.RUNNING, 1, Decimal("0.05"))
    assert [lv.price for lv in b.levels] == [2850, 2900, 2950, 3000, 3050]
    assert (b.levels[1].hold, b.levels[1].owed_buy, b.levels[2].owed_sell) == (
        Decimal("0.05"),
        0,
        Decimal("0.05"),
    )
    v.run(b.plan(Decimal(2960), feed_up=True))  # every key new (Venue asserts it)
    assert b.config.levels == 5 and b.config.lower == 2850


def test_recenter_moves_the_range_around_the_price_once_out_by_the_trigger() -> None:
    b = book(rebuild="recenter", rebuild_trigger_pct="1", stop={"outside_range_pct": "5"})
    assert b.recentered(Decimal(3220)) is None
    moved = b.recentered(Decimal(3300))
    assert moved is not None and (moved.lower, moved.upper) == (3100, 3500)


def test_reconcile_adopts_its_own_cancels_its_orphans_and_never_touches_anything_else() -> None:
    b = book()
    v = Venue(b)
    plan = b.plan(Decimal(3010), feed_up=True)
    for p in plan.place[1:]:
        v.place(p)
    lost = plan.place[0]  # placed on the venue, its ack lost with a crash
    v.orders[5000] = {"key": lost.key, "side": lost.side, "price": lost.price, "size": lost.size,
                      "filled": Decimal("0.01"), "status": OrderStatus.OPEN}  # fmt: skip
    v.orders[6000] = {"key": f"{SESSION}/L9-g3", "side": Side.BUY, "price": Decimal(2500),
                      "size": Decimal(1), "filled": Decimal(0), "status": OrderStatus.OPEN}  # fmt: skip
    v.orders[7000] = {"key": "", "side": Side.BUY, "price": Decimal(2500), "size": Decimal(1),
                      "filled": Decimal(0), "status": OrderStatus.OPEN}  # fmt: skip
    v.orders[8000] = {"key": "grid-other-1/L1-g0", "side": Side.BUY, "price": Decimal(2900),
                      "size": Decimal(1), "filled": Decimal(0), "status": OrderStatus.OPEN}  # fmt: skip
    gone = v.coi_at("3200")
    v.orders[gone]["status"] = OrderStatus.FILLED
    report = b.reconcile(v.open(), Decimal("0.5"), T0)
    assert report.adopted == [5000] and b.levels[1].state is LevelState.PARTIALLY_FILLED
    assert [c.client_order_index for c in report.cancel] == [6000]
    assert b.order_ref(6000).model_dump() == {"account_index": 7, "market": "ETH", "client_order_index": 6000,
                                              "order_index": None}  # fmt: skip
    assert report.foreign == 2 and report.look_up == [gone]
    assert (report.audit.expected, report.audit.drift) == (Decimal("0.01"), Decimal("0.49"))


def test_the_book_survives_continue_as_new_as_json() -> None:
    b = book(fills_per_run=10)
    v = Venue(b)
    v.run(b.plan(Decimal(3010), feed_up=True))
    for _ in range(10):
        b.on_fill(v.fill(v.coi_at("2900"), Decimal("0.005")))
    b.paid_funding(Decimal("0.3"))
    assert b.continue_as_new_due
    at = datetime(2026, 11, 30, tzinfo=UTC)
    rejected = [
        RejectedCommand(name=f"pauze{i}", payload="None", error="unknown signal", at=at) for i in range(30)
    ]
    raw = json.loads(GridSessionInput.resume(b, rejected).model_dump_json())
    inp = GridSessionInput.model_validate(raw)
    assert inp.carry == b.carry() and inp.carry is not None and not inp.carry.continue_as_new_due
    assert inp.rejected_commands == rejected[-KEEP_REJECTED:]
    assert inp.config() == b.config and inp.carry.pnl.funding == Decimal("0.3")
    fresh = GridSessionInput.model_validate(config().model_dump(mode="json"))
    assert fresh.carry is None and fresh.config() == config()


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), mode=st.sampled_from(["neutral", "long", "short"]),
       spacing=st.sampled_from(["arithmetic", "geometric"]), band=st.sampled_from([None, "4"]))  # fmt: skip
def test_a_random_walk_keeps_the_grid_whole(seed: int, mode: str, spacing: str, band: str | None) -> None:
    rng = random.Random(seed)
    b = book(levels=9, mode=mode, spacing=spacing, activation_band_pct=band, max_open_orders_per_side=3)
    v = Venue(b)
    mark = Decimal(3010)
    filled = Decimal(0)
    for _ in range(300):
        v.run(b.plan(mark, feed_up=rng.random() > 0.05))
        mark = max(Decimal(2700), min(Decimal(3300), mark + rng.choice([-1, 1]) * rng.randint(0, 60)))
        for coi, o in list(v.orders.items()):
            crossed = mark <= o["price"] if o["side"] is Side.BUY else mark >= o["price"]
            if o["status"] is not OrderStatus.OPEN or not crossed:
                continue
            left = o["size"] - o["filled"]
            part = left if rng.random() < 0.6 or left <= Decimal("0.01") else Decimal("0.01")
            before = {lv.index: (lv.owed_buy, lv.owed_sell) for lv in b.levels}
            level = b.level_of(coi)
            assert b.on_fill(fill := v.fill(coi, part))
            filled += o["side"].sign * part
            if level is not None:
                i = level.index + o["side"].sign
                side_owed = 0 if o["side"] is Side.SELL else 1
                assert (b.levels[i].owed_buy, b.levels[i].owed_sell)[side_owed] == before[i][side_owed] + part
            if rng.random() < 0.3:
                b.apply(v.ack(coi), T0)  # the same fill again, by look-up
            assert not b.on_fill(fill)
        assert b.position == filled
        for lv in b.levels:
            live = [
                o
                for o in v.orders.values()
                if o["status"] is OrderStatus.OPEN and o["key"].split("/")[1].startswith(f"L{lv.index}-")
            ]
            assert len(live) <= 1
    report = b.reconcile(v.open(), filled, T0)
    assert report.audit.drift == 0 and not report.cancel and report.foreign == 0


def test_a_refused_placement_is_tried_again_under_the_next_generation() -> None:
    b = book()
    first = b.plan(Decimal(3010), feed_up=True).place[0]
    b.place_failed(first.key)
    assert b.levels[1].state is LevelState.FAILED
    again = b.plan(Decimal(3010), feed_up=True).place
    assert [p.key for p in again] == [f"{SESSION}/L1-g1"]


def unseen(b: GridBook, coi: int) -> OrderAck:
    """What the order gateway answers for an order the venue shows neither resting nor ended."""
    lv = next(lv for lv in b.levels if lv.client_order_index == coi)
    return OrderAck(key=lv.key(SESSION), market="ETH", client_order_index=coi, status=OrderStatus.PENDING,
                    remaining_size=lv.order_size, sent_now=False, unseen=True)  # fmt: skip


def test_orders_the_venue_no_longer_knows_end_cancelled_after_a_while_and_the_ladder_is_laid_again() -> None:
    b = book()
    v = Venue(b)
    v.run(b.plan(Decimal(3010), feed_up=True))
    cois = sorted(v.orders)
    v.orders.clear()  # a fresh venue: the session's orders are gone, neither resting nor ended
    for seconds in (5, LOST_AFTER_S - 1):
        report = b.reconcile(v.open(), Decimal(0), T0 + timedelta(seconds=seconds))
        assert sorted(report.look_up) == cois
        for coi in report.look_up:
            b.apply(unseen(b, coi), T0 + timedelta(seconds=seconds))
        assert b.lost_orders == 0 and not b.plan(Decimal(3010), feed_up=True)  # not yet: still open
    # Shown again (it was only slow to index): the clock starts over.
    back = b.levels[0].client_order_index
    assert back is not None
    shown = unseen(b, back).model_copy(update={"status": OrderStatus.OPEN, "unseen": False})
    b.apply(shown, T0)
    later = T0 + timedelta(seconds=LOST_AFTER_S + 5)
    for coi in cois:
        b.apply(unseen(b, coi), later)
    assert b.lost_orders == 3 and b.levels[0].state is LevelState.OPEN
    assert b.status().lost_orders == 3 and b.tally.open_orders() == [back]
    again = b.plan(Decimal(3010), feed_up=True).place
    assert sorted(p.key for p in again) == [f"{SESSION}/L1-g1", f"{SESSION}/L3-g1", f"{SESSION}/L4-g1"]


def test_a_stop_settles_when_the_venue_no_longer_knows_the_orders_it_cancels() -> None:
    b = book()
    v = Venue(b)
    v.run(b.plan(Decimal(3010), feed_up=True))
    cois = sorted(v.orders)
    v.orders.clear()
    assert b.stop(StopReason.CANCELLED, StopAction.KEEP_POSITION)
    cancels = b.plan(Decimal(3010), feed_up=True).cancel
    assert sorted(c.client_order_index for c in cancels) == cois
    for coi in cois:  # the cancel's answer: nothing on the venue
        b.apply(unseen(b, coi), T0 + timedelta(seconds=1))
    assert not b.settled and {lv.state for lv in b.levels if lv.client_order_index} == {LevelState.CANCELLING}
    for coi in b.reconcile([], Decimal(0), T0 + timedelta(seconds=LOST_AFTER_S + 1)).look_up:
        b.apply(unseen(b, coi), T0 + timedelta(seconds=LOST_AFTER_S + 1))
    assert b.settled and b.lost_orders == 4
