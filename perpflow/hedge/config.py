"""Fleet YAML: pairs of accounts named as in the ledger (keys and proxies live with the signer).

A leg trades on its account's venue. A fleet on one venue names its ``market``; a fleet whose
pairs span venues (cross-venue pairs: the maker quoting on one venue, the hedge on the other)
names each venue's market in ``markets``, and a pair may name its own per leg::

    name: cross
    markets: {grvt: ETH_USDT_Perp, lighter: ETH}
    pairs:
      - {name: p1, maker: grvt-maker-1, taker: lighter-taker-1}
"""

from __future__ import annotations

from decimal import Decimal
from typing import Self

from pydantic import Field, model_validator

from perpflow.config import ConfigModel
from perpflow.errors import ConfigError
from perpflow.hedge.fleet import FleetInput, PairSpec
from perpflow.hedge.models import CycleParams, LegAccount
from perpflow.models import AccountRef
from perpflow.venues.base import VenueName
from perpflow.venues.types import Side


class PairConfig(ConfigModel):
    name: str
    maker: str  # account name; the leg trades on that account's venue
    taker: str
    maker_side: Side | None = None
    maker_market: str | None = None  # default: the fleet's market on the maker's venue
    taker_market: str | None = None


class FleetConfig(ConfigModel):
    name: str
    venue: VenueName | None = None  # default: the first pair's maker's venue
    market: str | None = None  # every leg on the fleet's venue trades it
    markets: dict[VenueName, str] = Field(default_factory=dict)  # the market on each venue
    pairs: list[PairConfig] = Field(min_length=1)
    cycle: CycleParams
    pause_between_s: float = Field(default=2, ge=0)
    max_cycles_per_pair: int | None = Field(default=None, ge=1)
    daily_loss_limit_usd: Decimal | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _a_market(self) -> Self:
        if self.market is None and not self.markets:
            raise ValueError(
                "name the fleet's market (market: ETH), or each venue's (markets: {lighter: ETH})"
            )
        return self

    def to_input(self, accounts: list[AccountRef]) -> FleetInput:
        legs = _Legs(self, {a.name: a for a in accounts})
        pairs = [
            PairSpec(
                name=p.name,
                maker=legs.leg(p, "maker", p.maker, p.maker_market),
                taker=legs.leg(p, "taker", p.taker, p.taker_market),
                maker_side=p.maker_side,
            )
            for p in self.pairs
        ]
        return FleetInput(
            name=self.name,
            venue=legs.venue,
            market=legs.market,
            pairs=pairs,
            cycle=self.cycle,
            pause_between_s=self.pause_between_s,
            max_cycles_per_pair=self.max_cycles_per_pair,
            daily_loss_limit_usd=self.daily_loss_limit_usd,
        )


class _Legs:
    """The config's accounts as cycle legs: each on its account's venue, at that venue's market."""

    def __init__(self, config: FleetConfig, by_name: dict[str, AccountRef]) -> None:
        self.config, self.by_name = config, by_name
        self.venue = config.venue or self.account(config.pairs[0].maker)[1]
        market = config.market or config.markets.get(self.venue)
        if market is None:
            raise ConfigError(
                f"fleet {config.name}: no market on its venue {self.venue} (markets: {{{self.venue}: ...}})"
            )
        self.market = market

    def account(self, name: str) -> tuple[LegAccount, VenueName]:
        ref, fleet = self.by_name.get(name), self.config.name
        if ref is None or ref.api_key_index is None:
            raise ConfigError(f"fleet {fleet}: no account {name!r} with an API key in the ledger")
        if ref.venue not in set(VenueName):
            raise ConfigError(f"fleet {fleet}: account {name!r} is on an unknown venue {ref.venue!r}")
        leg = LegAccount(account_index=ref.account_index, api_key_index=ref.api_key_index)
        return leg, VenueName(ref.venue)

    def leg(self, pair: PairConfig, role: str, name: str, own_market: str | None) -> LegAccount:
        found, on = self.account(name)
        if on is self.venue:  # the fleet's venue and (unless the pair says) market: the cycle's defaults
            return found.model_copy(update={"market": own_market})
        there = own_market or self.config.markets.get(on)
        if there is None:
            raise ConfigError(
                f"fleet {self.config.name} pair {pair.name}: the {role} {name!r} trades on {on}: "
                f"name its market (markets: {{{on}: ...}} or {role}_market)"
            )
        return found.model_copy(update={"venue": on, "market": there})
