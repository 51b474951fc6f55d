"""Fill bookkeeping of a cycle: fees count, whichever path saw the fill."""

from __future__ import annotations

from decimal import Decimal

from perpflow.hedge.tally import Role, Tally
from perpflow.venues.types import Side

D = Decimal


def _round_trip(tally: Tally) -> None:
    tally.track(1, "wf/maker-0", Role.MAKER, 10, Side.BUY, fee_rate=D("0.0002"))
    tally.track(2, "wf/close-0", Role.CLOSE, 10, Side.SELL, fee_rate=D("0.0005"))


def test_polled_fills_pay_the_markets_fee_rate_and_realised_pnl_is_net_of_it() -> None:
    tally = Tally()
    _round_trip(tally)
    tally.polled(1, D("1"), D("3000"), final=True)  # bought 1 at 3000
    tally.polled(2, D("1"), D("3010"), final=True)  # sold 1 at 3010
    assert tally.fees() == D("3000") * D("0.0002") + D("3010") * D("0.0005")
    assert tally.realized() == D("10") - tally.fees()


def test_signalled_fees_are_the_venues_own_and_a_fill_seen_twice_is_charged_once() -> None:
    tally = Tally()
    _round_trip(tally)
    tally.signalled(1, "t1-buy", D("1"), D("3000"), D("0.5"))
    tally.polled(1, D("1"), D("3000"), final=True)  # the same fill, seen by the poll too
    assert tally.fees() == D("0.5")
    assert tally.floating_pnl(10, D("3000")) == D("-0.5")


def test_open_orders_are_the_ones_not_final() -> None:
    tally = Tally()
    _round_trip(tally)
    tally.polled(1, D("0.4"), D("1200"), final=False)
    tally.polled(2, D("0"), D("0"), final=True)
    assert tally.open_orders() == [1]
    assert tally.position(10) == D("0.4")


def test_a_leg_left_open_adds_nothing_to_realised_pnl_and_a_part_closed_counts() -> None:
    """A cross-venue cycle whose close failed on one leg: its realised PnL is what was closed, not
    the open leg's quote flow (it once read 148.7 for 0.05 ETH, the hedge's proceeds)."""
    tally = Tally()
    tally.track(1, "wf/maker-0", Role.MAKER, 10, Side.BUY, fee_rate=D(0))
    tally.track(2, "wf/hedge-0", Role.HEDGE, 20, Side.SELL, fee_rate=D(0))
    tally.track(3, "wf/close-maker", Role.CLOSE, 10, Side.SELL, fee_rate=D(0))
    tally.polled(1, D("0.05"), D("150"), final=True)  # bought 0.05 at 3000 on account 10
    tally.polled(2, D("0.05"), D("150.5"), final=True)  # hedged: sold 0.05 at 3010 on account 20
    tally.polled(3, D("0.05"), D("151"), final=True)  # maker leg closed at 3020; the hedge leg never
    assert tally.position(20) == D("-0.05")
    assert tally.realized() == D("1")  # the maker leg's 0.05 x (3020 - 3000), the open leg nothing
    tally.track(4, "wf/close-hedge", Role.CLOSE, 20, Side.BUY, fee_rate=D(0))
    tally.polled(4, D("0.02"), D("60.1"), final=False)  # 0.02 of the hedge bought back at 3005
    assert tally.realized() == D("1") + D("0.02") * (3010 - 3005)
