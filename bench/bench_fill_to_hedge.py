"""Fill -> hedge latency: from the sim executing maker A's fill to the sim accepting B's hedge.

perpflow path: sim account_all -> market-data service -> order_filled signal -> hedge workflow
-> place_order on B's signer queue -> lighter-sdk sendTx. Baseline, same run: a plain asyncio
loop on the same account stream that signs and sends the hedge itself. Both read the two
trades' sim timestamps (one clock, millisecond resolution). Also printed: Temporal's share
alone on the same dev server (signal -> no-op workflow -> no-op activity on another queue), the
floor under any overhead of a signal-driven hedge. The ledger is Postgres when one is reachable.
  BENCH_HEDGES (default 40 per path)
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import lighter
from pydantic import SecretStr
from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from activities.orders import OrderActivities
from bench.harness import backend, bench_ledger, pct, sim_process, summary
from perpflow import names
from perpflow.db.ledger import Ledger
from perpflow.db.orders import Orders
from perpflow.db.risk import RiskStates
from perpflow.devstack.harness import local_temporal
from perpflow.marketdata.config import MarketDataConfig
from perpflow.marketdata.service import MarketDataService
from perpflow.models import AccountRef, Model
from perpflow.orders import OrderAck, OrderIntent
from perpflow.risk import RiskLimits
from perpflow.signals import ORDER_FILLED, OrderFilled
from perpflow.sim.admin_client import SimAdmin
from perpflow.venues.lighter.client import LighterVenue
from perpflow.venues.lighter.feed import LighterFeed
from perpflow.venues.types import OrderKind, OrderSpec, Side, TimeInForce
from workflows.options import ORDER

HEDGES = int(os.environ.get("BENCH_HEDGES", "40"))
SIZE = Decimal("0.01")


class HedgeInput(Model):
    taker_account: int
    taker_queue: str


@workflow.defn(name="BenchHedgeWorkflow")
class HedgeWorkflow:
    """The hedge leg of a cycle, cut to the bone: each new fill -> one IOC on the taker."""

    def __init__(self) -> None:
        self.todo: list[OrderFilled] = []
        self.seen: set[str] = set()
        self.stop = False

    @workflow.run
    async def run(self, inp: HedgeInput) -> int:
        hedged = 0
        while True:
            await workflow.wait_condition(lambda: bool(self.todo) or self.stop)
            if not self.todo:
                return hedged
            fill = self.todo.pop(0)
            wid = workflow.info().workflow_id
            worst = fill.price * (Decimal("0.95") if fill.side is Side.BUY else Decimal("1.05"))
            intent = OrderIntent(
                key=names.order_key(wid, f"hedge-{fill.fill_id}"),
                workflow_id=wid,
                account_index=inp.taker_account,
                market=fill.market,
                side=fill.side.opposite,
                kind=OrderKind.MARKET,
                tif=TimeInForce.IOC,
                size=fill.size,
                price=worst.quantize(Decimal("0.01")),
            )
            await workflow.execute_activity(
                "place_order", intent, task_queue=inp.taker_queue, result_type=OrderAck, **ORDER
            )
            hedged += 1

    @workflow.signal(name=ORDER_FILLED)
    def order_filled(self, payload: dict[str, Any]) -> None:
        fill = OrderFilled.model_validate(payload)
        if fill.fill_id not in self.seen:
            self.seen.add(fill.fill_id)
            self.todo.append(fill)

    @workflow.signal
    def finish(self) -> None:
        self.stop = True


@workflow.defn(name="BenchFloorWorkflow")
class FloorWorkflow:
    """Temporal's share alone: each signal -> one no-op activity on another task queue."""

    def __init__(self) -> None:
        self.todo: list[float] = []

    @workflow.run
    async def run(self, queue: str) -> None:
        while True:
            await workflow.wait_condition(lambda: bool(self.todo))
            sent_at = self.todo.pop(0)
            if sent_at < 0:
                return
            await workflow.execute_activity("bench_noop", sent_at, task_queue=queue, **ORDER)

    @workflow.signal
    def go(self, sent_at: float) -> None:
        self.todo.append(sent_at)


