"""Deadlines as timers that fire, never as ``workflow.now()`` (or ``workflow.time()``) compared
with a deadline.

After a worker's SIGKILL, a query that reaches a new worker while the run's next task still waits
on the dead worker's sticky queue makes Core run the events that came after the last completed
task at that task's time; what it decides there is what it sends once the task comes. Every
replay runs the same events at the later task's time. A clock comparison can take one branch
there and the other in the replay: a nondeterminism error the run never gets past. A timer that
fired is in the history; the clock is not. Timer durations, activity inputs and recorded times
may still use the clock (tests/plugins/replay_clock.py replays runs on moved clocks).
"""

from __future__ import annotations

import asyncio
from datetime import datetime

from temporalio import workflow

# However short the wait, a timer is started: the clock here may be past a deadline that a
# replay's clock is not (or the other way round), and a timer started or not would differ.
SHORTEST_S = 0.001


def start_timer(seconds: float) -> asyncio.Task[None]:
    return asyncio.ensure_future(workflow.sleep(max(seconds, SHORTEST_S)))


def timer_until(at: datetime) -> asyncio.Task[None]:
    return start_timer((at - workflow.now()).total_seconds())
