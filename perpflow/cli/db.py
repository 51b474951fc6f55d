"""``perpflow db``: the ledger database."""

from __future__ import annotations

import typer

from perpflow.cli.console import console
from perpflow.cli.context import load_settings

db_app = typer.Typer(no_args_is_help=True, add_completion=False, help="The ledger database.")


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply the ledger's migrations (DATABASE_URL, or the SQLite file in the state dir)."""
    from perpflow.db.migrate import current_revision, upgrade

    settings = load_settings()
    upgrade(settings.ledger_url)
    console.print(f"ledger at revision {current_revision(settings.ledger_url)}")
