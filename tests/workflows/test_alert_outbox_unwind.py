"""A webhook outage never holds a naked leg open: the real hedge cycle unwinds while its alerts
wait in the outbox, and the delivery loop posts them once the webhook is back (issue 11 point 6)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass

import pytest
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.hedge import HedgeActivities
from activities.market import MarketActivities
from perpflow.alerts.channels import WebhookChannel
from perpflow.alerts.delivery import AlertDelivery
from perpflow.alerts.notifier import Notifier
from perpflow.db.alerts import AlertOutbox
from perpflow.db.hedge import HedgeCycles
from perpflow.db.ledger import Ledger
from perpflow.hedge.models import CycleResult, CycleState
from perpflow.venues.lighter.client import LighterVenue
from perpflow.venues.types import Side
from tests.plugins.alert_servers import Receiver, receiver
from tests.plugins.hedge import HedgeRig, signer_workers
from tests.plugins.marketdata import eventually
from tests.plugins.sim import SimHandle
from tests.plugins.venues import new_account, venue_for


@dataclass
class OutageRig:
    rig: HedgeRig
    hook: Receiver
    outbox: AlertOutbox


@pytest.fixture
async def outage_rig(
    temporal_env: WorkflowEnvironment, sim: SimHandle, pg_ledger: Ledger
) -> AsyncIterator[OutageRig]:
    """The hedge rig, its alert activity wired as the orchestrator wires it: a Notifier beside a
    delivery loop whose webhook answers 503 until the test says otherwise."""
    from workflows.hedge.cycle import HedgeCycleWorkflow

    client = temporal_env.client
    maker, taker = await new_account(sim), await new_account(sim)
    maker_venue, taker_venue, public = venue_for(sim, maker), venue_for(sim, taker), LighterVenue(sim.url, 0)
    queue = f"hedge-{uuid.uuid4()}"
    market = MarketActivities(public)
    outbox = AlertOutbox(pg_ledger)
    async with AsyncExitStack() as stack:
        hook = await stack.enter_async_context(receiver(answer=503))
        # Short back-off: the alert goes out within half a second of the webhook's return.
        delivery = AlertDelivery(outbox, [WebhookChannel(hook.url)], first_retry_s=0.1, max_retry_s=0.5)
        await stack.enter_async_context(delivery.running())
        hedge = HedgeActivities(HedgeCycles(pg_ledger), Notifier(pg_ledger, on_enqueued=delivery.wake))
        workers = [
            Worker(
                client,
                task_queue=queue,
                workflows=[HedgeCycleWorkflow],
                activities=[market.get_book_top, market.get_market, *hedge.all()],
            ),
            *signer_workers(client, maker_venue, maker, pg_ledger),
            *signer_workers(client, taker_venue, taker, pg_ledger),
        ]
        for w in workers:
            await stack.enter_async_context(w)
        rig = HedgeRig(client, queue, sim, maker, taker, maker_venue, taker_venue, public)
        yield OutageRig(rig, hook, outbox)
    for v in (maker_venue, taker_venue, public):
        await v.close()


async def test_a_refused_hedge_unwinds_with_the_webhook_down_and_its_alerts_follow_it_back(
    outage_rig: OutageRig, pg_ledger: Ledger
) -> None:
    rig, hook, outbox = outage_rig.rig, outage_rig.hook, outage_rig.outbox
    handle = await rig.start(rig.cycle(Side.BUY))
    await rig.quoting(handle)
    await rig.sim.admin.inject_fault("reject_orders", count=1)  # the hedge, and only it
    await rig.move_through(Side.BUY)

    result: CycleResult = await handle.result()
    assert result.state is CycleState.UNWOUND, result
    assert await rig.positions() == (0, 0)

    async def all_tried_and_refused() -> bool:
        entries = await outbox.entries(source=handle.id)
        return bool(entries) and all(e.last_error and e.delivered_at is None for e in entries)

    await eventually(all_tried_and_refused, "the cycle's alerts tried against the down webhook")
    assert hook.accepted() == []

    hook.answer = 200

    async def all_delivered() -> bool:
        return all(e.delivered_at is not None for e in await outbox.entries(source=handle.id))

    await eventually(all_delivered, "the cycle's alerts delivered once the webhook is back")
    entries = await outbox.entries(source=handle.id)
    posted = [r.json() for r in hook.accepted() if r.json()["source"] == handle.id]
    assert sorted(body["key"] for body in posted) == sorted(e.alert.key for e in entries if e.alert.key)
    assert {body["severity"] for body in posted} <= {"warning", "critical"}
    audited = [
        a for a in await pg_ledger.audit_log() if a.target == handle.id and a.action.startswith("alert.")
    ]
    assert len(audited) == len(entries)  # one audit row per alert, however often delivery was tried
