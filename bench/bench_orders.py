"""Order placement: the activity path against the SDK called directly, on the same sim.

Activity path: the workflow schedules place_order -> signer task queue -> OrderActivities
(ledger intent, risk check, sign, record nonce, sendTx) -> lighter-sdk -> sim. It is timed from
the server's ActivityTaskScheduled event to the sim's acceptance of the order.
Baseline: lighter-sdk's SignerClient.create_order on the same sim, timed from the call to the
sim's acceptance. All clocks are this host's. Round trips as the caller sees them are printed
too (for perpflow: client update -> workflow -> activity -> result back in the client).
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
import uuid
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import lighter
from harness import pct, sim_process, summary
from pydantic import SecretStr
from temporalio import workflow
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from activities.orders import OrderActivities
from perpflow import names
from perpflow.db.ledger import Ledger
from perpflow.db.migrate import upgrade
from perpflow.db.orders import Orders
from perpflow.devstack.harness import local_temporal
from perpflow.orders import OrderAck, OrderIntent
from perpflow.risk import RiskLimits
from perpflow.sim.admin_client import SimAdmin
from perpflow.venues.lighter.client import LighterVenue
from perpflow.venues.types import Side, TimeInForce
from workflows.options import ORDER

N = 200
KEY = 3


@workflow.defn(name="BenchOrdersWorkflow")
class BenchOrdersWorkflow:
    @workflow.init
    def __init__(self, queue: str) -> None:
        # Set before any handler runs: an update can arrive in the very first workflow task.
        self.queue = queue
        self.done = False

    @workflow.run
    async def run(self, queue: str) -> None:
        await workflow.wait_condition(lambda: self.done)

    @workflow.update
    async def place(self, intent: OrderIntent) -> OrderAck:
        return await workflow.execute_activity(
            "place_order", intent, task_queue=self.queue, result_type=OrderAck, **ORDER
        )

    @workflow.signal
    def finish(self) -> None:
        self.done = True


async def new_account(admin: SimAdmin) -> tuple[int, str]:
    private_key, public_key, err = lighter.create_api_key()
    assert err is None, err
    return await admin.create_account("1000000", {KEY: public_key}), private_key


async def accepted_ms(admin: SimAdmin, account_index: int) -> dict[int, float]:
    """The sim's acceptance time (ms, host clock) of each open order, by client order index."""
    state = await admin.state()
    [account] = [a for a in state["accounts"] if a["index"] == account_index]
    return {o["client_order_index"]: o["transaction_time"] / 1000 for o in account["open_orders"]}


def latencies(sent_ms: dict[int, float], accepted: dict[int, float]) -> list[float]:
    return [accepted[coi] - t0 for coi, t0 in sent_ms.items()]


async def baseline(url: str, admin: SimAdmin, price: Decimal) -> tuple[list[float], list[float]]:
    index, key = await new_account(admin)
    client = lighter.SignerClient(url=url, account_index=index, api_private_keys={KEY: key})
    sent_ms: dict[int, float] = {}
    round_trip = []
    ticks = int(price * 100)
    for i in range(N):
        coi, t0 = 500_000 + i, time.time() * 1000
        _, _, err = await client.create_order(0, coi, 500, ticks - i % 50, False, 0, 2)
        round_trip.append(time.time() * 1000 - t0)
        assert err is None, err
        sent_ms[coi] = t0
    await client.close()
    return latencies(sent_ms, await accepted_ms(admin, index)), round_trip


