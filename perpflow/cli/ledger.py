"""One call on a ledger opened for it: how the commands read and write the ledger."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from perpflow.db.ledger import Ledger
from perpflow.settings import Settings

T = TypeVar("T")


async def ledger_call(settings: Settings, call: Callable[[Ledger], Awaitable[T]]) -> T:
    ledger = Ledger(settings.ledger_url)
    try:
        return await call(ledger)
    finally:
        await ledger.close()
