"""Venue accounts, their keys (by reference), proxies, request allowances and endpoints."""

from __future__ import annotations

from pathlib import Path
from typing import Self

from pydantic import Field, model_validator

from perpflow.config import ConfigModel
from perpflow.secrets import resolve
from perpflow.venues.base import RequestLimits, VenueName
from perpflow.venues.registry import tiers
from perpflow.venues.types import Proxy


class ProxyConfig(ConfigModel):
    url: str = Field(pattern=r"^https?://")
    username: str | None = None
    password: str | None = None  # a secret reference: env:NAME, file:PATH or secrets:NAME

    def resolve(self, state_dir: Path) -> Proxy:
        password = resolve(self.password, state_dir) if self.password else None
        return Proxy(url=self.url, username=self.username, password=password)


class VenueAccount(ConfigModel):
    name: str
    venue: VenueName = VenueName.LIGHTER
    account_index: int = Field(ge=0)
    api_key_index: int = Field(ge=0, le=254)
    api_key: str  # secret reference to the API private key; never the key itself
    # GRVT: secret reference to the API key that logs in (its session cookie); GRVT only.
    session_key: str | None = None
    proxy: ProxyConfig | None = None
    tier: str | None = None  # the account's tier at the venue (None: its entry tier)
    requests_per_minute: float | None = Field(default=None, gt=0)  # overrides the tier's budget

    @model_validator(mode="after")
    def _session_key_where_the_venue_logs_in(self) -> Self:
        if (self.venue is VenueName.GRVT) != (self.session_key is not None):
            raise ValueError(
                "a grvt account needs its session_key (the API key that logs in); only grvt has one"
            )
        return self

    @model_validator(mode="after")
    def _tier_the_venue_sells(self) -> Self:
        sold = tiers(self.venue)
        if self.tier is not None and self.tier not in sold:
            raise ValueError(
                f"{self.venue} has no account tier {self.tier!r}; it has {', '.join(sorted(sold))}"
            )
        return self

    def limits(self) -> RequestLimits:
        return RequestLimits(tier=self.tier, per_minute=self.requests_per_minute)


class VenueEndpoint(ConfigModel):
    url: str = Field(pattern=r"^https?://")


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