async def activity_path(
    env: WorkflowEnvironment, url: str, admin: SimAdmin, price: Decimal, ledger_url: str
) -> tuple[list[float], list[float]]:
    index, key = await new_account(admin)
    venue = LighterVenue(url, index, api_key_index=KEY, private_key=SecretStr(key))
    ledger = Ledger(ledger_url)
    acts = OrderActivities(venue, Orders(ledger), RiskLimits())
    signer_queue, wf_queue = names.signer_queue("lighter", index, KEY), f"bench-{uuid.uuid4()}"
    coi_by_key: dict[str, int] = {}
    round_trip = []
    async with (
        Worker(env.client, task_queue=signer_queue, activities=acts.all(), max_concurrent_activities=1),
        Worker(
            env.client,
            task_queue=wf_queue,
            workflows=[BenchOrdersWorkflow],
            workflow_runner=UnsandboxedWorkflowRunner(),
        ),
    ):
        handle = await env.client.start_workflow(
            BenchOrdersWorkflow.run,
            signer_queue,
            id=f"bench-{uuid.uuid4()}",
            task_queue=wf_queue,
            execution_timeout=timedelta(minutes=10),
        )
        for i in range(N):
            intent = OrderIntent(
                key=names.order_key(handle.id, f"o{i}"),
                workflow_id=handle.id,
                account_index=index,
                market="ETH",
                side=Side.BUY,
                tif=TimeInForce.POST_ONLY,
                size=Decimal("0.05"),
                price=price - Decimal(i % 50) / 100,
            )
            t0 = time.time() * 1000
            ack = await handle.execute_update(BenchOrdersWorkflow.place, intent)
            round_trip.append(time.time() * 1000 - t0)
            coi_by_key[ack.key] = ack.client_order_index
        await handle.signal(BenchOrdersWorkflow.finish)
        scheduled_ms = await activity_scheduled_ms(handle)
    await venue.close()
    await ledger.close()
    accepted = await accepted_ms(admin, index)
    return [accepted[coi] - scheduled_ms[key] for key, coi in coi_by_key.items()], round_trip


async def activity_scheduled_ms(handle: WorkflowHandle[Any, Any]) -> dict[str, float]:
    """When the server scheduled each place_order, by the intent's idempotency key."""
    out = {}
    async for event in handle.fetch_history_events():
        if event.HasField("activity_task_scheduled_event_attributes"):
            payload = event.activity_task_scheduled_event_attributes.input.payloads[0]
            key = json.loads(payload.data)["key"]
            out[key] = event.event_time.ToMilliseconds()
    return out


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp, sim_process() as url:
        ledger_url = f"sqlite:///{Path(tmp) / 'ledger.db'}"
        upgrade(ledger_url)
        env = await local_temporal(
            dev_server_database_filename=str(Path(tmp) / "temporal.db"),
            dev_server_extra_args=[
                "--sqlite-pragma",
                "journal_mode=WAL",
                "--sqlite-pragma",
                "synchronous=NORMAL",
            ],
        )
        admin = SimAdmin(url)
        try:
            reader = LighterVenue(url, 0)
            try:
                book = await reader.book("ETH", 1)
            finally:
                await reader.close()
            price = (book.best_bid or Decimal(3000)) - 50  # post-only, well away from the touch
            base_venue, base_rt = await baseline(url, admin, price)
            act_venue, act_rt = await activity_path(env, url, admin, price, ledger_url)
        finally:
            await admin.close()
            await env.shutdown()
    print("Order placement -> order accepted by the sim (embedded stack: dev server on SQLite WAL)")
    print(summary("baseline: SDK create_order -> sim", base_venue))
    print(summary("perpflow: activity scheduled -> sim", act_venue))
    print(summary("baseline round trip", base_rt))
    print(summary("perpflow round trip (ack in client)", act_rt))
    overhead = pct(act_venue, 50) - pct(base_venue, 50)
    ratio50, ratio99 = pct(act_venue, 50) / pct(base_venue, 50), pct(act_venue, 99) / pct(base_venue, 99)
    print(
        f"overhead at p50: {overhead:.2f} ms (target <= 20 ms); ratio p50 {ratio50:.2f}x, p99 {ratio99:.2f}x"
    )


if __name__ == "__main__":
    asyncio.run(main())
