"""Helpers for chaos tests that run the real worker processes (no fixtures here): a process that is
SIGKILLed and restarted at will (or at seeded random points), the signer's YAML and environment for
fresh sim accounts, a price wiggle that keeps resting quotes filling, the chaos hedge fleets (their
cycles, their start, how each cycle ended); for the grid sessions, requests held at the sim, its
websockets refused, a watch over what an account rests, and what a workflow placed, was signalled
and how many runs it had."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select
from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from perpflow import names
from perpflow.db import tables as t
from perpflow.db.ledger import Ledger
from perpflow.hedge.fleet import FleetInput, FleetResult, FleetStatus, PairSpec
from perpflow.hedge.models import CycleParams, CycleResult, CycleState
from perpflow.signals import ORDER_FILLED, OrderFilled
from perpflow.venues.errors import VenueError
from perpflow.venues.lighter.client import LighterVenue
from tests.plugins.sim import SimHandle
from tests.plugins.venues import SimAccount, best

ROOT = Path(__file__).parents[2]


class Proc:
    """One worker process (``python -m workers.…``), its output appended to ``log``."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log: Path) -> None:
        self.name, self.argv, self.env, self.log = name, argv, env, log
        self.proc: subprocess.Popen[bytes] | None = None
        self.kills = 0
        self.offset = 0  # where this start's output begins in the log

    def start(self) -> None:
        self.offset = self.log.stat().st_size if self.log.exists() else 0
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                self.argv, cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT
            )

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
            self.kills += 1

    async def polling(self, timeout: float = 60, marker: str = "worker polling") -> float:
        """Wait until this start's output says its workers poll; how long that took."""
        begun = time.monotonic()
        while marker.encode() not in self.log.read_bytes()[self.offset :]:
            assert self.proc is not None and self.proc.poll() is None, f"{self.name} exited:\n{self.tail()}"
            assert time.monotonic() - begun < timeout, f"{self.name} not polling after {timeout}s"
            await asyncio.sleep(0.1)
        return time.monotonic() - begun

    def tail(self, lines: int = 40) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


@dataclass(frozen=True)
class WorkerProcs:
    orchestrator: Proc
    signer: Proc

    @property
    def all(self) -> tuple[Proc, Proc]:
        return self.orchestrator, self.signer


def worker_procs(
    temporal: WorkflowEnvironment,
    sim: SimHandle,
    postgres_url: str,
    accounts: list[SimAccount],
    state_dir: Path,
) -> WorkerProcs:
    """The orchestrator and one signer holding every account's key (read from the environment),
    pointed at this test's dev server, the sim and the Postgres ledger; not started yet."""
    config = state_dir / "signer.yaml"
    config.write_text(
        yaml.safe_dump({
            "lighter": {"url": sim.url},
            "accounts": [
                {"name": f"c{i}", "account_index": a.account_index, "api_key_index": a.api_key_index,
                 "api_key": f"env:CHAOS_KEY_{i}", "tier": "premium"}
                for i, a in enumerate(accounts)
            ],
        })
    )  # fmt: skip
    env = {
        **os.environ,
        "PERPFLOW_TEMPORAL_ADDRESS": temporal.client.service_client.config.target_host,
        "PERPFLOW_TEMPORAL_NAMESPACE": temporal.client.namespace,
        # A killed orchestrator's runs resume 2 s later instead of the default 10 (chaos kills it).
        "PERPFLOW_ORCHESTRATOR_STICKY_TIMEOUT_S": "2",
        "PERPFLOW_STATE_DIR": str(state_dir),
        "DATABASE_URL": postgres_url,
        "PERPFLOW_LIGHTER_URL": sim.url,
        "NO_PROXY": "127.0.0.1,localhost",
        **{f"CHAOS_KEY_{i}": a.private_key.get_secret_value() for i, a in enumerate(accounts)},
    }
    python = [sys.executable, "-m"]
    return WorkerProcs(
        Proc("orchestrator", [*python, "workers.orchestrator"], env, state_dir / "orchestrator.log"),
        Proc("signer", [*python, "workers.signer", str(config)], env, state_dir / "signer.log"),
    )


# The cycles of the chaos fleets: small, quick to quote, hold and close, so kills land in every phase.
# A quote at the touch fills on the wiggle's first move its way (half of them); one the price moved
# away from may wait many moves, so it is requoted at the new touch after a few seconds instead. A
# signer SIGKILLed while a quote waits for its fill is noticed when the quote times out, too.
CHAOS_CYCLE = CycleParams(
    size=Decimal("0.05"),
    maker_timeout_s=3,
    max_requotes=3,
    hold_s=1,
    close_mode="market",
    poll_s=0.25,
    hedge_deadline_s=40,
)
# The chaos hedge fleets' wiggle: a move every 0.3 s, ten moves for a quote before it is requoted.
FLEET_WIGGLE_S = 0.3


