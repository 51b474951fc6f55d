"""``perpflow workflows list``: a visibility query over perpflow's search attributes."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from perpflow import names
from perpflow.cli.console import console, new_table
from perpflow.cli.context import load_settings, reach
from perpflow.settings import Settings

workflows_app = typer.Typer(
    no_args_is_help=True, add_completion=False, help="Workflows in the perpflow namespace."
)


@workflows_app.command("list")
def workflows_list(
    kind: Annotated[names.Kind | None, typer.Option(help="Only this kind.")] = None,
    status: Annotated[str | None, typer.Option(help="Running, Completed, Failed, ...")] = None,
    query: Annotated[str | None, typer.Option(help="Extra visibility query.")] = None,
    limit: int = 50,
) -> None:
    """List workflows (a visibility query over perpflow's search attributes)."""
    clauses = [f'PerpflowKind="{kind.value}"'] if kind else []
    if status:
        clauses.append(f'ExecutionStatus="{status.capitalize()}"')
    if query:
        clauses.append(f"({query})")
    rows = asyncio.run(_list(load_settings(), " AND ".join(clauses), limit))
    table = new_table(
        f"workflows ({len(rows)})", "workflow id", "type", "status", "started", "kind", "market", "state"
    )
    for row in rows:
        table.add_row(*row)
    console.print(table)


async def _list(settings: Settings, query: str, limit: int) -> list[list[str]]:
    client = await reach(settings)
    rows = []
    async for wf in client.list_workflows(query or None, limit=limit):
        attrs = wf.typed_search_attributes
        rows.append([
            wf.id,
            wf.workflow_type,
            wf.status.name if wf.status else "?",
            wf.start_time.strftime("%Y-%m-%d %H:%M:%S"),
            attrs.get(names.KIND) or "",
            attrs.get(names.MARKET) or "",
            attrs.get(names.CYCLE_STATE) or "",
        ])  # fmt: skip
    return rows
