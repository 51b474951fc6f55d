"""GRVT order placement: the activity path against grvt-pysdk called directly, on the same sim.

perpflow: a workflow update schedules ``place_order`` on the account's one-slot signer queue, served
by the production signer process (``workers.signer`` with a GRVT account in its YAML) ->
OrderActivities -> the order gateway: the intent claimed in the ledger (write-ahead), the risk check
(trading states, the account's position from GRVT) beside the EIP-712 signature, the signed order
stored in the ledger, ``create_order``, the one-request look-up after it -> the sim's GRVT face.
Timed from the server's ActivityTaskScheduled event to the sim's acceptance of the order.

Baseline: grvt-pysdk's raw async client (``GrvtRawAsync``), the same post-only order built as the
SDK's ``Order``, signed with the SDK's ``sign_order`` and sent with ``create_order_v1`` to the same
face: timed from the call to the sim's acceptance.

Temporal alone: the same workflow's update schedules a no-op activity on a one-slot queue that a
worker in another process serves (the signer's shape with nothing to do): ActivityTaskScheduled ->
the activity started. This is the part of the perpflow path no code of ours runs in; a ratio above
target whose excess is below it is Temporal's, not perpflow's.

The three are sampled in turn (baseline, perpflow, Temporal alone), so each sees the same load. The
sim's acceptance time is the GRVT face's ``create_time`` of the order (ns, this host's clock, read
back at the end); the server's event times are this host's clock too. Round trips as the caller
sees them are printed beside (perpflow: the client's update -> workflow -> activity -> ack back).
The signer's client-side request budget is set out of reach: this measures latency, not the budget.
The ledger is Postgres when one is reachable (bench.harness.bench_ledger).
  BENCH_GRVT_ORDERS (default 200 per path)
Target: perpflow <= 2x the SDK's own latency at p50 and p99.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from pysdk import grvt_raw_types as t
from pysdk.grvt_raw_async import GrvtRawAsync
from pysdk.grvt_raw_base import GrvtError
from pysdk.grvt_raw_signing import sign_order
from sqlalchemy import select
from temporalio import workflow
from temporalio.client import Client, WorkflowHandle
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.grvt_rig import (
    ETH_GRVT,
    GRVT_KEY,
    NOOP,
    GrvtAccount,
    new_grvt_account,
    noop_worker,
    polled,
    raw_client,
    signer_config,
    stack_env,
    utc,
)
from bench.harness import backend, bench_ledger, pct, processes, sim_process, summary
from perpflow import names
from perpflow.db import tables
from perpflow.db.ledger import Ledger
from perpflow.db.orders import Orders
from perpflow.devstack.harness import local_temporal
from perpflow.orders import OrderAck, OrderIntent
from perpflow.venues.base import SignedTx, VenueName
from perpflow.venues.types import OrderKind, Side, TimeInForce
from workflows.options import ORDER

N = int(os.environ.get("BENCH_GRVT_ORDERS", "200"))
WARMUP = 5  # per path, not counted: connections, sessions, caches, sticky queues
SIZE = Decimal("0.05")
TARGET = 2.0
CLIENT_ID_BASE = 2**63  # where GRVT asks API clients to draw client_order_ids from
SDK_IDS = CLIENT_ID_BASE + 10**12  # the baseline's, far from any perpflow client order index
DAY_NS = 86_400 * 10**9


@workflow.defn(name="BenchGrvtOrdersWorkflow")
class BenchGrvtOrdersWorkflow:
    @workflow.init
    def __init__(self, signer_queue: str, noop_queue: str) -> None:
        # Set before any handler runs: an update can arrive in the very first workflow task.
        self.signer_queue, self.noop_queue = signer_queue, noop_queue
        self.done = False

    @workflow.run
    async def run(self, signer_queue: str, noop_queue: str) -> None:
        await workflow.wait_condition(lambda: self.done)

    @workflow.update
    async def place(self, intent: OrderIntent) -> OrderAck:
        return await workflow.execute_activity(
            "place_order", intent, task_queue=self.signer_queue, result_type=OrderAck, **ORDER
        )

    @workflow.update
    async def noop(self, sample: int) -> float:
        return await workflow.execute_activity(
            NOOP, sample, task_queue=self.noop_queue, result_type=float, **ORDER
        )

    @workflow.signal
    def finish(self) -> None:
        self.done = True


# -- the baseline: grvt-pysdk's raw async client ------------------------------------------------


class SdkTrader:
    def __init__(self, raw: GrvtRawAsync, account: GrvtAccount, instrument: t.Instrument) -> None:
        self.raw, self.account, self.instruments = raw, account, {ETH_GRVT: instrument}

    def order(self, coid: int, price: Decimal) -> t.Order:
        """A post-only bid as the SDK's users build one (a random nonce, a day to live)."""
        leg = t.OrderLeg(ETH_GRVT, str(SIZE), True, str(price))
        sig = t.Signature("", "", "", 0, str(time.time_ns() + DAY_NS), random.randint(0, 2**32 - 1))
        return t.Order(
            sub_account_id=str(self.account.sub_account_id), time_in_force=t.TimeInForce.GOOD_TILL_TIME,
            legs=[leg], signature=sig, metadata=t.OrderMetadata(client_order_id=str(coid)),
            is_market=False, post_only=True, reduce_only=False,
        )  # fmt: skip

    async def place(self, coid: int, price: Decimal) -> tuple[int, float]:
        """One order, signed and sent by the SDK: when the call began (ns), its round trip (ms)."""
        t0 = time.time_ns()
        order = sign_order(self.order(coid, price), self.raw.config, self.raw.account, self.instruments)
        resp = await self.raw.create_order_v1(t.ApiCreateOrderRequest(order))
        rt = (time.time_ns() - t0) / 1e6
        assert not isinstance(resp, GrvtError), resp
        return t0, rt


