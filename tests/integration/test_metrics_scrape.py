"""Every perpflow process's metrics, scraped by the real Prometheus server (Debian's ``prometheus``).

The five processes run as in production (``python -m workers.…`` with ``--metrics-port``) against
their own dev server, the sim, anvil and a Postgres ledger; a Prometheus on a free port scrapes
them every second. Real events happen: a hedge order placed (with the fill it hedges), an order
refused by the risk gate, a liquidation paid end to end. The test then asks Prometheus's API for
every series of the catalogue, with its labels, on the job of the process that serves it.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml
from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from perpflow import names as ids
from perpflow.db import tables as t
from perpflow.db.hedge import HedgeCycles
from perpflow.db.ledger import Ledger
from perpflow.devstack.harness import local_temporal
from perpflow.devstack.ports import free_port
from perpflow.hedge.models import CycleRecord, CycleState
from perpflow.metrics.names import (
    SDK_METRICS,
    Metric,
    Process,
)
from perpflow.models import AccountRef
from perpflow.orders import OrderAck, OrderIntent
from perpflow.payouts.config import CONFIG_ENV
from perpflow.payouts.models import PayoutState
from perpflow.venues.base import VenueName
from perpflow.venues.types import OrderKind, Side, TimeInForce
from tests.plugins.chain import ChainEnv
from tests.plugins.chaos import Proc
from tests.plugins.payouts import Payouts, open_payouts
from tests.plugins.prometheus import PROCESSES, Prometheus, Sample, missing, served_by
from tests.plugins.sim import SimHandle
from tests.plugins.venues import best, new_account, venue_for

WALLET_KEY_ENV = "PERPFLOW_TEST_WALLET_KEY"
SIGNER_KEY_ENV = "METRICS_TEST_SIGNER_KEY"
WAIT_S = 120.0  # a bound for a machine under load, not a timing expectation
ONCE = RetryPolicy(maximum_attempts=1)
# The SDK's metrics each process has once this test's events happened: a client's requests
# everywhere, pollers and slots where workers poll, workflow tasks on the orchestrator (whose
# payout activities are local ones), activities on the signer (one failed) and the wallet.
_CLIENT = ("temporal_request",)
_WORKER = (*_CLIENT, "temporal_num_pollers", "temporal_worker_task_slots_available")
_ACTIVITIES = (*_WORKER, "temporal_activity_schedule_to_start_latency_seconds",
               "temporal_activity_execution_latency_seconds")  # fmt: skip
SDK_EXPECTED = {
    Process.ORCHESTRATOR: (*_WORKER, "temporal_workflow_task_schedule_to_start_latency_seconds",
                           "temporal_workflow_task_execution_latency_seconds",
                           "temporal_workflow_endtoend_latency_seconds"),
    Process.SIGNER: (*_ACTIVITIES, "temporal_activity_execution_failed"),
    Process.WALLET: _ACTIVITIES,
    Process.MARKET_DATA: _CLIENT,
    Process.CHAIN_WATCHER: _CLIENT,
}  # fmt: skip


@workflow.defn(sandboxed=False)
class PlaceOrders:
    """A workflow's orders on a signer's queue, each tried once: what each ended as."""

    @workflow.run
    async def run(self, queue: str, intents: list[OrderIntent]) -> list[str]:
        outcomes = []
        for intent in intents:
            try:
                ack: OrderAck = await workflow.execute_activity(
                    "place_order", intent, task_queue=queue, result_type=OrderAck, retry_policy=ONCE,
                    start_to_close_timeout=timedelta(seconds=30),
                )  # fmt: skip
                outcomes.append(ack.status.value)
            except ActivityError as exc:
                cause = exc.cause
                outcomes.append(cause.type or "" if isinstance(cause, ApplicationError) else repr(cause))
        return outcomes


def expected(process: Process) -> list[Metric]:
    return served_by(process) + [m for m in SDK_METRICS if m.name in SDK_EXPECTED[process]]


def total(found: list[Sample], name: str, **labels: str) -> float:
    """The sum of ``name``'s series whose labels include ``labels``."""
    return sum(v for s, v in found if s["__name__"] == name and labels.items() <= s.items())


@pytest.fixture
async def temporal() -> AsyncIterator[WorkflowEnvironment]:
    """A dev server of this test's own: the orchestrator polls the production queue name."""
    env = await local_temporal()
    yield env
    await env.shutdown()


@pytest.fixture
async def payouts(chain: ChainEnv, temporal: WorkflowEnvironment, sqlite_url: str) -> AsyncIterator[Payouts]:
    async with open_payouts(chain, temporal, sqlite_url) as env:
        yield env


