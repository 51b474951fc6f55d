"""Grid sessions at scale: N sessions x L levels (default 100 x 20), each on its own sim account,
on one orchestrator, their signers in one or more signer processes, the market-data worker
signalling their fills; the sim's price random-walked through the ladders with its admin API.
Three paths in turn, each on N accounts of its own, with the same ladders and the same walk:

baseline: a plain asyncio script that lays the ladders, listens to each account's stream and
re-arms the opposite level itself (sign + sendTx on the account's venue client, one lock per
account).

floor: the baseline through Temporal. Its listener (in this process) signals each fill to a
minimal workflow (one per account, started before the walk, unsandboxed), which runs one activity
per fill: the baseline's own re-arm. Workflow and activity run in a worker process of their own
(``bench.grid_floor``, holding the keys), as perpflow's orchestrator and signers do, not beside
this process's observer and listener. The baseline's work plus the least any signal-driven design
adds: a signal, a workflow task, an activity dispatch.

perpflow: the production processes as ``perpflow dev`` starts them (``workers.orchestrator``,
``workers.signer`` processes holding the accounts' keys, ``workers.market_data``), the real
``GridSessionWorkflow`` on the orchestrator's queue, each fill re-armed by ``place_orders`` on the
account's one-slot signer queue.

Measured on the sim's clock (one host, ms resolution), by an observer on every account's trades
and open orders: fill -> the re-armed order accepted (the opposite side one level away appearing
after the fill; a fill whose opposite order already rested is not a refill). Fills/s over the
walk. Workflow task schedule-to-start (the backlog) from the histories of both Temporal paths, the
floor's beside perpflow's: what Temporal alone shows on this machine under the same bursts, and what
perpflow adds. From the sessions' histories also: place_orders schedule-to-start, each refill's path
(signal, workflow task, activity) after the fill; events per fill (the floor's beside).

  --sessions / BENCH_GRID_SESSIONS (100), --levels / BENCH_GRID_LEVELS (20),
  --seconds / BENCH_GRID_SECONDS (30: the walk of each path), --sigma / BENCH_GRID_SIGMA
  (0.20 USD: the walk's step per 50 ms tick; levels are 2 USD apart), --signers /
  BENCH_GRID_SIGNERS (1: every key in one process; N deals the accounts among N processes)
Target: no workflow task backlog, refill p99 <= 3x the baseline's. The ratios split it: floor /
baseline is what Temporal's round trip costs over the direct script, perpflow / floor what
perpflow adds to it. A floor above 3x the baseline puts the target below what any signal-driven
design reaches; perpflow / floor is then the figure that says how far perpflow is from its best.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import lighter
import yaml
from pydantic import SecretStr
from temporalio.api.enums.v1 import EventType, TaskQueueType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client, WorkflowHandle

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.harness import backend, bench_ledger, pct, processes, sim_process, stack_env, summary, until
from perpflow import names, secrets
from perpflow.db.ledger import Ledger
from perpflow.devstack.harness import local_temporal
from perpflow.devstack.probes import queue_has_pollers
from perpflow.grid.models import GridStatus
from perpflow.models import AccountRef
from perpflow.signals import ORDER_FILLED
from perpflow.sim.admin_client import SimAdmin
from perpflow.venues.errors import VenueError
from perpflow.venues.lighter import parse
from perpflow.venues.lighter.auth import LighterSigner
from perpflow.venues.lighter.client import LighterVenue
from perpflow.venues.types import OrderKind, OrderSpec, Side, TimeInForce

KEY = 3
ETH = 0
START = Decimal(3000)
STEP = Decimal("2.00")  # between levels
SIZE = Decimal("0.01")
TICK_S = 0.05  # the walk moves the sim's price this often
CENT = Decimal("0.01")
NO_BACKLOG_MS = 50.0  # a workflow task waiting longer than this for a poller is a queue
TARGET = 3.0
Event = tuple[str, float]


# -- accounts, ladders, the walk -----------------------------------------------------------------


@dataclass(frozen=True)
class Account:
    name: str
    index: int
    private_key: str


async def new_accounts(admin: SimAdmin, prefix: str, n: int) -> list[Account]:
    out = []
    for i in range(n):
        private_key, public_key, err = lighter.create_api_key()
        assert err is None, err
        index = await admin.create_account("100000", {KEY: public_key})
        out.append(Account(f"{prefix}{i}", index, private_key))
    return out


def venue_of(url: str, account: Account) -> LighterVenue:
    return LighterVenue(url, account.index, api_key_index=KEY, private_key=SecretStr(account.private_key))


@dataclass(frozen=True)
class Ladder:
    """Session k's levels: ``levels`` prices STEP apart, offset k/N of a step from session 0's, so
    the sessions' fills spread over the walk instead of coming all at once."""

    lower: Decimal
    levels: int

    @classmethod
    def of(cls, k: int, n: int, levels: int) -> Ladder:
        offset = (STEP * k / n).quantize(CENT)
        return cls(START - STEP * (levels - 1) / 2 + offset, levels)

    @property
    def upper(self) -> Decimal:
        return self.lower + STEP * (self.levels - 1)

    def price(self, i: int) -> Decimal:
        return (self.lower + STEP * i).quantize(CENT)

    def initial(self, mark: Decimal) -> list[tuple[Side, Decimal]]:
        """Buys below the mark, sells above, the level nearest the mark left as the gap."""
        prices = [self.price(i) for i in range(self.levels)]
        gap = min(prices, key=lambda p: abs(p - mark))
        return [(Side.BUY if p < mark else Side.SELL, p) for p in prices if p != gap]

    def opposite(self, side: Side, price: Decimal) -> tuple[Side, Decimal] | None:
        """The refill of a fill: a buy filled -> sell one level up; a sell -> buy one level down."""
        target = price + STEP if side is Side.BUY else price - STEP
        if not self.lower <= target <= self.upper:
            return None
        return (Side.SELL if side is Side.BUY else Side.BUY), target.quantize(CENT)


