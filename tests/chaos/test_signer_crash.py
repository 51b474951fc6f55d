"""A signer SIGKILLed mid-order and restarted still leaves exactly one order per intent.

The sim's per-path latency fault holds the signer at a chosen point: in the pre-trade check
(the signed order stored, its risk verdict awaited, nothing sent) or in the lookup right after the
send (order on the venue, not yet acknowledged). The signer is then killed there and a fresh one
takes the retry. Both are its REST reads, which it makes when its live view of the account is
down (the sim refuses websockets throughout); with the view up it reads neither.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from pathlib import Path

import pytest
import yaml
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from perpflow import names
from perpflow.db.ledger import Ledger
from perpflow.db.orders import Orders
from perpflow.devstack.probes import queue_has_pollers
from perpflow.orders import OrderIntent
from perpflow.venues.lighter.client import LighterVenue
from perpflow.venues.types import Side, TimeInForce
from tests.plugins.sim import SimHandle
from tests.plugins.venues import SimAccount, best
from tests.workflows.test_order_path import PlaceOrders, PlaceOrdersWorkflow

ROOT = Path(__file__).parents[2]


class Signer:
    """``python -m workers.signer`` as a separate process, killed and restarted at will."""

    def __init__(self, config: Path, env: dict[str, str], log: Path) -> None:
        self.config, self.env, self.log = config, env, log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "workers.signer", str(self.config)],
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.kill()


@pytest.fixture
def signer(
    tmp_path: Path,
    temporal_env: WorkflowEnvironment,
    sim: SimHandle,
    sim_account: SimAccount,
    postgres_url: str,
) -> Iterator[Signer]:
    config = tmp_path / "signer.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "lighter": {"url": sim.url},
                "accounts": [
                    {
                        "name": "chaos",
                        "account_index": sim_account.account_index,
                        "api_key_index": sim_account.api_key_index,
                        "api_key": "env:CHAOS_API_KEY",
                        "tier": "premium",
                    }
                ],
            }
        )
    )
    env = {
        **os.environ,
        "PERPFLOW_TEMPORAL_ADDRESS": temporal_env.client.service_client.config.target_host,
        "PERPFLOW_TEMPORAL_NAMESPACE": temporal_env.client.namespace,
        "PERPFLOW_STATE_DIR": str(tmp_path),
        "DATABASE_URL": postgres_url,
        "CHAOS_API_KEY": sim_account.private_key.get_secret_value(),
        "NO_PROXY": "127.0.0.1,localhost",
    }
    s = Signer(config, env, tmp_path / "signer.log")
    yield s
    s.stop()
    log = s.log.read_text()
    assert sim_account.private_key.get_secret_value().removeprefix("0x") not in log


@pytest.fixture
async def workflows(temporal_env: WorkflowEnvironment) -> AsyncIterator[tuple[Client, str]]:
    queue = f"wf-{uuid.uuid4()}"
    async with Worker(
        temporal_env.client,
        task_queue=queue,
        workflows=[PlaceOrdersWorkflow],
        workflow_runner=UnsandboxedWorkflowRunner(),
    ):
        yield temporal_env.client, queue


async def wait_for(predicate: object, what: str, timeout: float = 20) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await predicate():  # type: ignore[operator]
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


@pytest.mark.parametrize(
    ("held_at", "sent_by_the_restart"),
    [("/api/v1/account", True), ("/api/v1/accountOrders", False)],
    ids=["between-store-and-send", "between-send-and-ack"],
)
async def test_signer_killed_mid_order_still_places_exactly_one(
    signer: Signer,
    workflows: tuple[Client, str],
    sim: SimHandle,
    sim_account: SimAccount,
    venue: LighterVenue,
    pg_ledger: Ledger,
    temporal_env: WorkflowEnvironment,
    held_at: str,
    sent_by_the_restart: bool,
) -> None:
    client, workflow_queue = workflows
    queue = names.signer_queue("lighter", sim_account.account_index, sim_account.api_key_index)
    address = temporal_env.client.service_client.config.target_host
    await sim.admin.inject_fault("ws_drop", seconds=300)  # the view down: the reads go by REST
    signer.start()
    activity_tasks = TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY
    await wait_for(
        lambda: queue_has_pollers(address, client.namespace, queue, activity_tasks), "the signer to poll"
    )

    bid, _ = await best(venue)
    workflow_id = f"chaos-{uuid.uuid4()}"
    intent = OrderIntent(
        key=names.order_key(workflow_id, "maker-0"),
        workflow_id=workflow_id,
        account_index=sim_account.account_index,
        market="ETH",
        side=Side.BUY,
        tif=TimeInForce.POST_ONLY,
        size=Decimal("0.05"),
        price=bid - 15,
    )
    await sim.admin.inject_fault("latency", count=1, path=held_at, latency_ms=30_000)
    handle = await client.start_workflow(
        PlaceOrdersWorkflow.run,
        PlaceOrders(queue=queue, intents=[intent]),
        id=workflow_id,
        task_queue=workflow_queue,
    )

    async def held() -> bool:  # stored, and not sent or not yet seen: held either way
        record = await Orders(pg_ledger).get(intent.key)
        return record is not None and record.status == "submitting"

    await wait_for(held, "the signer to be held with the order submitting")

    async def in_flight() -> bool:  # the sim took the latency fault: the request is held there
        return not any(f["kind"] == "latency" for f in (await sim.admin.state())["faults"])

    await wait_for(in_flight, "the held request in flight at the venue")
    signer.kill()
    await sim.admin.clear_faults()
    signer.start()

    [ack] = await asyncio.wait_for(handle.result(), timeout=60)
    assert ack.sent_now is sent_by_the_restart
    assert len(await venue.orders_by_client_index(ack.client_order_index)) == 1
