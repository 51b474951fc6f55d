"""Chaos on GRVT: a signer serving a GRVT account runs as its own process (``workers.signer``) and is
SIGKILLed in the middle of an order, or its orders meet a storm of GRVT's rate limit (1006).

- Between store and send: the signed order is in the ledger, its create_order is held at the sim
  and refused there after the kill, so nothing reached the venue. The stored order is replaced by
  the same order signed on the previous UTC day, as a signer would have left it before midnight:
  the restarted signer, today, must send those stored bytes, not sign the order again.
- Between send and ack: the order is on the venue, the signer is held in the look-up right after.
- A 429 storm (GRVT's 1006): sends refused, checks right after a send refused (the order is there,
  its ack unknown), then any GRVT call, logins included. The orders land later, none twice.

After each: exactly one order on the venue per intent, under its client_order_id, carrying the
signed bytes the ledger stored for it.
"""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml
from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from perpflow import names
from perpflow.db.ledger import Ledger
from perpflow.db.orders import Orders
from perpflow.orders import OrderAck, OrderIntent
from perpflow.orders.status import OrderState
from perpflow.venues.base import SignedTx, VenueName
from perpflow.venues.grvt.client import GrvtVenue
from perpflow.venues.types import Side, TimeInForce
from tests.integration.test_grvt_adapter import (
    ETH,
    GrvtAccount,
    best,
    grvt_venue,
    new_grvt_account,
    orders_with_coid,
)
from tests.integration.test_grvt_adapter_resend import sent_signature, signing_a_day_earlier, venue_signature
from tests.plugins.chaos import Proc, hold_next
from tests.plugins.sim import SimHandle
from tests.workflows.test_order_path import PlaceOrders, PlaceOrdersWorkflow

CREATE_ORDER = "/grvt/td/full/v1/create_order"
ORDER = "/grvt/td/full/v1/order"
# How long the sim holds the request the signer is killed in: ample time to kill it meanwhile.
HOLD_MS = 10_000
SIZE = Decimal("0.05")


@dataclass(frozen=True)
class Rig:
    client: Client
    workflow_queue: str
    signer: Proc
    account: GrvtAccount
    grvt: GrvtVenue  # the test's own client of the account (same keys), never sending orders
    ledger: Ledger

    async def place(self, intents: list[OrderIntent]) -> WorkflowHandle[Any, list[OrderAck]]:
        queue = names.signer_queue(VenueName.GRVT.value, self.account.account_index, 0)
        return await self.client.start_workflow(
            PlaceOrdersWorkflow.run,
            PlaceOrders(queue=queue, intents=intents),
            id=intents[0].workflow_id,
            task_queue=self.workflow_queue,
        )

    async def status(self, intent: OrderIntent) -> OrderState | None:
        record = await Orders(self.ledger).get(intent.key)
        return None if record is None else record.status

    async def stored(self, intent: OrderIntent) -> tuple[OrderState, SignedTx | None]:
        record = await Orders(self.ledger).get(intent.key)
        assert record is not None
        return record.status, record.signed

    async def on_venue(self, intent: OrderIntent) -> list[tuple[str, str, str, int]]:
        """The signature of every order the venue ever held under the intent's client_order_id."""
        record = await Orders(self.ledger).get(intent.key)
        assert record is not None
        return [venue_signature(o) for o in await orders_with_coid(self.grvt, record.client_order_index)]


def signer_proc(
    tmp_path: Path, temporal: WorkflowEnvironment, sim: SimHandle, pg_url: str, a: GrvtAccount
) -> Proc:
    """``workers.signer`` holding the GRVT account's signing key and API key (from the environment),
    pointed at the sim's GRVT face, this test's dev server and the Postgres ledger; not started."""
    config = tmp_path / "signer.yaml"
    account = {
        "name": f"grvt-chaos-{a.account_index}", "venue": "grvt", "account_index": a.account_index,
        "api_key_index": 0, "api_key": "env:CHAOS_GRVT_SIGNER", "session_key": "env:CHAOS_GRVT_SESSION",
    }  # fmt: skip
    config.write_text(yaml.safe_dump({"grvt": {"url": f"{sim.url}/grvt"}, "accounts": [account]}))
    env = {
        **os.environ,
        "PERPFLOW_TEMPORAL_ADDRESS": temporal.client.service_client.config.target_host,
        "PERPFLOW_TEMPORAL_NAMESPACE": temporal.client.namespace,
        "PERPFLOW_STATE_DIR": str(tmp_path),
        "DATABASE_URL": pg_url,
        "CHAOS_GRVT_SIGNER": a.signer.get_secret_value(),
        "CHAOS_GRVT_SESSION": a.api_key.get_secret_value(),
        "NO_PROXY": "127.0.0.1,localhost",
    }
    return Proc("signer", [sys.executable, "-m", "workers.signer", str(config)], env, tmp_path / "signer.log")


