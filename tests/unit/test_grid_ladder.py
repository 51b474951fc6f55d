"""The ladder (prices on the tick, sizes on the lot, starting sides) and a level's state table."""

from __future__ import annotations

import itertools
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from perpflow.grid import ladder
from perpflow.grid.config import GridConfig
from perpflow.grid.errors import LadderError
from perpflow.grid.levels import TRANSITIONS, GridLevel, IllegalLevelTransition, LevelState
from perpflow.venues.types import MarketInfo, Side

ETH = MarketInfo(
    symbol="ETH", market_id=0, size_decimals=4, price_decimals=2,
    min_base_amount=Decimal("0.005"), min_quote_amount=Decimal(10),
)  # fmt: skip


def config(**changes: Any) -> GridConfig:
    base: dict[str, Any] = {
        "name": "g", "account": {"account_index": 7, "api_key_index": 3}, "market": "ETH",
        "lower": "2800", "upper": "3200", "levels": 5, "size": "0.05",
    }  # fmt: skip
    return GridConfig.model_validate({**base, **changes})


def test_arithmetic_levels_are_equal_steps() -> None:
    assert ladder.level_prices(config(), ETH) == [2800, 2900, 3000, 3100, 3200]


def test_geometric_levels_are_equal_ratios_on_the_tick_with_exact_bounds() -> None:
    prices = ladder.level_prices(config(spacing="geometric", lower="1000", upper="16000"), ETH)
    assert prices == [1000, 2000, 4000, 8000, 16000]
    odd = ladder.level_prices(config(spacing="geometric", levels=7), ETH)
    assert odd[0] == 2800 and odd[-1] == 3200
    assert all(p == p.quantize(Decimal("0.01")) for p in odd)
    ratios = [b / a for a, b in itertools.pairwise(odd)]
    assert max(ratios) - min(ratios) < Decimal("0.00001")


@given(
    lower=st.decimals(min_value=1, max_value=10_000, places=2),
    width=st.decimals(min_value=Decimal("0.5"), max_value=10_000, places=2),
    levels=st.integers(min_value=2, max_value=40),
    spacing=st.sampled_from(["arithmetic", "geometric"]),
)
def test_any_ladder_that_fits_is_strictly_rising_on_the_tick(
    lower: Decimal, width: Decimal, levels: int, spacing: str
) -> None:
    cfg = config(lower=str(lower), upper=str(lower + width), levels=levels, spacing=spacing)
    try:
        prices = ladder.level_prices(cfg, ETH)
    except LadderError as exc:
        assert "closer than the tick" in str(exc)
        return
    assert len(prices) == levels
    assert prices[0] == lower and prices[-1] == lower + width
    assert all(a < b for a, b in itertools.pairwise(prices))
    assert all(p == p.quantize(Decimal("0.01")) for p in prices)


@pytest.mark.parametrize(
    ("changes", "market", "problem"),
    [
        ({"lower": "2800.005"}, ETH, "not on the tick"),
        ({"lower": "1", "upper": "1.03", "levels": 5}, ETH, "closer than the tick"),
        ({"levels": 5}, ETH.model_copy(update={"maker_fee": Decimal(2)}), "twice the maker fee"),
    ],
)
def test_a_ladder_that_does_not_fit_the_market_fails_clearly(
    changes: dict[str, Any], market: MarketInfo, problem: str
) -> None:
    with pytest.raises(LadderError, match=problem):
        ladder.level_prices(config(**changes), market)


def test_a_quote_size_rounds_down_to_the_lot_a_base_size_off_it_is_refused_and_minimums_hold() -> None:
    with pytest.raises(LadderError, match="not a multiple of the lot"):
        ladder.level_size(config(size="0.05678"), ETH, Decimal(3000))
    # Sessions begun before the lot check cut a base size down to the size decimals; they still do.
    assert ladder.level_size(config(size="0.05678"), ETH, Decimal(3000), on_lot=False) == Decimal("0.0567")
    assert ladder.level_size(config(size="100", size_unit="quote"), ETH, Decimal(3000)) == Decimal("0.0333")
    with pytest.raises(LadderError, match="below the market's minimum"):
        ladder.level_size(config(size="0.001"), ETH, Decimal(3000))
    with pytest.raises(LadderError, match="below the market's minimum"):
        ladder.level_size(config(size="5", size_unit="quote"), ETH, Decimal(3000))


