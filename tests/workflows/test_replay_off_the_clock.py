"""A run's history replays whatever clock its workflow tasks ran at: the hold's end and a stuck tx
come from timers that fired (events in the history), never from ``workflow.now()`` against a deadline.

A task can run at another time than its replay: after a worker's SIGKILL, a query reaching a new
worker makes Core run the events that came after the last completed task at that task's (older)
time, and the commands it decides there are the ones sent; every replay runs the same events at
the time of the task that really took them. So a real run's history is replayed with its tasks'
times changed: each task at the time of the task before it (that early run), every task at the
run's start (a clock that stands still), and a clock running 1000 times fast. A branch on the clock
takes the other side in one of them and fails the replay: the hold and the fee bump both did on the
build before ``hedge-hold-timer`` / ``payout-stuck-by-timer``.
"""

from __future__ import annotations

import base64
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from perpflow.hedge.models import CycleResult, CycleState
from perpflow.history import replay_files
from perpflow.venues.types import Side
from tests.plugins.chain import ChainEnv
from tests.plugins.hedge import HedgeRig
from tests.plugins.payouts import Payouts, PayoutState, eventually, open_payouts
from workflows.calls import BUMP_PAYOUT
from workflows.hedge.hold import HOLD_TIMER
from workflows.payout import STUCK_BY_TIMER
from workflows.registry import ALL_WORKFLOWS

Event = dict[str, Any]
TASK_STARTED = "EVENT_TYPE_WORKFLOW_TASK_STARTED"  # its time is workflow.now() in that task


def _at(text: str) -> datetime:
    whole, _, frac = text.rstrip("Z").partition(".")
    return datetime.fromisoformat(f"{whole}.{(frac + '000000')[:6]}+00:00")


def _text(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def a_task_behind(events: list[Event]) -> list[Event]:
    """Each workflow task at the time of the one before it: the early run a query causes."""
    out, previous = [], events[0]["eventTime"]
    for ev in events:
        if ev["eventType"] == TASK_STARTED:
            out.append({**ev, "eventTime": previous})
            previous = ev["eventTime"]
        else:
            out.append(ev)
    return out


def standing_still(events: list[Event]) -> list[Event]:
    return [{**ev, "eventTime": events[0]["eventTime"]} for ev in events]


def running_fast(events: list[Event]) -> list[Event]:
    start = _at(events[0]["eventTime"])
    return [{**ev, "eventTime": _text(start + (_at(ev["eventTime"]) - start) * 1000)} for ev in events]


CLOCKS: list[Callable[[list[Event]], list[Event]]] = [a_task_behind, standing_still, running_fast]


def _patches(events: list[Event]) -> set[str]:
    ids = set()
    for ev in events:
        details = ev.get("markerRecordedEventAttributes", {}).get("details", {})
        for payload in details.get("patch-data", {}).get("payloads", []):
            ids.add(json.loads(base64.b64decode(payload["data"]))["id"])
    return ids


async def _replays_on_every_clock(
    handle: WorkflowHandle[Any, Any], patch: str, tmp_path: Path
) -> list[Event]:
    history: dict[str, Any] = json.loads((await handle.fetch_history()).to_json())
    events: list[Event] = history["events"]
    assert patch in _patches(events)
    for clock in CLOCKS:
        path = tmp_path / f"{clock.__name__}.json"
        path.write_text(json.dumps({**history, "events": clock(events)}))
        [outcome] = await replay_files([path], ALL_WORKFLOWS)
        assert outcome.ok, f"{clock.__name__}: {outcome.error}"
    return events


async def test_a_hold_that_runs_to_its_end_replays_on_any_clock(hedge_rig: HedgeRig, tmp_path: Path) -> None:
    handle = await hedge_rig.start(hedge_rig.cycle(Side.BUY, hold_s=1))
    await hedge_rig.quoting(handle)
    await hedge_rig.move_through(Side.BUY)
    result: CycleResult = await handle.result()
    assert (result.state, result.reason) == (CycleState.DONE, "closed"), result  # no trigger, no flatten
    events = await _replays_on_every_clock(handle, HOLD_TIMER, tmp_path)
    # The hold's end (the safety poll, 600 s by default, never fired in a 1 s hold).
    assert any(ev["eventType"] == "EVENT_TYPE_TIMER_FIRED" for ev in events)


@pytest.fixture
async def payouts(
    chain: ChainEnv, temporal_env: WorkflowEnvironment, sqlite_url: str
) -> AsyncIterator[Payouts]:
    async with open_payouts(chain, temporal_env, sqlite_url) as env:
        yield env


async def test_a_stuck_tx_bumped_replays_on_any_clock(payouts: Payouts, tmp_path: Path) -> None:
    ev = await payouts.liquidate(payouts.users[1], leverage_ratio=600)
    await payouts.chain.set_automine(False)
    await payouts.start_workers()
    handle = await payouts.start(ev, payouts.policy.model_copy(update={"stuck_after_s": 1}))

    async def bumped() -> bool:
        with contextlib.suppress(Exception):  # no ledger row yet
            return len((await payouts.repo.get(handle.id)).tx_hashes) >= 2
        return False

    await eventually(bumped, 30, "a fee bump's second tx hash")
    await payouts.chain.mine(1)
    assert (await handle.result()).state is PayoutState.DONE
    events = await _replays_on_every_clock(handle, STUCK_BY_TIMER, tmp_path)
    scheduled = [ev.get("activityTaskScheduledEventAttributes", {}) for ev in events]
    assert any(a.get("activityType", {}).get("name") == BUMP_PAYOUT.name for a in scheduled)
