"""Watches in the ledger (both backends), through the activities workflows call."""

from __future__ import annotations

from decimal import Decimal

from temporalio.testing import ActivityEnvironment

from activities.watches import WatchActivities
from perpflow.db.ledger import Ledger
from perpflow.db.watches import ActiveWatches, Watches
from perpflow.marketdata.models import DeactivateWatches, WatchKind, WatchSet, WatchSpec
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


async def test_a_watch_set_becomes_the_workflows_watches_whole(ledger: Ledger) -> None:
    acts, env = WatchActivities(ledger), ActivityEnvironment()

    def band(workflow_id: str, name: str, level: str) -> WatchSpec:
        return stop_loss(workflow_id, level).model_copy(update={"name": name})

    await env.run(acts.register_watch, stop_loss("wf-other", "3100"))
    first = await env.run(acts.set_watches, WatchSet(workflow_id="wf-1", specs=[
        band("wf-1", "L1-buy-placeable", "2900"), band("wf-1", "below-1-down", "2700")]))  # fmt: skip
    again = await env.run(acts.set_watches, WatchSet(workflow_id="wf-1", specs=[
        band("wf-1", "below-1-down", "2700"), band("wf-1", "L2-sell-placeable", "3000")]))  # fmt: skip
    assert (first.count, again.count) == (2, 2)
    active = await Watches(ledger).active()
    assert sorted((w.spec.workflow_id, w.spec.name, w.spec.level) for w in active) == [
        ("wf-1", "L2-sell-placeable", Decimal(3000)),
        ("wf-1", "below-1-down", Decimal(2700)),
        ("wf-other", "stop-loss", Decimal(3100)),
    ]
    # A smaller set: the watch it keeps keeps its id, the other one ends.
    ids = {w.spec.name: w.id for w in active}
    await env.run(
        acts.set_watches, WatchSet(workflow_id="wf-1", specs=[band("wf-1", "below-1-down", "2700")])
    )
    assert [(w.id, w.spec.name) for w in await Watches(ledger).active() if w.spec.workflow_id == "wf-1"] == [
        (ids["below-1-down"], "below-1-down")
    ]


async def test_kept_active_watches_follow_every_change_reading_again_only_the_changed(ledger: Ledger) -> None:
    acts, env, watches = WatchActivities(ledger), ActivityEnvironment(), Watches(ledger)
    kept = ActiveWatches(watches, "lighter")
    one = await env.run(acts.register_watch, stop_loss("wf-1", "2900"))
    two = await env.run(acts.register_watch, stop_loss("wf-2", "3100"))
    first = await kept.read()
    assert [w.id for w in first] == [one.id, two.id]
    assert await kept.read() == first
    assert all(a is b for a, b in zip(await kept.read(), first, strict=True))  # nothing read again

    moved = await env.run(acts.register_watch, stop_loss("wf-1", "2950"))  # registered again: moved
    three = await env.run(acts.register_watch, stop_loss("wf-3", "3200"))
    await env.run(acts.deactivate_watches, DeactivateWatches(workflow_id="wf-2"))
    after = await kept.read()
    assert [(w.id, w.spec.level) for w in after] == [(moved.id, Decimal(2950)), (three.id, Decimal(3200))]
    assert after == await watches.active("lighter")

    await env.run(acts.register_watch, stop_loss("wf-2", "3100"))  # active again
    assert [w.spec.workflow_id for w in await kept.read()] == ["wf-1", "wf-2", "wf-3"]
