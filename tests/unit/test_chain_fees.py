"""Fee arithmetic for same-nonce replacements."""

from __future__ import annotations

from fractions import Fraction

import pytest

from perpflow.chain.fees import GWEI, MIN_BUMP, bump_fees, fees_for_base
from perpflow.chain.models import Eip1559Fees


def test_fees_for_base_is_twice_base_plus_tip() -> None:
    fees = fees_for_base(7 * GWEI, 2 * GWEI)
    assert (fees.max_fee_per_gas, fees.max_priority_fee_per_gas) == (16 * GWEI, 2 * GWEI)


def test_default_bump_doubles_both_fields() -> None:
    old = Eip1559Fees(max_fee_per_gas=3 * GWEI, max_priority_fee_per_gas=GWEI)
    new = bump_fees(old)
    assert (new.max_fee_per_gas, new.max_priority_fee_per_gas) == (6 * GWEI, 2 * GWEI)


@pytest.mark.parametrize("cap,tip", [(1, 0), (0, 0), (8, 7), (10**9 + 1, 3), (2_178_743_886, 10**9)])
def test_minimum_bump_raises_both_fields_by_at_least_12_5_percent(cap: int, tip: int) -> None:
    old = Eip1559Fees(max_fee_per_gas=cap, max_priority_fee_per_gas=tip)
    new = bump_fees(old, factor=MIN_BUMP)
    assert new.max_fee_per_gas >= cap * Fraction(9, 8) and new.max_fee_per_gas > cap
    assert new.max_priority_fee_per_gas >= tip * Fraction(9, 8) and new.max_priority_fee_per_gas > tip


def test_bump_never_goes_below_current_network_fees() -> None:
    old = Eip1559Fees(max_fee_per_gas=2 * GWEI, max_priority_fee_per_gas=GWEI)
    current = Eip1559Fees(max_fee_per_gas=50 * GWEI, max_priority_fee_per_gas=3 * GWEI)
    new = bump_fees(old, current)
    assert (new.max_fee_per_gas, new.max_priority_fee_per_gas) == (50 * GWEI, 3 * GWEI)


def test_bump_factor_below_replacement_minimum_is_refused() -> None:
    with pytest.raises(ValueError):
        bump_fees(Eip1559Fees(max_fee_per_gas=10, max_priority_fee_per_gas=1), factor=Fraction(11, 10))
