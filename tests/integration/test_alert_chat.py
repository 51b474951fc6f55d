"""Telegram, Slack and Discord channels: apprise's own plugin code builds and posts each message.

Apprise has no URL option for these services' API hosts (api.telegram.org, hooks.slack.com,
discord.com are class attributes of its plugins), so each test sets that one attribute on the
channel's plugin object to a local HTTP server: URL parsing, payload building and the HTTP post
are apprise's, only the host is ours."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pydantic import SecretStr

from perpflow.alerts.channels import AppriseChannel, channels_from
from perpflow.alerts.delivery import AlertDelivery
from perpflow.alerts.models import Alert, Severity
from perpflow.alerts.notifier import Notifier
from perpflow.db.alerts import AlertOutbox
from perpflow.db.ledger import Ledger
from perpflow.settings import Settings
from tests.plugins.alert_servers import Received, Receiver, receiver
from tests.plugins.marketdata import eventually

FAST: dict[str, Any] = {
    "first_retry_s": 0.1,
    "max_retry_s": 0.4,
    "poll_s": 60.0,
    "repeat_window": timedelta(0),
}
UNWIND = Alert(severity=Severity.CRITICAL, source="hedge-alpha-1-p1-2", title="unwind attempt 2 incomplete",
               detail="maker leg 0.3 ETH still open", key="hedge-alpha-1-p1-2/run/7")  # fmt: skip


def channel(url: str) -> AppriseChannel:
    [built] = channels_from(Settings(alert_urls=SecretStr(url)))
    assert isinstance(built, AppriseChannel)
    assert not built.takes_reports  # reports are mailed
    return built


async def deliver(ledger: Ledger, chat: AppriseChannel, rec: Receiver, alert: Alert = UNWIND) -> Received:
    delivery = AlertDelivery(AlertOutbox(ledger), [chat], **FAST)
    async with delivery.running():
        await Notifier(ledger, on_enqueued=delivery.wake).send(alert)

        async def delivered() -> bool:
            found = await delivery.outbox.get(alert.key or "")
            return found is not None and found.delivered_at is not None

        await eventually(delivered, f"the alert delivered to {chat.name}")
    [request] = rec.accepted()
    return request


async def test_telegram_gets_the_alert_in_its_chat_through_the_bot_api(pg_ledger: Ledger) -> None:
    chat = channel("warning:tgram://123456789:AAHfakeBotToken/-100200300")
    assert chat.name.startswith("tgram-") and chat.spec.min_severity is Severity.WARNING
    async with receiver(reply={"ok": True, "result": {"message_id": 1}}) as api:
        chat.plugin.notify_url = f"{api.url}/bot"
        request = await deliver(pg_ledger, chat, api)
    assert (request.method, request.path) == ("POST", "/bot123456789:AAHfakeBotToken/sendMessage")
    sent = request.json()
    assert sent["chat_id"] == -100200300
    for part in ("CRITICAL: unwind attempt 2 incomplete", "maker leg 0.3 ETH still open",
                 "source: hedge-alpha-1-p1-2", "key: hedge-alpha-1-p1-2/run/7"):  # fmt: skip
        assert part in sent["text"], (part, sent["text"])


async def test_slack_gets_the_alert_through_its_incoming_webhook(pg_ledger: Ledger) -> None:
    chat = channel("slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7/#trading-alerts")
    async with receiver(reply="ok") as hooks:  # what Slack's incoming webhooks answer
        chat.plugin.webhook_url = f"{hooks.url}/services"
        request = await deliver(pg_ledger, chat, hooks)
    assert (request.method, request.path) == ("POST", "/services/T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7")
    sent = request.json()
    assert sent["channel"] == "#trading-alerts"
    shown = str(sent)
    for part in ("CRITICAL: unwind attempt 2 incomplete", "maker leg 0.3 ETH still open",
                 "key: hedge-alpha-1-p1-2/run/7"):  # fmt: skip
        assert part in shown, (part, shown)


async def test_discord_gets_the_alert_through_its_webhook(pg_ledger: Ledger) -> None:
    chat = channel(
        "critical:discord://417429632418316298/JHZ7lQml277CDHmQKMHI8qBe7bk2ZwO5UKjCiOAF7711o33MyqU"
    )
    async with receiver() as api:
        chat.plugin.notify_url = f"{api.url}/api/webhooks"
        request = await deliver(pg_ledger, chat, api)
    assert (request.method, request.path) == (
        "POST", "/api/webhooks/417429632418316298/JHZ7lQml277CDHmQKMHI8qBe7bk2ZwO5UKjCiOAF7711o33MyqU"
    )  # fmt: skip
    shown = str(request.json())
    for part in ("CRITICAL: unwind attempt 2 incomplete", "maker leg 0.3 ETH still open",
                 "key: hedge-alpha-1-p1-2/run/7"):  # fmt: skip
        assert part in shown, (part, shown)


async def test_a_chat_service_refusing_the_message_is_retried_and_its_token_is_never_stored(
    pg_ledger: Ledger,
) -> None:
    chat = channel("tgram://123456789:AAHfakeBotToken/-100200300")
    async with receiver(answer=400, reply={"ok": False, "description": "Bad Request: chat not found"}) as api:
        chat.plugin.notify_url = f"{api.url}/bot"
        delivery = AlertDelivery(AlertOutbox(pg_ledger), [chat], **FAST)
        async with delivery.running():
            await Notifier(pg_ledger, on_enqueued=delivery.wake).send(UNWIND)

            async def refused_twice() -> bool:
                return len(api.requests) >= 2

            await eventually(refused_twice, "two refused sends")
    row = await delivery.outbox.get(UNWIND.key or "")
    assert row is not None and row.delivered_at is None and row.last_error is not None
    assert row.last_error.startswith(f"{chat.name}: ") and "chat not found" in row.last_error
    assert "AAHfakeBotToken" not in row.last_error