async def temporal_floor(client: Client) -> list[float]:
    """signal sent -> activity started, same path as a hedge minus our code (no-op both ends)."""
    started: asyncio.Queue[tuple[float, float]] = asyncio.Queue()

    @activity.defn(name="bench_noop")
    async def noop(sent_at: float) -> None:
        started.put_nowait((sent_at, time.perf_counter()))

    act_queue, wf_queue = f"bench-noop-{uuid.uuid4()}", f"bench-floor-{uuid.uuid4()}"
    runner = UnsandboxedWorkflowRunner()
    async with (
        Worker(client, task_queue=act_queue, activities=[noop]),
        Worker(client, task_queue=wf_queue, workflows=[FloorWorkflow], workflow_runner=runner),
    ):
        handle = await client.start_workflow(
            FloorWorkflow.run, act_queue, id=f"bench-floor-{uuid.uuid4()}", task_queue=wf_queue
        )
        samples = []
        for _ in range(HEDGES + 5):
            await handle.signal(FloorWorkflow.go, time.perf_counter())
            sent_at, at = await asyncio.wait_for(started.get(), 10)
            samples.append((at - sent_at) * 1000)
            await asyncio.sleep(0.05)
        await handle.signal(FloorWorkflow.go, -1.0)
        await handle.result()
    return samples[5:]  # the first ones warm the sticky queue


async def new_venue(admin: SimAdmin, url: str) -> LighterVenue:
    private_key, public_key, err = lighter.create_api_key()
    assert err is None, err
    index = await admin.create_account("1000000", {3: public_key})
    return LighterVenue(url, index, api_key_index=3, private_key=SecretStr(private_key))


class Rig:
    def __init__(self, url: str, admin: SimAdmin, orders: Orders, maker: LighterVenue, taker: LighterVenue):
        self.url, self.admin, self.orders, self.maker, self.taker = url, admin, orders, maker, taker
        self.hedged: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    async def watch_taker(self, http: aiohttp.ClientSession) -> None:
        """Records the taker's trades: the hedge 'accepted' moment is its execution on the sim."""
        async with http.ws_connect(self.url.replace("http", "ws") + "/stream") as ws:
            await ws.send_json({"type": "subscribe", "channel": f"account_all/{self.taker.account_index}"})
            async for frame in ws:
                msg = json.loads(frame.data)
                if msg.get("type") == "update/account_all":
                    for batch in msg.get("trades", {}).values():
                        for t in batch:
                            await self.hedged.put(t)

    async def one_fill(self, workflow_id: str, step: str) -> int:
        """Rest a maker bid, move the price through it; returns the maker fill's sim timestamp."""
        book = await self.maker.book("ETH", 3)
        assert book.best_bid is not None
        price = book.best_bid - Decimal("0.5")
        intent = OrderIntent(
            key=names.order_key(workflow_id, step),
            workflow_id=workflow_id,
            account_index=self.maker.account_index,
            market="ETH",
            side=Side.BUY,
            tif=TimeInForce.POST_ONLY,
            size=SIZE,
            price=price,
        )
        rec = await self.orders.claim(intent)
        spec = OrderSpec(
            market="ETH", client_order_index=rec.client_order_index, side=Side.BUY,
            kind=OrderKind.LIMIT, tif=TimeInForce.POST_ONLY, size=SIZE, price=price,
        )  # fmt: skip
        await self.maker.submit(await self.maker.sign_order(spec))
        await self.admin.set_price(0, price - 2)
        hedge = await asyncio.wait_for(self.hedged.get(), 20)
        trades = (await self.admin.state())["trades"]
        maker_fill = next(
            t
            for t in reversed(trades)
            if t["bid_client_id"] == rec.client_order_index and t["market_id"] == 0
        )
        return int(hedge["timestamp"]) - int(maker_fill["timestamp"])


async def baseline_hedger(rig: Rig, http: aiohttp.ClientSession, stop: asyncio.Event) -> None:
    """What a hand-written bot does: listen to A, sign and send B's IOC at once."""
    coi = 900_000_000
    async with http.ws_connect(rig.url.replace("http", "ws") + "/stream") as ws:
        await ws.send_json({"type": "subscribe", "channel": f"account_all/{rig.maker.account_index}"})
        async for frame in ws:
            if stop.is_set():
                return
            msg = json.loads(frame.data)
            if msg.get("type") != "update/account_all":
                continue
            for batch in msg.get("trades", {}).values():
                for t in batch:
                    coi += 1
                    worst = (Decimal(t["price"]) * Decimal("0.95")).quantize(Decimal("0.01"))
                    spec = OrderSpec(
                        market="ETH", client_order_index=coi, side=Side.SELL, kind=OrderKind.MARKET,
                        tif=TimeInForce.IOC, size=Decimal(t["size"]), price=worst,
                    )  # fmt: skip
                    await rig.taker.submit(await rig.taker.sign_order(spec))


