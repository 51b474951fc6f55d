"""Alert channels against a real local HTTP server: each channel's delivery state in the outbox,
routing by severity, the JSON webhook bodies, and an alert activity that never waits for any."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from pydantic import SecretStr
from temporalio.testing import ActivityEnvironment

from activities.hedge import HedgeActivities
from perpflow.alerts.channels import Channel, WebhookChannel, channels_from
from perpflow.alerts.delivery import AlertDelivery
from perpflow.alerts.models import Alert, Severity
from perpflow.alerts.notifier import Notifier
from perpflow.db.alerts import AlertOutbox
from perpflow.db.hedge import HedgeCycles
from perpflow.db.ledger import Ledger
from perpflow.settings import Settings
from tests.plugins.alert_servers import Receiver, receiver
from tests.plugins.marketdata import eventually

FAST: dict[str, Any] = {
    "first_retry_s": 0.1,
    "max_retry_s": 0.4,
    "poll_s": 60.0,
    "repeat_window": timedelta(0),
}


def alert(key: str, severity: Severity = Severity.CRITICAL, detail: str = "coi 42") -> Alert:
    return Alert(
        severity=severity, source="reconcile-lighter-7", title=f"orphan {key}", detail=detail, key=key
    )


def configured(urls: str) -> list[Channel]:
    return channels_from(Settings(alert_urls=SecretStr(urls)))


def json_url(hook: Receiver, path: str = "/hook") -> str:
    return f"json://{hook.host}{path}"


async def all_delivered(outbox: AlertOutbox) -> bool:
    return all(e.delivered_at is not None for e in await outbox.entries())


async def run_until_delivered(ledger: Ledger, channels: Sequence[Channel], alerts: Sequence[Alert]) -> None:
    delivery = AlertDelivery(AlertOutbox(ledger), channels, **FAST)
    async with delivery.running():
        notifier = Notifier(ledger, on_enqueued=delivery.wake)
        for a in alerts:
            await notifier.send(a)
        await eventually(lambda: all_delivered(delivery.outbox), "every alert delivered")


async def test_the_old_webhook_setting_posts_the_old_body_even_with_an_empty_detail(
    pg_ledger: Ledger,
) -> None:
    async with receiver() as hook:
        await run_until_delivered(
            pg_ledger, [WebhookChannel(f"{hook.url}/hooks/t0ken")], [alert("a", detail="")]
        )
    body = {
        "severity": "critical",
        "source": "reconcile-lighter-7",
        "title": "orphan a",
        "detail": "",
        "key": "a",
    }
    assert [(r.method, r.path, r.json()) for r in hook.requests] == [("POST", "/hooks/t0ken", body)]


async def test_a_json_channel_posts_apprises_fields_and_the_alerts_severity_source_and_key(
    pg_ledger: Ledger,
) -> None:
    async with receiver() as hook:
        await run_until_delivered(pg_ledger, configured(json_url(hook)), [alert("a", Severity.WARNING)])
    [request] = hook.requests
    assert request.json() == {
        "version": "1.0", "title": "orphan a", "message": "coi 42", "attachments": [], "type": "warning",
        "severity": "warning", "source": "reconcile-lighter-7", "key": "a",
    }  # fmt: skip
    assert request.headers["User-Agent"] == "perpflow"


async def test_a_down_channel_is_retried_alone_and_a_channel_that_took_an_alert_never_gets_it_again(
    ledger: Ledger,
) -> None:
    async with receiver(answer=503) as down, receiver() as up:
        channels = configured(f"{json_url(down)}, {json_url(up)}")
        down_name, up_name = (c.name for c in channels)
        delivery = AlertDelivery(AlertOutbox(ledger), channels, **FAST)
        async with delivery.running():
            notifier = Notifier(ledger, on_enqueued=delivery.wake)
            for key in ("a", "b"):
                await notifier.send(alert(key))

            async def down_failed_each_twice() -> bool:
                states = [await delivery.outbox.channel_states(e.id) for e in await delivery.outbox.entries()]
                return all(s.get(down_name) is not None and s[down_name].attempts >= 2 for s in states)

            await eventually(down_failed_each_twice, "the down channel tried twice for each alert")
            assert not await all_delivered(delivery.outbox)
            assert sorted(r.json()["key"] for r in up.requests) == ["a", "b"]
            assert down.accepted() == []

            down.answer = 200
            await eventually(lambda: all_delivered(delivery.outbox), "both alerts delivered once it is back")
        for e in await delivery.outbox.entries():
            states = await delivery.outbox.channel_states(e.id)
            assert states[up_name].attempts == 1 and states[up_name].delivered_at is not None
            assert states[down_name].attempts >= 3 and states[down_name].delivered_at is not None
            assert e.last_error is not None and e.last_error.startswith(f"{down_name}: Failed to send JSON")
    assert sorted(r.json()["key"] for r in up.requests) == ["a", "b"]  # never sent again
    assert sorted(r.json()["key"] for r in down.accepted()) == ["a", "b"]
    assert len([a for a in await ledger.audit_log() if a.action == "alert.critical"]) == 2


async def test_each_channel_gets_the_alerts_at_or_above_its_severity(pg_ledger: Ledger) -> None:
    async with receiver() as everything, receiver() as pager:
        channels = configured(f"{json_url(everything)}\ncritical:{json_url(pager)}")
        alerts = [alert("i", Severity.INFO), alert("w", Severity.WARNING), alert("c", Severity.CRITICAL)]
        await run_until_delivered(pg_ledger, channels, alerts)
    assert sorted(r.json()["key"] for r in everything.requests) == ["c", "i", "w"]
    assert [r.json()["key"] for r in pager.requests] == ["c"]


async def test_a_channel_removed_from_the_configuration_no_longer_holds_an_alert_back(ledger: Ledger) -> None:
    async with receiver(answer=503) as down, receiver() as up:
        delivery = AlertDelivery(AlertOutbox(ledger), configured(f"{json_url(down)},{json_url(up)}"), **FAST)
        async with delivery.running():
            await Notifier(ledger, on_enqueued=delivery.wake).send(alert("a"))
            await eventually(lambda: _tried(down), "the down channel tried")
        assert not await all_delivered(delivery.outbox)

        # Restarted without the down channel: the alert is done, the other channel not sent it again.
        again = AlertDelivery(AlertOutbox(ledger), configured(json_url(up)), **FAST)
        async with again.running():
            again.wake()
            await eventually(lambda: all_delivered(again.outbox), "delivered without the removed channel")
    assert [r.json()["key"] for r in up.requests] == ["a"]


async def _tried(hook: Receiver) -> bool:
    return bool(hook.requests)


async def test_the_alert_activity_returns_at_once_while_every_channel_is_down(pg_ledger: Ledger) -> None:
    async with receiver(answer=500) as down:
        delivery = AlertDelivery(AlertOutbox(pg_ledger), configured(json_url(down)), **FAST)
        async with delivery.running():
            hedge = HedgeActivities(HedgeCycles(pg_ledger), Notifier(pg_ledger, on_enqueued=delivery.wake))
            raised = Alert(
                severity=Severity.CRITICAL, source="hedge-x-1-p-1", title="cycle FAILED", detail="d"
            )
            assert await ActivityEnvironment().run(hedge.send_alert, raised) is None
            await eventually(lambda: _tried(down), "the down channel tried")
        [entry] = await delivery.outbox.entries()
        assert entry.delivered_at is None and entry.last_error is not None
    assert len([a for a in await pg_ledger.audit_log() if a.action == "alert.critical"]) == 1
