"""``perpflow accounts`` (positions, open orders, their owners, orphans) and ``perpflow reconcile``
(the exposure reconciler's Schedules and open orphans).

The CLI holds no venue keys: ``accounts`` runs a look-only ReconcileWorkflow on the orchestrator
queue (its signer reads go through the signer workers) and prints the run's report.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Annotated

import typer
from rich.table import Table
from temporalio.client import Client, WorkflowFailureError

from perpflow import names
from perpflow.cli.console import console, new_table
from perpflow.cli.context import load_settings, reach
from perpflow.cli.ledger import ledger_call
from perpflow.db.reconcile import Orphans
from perpflow.errors import PerpflowError
from perpflow.reconcile.judge import order_key, position_key
from perpflow.reconcile.models import AccountReport, OpenOrphan, Policy, ReconcileInput, ReconcileReport
from perpflow.reconcile.schedule import current_input, ensure_schedule, inputs_for
from perpflow.settings import Settings

reconcile_app = typer.Typer(
    no_args_is_help=True, add_completion=False, help="The exposure reconciler: schedules, orphans."
)

ORPHAN = "[bold red]ORPHAN[/]"


# -- perpflow accounts -----------------------------------------------------------------------------


def accounts(
    venue: Annotated[str, typer.Option(help="The venue whose managed accounts to show.")] = "lighter",
    account: Annotated[list[str] | None, typer.Option(help="Only this account (repeatable).")] = None,
    settle: Annotated[float | None, typer.Option(help="Seconds between the two looks at a suspect.")] = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the report.")] = 60,
) -> None:
    """Positions, open orders and the workflow owning each, orphans highlighted (a look-only run)."""

    async def run() -> ReconcileReport:
        return await look(
            await reach(load_settings()), venue, only=account or None, settle=settle, timeout=timeout
        )

    report = asyncio.run(run())
    for table in report_tables(report):
        console.print(table)
    console.print(summary(report))


async def look(
    client: Client,
    venue: str,
    *,
    only: list[str] | None = None,
    settle: float | None = None,
    timeout: float = 60,
    task_queue: str = names.ORCHESTRATOR_QUEUE,
) -> ReconcileReport:
    """A look-only run with the venue's Schedule input (its policies), or the defaults."""
    base = await current_input(client, venue) or ReconcileInput(venue=venue)
    overrides: dict[str, object] = {"dry_run": True, "accounts": only}
    if settle is not None:
        overrides["settle_s"] = settle
    inp = ReconcileInput.model_validate({**base.model_dump(), **overrides})
    handle = await client.start_workflow(
        "ReconcileWorkflow",
        inp,
        id=names.reconcile_dry_run_id(venue, datetime.now(UTC)),
        task_queue=task_queue,
        execution_timeout=timedelta(seconds=timeout),
        result_type=ReconcileReport,
    )
    try:
        return await asyncio.wait_for(handle.result(), timeout=timeout + 5)
    except TimeoutError:
        raise PerpflowError(
            f"no report within {timeout:g} s: is the orchestrator (and each account's signer) running?"
        ) from None
    except WorkflowFailureError as exc:
        raise PerpflowError(f"the look failed: {getattr(exc.cause, 'message', exc.cause)}") from None


def _size(value: Decimal) -> str:
    return f"{value.normalize():f}" if value else "0"


def _verdict(report: AccountReport, key: str, looks_orphan: bool) -> str:
    if key in {o.key for o in report.judgement.orphans}:
        return ORPHAN
    if key in report.unsettled:
        return "[yellow]unsettled[/] (changed between looks)"
    return "[yellow]suspect[/]" if looks_orphan else "[green]owned[/]"


def report_tables(report: ReconcileReport) -> list[Table]:
    """The report as two tables: positions with their owners, open orders with theirs."""
    positions = new_table(
        f"positions on {report.venue}", "account", "policy", "market", "venue", "owned", "orphan", "owners",
        "verdict",
    )  # fmt: skip
    orders = new_table(
        f"open orders on {report.venue}", "account", "market", "coi", "left", "filled", "owner", "owner is",
        "verdict",
    )  # fmt: skip
    for acct in report.accounts:
        for row in _position_rows(acct):
            positions.add_row(*row)
        for row in _order_rows(acct):
            orders.add_row(*row)
    return [positions, orders]