def walk(seed: int, ticks: int, sigma: Decimal, levels: int) -> list[Decimal]:
    """A seeded Gaussian walk from START, reflected well inside every ladder."""
    rng, price = random.Random(seed), START
    bound = STEP * (levels // 2 - 3)
    out = []
    for _ in range(ticks):
        price += Decimal(repr(rng.gauss(0.0, float(sigma))))
        if abs(price - START) > bound:
            price = START + (bound if price > START else -bound) * 2 - (price - START)
        out.append(price.quantize(CENT))
    return out


async def drive(admin: SimAdmin, prices: list[Decimal]) -> None:
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    for i, price in enumerate(prices):
        await admin.set_price(ETH, price)
        await asyncio.sleep(max(0.0, t0 + (i + 1) * TICK_S - loop.time()))


# -- the observer: every account's fills and new orders on the sim's clock -------------------------


@dataclass
class Fill:
    ms: int
    side: Side
    price: Decimal
    coi: int


@dataclass
class Order:
    side: Side
    price: Decimal
    coi: int
    created_ms: int
    ended_ms: float | None = None  # when the observer saw it gone (its wall clock, ms)


@dataclass
class Tape:
    url: str
    accounts: dict[int, Account]
    fills: dict[int, list[Fill]] = field(default_factory=lambda: defaultdict(list))
    orders: dict[int, dict[int, Order]] = field(default_factory=lambda: defaultdict(dict))
    subscribed: asyncio.Event = field(default_factory=asyncio.Event)
    _trades: set[tuple[int, int]] = field(default_factory=set)

    async def run(self, http: aiohttp.ClientSession) -> None:
        signers = {
            a: LighterSigner(self.url, a, KEY, SecretStr(acc.private_key)) for a, acc in self.accounts.items()
        }
        try:
            async with http.ws_connect(self.url.replace("http", "ws") + "/stream", max_msg_size=0) as ws:
                for a, signer in signers.items():
                    await ws.send_json({"type": "subscribe", "channel": f"account_all/{a}"})
                    auth = signer.token()
                    await ws.send_json(
                        {"type": "subscribe", "channel": f"account_all_orders/{a}", "auth": auth}
                    )
                self.subscribed.set()
                async for frame in ws:
                    msg = json.loads(frame.data)
                    kind = msg.get("type", "")
                    if kind == "ping":
                        await ws.send_str('{"type":"pong"}')
                    elif kind.endswith("/account_all"):
                        self._on_trades(msg, live=kind.startswith("update"))
                    elif kind.endswith("/account_all_orders"):
                        self._on_orders(msg)
        finally:
            for signer in signers.values():
                await signer.close()

    def _on_trades(self, msg: dict[str, Any], *, live: bool) -> None:
        a = msg["account"]
        for batch in msg.get("trades", {}).values():
            for t in batch:
                if (a, t["trade_id"]) in self._trades:
                    continue
                self._trades.add((a, t["trade_id"]))
                if live:
                    buy = t["bid_account_id"] == a
                    coi = t["bid_client_id"] if buy else t["ask_client_id"]
                    side = Side.BUY if buy else Side.SELL
                    self.fills[a].append(Fill(t["timestamp"], side, Decimal(t["price"]), coi))

    def _on_orders(self, msg: dict[str, Any]) -> None:
        """The subscribe answer lists the open orders; each update, the orders that changed, an
        ended one with its final status (filled, canceled, canceled-post-only...)."""
        a, now = msg["account"], time.time() * 1000
        known = self.orders[a]
        for batch in msg.get("orders", {}).values():
            for o in batch:
                order = known.get(o["order_index"])
                if order is None:
                    side = Side.SELL if o["is_ask"] else Side.BUY
                    order = known[o["order_index"]] = Order(
                        side, Decimal(o["price"]), o["client_order_index"], o["transaction_time"] // 1000
                    )
                if parse.status(o["status"]).final and order.ended_ms is None:
                    order.ended_ms = now

    def open_orders(self, a: int) -> int:
        return sum(o.ended_ms is None for o in self.orders[a].values())


@dataclass
class Refills:
    fills: int = 0
    latencies: list[float] = field(default_factory=list)  # fill -> refill accepted, ms
    by_coi: dict[tuple[int, int], tuple[int, int]] = field(default_factory=dict)  # fill ms, accepted ms
    armed: int = 0  # the opposite order already rested: not a refill
    missing: int = 0  # no refill seen
    edge: int = 0  # the ladder's last level: nothing to re-arm


def refills(tape: Tape, ladders: dict[int, Ladder], window: tuple[float, float]) -> Refills:
    """Each fill inside the window matched with the first order at the opposite level accepted at
    or after it; the order must not have been resting already."""
    out = Refills()
    for a, ladder in ladders.items():
        orders = sorted(tape.orders[a].values(), key=lambda o: o.created_ms)
        for fill in tape.fills[a]:
            if not window[0] <= fill.ms / 1000 <= window[1]:  # fills of the walk
                continue
            out.fills += 1
            target = ladder.opposite(fill.side, fill.price)
            if target is None:
                out.edge += 1
                continue
            at_level = [o for o in orders if (o.side, o.price) == target]
            if any(o.created_ms < fill.ms and (o.ended_ms is None or o.ended_ms > fill.ms) for o in at_level):
                out.armed += 1
                continue
            after = [o for o in at_level if o.created_ms >= fill.ms]
            if not after:
                out.missing += 1
                continue
            out.latencies.append(float(after[0].created_ms - fill.ms))
            out.by_coi[(a, fill.coi)] = (fill.ms, after[0].created_ms)
    return out


# -- the baseline ------------------------------------------------------------------------------------


class Baseline:
    """A hand-written grid bot: lays each ladder, then on each fill signs and sends the opposite
    level's post-only order itself (one lock per account: its nonces)."""

    def __init__(self, url: str, accounts: list[Account], ladders: dict[int, Ladder]) -> None:
        self.url, self.ladders = url, ladders
        self.venues = {a.index: venue_of(url, a) for a in accounts}
        self.locks: dict[int, asyncio.Lock] = defaultdict(asyncio.Lock)
        self.coi = 1000
        self.tasks: set[asyncio.Task[None]] = set()
        self.failed = 0  # re-arms the sim refused (a post-only that would cross, after a jump)
        self.hist: Runs = {}  # its workflows' histories (none: no workflow)

    def spec(self, side: Side, price: Decimal) -> OrderSpec:
        self.coi += 1
        return OrderSpec(
            market="ETH", client_order_index=self.coi, side=side, kind=OrderKind.LIMIT,
            tif=TimeInForce.POST_ONLY, size=SIZE, price=price,
        )  # fmt: skip

    async def lay(self, mark: Decimal) -> None:
        for a, venue in self.venues.items():
            await venue.markets()
            specs = [self.spec(side, price) for side, price in self.ladders[a].initial(mark)]
            await venue.submit_batch(await venue.sign_batch(specs))

    async def on_fill(self, a: int, side: Side, price: Decimal) -> None:
        """What the listener does with each fill: the re-arm, here and now."""
        await self.rearm(a, side, price)

    @asynccontextmanager
    async def serving(self) -> AsyncIterator[None]:
        """Around the walk, once the ladders rest: what re-arms besides this process (nothing)."""
        yield

    async def rearm(self, a: int, side: Side, price: Decimal) -> None:
        target = self.ladders[a].opposite(side, price)
        if target is None:
            return
        venue = self.venues[a]
        async with self.locks[a]:
            try:
                await venue.submit(await venue.sign_order(self.spec(*target)))
            except VenueError:
                self.failed += 1

    async def run(self, http: aiohttp.ClientSession, ready: asyncio.Event) -> None:
        seen: set[tuple[int, int]] = set()
        async with http.ws_connect(self.url.replace("http", "ws") + "/stream", max_msg_size=0) as ws:
            for a in self.venues:
                await ws.send_json({"type": "subscribe", "channel": f"account_all/{a}"})
            ready.set()
            async for frame in ws:
                msg = json.loads(frame.data)
                if msg.get("type") != "update/account_all":
                    continue
                a = msg["account"]
                for batch in msg.get("trades", {}).values():
                    for t in batch:
                        if (a, t["trade_id"]) in seen:
                            continue
                        seen.add((a, t["trade_id"]))
                        side = Side.BUY if t["bid_account_id"] == a else Side.SELL
                        task = asyncio.create_task(self.on_fill(a, side, Decimal(t["price"])))
                        self.tasks.add(task)
                        task.add_done_callback(self.tasks.discard)

    async def close(self) -> None:
        for venue in self.venues.values():
            with suppress(Exception):
                await venue.cancel_all("ETH")
            await venue.close()


# -- the floor: the baseline through Temporal -----------------------------------------------------------

FLOOR_WORKFLOW, FLOOR_FILLED = "BenchGridFloorWorkflow", "filled"  # bench.grid_floor's workflow


class ThroughTemporal(Baseline):
    """The baseline whose listener, instead of re-arming, signals the fill to the account's
    ``FloorWorkflow``, which runs in a process of its own (``bench.grid_floor``) with the activity
    that re-arms: ``Baseline.rearm`` over the keys that process holds."""

    def __init__(self, rig: Rig, client: Client, accounts: list[Account], ladders: dict[int, Ladder]) -> None:
        super().__init__(rig.url, accounts, ladders)
        self.rig, self.client, self.accounts = rig, client, accounts
        self.workflows: dict[int, WorkflowHandle[Any, Any]] = {}

    async def on_fill(self, a: int, side: Side, price: Decimal) -> None:
        await self.workflows[a].signal(FLOOR_FILLED, args=[side, price])

    @asynccontextmanager
    async def serving(self) -> AsyncIterator[None]:
        """The worker process (started after the lay: it reads each key's nonce), polled, and a
        workflow per account; at the end the workflows terminated, the process stopped (it cancels
        the accounts' orders on its way out) and its count of refused re-arms read."""
        run = uuid.uuid4().hex[:6]
        wf_queue, act_queue = f"bench-floor-{run}", f"bench-rearm-{run}"
        tmp = self.rig.tmp
        keys, refused = tmp / f"floor-{run}.json", tmp / f"floor-{run}.refused"
        accounts = [
            {"name": a.name, "index": a.index, "private_key": a.private_key,
             "lower": str(self.ladders[a.index].lower), "levels": self.ladders[a.index].levels}
            for a in self.accounts
        ]  # fmt: skip
        keys.write_text(json.dumps({"url": self.url, "accounts": accounts}))
        command = [sys.executable, "-m", "bench.grid_floor", str(keys), wf_queue, act_queue]
        env = stack_env(self.client, self.url, self.rig.ledger_url, tmp / "state")
        with processes({"floor-worker": [*command, "--refused", str(refused)]}, env, tmp):
            await pollers_up(self.client, {wf_queue: WORKFLOW, act_queue: ACTIVITY}, "the floor worker")
            for a in self.venues:
                self.workflows[a] = await self.client.start_workflow(
                    FLOOR_WORKFLOW, args=[a, act_queue], id=f"bench-floor-{run}-{a}", task_queue=wf_queue
                )
            try:
                yield
                self.hist = await histories(self.client, [h.id for h in self.workflows.values()])
            finally:
                for handle in self.workflows.values():
                    with suppress(Exception):
                        await handle.terminate("bench done")
        self.failed = int(refused.read_text())

    async def close(self) -> None:
        """The accounts' orders are the worker process's to cancel (it holds their nonces now)."""
        for venue in self.venues.values():
            await venue.close()


# -- perpflow's processes --------------------------------------------------------------------------------


async def write_signer_config(url: str, accounts: list[Account], state_dir: Path, ledger: Ledger) -> Path:
    secrets.write_store(state_dir / "secrets.json", {a.name: a.private_key for a in accounts})
    config = {
        "lighter": {"url": url},
        "accounts": [
            {
                "name": a.name,
                "account_index": a.index,
                "api_key_index": KEY,
                "api_key": f"secrets:{a.name}",
                "tier": "premium",
            }
            for a in accounts
        ],
    }
    path = state_dir / "signer.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    for a in accounts:
        await ledger.upsert_account(
            AccountRef(name=a.name, venue="lighter", account_index=a.index, api_key_index=KEY)
        )
    return path


WORKFLOW, ACTIVITY = TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW, TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY


async def pollers_up(client: Client, queues: dict[str, TaskQueueType.ValueType], whose: str) -> None:
    """Until every queue has a poller of its kind (workflow or activity tasks)."""
    address, ns = client.service_client.config.target_host, client.namespace

    async def ready() -> bool:
        polled = (queue_has_pollers(address, ns, q, kind) for q, kind in queues.items())
        return all(await asyncio.gather(*polled))

    await until(ready, f"{whose}'s queues polled", 180, every=0.2)


def session_config(run: str, k: int, account: Account, ladder: Ladder) -> dict[str, Any]:
    return {
        "name": f"bench-{run}-{k}",
        "account": {"account_index": account.index, "api_key_index": KEY},
        "market": "ETH",
        "lower": str(ladder.lower),
        "upper": str(ladder.upper),
        "levels": ladder.levels,
        "size": str(SIZE),
        "max_open_orders_per_side": ladder.levels,
        "stop": {"outside_range_pct": 50},
    }


# -- histories -----------------------------------------------------------------------------------------


def at(event: HistoryEvent) -> float:
    return event.event_time.seconds + event.event_time.nanos / 1e9


Runs = dict[str, list[list[HistoryEvent]]]  # each session's runs, first to last


async def histories(client: Client, workflow_ids: list[str]) -> Runs:
    """Every run of each session, from the first (following continue-as-new)."""
    out: Runs = {}
    for wid in workflow_ids:
        described = await client.get_workflow_handle(wid).describe()
        run_id, out[wid] = described.raw_description.workflow_execution_info.first_run_id, []
        while run_id:
            events = list((await client.get_workflow_handle(wid, run_id=run_id).fetch_history()).events)
            out[wid].append(events)
            last, run_id = events[-1], ""
            if last.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW:
                run_id = last.workflow_execution_continued_as_new_event_attributes.new_execution_run_id
    return out


@dataclass
class Waits:
    workflow_task: list[float] = field(default_factory=list)  # schedule-to-start, ms
    place_orders: list[float] = field(default_factory=list)
    stages: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))  # after the fill, ms


