"""Repeats of an alert (same severity and title within the window after one sent): the first is
sent, the rest counted, and their count goes out once as a summary when the window ends. Alert
times are set on the rows (the outbox takes them), so windows are exact, not raced."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import SecretStr

from perpflow.alerts.channels import channels_from
from perpflow.alerts.delivery import AlertDelivery
from perpflow.alerts.models import Alert, AlertRole, Severity
from perpflow.db.alerts import AlertOutbox
from perpflow.db.ledger import Ledger
from perpflow.settings import Settings
from tests.plugins.alert_servers import receiver
from tests.plugins.marketdata import eventually

WINDOW = timedelta(minutes=10)
FAST: dict[str, Any] = {"first_retry_s": 0.1, "max_retry_s": 0.4, "poll_s": 60.0, "repeat_window": WINDOW}


def orphan(n: int, title: str = "orphan order", severity: Severity = Severity.CRITICAL) -> Alert:
    return Alert(severity=severity, source=f"reconcile-lighter-{n % 3}", title=title, detail=f"coi {n}",
                 key=f"orphan-{n}")  # fmt: skip


async def all_delivered(outbox: AlertOutbox) -> bool:
    return all(e.delivered_at is not None for e in await outbox.entries())


async def test_repeats_in_the_window_are_counted_and_their_summary_is_sent_when_it_ends(
    ledger: Ledger,
) -> None:
    start = datetime.now(UTC) - WINDOW - timedelta(minutes=1)  # the first window has ended
    outbox = AlertOutbox(ledger)
    at = {0: 0.0, 1: 1.0, 2: 2.0, 3: 3.0, 4: 9.5, 5: 10.5}  # alert -> minutes after the start
    for n, minutes in at.items():
        await outbox.enqueue(orphan(n), start + timedelta(minutes=minutes))
    # Another title, another severity: neither is a repeat of the orphans.
    await outbox.enqueue(orphan(6, title="stream stale"), start + timedelta(minutes=1.5))
    await outbox.enqueue(orphan(7, severity=Severity.WARNING), start + timedelta(minutes=2.5))

    async with receiver() as hook:
        channels = channels_from(Settings(alert_urls=SecretStr(f"json://{hook.host}/hook")))
        delivery = AlertDelivery(outbox, channels, **FAST)
        async with delivery.running():
            delivery.wake()
            await eventually(lambda: all_delivered(outbox), "every row delivered, the summary too")

    sent = {r.json()["key"]: r.json() for r in hook.requests}
    # orphan-5 came after the window: it leads a new one (still open: no summary of it yet).
    assert sorted(sent) == ["orphan-0", "orphan-0/repeats", "orphan-5", "orphan-6", "orphan-7"]
    summary = sent["orphan-0/repeats"]
    assert (summary["title"], summary["severity"], summary["source"]) == (
        "orphan order: 4 more in 10 min", "critical", "reconcile-lighter-0"
    )  # fmt: skip
    first, last = start + timedelta(minutes=1), start + timedelta(minutes=9.5)
    assert summary["message"] == (
        f"4 more 'orphan order' alert(s) (critical) from {first:%H:%M:%S} to {last:%H:%M:%S} UTC were "
        "counted, not sent one by one: alerts of one severity and title within 10 min of one sent are "
        "repeats. Sources: reconcile-lighter-1, reconcile-lighter-2, reconcile-lighter-0. Latest: coi 4"
    )
    roles = {e.alert.key: (e.role, e.lead_id) for e in await outbox.entries()}
    lead_id = (await outbox.get("orphan-0")).id  # type: ignore[union-attr]
    assert roles == {
        "orphan-0": (AlertRole.LEAD, None),
        **{f"orphan-{n}": (AlertRole.REPEAT, lead_id) for n in (1, 2, 3, 4)},
        "orphan-5": (AlertRole.LEAD, None),
        "orphan-6": (AlertRole.LEAD, None),
        "orphan-7": (AlertRole.LEAD, None),
        "orphan-0/repeats": (AlertRole.SUMMARY, lead_id),
    }
    # Every alert has its one audit row; the summary, not an alert, has none.
    audited = sorted(a.detail["key"] for a in await ledger.audit_log() if a.action.startswith("alert."))
    assert audited == sorted(f"orphan-{n}" for n in range(8))


async def test_a_summary_waits_for_its_window_to_end(pg_ledger: Ledger) -> None:
    now = datetime.now(UTC)
    outbox = AlertOutbox(pg_ledger)
    await outbox.enqueue(orphan(0), now)
    await outbox.enqueue(orphan(1), now + timedelta(seconds=1))
    async with receiver() as hook:
        channels = channels_from(Settings(alert_urls=SecretStr(f"json://{hook.host}/hook")))
        delivery = AlertDelivery(outbox, channels, **FAST)
        async with delivery.running():
            delivery.wake()

            async def both_taken() -> bool:
                return all(
                    e.delivered_at is not None
                    for e in await outbox.entries()
                    if e.alert.key != "orphan-0/repeats"
                )

            await eventually(both_taken, "the lead sent and the repeat counted")
            summary = await outbox.get("orphan-0/repeats")
            assert summary is not None and summary.delivered_at is None
            assert abs(summary.next_attempt_at - (now + WINDOW)) < timedelta(milliseconds=1)
            assert await outbox.next_due() == summary.next_attempt_at  # the loop sleeps until then
    assert [r.json()["key"] for r in hook.requests] == ["orphan-0"]


async def test_a_repeat_after_its_leads_summary_was_counted_leads_instead_of_going_uncounted(
    pg_ledger: Ledger,
) -> None:
    now = datetime.now(UTC) - WINDOW
    outbox = AlertOutbox(pg_ledger)
    for n in range(3):
        await outbox.enqueue(orphan(n), now + timedelta(seconds=n))
    lead, repeat, late = await outbox.entries()
    assert await outbox.classify(lead, WINDOW, now) is AlertRole.LEAD
    assert await outbox.classify(repeat, WINDOW, now) is AlertRole.REPEAT
    summary = await outbox.get("orphan-0/repeats")
    assert summary is not None
    counted = await outbox.stamp_summary(summary, WINDOW)
    assert counted.title == "orphan order: 1 more in 10 min"
    # Within the window, but its lead's count went out already: sent on its own.
    assert await outbox.classify(late, WINDOW, now) is AlertRole.LEAD
    assert (await outbox.stamp_summary(summary, WINDOW)).title == counted.title  # stamped once