def _position_rows(acct: AccountReport) -> list[list[str]]:
    name, ref, judgement = acct.account.name, acct.account, acct.judgement
    if acct.error:
        return [[name, acct.policy, "", "", "", "", "", f"[red]{acct.error}[/]"]]
    deferred = f"[yellow]not judged: {judgement.deferred}[/]" if judgement.deferred else ""
    if not judgement.positions:
        return [[name, acct.policy, "", "0", "", "", "", deferred or "flat"]]
    rows = []
    for p in judgement.positions:
        key = position_key(ref.venue, ref.account_index, p.market)
        rows.append([
            name, acct.policy, p.market, _size(p.venue_size), _size(p.owned), _size(p.orphan_size),
            "\n".join(p.owners), deferred or _verdict(acct, key, p.orphan_size != 0),
        ])  # fmt: skip
    return rows


def _order_rows(acct: AccountReport) -> list[list[str]]:
    ref, rows = acct.account, []
    for o in acct.judgement.orders:
        index = o.order_index if o.order_index is not None else o.client_order_index
        verdict = _verdict(acct, order_key(ref.venue, ref.account_index, o.market, index), o.orphan)
        rows.append([
            ref.name, o.market, str(o.client_order_index), _size(o.remaining_size), _size(o.filled_size),
            o.owner or "-", o.owner_status, verdict,
        ])  # fmt: skip
    return rows


def summary(report: ReconcileReport) -> str:
    found = report.orphans
    text = f"{len(report.accounts)} account(s), {len(found)} orphan(s)"
    if report.unknown_accounts:
        text += f"; not in the ledger: {', '.join(report.unknown_accounts)}"
    return f"[bold red]{text}[/]" if found else text


# -- perpflow reconcile ----------------------------------------------------------------------------


def _policy_pair(text: str) -> tuple[str, Policy]:
    name, sep, policy = text.partition("=")
    choices = ", ".join(p.value for p in Policy)
    if not sep or not name or policy not in {p.value for p in Policy}:
        raise PerpflowError(f"--account takes NAME=POLICY with POLICY one of {choices}, not {text!r}")
    return name, Policy(policy)


@reconcile_app.command("schedule")
def schedule(
    period: Annotated[float, typer.Option(help="Seconds between runs.")] = 30,
    policy: Annotated[Policy, typer.Option(help="Policy of every account not named below.")] = Policy.ALERT,
    account: Annotated[
        list[str] | None, typer.Option(help="NAME=POLICY for one account (repeatable).")
    ] = None,
    settle: Annotated[float, typer.Option(help="Seconds between the two looks at a suspect.")] = 4,
) -> None:
    """Create or update the reconciler's Schedule of each venue that has managed accounts."""
    policies = dict(_policy_pair(a) for a in account or [])
    for line in asyncio.run(_schedule(load_settings(), period, policy, policies, settle)):
        console.print(line)


async def _schedule(
    settings: Settings, period: float, default: Policy, policies: dict[str, Policy], settle: float
) -> list[str]:
    managed = await ledger_call(settings, lambda ledger: ledger.accounts())
    if not managed:
        raise PerpflowError("the ledger has no accounts to reconcile")
    inputs = inputs_for(managed, default=default, policies=policies, period_s=period, settle_s=settle)
    client = await reach(settings)
    lines = []
    for inp in inputs:
        done = await ensure_schedule(client, inp)
        named = "".join(f"; {n}={p}" for n, p in sorted(inp.policies.items()))
        schedule_id = names.reconcile_schedule_id(inp.venue)
        lines.append(f"{schedule_id} {done}: every {period:g} s, {inp.default_policy}{named}")
    return lines


@reconcile_app.command("orphans")
def orphans() -> None:
    """Open orphans in the ledger: first seen, alerted, still there at the last run."""
    rows = asyncio.run(ledger_call(load_settings(), lambda ledger: Orphans(ledger).open()))
    table = new_table(f"open orphans ({len(rows)})", "id", "orphan", "reason", "since", "alerted", "by")
    for row in rows:
        table.add_row(*_orphan_row(row))
    console.print(table)


def _orphan_row(row: OpenOrphan) -> list[str]:
    alerted = f"{row.alerted_at:%Y-%m-%d %H:%M:%S}" if row.alerted_at else "[red]not yet[/]"
    since = f"{row.opened_at:%Y-%m-%d %H:%M:%S}"
    return [str(row.id), row.orphan.describe(), row.orphan.reason, since, alerted, row.opened_by]
