"""The ``perpflow`` operator command (typer + rich). Errors are one line, never a traceback."""

from __future__ import annotations

import asyncio
import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from temporalio.client import WorkflowFailureError
from temporalio.service import RPCError

from perpflow import names
from perpflow.cli_accounts import accounts, reconcile_app
from perpflow.cli_hedge import hedge_app
from perpflow.cli_payouts import payouts_app
from perpflow.config import describe_errors
from perpflow.console import console, err, new_table
from perpflow.errors import PerpflowError
from perpflow.models import HealthCheckInput, HealthReport
from perpflow.settings import Settings, load_settings
from perpflow.sim.command import sim as sim_command
from perpflow.temporal_client import reach

app = typer.Typer(no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False)
workflows_app = typer.Typer(no_args_is_help=True, help="Workflows in the perpflow namespace.")
history_app = typer.Typer(no_args_is_help=True, help="Export and replay workflow histories.")
db_app = typer.Typer(no_args_is_help=True, help="The ledger database.")
app.add_typer(workflows_app, name="workflows")
app.add_typer(history_app, name="history")
app.add_typer(db_app, name="db")
app.add_typer(hedge_app, name="hedge")
app.add_typer(payouts_app, name="payouts")
app.add_typer(reconcile_app, name="reconcile")
app.command("accounts")(accounts)
app.command("sim", help="Run the simulated venue: Lighter protocol, matching engine, admin API.")(sim_command)


@app.command()
def dev(
    *,
    duration: Annotated[float | None, typer.Option(help="Stop after this many seconds.")] = None,
    host: str = "127.0.0.1",
    temporal_port: int = 7233,
    ui_port: int = 8233,
    sim_port: int = 8787,
    metrics_port: int = 9464,
) -> None:
    """Start the embedded stack: Temporal dev server, ledger, workers (Ctrl+C stops all)."""
    from perpflow.devstack.run import run_dev
    from perpflow.devstack.stack import DevOptions

    opts = DevOptions(
        host=host, temporal_port=temporal_port, ui_port=ui_port, sim_port=sim_port, metrics_port=metrics_port
    )
    raise typer.Exit(asyncio.run(run_dev(load_settings(), opts, duration)))


@app.command()
def doctor(timeout: Annotated[float, typer.Option(help="Seconds to wait for the report.")] = 30) -> None:
    """Run HealthCheckWorkflow through the orchestrator and print its report."""
    report = asyncio.run(_doctor(load_settings(), timeout))
    table = new_table("perpflow health", "component", "name", "healthy", "detail", "ms")
    for c in report.components:
        table.add_row(
            c.component,
            c.name,
            "[green]yes[/]" if c.healthy else "[red]NO[/]",
            c.detail,
            f"{c.latency_ms:.1f}",
        )
    console.print(table)
    raise typer.Exit(0 if report.healthy else 1)


async def _doctor(settings: Settings, timeout: float) -> HealthReport:
    client = await reach(settings)
    handle = await client.start_workflow(
        "HealthCheckWorkflow",
        HealthCheckInput(),
        id=names.health_check_id(datetime.now(UTC)),
        task_queue=names.ORCHESTRATOR_QUEUE,
        execution_timeout=timedelta(seconds=timeout),
        result_type=HealthReport,
    )
    try:
        return await asyncio.wait_for(handle.result(), timeout=timeout + 5)
    except (TimeoutError, WorkflowFailureError):
        raise PerpflowError(
            f"no orchestrator worker answered within {timeout:g} s on {names.ORCHESTRATOR_QUEUE}; "
            "is `perpflow dev` (or workers.orchestrator) running?"
        ) from None


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


@history_app.command("export")
def history_export(
    workflow_id: str,
    out: Annotated[Path | None, typer.Option(help="File to write (default: stdout).")] = None,
    run_id: Annotated[str | None, typer.Option(help="A specific run (default: the latest).")] = None,
) -> None:
    """Write a workflow's full history as JSON (replayable with `history replay`)."""
    from perpflow.history import export_history

    async def run() -> str:
        return await export_history(await reach(load_settings()), workflow_id, run_id)

    text = asyncio.run(run())
    if out is None:
        sys.stdout.write(text + "\n")
    else:
        out.write_text(text)
        err.print(f"wrote {out}")


@history_app.command("replay")
def history_replay(files: list[Path]) -> None:
    """Replay saved histories against the current workflow code; report nondeterminism per file."""
    from perpflow.history import replay_files
    from workflows.registry import ALL_WORKFLOWS

    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        raise PerpflowError(f"no such file: {', '.join(missing)}")
    outcomes = asyncio.run(replay_files(files, ALL_WORKFLOWS))
    table = new_table("replay", "file", "workflow", "result")
    for o in outcomes:
        table.add_row(str(o.path), o.workflow_type, "[green]ok[/]" if o.ok else f"[red]FAILED[/] {o.error}")
    console.print(table)
    raise typer.Exit(0 if all(o.ok for o in outcomes) else 1)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply the ledger's migrations (DATABASE_URL, or the SQLite file in the state dir)."""
    from perpflow.db.migrate import current_revision, upgrade

    settings = load_settings()
    upgrade(settings.ledger_url)
    console.print(f"ledger at revision {current_revision(settings.ledger_url)}")


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, ValidationError):
        return f"invalid settings: {describe_errors(exc)}"
    if isinstance(exc, RPCError):
        return f"Temporal: {exc.message}"
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def main() -> None:
    code = 0
    try:
        app()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except KeyboardInterrupt:
        code = 130
    except Exception as exc:
        if os.environ.get("PERPFLOW_DEBUG"):
            raise
        known = isinstance(exc, PerpflowError | RPCError | ValidationError | OSError)
        prefix = "" if known else f"unexpected {type(exc).__name__}: "
        err.print(f"[red]error:[/] {prefix}{_one_line(exc)}", highlight=False)
        code = 1
    # Exit without interpreter finalisation: the Temporal SDK's runtime threads can crash it.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    main()
