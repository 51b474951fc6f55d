"""The alert outbox on both ledgers: one record per key, delivery retried apart from the sender."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from alembic import command
from sqlalchemy import inspect

from perpflow.alerts.channels import WebhookChannel
from perpflow.alerts.delivery import AlertDelivery, retry_delay
from perpflow.alerts.models import Alert, OutboxEntry, Severity
from perpflow.alerts.notifier import Notifier
from perpflow.db.alerts import AlertOutbox
from perpflow.db.engine import sync_engine
from perpflow.db.ledger import Ledger
from perpflow.db.migrate import alembic_config, current_revision, upgrade
from tests.plugins.alert_servers import receiver
from tests.plugins.marketdata import eventually

# Short back-off so the tests retry within a second; the real schedule is checked on its own.
FAST: dict[str, Any] = {"first_retry_s": 0.1, "max_retry_s": 0.4}
# Much longer than any test: only a wake (or a due retry) makes the loop deliver in time.
NO_POLL = 60.0
NONE = timedelta(0)


def alert(key: str | None = "orphan-lighter-7-42", **fields: Any) -> Alert:
    base: dict[str, Any] = {
        "severity": Severity.CRITICAL,
        "source": "reconcile-lighter-7",
        "title": "orphan order",
        "detail": "coi 42",
    }
    return Alert(**{**base, **fields}, key=key)


async def entry(outbox: AlertOutbox, key: str) -> OutboxEntry:
    found = await outbox.get(key)
    assert found is not None, key
    return found


async def test_the_same_key_sent_twice_is_one_audit_row_and_one_outbox_row(ledger: Ledger) -> None:
    notifier = Notifier(ledger)
    assert await notifier.send(alert()) is True
    assert await notifier.send(alert(detail="a retry's newer text")) is False
    audit = [a for a in await ledger.audit_log() if a.action == "alert.critical"]
    assert len(audit) == 1
    assert audit[0].detail == {"title": "orphan order", "detail": "coi 42", "key": "orphan-lighter-7-42"}
    rows = await notifier.outbox.entries()
    assert [(r.alert.key, r.alert.detail, r.delivered_at) for r in rows] == [
        ("orphan-lighter-7-42", "coi 42", None)
    ]


async def test_concurrent_sends_of_one_key_record_it_once(ledger: Ledger) -> None:
    notifiers = [Notifier(Ledger(ledger.url)) for _ in range(4)]
    try:
        fresh = await asyncio.gather(*(n.send(alert()) for n in notifiers))
    finally:
        for n in notifiers:
            await n.outbox.ledger.close()
    assert sorted(fresh) == [False, False, False, True]
    assert len([a for a in await ledger.audit_log() if a.action == "alert.critical"]) == 1
    assert len(await AlertOutbox(ledger).entries()) == 1


async def test_a_down_webhook_is_retried_until_it_returns_then_posted_once(ledger: Ledger) -> None:
    async with receiver(answer=503) as hook:
        channel = WebhookChannel(hook.url)
        delivery = AlertDelivery(AlertOutbox(ledger), [channel], poll_s=NO_POLL, **FAST)
        notifier = Notifier(ledger, on_enqueued=delivery.wake)
        async with delivery.running():
            assert await notifier.send(alert())

            async def failed_twice() -> bool:
                # The channel's attempts are recorded after each send (the row's, when claimed).
                row = await entry(delivery.outbox, "orphan-lighter-7-42")
                state = (await delivery.outbox.channel_states(row.id)).get(channel.name)
                return state is not None and state.attempts >= 2

            await eventually(failed_twice, "two failed attempts")
            down = await entry(delivery.outbox, "orphan-lighter-7-42")
            assert down.delivered_at is None
            assert down.last_error == (
                f"{channel.name}: Failed to send JSON POST notification: Servers are overloaded., error=503."
            )
            assert [r.json() for r in hook.accepted()] == []

            hook.answer = 200

            async def delivered() -> bool:
                return (await entry(delivery.outbox, "orphan-lighter-7-42")).delivered_at is not None

            await eventually(delivered, "delivery once the webhook is back")
        assert [r.json() for r in hook.accepted()] == [
            {
                "severity": "critical",
                "source": "reconcile-lighter-7",
                "title": "orphan order",
                "detail": "coi 42",
                "key": "orphan-lighter-7-42",
            }
        ]
        assert len([r for r in hook.requests if r.status == 503]) >= 2


async def test_an_unreachable_webhook_error_names_no_url(ledger: Ledger) -> None:
    async with receiver() as hook:
        url = f"{hook.url}/hooks/secret-token"
    delivery = AlertDelivery(AlertOutbox(ledger), [WebhookChannel(url)], poll_s=NO_POLL, **FAST)
    async with delivery.running():
        await Notifier(ledger, on_enqueued=delivery.wake).send(alert())

        async def failed() -> bool:
            return (await entry(delivery.outbox, "orphan-lighter-7-42")).last_error is not None

        await eventually(failed, "a failed attempt")
    error = (await entry(delivery.outbox, "orphan-lighter-7-42")).last_error
    assert error is not None
    assert error.endswith("A Connection error occurred sending JSON notification to 127.0.0.1.")
    assert "secret-token" not in error


async def test_without_a_webhook_an_alert_is_delivered_at_once(ledger: Ledger) -> None:
    delivery = AlertDelivery(AlertOutbox(ledger), [], poll_s=NO_POLL)
    async with delivery.running():
        await Notifier(ledger, on_enqueued=delivery.wake).send(alert())

        async def delivered() -> bool:
            return (await entry(delivery.outbox, "orphan-lighter-7-42")).delivered_at is not None

        await eventually(delivered, "delivery by the wake alone", timeout=5)
    done = await entry(delivery.outbox, "orphan-lighter-7-42")
    assert (done.attempts, done.last_error) == (1, None)


async def test_two_delivery_loops_post_each_alert_once(ledger: Ledger) -> None:
    keys = [f"alert-{i}" for i in range(30)]
    async with receiver() as hook:
        ledgers = [Ledger(ledger.url), Ledger(ledger.url)]
        loops = [
            # Thirty alerts of one title: none is a repeat here, the subject is the two loops.
            AlertDelivery(
                AlertOutbox(other), [WebhookChannel(hook.url)], poll_s=0.02, batch=5, repeat_window=NONE
            )
            for other in ledgers
        ]
        try:
            async with loops[0].running(), loops[1].running():
                notifier = Notifier(ledger)
                for key in keys:
                    await notifier.send(alert(key=key))

                async def all_delivered() -> bool:
                    return all(e.delivered_at is not None for e in await notifier.outbox.entries())

                await eventually(all_delivered, "every alert delivered")
        finally:
            for other in ledgers:
                await other.close()
        assert sorted(r.json()["key"] for r in hook.accepted()) == sorted(keys)


def test_retries_back_off_from_1_s_doubling_to_60_s() -> None:
    assert [retry_delay(n) for n in range(1, 9)] == [1, 2, 4, 8, 16, 32, 60, 60]


def _tables(url: str) -> set[str]:
    engine = sync_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_migration_0006_upgrades_and_downgrades(fresh_url: str) -> None:
    upgrade(fresh_url, "0006")
    assert "alert_outbox" in _tables(fresh_url)
    command.downgrade(alembic_config(fresh_url), "0005")
    assert (current_revision(fresh_url), "alert_outbox" in _tables(fresh_url)) == ("0005", False)
    upgrade(fresh_url, "0006")
    assert (current_revision(fresh_url), "alert_outbox" in _tables(fresh_url)) == ("0006", True)


def test_migration_0011_upgrades_and_downgrades(fresh_url: str) -> None:
    channel_tables = {"alert_deliveries", "alert_repeats"}
    upgrade(fresh_url, "0011")
    assert channel_tables <= _tables(fresh_url)
    command.downgrade(alembic_config(fresh_url), "0010")
    assert (current_revision(fresh_url), channel_tables & _tables(fresh_url)) == ("0010", set())
    assert "alert_outbox" in _tables(fresh_url)
    upgrade(fresh_url, "0011")
    assert (current_revision(fresh_url), channel_tables <= _tables(fresh_url)) == ("0011", True)
