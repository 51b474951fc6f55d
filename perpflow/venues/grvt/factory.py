"""GRVT's entry in the venue registry: its venue from venue-neutral access details, its feed."""

from __future__ import annotations

from perpflow.venues.base import VenueAccess, VenueAdapter
from perpflow.venues.grvt import constants as c
from perpflow.venues.grvt.client import GrvtVenue
from perpflow.venues.grvt.feed import GrvtFeed
from perpflow.venues.ratelimit import RateBudget


def build(access: VenueAccess) -> GrvtVenue:
    budget = None
    if access.limits is not None:
        tier = access.limits.tier or c.STANDARD_TIER
        budget = RateBudget(access.limits.per_minute or c.TIER_BUDGET_PER_MINUTE[tier])
    return GrvtVenue(
        access.url,
        access.account_index,
        api_key_index=access.api_key_index,
        private_key=access.private_key,
        session_key=access.session_key,
        proxy=access.proxy,
        budget=budget,
    )


ADAPTER = VenueAdapter(build=build, feed=GrvtFeed, tiers=frozenset(c.TIER_BUDGET_PER_MINUTE))
