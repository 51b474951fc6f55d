"""The status report: the day's positions, PnL, cycles, grid sessions, payouts and open alerts as an
e-mail with an HTML part and a text part, like the traders' bots' daily mail.

``build_report(ledger)`` returns ``(subject, text, html)``; ``send_report(ledger, channels)`` sends
it now through the e-mail channels. The delivery loop sends it each day at
``PERPFLOW_ALERT_REPORT_AT`` through the outbox (once per day, retried per channel).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from html import escape
from typing import TYPE_CHECKING

from perpflow.alerts.models import Alert, Severity
from perpflow.alerts.status import PERIOD, GridLine, StatusSnapshot, snapshot
from perpflow.db.ledger import Ledger

if TYPE_CHECKING:
    from perpflow.alerts.channels import Channel

REPORT_SOURCE = "perpflow"
_RED, _GREEN, _GREY = "#b3261e", "#1e7b34", "#666"
_FONT = "font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif"
_CELL = "padding:4px 10px;border-bottom:1px solid #e3e3e3;text-align:left"
Table = tuple[list[str], list[list[str]]]


def report_alert(day: str) -> Alert:
    """The outbox row of ``day``'s report: its key makes it once per day; its text is built when sent."""
    return Alert(severity=Severity.INFO, source=REPORT_SOURCE, title=f"perpflow status report {day}",
                 key=f"status-report/{day}")  # fmt: skip


async def build_report(
    ledger: Ledger, now: datetime | None = None, period: timedelta = PERIOD
) -> tuple[str, str, str]:
    """``(subject, text, html)`` of the status report over the ``period`` before ``now``."""
    return render(await snapshot(ledger, now, period))


async def send_report(ledger: Ledger, channels: Sequence[Channel]) -> dict[str, str | None]:
    """Send the report now to every e-mail channel; each channel's error, None when it took it."""
    from perpflow.alerts.channels import ChannelError

    subject, text, html = await build_report(ledger)
    alert = report_alert(f"{datetime.now(UTC):%Y-%m-%d}").model_copy(
        update={"title": subject, "detail": text}
    )

    async def one(channel: Channel) -> str | None:
        try:
            await channel.send(alert, html)
        except ChannelError as exc:
            return str(exc)
        return None

    targets = [c for c in channels if c.takes_reports]
    return dict(zip((c.name for c in targets), await asyncio.gather(*(one(c) for c in targets)), strict=True))


def render(snap: StatusSnapshot) -> tuple[str, str, str]:
    sections = _sections(snap)
    subject = f"perpflow {snap.at:%Y-%m-%d}: realised {_pnl(snap.realized)}, {_attention(snap)}"
    text = "\n".join([subject, _period(snap), "", *(_text_section(t, b) for t, b in sections)])
    body = "".join(_html_section(t, b) for t, b in sections)
    html = (
        '<!DOCTYPE html><html><head><meta charset="utf-8"></head>'
        f'<body style="{_FONT};color:#222;max-width:860px">'
        f"<h2>perpflow status {snap.at:%Y-%m-%d %H:%M} UTC</h2>"
        f'<p style="color:{_GREY}">{escape(_period(snap))}</p>{_figures(snap)}{body}</body></html>'
    )
    return subject, text, html


def _attention(snap: StatusSnapshot) -> str:
    n = (len(snap.orphans) + len(snap.cycles.problems) + len(snap.payouts.attention)
         + len(snap.alerts.undelivered))  # fmt: skip
    return f"{n} item(s) need attention" if n else "nothing needs attention"


def _period(snap: StatusSnapshot) -> str:
    return f"Period: {snap.since:%Y-%m-%d %H:%M} to {snap.at:%Y-%m-%d %H:%M} UTC"


def _pnl(value: Decimal) -> str:
    return f"{value:+,.4f}"


def _size(value: Decimal | None) -> str:
    return "-" if value is None else f"{value.normalize():f}"