def chaos_fleet(prefix: str, pairs: list[PairSpec], cycles_per_pair: int) -> FleetInput:
    """A fleet on Lighter's ETH (a leg may name its own venue and market) named `prefix` and a
    fresh tag, running `cycles_per_pair` chaos cycles of each pair back to back."""
    return FleetInput(
        name=f"{prefix}{uuid.uuid4().hex[:6]}",
        market="ETH",
        pause_between_s=0,
        max_cycles_per_pair=cycles_per_pair,
        pairs=pairs,
        cycle=CHAOS_CYCLE,
    )


async def start_fleet(client: Client, fleet: FleetInput) -> WorkflowHandle[Any, FleetResult]:
    return await client.start_workflow(
        "HedgeFleetWorkflow",
        fleet,
        id=names.hedge_fleet_id(fleet.name),
        task_queue=names.ORCHESTRATOR_QUEUE,
        result_type=FleetResult,
    )


async def each_cycle_ended_done_or_unwound(
    client: Client, handle: WorkflowHandle[Any, FleetResult], fleet: FleetInput
) -> None:
    epoch = (await handle.query("status", result_type=FleetStatus)).epoch
    assert fleet.max_cycles_per_pair is not None
    for pair in fleet.pairs:
        for seq in range(fleet.max_cycles_per_pair):
            cycle = client.get_workflow_handle(names.hedge_cycle_id(fleet.name, epoch, pair.name, seq))
            ended = CycleResult.model_validate(await cycle.result())
            assert ended.state in (CycleState.DONE, CycleState.UNWOUND), ended


async def wiggle(
    sim: SimHandle, public: LighterVenue, stop: asyncio.Event, rng: random.Random, every_s: float = 0.7
) -> None:
    """Move the price $3-4 up or down every ``every_s`` so resting quotes keep filling, both ways."""
    while not stop.is_set():
        bid, ask = await best(public)
        mid = (bid + ask) / 2
        await sim.admin.set_price(0, (mid + Decimal(rng.choice([-4, -3, 3, 4]))).quantize(Decimal("0.01")))
        await stopped_within(stop, every_s)


async def kill_along(
    procs: Sequence[Proc],
    stop: asyncio.Event,
    rng: random.Random,
    fleet: WorkflowHandle[Any, Any],
    marks: Sequence[int] = (1, 3, 5, 7),
) -> None:
    """A SIGKILL as the fleet's count of ended cycles reaches each of ``marks``: the next of
    ``procs`` in turn (the first drawn from ``rng``, so each of them dies), restarted 0.2-1.5 s
    later without waiting for it to poll again. Nothing is killed once ``stop`` is set: a kill
    after the fleet has ended proves nothing. Kills keyed to the fleet's progress, not to the
    clock, land while it trades however fast the machine runs it (a kill every 5-10 s once left a
    fast machine's fleet done before its third kill)."""
    turn = rng.randrange(len(procs))
    for mark in marks:
        if not await _until_cycles(fleet, mark, stop):
            return
        victim = procs[turn % len(procs)]
        turn += 1
        victim.kill()
        await asyncio.sleep(rng.uniform(0.2, 1.5))  # how long it stays down
        victim.start()


async def _until_cycles(fleet: WorkflowHandle[Any, Any], cycles: int, stop: asyncio.Event) -> bool:
    """Until the fleet's status counts ``cycles`` ended cycles (False once ``stop`` is set); a
    query the killed orchestrator cannot answer is asked again."""
    while not stop.is_set():
        with contextlib.suppress(Exception):
            status = await asyncio.wait_for(fleet.query("status", result_type=FleetStatus), 2)
            if status.cycles >= cycles:
                return True
        if await stopped_within(stop, 0.2):
            break
    return False


