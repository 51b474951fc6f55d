"""The signer's config: its venue accounts, with keys and proxies, and the risk limits its order
gateway holds them to.

  lighter: {url: https://...}      # each venue's endpoint under the venue's name
  accounts: [{name, account_index, api_key_index, api_key: env:NAME, tier, proxy}, ...]
  proxies: [...]                   # a pool for the accounts without their own
  risk: {...}
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from perpflow.config import ConfigModel
from perpflow.risk import RiskLimits
from perpflow.secrets import resolve
from perpflow.venues.base import VenueAccess
from perpflow.venues.config import ProxyConfig, VenueAccount, VenueEndpoint, assign_proxies


class SignerConfig(ConfigModel):
    lighter: VenueEndpoint  # each venue's endpoint sits under the venue's name
    accounts: list[VenueAccount] = Field(min_length=1)
    proxies: list[ProxyConfig] = Field(default_factory=list)  # pool for accounts without their own
    risk: RiskLimits = Field(default_factory=RiskLimits)

    def with_proxies(self) -> list[VenueAccount]:
        return assign_proxies(self.accounts, self.proxies)

    def access(self, account: VenueAccount, state_dir: Path) -> VenueAccess:
        """How the signer reaches the account's venue: its key and proxy resolved."""
        endpoint: VenueEndpoint = getattr(self, account.venue.value)
        return VenueAccess(
            url=endpoint.url,
            account_index=account.account_index,
            api_key_index=account.api_key_index,
            private_key=resolve(account.api_key, state_dir),
            proxy=account.proxy.resolve(state_dir) if account.proxy else None,
            limits=account.limits(),
        )
