"""Alert e-mail end to end: a real SMTP server (aiosmtpd) that requires STARTTLS and a login, its
certificate trusted by the client (not skipped), receiving alerts and the daily status report."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from perpflow.alerts.channels import Channel, channels_from
from perpflow.alerts.delivery import AlertDelivery
from perpflow.alerts.models import Alert, Severity
from perpflow.alerts.notifier import Notifier
from perpflow.alerts.report import send_report
from perpflow.db.alerts import AlertOutbox
from perpflow.db.ledger import Ledger
from perpflow.devstack.ports import free_port
from perpflow.settings import Settings
from tests.integration.test_alert_report import cells, seed
from tests.plugins.alert_servers import (
    SMTP_PASSWORD,
    Mailbox,
    SmtpServer,
    receiver,
    self_signed_cert,
    smtp_server,
)
from tests.plugins.marketdata import eventually

FAST: dict[str, Any] = {
    "first_retry_s": 0.1,
    "max_retry_s": 0.4,
    "poll_s": 60.0,
    "repeat_window": timedelta(0),
}
ORPHAN = Alert(severity=Severity.CRITICAL, source="reconcile-lighter-7", title="orphan order",
               detail="coi 42 (0.5 left) on acct-7", key="reconcile-orphan-42")  # fmt: skip


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return self_signed_cert(tmp_path_factory.mktemp("smtp"))


@pytest.fixture
def trusted(cert: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """The test certificate as the client's only trusted one: STARTTLS is verified, not skipped."""
    monkeypatch.setenv("SSL_CERT_FILE", str(cert[0]))
    return cert


@pytest.fixture
def mail(trusted: tuple[Path, Path]) -> Iterator[SmtpServer]:
    with smtp_server(*trusted) as server:
        yield server


def configured(urls: str) -> list[Channel]:
    return channels_from(Settings(alert_urls=SecretStr(urls)))


def only(mailbox: Mailbox) -> EmailMessage:
    [message] = mailbox.messages
    return message


def part(message: EmailMessage, kind: str) -> str:
    body = message.get_body(preferencelist=(kind,))
    assert body is not None and body.get_content_type() == f"text/{kind}", message.as_string()[:2000]
    content = body.get_content()
    assert isinstance(content, str)
    return content


async def delivered(outbox: AlertOutbox, key: str) -> bool:
    found = await outbox.get(key)
    return found is not None and found.delivered_at is not None


async def test_an_alert_is_mailed_over_verified_starttls_after_a_login(
    pg_ledger: Ledger, mail: SmtpServer
) -> None:
    delivery = AlertDelivery(AlertOutbox(pg_ledger), configured(f"warning:{mail.url()}"), **FAST)
    async with delivery.running():
        await Notifier(pg_ledger, on_enqueued=delivery.wake).send(ORPHAN)
        await eventually(lambda: delivered(delivery.outbox, ORPHAN.key or ""), "the alert mailed")
    message = only(mail.mailbox)
    assert (message["Subject"], message["To"], message["From"]) == (
        "CRITICAL: orphan order", "ops@example.org", "perpflow@example.org"
    )  # fmt: skip
    text = part(message, "plain")
    assert "coi 42 (0.5 left) on acct-7" in text and "key: reconcile-orphan-42" in text
    assert mail.tls_sessions == [True]  # logged in, over TLS


