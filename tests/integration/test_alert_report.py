"""The status report read from the ledger (both backends): positions, PnL, cycles, grid sessions,
payouts and open alerts, as an HTML part and a text part saying the same; and its daily outbox row,
written once a day whatever the number of delivery loops."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from html.parser import HTMLParser

from pydantic import SecretStr

from perpflow.alerts.channels import channels_from
from perpflow.alerts.delivery import AlertDelivery
from perpflow.alerts.models import Alert, AlertRole, Severity
from perpflow.alerts.notifier import Notifier
from perpflow.alerts.report import build_report
from perpflow.db import tables as t
from perpflow.db.alerts import AlertOutbox
from perpflow.db.ledger import Ledger
from perpflow.settings import Settings

NOW = datetime.now(UTC)


async def seed(ledger: Ledger) -> None:
    """A day of trading: two hedge cycles (one failed with exposure), a running grid session, a
    cycle and a payout older than the period, a paid and a waiting payout, an orphan, alerts."""
    ended, old = NOW - timedelta(hours=2), NOW - timedelta(days=3)
    day, old_day = {"started_at": ended, "ended_at": ended}, {"started_at": old, "ended_at": old}
    cycle = {"fleet": "alpha", "pair": "p1", "venue": "lighter", "market": "ETH", "maker_account": 7,
             "taker_account": 8}  # fmt: skip
    payout = {"chain_id": 31337, "event_log_index": 0, "event_block_number": 10, "leverage_ratio": 20,
              "user_address": "0x" + "ab" * 20, "liquidation_amount": Decimal(10**18)}  # fmt: skip
    async with ledger.session() as s:
        s.add_all([
            t.HedgeCycle(workflow_id="hedge-alpha-1-p1-1", seq=1, state="DONE", realized_pnl=Decimal("12.5"),
                         fees=Decimal("0.5"), **day, **cycle),
            t.HedgeCycle(workflow_id="hedge-alpha-1-p1-2", seq=2, state="FAILED",
                         realized_pnl=Decimal("-2.25"), fees=Decimal("0.25"), **day, **cycle,
                         result={"reason": "hedge refused twice", "open_exposure": {"7": "0.3"}}),
            t.HedgeCycle(workflow_id="hedge-alpha-0-p1-9", seq=9, state="DONE", realized_pnl=Decimal("999"),
                         **old_day, **cycle),
            t.GridSession(workflow_id="grid-eth-range", name="eth-range", venue="lighter", market="ETH",
                          account_index=9, state="RUNNING", realized_profit=Decimal("3.25"),
                          fees=Decimal("0.25"), funding=Decimal("0.05"), position=Decimal("0.2"),
                          fill_count=14, started_at=old),
            t.Payout(workflow_id="payout-31337-0xaa-0", event_tx_hash="0xaa", state="DONE",
                     amount_wei=Decimal(15 * 10**17), updated_at=ended, **payout),
            t.Payout(workflow_id="payout-31337-0xbb-0", event_tx_hash="0xbb", state="AWAITING_APPROVAL",
                     amount_wei=Decimal(5 * 10**18), updated_at=ended, **payout),
            t.Payout(workflow_id="payout-31337-0xcc-0", event_tx_hash="0xcc", state="DONE",
                     amount_wei=Decimal(10**20), updated_at=old, **payout),
            t.ReconcileOrphan(key="lighter-8-ETH", kind="position", reason="owner-terminated",
                              venue="lighter", account_name="acct-8", account_index=8, market="ETH",
                              size=Decimal("-0.3"), opened_at=ended, opened_by="reconcile", last_seen_at=NOW),
        ])  # fmt: skip
    notifier = Notifier(ledger)
    failed = "cycle FAILED with open exposure"
    await notifier.send(Alert(severity=Severity.CRITICAL, source="hedge-alpha-1-p1-2", title=failed,
                              detail="maker 0.3 open", key="k-critical"))  # fmt: skip
    critical = await AlertOutbox(ledger).get("k-critical")
    assert critical is not None
    await AlertOutbox(ledger).failed(critical.id, "tgram-1a2b3c4d: Bad Request: chat not found", NOW)
    await notifier.send(
        Alert(severity=Severity.INFO, source="fleet-alpha", title="fleet resumed", key="k-info")
    )


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.cells: list[str] = []

    def handle_data(self, data: str) -> None:
        if data.strip():
            self.cells.append(data.strip())


def cells(html: str) -> list[str]:
    parser = _Text()
    parser.feed(html)
    return parser.cells


async def test_the_report_shows_the_days_positions_pnl_cycles_grids_payouts_and_open_alerts(
    ledger: Ledger,
) -> None:
    await seed(ledger)
    subject, text, html = await build_report(ledger, now=NOW)

    # Realised, net of fees and funding: cycles ended in the period (12.5 - 2.25; the 3-day-old
    # cycle's 999 is not the day's) and the grid session to date (3.25 - 0.25 - 0.05).
    assert subject == f"perpflow {NOW:%Y-%m-%d}: realised +13.2000, 4 item(s) need attention"
    shown = cells(html)
    for expected in [
        "+13.2000",
        "2 ended, 0 running",
        "1 running",
        "1 paid (1.5 ETH)",
        "1 critical, 1 info",
        # positions: the grid session's, the failed cycle's leftover leg
        "grid-eth-range", "0.2", "hedge-alpha-1-p1-2", "0.3",
        # cycles needing attention, with why
        "hedge refused twice",
        # the grid session's line
        "eth-range", "14", "+3.2500", "+2.9500",
        # the payout waiting for approval
        "payout-31337-0xbb-0", "AWAITING_APPROVAL", "5",
        # the orphan, the critical alert a channel failed, and why
        "orphan position -0.3 on acct-8 (lighter 8) ETH: no live workflow owns it",
        "cycle FAILED with open exposure",
        "tgram-1a2b3c4d: Bad Request: chat not found",
    ]:  # fmt: skip
        assert expected in shown, expected
    assert "999" not in html and "payout-31337-0xcc-0" not in html  # older than the period
    assert "fleet resumed" not in shown  # info alerts are counted, not listed

    # The text part says the same things.
    for expected in [
        "+13.2000",
        "eth-range",
        "payout-31337-0xbb-0",
        "hedge refused twice",
        "orphan position -0.3",
    ]:
        assert expected in text, expected
    assert text.splitlines()[0] == subject


async def test_an_empty_ledger_reports_nothing_to_attend_to(ledger: Ledger) -> None:
    subject, text, html = await build_report(ledger, now=NOW)
    assert subject == f"perpflow {NOW:%Y-%m-%d}: realised +0.0000, nothing needs attention"
    assert "Positions\n---------\nnone" in text
    # Positions, grid sessions, payouts, open alerts, and the alerts figure (cycles show 0 ended).
    assert cells(html).count("none") == 5


async def test_the_report_row_is_written_once_a_day_when_its_time_has_come_whatever_the_loops(
    ledger: Ledger,
) -> None:
    mail = "mailtos://alerts:pw@127.0.0.1:9?mode=starttls&from=perpflow@example.org&to=desk@example.org"
    channels = channels_from(Settings(alert_urls=SecretStr(f"{mail}, json://127.0.0.1:9/hook")))
    loops = [AlertDelivery(AlertOutbox(ledger), channels, report_at=time(7, 0)) for _ in range(2)]
    day = datetime(2026, 12, 1, tzinfo=UTC)
    assert await loops[0].schedule_report(day.replace(hour=6, minute=59)) == 60.0
    assert await AlertOutbox(ledger).entries() == []
    for loop in loops:
        assert await loop.schedule_report(day.replace(hour=7, second=5)) == 24 * 3600 - 5
    [row] = await AlertOutbox(ledger).entries()
    assert (row.alert.key, row.role, row.alert.severity) == (
        "status-report/2026-12-01",
        AlertRole.REPORT,
        "info",
    )
    assert [a for a in await ledger.audit_log() if a.action.startswith("alert.")] == []  # not an alert
    # Without an e-mail channel there is no report to write.
    webhook_only = AlertDelivery(AlertOutbox(ledger), channels[1:], report_at=time(7, 0), poll_s=5.0)
    assert await webhook_only.schedule_report(day.replace(day=2, hour=8)) == 5.0
    assert len(await AlertOutbox(ledger).entries()) == 1
