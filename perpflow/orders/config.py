"""The signer's config: its venue accounts, with keys and proxies, and the risk limits its order
gateway holds them to.

  lighter: {url: https://...}      # each venue's endpoint under the venue's name
  grvt: {url: https://grvt.io}     # (the venues its accounts use)
  accounts: [{name, venue, account_index, api_key_index, api_key: env:NAME, session_key, tier, proxy}, ...]
  proxies: [...]                   # a pool for the accounts without their own
  risk: {...}
"""

from __future__ import annotations

from pathlib import Path
from typing import Self

from pydantic import Field, model_validator

from perpflow.config import ConfigModel
from perpflow.risk import RiskLimits
from perpflow.secrets import resolve
from perpflow.venues.base import VenueAccess
from perpflow.venues.config import ProxyConfig, VenueAccount, VenueEndpoint, assign_proxies


class SignerConfig(ConfigModel):
    lighter: VenueEndpoint | None = None  # each venue's endpoint sits under the venue's name
    grvt: VenueEndpoint | None = None
    accounts: list[VenueAccount] = Field(min_length=1)
    proxies: list[ProxyConfig] = Field(default_factory=list)  # pool for accounts without their own
    risk: RiskLimits = Field(default_factory=RiskLimits)

    @model_validator(mode="after")
    def _endpoint_of_every_venue(self) -> Self:
        missing = sorted({a.venue.value for a in self.accounts if getattr(self, a.venue.value) is None})
        if missing:
            raise ValueError(
                f"accounts on {', '.join(missing)} need that venue's endpoint ({missing[0]}: {{url}})"
            )
        return self

    def with_proxies(self) -> list[VenueAccount]:
        return assign_proxies(self.accounts, self.proxies)

    def access(self, account: VenueAccount, state_dir: Path) -> VenueAccess:
        """How the signer reaches the account's venue: its key and proxy resolved."""
        endpoint: VenueEndpoint = getattr(self, account.venue.value)
        session_key = resolve(account.session_key, state_dir) if account.session_key else None
        return VenueAccess(
            url=endpoint.url,
            account_index=account.account_index,
            api_key_index=account.api_key_index,
            private_key=resolve(account.api_key, state_dir),
            proxy=account.proxy.resolve(state_dir) if account.proxy else None,
            limits=account.limits(),
            session_key=session_key,
        )
