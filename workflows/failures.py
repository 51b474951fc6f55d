"""Reading Temporal failures inside workflows."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

from temporalio import workflow
from temporalio.exceptions import (
    ActivityError,
    ApplicationError,
    ChildWorkflowError,
    TimeoutType,
    is_cancelled_exception,
)
from temporalio.exceptions import TimeoutError as TemporalTimeout

with workflow.unsafe.imports_passed_through():
    from workflows.options import SIGNER_PRESENT

T = TypeVar("T")


def root_cause(exc: BaseException) -> str:
    """The first line of the innermost cause: what actually went wrong, for reasons and logs."""
    while exc.__cause__ is not None:
        exc = exc.__cause__
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


async def unless_cancelled(call: Awaitable[T]) -> T:
    """Await an activity or a child. The workflow's own cancellation arriving meanwhile is raised
    as asyncio.CancelledError, so the workflow's clean-up takes it, instead of as the call's
    failure (ActivityError / ChildWorkflowError with a CancelledError cause), which is how the
    SDK raises it there."""
    try:
        return await call
    except (ActivityError, ChildWorkflowError) as exc:
        if workflow.cancellation_reason() is not None and is_cancelled_exception(exc):
            raise asyncio.CancelledError(workflow.cancellation_reason()) from exc
        raise


def signer_absent(exc: ActivityError) -> bool:
    """Nobody took the activity off its signer queue within ``SIGNER_PRESENT``."""
    cause = exc.cause
    return isinstance(cause, TemporalTimeout) and cause.type is TimeoutType.SCHEDULE_TO_START


def unknown_account(what: str, queue: str) -> ApplicationError:
    """The job's failure when no signer serves ``what`` (an account and API key): by name, at once."""
    return ApplicationError(
        f"no signer serves {what}: nobody polled {queue} within {SIGNER_PRESENT.total_seconds():g} s "
        "(unknown account or key, or its signer is not running)",
        type="UnknownAccount",
        non_retryable=True,
    )
