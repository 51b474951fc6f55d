"""What the embedded stack's demo jobs share: the demo accounts as the ledger knows them, and a
status view printed now and then until the stack stops."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

from rich.console import Console, RenderableType

from perpflow.db.ledger import Ledger
from perpflow.models import AccountRef
from perpflow.process import stop_event
from perpflow.settings import Settings

REFRESH_S = 10


async def ledger_accounts(settings: Settings) -> list[AccountRef]:
    ledger = Ledger(settings.ledger_url)
    try:
        return await ledger.accounts()
    finally:
        await ledger.close()


async def show_until_stopped(view: Callable[[], Awaitable[RenderableType]]) -> None:
    stop = stop_event()
    console = Console(width=160, force_terminal=False)
    while not stop.is_set():
        with contextlib.suppress(Exception):  # a status view is best effort; the job is not
            console.print(await view())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), REFRESH_S)