async def run_perpflow(rig: Rig, client: Client, ledger: Ledger, state_dir: Path) -> list[float]:
    queue = names.signer_queue("lighter", rig.taker.account_index, f"3-{uuid.uuid4().hex[:6]}")
    wf_queue = f"bench-{uuid.uuid4()}"
    acts = OrderActivities(rig.taker, Orders(ledger), RiskStates(ledger), RiskLimits())
    await ledger.upsert_account(
        AccountRef(name="bench-maker", venue="lighter", account_index=rig.maker.account_index)
    )
    config = MarketDataConfig(state_dir=state_dir)
    svc, stop = MarketDataService(config, LighterFeed(rig.url), client, ledger), asyncio.Event()
    md = asyncio.create_task(svc.run(stop))
    samples: list[float] = []
    async with (
        Worker(client, task_queue=queue, activities=acts.all(), max_concurrent_activities=1),
        Worker(
            client,
            task_queue=wf_queue,
            workflows=[HedgeWorkflow],
            workflow_runner=UnsandboxedWorkflowRunner(),
        ),
    ):
        wid = f"bench-hedge-{uuid.uuid4()}"
        handle = await client.start_workflow(
            HedgeWorkflow.run, HedgeInput(taker_account=rig.taker.account_index, taker_queue=queue),
            id=wid, task_queue=wf_queue, execution_timeout=timedelta(minutes=10),
        )  # fmt: skip
        await svc.ready.wait()
        await asyncio.sleep(0.5)  # the account stream subscribes after the first refresh
        for i in range(HEDGES):
            samples.append(await rig.one_fill(wid, f"maker-{i}"))
        await handle.signal(HedgeWorkflow.finish)
        await handle.result()
    stop.set()
    await md
    hist = svc.metrics.signal_latency.labels("fill")
    # A bench peeking at its own histogram: mean = sum / count.
    mean_ms = hist._sum.get() / max(sum(b.get() for b in hist._buckets), 1) * 1000
    print(f"market-data share: fill message -> signal accepted, mean {mean_ms:.2f} ms")
    return samples


async def run_baseline(rig: Rig, http: aiohttp.ClientSession) -> list[float]:
    stop = asyncio.Event()
    task = asyncio.create_task(baseline_hedger(rig, http, stop))
    await asyncio.sleep(0.3)
    samples = [float(await rig.one_fill(f"bench-base-{uuid.uuid4()}", "maker")) for _ in range(HEDGES)]
    stop.set()
    task.cancel()
    return samples


async def main() -> None:
    with sim_process() as url, tempfile.TemporaryDirectory() as tmp, bench_ledger(Path(tmp)) as ledger_url:
        env = await local_temporal()
        ledger = Ledger(ledger_url)
        async with SimAdmin(url) as admin, aiohttp.ClientSession(trust_env=False) as http:
            maker, taker = await new_venue(admin, url), await new_venue(admin, url)
            rig = Rig(url, admin, Orders(ledger), maker, taker)
            watcher = asyncio.create_task(rig.watch_taker(http))
            await asyncio.sleep(0.2)
            base = await run_baseline(rig, http)
            flow = await run_perpflow(rig, env.client, ledger, Path(tmp))
            floor = await temporal_floor(env.client)
            watcher.cancel()
            for v in (maker, taker):
                await v.close()
        await ledger.close()
        await env.shutdown()
    print(
        f"fill -> hedge accepted, sim clock (ms resolution), {HEDGES} hedges per path, "
        f"{backend(ledger_url)} ledger"
    )
    print(summary("baseline: direct asyncio script", base))
    print(summary("perpflow: md -> signal -> wf -> signer", flow))
    for q in (50, 95, 99):
        over = pct(flow, q) - pct(base, q)
        target = {50: 15, 95: None, 99: 50}[q]
        note = "" if target is None else f" (target <= {target} ms: {'met' if over <= target else 'NOT met'})"
        print(f"overhead p{q}: {over:6.1f} ms{note}")
    print(summary("Temporal alone: signal -> no-op wf -> no-op activity on another queue", floor))


if __name__ == "__main__":
    asyncio.run(main())
