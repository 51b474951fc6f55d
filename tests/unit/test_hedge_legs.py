"""Where each leg of a hedge cycle trades: sizes both markets take, the cycle input's legs (one
venue or two), and a fleet config whose pairs span venues."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from perpflow.errors import ConfigError
from perpflow.hedge.config import FleetConfig
from perpflow.hedge.fleet import FleetInput, PairSpec
from perpflow.hedge.models import CycleParams, HedgeCycleInput, LegAccount
from perpflow.hedge.sizing import LegMarkets
from perpflow.models import AccountRef
from perpflow.venues.base import VenueName
from perpflow.venues.types import MarketInfo, Side

D = Decimal
# As the adapters read the sim's ETH: Lighter's lot is 0.0001, GRVT's 0.001 (its min_size's step).
LIGHTER_ETH = MarketInfo(
    symbol="ETH",
    market_id=0,
    size_decimals=4,
    price_decimals=2,
    min_base_amount=D("0.005"),
    min_quote_amount=D(10),
)
GRVT_ETH = MarketInfo(
    symbol="ETH_USDT_Perp",
    market_id=0x030401,
    size_decimals=3,
    price_decimals=2,
    min_base_amount=D("0.01"),
    min_quote_amount=D(50),
)
PARAMS = CycleParams(size=D("0.05"))


def cycle(maker: LegAccount, taker: LegAccount, **fields: Any) -> HedgeCycleInput:
    return HedgeCycleInput(
        fleet="f", pair="p", seq=0, market="ETH", maker=maker, taker=taker, maker_side=Side.BUY,
        params=PARAMS, **fields,
    )  # fmt: skip


def test_a_quote_is_sized_on_the_coarser_lot_and_above_both_minimums() -> None:
    sizes = LegMarkets(maker=LIGHTER_ETH, taker=GRVT_ETH)
    assert sizes.quote(D("0.0567")) == D("0.056")  # GRVT's lot, though Lighter takes 0.0567
    assert sizes.quote(D("0.0099")) == 0  # Lighter takes it, GRVT could not hedge it
    assert sizes.quote(D("0.01")) == D("0.010")
    assert sizes.smallest_quote() == D("0.01")
    # With a price, each market's notional minimum too: 0.02 * 2000 = 40 < GRVT's 50.
    assert sizes.quote(D("0.02"), D(2000)) == 0
    assert sizes.quote(D("0.03"), D(2000)) == D("0.030")


def test_a_hedge_carries_what_the_taker_market_takes_of_the_need() -> None:
    onto_grvt = LegMarkets(maker=LIGHTER_ETH, taker=GRVT_ETH)
    assert onto_grvt.hedge(D("0.0234")) == D("0.023")  # 0.0004 waits for more fills
    assert onto_grvt.hedge(D("0.0099")) == 0
    assert onto_grvt.hedge(D("0.02"), D(2000)) == 0  # 40 below GRVT's 50
    onto_lighter = LegMarkets(maker=GRVT_ETH, taker=LIGHTER_ETH)
    assert onto_lighter.hedge(D("0.0234")) == D("0.0234")
    assert onto_lighter.hedge(D("0.0049")) == 0


def test_one_market_sizes_are_the_markets_own_rounding() -> None:
    sizes = LegMarkets(maker=LIGHTER_ETH, taker=LIGHTER_ETH)
    assert sizes.quote(D("0.05678")) == D("0.0567")
    assert sizes.hedge(D("0.0051")) == D("0.0051")
    assert sizes.hedge(D("0.0049")) == 0


def test_legs_default_to_the_cycles_venue_and_market() -> None:
    inp = cycle(LegAccount(account_index=1, api_key_index=3), LegAccount(account_index=2, api_key_index=3))
    assert not inp.cross
    assert [(inp.venue_of(leg), inp.market_of(leg)) for leg in (inp.maker, inp.taker)] == [
        (VenueName.LIGHTER, "ETH"),
        (VenueName.LIGHTER, "ETH"),
    ]


def test_a_leg_on_another_venue_trades_its_own_market() -> None:
    maker = LegAccount(account_index=7, api_key_index=0, venue=VenueName.GRVT, market="ETH_USDT_Perp")
    inp = cycle(maker, LegAccount(account_index=2, api_key_index=3))
    assert inp.cross
    assert (inp.venue_of(inp.maker), inp.market_of(inp.maker)) == (VenueName.GRVT, "ETH_USDT_Perp")
    assert (inp.venue_of(inp.taker), inp.market_of(inp.taker)) == (VenueName.LIGHTER, "ETH")


def test_a_leg_on_another_venue_without_its_market_is_refused() -> None:
    maker = LegAccount(account_index=7, api_key_index=0, venue=VenueName.GRVT)
    with pytest.raises(ValidationError, match="the maker leg trades on grvt, not the cycle's venue lighter"):
        cycle(maker, LegAccount(account_index=2, api_key_index=3))


def test_one_account_index_on_both_legs_is_refused_even_on_two_venues() -> None:
    maker = LegAccount(account_index=5, api_key_index=0, venue=VenueName.GRVT, market="ETH_USDT_Perp")
    with pytest.raises(ValidationError, match="different account indexes"):
        cycle(maker, LegAccount(account_index=5, api_key_index=3))


def fleet(*pairs: PairSpec) -> FleetInput:
    return FleetInput(name="f", market="ETH", pairs=list(pairs), cycle=PARAMS)


def test_a_fleet_tells_accounts_apart_by_venue() -> None:
    grvt_5 = LegAccount(account_index=5, api_key_index=0, venue=VenueName.GRVT, market="ETH_USDT_Perp")
    lighter_5 = LegAccount(account_index=5, api_key_index=3)
    fleet(
        PairSpec(name="a", maker=grvt_5, taker=LegAccount(account_index=6, api_key_index=3)),
        PairSpec(name="b", maker=lighter_5, taker=LegAccount(account_index=8, api_key_index=3)),
    )
    with pytest.raises(ValidationError, match="lighter account 6 is in two pairs"):
        fleet(
            PairSpec(name="a", maker=grvt_5, taker=LegAccount(account_index=6, api_key_index=3)),
            PairSpec(name="b", maker=lighter_5, taker=LegAccount(account_index=6, api_key_index=3)),
        )
    with pytest.raises(ValidationError, match="pair a: the maker leg trades on grvt"):
        no_market = grvt_5.model_copy(update={"market": None})
        fleet(PairSpec(name="a", maker=no_market, taker=LegAccount(account_index=6, api_key_index=3)))


ACCOUNTS = [
    AccountRef(name="g-maker", venue="grvt", account_index=8289849667772468, api_key_index=0),
    AccountRef(name="l-taker", venue="lighter", account_index=101, api_key_index=3),
    AccountRef(name="l-maker", venue="lighter", account_index=102, api_key_index=3),
    AccountRef(name="g-taker", venue="grvt", account_index=8289849667772469, api_key_index=0),
]


def config(**fields: Any) -> FleetConfig:
    return FleetConfig.model_validate({"name": "x", "cycle": {"size": "0.05"}, **fields})


def test_a_cross_venue_fleet_config_gives_each_leg_its_accounts_venue_and_that_venues_market() -> None:
    inp = config(
        venue="lighter",
        markets={"grvt": "ETH_USDT_Perp", "lighter": "ETH"},
        pairs=[
            {"name": "p1", "maker": "g-maker", "taker": "l-taker"},
            {"name": "p2", "maker": "l-maker", "taker": "g-taker", "taker_market": "BTC_USDT_Perp"},
        ],
    ).to_input(ACCOUNTS)
    assert (inp.venue, inp.market) == (VenueName.LIGHTER, "ETH")
    p1, p2 = inp.pairs
    assert (p1.maker.venue, p1.maker.market, p1.maker.account_index) == (
        VenueName.GRVT,
        "ETH_USDT_Perp",
        8289849667772468,
    )
    assert (p1.taker.venue, p1.taker.market) == (None, None)  # the fleet's venue and market
    assert (p2.taker.venue, p2.taker.market) == (VenueName.GRVT, "BTC_USDT_Perp")


def test_a_one_venue_fleet_config_leaves_its_legs_at_the_fleets_venue() -> None:
    inp = config(market="ETH_USDT_Perp", pairs=[{"name": "p", "maker": "g-maker", "taker": "g-taker"}])
    built = inp.to_input(ACCOUNTS)
    assert (built.venue, built.market) == (VenueName.GRVT, "ETH_USDT_Perp")  # the accounts' venue
    assert {(leg.venue, leg.market) for leg in (built.pairs[0].maker, built.pairs[0].taker)} == {(None, None)}


def test_a_leg_on_a_venue_with_no_market_is_a_config_error() -> None:
    cfg = config(market="ETH", pairs=[{"name": "p1", "maker": "l-maker", "taker": "g-taker"}])
    with pytest.raises(ConfigError, match="the taker 'g-taker' trades on grvt: name its market"):
        cfg.to_input(ACCOUNTS)
    with pytest.raises(ValidationError, match="name the fleet's market"):
        config(pairs=[{"name": "p1", "maker": "l-maker", "taker": "g-taker"}])


DOC = Path(__file__).parents[2] / "docs" / "cross-venue.md"


def test_the_documented_cross_venue_input_is_a_cross_venue_cycle() -> None:
    [text] = re.findall(
        r"<!-- input: perpflow.hedge.models:HedgeCycleInput -->\s*```json\n(.*?)```", DOC.read_text(), re.S
    )
    inp = HedgeCycleInput.model_validate(json.loads(text))
    assert inp.cross and inp.venue_of(inp.maker) is VenueName.GRVT


def test_the_documented_fleet_config_builds_a_pair_each_way() -> None:
    [text] = re.findall(r"```yaml\n(.*?)```", DOC.read_text(), re.S)
    accounts = [
        AccountRef(name="grvt-maker-1", venue="grvt", account_index=10**15 + 1, api_key_index=0),
        AccountRef(name="lighter-taker-1", venue="lighter", account_index=11, api_key_index=3),
        AccountRef(name="lighter-maker-2", venue="lighter", account_index=12, api_key_index=3),
        AccountRef(name="grvt-taker-2", venue="grvt", account_index=10**15 + 2, api_key_index=0),
    ]
    inp = FleetConfig.model_validate(yaml.safe_load(text)).to_input(accounts)
    assert (inp.venue, inp.market) == (VenueName.GRVT, "ETH_USDT_Perp")  # the first maker's venue
    g2l, l2g = inp.pairs
    assert (g2l.maker.venue, g2l.taker.venue, g2l.taker.market) == (None, VenueName.LIGHTER, "ETH")
    assert (l2g.maker.venue, l2g.maker.market, l2g.taker.venue) == (VenueName.LIGHTER, "ETH", None)