@pytest.fixture
def procs() -> Iterator[list[Proc]]:
    started: list[Proc] = []
    yield started
    for p in started:
        p.kill()


async def test_prometheus_scrapes_every_catalogue_series_from_every_process(
    temporal: WorkflowEnvironment,
    payouts: Payouts,
    sim: SimHandle,
    pg_ledger: Ledger,
    postgres_url: str,
    tmp_path: Path,
    procs: list[Proc],
) -> None:
    account = await new_account(sim)
    index = str(account.account_index)
    await ledger_rows(pg_ledger, account.account_index, account.api_key_index)
    ports = {p: free_port() for p in PROCESSES}
    env = environment(temporal, sim, payouts, postgres_url, tmp_path, account.private_key.get_secret_value())
    signer_yaml = tmp_path / "signer.yaml"
    signer_yaml.write_text(yaml.safe_dump({
        "lighter": {"url": sim.url},
        "accounts": [{"name": "m0", "account_index": account.account_index,
                      "api_key_index": account.api_key_index, "api_key": f"env:{SIGNER_KEY_ENV}"}],
    }))  # fmt: skip
    extra = {Process.SIGNER: [str(signer_yaml)], Process.MARKET_DATA: ["--markets", "ETH"]}
    for p in PROCESSES:
        module = "workers." + p.value.replace("-", "_")
        argv = [sys.executable, "-m", module, *extra.get(p, []), "--metrics-port", str(ports[p])]
        procs.append(Proc(p.value, argv, env, tmp_path / f"{p.value}.log"))
        procs[-1].start()
    prometheus = Prometheus(tmp_path, {p.value: f"127.0.0.1:{ports[p]}" for p in PROCESSES})
    try:
        await asyncio.gather(
            *(p.polling(WAIT_S) for p in procs if p.name in ("orchestrator", "signer", "wallet"))
        )
        outcomes = await place_orders(temporal, sim, account)
        assert outcomes == ["filled", "RiskRejected"], outcomes
        await paid_once(payouts, pg_ledger)
        found = await every_series(prometheus)
    finally:
        prometheus.stop()
    assert total(found, "perpflow_orders_placed_total", job="signer", account=index, tif="ioc") == 1
    assert total(found, "perpflow_orders_rejected_total", account=index, reason="risk_rejected") == 1
    assert total(found, "perpflow_hedge_latency_seconds_count", job="signer", account=index) == 1
    assert total(found, "perpflow_account_position", job="signer", account=index, market="ETH") > 0
    assert total(found, "perpflow_hedge_cycles", job="orchestrator", fleet="metrics", state="DONE") == 1
    assert total(found, "perpflow_hedge_cycles", fleet="metrics", state="QUOTING") == 1
    pair = {"fleet": "metrics", "pair": "p0", "market": "ETH"}
    assert total(found, "perpflow_hedge_pair_account", **pair, account=index, role="maker") == 1
    assert total(found, "perpflow_fleet_realised_pnl_usd", fleet="metrics") == 1.5
    assert total(found, "perpflow_grid_realised_pnl_usd", account=index, market="ETH") == 2.5
    assert total(found, "perpflow_payouts", job="orchestrator", state="DONE") == 1
    assert total(found, "perpflow_payout_latency_seconds_count", job="orchestrator") == 1
    assert total(found, "perpflow_payout_events_total", job="chain-watcher") == 1
    assert total(found, "perpflow_wallet_broadcasts_total", job="wallet", kind="first") == 1
    assert total(found, "perpflow_reconcile_orphans", account=index, kind="position") == 0


# What the events left, in series whose values come from reads cached a few seconds (the ledger,
# the venue) or from scrapes a second apart: waited for before the values are checked.
EVENTS = (
    ("perpflow_payout_latency_seconds_count", {}),
    ("perpflow_payouts", {"state": "DONE"}),
    ("perpflow_wallet_broadcasts_total", {"kind": "first"}),
    ("perpflow_payout_events_total", {}),
    ("perpflow_orders_placed_total", {"tif": "ioc"}),
    ("perpflow_orders_rejected_total", {"reason": "risk_rejected"}),
    ("perpflow_account_position", {"market": "ETH"}),
)


async def every_series(prometheus: Prometheus) -> list[Sample]:
    """Prometheus's answer once it holds every expected series and what the events left."""
    deadline = time.monotonic() + WAIT_S
    while True:
        found = await prometheus.series()
        gaps = missing(found, expected) + [
            f"{n}{labels} > 0" for n, labels in EVENTS if not total(found, n, **labels)
        ]
        if not gaps:
            return found
        assert time.monotonic() < deadline, "Prometheus lacks:\n" + "\n".join(gaps)
        await asyncio.sleep(0.5)