def activity_name(event: HistoryEvent, by_id: dict[int, HistoryEvent]) -> str:
    """The activity type of a scheduled, started or completed activity event."""
    if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
        return event.activity_task_scheduled_event_attributes.activity_type.name
    if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
        scheduled_id = event.activity_task_started_event_attributes.scheduled_event_id
    elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
        scheduled_id = event.activity_task_completed_event_attributes.scheduled_event_id
    else:
        return ""
    scheduled = by_id.get(scheduled_id)
    return activity_name(scheduled, by_id) if scheduled is not None else "?"


def task_waits(hist: Runs, window: tuple[float, float]) -> list[float]:
    """Schedule-to-start (ms) of the workflow tasks scheduled inside the window, every run of every
    workflow in ``hist`` (perpflow's sessions or the floor's workflows)."""
    out = []
    for runs in hist.values():
        for events in runs:
            by_id = {e.event_id: e for e in events}
            for e in events:
                if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED:
                    scheduled = by_id[e.workflow_task_started_event_attributes.scheduled_event_id]
                    if window[0] <= at(scheduled) <= window[1]:
                        out.append((at(e) - at(scheduled)) * 1000)
    return out


def waits(hist: Runs, accounts: dict[str, int], refilled: Refills, window: tuple[float, float]) -> Waits:
    """Schedule-to-start of the workflow tasks and place_orders scheduled inside the window; each
    matched refill's path: its fill signal, the next workflow task, the next place_orders."""
    out = Waits(workflow_task=task_waits(hist, window))
    for wid, runs in hist.items():
        for events in runs:
            by_id = {e.event_id: e for e in events}
            for pos, e in enumerate(events):
                if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
                    scheduled = by_id[e.activity_task_started_event_attributes.scheduled_event_id]
                    if activity_name(e, by_id) == "place_orders" and window[0] <= at(scheduled) <= window[1]:
                        out.place_orders.append((at(e) - at(scheduled)) * 1000)
                elif e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
                    sig = e.workflow_execution_signaled_event_attributes
                    if sig.signal_name != ORDER_FILLED or not sig.input.payloads:
                        continue
                    coi = int(json.loads(sig.input.payloads[0].data).get("client_order_index") or 0)
                    known = refilled.by_coi.get((accounts[wid], coi))
                    if known is None:
                        continue
                    fill_ms, accepted_ms = known
                    marks = {"signal recorded (history)": at(e), **_path(events[pos + 1 :], by_id)}
                    for name, t in marks.items():
                        out.stages[name].append(t * 1000 - fill_ms)
                    out.stages["sim: refill accepted"].append(float(accepted_ms - fill_ms))
    return out