async def accepted_ns(raw: GrvtRawAsync, account: GrvtAccount) -> dict[int, int]:
    """The sim's acceptance time (its GRVT face's create_time, ns) of each open order, by client_order_id."""
    resp = await raw.open_orders_v1(t.ApiOpenOrdersRequest(str(account.sub_account_id)))
    assert not isinstance(resp, GrvtError), resp
    return {int(o.metadata.client_order_id): int(o.metadata.create_time) for o in resp.result}


# -- perpflow: the workflow's updates -------------------------------------------------------------


async def scheduled_ms(handle: WorkflowHandle[Any, Any]) -> tuple[dict[str, float], dict[int, float]]:
    """When the server scheduled each place_order (by the intent's key) and each no-op (by sample)."""
    orders, noops = {}, {}
    async for event in handle.fetch_history_events():
        if event.HasField("activity_task_scheduled_event_attributes"):
            attrs = event.activity_task_scheduled_event_attributes
            arg = json.loads(attrs.input.payloads[0].data)
            if attrs.activity_type.name == NOOP:
                noops[int(arg)] = event.event_time.ToMicroseconds() / 1000
            else:
                orders[arg["key"]] = event.event_time.ToMicroseconds() / 1000
    return orders, noops


async def ledger_moments(ledger: Ledger, workflow_id: str) -> dict[str, tuple[float, float]]:
    """Each order's claim (the intent row inserted) and store (the signed order written) as the
    signer's own clock put them in the ledger (ms, wall), by key: a profile with no probe inside."""
    async with ledger.session() as s:
        rows = await s.execute(
            select(tables.Order.idempotency_key, tables.Order.created_at, tables.Order.submitted_at).where(
                tables.Order.workflow_id == workflow_id
            )
        )
        return {key: (wall_ms(created), wall_ms(submitted)) for key, created, submitted in rows}


def wall_ms(at: datetime | None) -> float:
    assert at is not None
    return (at if at.tzinfo is not None else at.replace(tzinfo=UTC)).timestamp() * 1000


async def claim_and_store(orders: Orders, account: GrvtAccount) -> float:
    """Exactly-once's two committed writes before a send, back to back (ms): the write-ahead's floor."""
    intent = OrderIntent(
        key=f"bench-floor/{uuid.uuid4()}", workflow_id="bench-floor", venue=VenueName.GRVT,
        account_index=account.sub_account_id, market=ETH_GRVT, side=Side.BUY, kind=OrderKind.LIMIT,
        tif=TimeInForce.POST_ONLY, size=SIZE, price=Decimal(1),
    )  # fmt: skip
    tx = SignedTx(tx_type=0, tx_info="{}", tx_hash="bench", nonce=0, api_key_index=GRVT_KEY)
    began = time.perf_counter()
    await orders.claim(intent)
    await orders.mark_submitting(intent.key, tx)
    return (time.perf_counter() - began) * 1000


class Samples:
    def __init__(self) -> None:
        self.sdk_sent: dict[int, int] = {}  # client_order_id -> when the SDK call began (ns)
        self.sdk_rt: list[float] = []
        self.flow_rt: list[float] = []
        self.noop_rt: list[float] = []
        self.coi_by_key: dict[str, int] = {}
        self.noop_started: dict[int, float] = {}  # sample -> when the no-op began (ms, wall)
        self.writes: list[float] = []  # claim + store back to back
        self.load: list[float] = []  # the 1-minute load average as sampling began and ended


