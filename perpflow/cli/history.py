"""``perpflow history``: export a workflow's history, replay saved ones against the current code."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from pydantic import TypeAdapter

from perpflow.cli.console import console, err, new_table
from perpflow.cli.context import load_settings, reach
from perpflow.errors import PerpflowError

if TYPE_CHECKING:  # loaded by the commands that use it: it brings the Temporal worker along
    from perpflow.history import ReplayOutcome

history_app = typer.Typer(
    no_args_is_help=True, add_completion=False, help="Export and replay workflow histories."
)


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
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        raise PerpflowError(f"no such file: {', '.join(missing)}")
    outcomes = _replay(files)
    table = new_table("replay", "file", "workflow", "result")
    for o in outcomes:
        table.add_row(str(o.path), o.workflow_type, "[green]ok[/]" if o.ok else f"[red]FAILED[/] {o.error}")
    console.print(table)
    raise typer.Exit(0 if all(o.ok for o in outcomes) else 1)


def _replay(files: list[Path]) -> list[ReplayOutcome]:
    """Replayed by ``workers.replay``, the side that holds the workflow code."""
    from perpflow.history import ReplayOutcome

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "outcomes.json"
        command = [sys.executable, "-m", "workers.replay", "--out", str(out), *map(str, files)]
        done = subprocess.run(command, stderr=subprocess.PIPE, text=True, check=False)
        if done.returncode != 0:
            lines = done.stderr.strip().splitlines()
            raise PerpflowError(f"the replay failed: {lines[-1] if lines else f'exit {done.returncode}'}")
        return TypeAdapter(list[ReplayOutcome]).validate_json(out.read_bytes())
