"""``perpflow payouts``: list liquidation payouts, show one, approve or reject those awaiting approval.

Every command takes a payout's full id or its short id (perpflow/cli/payout_view.py).
"""

from __future__ import annotations

import asyncio
import getpass
from typing import Annotated

import typer

from perpflow.cli.console import console
from perpflow.cli.context import load_settings, reach
from perpflow.cli.payout_view import is_full_id, list_table, pick, short_id, show_table
from perpflow.errors import PerpflowError
from perpflow.payouts.models import ApprovalDecision, PayoutRecord, PayoutState, PayoutStatus
from perpflow.settings import Settings

payouts_app = typer.Typer(
    no_args_is_help=True, add_completion=False, help="Liquidation payouts: list, show, approve, reject."
)

# Short ids are looked up among this many newest payouts (a full id is used as given).
SEARCH_LIMIT = 5000

ById = Annotated[str, typer.Argument(help="The payout's id, full or short (see `perpflow payouts list`).")]
By = Annotated[
    str | None, typer.Option("--by", help="Who decides, recorded with the decision (default: your login).")
]
Reason = Annotated[
    str | None, typer.Option("--reason", "--note", help="Why, kept with the decision and in the audit.")
]


async def _records(settings: Settings, limit: int, state: PayoutState | None = None) -> list[PayoutRecord]:
    from perpflow.cli.ledger import ledger_call
    from perpflow.db.payouts import PayoutRepository

    return await ledger_call(settings, lambda ledger: PayoutRepository(ledger).recent(limit, state))


async def _record(settings: Settings, text: str) -> PayoutRecord:
    from perpflow.cli.ledger import ledger_call
    from perpflow.db.payouts import PayoutRepository

    if is_full_id(text):
        return await ledger_call(settings, lambda ledger: PayoutRepository(ledger).get(text))
    return pick(text, await _records(settings, SEARCH_LIMIT))


async def _workflow_id(settings: Settings, text: str) -> str:
    """A full id as given (the workflow is the authority, the ledger row may lag); a short one
    looked up in the ledger."""
    return text if is_full_id(text) else (await _record(settings, text)).workflow_id


@payouts_app.command("list")
def payouts_list(
    state: Annotated[PayoutState | None, typer.Option(help="Only payouts in this state.")] = None,
    limit: int = 50,
    full: Annotated[bool, typer.Option("--full", help="Whole ids, addresses and hashes.")] = False,
) -> None:
    """Payouts from the ledger, newest first: state, user, amount, nonce, final tx, approver."""
    rows = asyncio.run(_records(load_settings(), limit, state))
    console.print(list_table(rows, full=full))


@payouts_app.command("show")
def payouts_show(workflow_id: ById) -> None:
    """One payout whole: ids, the event, every tx sent, the decision, its Web UI page."""
    settings = load_settings()
    record = asyncio.run(_record(settings, workflow_id))
    ns, wid = settings.temporal_namespace, record.workflow_id
    console.print(show_table(record, f"{settings.temporal_ui_url}/namespaces/{ns}/workflows/{wid}"))


@payouts_app.command("approve")
def payouts_approve(workflow_id: ById, by: By = None, reason: Reason = None) -> None:
    """Approve a payout that awaits approval (sends it through the wallet lane)."""
    _decide(workflow_id, "approve", by, reason)


@payouts_app.command("reject")
def payouts_reject(workflow_id: ById, by: By = None, reason: Reason = None) -> None:
    """Reject a payout that awaits approval (nothing is sent)."""
    _decide(workflow_id, "reject", by, reason)


def _decide(text: str, update: str, by: str | None, reason: str | None) -> None:
    decision = ApprovalDecision(by=by or getpass.getuser(), note=reason)
    settings = load_settings()

    async def run() -> tuple[str, PayoutStatus]:
        workflow_id = await _workflow_id(settings, text)
        return workflow_id, await _send(settings, workflow_id, update, decision)

    workflow_id, status = asyncio.run(run())
    said = status.reason or f"{update.removesuffix('e')}ed by {decision.by}"
    console.print(f"{short_id(workflow_id)}: {said}, now {status.state}")


async def _send(
    settings: Settings, workflow_id: str, update: str, decision: ApprovalDecision
) -> PayoutStatus:
    from temporalio.client import WorkflowUpdateFailedError

    client = await reach(settings)
    handle = client.get_workflow_handle(workflow_id)
    try:
        status: PayoutStatus = await handle.execute_update(update, decision, result_type=PayoutStatus)
    except WorkflowUpdateFailedError as exc:
        cause = exc.cause
        raise PerpflowError(f"{update} refused: {getattr(cause, 'message', None) or cause}") from None
    return status