@dataclass
class Sampler:
    sdk: SdkTrader
    handle: WorkflowHandle[Any, Any]
    account: GrvtAccount  # perpflow's
    orders: Orders
    s: Samples = field(default_factory=Samples)

    async def take(self, i: int, price: Decimal) -> None:
        """One order each way, one no-op and one claim + store, in turn."""
        counted, s = i >= WARMUP, self.s
        sent, rt = await self.sdk.place(SDK_IDS + i, price)
        if counted:
            s.sdk_sent[SDK_IDS + i] = sent
            s.sdk_rt.append(rt)
        t0 = time.time()
        ack = await self.handle.execute_update(BenchGrvtOrdersWorkflow.place, self.intent(i, price))
        assert ack.sent_now, ack
        if counted:
            s.flow_rt.append((time.time() - t0) * 1000)
            s.coi_by_key[ack.key] = ack.client_order_index
        t0 = time.time()
        started = await self.handle.execute_update(BenchGrvtOrdersWorkflow.noop, i)
        noop_rt = (time.time() - t0) * 1000
        writes = await claim_and_store(self.orders, self.account)
        if counted:
            s.noop_rt.append(noop_rt)
            s.noop_started[i] = started * 1000
            s.writes.append(writes)

    def intent(self, i: int, price: Decimal) -> OrderIntent:
        return OrderIntent(
            key=names.order_key(self.handle.id, f"o{i}"), workflow_id=self.handle.id, venue=VenueName.GRVT,
            account_index=self.account.sub_account_id, market=ETH_GRVT, side=Side.BUY,
            tif=TimeInForce.POST_ONLY, size=SIZE, price=price,
        )  # fmt: skip


@dataclass
class Setup:
    sdk: SdkTrader
    flow_account: GrvtAccount
    top: Decimal  # the best bid when the run began
    tick: Decimal


async def setup(raw: GrvtRawAsync, sdk_account: GrvtAccount, flow_account: GrvtAccount) -> Setup:
    instrument = (await raw.get_instrument_v1(t.ApiGetInstrumentRequest(ETH_GRVT))).result
    book = (await raw.orderbook_levels_v1(t.ApiOrderbookLevelsRequest(ETH_GRVT, 10))).result
    sdk = SdkTrader(raw, sdk_account, instrument)
    return Setup(sdk, flow_account, Decimal(book.bids[0].price), Decimal(instrument.tick_size))


async def run_samples(rig: Setup, client: Client, ledger: Ledger, signer_queue: str) -> Measured:
    """Every sample in turn; the workflow's history and the ledger's rows read back at the end."""
    wf_queue, runner = f"bench-grvt-orders-{uuid.uuid4()}", UnsandboxedWorkflowRunner()
    async with (
        noop_worker(client) as noop_queue,
        Worker(client, task_queue=wf_queue, workflows=[BenchGrvtOrdersWorkflow], workflow_runner=runner),
    ):
        handle = await client.start_workflow(
            BenchGrvtOrdersWorkflow.run, args=[signer_queue, noop_queue], id=f"bench-{uuid.uuid4()}",
            task_queue=wf_queue, execution_timeout=timedelta(minutes=20),
        )  # fmt: skip
        sampler = Sampler(rig.sdk, handle, rig.flow_account, Orders(ledger))
        sampler.s.load.append(os.getloadavg()[0])
        for i in range(WARMUP + N):
            # Post-only bids well under the touch, so all of them rest.
            await sampler.take(i, rig.top - 50 - (i % 50) * rig.tick)
        sampler.s.load.append(os.getloadavg()[0])
        await handle.signal(BenchGrvtOrdersWorkflow.finish)
        await handle.result()
    order_at, noop_at = await scheduled_ms(handle)
    return Measured(sampler.s, order_at, noop_at, await ledger_moments(ledger, handle.id))


