"""Reading Temporal failures inside workflows."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

from temporalio import workflow
from temporalio.exceptions import ActivityError, ChildWorkflowError, is_cancelled_exception

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
