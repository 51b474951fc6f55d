"""A real run's history replayed with its workflow tasks' times changed: each task at the time of
the task before it (the early run a query on a new worker causes after a SIGKILL: Core runs the
events that came after the last completed task at that task's time), every task at the run's start
(a clock that stands still), and a clock running 1000 times fast. A decision taken by comparing
``workflow.now()`` with a deadline takes the other side in one of them and fails the replay."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from temporalio.client import WorkflowHandle

from perpflow.history import replay_files
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


async def replays_on_every_clock(handle: WorkflowHandle[Any, Any], patch: str, tmp_path: Path) -> list[Event]:
    history: dict[str, Any] = json.loads((await handle.fetch_history()).to_json())
    events: list[Event] = history["events"]
    assert patch in _patches(events)
    tmp_path.mkdir(parents=True, exist_ok=True)
    for clock in CLOCKS:
        path = tmp_path / f"{clock.__name__}.json"
        path.write_text(json.dumps({**history, "events": clock(events)}))
        [outcome] = await replay_files([path], ALL_WORKFLOWS)
        assert outcome.ok, f"{clock.__name__}: {outcome.error}"
    return events
