"""Pure payout rules: the tiered amount and the caps (deterministic, used by the workflow too)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from perpflow.payouts.models import PayoutPolicy, eth_to_wei


def tier_amount_wei(leverage: Decimal, policy: PayoutPolicy) -> int:
    """The first tier (highest threshold first) whose threshold the leverage strictly exceeds."""
    for tier in policy.tiers:
        if leverage > tier.above_leverage:
            return eth_to_wei(tier.amount_eth)
    return eth_to_wei(policy.default_amount_eth)


def needs_approval(amount_wei: int, policy: PayoutPolicy) -> bool:
    threshold = policy.approval_threshold_eth
    return threshold is not None and amount_wei > eth_to_wei(threshold)


def cap_violation(
    amount_wei: int, user_today_wei: int, all_today_wei: int, policy: PayoutPolicy
) -> str | None:
    """Why paying `amount_wei` now would break a cap (totals exclude this payout), or None."""
    user_cap = eth_to_wei(policy.per_user_daily_cap_eth)
    if user_today_wei + amount_wei > user_cap:
        return f"per-user daily cap: {user_today_wei} + {amount_wei} wei exceeds {user_cap} wei"
    day_cap = eth_to_wei(policy.daily_cap_eth)
    if all_today_wei + amount_wei > day_cap:
        return f"daily cap: {all_today_wei} + {amount_wei} wei exceeds {day_cap} wei"
    return None


def day_start(now: datetime) -> datetime:
    """The start of the UTC day the daily caps count in."""
    return now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