def _path(after: list[HistoryEvent], by_id: dict[int, HistoryEvent]) -> dict[str, float]:
    """The first workflow task started after a signal, the first place_orders scheduled after it
    (the end of that workflow task), its start on the signer and its completion."""
    marks: dict[str, float] = {}
    scheduled_id = None
    for e in after:
        kind = e.event_type
        if kind == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED:
            marks.setdefault("workflow task started", at(e))
        elif scheduled_id is None and activity_name(e, by_id) == "place_orders":
            marks["place_orders scheduled"], scheduled_id = at(e), e.event_id
        elif scheduled_id is not None and activity_name(e, by_id) == "place_orders":
            started = kind == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED
            attrs = (
                e.activity_task_started_event_attributes
                if started
                else e.activity_task_completed_event_attributes
            )
            if attrs.scheduled_event_id != scheduled_id:
                continue
            if not started:
                marks["place_orders completed"] = at(e)
                break
            marks["place_orders started (signer)"] = at(e)
    return marks


def event_mix(hist: Runs, fills: int, window: tuple[float, float] | None = None) -> list[str]:
    """Events per fill by type (activities by type, signals by name): whole histories, or the
    events inside ``window``."""
    counts: Counter[str] = Counter()
    for runs in hist.values():
        for events in runs:
            by_id = {e.event_id: e for e in events}
            for e in events:
                if window is not None and not window[0] <= at(e) <= window[1]:
                    continue
                name = EventType.Name(e.event_type).removeprefix("EVENT_TYPE_")
                if activity := activity_name(e, by_id):
                    name += f" {activity}"
                elif e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
                    name += f" {e.workflow_execution_signaled_event_attributes.signal_name}"
                counts[name] += 1
    total = sum(counts.values())
    runs_n = sum(len(r) for r in hist.values())
    lines = [
        f"  {total / max(fills, 1):6.2f} events per fill ({total} events in {runs_n} runs, {fills} fills)"
    ]
    lines += [f"  {n / max(fills, 1):6.2f}  {name}" for name, n in counts.most_common()]
    return lines


