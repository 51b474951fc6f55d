"""Where a grid session has the price watched: only where the planner's choice changes without a
fill saying so. A random walk in which the session sees the price only through its fills and its
crossings must leave nothing the true price would have it do."""

from __future__ import annotations

import random
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from perpflow.grid.book import GridBook
from perpflow.grid.crossings import Crossing, crossings
from perpflow.signals import Direction
from perpflow.venues.types import OrderStatus, Side
from tests.unit.test_grid_book import Venue, book


def watched(b: GridBook, mark: str) -> dict[str, tuple[Direction, Decimal]]:
    return {c.name: (c.direction, c.price) for c in crossings(b.levels, b.config, b.market, Decimal(mark))}


def test_a_neutral_ladder_resting_everywhere_watches_only_the_range_edges() -> None:
    b = book(levels=9)
    Venue(b).run(b.plan(Decimal(3010), feed_up=True))
    assert sorted(watched(b, "3010")) == sorted(
        f"{edge}-{pct}-{way}" for edge in ("below", "above") for pct in ("0.5", "1") for way in ("up", "down")
    )


def test_a_long_grid_waits_for_the_price_above_its_buys_a_tick_past_each() -> None:
    b = book(levels=5, mode="long")
    Venue(b).run(b.plan(Decimal(3010), feed_up=True))
    levels = {k: v for k, v in watched(b, "3010").items() if k.startswith("L")}
    # 2800, 2900 and 3000 rest; 3100 owes a buy the price must rise above first.
    assert levels == {"L3-buy-placeable": (Direction.UP, Decimal("3100.01"))}


def test_a_band_watches_where_owing_levels_enter_it_and_resting_orders_leave_it() -> None:
    b = book(levels=9, activation_band_pct="3")  # 2800 .. 3200 every 50; rests 2950, 3050, 3100
    Venue(b).run(b.plan(Decimal(3010), feed_up=True))
    levels = {k: v for k, v in watched(b, "3010").items() if k.startswith("L")}
    assert levels["L3-buy-leave"] == (Direction.UP, Decimal("3041.24"))  # 2950 / 0.97 = 3041.237..
    assert levels["L2-buy-enter"] == (Direction.DOWN, Decimal("2989.69"))  # 2900 / 0.97 = 2989.690..
    assert levels["L7-sell-enter"] == (Direction.UP, Decimal("3058.26"))  # 3150 / 1.03 = 3058.252..
    assert levels["L6-sell-leave"] == (Direction.DOWN, Decimal("3009.70"))  # 3100 / 1.03 = 3009.708..


def settle(b: GridBook, v: Venue, mark: Decimal) -> None:
    """Plan and carry out until nothing is left to do at ``mark`` (a cancel frees its slot)."""
    for _ in range(5):
        if not (plan := b.plan(mark, feed_up=True)):
            return
        v.run(plan)
    raise AssertionError(f"the plan at {mark} never settles")


def reached(c: Crossing, before: Decimal, now: Decimal) -> bool:
    """As the market-data worker's band: armed on the side the workflow's price was on."""
    if c.direction is Direction.UP:
        return before < c.price <= now
    return before > c.price >= now


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), mode=st.sampled_from(["neutral", "long", "short"]),
       spacing=st.sampled_from(["arithmetic", "geometric"]), band=st.sampled_from([None, "2", "4"]),
       per_side=st.sampled_from([2, 10]))  # fmt: skip
def test_the_price_seen_through_fills_and_crossings_leaves_nothing_undone(
    seed: int, mode: str, spacing: str, band: str | None, per_side: int
) -> None:
    rng = random.Random(seed)
    b = book(
        levels=9, mode=mode, spacing=spacing, activation_band_pct=band, max_open_orders_per_side=per_side
    )
    v = Venue(b)
    seen = price = Decimal(3010)
    for step in range(250):
        v.run(b.plan(seen, feed_up=True))
        price = max(Decimal(2700), min(Decimal(3300), price + rng.choice([-1, 1]) * rng.randint(0, 40)))
        for coi, o in list(v.orders.items()):
            crossed = price <= o["price"] if o["side"] is Side.BUY else price >= o["price"]
            if o["status"] is OrderStatus.OPEN and crossed:
                b.on_fill(fill := v.fill(coi))
                seen = fill.price
        settle(b, v, seen)
        # The watches set at the price the session saw, evaluated at once (a price already past).
        while any(reached(c, seen, price) for c in crossings(b.levels, b.config, b.market, seen)):
            seen = price
            settle(b, v, seen)
        probe = b.model_copy(deep=True)
        missed = probe.plan(price, feed_up=True)
        assert not missed, f"step {step}: seen {seen}, price {price}: {missed}"
