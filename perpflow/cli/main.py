"""The ``perpflow`` operator command (typer + rich). Errors are one line, never a traceback.

Each command's module is imported only when that command runs (perpflow/cli/lazy.py): this module
imports typer and nothing heavy, so ``perpflow --help`` answers at once.
"""

from __future__ import annotations

import os
import sys

import typer

from perpflow.cli.lazy import Lazy, LazyGroup
from perpflow.errors import PerpflowError


class Root(LazyGroup):
    COMMANDS = (
        Lazy("dev", "perpflow.cli.dev:dev",
             "Start the embedded stack: Temporal dev server, ledger, workers (Ctrl+C stops all)."),
        Lazy("doctor", "perpflow.cli.doctor:doctor",
             "Probe every part of the stack; list what was found, exit 1 on any problem."),
        Lazy("hedge", "perpflow.cli.hedge:hedge_app",
             "Hedge fleets: start, status, pause, resume, stop, kill, flatten."),
        Lazy("grid", "perpflow.cli.grid:grid_app",
             "Grid sessions: start, status, list, pause, resume, stop, flatten, adjust."),
        Lazy("payouts", "perpflow.cli.payouts:payouts_app",
             "Liquidation payouts: list, show, approve, reject."),
        Lazy("accounts", "perpflow.cli.accounts:accounts",
             "Positions, open orders and the workflow owning each, orphans highlighted (a look-only run)."),
        Lazy("reconcile", "perpflow.cli.accounts:reconcile_app",
             "The exposure reconciler: schedules, orphans."),
        Lazy("workflows", "perpflow.cli.workflows:workflows_app", "Workflows in the perpflow namespace."),
        Lazy("history", "perpflow.cli.history:history_app", "Export and replay workflow histories."),
        Lazy("db", "perpflow.cli.db:db_app", "The ledger database."),
        Lazy("sim", "perpflow.sim.command:sim",
             "Run the simulated perp venue (Lighter and GRVT faces, admin API under /_sim) on HOST:PORT."),
    )  # fmt: skip


app = typer.Typer(
    cls=Root,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode=None,  # plain help: see lazy._plain
)


@app.callback()
def _root() -> None:
    """perpflow: hedge fleets, grid sessions and liquidation payouts as Temporal workflows."""


def _loaded(module: str, name: str) -> type[BaseException]:
    """A library's error type if the library is loaded: an exception of a module never imported
    cannot have been raised, so the CLI need not import the library to recognise it."""
    found = getattr(sys.modules.get(module), name, None)
    return found if isinstance(found, type) and issubclass(found, BaseException) else _Never


class _Never(Exception):
    """Matches no raised exception: stands for an error type whose library is not loaded."""


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, _loaded("pydantic", "ValidationError")):
        from perpflow.config import describe_errors

        return f"invalid settings: {describe_errors(exc)}"  # type: ignore[arg-type]
    if isinstance(exc, _loaded("temporalio.service", "RPCError")):
        return f"Temporal: {getattr(exc, 'message', exc)}"
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _known(exc: BaseException) -> bool:
    """Errors an operator can act on, printed without their type."""
    library = (_loaded("pydantic", "ValidationError"), _loaded("temporalio.service", "RPCError"))
    return isinstance(exc, (PerpflowError, OSError, *library))


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
        from perpflow.cli.console import err

        prefix = "" if _known(exc) else f"unexpected {type(exc).__name__}: "
        err.print(f"[red]error:[/] {prefix}{_one_line(exc)}", highlight=False)
        code = 1
    # Exit without interpreter finalisation: the Temporal SDK's runtime threads can crash it.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
