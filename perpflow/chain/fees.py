"""EIP-1559 fee arithmetic (pure)."""

from __future__ import annotations

from fractions import Fraction

from perpflow.chain.models import Eip1559Fees

GWEI = 10**9
# Default tip when the node has no opinion (anvil answers eth_maxPriorityFeePerGas with 1 gwei).
DEFAULT_TIP_WEI = 1 * GWEI
# geth and anvil accept a replacement only if BOTH the fee cap and the tip rise by >= 10%
# (geth's default price bump); 12.5% is the floor we guarantee, 2x is what we use by default
# because anvil's pool orders by fee and 2x was observed to replace reliably.
MIN_BUMP = Fraction(9, 8)
DEFAULT_BUMP = Fraction(2)


def _ceil(value: Fraction) -> int:
    return -((-value.numerator) // value.denominator)


def fees_for_base(base_fee_wei: int, tip_wei: int = DEFAULT_TIP_WEI) -> Eip1559Fees:
    """Cap of 2x base + tip: survives six consecutive full blocks (+12.5% each) before going stale."""
    return Eip1559Fees(max_fee_per_gas=2 * base_fee_wei + tip_wei, max_priority_fee_per_gas=tip_wei)


def bump_fees(
    old: Eip1559Fees, current: Eip1559Fees | None = None, factor: Fraction = DEFAULT_BUMP
) -> Eip1559Fees:
    """Fees for a same-nonce replacement: both fields >= old x factor (factor >= 1.125), +1 wei at
    least so a zero tip still moves, and never below what the network asks for now (`current`)."""
    if factor < MIN_BUMP:
        raise ValueError(f"bump factor {factor} is below the replacement minimum {MIN_BUMP}")
    tip = max(_ceil(old.max_priority_fee_per_gas * factor), old.max_priority_fee_per_gas + 1)
    cap = max(_ceil(old.max_fee_per_gas * factor), old.max_fee_per_gas + 1)
    if current is not None:
        tip = max(tip, current.max_priority_fee_per_gas)
        cap = max(cap, current.max_fee_per_gas)
    return Eip1559Fees(max_fee_per_gas=max(cap, tip), max_priority_fee_per_gas=tip)