async def ledger_rows(ledger: Ledger, account_index: int, api_key_index: int) -> None:
    """The signer's account, one hedge cycle that made 1.5 net, one grid session that made 2.5."""
    await ledger.upsert_account(
        AccountRef(name="m0", venue="lighter", account_index=account_index, api_key_index=api_key_index)
    )
    cycle = CycleRecord(
        workflow_id="hedge-metrics-1-p0-1", fleet="metrics", pair="p0", seq=1, venue="lighter", market="ETH",
        maker_account=account_index, taker_account=account_index + 1, state=CycleState.QUOTING,
    )  # fmt: skip
    cycles = HedgeCycles(ledger)
    await cycles.save(cycle)
    await cycles.save(cycle.model_copy(update={"state": CycleState.DONE, "realized_pnl": Decimal("1.5")}))
    await cycles.save(cycle.model_copy(update={"workflow_id": "hedge-metrics-1-p0-2", "seq": 2}))  # live
    async with ledger.session() as s:
        s.add(t.GridSession(
            workflow_id="grid-metrics", name="metrics", venue="lighter", market="ETH",
            account_index=account_index, state="RUNNING", realized_profit=Decimal(3), fees=Decimal("0.5"),
            position=Decimal("0.1"),
        ))  # fmt: skip


def environment(
    temporal: WorkflowEnvironment,
    sim: SimHandle,
    payouts: Payouts,
    ledger_url: str,
    tmp: Path,
    signer_key: str,
) -> dict[str, str]:
    config = {
        "chain": {"chain_id": payouts.policy.chain_id, "rpc_url": payouts.guard.rpc_url,
                  "guard_address": payouts.guard.guard_address, "start_block": payouts.chain.deploy_block,
                  "poll_interval_s": 0.2},
        "wallet": {"address": payouts.owner.address, "key": f"env:{WALLET_KEY_ENV}"},
        "timing": {"confirmations": 1, "tx_confirmations": 1},
    }  # fmt: skip
    (tmp / "payouts.yaml").write_text(yaml.safe_dump(config))
    return {
        **os.environ,
        "PERPFLOW_TEMPORAL_ADDRESS": temporal.client.service_client.config.target_host,
        "PERPFLOW_TEMPORAL_NAMESPACE": temporal.client.namespace,
        "PERPFLOW_STATE_DIR": str(tmp),
        "DATABASE_URL": ledger_url,
        "PERPFLOW_LIGHTER_URL": sim.url,
        "NO_PROXY": "127.0.0.1,localhost",
        CONFIG_ENV: str(tmp / "payouts.yaml"),
        WALLET_KEY_ENV: payouts.owner._key.get_secret_value(),
        SIGNER_KEY_ENV: signer_key,
    }


async def place_orders(temporal: WorkflowEnvironment, sim: SimHandle, account: Any) -> list[str]:
    """Through the signer process: a hedge (IOC, naming the fill it hedges) and an order far over
    the risk gate's notional limit."""
    venue = venue_for(sim, account)
    try:
        _, ask = await best(venue)
    finally:
        await venue.close()
    common = {"workflow_id": "metrics-orders", "account_index": account.account_index, "market": "ETH"}
    worst = (ask * Decimal("1.05")).quantize(Decimal("0.01"))
    hedge = OrderIntent(
        key="metrics-orders/hedge", side=Side.BUY, kind=OrderKind.MARKET, tif=TimeInForce.IOC,
        size=Decimal("0.1"), price=worst, hedges_fill_at=datetime.now(UTC), **common,
    )  # fmt: skip
    too_big = OrderIntent(key="metrics-orders/big", side=Side.BUY, size=Decimal(1000), price=ask, **common)
    queue = ids.signer_queue(VenueName.LIGHTER, account.account_index, account.api_key_index)
    test_queue = f"metrics-{uuid.uuid4()}"
    client = temporal.client
    async with Worker(
        client, task_queue=test_queue, workflows=[PlaceOrders], workflow_runner=UnsandboxedWorkflowRunner()
    ):
        return await client.execute_workflow(
            PlaceOrders.run, args=[queue, [hedge, too_big]], id=test_queue, task_queue=test_queue
        )


async def paid_once(payouts: Payouts, ledger: Ledger) -> None:
    """A liquidation on chain, paid by the chain watcher, orchestrator and wallet processes."""
    event = await payouts.liquidate()
    workflow_id = payouts.workflow_id(event)
    deadline = time.monotonic() + WAIT_S
    while True:
        async with ledger.session() as s:
            row = await s.get(t.Payout, workflow_id)
        if row is not None and row.state == PayoutState.DONE.value:
            return
        assert time.monotonic() < deadline, f"payout {workflow_id} is {row.state if row else 'not started'}"
        await asyncio.sleep(0.2)
