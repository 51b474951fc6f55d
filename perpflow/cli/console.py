"""Terminal output of the CLI: whole ids when piped (scripts, grep, files), one-line errors.

Piped output is 240 columns wide unless COLUMNS says otherwise (a terminal's own width is used).
"""

from __future__ import annotations

import os
import sys

from rich.console import Console
from rich.table import Table

PIPED_WIDTH = 240

console = Console(width=None if sys.stdout.isatty() or os.environ.get("COLUMNS") else PIPED_WIDTH)
err = Console(stderr=True, soft_wrap=True)


def new_table(title: str, *columns: str) -> Table:
    out = Table(title=title)
    for col in columns:
        out.add_column(col, overflow="fold")
    return out
