"""Cross-venue fill -> hedge: a GRVT maker's fill hedged on Lighter and a Lighter maker's on GRVT,
from the sim executing the maker's fill to the sim accepting the hedge on the other venue.

perpflow: the production processes as ``perpflow dev`` starts them, configured for both venues by
their environment alone (``workers.orchestrator`` serving both venues' public reads, one
``workers.signer`` holding the GRVT and the Lighter keys, ``workers.market_data`` streaming both
venues), and the real ``HedgeCycleWorkflow`` started with plain JSON whose legs name their venue
and market: the maker's fill on its venue's account stream -> market data -> ``order_filled`` ->
the cycle -> ``place_order`` on the taker's one-slot signer queue (ledger claim, risk check, sign,
signed order stored, send) -> the sim's other face.

Samples: one cycle per sample, in sequence, alternating long- and short-maker cycles so the price
stays put (as bench_fill_to_hedge): a post-only quote at the best level rests a second, then the
reference price moves through it and the sim's market maker fills it whole (one fill -> one
hedge); no hold; both legs closed at market and the cycle checked DONE before the next one.

Baseline, same run, cycles made the same way on other accounts: a plain asyncio script that
listens to the maker's fills on its venue's own stream (GRVT: ``v1.fill`` on the trade socket with
the session cookie; Lighter: ``account_all``) and sends the hedge itself with the other venue's SDK
(lighter-sdk's ``create_market_order``; grvt-pysdk's raw client, an IOC signed with its
``sign_order``).

Temporal alone, one sample after each perpflow cycle (so under the same load): signal -> no-op
workflow -> no-op activity on a one-slot queue served by another process, the floor under any
signal-driven hedge. The perpflow path's profile comes from what the run left behind, with no probe
inside the processes: the ``order_filled`` signal and the hedge's scheduling in the cycle's history
(the server's clock), the hedge's claim and store in the ledger (the signer's clock).

Fill and hedge times are the sim engine's trades as the Lighter face's account stream reports them
(one engine behind both faces; ms resolution); every clock is this host's. The sim publishes its
streams every 5 ms (``--book-interval-ms``; 50 by default), and each move comes at a random point of
that period. The ledger is Postgres when one is reachable.
  BENCH_CROSS_HEDGES (default 16 per direction and path)
  BENCH_CROSS_DIRECTIONS (default "grvt-lighter,lighter-grvt": the maker's venue - the hedge's)
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
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_DOWN, Decimal
from pathlib import Path
from typing import Any, Protocol

import aiohttp
import lighter
from pydantic import SecretStr
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
    ETH,
    ETH_GRVT,
    GRVT_KEY,
    LIGHTER_KEY,
    NOOP,
    GrvtAccount,
    LighterAccount,
    grvt_url,
    new_grvt_account,
    new_lighter_account,
    noop_worker,
    polled,
    raw_client,
    signer_config,
    stack_env,
    streams_connected,
    utc,
)
from bench.harness import BOOK_INTERVAL_MS, Tape, backend, bench_ledger, pct, processes, sim_process, summary
from perpflow import names
from perpflow.db import tables
from perpflow.db.ledger import Ledger
from perpflow.devstack.harness import local_temporal
from perpflow.hedge.models import CycleResult, CycleState, CycleStatus
from perpflow.signals import ORDER_FILLED
from perpflow.sim.admin_client import SimAdmin
from perpflow.venues.base import VenueAccess, VenueName
from perpflow.venues.lighter.client import LighterVenue
from perpflow.venues.registry import build_venue
from perpflow.venues.types import OrderKind, OrderSpec, Side, TimeInForce
from workflows.options import ORDER

HEDGES = int(os.environ.get("BENCH_CROSS_HEDGES", "16"))
DIRECTIONS = os.environ.get("BENCH_CROSS_DIRECTIONS", "grvt-lighter,lighter-grvt").split(",")
WARMUP = 2  # cycles per path and direction not counted: connections, sessions, sticky queues
SIZE = Decimal("0.05")  # on both venues' lots, above both minimums
MOVE = Decimal(5)  # how far the reference moves through a resting quote
REST_S = 1.0  # a fleet's quotes rest for seconds before the market trades through them
SLIP = Decimal("0.05")  # the baseline hedge's worst price off the fill's
CENT = Decimal("0.01")


# -- the legs --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Leg:
    """One account of a pair: on GRVT or on Lighter, and its engine account (the tape's index)."""

    grvt: GrvtAccount | None = None
    lighter: LighterAccount | None = None

    @property
    def venue(self) -> VenueName:
        return VenueName.GRVT if self.grvt is not None else VenueName.LIGHTER

    @property
    def engine(self) -> int:
        return self.grvt.engine_index if self.grvt is not None else self.lit.index

    @property
    def index(self) -> int:
        """perpflow's account index on the leg's venue (GRVT's sub-account id)."""
        return self.grvt.sub_account_id if self.grvt is not None else self.lit.index

    @property
    def key_index(self) -> int:
        return GRVT_KEY if self.grvt is not None else LIGHTER_KEY

    @property
    def lit(self) -> LighterAccount:
        assert self.lighter is not None
        return self.lighter

    @property
    def market(self) -> str:
        return ETH_GRVT if self.grvt is not None else "ETH"

    def access(self, url: str) -> VenueAccess:
        if self.grvt is not None:
            g = self.grvt
            return VenueAccess(
                grvt_url(url),
                g.sub_account_id,
                GRVT_KEY,
                SecretStr(g.signer_key),
                session_key=SecretStr(g.api_key),
            )
        return VenueAccess(url, self.lit.index, LIGHTER_KEY, SecretStr(self.lit.private_key))

    def cycle_leg(self) -> dict[str, Any]:
        """The leg in a cycle's input (the cycle's venue is Lighter: a GRVT leg names its own)."""
        leg: dict[str, Any] = {"account_index": self.index}
        if self.grvt is not None:
            return leg | {"api_key_index": GRVT_KEY, "venue": "grvt", "market": ETH_GRVT}
        return leg | {"api_key_index": LIGHTER_KEY}


async def new_leg(url: str, admin: SimAdmin, venue: str, name: str) -> Leg:
    if venue == "grvt":
        return Leg(grvt=await new_grvt_account(url, name))
    return Leg(lighter=await new_lighter_account(admin, name))


@dataclass(frozen=True)
class Pair:
    maker: Leg
    taker: Leg

    @property
    def label(self) -> str:
        return f"{self.maker.venue.value} maker -> {self.taker.venue.value} hedge"


# -- the sim: each account's trades, fills made on demand --------------------------------------------


class Rig:
    def __init__(self, url: str, admin: SimAdmin, tape: Tape) -> None:
        self.url, self.admin, self.tape = url, admin, tape
        self.public = LighterVenue(url, 0)  # the engine's book, as either face shows it

    async def best(self) -> tuple[Decimal, Decimal]:
        book = await self.public.book("ETH", 1)
        assert book.best_bid is not None and book.best_ask is not None
        return book.best_bid, book.best_ask

    async def fill_and_hedge(self, pair: Pair, side: Side) -> tuple[float, float]:
        """Move the reference through the maker's resting quote: ms from its fill to the hedge, and
        when the fill was (s)."""
        bid, ask = await self.best()
        await asyncio.sleep(random.uniform(0, BOOK_INTERVAL_MS / 1000))
        await self.admin.set_price(ETH, bid - MOVE if side is Side.BUY else ask + MOVE)
        fill = await self.tape.next(pair.maker.engine)
        hedge = await self.tape.next(pair.taker.engine)
        return float(hedge["timestamp"] - fill["timestamp"]), fill["timestamp"] / 1000

    async def settle(self) -> None:
        await asyncio.sleep(0.2)
        self.tape.drain()


def side_of(i: int) -> Side:
    return Side.BUY if i % 2 == 0 else Side.SELL


# -- the baseline: a plain asyncio hedger on the venues' own streams and SDKs -------------------------

Fill = tuple[Side, Decimal, Decimal]  # the maker's side, size, price


async def grvt_fills(
    http: aiohttp.ClientSession, url: str, g: GrvtAccount, up: asyncio.Event
) -> AsyncIterator[Fill]:
    """The account's fills on GRVT's trade socket, after an API-key login (the gravity cookie)."""
    base = grvt_url(url)
    async with http.post(f"{base}/edge/auth/api_key/login", json={"api_key": g.api_key}) as resp:
        assert resp.status == 200, await resp.text()
        cookie, account_id = resp.cookies["gravity"].value, resp.headers["X-Grvt-Account-Id"]
    headers = {"Cookie": f"gravity={cookie}", "X-Grvt-Account-Id": account_id}
    seen: set[str] = set()
    async with http.ws_connect(base.replace("http", "ws", 1) + "/td/ws/full", headers=headers) as ws:
        params = {"stream": "v1.fill", "selectors": [str(g.sub_account_id)]}
        await ws.send_json({"jsonrpc": "2.0", "method": "subscribe", "params": params, "id": 1})
        async for frame in ws:
            msg = json.loads(frame.data)
            up.set()
            fill = msg.get("feed") if msg.get("stream") == "v1.fill" else None
            if fill is not None and fill["trade_id"] not in seen:
                seen.add(fill["trade_id"])
                yield (
                    Side.BUY if fill["is_buyer"] else Side.SELL,
                    Decimal(fill["size"]),
                    Decimal(fill["price"]),
                )


async def lighter_fills(
    http: aiohttp.ClientSession, url: str, a: LighterAccount, up: asyncio.Event
) -> AsyncIterator[Fill]:
    seen: set[int] = set()
    async with http.ws_connect(url.replace("http", "ws") + "/stream") as ws:
        await ws.send_json({"type": "subscribe", "channel": f"account_all/{a.index}"})
        async for frame in ws:
            msg = json.loads(frame.data)
            up.set()
            if msg.get("type") != "update/account_all":
                continue
            for batch in msg.get("trades", {}).values():
                for trade in batch:
                    if trade["trade_id"] not in seen:
                        seen.add(trade["trade_id"])
                        side = Side.BUY if trade["bid_account_id"] == a.index else Side.SELL
                        yield side, Decimal(trade["size"]), Decimal(trade["price"])


class Hedger(Protocol):
    async def hedge(self, side: Side, size: Decimal, fill_price: Decimal) -> None: ...
    async def close(self) -> None: ...


class LighterSdkHedger:
    """lighter-sdk's SignerClient: a market order (IOC) bounded by a worst price."""

    def __init__(self, url: str, a: LighterAccount, size_decimals: int, price_decimals: int) -> None:
        self.client = lighter.SignerClient(
            url=url, account_index=a.index, api_private_keys={LIGHTER_KEY: a.private_key}
        )
        self.size_scale, self.price_scale = 10**size_decimals, 10**price_decimals
        self.coi = 900_000_000

    async def hedge(self, side: Side, size: Decimal, fill_price: Decimal) -> None:
        self.coi += 1
        worst = fill_price * (1 - SLIP if side is Side.SELL else 1 + SLIP)
        _, _, err = await self.client.create_market_order(
            0, self.coi, int(size * self.size_scale), int(worst * self.price_scale), side is Side.SELL
        )
        assert err is None, err

    async def close(self) -> None:
        await self.client.close()


class GrvtSdkHedger:
    """grvt-pysdk's raw async client: an IOC limit at the worst price, signed with its sign_order."""

    def __init__(self, raw: GrvtRawAsync, g: GrvtAccount, instrument: t.Instrument) -> None:
        self.raw, self.g, self.instruments = raw, g, {ETH_GRVT: instrument}
        self.tick = Decimal(instrument.tick_size)
        self.coid = 2**63 + 10**12

    async def hedge(self, side: Side, size: Decimal, fill_price: Decimal) -> None:
        self.coid += 1
        worst = (fill_price * (1 - SLIP if side is Side.SELL else 1 + SLIP) / self.tick).quantize(
            1, ROUND_DOWN
        )
        leg = t.OrderLeg(ETH_GRVT, str(size), side is Side.BUY, str(worst * self.tick))
        sig = t.Signature("", "", "", 0, str(time.time_ns() + 86_400 * 10**9), random.randint(0, 2**32 - 1))
        order = t.Order(
            sub_account_id=str(self.g.sub_account_id), time_in_force=t.TimeInForce.IMMEDIATE_OR_CANCEL,
            legs=[leg], signature=sig, metadata=t.OrderMetadata(client_order_id=str(self.coid)),
            is_market=False, post_only=False, reduce_only=False,
        )  # fmt: skip
        signed = sign_order(order, self.raw.config, self.raw.account, self.instruments)
        resp = await self.raw.create_order_v1(t.ApiCreateOrderRequest(signed))
        assert not isinstance(resp, GrvtError), resp

    async def close(self) -> None:
        await self.raw._session.close()


async def sdk_hedger(rig: Rig, taker: Leg) -> Hedger:
    if taker.grvt is not None:
        raw = raw_client(rig.url, taker.grvt)
        instrument = (await raw.get_instrument_v1(t.ApiGetInstrumentRequest(ETH_GRVT))).result
        return GrvtSdkHedger(raw, taker.grvt, instrument)
    market = await rig.public.market("ETH")
    return LighterSdkHedger(rig.url, taker.lit, market.size_decimals, market.price_decimals)


async def hedge_every_fill(fills: AsyncIterator[Fill], hedger: Hedger) -> None:
    """What a hand-written bot does: each fill of the maker hedged at once on the other venue."""
    async for side, size, price in fills:
        await hedger.hedge(side.opposite, size, price)


async def run_baseline(rig: Rig, pair: Pair, http: aiohttp.ClientSession) -> list[float]:
    up = asyncio.Event()
    m = pair.maker
    fills = grvt_fills(http, rig.url, m.grvt, up) if m.grvt else lighter_fills(http, rig.url, m.lit, up)
    hedger = await sdk_hedger(rig, pair.taker)
    maker = build_venue(m.venue, m.access(rig.url))
    task = asyncio.create_task(hedge_every_fill(fills, hedger))
    samples = []
    try:
        await asyncio.wait_for(up.wait(), 30)
        for i in range(WARMUP + HEDGES):
            side = side_of(i)
            bid, ask = await rig.best()
            spec = OrderSpec(
                market=m.market, client_order_index=800_000_000 + i, side=side, kind=OrderKind.LIMIT,
                tif=TimeInForce.POST_ONLY, size=SIZE, price=bid if side is Side.BUY else ask,
            )  # fmt: skip
            await maker.submit(await maker.sign_order(spec))
            await asyncio.sleep(REST_S)
            samples.append((await rig.fill_and_hedge(pair, side))[0])
            await rig.settle()
    finally:
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task
        await hedger.close()
        await maker.close()
    return samples[WARMUP:]


# -- Temporal alone ----------------------------------------------------------------------------------


@workflow.defn(name="BenchCrossFloorWorkflow")
class FloorWorkflow:
    """Each signal -> one no-op activity on another process's one-slot queue; when each began."""

    def __init__(self) -> None:
        self.todo: list[int] = []
        self.began: dict[int, float] = {}

    @workflow.run
    async def run(self, queue: str) -> None:
        while True:
            await workflow.wait_condition(lambda: bool(self.todo))
            sample = self.todo.pop(0)
            if sample < 0:
                return
            self.began[sample] = await workflow.execute_activity(
                NOOP, sample, task_queue=queue, result_type=float, **ORDER
            )

    @workflow.signal
    def go(self, sample: int) -> None:
        self.todo.append(sample)

    @workflow.query
    def started(self) -> dict[int, float]:
        return self.began


class Floor:
    def __init__(self, handle: WorkflowHandle[Any, Any]) -> None:
        self.handle, self.samples, self.n = handle, list[float](), 0

    async def take(self) -> None:
        """One sample: signal sent -> the no-op started in the other process (ms)."""
        self.n += 1
        sent = time.time()
        await self.handle.signal(FloorWorkflow.go, self.n)
        while True:  # read afterwards: the samples come from the recorded times, not this wait
            await asyncio.sleep(0.2)
            began = await self.handle.query(FloorWorkflow.started, result_type=dict[int, float])
            if self.n in began:
                self.samples.append((began[self.n] - sent) * 1000)
                return


# -- perpflow: the production processes, the real cycle -----------------------------------------------


def cycle_input(pair: Pair, side: Side, seq: int) -> dict[str, Any]:
    params = {
        "size": str(SIZE),
        "hold_s": 0,
        "close_mode": "market",
        "maker_timeout_s": 60,
        "max_requotes": 0,
    }
    return {
        "fleet": "bench", "pair": f"p{pair.maker.index}", "seq": seq, "venue": "lighter", "market": "ETH",
        "maker": pair.maker.cycle_leg(), "taker": pair.taker.cycle_leg(), "maker_side": side.value,
        "params": params,
    }  # fmt: skip


async def one_cycle(rig: Rig, client: Client, pair: Pair, i: int) -> tuple[str, float, float]:
    """One cycle: its workflow id, fill -> hedge (ms), and the fill's time on the sim (s)."""
    side = side_of(i)
    wid = names.hedge_cycle_id("bench", uuid.uuid4().hex[:8], f"p{pair.maker.index}", i)
    handle = await client.start_workflow(
        "HedgeCycleWorkflow", cycle_input(pair, side, i), id=wid, task_queue=names.ORCHESTRATOR_QUEUE,
        result_type=CycleResult,
    )  # fmt: skip

    async def quoting() -> bool:
        status = await handle.query("status", result_type=CycleStatus)
        return any("/maker-" in o for o in status.orders)

    deadline = time.monotonic() + 60
    while not await quoting():
        assert time.monotonic() < deadline, f"{wid}: the maker's quote never rested"
        await asyncio.sleep(0.05)
    await asyncio.sleep(REST_S)
    latency, fill_at = await rig.fill_and_hedge(pair, side)
    result = await asyncio.wait_for(handle.result(), 60)
    assert result.state is CycleState.DONE and result.maker_filled == result.hedged == SIZE, result
    await rig.settle()
    return wid, latency, fill_at


@dataclass
class FlowRun:
    samples: list[float] = field(default_factory=list)
    cycles: list[tuple[str, float]] = field(default_factory=list)  # counted: workflow id, fill time (s)
    floor: list[float] = field(default_factory=list)


async def run_perpflow(rig: Rig, client: Client, pair: Pair, floor: Floor) -> FlowRun:
    out = FlowRun()
    floor.samples = []
    for i in range(WARMUP + HEDGES):
        wid, latency, fill_at = await one_cycle(rig, client, pair, i)
        if i >= WARMUP:
            out.samples.append(latency)
            out.cycles.append((wid, fill_at))
            await floor.take()
    out.floor = floor.samples
    return out


# -- the profile: what the run left behind ----------------------------------------------------------


async def hedge_moments(client: Client, ledger: Ledger, wid: str) -> dict[str, float]:
    """The first hedge's moments (wall clock, s): its fill's signal and its scheduling in the
    cycle's history, its claim and store in the ledger."""
    moments: dict[str, float] = {}
    hedge_key = names.order_key(wid, "hedge-0")
    async for event in client.get_workflow_handle(wid).fetch_history_events():
        at = event.event_time.ToMicroseconds() / 1e6
        if event.HasField("workflow_execution_signaled_event_attributes"):
            if event.workflow_execution_signaled_event_attributes.signal_name == ORDER_FILLED:
                moments.setdefault("server: order_filled signal recorded", at)
        elif event.HasField("activity_task_scheduled_event_attributes"):
            payloads = event.activity_task_scheduled_event_attributes.input.payloads
            if payloads and json.loads(payloads[0].data).get("key") == hedge_key:
                moments.setdefault("server: hedge place_order scheduled", at)
    async with ledger.session() as s:
        row = (
            await s.execute(
                select(tables.Order.created_at, tables.Order.submitted_at).where(
                    tables.Order.idempotency_key == hedge_key
                )
            )
        ).one()
    moments["signer: hedge claimed in the ledger"] = wall(row.created_at)
    moments["signer: signed hedge stored"] = wall(row.submitted_at)
    return moments


def wall(at: datetime | None) -> float:
    assert at is not None
    return (at if at.tzinfo is not None else at.replace(tzinfo=UTC)).timestamp()


async def profile(client: Client, ledger: Ledger, run: FlowRun) -> tuple[list[str], int]:
    """Each moment's offset from the maker's fill on the sim, p50 / p95; how many hedges the cycle's
    own poll scheduled before the market-data signal arrived."""
    offsets: dict[str, list[float]] = {}
    polled_first = 0
    for (wid, fill_at), latency in zip(run.cycles, run.samples, strict=True):
        moments = await hedge_moments(client, ledger, wid)
        moments["sim: hedge accepted"] = fill_at + latency / 1000
        signal = moments.get("server: order_filled signal recorded")
        if signal is None or signal > moments["server: hedge place_order scheduled"]:
            polled_first += 1
        for name, at in moments.items():
            offsets.setdefault(name, []).append((at - fill_at) * 1000)
    rows = sorted(offsets.items(), key=lambda kv: pct(kv[1], 50))
    lines = [f"  {name:<40} +{pct(v, 50):6.1f} ms  p95 +{pct(v, 95):6.1f} ms" for name, v in rows]
    return lines, polled_first


# -- the run -------------------------------------------------------------------------------------------


@dataclass
class Direction:
    base: Pair
    flow: Pair
    baseline: list[float] = field(default_factory=list)
    perpflow: FlowRun = field(default_factory=FlowRun)
    profile: list[str] = field(default_factory=list)
    polled_first: int = 0


async def new_directions(url: str, admin: SimAdmin) -> list[Direction]:
    out = []
    for d in DIRECTIONS:
        maker_venue, taker_venue = d.strip().split("-")
        legs = [
            await new_leg(url, admin, venue, f"bench-{path}-{role}-{maker_venue}")
            for path in ("base", "flow")
            for role, venue in (("maker", maker_venue), ("taker", taker_venue))
        ]
        out.append(Direction(Pair(legs[0], legs[1]), Pair(legs[2], legs[3])))
    return out


@asynccontextmanager
async def perpflow_stack(
    client: Client, url: str, ledger_url: str, tmp: Path, legs: list[Leg]
) -> AsyncIterator[None]:
    """The orchestrator, one signer holding every perpflow leg's key and the market-data worker
    streaming both venues, each a process as ``perpflow dev`` runs them; yields once all poll and
    every stream is up."""
    grvt = [leg.grvt for leg in legs if leg.grvt is not None]
    lit = [leg.lighter for leg in legs if leg.lighter is not None]
    config = signer_config(url, tmp, grvt, lit)
    py = sys.executable
    commands = {
        "orchestrator": [py, "-m", "workers.orchestrator"],
        "signer": [py, "-m", "workers.signer", str(config)],
        "market_data": [
            py, "-m", "workers.market_data", "--signer-config", str(config), "--markets", f"ETH,{ETH_GRVT}",
            "--metrics-port", "0",
        ],
    }  # fmt: skip
    queues = [names.signer_queue(leg.venue.value, leg.index, leg.key_index) for leg in legs]
    with processes(commands, stack_env(client, url, ledger_url, tmp), tmp):
        await polled(client, [names.ORCHESTRATOR_QUEUE], [names.market_queue("grvt"), *queues])
        await streams_connected(tmp, {"books", "grvt/books"} | {stream_name(leg) for leg in legs})
        yield


def stream_name(leg: Leg) -> str:
    """The market-data worker's name (its status file) for the account stream of ``leg``."""
    return f"grvt/account-{leg.index}" if leg.grvt is not None else f"account-{leg.index}"


async def run(url: str, client: Client, ledger_url: str, tmp: Path) -> tuple[list[Direction], list[float]]:
    load = [os.getloadavg()[0]]
    async with SimAdmin(url) as admin, aiohttp.ClientSession(trust_env=False) as http:
        directions = await new_directions(url, admin)
        engines = [leg.engine for d in directions for p in (d.base, d.flow) for leg in (p.maker, p.taker)]
        tape = Tape(url, engines, wait_s=30)
        watcher = asyncio.create_task(tape.run(http))
        await tape.subscribed.wait()
        rig = Rig(url, admin, tape)
        try:
            for d in directions:
                d.baseline = await run_baseline(rig, d.base, http)
            flow_legs = [leg for d in directions for leg in (d.flow.maker, d.flow.taker)]
            async with (
                perpflow_stack(client, url, ledger_url, tmp, flow_legs),
                floor_workflow(client) as floor,
            ):
                for d in directions:
                    d.perpflow = await run_perpflow(rig, client, d.flow, floor)
            ledger = Ledger(ledger_url)
            try:
                for d in directions:
                    d.profile, d.polled_first = await profile(client, ledger, d.perpflow)
            finally:
                await ledger.close()
        finally:
            watcher.cancel()
            with suppress(asyncio.CancelledError):
                await watcher
            await rig.public.close()
    load.append(os.getloadavg()[0])
    return directions, load


@asynccontextmanager
async def floor_workflow(client: Client) -> AsyncIterator[Floor]:
    """The floor workflow on a queue of this process, its no-op on another process's one-slot queue."""
    wf_queue, runner = f"bench-cross-floor-{uuid.uuid4()}", UnsandboxedWorkflowRunner()
    async with (
        noop_worker(client) as queue,
        Worker(client, task_queue=wf_queue, workflows=[FloorWorkflow], workflow_runner=runner),
    ):
        handle = await client.start_workflow(
            FloorWorkflow.run, queue, id=f"bench-cross-floor-{uuid.uuid4()}", task_queue=wf_queue,
            execution_timeout=timedelta(minutes=30),
        )  # fmt: skip
        floor = Floor(handle)
        await floor.take()  # warms the sticky queue
        yield floor
        await handle.signal(FloorWorkflow.go, -1)
        await handle.result()


def report(directions: list[Direction], load: list[float], ledger_url: str) -> None:
    print(
        f"Cross-venue fill -> hedge accepted, sim clock (ms resolution), {HEDGES} hedges per path and "
        f"direction, {backend(ledger_url)} ledger; load (1 min) {load[0]:.1f} at the start, {load[1]:.1f} "
        f"at the end, {os.cpu_count()} cores"
    )
    for d in directions:
        flow, base, floor = d.perpflow.samples, d.baseline, d.perpflow.floor
        print(f"== {d.flow.label}")
        print(summary("baseline: direct asyncio script + SDK", base))
        print(summary("perpflow: md -> cycle -> signer -> sim", flow))
        print(summary("Temporal alone: signal -> no-op activity", floor))
        for q in (50, 99):
            over = pct(flow, q) - pct(base, q)
            print(
                f"p{q}: overhead {over:6.1f} ms, ratio {pct(flow, q) / pct(base, q):.2f}x; Temporal alone "
                f"{pct(floor, q):6.1f} ms; perpflow's own share {over - pct(floor, q):6.1f} ms"
            )
        print(f"perpflow path, moments after the maker's fill on the sim (p50 / p95); {d.polled_first} of "
              f"{len(flow)} hedges scheduled by the cycle's own poll before the signal:")  # fmt: skip
        print("\n".join(d.profile))


async def main() -> None:
    utc()
    with (
        sim_process("--book-interval-ms", str(BOOK_INTERVAL_MS)) as url,
        tempfile.TemporaryDirectory() as tmp,
        bench_ledger(Path(tmp)) as ledger_url,
    ):
        env = await local_temporal()
        try:
            directions, load = await run(url, env.client, ledger_url, Path(tmp))
        finally:
            await env.shutdown()
    report(directions, load, ledger_url)


if __name__ == "__main__":
    asyncio.run(main())
