"""Pure payout rules: tiers, caps, approval threshold, state transitions, config."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from perpflow.config import load_yaml
from perpflow.errors import ConfigError
from perpflow.payouts.config import PayoutsConfig
from perpflow.payouts.errors import IllegalTransition
from perpflow.payouts.models import PayoutState, check_row_move, check_transition
from perpflow.payouts.rules import cap_violation, needs_approval, tier_amount_wei

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "payouts.example.yaml"
POLICY = load_yaml(EXAMPLE, PayoutsConfig).policy()


@pytest.mark.parametrize(
    ("leverage", "eth"),
    [("12.5", "0.02"), ("10.01", "0.02"), ("10", "0.01"), ("5.01", "0.01"), ("5", "0.005"), ("1", "0.005")],
)
def test_the_seed_tiers(leverage: str, eth: str) -> None:
    assert tier_amount_wei(Decimal(leverage), POLICY) == int(Decimal(eth) * 10**18)


def test_caps_and_the_approval_threshold() -> None:
    cent = 10**16
    assert cap_violation(2 * cent, 0, 0, POLICY) is None
    assert (cap_violation(2 * cent, 9 * cent, 0, POLICY) or "").startswith("per-user daily cap")
    assert (cap_violation(2 * cent, 0, 999 * cent, POLICY) or "").startswith("daily cap")
    assert needs_approval(2 * cent, POLICY) and not needs_approval(cent, POLICY)


def test_final_states_have_no_way_out() -> None:
    check_transition(PayoutState.CONFIRMING, PayoutState.CHECKING)
    with pytest.raises(IllegalTransition):
        check_transition(PayoutState.DONE, PayoutState.SENDING)


def test_a_ledger_row_may_skip_what_the_workflow_did_not_write_but_never_leaves_a_final_state() -> None:
    S = PayoutState
    check_row_move(S.CONFIRMING, S.INELIGIBLE)  # the verdict of a check that never wrote CHECKING
    check_row_move(S.SENDING, S.SENDING)  # the lane after an approval that already wrote SENDING
    check_row_move(S.CONFIRMING_TX, S.SENDING)  # a new nonce for a taken one
    for old, new in [(S.DONE, S.FAILED), (S.CANCELLED, S.SENDING), (S.CONFIRMING_TX, S.CHECKING)]:
        with pytest.raises(IllegalTransition):
            check_row_move(old, new)


def test_a_config_typo_fails_loudly(tmp_path: Path) -> None:
    bad = tmp_path / "p.yaml"
    bad.write_text(EXAMPLE.read_text().replace("stuck_after_s", "stuck_after_sec"))
    with pytest.raises(ConfigError, match="stuck_after_sec"):
        load_yaml(bad, PayoutsConfig)
