"""How perpflow's typed failures reach Temporal: refusals end the activity, a 429 waits the venue out.

Retry policies match failures by type name, so the name is always the exception's class name.
"""

from __future__ import annotations

from collections.abc import Awaitable
from datetime import timedelta
from typing import TypeVar

from temporalio.exceptions import ApplicationError

from perpflow.orders.errors import REFUSALS
from perpflow.venues.errors import RateLimited

T = TypeVar("T")


async def typed_failures(call: Awaitable[T]) -> T:
    """Business failures end the activity; a 429 retries after the venue's back-off."""
    try:
        return await call
    except RateLimited as exc:
        delay = timedelta(seconds=exc.retry_after)
        raise ApplicationError(str(exc), type="RateLimited", next_retry_delay=delay) from None
    except REFUSALS as exc:
        raise ApplicationError(str(exc), type=type(exc).__name__, non_retryable=True) from None