@dataclass
class Measured:
    samples: Samples
    order_at: dict[str, float]  # place_order scheduled, by key (ms, wall)
    noop_at: dict[int, float]  # the no-op scheduled, by sample
    ledger: dict[str, tuple[float, float]]  # claimed, stored, by key
    sdk_accepted: dict[int, int] = field(default_factory=dict)  # client_order_id -> ns
    flow_accepted: dict[int, int] = field(default_factory=dict)

    def results(self) -> dict[str, list[float]]:
        s = self.samples
        keys = list(s.coi_by_key)
        accepted = {k: self.flow_accepted[CLIENT_ID_BASE + s.coi_by_key[k]] / 1e6 for k in keys}
        return {
            "sdk": [(self.sdk_accepted[coid] - t0) / 1e6 for coid, t0 in s.sdk_sent.items()],
            "flow": [accepted[k] - self.order_at[k] for k in keys],
            "noop": [at - self.noop_at[i] for i, at in s.noop_started.items()],
            "to claim": [self.ledger[k][0] - self.order_at[k] for k in keys],
            "claim to store": [self.ledger[k][1] - self.ledger[k][0] for k in keys],
            "store to accepted": [accepted[k] - self.ledger[k][1] for k in keys],
            "writes": s.writes,
            "sdk_rt": s.sdk_rt,
            "flow_rt": s.flow_rt,
            "noop_rt": s.noop_rt,
            "load": s.load,
        }


async def run(url: str, client: Client, ledger_url: str, tmp: Path) -> dict[str, list[float]]:
    sdk_account = await new_grvt_account(url, "bench-sdk")
    flow_account = await new_grvt_account(url, "bench-flow")
    config = signer_config(url, tmp, [flow_account], [])
    signer_queue = names.signer_queue(VenueName.GRVT.value, flow_account.sub_account_id, GRVT_KEY)
    commands = {"signer": [sys.executable, "-m", "workers.signer", str(config)]}
    raw, reader, ledger = raw_client(url, sdk_account), raw_client(url, flow_account), Ledger(ledger_url)
    try:
        rig = await setup(raw, sdk_account, flow_account)
        with processes(commands, stack_env(client, url, ledger_url, tmp), tmp):
            await polled(client, [], [signer_queue])
            measured = await run_samples(rig, client, ledger, signer_queue)
        measured.sdk_accepted = await accepted_ns(raw, sdk_account)
        measured.flow_accepted = await accepted_ns(reader, flow_account)
    finally:
        for r in (raw, reader):
            await r._session.close()
        await ledger.close()
    return measured.results()


def report(r: dict[str, list[float]], ledger_url: str) -> None:
    print(
        f"GRVT order placement -> order accepted by the sim's GRVT face, {N} orders per path, "
        f"{backend(ledger_url)} ledger; load (1 min) {r['load'][0]:.1f} at the start, "
        f"{r['load'][1]:.1f} at the end, {os.cpu_count()} cores"
    )
    print(summary("baseline: grvt-pysdk sign + create_order", r["sdk"]))
    print(summary("perpflow: activity scheduled -> sim", r["flow"]))
    print(summary("Temporal alone: scheduled -> no-op ran", r["noop"]))
    for q in (50, 99):
        base, flow, floor, writes = (
            pct(r["sdk"], q),
            pct(r["flow"], q),
            pct(r["noop"], q),
            pct(r["writes"], q),
        )
        ratio = flow / base
        verdict = "met" if ratio <= TARGET else "NOT met"
        if floor / base > TARGET:
            verdict += f", below Temporal's own floor of {floor / base:.2f}x"
        print(
            f"p{q}: overhead {flow - base:6.2f} ms, ratio {ratio:.2f}x (target <= {TARGET:g}x: {verdict}); "
            f"Temporal alone {floor:5.2f} ms ({floor / base:.2f}x the baseline), with claim + store "
            f"{floor + writes:5.2f} ms ({(floor + writes) / base:.2f}x); the rest of perpflow "
            f"{flow - floor - writes - base:5.2f} ms over the baseline; perpflow's own part "
            f"(perpflow - Temporal alone) {flow - floor:5.2f} ms, {(flow - floor) / base:.2f}x the SDK call"
        )
    print("perpflow path from the ledger's own timestamps (the signer's clock):")
    print(summary("  scheduled -> intent claimed (insert)", r["to claim"]))
    print(summary("  claimed -> signed order stored", r["claim to store"]))
    print(summary("  stored -> accepted by the sim", r["store to accepted"]))
    print(summary("  floor: claim + store back to back", r["writes"]))
    print("round trips as the caller sees them:")
    print(summary("  baseline: the SDK's call", r["sdk_rt"]))
    print(summary("  perpflow: update -> ack in the client", r["flow_rt"]))
    print(summary("  Temporal alone: update -> no-op -> back", r["noop_rt"]))


async def main() -> None:
    utc()
    with sim_process() as url, tempfile.TemporaryDirectory() as tmp, bench_ledger(Path(tmp)) as ledger_url:
        env = await local_temporal()
        try:
            results = await run(url, env.client, ledger_url, Path(tmp))
        finally:
            await env.shutdown()
    report(results, ledger_url)


if __name__ == "__main__":
    asyncio.run(main())