# -- the three paths ----------------------------------------------------------------------------------


@dataclass
class Rig:
    """What the paths share: the sim, the observer, the walk, the ledger, a scratch directory."""

    url: str
    admin: SimAdmin
    http: aiohttp.ClientSession
    tape: Tape
    prices: list[Decimal]
    ledger_url: str
    tmp: Path
    signers: int  # signer processes, the accounts dealt among them


@dataclass
class PathRun:
    ladders: dict[int, Ladder]
    window: tuple[float, float]
    laid_s: float = 0.0
    refused: int = 0  # re-arms the venue refused
    hist: Runs = field(default_factory=dict)  # its workflows' histories (the Temporal paths)


async def laid(tape: Tape, accounts: list[Account], levels: int, stall_s: float = 30.0) -> list[Account]:
    """The accounts whose ladders rest, once all do or none more has for ``stall_s``."""
    loop = asyncio.get_running_loop()
    count, since = -1, loop.time()
    while True:
        done = [a for a in accounts if tape.open_orders(a.index) >= levels - 1]
        if len(done) == len(accounts) or loop.time() - since > stall_s:
            return done
        if len(done) != count:
            count, since = len(done), loop.time()
        await asyncio.sleep(0.2)


async def run_walk(rig: Rig, settle_s: float) -> tuple[float, float]:
    await rig.admin.set_price(ETH, START)
    await asyncio.sleep(1.0)
    t0 = time.time()
    await drive(rig.admin, rig.prices)
    t1 = time.time()
    await asyncio.sleep(settle_s)  # the last fills' refills land
    return t0, t1


