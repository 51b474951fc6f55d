"""When a grid session reconciles, polls, ends a pause after refusals or reaches its time limit:
decided by which of its timers fired, never by the clock against a deadline (``workflows.timers``;
test_grid_chaos found a reconcile in replay where the first run had started a timer). For the
same reason a new session's order keys and start come from the workflow's start time
(``workflows.grid.session``), not from the clock after its first reads: the keys come back in
the history's acknowledgements.

Sessions begun before ``OFF_THE_CLOCK`` compare the clock with their deadlines (``ClockDeadlines``:
their histories replay).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from perpflow.grid.book import GridBook
    from workflows.timers import start_timer

OFF_THE_CLOCK = "grid-off-the-clock"
RECONCILE, POLL, HOLD, TIME_LIMIT = "reconcile", "poll", "hold", "time limit"


class TimerDeadlines:
    """One timer per deadline; what fired is taken once by the step it is for."""

    def __init__(self, book: GridBook) -> None:
        self._timers: dict[str, asyncio.Task[None]] = {}
        self._fired: set[str] = set()
        self._woken = False  # a timer fired since the session last woke
        if (limit := book.config.stop.max_duration_s) is not None:
            end = book.started_at + timedelta(seconds=limit)
            self._set(TIME_LIMIT, end - workflow.now())

    def reconcile_now(self) -> bool:
        return self._take(RECONCILE)

    def poll_now(self) -> bool:
        return self._take(POLL)

    def reconciled(self, every_s: float, poll_s: float | None) -> None:
        """The next reconcile ``every_s`` from now (and the next poll ``poll_s``, when given)."""
        self._set(RECONCILE, timedelta(seconds=every_s))
        if poll_s is not None:
            self.polled(poll_s)

    def polled(self, poll_s: float) -> None:
        self._set(POLL, timedelta(seconds=poll_s))

    def hold(self, pause_s: float) -> None:
        self._set(HOLD, timedelta(seconds=pause_s))

    def holding(self) -> bool:
        self._take(HOLD)
        timer = self._timers.get(HOLD)
        return timer is not None and not timer.done()

    def time_up(self) -> bool:
        return TIME_LIMIT in self._fired

    async def wait(self, woken: Callable[[], bool]) -> None:
        await workflow.wait_condition(lambda: woken() or self._woken)
        self._woken = False

    def _set(self, name: str, after: timedelta) -> None:
        if (timer := self._timers.pop(name, None)) is not None and not timer.done():
            timer.cancel()
        self._fired.discard(name)
        timer = start_timer(after.total_seconds())
        timer.add_done_callback(lambda t: self._ring(name, t))
        self._timers[name] = timer

    def _ring(self, name: str, timer: asyncio.Task[None]) -> None:
        if not timer.cancelled() and self._timers.get(name) is timer:
            self._fired.add(name)
            self._woken = True

    def _take(self, name: str) -> bool:
        fired = name in self._fired
        self._fired.discard(name)
        return fired


class ClockDeadlines:
    """Before ``OFF_THE_CLOCK``: deadlines compared with the clock; one timer for the nearest, kept
    while that deadline stays (a fill that wakes the session writes no timer events)."""

    def __init__(self, book: GridBook) -> None:
        self.book = book
        self.next_reconcile = workflow.now()
        self.next_poll = workflow.now() + timedelta(seconds=book.config.safety_poll_s)
        self.hold_until: datetime | None = None
        self.alarm: tuple[datetime, asyncio.Task[None]] | None = None

    def reconcile_now(self) -> bool:
        return workflow.now() >= self.next_reconcile

    def poll_now(self) -> bool:
        return workflow.now() >= self.next_poll

    def reconciled(self, every_s: float, poll_s: float | None) -> None:
        self.next_reconcile = workflow.now() + timedelta(seconds=every_s)
        if poll_s is not None:
            self.polled(poll_s)

    def polled(self, poll_s: float) -> None:
        self.next_poll = workflow.now() + timedelta(seconds=poll_s)

    def hold(self, pause_s: float) -> None:
        self.hold_until = workflow.now() + timedelta(seconds=pause_s)

    def holding(self) -> bool:
        return self.hold_until is not None and workflow.now() < self.hold_until

    def time_up(self) -> bool:
        end = self._time_limit()
        return end is not None and workflow.now() >= end

    async def wait(self, woken: Callable[[], bool]) -> None:
        deadlines = [self.next_reconcile, self.next_poll]
        if self.hold_until is not None and self.hold_until > workflow.now():
            deadlines.append(self.hold_until)
        if (end := self._time_limit()) is not None:
            deadlines.append(end)
        if (deadline := min(deadlines)) > workflow.now():
            alarm = self._alarm(deadline)
            await workflow.wait_condition(lambda: woken() or alarm.done())

    def _alarm(self, deadline: datetime) -> asyncio.Task[None]:
        if self.alarm is not None:
            at, timer = self.alarm
            if at == deadline and not timer.done():
                return timer
            timer.cancel()
        timer = asyncio.ensure_future(workflow.sleep(deadline - workflow.now()))
        self.alarm = (deadline, timer)
        return timer

    def _time_limit(self) -> datetime | None:
        limit = self.book.config.stop.max_duration_s
        return None if limit is None else self.book.started_at + timedelta(seconds=limit)


Deadlines = TimerDeadlines | ClockDeadlines
