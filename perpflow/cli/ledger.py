"""One call on a ledger opened for it: how the commands read and write the ledger."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from sqlalchemy.exc import OperationalError, ProgrammingError

from perpflow.db.ledger import Ledger
from perpflow.errors import PerpflowError
from perpflow.settings import Settings

T = TypeVar("T")


async def ledger_call(settings: Settings, call: Callable[[Ledger], Awaitable[T]]) -> T:
    ledger = Ledger(settings.ledger_url)
    try:
        return await call(ledger)
    except (OperationalError, ProgrammingError) as exc:
        text = str(exc)
        if "no such table" in text or ('relation "' in text and "does not exist" in text):  # SQLite, Postgres
            raise PerpflowError(
                f"the ledger at {settings.ledger_url} has no tables yet: run `perpflow db upgrade` "
                "(`perpflow dev` does at start), or point DATABASE_URL / PERPFLOW_STATE_DIR at yours"
            ) from None
        raise
    finally:
        await ledger.close()