async def run_baseline(rig: Rig, accounts: list[Account], ladders: dict[int, Ladder]) -> PathRun:
    return await run_bot(rig, Baseline(rig.url, accounts, ladders), accounts, ladders)


async def run_floor(rig: Rig, client: Client, accounts: list[Account], ladders: dict[int, Ladder]) -> PathRun:
    return await run_bot(rig, ThroughTemporal(rig, client, accounts, ladders), accounts, ladders)


async def run_bot(rig: Rig, bot: Baseline, accounts: list[Account], ladders: dict[int, Ladder]) -> PathRun:
    """The baseline's listener up, its ladders laid, the walk."""
    ready = asyncio.Event()
    listener = asyncio.create_task(bot.run(rig.http, ready))
    try:
        await ready.wait()
        await rig.admin.set_price(ETH, START)
        t0 = time.monotonic()
        await bot.lay(START)
        await laid(rig.tape, accounts, ladders[accounts[0].index].levels)
        laid_s = time.monotonic() - t0
        async with bot.serving():
            window = await run_walk(rig, 3.0)
    finally:
        listener.cancel()
        await bot.close()
    return PathRun(ladders, window, laid_s, bot.failed, bot.hist)


@dataclass
class PerpflowRun(PathRun):
    wids: dict[str, int] = field(default_factory=dict)


@asynccontextmanager
async def perpflow_stack(
    client: Client, url: str, accounts: list[Account], ledger_url: str, tmp: Path, *, signers: int = 1
) -> AsyncIterator[None]:
    """The orchestrator, ``signers`` signer processes holding the accounts' keys (dealt among them,
    each serving its share by name, as an operator spreads keys) and the market-data worker, each
    in its own process as ``perpflow dev`` runs them; yields once all poll."""
    state_dir = tmp / "state"  # write_store creates it
    ledger = Ledger(ledger_url)
    try:
        signer_yaml = await write_signer_config(url, accounts, state_dir, ledger)
    finally:
        await ledger.close()
    py = sys.executable
    commands = {
        "orchestrator": [py, "-m", "workers.orchestrator"],
        "market_data": [py, "-m", "workers.market_data", "--metrics-port", "0"],
    }
    for k in range(signers):
        share = [a.name for a in accounts[k::signers]]
        commands[f"signer-{k}"] = [py, "-m", "workers.signer", str(signer_yaml), *share]
    with processes(commands, stack_env(client, url, ledger_url, state_dir), tmp):
        try:
            signer_queues = {names.signer_queue("lighter", a.index, KEY): ACTIVITY for a in accounts}
            await pollers_up(client, {names.ORCHESTRATOR_QUEUE: WORKFLOW} | signer_queues, "perpflow")
            yield
        except BaseException:
            for name in commands:  # what the processes said, for the failure's report
                lines = (tmp / f"{name}.log").read_text(errors="replace").splitlines()
                print(f"-- {name}.log, last lines:\n" + "\n".join(lines[-15:]), file=sys.stderr)
            raise


