"""Orders through Temporal: a workflow on one queue, the signer's activities on the key's queue.

Real dev server, real worker, real retries, simulated venue, unmodified lighter-sdk.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal

import pytest
from temporalio import workflow
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from activities.orders import OrderActivities
from perpflow import names
from perpflow.db.ledger import Ledger
from perpflow.db.orders import Orders
from perpflow.models import Model
from perpflow.orders import OrderAck, OrderIntent
from perpflow.risk import RiskLimits
from perpflow.venues.lighter.client import LighterVenue
from perpflow.venues.types import Side, TimeInForce
from tests.plugins.sim import SimHandle
from tests.plugins.venues import SimAccount, best
from workflows.options import ORDER


class PlaceOrders(Model):
    queue: str
    intents: list[OrderIntent]


@workflow.defn(name="PlaceOrdersTestWorkflow")
class PlaceOrdersWorkflow:
    """The smallest workflow that places orders the way every perpflow workflow does."""

    @workflow.run
    async def run(self, inp: PlaceOrders) -> list[OrderAck]:
        acks = []
        for intent in inp.intents:
            acks.append(
                await workflow.execute_activity(
                    "place_order", intent, task_queue=inp.queue, result_type=OrderAck, **ORDER
                )
            )
        return acks


@dataclass
class Rig:
    client: Client
    queue: str
    workflow_queue: str
    account: SimAccount
    venue: LighterVenue

    def intents(self, workflow_id: str, prices: list[Decimal]) -> list[OrderIntent]:
        return [
            OrderIntent(
                key=names.order_key(workflow_id, f"maker-{i}"),
                workflow_id=workflow_id,
                account_index=self.account.account_index,
                market="ETH",
                side=Side.BUY,
                tif=TimeInForce.POST_ONLY,
                size=Decimal("0.05"),
                price=price,
            )
            for i, price in enumerate(prices)
        ]

    async def run(self, workflow_id: str, prices: list[Decimal]) -> list[OrderAck]:
        return await self.client.execute_workflow(
            PlaceOrdersWorkflow.run,
            PlaceOrders(queue=self.queue, intents=self.intents(workflow_id, prices)),
            id=workflow_id,
            task_queue=self.workflow_queue,
        )


@pytest.fixture
async def rig(
    temporal_env: WorkflowEnvironment, venue: LighterVenue, sim_account: SimAccount, pg_ledger: Ledger
) -> AsyncIterator[Rig]:
    queue = names.signer_queue(
        "lighter", sim_account.account_index, f"{sim_account.api_key_index}-{uuid.uuid4().hex[:6]}"
    )
    workflow_queue = f"wf-{uuid.uuid4()}"
    acts = OrderActivities(venue, Orders(pg_ledger), RiskLimits())
    client = temporal_env.client
    async with (
        Worker(client, task_queue=queue, activities=acts.all(), max_concurrent_activities=1),
        Worker(
            client,
            task_queue=workflow_queue,
            workflows=[PlaceOrdersWorkflow],
            workflow_runner=UnsandboxedWorkflowRunner(),
        ),
    ):
        yield Rig(client, queue, workflow_queue, sim_account, venue)


async def one_order_each(venue: LighterVenue, acks: list[OrderAck]) -> None:
    for a in acks:
        assert len(await venue.orders_by_client_index(a.client_order_index)) == 1


async def test_invalid_nonce_and_429_storms_heal_without_duplicates(rig: Rig, sim: SimHandle) -> None:
    bid, _ = await best(rig.venue)
    await sim.admin.inject_fault("invalid_nonce", count=3)
    await sim.admin.inject_fault("http_429", count=2, path="/api/v1/sendTx")
    acks = await rig.run(f"storm-{uuid.uuid4()}", [bid - 11, bid - 12, bid - 13])
    assert len({a.client_order_index for a in acks}) == 3
    await one_order_each(rig.venue, acks)


async def test_two_workflows_sharing_an_account_never_collide_on_nonces(rig: Rig) -> None:
    bid, _ = await best(rig.venue)
    before = await rig.venue.next_nonce()
    runs = [
        rig.run(f"share-{n}-{uuid.uuid4()}", [bid - 20 - n, bid - 30 - n, bid - 40 - n]) for n in range(2)
    ]
    results = await asyncio.gather(*runs)
    acks = [a for r in results for a in r]
    await one_order_each(rig.venue, acks)
    # Every nonce went to exactly one accepted order: none was wasted on a collision.
    assert await rig.venue.next_nonce() == before + 6


async def test_no_key_material_in_histories_or_logs(
    rig: Rig, caplog: pytest.LogCaptureFixture, sim_account: SimAccount
) -> None:
    bid, _ = await best(rig.venue)
    workflow_id = f"secret-scan-{uuid.uuid4()}"
    with caplog.at_level(logging.DEBUG):
        await rig.run(workflow_id, [bid - 50])
    history = json.dumps((await rig.client.get_workflow_handle(workflow_id).fetch_history()).to_json_dict())
    key = sim_account.private_key.get_secret_value().removeprefix("0x")
    for text in (history, caplog.text):
        assert key not in text
        assert key[:32] not in text
