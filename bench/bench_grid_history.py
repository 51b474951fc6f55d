"""Grid history: events per fill of one GridSessionWorkflow on the real stack, from its start
through continue-as-new, against the target of 12.

The stack of bench_grid_scale (orchestrator, signer, market-data worker as processes; the sim;
a dev server): one session of 20 levels 2 USD apart; the sim's price swept down and up the
ladder one level per move, so a move fills the order resting there (and the market-data worker
signals the fill and the band crossing); each move waits for the refill before the next, so the
count does not depend on the machine's load. Events are counted over every run of the session,
by type (activities by their type, signals by name), per fill as the session counts its fills;
"per fill, once running" leaves out the first run's start (ladder, watches).
  BENCH_GRID_HISTORY_FILLS (320; a run continues as new every 300), BENCH_GRID_HISTORY_PACE_S (0.1:
  the pause after each move, for a re-arm the crossing asks for)
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.bench_grid_scale import (
    ETH,
    START,
    STEP,
    Ladder,
    Runs,
    event_mix,
    histories,
    new_accounts,
    perpflow_stack,
    session_config,
)
from bench.harness import backend, bench_ledger, sim_process
from perpflow import names
from perpflow.devstack.harness import local_temporal
from perpflow.grid.levels import LevelState
from perpflow.grid.models import GridStatus
from perpflow.signals import ORDER_FILLED
from perpflow.sim.admin_client import SimAdmin
from perpflow.venues.types import Side

FILLS = int(os.environ.get("BENCH_GRID_HISTORY_FILLS", "320"))
PACE_S = float(os.environ.get("BENCH_GRID_HISTORY_PACE_S", "0.1"))
LEVELS = 20
TARGET = 12.0


def sweep(ladder: Ladder) -> list[Decimal]:
    """Midpoints between levels, down the ladder and back up (its outer two levels left alone):
    each move crosses one level."""
    mids = [ladder.price(i) + STEP / 2 for i in range(2, ladder.levels - 3)]
    start = min(range(len(mids)), key=lambda i: abs(mids[i] - START))
    return mids[start::-1] + mids[1:] + mids[-2:start:-1]


async def status(handle: WorkflowHandle[Any, Any]) -> GridStatus:
    result: GridStatus = await handle.query("status", result_type=GridStatus)
    return result


async def until_status(handle: WorkflowHandle[Any, Any], check: Any, what: str, timeout: float) -> GridStatus:
    deadline = time.monotonic() + timeout
    while True:
        try:
            now = await status(handle)
            if check(now):
                return now
        except Exception:  # starting: no book yet
            if time.monotonic() > deadline:
                raise
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:g} s waiting for {what}")
        await asyncio.sleep(0.2)


def whole(s: GridStatus) -> bool:
    return sum(r.state is LevelState.OPEN for r in s.levels) == LEVELS - 1


def crossed_order(s: GridStatus, was: Decimal, price: Decimal) -> bool:
    """Whether moving the price from ``was`` to ``price`` crosses one of the session's orders."""
    low, high = sorted((was, price))
    buys_crossed = price < was
    return any(
        r.state is LevelState.OPEN and low < r.price < high and (r.side is Side.BUY) == buys_crossed
        for r in s.levels
    )


def settled(s: GridStatus) -> bool:
    """No placement or cancel under way."""
    return not any(r.state in (LevelState.PLACING, LevelState.CANCELLING) for r in s.levels)


async def run(
    client: Client, admin: SimAdmin, url: str, ledger_url: str, tmp: Path
) -> tuple[Runs, int, float]:
    account = (await new_accounts(admin, "bench-history-", 1))[0]
    ladder = Ladder.of(0, 1, LEVELS)
    path = sweep(ladder)
    async with perpflow_stack(client, url, [account], ledger_url, tmp):
        config = session_config(uuid.uuid4().hex[:6], 0, account, ladder)
        wid = names.grid_session_id(config["name"])
        handle = await client.start_workflow(
            "GridSessionWorkflow", config, id=wid, task_queue=names.ORCHESTRATOR_QUEUE
        )
        await until_status(handle, whole, "the ladder resting", 60)
        await asyncio.sleep(2.0)  # the band watches registered beside the ladder
        t0, now, i, was = time.monotonic(), await status(handle), 0, START
        while now.fills < FILLS:
            before, price, i = now, path[i % len(path)], i + 1
            await admin.set_price(ETH, price)
            # A move fills the order resting on the level it crosses, if one does; the next move
            # waits for its refill (and for any re-arm the crossing asks for), whatever the load.
            if crossed_order(before, was, price):
                await until_status(handle, lambda s, n=before.fills: s.fills > n, "the fill", 30)
            await asyncio.sleep(PACE_S)
            now, was = await until_status(handle, settled, "the refill resting", 30), price
        took = time.monotonic() - t0
        final = now
        hist = await histories(client, [wid])
        await handle.terminate("bench done")
    return hist, final.fills, took


def running_events(hist: Runs) -> int:
    """Events from the first fill signal of the first run on (the start left out)."""
    runs = next(iter(hist.values()))
    first = runs[0]
    start = next(
        i
        for i, e in enumerate(first)
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED
        and e.workflow_execution_signaled_event_attributes.signal_name == ORDER_FILLED
    )
    return len(first) - start + sum(len(r) for r in runs[1:])


async def main() -> None:
    with sim_process() as url, tempfile.TemporaryDirectory() as tmp, bench_ledger(Path(tmp)) as ledger_url:
        env = await local_temporal()
        async with SimAdmin(url) as admin, aiohttp.ClientSession(trust_env=False):
            hist, fills, took = await run(env.client, admin, url, ledger_url, Path(tmp))
        await env.shutdown()
    runs = next(iter(hist.values()))
    total = sum(len(r) for r in runs)
    print(
        f"Grid history: one session, {LEVELS} levels {STEP} USD apart, the price swept a level per "
        f"move, each after the last refill; {fills} fills in {took:.0f} s; {backend(ledger_url)} ledger"
    )
    print(f"runs {len(runs)}: events per run {[len(r) for r in runs]}")
    per_fill = total / max(fills, 1)
    met = "met" if per_fill <= TARGET else "MISSED"
    print(f"events per fill {per_fill:.2f} (target <= {TARGET:g}: {met}); ", end="")
    print(f"once running (the first run's start left out) {running_events(hist) / max(fills, 1):.2f}")
    print("by type, per fill:")
    print("\n".join(event_mix(hist, fills)[1:]))


if __name__ == "__main__":
    asyncio.run(main())
