"""Reading Temporal failures inside workflows."""

from __future__ import annotations

import asyncio

from temporalio import workflow
from temporalio.exceptions import is_cancelled_exception


def root_cause(exc: BaseException) -> str:
    """The first line of the innermost cause: what actually went wrong, for reasons and logs."""
    while exc.__cause__ is not None:
        exc = exc.__cause__
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def is_our_cancel(exc: BaseException) -> bool:
    """This workflow's own cancellation (a server cancel request, not an eviction): as an
    asyncio.CancelledError, or, arrived while an activity or a child was awaited, as the
    ActivityError / ChildWorkflowError with a CancelledError cause that the SDK raises there."""
    return workflow.cancellation_reason() is not None and is_cancelled_exception(exc)


def passing_cancel(exc: BaseException) -> None:
    """In an ``except ActivityError``: let the workflow's cancellation through to its clean-up
    instead of handling it as the activity's failure."""
    if is_our_cancel(exc):
        raise asyncio.CancelledError(workflow.cancellation_reason()) from exc
