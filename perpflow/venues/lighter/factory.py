"""Lighter's entry in the venue registry: its venue from venue-neutral access details, its feed."""

from __future__ import annotations

from perpflow.venues.base import RequestLimits, VenueAccess, VenueAdapter
from perpflow.venues.lighter import constants as c
from perpflow.venues.lighter.client import LighterVenue
from perpflow.venues.lighter.feed import LighterFeed
from perpflow.venues.ratelimit import RateBudget


def request_budget(limits: RequestLimits) -> tuple[RateBudget, bool]:
    """The account's request budget, and whether requests count by Lighter's weights: standard
    accounts count requests, the premium tiers count weights."""
    tier = limits.tier or c.STANDARD_TIER
    return RateBudget(limits.per_minute or c.TIER_BUDGET_PER_MINUTE[tier]), tier != c.STANDARD_TIER


def build(access: VenueAccess) -> LighterVenue:
    budget, weighted = request_budget(access.limits) if access.limits else (None, True)
    return LighterVenue(
        access.url,
        access.account_index,
        api_key_index=access.api_key_index,
        private_key=access.private_key,
        proxy=access.proxy,
        budget=budget,
        weighted=weighted,
    )


ADAPTER = VenueAdapter(build=build, feed=LighterFeed, tiers=frozenset(c.TIER_BUDGET_PER_MINUTE))
