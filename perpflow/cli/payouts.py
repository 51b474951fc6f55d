"""``perpflow payouts``: list liquidation payouts, approve or reject the ones awaiting approval."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
from rich.table import Table
from temporalio.client import WorkflowUpdateFailedError

from perpflow.cli.console import console
from perpflow.cli.ledger import ledger_call
from perpflow.db.payouts import PayoutRepository
from perpflow.errors import PerpflowError
from perpflow.payouts.models import WEI_PER_ETH, ApprovalDecision, PayoutRecord, PayoutState, PayoutStatus
from perpflow.settings import Settings, load_settings
from perpflow.temporal_client import reach

payouts_app = typer.Typer(no_args_is_help=True, help="Liquidation payouts (ledger view, approvals).")

ById = Annotated[str, typer.Argument(help="The payout's workflow id (see `perpflow payouts list`).")]
By = Annotated[str, typer.Option("--by", help="Operator name recorded with the decision.")]
Note = Annotated[str | None, typer.Option(help="Free text kept with the decision.")]


def _eth(wei: int | None) -> str:
    return "" if wei is None else f"{wei / WEI_PER_ETH:.6f}".rstrip("0").rstrip(".")


def _row(r: PayoutRecord) -> list[str]:
    return [
        r.workflow_id,
        r.state,
        r.user_address,
        f"{r.leverage_ratio / 100:g}x",
        _eth(r.amount_wei),
        "" if r.nonce is None else str(r.nonce),
        str(len(r.tx_hashes)),
        r.final_tx_hash or "",
        r.approved_by or "",
        r.reason or "",
    ]


@payouts_app.command("list")
def payouts_list(
    state: Annotated[PayoutState | None, typer.Option(help="Only payouts in this state.")] = None,
    limit: int = 50,
) -> None:
    """Payouts from the ledger, newest first: state, amount, nonce, txs, final tx, approver."""
    rows = asyncio.run(
        ledger_call(load_settings(), lambda ledger: PayoutRepository(ledger).recent(limit, state))
    )
    table = Table(title=f"payouts ({len(rows)})")
    for col in ("workflow id", "state", "user", "lev", "ETH", "nonce", "txs", "final tx", "by", "reason"):
        table.add_column(col, overflow="fold")
    for r in rows:
        table.add_row(*_row(r))
    console.print(table)


@payouts_app.command("approve")
def payouts_approve(workflow_id: ById, by: By, note: Note = None) -> None:
    """Approve a payout that awaits approval (sends it through the wallet lane)."""
    status = asyncio.run(_decide(load_settings(), workflow_id, "approve", ApprovalDecision(by=by, note=note)))
    console.print(f"{workflow_id}: {status.reason or f'approved by {by}'}, now {status.state}")


@payouts_app.command("reject")
def payouts_reject(workflow_id: ById, by: By, note: Note = None) -> None:
    """Reject a payout that awaits approval (nothing is sent)."""
    status = asyncio.run(_decide(load_settings(), workflow_id, "reject", ApprovalDecision(by=by, note=note)))
    console.print(f"{workflow_id}: {status.reason or f'rejected by {by}'}, now {status.state}")


async def _decide(
    settings: Settings, workflow_id: str, update: str, decision: ApprovalDecision
) -> PayoutStatus:
    client = await reach(settings)
    handle = client.get_workflow_handle(workflow_id)
    try:
        status: PayoutStatus = await handle.execute_update(update, decision, result_type=PayoutStatus)
    except WorkflowUpdateFailedError as exc:
        cause = exc.cause
        raise PerpflowError(f"{update} refused: {getattr(cause, 'message', None) or cause}") from None
    return status