async def stopped_within(stop: asyncio.Event, seconds: float) -> bool:
    """Wait ``seconds``, or less once ``stop`` is set; whether it is."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
    return stop.is_set()


# -- grid chaos: held sends, the feed cut, a watch on what rests -------------------------------------

SEND_PATHS = ("/api/v1/sendTx", "/api/v1/sendTxBatch")  # the Lighter face's order sends
OPEN_ORDERS_PATH = "/api/v1/accountActiveOrders"


def market_data_proc(procs: WorkerProcs, state_dir: Path) -> Proc:
    """``python -m workers.market_data`` beside ``procs`` (same server, sim, ledger and state dir,
    so the orchestrator reads its status file); not started yet."""
    argv = [sys.executable, "-m", "workers.market_data", "--markets", "ETH", "--metrics-port", "0"]
    return Proc("market-data", argv, procs.orchestrator.env, state_dir / "market-data.log")


async def restart(procs: Sequence[Proc], timeout: float = 120) -> None:
    """SIGKILL each of ``procs`` (those running), start them again, until every one polls."""
    for p in procs:
        p.kill()
    for p in procs:
        p.start()
    await asyncio.gather(*(p.polling(timeout=timeout) for p in procs))


@dataclass(frozen=True)
class Held:
    sim: SimHandle
    faults: int  # latency faults waiting once these were set

    async def taken(self, timeout: float = 60) -> None:
        """Until the sim holds a request: one of these faults is used up. A send held so dies with
        its connection (the sim reads its body after the latency): it never reaches the engine."""
        begun = time.monotonic()
        while await _latency_faults(self.sim) >= self.faults:
            assert time.monotonic() - begun < timeout, f"no held request reached the sim within {timeout}s"
            await asyncio.sleep(0.05)


async def hold_next(sim: SimHandle, latency_ms: int, *paths: str) -> Held:
    """The sim holds the next request to each of ``paths`` ``latency_ms`` before serving it."""
    for path in paths:
        await sim.admin.inject_fault("latency", count=1, path=path, latency_ms=latency_ms)
    return Held(sim, await _latency_faults(sim))


async def _latency_faults(sim: SimHandle) -> int:
    return sum(f["kind"] == "latency" for f in (await sim.admin.state())["faults"])


async def refuse_websockets(sim: SimHandle) -> None:
    """Every websocket of the sim closes, and new ones are refused until ``allow_websockets``."""
    await sim.admin.inject_fault("ws_drop", seconds=3600)


async def allow_websockets(sim: SimHandle) -> None:
    await sim.admin.inject_fault("ws_drop", seconds=0)


class RestingWatch:
    """Samples one account's open orders in a market until stopped (``async with``; the venue client
    is its own, closed at the end). A grid level rests one order at a time and no two levels share
    a price: any price resting two orders at once is recorded."""

    def __init__(self, venue: LighterVenue, market: str = "ETH") -> None:
        self.venue, self.market = venue, market
        self.samples = 0
        self.doubles: list[tuple[Decimal, list[int]]] = []  # (price, client order indexes)
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> RestingWatch:
        self._task = asyncio.create_task(self._run())
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._stop.set()
        if self._task is not None:
            await self._task
        await self.venue.close()

    async def _run(self) -> None:
        while not self._stop.is_set():
            try:
                orders = await self.venue.open_orders(self.market)
            except VenueError:  # a read the sim's faults refused: the next sample looks again
                orders = []
            else:
                self.samples += 1
            by_price: dict[Decimal, list[int]] = {}
            for order in orders:
                by_price.setdefault(order.price, []).append(order.client_order_index)
            self.doubles += [(price, cois) for price, cois in by_price.items() if len(cois) > 1]
            await asyncio.sleep(0.25)


async def placed_once(ledger: Ledger, venue: LighterVenue, workflow_id: str) -> dict[str, int]:
    """The workflow's order keys in the ledger, each with its client order index; asserts that none
    of them reached the venue twice."""
    query = select(t.Order.idempotency_key, t.Order.client_order_index).where(
        t.Order.workflow_id == workflow_id
    )
    async with ledger.session() as s:
        keys: dict[str, int] = dict((await s.execute(query)).all())
    seen = {key: len(await venue.orders_by_client_index(coi)) for key, coi in keys.items()}
    assert {key: n for key, n in seen.items() if n > 1} == {}
    return keys


async def signalled_fills(client: Client, workflow_id: str) -> set[int]:
    """The client order indexes of the ``order_filled`` signals in the latest run's history."""
    cois = set()
    async for event in client.get_workflow_handle(workflow_id).fetch_history_events():
        attrs = event.workflow_execution_signaled_event_attributes
        if (
            event.HasField("workflow_execution_signaled_event_attributes")
            and attrs.signal_name == ORDER_FILLED
        ):
            [fill] = await client.data_converter.decode(attrs.input.payloads, [OrderFilled])
            cois.add(fill.client_order_index)
    return cois


async def runs_at_least(client: Client, workflow_id: str, count: int) -> bool:
    """Whether the workflow id has ``count`` runs or more (continued as new ``count - 1`` times)."""
    return len([run async for run in client.list_workflows(f"WorkflowId = '{workflow_id}'")]) >= count
