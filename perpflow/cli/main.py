"""The ``perpflow`` operator command (typer + rich). Errors are one line, never a traceback."""

from __future__ import annotations

import os
import sys

import typer
from pydantic import ValidationError
from temporalio.service import RPCError

from perpflow.cli.accounts import accounts, reconcile_app
from perpflow.cli.console import err
from perpflow.cli.db import db_app
from perpflow.cli.dev import dev
from perpflow.cli.doctor import doctor
from perpflow.cli.grid import grid_app
from perpflow.cli.hedge import hedge_app
from perpflow.cli.history import history_app
from perpflow.cli.payouts import payouts_app
from perpflow.cli.workflows import workflows_app
from perpflow.config import describe_errors
from perpflow.errors import PerpflowError
from perpflow.sim.command import sim as sim_command

app = typer.Typer(no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False)
app.add_typer(workflows_app, name="workflows")
app.add_typer(history_app, name="history")
app.add_typer(db_app, name="db")
app.add_typer(hedge_app, name="hedge")
app.add_typer(grid_app, name="grid")
app.add_typer(payouts_app, name="payouts")
app.add_typer(reconcile_app, name="reconcile")
app.command("accounts")(accounts)
app.command("sim", help="Run the simulated venue: Lighter protocol, matching engine, admin API.")(sim_command)
app.command("dev")(dev)
app.command("doctor")(doctor)


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
