"""``perpflow reconcile schedule``'s arguments and the Schedule it builds (no server needed)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from temporalio.client import ScheduleActionStartWorkflow, ScheduleOverlapPolicy

from perpflow.cli.accounts import _policy_pair
from perpflow.errors import PerpflowError
from perpflow.models import AccountRef
from perpflow.reconcile.models import Policy, ReconcileInput
from perpflow.reconcile.schedule import inputs_for, reconcile_schedule

ACCOUNTS = [
    AccountRef(name="a", venue="lighter", account_index=1, api_key_index=3),
    AccountRef(name="b", venue="lighter", account_index=2, api_key_index=3),
    AccountRef(name="g", venue="grvt", account_index=9, api_key_index=0),
]


def test_account_policies_are_name_equals_policy() -> None:
    assert _policy_pair("demo-maker-1=flatten") == ("demo-maker-1", Policy.FLATTEN)
    for bad in ("demo-maker-1", "=alert", "a=burn"):
        with pytest.raises(PerpflowError, match="NAME=POLICY"):
            _policy_pair(bad)


def test_one_input_per_venue_each_with_its_own_accounts_policies() -> None:
    grvt, lighter = inputs_for(
        ACCOUNTS, default=Policy.CANCEL_ORDERS, policies={"a": Policy.FLATTEN, "g": Policy.ALERT}, period_s=10
    )
    assert (lighter.venue, lighter.policies, lighter.period_s) == ("lighter", {"a": Policy.FLATTEN}, 10)
    assert (grvt.venue, grvt.policies, grvt.default_policy) == (
        "grvt",
        {"g": Policy.ALERT},
        Policy.CANCEL_ORDERS,
    )


def test_a_policy_for_an_account_the_ledger_does_not_manage_is_refused() -> None:
    with pytest.raises(PerpflowError, match="no managed account named nope"):
        inputs_for(ACCOUNTS, policies={"nope": Policy.FLATTEN})


def test_the_schedule_runs_every_period_one_run_at_a_time_with_a_bounded_run() -> None:
    schedule = reconcile_schedule(ReconcileInput(period_s=30))
    assert schedule.spec.intervals[0].every == timedelta(seconds=30)
    assert schedule.policy.overlap is ScheduleOverlapPolicy.SKIP
    action = schedule.action
    assert isinstance(action, ScheduleActionStartWorkflow)
    assert (action.workflow, action.id) == ("ReconcileWorkflow", "reconcile-lighter")
    assert action.execution_timeout == timedelta(seconds=120)