async def run_perpflow(
    rig: Rig, client: Client, accounts: list[Account], ladders: dict[int, Ladder]
) -> PerpflowRun:
    run = uuid.uuid4().hex[:6]
    async with perpflow_stack(client, rig.url, accounts, rig.ledger_url, rig.tmp, signers=rig.signers):
        await rig.admin.set_price(ETH, START)  # each ladder laid around the walk's start
        handles = []
        t0 = time.monotonic()
        for k, a in enumerate(accounts):
            config = session_config(run, k, a, ladders[a.index])
            wid = names.grid_session_id(config["name"])
            handles.append(
                await client.start_workflow(
                    "GridSessionWorkflow", config, id=wid, task_queue=names.ORCHESTRATOR_QUEUE
                )
            )
        resting = await laid(rig.tape, accounts, ladders[accounts[0].index].levels)
        laid_s = time.monotonic() - t0
        if len(resting) < len(accounts):
            laid_s -= 30.0  # the wait for the stragglers
            frozen = sorted(set(accounts) - set(resting), key=lambda a: a.index)
            by_account = {a.index: h for a, h in zip(accounts, handles, strict=True)}
            said = [await by_account[a.index].query("status", result_type=GridStatus) for a in frozen]
            told = [(a.index, s.state.value, s.frozen) for a, s in zip(frozen, said, strict=True)]
            print(
                f"!! {len(frozen)} of {len(accounts)} sessions never laid their ladder (account, state, "
                f"frozen: {told}); measured without them"
            )
            ladders = {a.index: ladders[a.index] for a in resting}
        await asyncio.sleep(3.0)  # the band watches registered beside the ladder, the streams up
        window = await run_walk(rig, 5.0)
        wids = {h.id: a.index for h, a in zip(handles, accounts, strict=True)}
        hist = await histories(client, list(wids))
        for h in handles:
            with suppress(Exception):
                await h.terminate("bench done")
    return PerpflowRun(ladders, window, laid_s, 0, hist, wids)


# -- the report ----------------------------------------------------------------------------------------


def times(over: list[float], under: list[float], q: float) -> float:
    return pct(over, q) / max(pct(under, q), 1.0)


def versus(over: list[float], under: list[float]) -> str:
    """``over`` against ``under`` at p99 and p50: the ratio (the difference)."""
    return ", ".join(
        f"p{q} {times(over, under, q):.2f}x ({pct(over, q) - pct(under, q):+.1f} ms)" for q in (99, 50)
    )


