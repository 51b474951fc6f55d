"""Venue accounts, their keys (by reference), proxies and request budgets."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from perpflow.config import ConfigModel
from perpflow.risk import RiskLimits
from perpflow.secrets import resolve
from perpflow.venues.base import Proxy
from perpflow.venues.lighter import constants as c
from perpflow.venues.ratelimit import RateBudget

Tier = Literal["standard", "premium", "plus", "builder"]


class ProxyConfig(ConfigModel):
    url: str = Field(pattern=r"^https?://")
    username: str | None = None
    password: str | None = None  # a secret reference: env:NAME, file:PATH or secrets:NAME

    def resolve(self, state_dir: Path) -> Proxy:
        password = resolve(self.password, state_dir) if self.password else None
        return Proxy(url=self.url, username=self.username, password=password)


class VenueAccount(ConfigModel):
    name: str
    venue: Literal["lighter"] = "lighter"
    account_index: int = Field(ge=0)
    api_key_index: int = Field(ge=0, le=254)
    api_key: str  # secret reference to the API private key; never the key itself
    proxy: ProxyConfig | None = None
    tier: Tier = "standard"
    requests_per_minute: float | None = Field(default=None, gt=0)  # overrides the tier's budget

    def budget(self) -> tuple[RateBudget, bool]:
        """The account's request budget and whether requests count by Lighter's weights."""
        weighted = self.tier != c.STANDARD_TIER
        per_minute = self.requests_per_minute or c.TIER_BUDGET_PER_MINUTE[self.tier]
        return RateBudget(per_minute), weighted


class LighterEndpoint(ConfigModel):
    url: str = Field(pattern=r"^https?://")


class SignerConfig(ConfigModel):
    lighter: LighterEndpoint
    accounts: list[VenueAccount] = Field(min_length=1)
    proxies: list[ProxyConfig] = Field(default_factory=list)  # pool for accounts without their own
    risk: RiskLimits = Field(default_factory=RiskLimits)

    def with_proxies(self) -> list[VenueAccount]:
        return assign_proxies(self.accounts, self.proxies)


def assign_proxies(accounts: list[VenueAccount], pool: list[ProxyConfig]) -> list[VenueAccount]:
    """Give each account without a proxy one from the pool, round-robin in config order."""
    if not pool:
        return list(accounts)
    out, turn = [], 0
    for account in accounts:
        if account.proxy is not None:
            out.append(account)
            continue
        out.append(account.model_copy(update={"proxy": pool[turn % len(pool)]}))
        turn += 1
    return out
