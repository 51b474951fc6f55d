"""``perpflow grid list``: a session's GridState beside Temporal's status of its run."""

from __future__ import annotations

import pytest
from temporalio.client import WorkflowExecutionStatus as S

from perpflow.grid.client import grid_state_shown


@pytest.mark.parametrize(
    ("status", "state", "shown"),
    [
        (S.RUNNING, "RUNNING", "RUNNING"),
        (S.CONTINUED_AS_NEW, "RUNNING", "RUNNING"),  # its next run goes on
        (S.COMPLETED, "STOPPED", "STOPPED"),
        (S.CANCELED, "STOPPED", "STOPPED"),  # a cancel winds it down first
        (S.TERMINATED, "RUNNING", "RUNNING when it ended"),  # no code ran: left as it was then
        (S.TERMINATED, "STOPPING", "STOPPING when it ended"),
        (S.TIMED_OUT, "PAUSED", "PAUSED when it ended"),
        (S.FAILED, "FAILED", "FAILED"),
        (S.TERMINATED, None, "-"),  # ended before its first state was set
    ],
)
def test_a_state_a_run_left_behind_says_so(status: S, state: str | None, shown: str) -> None:
    assert grid_state_shown(status, state) == shown
