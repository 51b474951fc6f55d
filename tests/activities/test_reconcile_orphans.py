"""The reconciler's ledger on both backends: one row per orphan episode, and the doctor probe."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from activities.health import HealthActivities
from perpflow.db.ledger import Ledger
from perpflow.db.orders import Orders
from perpflow.db.reconcile import OrderOwnership, Orphans
from perpflow.health import Unhealthy, orphans_probe
from perpflow.models import Component, HealthCheckRequest
from perpflow.orders import OrderIntent
from perpflow.reconcile.judge import order_key, position_key
from perpflow.reconcile.models import (
    AlertedOrphans,
    Orphan,
    OrphanKind,
    OrphanReason,
    OrphanSync,
    OwnerStatus,
)
from perpflow.venues.base import SignedTx
from perpflow.venues.types import Side

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
POSITION = Orphan(
    key=position_key("lighter", 7, "ETH"), kind=OrphanKind.POSITION, reason=OrphanReason.UNOWNED_POSITION,
    venue="lighter", account="maker-1", account_index=7, market="ETH", size=Decimal("0.05"),
)  # fmt: skip
ORDER = Orphan(
    key=order_key("lighter", 7, "ETH", 1_000_042), kind=OrphanKind.ORDER,
    reason=OrphanReason.OWNER_TERMINATED, venue="lighter", account="maker-1", account_index=7, market="ETH",
    size=Decimal("0.05"), client_order_index=1_000_042, order_index=99, owner="hedge-x-1",
    owner_status=OwnerStatus.TERMINATED,
)  # fmt: skip


def sync(
    at: datetime, *orphans: Orphan, judged: tuple[int, ...] = (7,), unsettled: tuple[str, ...] = ()
) -> OrphanSync:
    return OrphanSync(
        venue="lighter", workflow_id=f"reconcile-lighter-{at:%H%M%S}", at=at, orphans=list(orphans),
        judged_orders=list(judged), judged_positions=list(judged), unsettled=list(unsettled),
    )  # fmt: skip


async def test_an_orphan_seen_again_is_the_same_episode_and_alerted_once(ledger: Ledger) -> None:
    orphans = Orphans(ledger)
    first = await orphans.sync(sync(T0, POSITION, ORDER))
    assert [o.orphan for o in first.opened] == [POSITION, ORDER]
    assert {o.orphan.key for o in first.to_alert} == {POSITION.key, ORDER.key}
    await orphans.mark_alerted(AlertedOrphans(ids=[o.id for o in first.to_alert], at=T0))
    again = await orphans.sync(sync(T0 + timedelta(seconds=30), POSITION, ORDER))
    assert (again.opened, again.to_alert, again.resolved) == ([], [], [])
    assert [o.alerted_at for o in await orphans.open()] == [T0, T0]


async def test_an_orphan_not_alerted_yet_is_offered_again_next_run(ledger: Ledger) -> None:
    orphans = Orphans(ledger)
    await orphans.sync(sync(T0, POSITION))
    again = await orphans.sync(sync(T0 + timedelta(seconds=30), POSITION))
    assert [o.orphan.key for o in again.to_alert] == [POSITION.key]


async def test_a_gone_orphan_is_resolved_and_its_return_is_a_new_episode(ledger: Ledger) -> None:
    orphans = Orphans(ledger)
    [first] = (await orphans.sync(sync(T0, POSITION))).opened
    gone = await orphans.sync(sync(T0 + timedelta(seconds=30)))
    assert gone.resolved == [POSITION.key]
    assert await orphans.open() == []
    [back] = (await orphans.sync(sync(T0 + timedelta(seconds=60), POSITION))).opened
    assert back.id != first.id
    assert back.alert_key != first.alert_key


async def test_an_orphan_of_an_account_not_judged_or_unsettled_stays_open(ledger: Ledger) -> None:
    orphans = Orphans(ledger)
    await orphans.sync(sync(T0, POSITION, ORDER))
    unread = await orphans.sync(sync(T0 + timedelta(seconds=30), judged=()))
    moving = await orphans.sync(sync(T0 + timedelta(seconds=60), ORDER, unsettled=(POSITION.key,)))
    assert (unread.resolved, moving.resolved) == ([], [])
    assert len(await orphans.open()) == 2


async def test_the_doctor_probe_is_unhealthy_while_an_orphan_is_open_naming_it(ledger: Ledger) -> None:
    probe = orphans_probe(ledger)
    assert await probe.check() == "no open orphans"
    await Orphans(ledger).sync(sync(T0, POSITION))
    with pytest.raises(Unhealthy, match=r"orphan position 0\.05 on maker-1"):
        await probe.check()
    health = HealthActivities({Component.LEDGER: [probe]})
    report = await health.check_component(HealthCheckRequest(component=Component.LEDGER, timeout_seconds=5))
    [check] = report.checks
    assert (check.name, check.healthy) == ("orphans", False)
    assert "maker-1" in check.detail
    await Orphans(ledger).sync(sync(T0 + timedelta(seconds=30)))
    assert await probe.check() == "no open orphans"


async def test_orders_sent_but_not_seen_settled_are_in_flight_for_a_while(ledger: Ledger) -> None:
    intent = OrderIntent(
        key="hedge-x-1/hedge-0", workflow_id="hedge-x-1", account_index=7, market="ETH", side=Side.SELL,
        size=Decimal("0.05"), price=Decimal(2000),
    )  # fmt: skip
    record = await Orders(ledger).claim(intent)
    ownership = OrderOwnership(ledger)
    now = datetime.now(UTC)

    async def in_flight(account: int, *, live: set[str], ended_for: timedelta) -> dict[str, list[int]]:
        since = now + timedelta(seconds=1) - ended_for
        return await ownership.in_flight(
            "lighter", account, live=live, live_since=now - timedelta(minutes=2), ended_since=since,
            unsent_since=now - timedelta(minutes=1),
        )  # fmt: skip

    coi = record.client_order_index
    assert await in_flight(7, live=set(), ended_for=timedelta(seconds=30)) == {"hedge-x-1": [coi]}
    # Too old for an ended owner, not for a live one.
    assert await in_flight(7, live=set(), ended_for=timedelta(0)) == {}
    assert await in_flight(7, live={"hedge-x-1"}, ended_for=timedelta(0)) == {"hedge-x-1": [coi]}
    assert await in_flight(8, live={"hedge-x-1"}, ended_for=timedelta(seconds=30)) == {}
    assert await ownership.owners_of("lighter", 7, [record.client_order_index, 5]) == {
        record.client_order_index: "hedge-x-1"
    }
    assert await ownership.workflows_on("lighter", 7, {"hedge-x-1", "other"}) == {"hedge-x-1"}


async def test_an_intent_never_sent_stops_deferring_positions_once_its_attempt_ends(ledger: Ledger) -> None:
    """Claimed and never sent (unsignable, risk-denied, refused outright): on no venue, so it defers
    the account's positions only while its attempt may still send it; a sent one of the same age
    still does."""
    orders, ownership = Orders(ledger), OrderOwnership(ledger)

    def hedge(step: int) -> OrderIntent:
        return OrderIntent(
            key=f"hedge-x-1/hedge-{step}", workflow_id="hedge-x-1", account_index=7, market="ETH",
            side=Side.SELL, size=Decimal("0.05"), price=Decimal(2000),
        )  # fmt: skip

    claimed, released, sent = [await orders.claim(hedge(step)) for step in range(3)]
    for record in (released, sent):
        tx = SignedTx(tx_type=14, tx_info="{}", tx_hash="", nonce=record.client_order_index, api_key_index=0)
        await orders.mark_submitting(record.intent.key, tx)
    await orders.mark_unsent(released.intent.key, "RiskRejected")  # denied: back to an intent, unsent
    now = datetime.now(UTC)

    async def in_flight(unsent_for: timedelta) -> list[int]:
        got = await ownership.in_flight(
            "lighter", 7, live={"hedge-x-1"}, live_since=now - timedelta(minutes=2),
            ended_since=now - timedelta(seconds=30), unsent_since=now + timedelta(seconds=1) - unsent_for,
        )  # fmt: skip
        return sorted(got.get("hedge-x-1", []))

    every = sorted(r.client_order_index for r in (claimed, released, sent))
    assert await in_flight(timedelta(minutes=1)) == every  # fresh: its attempt may still send it
    assert await in_flight(timedelta(0)) == [sent.client_order_index]  # older than the bound