def _figures(snap: StatusSnapshot) -> str:
    color = _GREEN if snap.realized >= 0 else _RED
    figures = [
        ("Realised PnL (net)", f'<span style="color:{color}">{_pnl(snap.realized)}</span>'),
        ("Hedge cycles", f"{snap.cycles.ended} ended, {snap.cycles.running} running"),
        ("Grid sessions", str(sum(1 for g in snap.grids if g.state == "RUNNING")) + " running"),
        ("Payouts", f"{snap.payouts.paid} paid ({_size(snap.payouts.paid_eth)} ETH)"),
        ("Alerts", ", ".join(f"{n} {s}" for s, n in sorted(snap.alerts.by_severity.items())) or "none"),
    ]
    cells = "".join(
        f'<td style="padding:8px 14px;border:1px solid #ddd"><div style="color:{_GREY};font-size:12px">'
        f'{escape(name)}</div><div style="font-size:16px">{value}</div></td>'
        for name, value in figures
    )
    return f'<table style="border-collapse:collapse;margin:8px 0 16px"><tr>{cells}</tr></table>'


def _sections(snap: StatusSnapshot) -> list[tuple[str, list[Table]]]:
    c, p, a = snap.cycles, snap.payouts, snap.alerts
    return [
        ("Positions", [(["owner", "venue", "account", "market", "size"],
                        [[x.owner, x.venue, x.account, x.market, _size(x.size)] for x in snap.positions])]),
        ("Hedge cycles", [
            (["state", "cycles"], [[s, str(n)] for s, n in sorted(c.by_state.items())]),
            (["ended", "realised PnL (net)", "fees"], [[str(c.ended), _pnl(c.realized_pnl), _size(c.fees)]]),
            (["needs attention", "market", "state", "PnL", "why"],
             [[x.workflow_id, x.market, x.state, _pnl(x.realized_pnl), x.note] for x in c.problems]),
        ]),
        ("Grid sessions", [(["session", "market", "state", "fills", "profit", "fees", "funding", "net",
                             "position"], [_grid_row(g) for g in snap.grids])]),
        ("Payouts", [
            (["state", "payouts"], [[s, str(n)] for s, n in sorted(p.by_state.items())]),
            (["needs attention", "state", "ETH", "why"],
             [[x.workflow_id, x.state, _size(x.amount_eth), x.reason or ""] for x in p.attention]),
        ]),
        ("Open alerts", [
            (["orphan (no live workflow owns it)"], [[o] for o in snap.orphans]),
            (["not delivered (a channel failed)", "severity", "source", "why"],
             [[x.title, x.severity, x.source, x.note] for x in a.undelivered]),
            (["recent", "severity", "source", "at"],
             [[x.title, x.severity, x.source, f"{x.at:%H:%M:%S}"] for x in a.recent]),
        ]),
    ]  # fmt: skip


def _grid_row(g: GridLine) -> list[str]:
    state = g.state + (f" ({g.stop_reason})" if g.stop_reason else "")
    return [g.name, g.market, state, str(g.fills), _pnl(g.realized_profit), _size(g.fees), _size(g.funding),
            _pnl(g.net), _size(g.position)]  # fmt: skip


def _html_section(title: str, tables: list[Table]) -> str:
    parts = [f'<h3 style="margin:18px 0 6px">{escape(title)}</h3>']
    shown = [(head, rows) for head, rows in tables if rows]
    if not shown:
        parts.append(f'<p style="color:{_GREY}">none</p>')
    for head, rows in shown:
        th = "".join(f'<th style="{_CELL};color:{_GREY};font-weight:normal">{escape(h)}</th>' for h in head)
        trs = "".join(
            "<tr>" + "".join(f'<td style="{_CELL}">{escape(v)}</td>' for v in row) + "</tr>" for row in rows
        )
        parts.append(f'<table style="border-collapse:collapse;margin:4px 0 10px"><tr>{th}</tr>{trs}</table>')
    return "".join(parts)


def _text_section(title: str, tables: list[Table]) -> str:
    lines = [title, "-" * len(title)]
    shown = [(head, rows) for head, rows in tables if rows]
    if not shown:
        lines.append("none")
    for head, rows in shown:
        widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
        lines += [
            "  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in [head, *rows]
        ]
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"