@pytest.fixture
async def rig(
    tmp_path: Path,
    temporal_env: WorkflowEnvironment,
    sim: SimHandle,
    postgres_url: str,
    pg_ledger: Ledger,
) -> AsyncIterator[Rig]:
    account = await new_grvt_account(sim)
    signer = signer_proc(tmp_path, temporal_env, sim, postgres_url, account)
    grvt = grvt_venue(sim, account)
    queue = f"wf-{uuid.uuid4()}"
    worker = Worker(
        temporal_env.client,
        task_queue=queue,
        workflows=[PlaceOrdersWorkflow],
        workflow_runner=UnsandboxedWorkflowRunner(),
    )
    try:
        async with worker:
            signer.start()
            await signer.polling()
            yield Rig(temporal_env.client, queue, signer, account, grvt, pg_ledger)
    finally:
        signer.kill()
        await sim.admin.clear_faults()
        await grvt.close()
    log = signer.log.read_text(errors="replace")
    for secret in (account.signer.get_secret_value(), account.api_key.get_secret_value()):
        assert secret.removeprefix("0x") not in log


def order(rig: Rig, step: str, **fields: object) -> OrderIntent:
    workflow_id = f"grvt-chaos-{uuid.uuid4()}"
    values: dict[str, object] = {
        "key": names.order_key(workflow_id, step), "workflow_id": workflow_id, "venue": VenueName.GRVT,
        "account_index": rig.account.account_index, "market": ETH, "side": Side.BUY, "size": SIZE,
    }  # fmt: skip
    return OrderIntent.model_validate(values | fields)


async def until(check: Callable[[], Awaitable[bool]]) -> None:
    """Poll ``check`` until it holds; the test's timeout bounds the wait."""
    while not await check():
        await asyncio.sleep(0.05)


async def test_signer_killed_between_store_and_send_resends_the_stored_bytes_once(
    rig: Rig, sim: SimHandle
) -> None:
    _, ask = await best(rig.grvt)
    # An IOC that fills at once: a second order would fill again, it could not hide behind 2012.
    ioc = order(rig, "hedge-0", tif=TimeInForce.IOC, price=ask + 5)
    held = await hold_next(sim, HOLD_MS, CREATE_ORDER)
    await sim.admin.inject_fault("http_429", count=1, path=CREATE_ORDER)  # taken after the hold
    result = await rig.place([ioc])

    async def stored_and_held() -> bool:
        return await rig.status(ioc) is OrderState.SUBMITTING

    await until(stored_and_held)
    await held.taken()
    rig.signer.kill()
    status, first = await rig.stored(ioc)
    assert status is OrderState.SUBMITTING and first is not None
    # As if the signer had stored it before midnight UTC and restarts after: the ledger holds the
    # same order signed on the previous day, which a signature made today would not repeat.
    record = await Orders(rig.ledger).get(ioc.key)
    assert record is not None
    with signing_a_day_earlier():
        yesterdays = await rig.grvt.sign_order(record.spec())
    assert sent_signature(yesterdays) != sent_signature(first)
    await Orders(rig.ledger).mark_submitting(ioc.key, yesterdays)

    async def refused_at_the_sim() -> bool:
        return not (await sim.admin.state())["faults"]

    await until(refused_at_the_sim)
    assert await rig.on_venue(ioc) == []  # nothing of it reached the venue
    rig.signer.start()
    [ack] = await asyncio.wait_for(result.result(), timeout=120)
    assert ack.sent_now and ack.filled_size == SIZE
    assert await rig.on_venue(ioc) == [sent_signature(yesterdays)]


async def test_signer_killed_between_send_and_ack_finds_its_order_and_sends_nothing(
    rig: Rig, sim: SimHandle
) -> None:
    _, ask = await best(rig.grvt)
    ioc = order(rig, "hedge-0", tif=TimeInForce.IOC, price=ask + 5)
    held = await hold_next(sim, HOLD_MS, ORDER)  # the look-up right after the send
    result = await rig.place([ioc])
    await held.taken()  # the send was taken: the look-up after it is held
    assert await rig.status(ioc) is OrderState.SUBMITTING  # written ahead; nothing since
    rig.signer.kill()
    _, first = await rig.stored(ioc)
    assert first is not None
    await sim.admin.clear_faults()
    rig.signer.start()
    [ack] = await asyncio.wait_for(result.result(), timeout=120)
    assert not ack.sent_now and ack.filled_size == SIZE
    assert await rig.on_venue(ioc) == [sent_signature(first)]


async def test_a_429_storm_lands_every_order_later_and_none_twice(rig: Rig, sim: SimHandle) -> None:
    bid, ask = await best(rig.grvt)
    intents = [order(rig, f"maker-{i}", tif=TimeInForce.POST_ONLY, price=bid - 5 - i) for i in range(3)]
    intents.append(order(rig, "hedge-0", tif=TimeInForce.IOC, price=ask + 5))
    # Sends refused, checks right after a send refused (the order is there, its ack unknown), then
    # whatever GRVT call comes next, logins included; one workflow per order, so they interleave.
    await sim.admin.inject_fault("http_429", count=len(intents), path=CREATE_ORDER)
    await sim.admin.inject_fault("http_429", count=len(intents), path=ORDER)
    await sim.admin.inject_fault("http_429", count=2 * len(intents))
    handles = [await rig.place([intent]) for intent in intents]
    results = await asyncio.wait_for(asyncio.gather(*(h.result() for h in handles)), timeout=180)
    assert not (await sim.admin.state())["faults"]  # the storm was spent on the signer's calls
    assert [ack.key for [ack] in results] == [i.key for i in intents]
    for intent in intents:
        _, stored = await rig.stored(intent)
        assert stored is not None
        assert await rig.on_venue(intent) == [sent_signature(stored)]
