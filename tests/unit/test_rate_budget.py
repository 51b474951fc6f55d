"""The client-side request budget: spends by weight, refills with time, waits when empty."""

from __future__ import annotations

import time

import pytest

from perpflow.venues.base import RequestLimits
from perpflow.venues.config import VenueAccount
from perpflow.venues.lighter.factory import request_budget
from perpflow.venues.ratelimit import RateBudget


async def test_a_budget_spends_by_weight_and_then_waits_for_refill() -> None:
    budget = RateBudget(per_minute=600)  # 10 units a second
    for _ in range(100):
        await budget.acquire(6)  # 600 units: the whole minute's budget, at once
    assert budget.delay_for(6) == pytest.approx(0.6, abs=0.05)
    started = time.monotonic()
    await budget.acquire(1)
    assert time.monotonic() - started == pytest.approx(0.1, abs=0.08)
    assert budget.requests == 101  # each admitted request counted, whatever its weight


def test_lighter_tiers_set_the_budget_and_standard_counts_requests_not_weights() -> None:
    standard = request_budget(
        VenueAccount(name="a", account_index=1, api_key_index=3, api_key="env:K").limits()
    )
    premium = request_budget(RequestLimits(tier="premium"))
    assert (standard[0].capacity, standard[1]) == (60, False)
    assert (premium[0].capacity, premium[1]) == (24_000, True)
    assert request_budget(RequestLimits(per_minute=30.0))[0].capacity == 30


def test_a_budget_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        RateBudget(0)