async def test_the_daily_report_is_mailed_with_an_html_part_and_a_text_part(
    pg_ledger: Ledger, mail: SmtpServer
) -> None:
    await seed(pg_ledger)
    async with receiver(answer=503) as hook:
        # A critical-only mail channel still gets the report; the webhook (down) gets no report at all.
        channels = configured(f"critical:{mail.url()}, critical:json://{hook.host}/hook")
        # Midnight UTC has always passed today: the report is due at once.
        delivery = AlertDelivery(AlertOutbox(pg_ledger), channels, report_at=time(0, 0), **FAST)
        async with delivery.running():
            delivery.wake()
            key = f"status-report/{datetime.now(UTC):%Y-%m-%d}"
            await eventually(lambda: delivered(delivery.outbox, key), "the report mailed")
        report = [m for m in mail.mailbox.messages if m["Subject"].startswith("perpflow ")]
    [message] = report
    assert message.get_content_type() == "multipart/alternative"
    # Orphan, failed cycle, waiting payout, and the seed's critical alert the webhook keeps failing.
    assert (
        message["Subject"]
        == f"perpflow {datetime.now(UTC):%Y-%m-%d}: realised +13.2000, 4 item(s) need attention"
    )
    html, text = part(message, "html"), part(message, "plain")
    assert html.lstrip().startswith("<!DOCTYPE html>")
    shown = cells(html)
    for expected in [
        "eth-range",
        "+2.9500",
        "payout-31337-0xbb-0",
        "hedge refused twice",
        "1 paid (1.5 ETH)",
    ]:
        assert expected in shown, expected
        assert expected in text, expected
    assert all(r.json().get("key") != key for r in hook.requests)  # the report is for e-mail only
    assert len([a for a in await pg_ledger.audit_log() if a.action.startswith("alert.")]) == 2  # seed's own


async def test_send_report_mails_it_now_to_every_mail_channel(pg_ledger: Ledger, mail: SmtpServer) -> None:
    await seed(pg_ledger)
    errors = await send_report(pg_ledger, configured(f"{mail.url()}, json://127.0.0.1:9/not-a-mail-channel"))
    assert list(errors.values()) == [None]
    assert only(mail.mailbox)["Subject"].startswith(f"perpflow {datetime.now(UTC):%Y-%m-%d}: realised")


async def test_a_mail_server_that_is_down_gets_the_alert_when_it_is_back_and_the_webhook_is_not_posted_again(
    pg_ledger: Ledger, trusted: tuple[Path, Path]
) -> None:
    port = free_port()
    async with receiver() as hook:
        channels = configured(f"{SmtpServer(port, Mailbox(), []).url()}, json://{hook.host}/hook")
        mail_name = channels[0].name
        delivery = AlertDelivery(AlertOutbox(pg_ledger), channels, **FAST)
        async with delivery.running():
            await Notifier(pg_ledger, on_enqueued=delivery.wake).send(ORPHAN)

            async def mail_failed_twice() -> bool:
                row = await delivery.outbox.get(ORPHAN.key or "")
                state = row and (await delivery.outbox.channel_states(row.id)).get(mail_name)
                return bool(state) and state.attempts >= 2  # type: ignore[union-attr]

            await eventually(mail_failed_twice, "the mail channel tried twice while the server is down")
            assert [r.json()["key"] for r in hook.requests] == [ORPHAN.key]
            with smtp_server(*trusted, port=port) as server:
                await eventually(
                    lambda: delivered(delivery.outbox, ORPHAN.key or ""), "mailed once it is back"
                )
        assert only(server.mailbox)["Subject"] == "CRITICAL: orphan order"
    assert [r.json()["key"] for r in hook.requests] == [ORPHAN.key]


async def test_a_refused_login_is_a_failed_delivery_whose_error_shows_no_password(
    pg_ledger: Ledger, mail: SmtpServer
) -> None:
    delivery = AlertDelivery(AlertOutbox(pg_ledger), configured(mail.url(password="wrong-pw-0815")), **FAST)
    async with delivery.running():
        await Notifier(pg_ledger, on_enqueued=delivery.wake).send(ORPHAN)

        async def failed() -> bool:
            row = await delivery.outbox.get(ORPHAN.key or "")
            return row is not None and row.last_error is not None

        await eventually(failed, "a failed attempt")
    row = await delivery.outbox.get(ORPHAN.key or "")
    assert row is not None and row.delivered_at is None and row.last_error is not None
    assert "wrong-pw-0815" not in row.last_error and SMTP_PASSWORD not in row.last_error
    assert "submitting email to" in row.last_error
    assert mail.mailbox.messages == []
