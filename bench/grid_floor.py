"""The floor of bench_grid_scale (the baseline through Temporal): its Temporal workers, in a process
of their own as perpflow's orchestrator and signers are, so that a stall of the bench process (the
observer of every account's streams, the listener) is not charged to the floor alone.

One Worker runs ``FloorWorkflow`` (one per account, unsandboxed) on a workflow queue and the
re-arm activity on an activity queue; the activity is the baseline's own ``Baseline.rearm`` (the
same order, the same per-account lock) over the keys this process holds.

  python -m bench.grid_floor KEYS.json WORKFLOW_QUEUE ACTIVITY_QUEUE --refused PATH

KEYS.json: ``{"url": the sim, "accounts": [{"name", "index", "private_key", "lower", "levels"}]}``
(each account's key at index KEY and its ladder). The Temporal server is the one
``bench.harness.stack_env`` names (PERPFLOW_TEMPORAL_ADDRESS, PERPFLOW_TEMPORAL_NAMESPACE). At
exit this process cancels the accounts' orders and writes to PATH how many re-arms the sim refused.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from temporalio import activity, workflow
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from bench.bench_grid_scale import FLOOR_FILLED, FLOOR_WORKFLOW, Account, Baseline, Ladder
from perpflow.process import main_entry, stop_event
from perpflow.settings import load_settings
from perpflow.temporal_client import connect
from perpflow.venues.types import Side

log = logging.getLogger("bench.grid_floor")

REARM = "bench_grid_rearm"
# The bench process lays the floor's ladders with the baseline's own client order indexes (from
# 1001, a few thousand at most); this process's re-arms take theirs from here on, so a re-arm never
# carries the index of an order of the ladder on the same account.
REARM_COI = 1_000_000


@workflow.defn(name=FLOOR_WORKFLOW)
class FloorWorkflow:
    """One account's fills, each -> one activity that re-arms it: the least a signal-driven design
    puts between the baseline's listener and its re-arm (a signal, a workflow task, an activity
    dispatch). An activity is started as its fill is taken, not after the previous one ends: the
    account's lock in ``Baseline.rearm`` orders the sends, as it does the baseline's."""

    def __init__(self) -> None:
        self.todo: list[tuple[Side, Decimal]] = []
        self.running: set[asyncio.Task[None]] = set()

    @workflow.run
    async def run(self, account: int, queue: str) -> None:
        while True:
            await workflow.wait_condition(lambda: bool(self.todo))
            side, price = self.todo.pop(0)
            rearm = workflow.start_activity(
                REARM,
                args=[account, side, price],
                task_queue=queue,
                start_to_close_timeout=timedelta(seconds=10),
            )
            self.running.add(rearm)
            rearm.add_done_callback(self.running.discard)

    @workflow.signal(name=FLOOR_FILLED)
    def filled(self, side: Side, price: Decimal) -> None:
        self.todo.append((side, price))


def rearmer(keys: Path) -> Baseline:
    """The baseline over the keys of KEYS.json, its client order indexes from REARM_COI."""
    spec = json.loads(keys.read_text())
    accounts = [Account(a["name"], a["index"], a["private_key"]) for a in spec["accounts"]]
    ladders = {a["index"]: Ladder(Decimal(a["lower"]), a["levels"]) for a in spec["accounts"]}
    bot = Baseline(spec["url"], accounts, ladders)
    bot.coi = REARM_COI
    return bot


async def main() -> None:
    parser = argparse.ArgumentParser(prog="bench.grid_floor")
    parser.add_argument("keys", type=Path)
    parser.add_argument("workflow_queue")
    parser.add_argument("activity_queue")
    parser.add_argument("--refused", type=Path, required=True)
    args = parser.parse_args()
    stop, bot = stop_event(), rearmer(args.keys)

    @activity.defn(name=REARM)
    async def rearm(a: int, side: Side, price: Decimal) -> None:
        await bot.rearm(a, side, price)

    # Started once the ladders rest: each key's next nonce is read after the bench's lay, and the
    # markets with it, so that no re-arm pays for either (the baseline's venues had both).
    await asyncio.gather(*(v.markets() for v in bot.venues.values()))
    await asyncio.gather(*(v.refresh_nonce() for v in bot.venues.values()))
    client = await connect(load_settings())
    try:
        async with (
            Worker(client, task_queue=args.activity_queue, activities=[rearm]),
            Worker(
                client,
                task_queue=args.workflow_queue,
                workflows=[FloorWorkflow],
                workflow_runner=UnsandboxedWorkflowRunner(),
            ),
        ):
            await stop.wait()
    finally:
        args.refused.write_text(str(bot.failed))
        await bot.close()
        log.info("floor worker stopped, %d re-arms refused", bot.failed)


if __name__ == "__main__":
    main_entry(main)
