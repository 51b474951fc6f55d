"""Fleet YAML: pairs of accounts named as in the ledger (keys and proxies live with the signer)."""

from __future__ import annotations

from decimal import Decimal

from pydantic import Field

from perpflow.config import ConfigModel
from perpflow.errors import ConfigError
from perpflow.hedge.fleet import FleetInput, PairSpec
from perpflow.hedge.models import CycleParams, LegAccount
from perpflow.models import AccountRef
from perpflow.venues.types import Side


class PairConfig(ConfigModel):
    name: str
    maker: str  # account name
    taker: str
    maker_side: Side | None = None


class FleetConfig(ConfigModel):
    name: str
    market: str
    pairs: list[PairConfig] = Field(min_length=1)
    cycle: CycleParams
    pause_between_s: float = Field(default=2, ge=0)
    max_cycles_per_pair: int | None = Field(default=None, ge=1)
    daily_loss_limit_usd: Decimal | None = Field(default=None, gt=0)

    def to_input(self, accounts: list[AccountRef]) -> FleetInput:
        by_name = {a.name: a for a in accounts}

        def leg(name: str) -> LegAccount:
            ref = by_name.get(name)
            if ref is None or ref.api_key_index is None:
                raise ConfigError(f"fleet {self.name}: no account {name!r} with an API key in the ledger")
            return LegAccount(account_index=ref.account_index, api_key_index=ref.api_key_index)

        pairs = [
            PairSpec(name=p.name, maker=leg(p.maker), taker=leg(p.taker), maker_side=p.maker_side)
            for p in self.pairs
        ]
        return FleetInput(
            name=self.name,
            market=self.market,
            pairs=pairs,
            cycle=self.cycle,
            pause_between_s=self.pause_between_s,
            max_cycles_per_pair=self.max_cycles_per_pair,
            daily_loss_limit_usd=self.daily_loss_limit_usd,
        )
