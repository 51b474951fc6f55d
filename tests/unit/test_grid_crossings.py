"""Where a grid session has the price watched: every level both ways and the range's edges. A random
walk in which the session sees the price only through its fills and its crossings leaves nothing
the true price would have it do."""

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


def test_every_level_is_watched_both_ways_and_the_range_edges() -> None:
    b = book(levels=5)
    found = {c.name: (c.direction, c.price) for c in crossings(b.levels, b.config, b.market)}
    assert found["L0-down"] == (Direction.DOWN, Decimal("2799.99"))  # a tick past the level
    assert found["L4-up"] == (Direction.UP, Decimal("3200.01"))
    assert sorted(name for name in found if not name.startswith("L")) == sorted(
        f"{edge}-{pct}-{way}" for edge in ("below", "above") for pct in ("0.5", "1") for way in ("up", "down")
    )
    assert len(found) == 5 * 2 + 8


def test_a_band_adds_where_each_level_enters_and_leaves_it() -> None:
    b = book(levels=9, activation_band_pct="3")  # 2800 .. 3200 every 50
    found = {c.name: (c.direction, c.price) for c in crossings(b.levels, b.config, b.market)}
    assert found["L3-band-above-leave"] == (Direction.UP, Decimal("3041.24"))  # 2950 / 0.97 = 3041.237..
    assert found["L3-band-above-enter"] == (Direction.DOWN, Decimal("3041.23"))
    assert found["L6-band-below-leave"] == (Direction.DOWN, Decimal("3009.70"))  # 3100 / 1.03 = 3009.708..
    assert found["L6-band-below-enter"] == (Direction.UP, Decimal("3009.71"))


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


@settings(max_examples=30, deadline=None)  # 250 steps each: 7,500 steps
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
        while any(reached(c, seen, price) for c in crossings(b.levels, b.config, b.market)):
            seen = price
            settle(b, v, seen)
        probe = b.model_copy(deep=True)
        missed = probe.plan(price, feed_up=True)
        assert not missed, f"step {step}: seen {seen}, price {price}: {missed}"
