"""Watches in the ledger (both backends), through the activities workflows call."""

from __future__ import annotations

from decimal import Decimal

from temporalio.testing import ActivityEnvironment

from activities.watches import WatchActivities
from perpflow.db.ledger import Ledger
from perpflow.db.watches import Watches
from perpflow.marketdata.models import DeactivateWatches, WatchKind, WatchSpec
from perpflow.signals import Direction


def stop_loss(workflow_id: str, level: str) -> WatchSpec:
    return WatchSpec(
        workflow_id=workflow_id,
        name="stop-loss",
        kind=WatchKind.BAND,
        market="ETH",
        level=Decimal(level),
        direction=Direction.DOWN,
        hysteresis=Decimal("0.5"),
    )


async def test_registering_a_watch_twice_updates_it_and_deactivation_removes_it(ledger: Ledger) -> None:
    acts, env = WatchActivities(ledger), ActivityEnvironment()
    first = await env.run(acts.register_watch, stop_loss("wf-1", "2900"))
    again = await env.run(acts.register_watch, stop_loss("wf-1", "2950.25"))  # a retry, or a move
    order = WatchSpec(
        workflow_id="wf-1",
        name="maker",
        kind=WatchKind.ORDER,
        market="ETH",
        account_index=7,
        client_order_index=1_000_001,
    )
    await env.run(acts.register_watch, order)
    await env.run(acts.register_watch, stop_loss("wf-2", "3100"))
    assert again.id == first.id
    active = await Watches(ledger).active("lighter")
    assert [(w.spec.workflow_id, w.spec.name) for w in active] == [
        ("wf-1", "stop-loss"),
        ("wf-1", "maker"),
        ("wf-2", "stop-loss"),
    ]
    assert active[0].spec.level == Decimal("2950.25")
    assert active[0].spec.hysteresis == Decimal("0.5")
    assert active[1].spec.signal == "order_filled"
    done = await env.run(acts.deactivate_watches, DeactivateWatches(workflow_id="wf-1"))
    assert done.count == 2
    assert [w.spec.workflow_id for w in await Watches(ledger).active()] == ["wf-2"]