def report(
    args: argparse.Namespace, tape: Tape, *, base: PathRun, floor: PathRun, flow: PerpflowRun, ledger_url: str
) -> None:
    seconds = args.seconds
    print(
        f"Grid scale: {args.sessions} sessions x {args.levels} levels ({STEP} USD apart, an account each), "
        f"walk sigma {args.sigma} USD per {TICK_S * 1000:.0f} ms, {seconds:g} s per path; orchestrator, "
        f"{args.signers} signer process{'es' if args.signers > 1 else ''} (the keys dealt among them) "
        f"and market data as processes; {backend(ledger_url)} ledger"
    )
    rb, rl, rf = (refills(tape, p.ladders, p.window) for p in (base, floor, flow))
    print(f"{'path':<34}{'ladders up':>11}{'fills':>7}{'fills/s':>9}{'refills':>9}{'armed':>7}{'missing':>9}")
    for name, r, p in (
        ("baseline: direct asyncio script", rb, base),
        ("floor: baseline through Temporal", rl, floor),
        ("perpflow: GridSessionWorkflow", rf, flow),
    ):
        cells = f"{r.fills:>7}{r.fills / seconds:>9.1f}{len(r.latencies):>9}{r.armed:>7}{r.missing:>9}"
        print(f"{name:<34}{p.laid_s:>9.1f} s{cells}")
    if base.refused or floor.refused:
        print(f"  (re-arms refused by the sim: baseline {base.refused}, floor {floor.refused})")
    print("fill -> re-armed order accepted (sim clock):")
    print(summary("  baseline: direct asyncio script", rb.latencies))
    print(summary("  floor: signal -> wf -> rearm activity", rl.latencies))
    print(summary("  perpflow: md -> signal -> wf -> signer", rf.latencies))
    met = "met" if times(rf.latencies, rb.latencies, 99) <= TARGET else "MISSED"
    floored = times(rl.latencies, rb.latencies, 99) > TARGET
    below = f", above {TARGET:g}x: the target is below it" if floored else ""
    print(f"  perpflow / baseline  {versus(rf.latencies, rb.latencies)}; target p99 <= {TARGET:g}x: {met}")
    print(f"  floor / baseline     {versus(rl.latencies, rb.latencies)}; Temporal's round trip alone{below}")
    print(f"  perpflow / floor     {versus(rf.latencies, rl.latencies)}; perpflow's own overhead")
    w, floor_tasks = waits(flow.hist, flow.wids, rf, flow.window), task_waits(floor.hist, floor.window)
    print("the backlog, from the histories (tasks scheduled during the walk), schedule-to-start:")
    print(summary("  floor: workflow task", floor_tasks))
    print(summary("  perpflow: workflow task", w.workflow_task))
    print(summary("  perpflow: place_orders (signer)", w.place_orders))
    verdict = {
        name: f"{pct(v, 99):.1f} ms ({'none' if pct(v, 99) <= NO_BACKLOG_MS else 'BACKLOG'})"
        for name, v in (("floor", floor_tasks), ("perpflow", w.workflow_task))
    }
    print(
        f"  workflow task p99 (a backlog above {NO_BACKLOG_MS:g} ms): floor {verdict['floor']}, "
        f"perpflow {verdict['perpflow']}; perpflow adds {versus(w.workflow_task, floor_tasks)}"
    )
    print("perpflow's refill path, after the fill on the sim (p50 / p99, ms):")
    for name, values in sorted(w.stages.items(), key=lambda kv: pct(kv[1], 50)):
        print(f"  {name:<34} +{pct(values, 50):7.1f}  p99 +{pct(values, 99):7.1f}  (n={len(values)})")
    fills = sum(len(tape.fills[a]) for a in flow.wids.values())
    print(f"perpflow histories, events during the walk ({rf.fills} fills), by type per fill:")
    print("\n".join(event_mix(flow.hist, rf.fills, flow.window)))
    print(f"  whole histories from the start (ladders, watches): {event_mix(flow.hist, fills)[0].strip()}")
    floor_mix = event_mix(floor.hist, rl.fills, floor.window)[0].strip()
    print(f"  floor, during the walk ({rl.fills} fills): {floor_mix}")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sessions", type=int, default=int(os.environ.get("BENCH_GRID_SESSIONS", "100")))
    parser.add_argument("--levels", type=int, default=int(os.environ.get("BENCH_GRID_LEVELS", "20")))
    parser.add_argument("--seconds", type=float, default=float(os.environ.get("BENCH_GRID_SECONDS", "30")))
    parser.add_argument("--sigma", type=Decimal, default=Decimal(os.environ.get("BENCH_GRID_SIGMA", "0.20")))
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--signers", type=int, default=int(os.environ.get("BENCH_GRID_SIGNERS", "1")))
    return parser.parse_args()


async def main() -> None:
    args = parse_args()
    prices = walk(args.seed, math.ceil(args.seconds / TICK_S), args.sigma, args.levels)
    with sim_process() as url, tempfile.TemporaryDirectory() as tmp, bench_ledger(Path(tmp)) as ledger_url:
        env = await local_temporal()
        async with SimAdmin(url) as admin, aiohttp.ClientSession(trust_env=False) as http:
            base_accounts = await new_accounts(admin, "bench-base-", args.sessions)
            floor_accounts = await new_accounts(admin, "bench-floor-", args.sessions)
            flow_accounts = await new_accounts(admin, "bench-grid-", args.sessions)
            ladders = {
                a.index: Ladder.of(k, args.sessions, args.levels)
                for group in (base_accounts, floor_accounts, flow_accounts)
                for k, a in enumerate(group)
            }
            tape = Tape(url, {a.index: a for a in base_accounts + floor_accounts + flow_accounts})
            observer = asyncio.create_task(tape.run(http))
            await tape.subscribed.wait()
            rig = Rig(url, admin, http, tape, prices, ledger_url, Path(tmp), args.signers)
            base = await run_baseline(rig, base_accounts, {a.index: ladders[a.index] for a in base_accounts})
            floor = await run_floor(
                rig, env.client, floor_accounts, {a.index: ladders[a.index] for a in floor_accounts}
            )
            flow = await run_perpflow(
                rig, env.client, flow_accounts, {a.index: ladders[a.index] for a in flow_accounts}
            )
            observer.cancel()
            with suppress(asyncio.CancelledError):
                await observer
        await env.shutdown()
    report(args, tape, base=base, floor=floor, flow=flow, ledger_url=ledger_url)


if __name__ == "__main__":
    asyncio.run(main())
