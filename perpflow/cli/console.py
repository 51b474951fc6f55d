"""Terminal output of the CLI: whole ids when piped (scripts, grep, files), one-line errors."""

from __future__ import annotations

import sys

from rich.console import Console
from rich.table import Table

console = Console(width=None if sys.stdout.isatty() else 240)
err = Console(stderr=True, soft_wrap=True)


def new_table(title: str, *columns: str) -> Table:
    out = Table(title=title)
    for col in columns:
        out.add_column(col, overflow="fold")
    return out