def owed(levels: list[GridLevel]) -> list[str]:
    return ["B" if lv.owed_buy else "S" if lv.owed_sell else "-" for lv in levels]


def test_a_neutral_grid_buys_below_sells_above_and_leaves_the_nearest_level_as_its_gap() -> None:
    assert owed(ladder.build(config(), ETH, Decimal(3010))) == ["B", "B", "-", "S", "S"]
    assert owed(ladder.build(config(), ETH, Decimal(2951))) == ["B", "B", "-", "S", "S"]
    assert owed(ladder.build(config(), ETH, Decimal(2700))) == ["-", "S", "S", "S", "S"]


def test_long_grids_buy_on_every_level_but_the_top_short_grids_sell_on_every_level_but_the_bottom() -> None:
    assert owed(ladder.build(config(mode="long"), ETH, Decimal(3010))) == ["B", "B", "B", "B", "-"]
    assert owed(ladder.build(config(mode="short"), ETH, Decimal(3010))) == ["-", "S", "S", "S", "S"]


def test_quote_sized_levels_hold_the_same_notional() -> None:
    levels = ladder.build(config(size="150", size_unit="quote"), ETH, Decimal(3000))
    assert [lv.size for lv in levels] == [Decimal("0.0535"), Decimal("0.0517"), Decimal("0.05"),
                                          Decimal("0.0483"), Decimal("0.0468")]  # fmt: skip


def test_the_band_and_the_side_of_the_price() -> None:
    assert ladder.in_band(Decimal(2950), Decimal(3000), Decimal(2))
    assert not ladder.in_band(Decimal(2900), Decimal(3000), Decimal(2))
    assert ladder.in_band(Decimal(1), Decimal(3000), None)
    assert ladder.placeable(Side.BUY, Decimal(2999), Decimal(3000))
    assert not ladder.placeable(Side.BUY, Decimal(3000), Decimal(3000))
    assert not ladder.placeable(Side.SELL, Decimal(3000), Decimal(3000))


def test_a_level_moves_only_by_its_table_and_each_placement_is_a_new_key() -> None:
    level = GridLevel(index=3, price=Decimal(3000), size=Decimal("0.05"))
    with pytest.raises(IllegalLevelTransition, match="IDLE -> OPEN"):
        level.move_to(LevelState.OPEN)
    level.place(Side.BUY, Decimal("0.05"))
    assert (level.state, level.key("grid-g-1")) == (LevelState.PLACING, "grid-g-1/L3-g0")
    level.move_to(LevelState.OPEN)
    with pytest.raises(IllegalLevelTransition):
        level.place(Side.BUY, Decimal("0.05"))  # one live order per level
    level.move_to(LevelState.CANCELLING)
    level.move_to(LevelState.CANCELLED)
    level.place(Side.SELL, Decimal("0.05"))
    assert level.key("grid-g-1") == "grid-g-1/L3-g1"


def test_every_state_has_a_way_on_and_the_free_ones_lead_to_a_new_placement() -> None:
    assert set(TRANSITIONS) == set(LevelState)
    for state in LevelState:
        assert TRANSITIONS[state]
        assert (LevelState.PLACING in TRANSITIONS[state]) == state.free


def test_a_hold_closes_at_its_average_price() -> None:
    level = GridLevel(index=0, price=Decimal(100), size=Decimal(1))
    level.open_hold(Decimal(1), Decimal(100))
    level.open_hold(Decimal(1), Decimal(102))
    assert level.close_hold(Decimal(3), Decimal(105)) == (Decimal(2), Decimal(8))
    assert (level.hold, level.hold_cost) == (0, 0)
    level.open_hold(Decimal(-2), Decimal(100))
    assert level.close_hold(Decimal(1), Decimal(99)) == (Decimal(1), Decimal(1))
    assert level.unrealized(Decimal(98)) == Decimal(2)
